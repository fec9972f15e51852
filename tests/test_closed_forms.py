"""Closed forms of the derivation engine against independent 40-digit mpmath quadrature."""

from __future__ import annotations

import json

import mpmath
import pytest
import sympy as sp
from onestep_gm.experiments.cli import main
from onestep_gm.theory.activations import X
from onestep_gm.theory.gaussian import expectation
from onestep_gm.theory.hermite import hermite_coefficients
from onestep_gm.theory.moments import conditional_moments

_SIGMA = {
    "gelu": (lambda x: x * (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2, []),
    "sin(x)": (mpmath.sin, []),
    "exp(-x**2/2)": (lambda x: mpmath.exp(-x * x / 2), []),
    "hardtanh": (lambda x: min(mpmath.mpf(1), max(mpmath.mpf(-1), x)), [-1, 1]),
    "Max(0,x)**2": (lambda x: max(mpmath.mpf(0), x) ** 2, [0]),
    "erf": (mpmath.erf, []),
    "abs": (abs, [0]),
    "sign": (mpmath.sign, [0]),
    "step": (lambda x: mpmath.mpf(x > 0), [0]),
    "cos": (mpmath.cos, []),
    "exp": (mpmath.exp, []),
    "relu3": (lambda x: max(mpmath.mpf(0), x) ** 3, [0]),
}


def _he(j, z):
    prev, cur = mpmath.mpf(0), mpmath.mpf(1)
    for k in range(j):
        prev, cur = cur, z * cur - k * prev
    return cur


def _quad(f, kinks_z):
    points = [-mpmath.inf, *sorted({mpmath.mpf(0), *kinks_z}), mpmath.inf]
    return mpmath.quad(lambda z: f(z) * mpmath.npdf(z), points)


@pytest.mark.parametrize(
    "b", [pytest.param("0.3", marks=pytest.mark.slow), "1", pytest.param("2.5", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("name", sorted(_SIGMA))
def test_hermite_exact_matches_40_digit_quadrature(name, b):
    sigma, kinks = _SIGMA[name]
    coeffs = hermite_coefficients(name, b, 9)
    assert coeffs.method == "exact"
    with mpmath.workdps(40):
        bm = mpmath.mpf(b)
        kz = [mpmath.mpf(k) / bm for k in kinks]
        m2 = _quad(lambda z: sigma(bm * z) ** 2, kz)
        scale = mpmath.sqrt(m2)
        for j in range(9):
            want = _quad(lambda z, j=j: sigma(bm * z) * _he(j, z), kz)
            bound = mpmath.sqrt(mpmath.factorial(j)) * scale
            assert abs(coeffs.h[j] - want) <= mpmath.mpf("1e-30") * bound, (name, b, j)
            assert abs(coeffs.h[j] - want) <= 1e-12 * max(1, abs(want))
        assert abs(coeffs.second_moment - m2) <= mpmath.mpf("1e-30") * m2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_SIGMA))
def test_conditional_moments_match_quadrature(name):
    sigma, kinks = _SIGMA[name]
    m = conditional_moments(name)
    closed = {"M0": m.M0, "M1": m.M1, "M2": m.M2}
    if name in ("gelu", "erf"):
        assert m.M2 is None and m.M0 is not None  # E erf(a+sg)^2 needs Owen's T: not elementary
    else:
        assert m.method == "exact"
    a_sym, s_sym = sp.Symbol("a", real=True), sp.Symbol("s", positive=True)
    with mpmath.workdps(40):
        for a, s in (("0.2", "1"), ("-1.3", "0.4"), ("0.7", "2.5")):
            am, sm = mpmath.mpf(a), mpmath.mpf(s)
            kz = [(mpmath.mpf(k) - am) / sm for k in kinks]
            want = {
                "M0": _quad(lambda z, am=am, sm=sm: sigma(am + sm * z), kz),
                "M1": _quad(lambda z, am=am, sm=sm: z * sigma(am + sm * z), kz) / sm,
                "M2": _quad(lambda z, am=am, sm=sm: sigma(am + sm * z) ** 2, kz),
            }
            for key, expr in closed.items():
                if expr is None:
                    continue
                got = sp.N(expr.subs({a_sym: sp.Rational(a), s_sym: sp.Rational(s)}), 40)
                assert abs(mpmath.mpf(got) - want[key]) <= mpmath.mpf("1e-28") * max(1, abs(want[key])), (
                    name, key, a, s)


def test_engine_gelu_second_moment_is_arcsine_closed_form():
    b = sp.Symbol("b", positive=True)
    value, how = expectation(X**2 * (1 + sp.erf(X / sp.sqrt(2))) ** 2 / 4, 0, b)
    assert "arcsine" in how and value.has(sp.asin)


@pytest.mark.parametrize("name", ["gelu", "sin(x)", "exp(-x**2/2)", "hardtanh", "Max(0,x)**2"])
def test_cli_reports_exact(name, capsys):
    """In this process (``main``): the console script's own path is tested in test_cli_theory."""
    code = main(["hermite", "--activation", name, "--b", "2.5", "--order", "9", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["method"] == "exact"
