"""Hermite coefficients: closed forms, an independent mpmath computation, and properties."""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from onestep_gm.theory.activations import REGISTRY, X, get_activation
from onestep_gm.theory.hermite import (
    B,
    hermite_coefficients,
    hermite_symbolic,
    second_moment_symbolic,
)

# Each activation written again by hand in mpmath, so the reference does not
# reuse the registry's SymPy expression, its lambdify, or the recurrence for He_j.
_REFERENCE_SIGMA = {
    "relu": (lambda x: max(mpmath.mpf(0), x), [0]),
    "tanh": (mpmath.tanh, []),
    "sigmoid": (lambda x: 1 / (1 + mpmath.exp(-x)), []),
    "erf": (mpmath.erf, []),
    "softplus": (lambda x: mpmath.log1p(mpmath.exp(x)), []),
    "gelu": (lambda x: x * (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2, []),
    "silu": (lambda x: x / (1 + mpmath.exp(-x)), []),
    "leaky_relu": (lambda x: x if x > 0 else x / 100, [0]),
    "linear": (lambda x: x, []),
    "abs": (abs, [0]),
    "sign": (lambda x: mpmath.sign(x), [0]),
    "step": (lambda x: mpmath.mpf(x > 0), [0]),
    "hardtanh": (lambda x: min(mpmath.mpf(1), max(mpmath.mpf(-1), x)), [-1, 1]),
    "sin": (mpmath.sin, []),
    "cos": (mpmath.cos, []),
    "gaussian": (lambda x: mpmath.exp(-x * x / 2), []),
    "exp": (mpmath.exp, []),
    "relu2": (lambda x: max(mpmath.mpf(0), x) ** 2, [0]),
    "relu3": (lambda x: max(mpmath.mpf(0), x) ** 3, [0]),
    "relu4": (lambda x: max(mpmath.mpf(0), x) ** 4, [0]),
    "Abs(x - 1)": (lambda x: abs(x - 1), [1]),
    "sign(x)*x**2": (lambda x: x * abs(x), [0]),
    "relu(x - 0.5) + erf(2*x)": (lambda x: max(mpmath.mpf(0), x - 0.5) + mpmath.erf(2 * x), [0.5]),
}
_ORDER = 12
_BS = ("0.3", "1", "2.5", "4")


@functools.cache
def _he_coefficients(j: int) -> list[int]:
    """Coefficients of :math:`He_j`, highest power first, from the explicit sum."""
    coeffs = [0] * (j + 1)
    for m in range(j // 2 + 1):
        coeffs[2 * m] = (
            (-1) ** m * math.factorial(j) // (math.factorial(m) * math.factorial(j - 2 * m) * 2**m)
        )
    return coeffs


def _he(j: int, z):
    r"""Probabilists' Hermite :math:`j!\sum_m (-1)^m z^{j-2m}/(m!(j-2m)!2^m)` (no recurrence)."""
    return mpmath.polyval(_he_coefficients(j), z)


def _he_physicists(j: int, z):
    r""":math:`He_j(z) = 2^{-j/2} H_j(z/\sqrt2)` from mpmath's physicists' Hermite (a third route)."""
    return mpmath.hermite(j, z / mpmath.sqrt(2)) / mpmath.sqrt(2) ** j


def _reference(name: str, b: str, order: int, he=_he) -> tuple[list, mpmath.mpf]:
    sigma, kinks = _REFERENCE_SIGMA[name]
    bm = mpmath.mpf(b)
    points = sorted({mpmath.mpf(0), *(mpmath.mpf(k) / bm for k in kinks)})
    points = [-mpmath.inf, *points, mpmath.inf]
    norm = 1 / mpmath.sqrt(2 * mpmath.pi)

    def integral(g):
        return norm * mpmath.quad(lambda z: g(z) * mpmath.exp(-z * z / 2), points)

    h = [integral(lambda z, j=j: sigma(bm * z) * he(j, z)) for j in range(order)]
    return h, integral(lambda z: sigma(bm * z) ** 2)


@pytest.mark.parametrize("b", _BS)
@pytest.mark.parametrize("name", sorted(_REFERENCE_SIGMA))
def test_against_independent_quadrature(name, b):
    assert set(REGISTRY) <= set(_REFERENCE_SIGMA)
    with mpmath.workdps(16):
        h_ref, m2_ref = _reference(name, b, _ORDER)
    coeffs = hermite_coefficients(name, b, _ORDER)
    for j, (got, want) in enumerate(zip(coeffs.h, h_ref, strict=True)):
        assert abs(got - want) <= 1e-12 * max(1, abs(want)), (name, b, j, got, want)
    assert abs(coeffs.second_moment - m2_ref) <= 1e-12 * max(1, m2_ref)
    star_ref = m2_ref - sum(v**2 / math.factorial(j) for j, v in enumerate(h_ref))
    assert abs(coeffs.h_star**2 - star_ref) <= 1e-12 * max(1, m2_ref)
    if name not in ("tanh", "sigmoid", "softplus", "silu", "relu(x - 0.5) + erf(2*x)"):
        assert coeffs.method == "exact"
        assert len(coeffs.exact) == _ORDER
    else:
        assert coeffs.method == "numeric" and coeffs.exact is None


def test_numeric_keeps_thirty_digits():
    with mpmath.workdps(45):
        h_ref, m2_ref = _reference("tanh", "2.5", 6, he=_he_physicists)
    coeffs = hermite_coefficients("tanh", "2.5", 6)
    assert coeffs.method == "numeric"
    for got, want in zip(coeffs.h, h_ref, strict=True):
        assert abs(got - want) <= mpmath.mpf("1e-32") * max(1, abs(want))
    assert abs(coeffs.second_moment - m2_ref) <= mpmath.mpf("1e-32")


_RELU_CLOSED = {
    0: B / sp.sqrt(2 * sp.pi),
    1: B / 2,
    2: B / sp.sqrt(2 * sp.pi),
    3: 0,
    4: -B / sp.sqrt(2 * sp.pi),
    5: 0,
    6: 3 * B / sp.sqrt(2 * sp.pi),
    7: 0,
    8: -15 * B / sp.sqrt(2 * sp.pi),
}


@pytest.mark.parametrize("j", sorted(_RELU_CLOSED))
def test_relu_closed_forms_symbolic(j):
    assert sp.simplify(hermite_symbolic("relu", j) - _RELU_CLOSED[j]) == 0


def test_relu_second_moment_and_numbers():
    assert sp.simplify(second_moment_symbolic("relu") - B**2 / 2) == 0
    for b in (sp.Rational(3, 10), 1, sp.Rational(5, 2), 4):
        coeffs = hermite_coefficients("relu", b, 9)
        assert coeffs.method == "exact"
        for j, want in _RELU_CLOSED.items():
            value = float(sp.sympify(want).subs(B, b))
            assert abs(coeffs.h[j] - value) <= 1e-15 * max(1, abs(value))
            assert sp.simplify(coeffs.exact[j] - sp.sympify(want).subs(B, b)) == 0
        with mpmath.workdps(40):
            assert abs(coeffs.second_moment - mpmath.mpf(b) ** 2 / 2) < mpmath.mpf("1e-38")


def test_erf_closed_form_first_coefficient():
    # E[z erf(bz)] = 2b / sqrt(pi (1 + 2 b^2)): a textbook Gaussian integral.
    assert sp.simplify(hermite_symbolic("erf", 1) - 2 * B / sp.sqrt(sp.pi * (1 + 2 * B**2))) == 0
    assert hermite_symbolic("erf", 0) == 0


def test_leaky_relu_is_a_mix_of_relu_and_linear():
    slope = sp.Rational(1, 5)
    for j in range(8):
        want = (1 - slope) * hermite_symbolic("relu", j) + slope * hermite_symbolic("linear", j)
        assert sp.simplify(hermite_symbolic("leaky_relu(0.2)", j) - want) == 0


def test_no_closed_form_for_tanh():
    assert hermite_symbolic("tanh", 1) is None
    assert second_moment_symbolic("tanh") is None
    assert second_moment_symbolic("relu(x) + erf(x)") is None


def test_b_forms_agree_and_results_are_cached():
    forms = [hermite_coefficients("relu", b, 5) for b in (1, "1", 1.0, sp.Integer(1), "1.0")]
    assert all(c.h == forms[0].h for c in forms)
    assert hermite_coefficients("relu", "0.3", 5).exact[1] == sp.Rational(3, 20)
    assert hermite_coefficients("relu", 1, 5) is hermite_coefficients("relu", 1, 5)


@pytest.mark.parametrize("order", [0, -1, 41, 2.5, True, "3"])
def test_bad_order(order):
    with pytest.raises(ValueError, match="order"):
        hermite_coefficients("relu", 1, order)


@pytest.mark.parametrize("b", [0, -1, "abc", "inf", float("nan"), float("inf"), True, ""])
def test_bad_b(b):
    with pytest.raises(ValueError, match="b must"):
        hermite_coefficients("relu", b, 3)


def test_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation"):
        hermite_coefficients("nope", 1, 3)


def test_as_floats_and_json():
    coeffs = hermite_coefficients("relu", 2, 4)
    floats = coeffs.as_floats()
    assert floats.dtype == np.float64 and floats.shape == (4,)
    np.testing.assert_allclose(
        floats, [2 / math.sqrt(2 * math.pi), 1, 2 / math.sqrt(2 * math.pi), 0]
    )
    obj = coeffs.to_json(digits=12)
    assert list(obj) == ["activation", "b", "order", "h", "h_star", "second_moment", "method"]
    assert obj["activation"] == "relu" and obj["b"] == 2.0 and obj["order"] == 4
    assert all(isinstance(v, str) for v in obj["h"])
    assert abs(float(obj["h"][0]) - 2 / math.sqrt(2 * math.pi)) < 1e-11
    assert obj["second_moment"] == "2.0" and obj["method"] == "exact"


# ---------------------------------------------------------------- properties

_SMALL_BS = st.sampled_from(["0.5", "1", "1.7", "3"])


@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(sorted(REGISTRY)),
    b=_SMALL_BS,
    orders=st.lists(st.integers(1, 10), min_size=2, max_size=2, unique=True).map(sorted),
)
def test_h_star_decreases_with_order(name, b, orders):
    low, high = (hermite_coefficients(name, b, L) for L in orders)
    assert low.h[: low.order] == high.h[: low.order]
    with mpmath.workdps(40):
        slack = mpmath.mpf("1e-30") * high.second_moment
        assert high.h_star**2 <= low.h_star**2 + slack
        partial = mpmath.fsum(v**2 / math.factorial(j) for j, v in enumerate(high.h))
        assert partial <= high.second_moment + slack


@pytest.mark.parametrize("name", ["tanh", "erf", "sigmoid", "softplus", "gelu", "silu"])
def test_h_star_tends_to_zero_for_smooth_activations(name):
    m2 = hermite_coefficients(name, 1, 2).second_moment
    stars = [hermite_coefficients(name, 1, L).h_star / mpmath.sqrt(m2) for L in (2, 10, 20)]
    assert stars[0] > stars[1] > stars[2]
    assert stars[2] < 5e-3


@settings(max_examples=20, deadline=None)
@given(b=st.fractions(min_value=0.01, max_value=4).filter(lambda f: f > 0))
def test_linear_activation(b):
    coeffs = hermite_coefficients("linear", str(b), 4)
    assert coeffs.method == "exact"
    assert coeffs.exact[1] == sp.Rational(b.numerator, b.denominator)
    assert coeffs.exact[0] == coeffs.exact[2] == coeffs.exact[3] == 0
    assert coeffs.h_star == 0 and hermite_coefficients("linear", str(b), 2).h_star == 0
    with mpmath.workdps(40):
        want = mpmath.mpf(b.numerator) / b.denominator
        assert abs(hermite_coefficients("linear", str(b), 1).h_star - want) < 1e-35 * want


_Z = sp.Symbol("z", real=True)


@settings(max_examples=25, deadline=None)
@given(
    coeffs=st.lists(st.integers(-5, 5), min_size=1, max_size=6).filter(lambda c: any(c[1:])),
    b=st.sampled_from([sp.Rational(1, 3), sp.Integer(1), sp.Rational(7, 4)]),
    extra=st.integers(0, 3),
)
def test_polynomials_are_reproduced_exactly(coeffs, b, extra):
    poly = sum(c * X**k for k, c in enumerate(coeffs))
    degree = sp.Poly(poly, X).degree()
    text = " + ".join(f"({c})*x**{k}" for k, c in enumerate(coeffs))
    result = hermite_coefficients(get_activation(text), b, degree + 1 + extra)
    assert result.method == "exact" and result.h_star == 0
    # sigma(bz) = sum_j h_j / j! He_j(z) exactly when deg sigma < L.
    series = sum(h / sp.factorial(j) * sp.hermite_prob(j, _Z) for j, h in enumerate(result.exact))
    assert sp.expand(series - poly.subs(X, b * _Z)) == 0


@settings(max_examples=15, deadline=None)
@given(
    text=st.sampled_from(
        ["tanh", "erf", "linear", "x**3 - 2*x", "sinh(x)/4 + x", "atan(2*x)", "x*Abs(x)", "sign(x)"]
    ),
    b=_SMALL_BS,
)
def test_odd_activations_have_zero_even_coefficients(text, b):
    coeffs = hermite_coefficients(text, b, 8)
    scale = mpmath.sqrt(coeffs.second_moment)
    for j in range(0, 8, 2):
        assert abs(coeffs.h[j]) <= 1e-30 * scale * math.sqrt(math.factorial(j))
    assert any(abs(coeffs.h[j]) > 1e-6 for j in range(1, 8, 2))


@pytest.mark.parametrize(
    ("text", "message"),
    [("log(x)", "not real"), ("sqrt(x)", "not real"), ("exp(exp(exp(10)))*x", "grows too fast")],
)
def test_activations_without_finite_real_moments_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        hermite_coefficients(text, 1, 4)
