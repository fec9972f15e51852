"""Closed-form bivariate kernels against mpmath quadrature and independent formulas."""

import math

import mpmath as mp
import pytest
import sympy as sp
from onestep_gm.theory import kernels as K
from onestep_gm.theory.activations import X, get_activation


def _num(expr, symbols, *values):
    return complex(sp.lambdify(symbols, expr, "mpmath")(*values)).real


@pytest.mark.parametrize("q1,q2,rho", [(1.3, 0.7, 0.4), (2.0, 1.0, -0.85), (1.0, 1.0, 0.999)])
def test_relu_arc_cosine_kernel_matches_mpmath(q1, q2, rho):
    c = rho * math.sqrt(q1 * q2)
    relu = get_activation("relu").expr
    ref = K.bivariate_mp(relu, relu, 0, 0, q1, q2, c, dps=15)
    assert _num(K.relu_kernel(), (K.Q1, K.Q2, K.C), q1, q2, c) == pytest.approx(float(ref), abs=1e-13)


def test_relu_kernel_limits():
    # independent: rho = 1 gives E[relu(u)^2] = q/2 for q1 = q2; rho = 0 gives (E relu)^2 = q/(2 pi)
    f = sp.lambdify((K.Q1, K.Q2, K.C), K.relu_kernel(), "mpmath")
    assert float(f(2, 2, 2)) == pytest.approx(1.0, abs=1e-15)
    assert float(f(2, 3, 0)) == pytest.approx(math.sqrt(6) / (2 * math.pi), abs=1e-15)


def test_erf_arcsine_kernel_matches_mpmath():
    # reference by one mpmath quadrature over u of erf(u) E[erf(v) | u], with the independent
    # conditional identity E erf(a + s g) = erf(a / sqrt(1 + 2 s^2))
    q1, q2, c = 1.0, 2.0, 1.2
    with mp.workdps(20):
        s1, slope, rest = mp.sqrt(q1), c / mp.sqrt(q1), mp.sqrt(q2 - c**2 / q1)
        ref = mp.quad(
            lambda z: mp.npdf(z) * mp.erf(s1 * z) * mp.erf(slope * z / mp.sqrt(1 + 2 * rest**2)),
            [-mp.inf, 0, mp.inf],
        )
    assert _num(K.erf_kernel(), (K.Q1, K.Q2, K.C), q1, q2, c) == pytest.approx(float(ref), abs=1e-14)


def test_polynomial_kernel_isserlis_by_hand():
    m1, m2, q1, q2, c = K.M1, K.M2, K.Q1, K.Q2, K.C
    assert sp.expand(K.closed_kernel(get_activation("linear"), centred=False) - (c + m1 * m2)) == 0
    # E[u^2 v^2] for a Gaussian pair (Isserlis with means), written out independently
    by_hand = q1 * q2 + 2 * c**2 + m1**2 * q2 + m2**2 * q1 + 4 * m1 * m2 * c + m1**2 * m2**2
    assert sp.expand(K.polynomial_kernel(X**2) - by_hand) == 0


def test_polynomial_kernel_with_means_matches_mpmath():
    p = get_activation("x**3 - x").expr
    args = (0.3, -0.2, 1.0, 2.0, 0.5)
    ref = K.bivariate_mp(p, p, *args, dps=15)
    val = _num(K.polynomial_kernel(p), (K.M1, K.M2, K.Q1, K.Q2, K.C), *args)
    assert val == pytest.approx(float(ref), rel=1e-12)


def test_closed_means_and_relu_second_moment_match_mpmath():
    relu, erf = get_activation("relu"), get_activation("erf")
    for act in (relu, erf):
        val = _num(K.closed_mean(act), (K.M1, K.Q1), 0.4, 2.0)
        assert val == pytest.approx(float(K.mean_mp(act.expr, 0.4, 2.0)), abs=1e-14)
    val = _num(K.relu_second_moment(), (K.M1, K.Q1), -0.7, 1.5)
    assert val == pytest.approx(float(K.mean_mp(relu.expr**2, -0.7, 1.5)), abs=1e-14)


def test_no_closed_form_where_none_is_known():
    assert K.closed_kernel(get_activation("tanh"), centred=True) is None
    assert K.closed_kernel(get_activation("relu"), centred=False) is None
    assert K.closed_mean(get_activation("sigmoid")) is None


def test_mpmath_reference_agrees_with_a_monte_carlo_free_identity():
    # E[tanh(u) u] = c-weighted Stein identity: E[tanh(u) v] = c E[tanh'(u)] (v linear)
    tanh = get_activation("tanh").expr
    with mp.workdps(15):
        lhs = K.bivariate_mp(tanh, X, 0.2, 0.0, 1.5, 1.0, 0.6, dps=15)
        rhs = 0.6 * K.mean_mp(sp.diff(tanh, X), 0.2, 1.5, dps=15)
    assert float(lhs) == pytest.approx(float(rhs), abs=1e-13)
