"""Conditional moments M0, M1, M2 of sigma(a + s g): closed forms, mpmath reference, CLI."""

from __future__ import annotations

import json

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from onestep_gm.experiments.cli import main
from onestep_gm.theory.activations import ActivationError, X, get_activation
from onestep_gm.theory.moments import A, S, conditional_moments, moments_mpmath, normal_notation

Z = sp.Symbol("z", real=True)
PDF_Z = sp.exp(-(Z**2) / 2) / sp.sqrt(2 * sp.pi)


def Phi(u):
    return (1 + sp.erf(u / sp.sqrt(2))) / 2


def phi(u):
    return sp.exp(-(u**2) / 2) / sp.sqrt(2 * sp.pi)


def independent_moments(expr, a, s, dps=25):
    """E f(a+sg) by integrating over x with the density phi((x-a)/s)/s, split at the kinks."""
    act = get_activation(expr) if isinstance(expr, str) else expr
    f = sp.lambdify(X, act.expr, "mpmath")
    with mp.workdps(dps):
        a, s = mp.mpf(a), mp.mpf(s)
        points = [-mp.inf, *sorted({a, *(mp.mpf(float(k)) for k in act.kinks)}), mp.inf]

        def density(x):
            return mp.npdf((x - a) / s) / s

        m0 = mp.quad(lambda x: f(x) * density(x), points)
        stein = mp.quad(lambda x: (x - a) * f(x) * density(x), points) / s**2
        m2 = mp.quad(lambda x: f(x) ** 2 * density(x), points)
        return float(m0), float(stein), float(m2)


def evaluate(expr, a, s):
    return float(expr.subs({A: a, S: s}).evalf(30))


def test_relu_closed_forms_are_the_design_formulas():
    m = conditional_moments("relu")
    assert m.method == "exact"
    assert sp.simplify(m.M0 - (A * Phi(A / S) + S * phi(A / S))) == 0
    assert sp.simplify(m.M1 - Phi(A / S)) == 0
    assert sp.simplify(m.M2 - ((A**2 + S**2) * Phi(A / S) + A * S * phi(A / S))) == 0


def test_relu_closed_forms_match_sympy_integrate():
    m = conditional_moments("relu")
    lower = -A / S
    for moment, integrand in ((m.M0, A + S * Z), (m.M1, 1), (m.M2, (A + S * Z) ** 2)):
        direct = sp.integrate(integrand * PDF_Z, (Z, lower, sp.oo))
        for a, s in ((-1.3, 0.4), (0.2, 1.0), (2.0, 3.0)):
            assert evaluate(moment, a, s) == pytest.approx(evaluate(direct, a, s), rel=1e-14)


def test_normal_notation_reads_like_design():
    m = conditional_moments("relu")
    Phi_, phi_ = sp.Function("Phi"), sp.Function("phi")
    assert normal_notation(m.M0) == A * Phi_(A / S) + S * phi_(A / S)
    assert normal_notation(m.M1) == Phi_(A / S)


def test_erf_closed_forms_and_partial_exactness():
    m = conditional_moments("erf")
    assert sp.simplify(m.M0 - sp.erf(A / sp.sqrt(1 + 2 * S**2))) == 0
    expected_m1 = 2 / sp.sqrt(sp.pi) / sp.sqrt(1 + 2 * S**2) * sp.exp(-(A**2) / (1 + 2 * S**2))
    assert sp.simplify(m.M1 - expected_m1) == 0
    assert m.M2 is None and m.method == "quadrature"
    assert m.to_json()["exact"] == {"M0": True, "M1": True, "M2": False}


def test_polynomial_moments_are_gaussian_moments():
    cube = conditional_moments("x**3 - 2*x")
    assert sp.expand(cube.M0 - (A**3 + 3 * A * S**2 - 2 * A)) == 0
    square = conditional_moments("x**2")
    assert sp.expand(square.M2 - (A**4 + 6 * A**2 * S**2 + 3 * S**4)) == 0
    assert conditional_moments("linear").M2 == A**2 + S**2


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "silu", "x**3 - tanh(x)"])
def test_no_closed_form_means_quadrature(name):
    m = conditional_moments(name)
    assert (m.M0, m.M1, m.M2) == (None, None, None)
    assert m.method == "quadrature"


@pytest.mark.parametrize(
    "name",
    [
        "relu",
        "leaky_relu(0.2)",
        "Abs(x)",
        "Min(1, Max(-1, x))",
        "Max(0, x) + 0.1*x",
        "Heaviside(x)",
        "x**3 - 2*x",
        "gelu",
        "erf",
        "exp(x/2)",
    ],
)
def test_closed_forms_agree_with_an_independent_integral(name):
    m = conditional_moments(name)
    assert m.M0 is not None and sp.simplify(m.M1 - sp.diff(m.M0, A)) == 0
    for a, s in ((-2.0, 0.3), (-0.2, 1.0), (0.7, 2.0), (2.5, 0.1)):
        reference = independent_moments(name, a, s)
        for expr, ref in zip((m.M0, m.M1, m.M2), reference, strict=True):
            if expr is not None:
                assert evaluate(expr, a, s) == pytest.approx(ref, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("name", ["tanh", "Abs(tanh(x))", "Heaviside(x)*exp(x/3)"])
def test_moments_mpmath_agrees_with_an_independent_integral(name):
    for a, s in ((-1.0, 0.5), (0.3, 2.0)):
        ours = [float(v) for v in moments_mpmath(name, a, s, dps=20)]
        assert ours == pytest.approx(independent_moments(name, a, s), rel=1e-13, abs=1e-15)


def test_mpmath_m1_is_the_mean_derivative_for_continuous_activations():
    ref = independent_moments("tanh", 0.4, 0.8)
    m0, m1, m2 = moments_mpmath("tanh", 0.4, 0.8)
    assert float(m1) == pytest.approx(ref[1], rel=1e-13)


def test_relu_monte_carlo_within_four_standard_errors():
    rng = np.random.default_rng(7)
    a, s, n = 0.3, 1.2, 400_000
    x = a + s * rng.standard_normal(n)
    samples = {"M0": np.maximum(x, 0), "M1": (x > 0).astype(float), "M2": np.maximum(x, 0) ** 2}
    m = conditional_moments("relu")
    for name, values in samples.items():
        se = values.std(ddof=1) / np.sqrt(n)
        assert abs(values.mean() - evaluate(getattr(m, name), a, s)) < 4 * se


def test_to_json_is_serialisable_and_round_trips():
    data = conditional_moments("relu").to_json()
    assert set(data) == {"activation", "method", "M0", "M1", "M2", "exact"}
    json.dumps(data)
    parsed = sp.sympify(data["M2"], locals={"a": A, "s": S})
    assert sp.simplify(parsed - conditional_moments("relu").M2) == 0


def test_bad_input_raises_value_error():
    with pytest.raises(ActivationError):
        conditional_moments("not_an_activation")
    with pytest.raises(ValueError):
        moments_mpmath("relu", 0.0, 0.0)


def test_cli_json_is_the_only_output(capsys):
    assert main(["moments", "--activation", "erf", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "quadrature" and data["M2"] is None
    assert data["M0"] == str(conditional_moments("erf").M0)


def test_cli_text_and_bad_activation(capsys):
    assert main(["moments", "--activation", "relu"]) == 0
    out = capsys.readouterr().out
    assert "a*Phi(a/s) + s*phi(a/s)" in out and "method: exact" in out
    assert main(["moments", "--activation", "y**2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err
