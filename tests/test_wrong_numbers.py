"""Issue 16 kind 1: results that would be wrong are either right (checked against mpmath) or refused."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import mpmath
import pytest
from onestep_gm.experiments.cli import main
from onestep_gm.theory.activations import ActivationError, get_activation, moment_divergence
from onestep_gm.theory.moments import conditional_moments, moments_mpmath


def _cli(*args, capsys):
    """``onestep ARGS`` in this process (no interpreter start-up per call; the console script
    and ``python -m`` paths are tested in test_cli_theory and test_cli_robust)."""
    start = time.time()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse refusals
        code = exc.code
    captured = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err), time.time() - start


def _refused(*args, capsys):
    out, seconds = _cli(*args, capsys=capsys)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert out.stdout == ""
    assert seconds < 30
    return lines[0]


def _periodic_sign_h1(b: float) -> mpmath.mpf:
    """E[sign(sin(3bz)) z], integrated panel by panel between the zeros kπ/3 of sin(3x)."""
    with mpmath.workdps(30):
        edges = [k * mpmath.pi / 3 / b for k in range(-60, 61)]
        total = mpmath.mpf(0)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            mid = (lo + hi) / 2
            sign = mpmath.sign(mpmath.sin(3 * b * mid))
            total += sign * (mpmath.npdf(lo) - mpmath.npdf(hi))  # ∫ z φ(z) dz on [lo, hi]
        return total


def test_periodic_switch_function_is_right(capsys):
    out, _ = _cli("hermite", "--activation", "sign(sin(3*x))", "--b", "1", "--order", "2", "--json", capsys=capsys)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    want = _periodic_sign_h1(1.0)
    assert abs(float(data["h"][1]) - float(want)) < 1e-14
    assert abs(float(want) - 0.0424332410844484) < 1e-15
    assert data["method"] == "numeric"


def test_periodic_switch_function_moments_are_not_sign_of_x():
    act = get_activation("sign(sin(3*x))")
    assert not act.kinks_complete
    m = conditional_moments(act)
    assert m.method == "quadrature" and m.M0 is None
    with mpmath.workdps(30):
        edges = [k * mpmath.pi / 3 for k in range(-40, 41)]
        want = mpmath.mpf(0)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            sign = mpmath.sign(mpmath.sin(3 * (lo + hi) / 2))
            want += sign * (mpmath.ncdf(hi - mpmath.mpf("0.2")) - mpmath.ncdf(lo - mpmath.mpf("0.2")))
    got = moments_mpmath(act, "0.2", "1")[0]
    assert abs(got - want) < 1e-12 and abs(want - mpmath.mpf("0.00798654")) < 1e-8


def test_switching_sets_that_cannot_be_enumerated_are_refused():
    with pytest.raises(ActivationError, match="cannot locate every kink"):
        get_activation("Max(x, sin(x) + x**3/7)")


@pytest.mark.parametrize("cmd", [
    ("moments", "--activation", "sqrt(x)"),
    ("hermite", "--activation", "sqrt(x)", "--b", "1", "--order", "2"),
    ("moments", "--activation", "log(x)"),
])
def test_non_real_activations_refused_everywhere(cmd, capsys):
    assert "not real" in _refused(*cmd, capsys=capsys)


def test_non_real_refused_in_theory_layer():
    with pytest.raises(ActivationError, match="not real"):
        get_activation("x**(1/3)")


@pytest.mark.parametrize("cmd", [
    ("moments", "--activation", "1/x"),
    ("hermite", "--activation", "1/x", "--b", "1", "--order", "2"),
    ("hermite", "--activation", "exp(x**2)", "--b", "0.5", "--order", "2"),
    ("hermite", "--activation", "1/sin(x)", "--b", "1", "--order", "2"),
])
def test_divergent_moments_refused(cmd, capsys):
    assert "= ∞" in _refused(*cmd, capsys=capsys)


def test_moment_divergence_function():
    assert "for every s" in moment_divergence("1/x")
    assert moment_divergence("abs(x)**(-0.25)") is None
    assert moment_divergence("abs(x)**(-0.25)", power=4) is not None
    assert moment_divergence("exp(x**2)", scale=0.49) is None
    assert moment_divergence("exp(x**2)", scale=0.5) is not None
    assert moment_divergence("exp(x**2/4)", scale=0.99) is None
    assert moment_divergence("exp(x**2/4)", scale=1.0) is not None


def test_tiny_b_refused_not_wrong(capsys):
    assert "too small" in _refused("hermite", "--activation", "tanh", "--b", "1e-80", "--order", "4", capsys=capsys)


def test_small_b_numeric_is_right():
    c = pytest.importorskip("onestep_gm.theory.hermite").hermite_coefficients("tanh", "0.01", 4)
    with mpmath.workdps(60):
        b = mpmath.mpf("0.01")
        # h_3 = b^3 E[tanh'''(bz)], an integrand of size 1: no cancellation.
        def d3(x):
            t = mpmath.tanh(x)
            return -2 * (1 - t * t) * (1 - 3 * t * t)
        want3 = b**3 * mpmath.quad(lambda z: d3(b * z) * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf])
        want1 = b * mpmath.quad(lambda z: (1 - mpmath.tanh(b * z) ** 2) * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf])
    assert abs(c.h[1] - want1) <= mpmath.mpf("1e-30") * abs(want1)
    assert abs(c.h[3] - want3) <= mpmath.mpf("1e-20") * abs(want3)


def test_digits_are_computed_not_padded(capsys):
    out, _ = _cli("hermite", "--activation", "tanh", "--b", "1", "--order", "3", "--digits", "70", capsys=capsys)
    assert out.returncode == 0, out.stderr
    with mpmath.workdps(90):
        want = mpmath.quad(lambda z: mpmath.tanh(z) * z * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf])
    row = next(line for line in out.stdout.splitlines() if line.startswith("1 "))
    printed = row.split()[1]
    assert printed == mpmath.nstr(want, 70)
    assert row.split()[-1] == mpmath.nstr(want, 70)  # h_1 / 1! at the same precision
    assert "at most 190" in _refused("hermite", "--activation", "tanh", "--b", "1", "--order", "3", "--digits", "500",
                                     capsys=capsys)


def test_simulate_refuses_activations_whose_equivalent_models_diverge():
    """``1/x`` with the conditional model: E σ(a + s g)² = ∞, refused before any trial."""
    import onestep_gm as og

    config = og.SimulationConfig(data=og.MixtureSpec(n=20), k=10, m=12, trials=1,
                                 activations=("1/x",), models=("nn", "conditional"))  # fmt: skip
    with pytest.raises(ValueError, match="grows like"):
        og.simulate(config)


def test_high_degree_products_skip_the_exact_route_and_stay_right():
    """``(x+1)**64``: quadrature (method "numeric"), equal to the binomial closed form."""
    import math

    from onestep_gm.theory.hermite import hermite_coefficients

    c = hermite_coefficients("(x+1)**64", 1, 2)
    assert c.method == "numeric"
    # E (z+1)^64 = sum_k C(64, 2k) (2k-1)!!  and  E z (z+1)^64 = sum_k C(64, 2k+1) (2k+1)!!
    even = sum(math.comb(64, 2 * k) * math.prod(range(1, 2 * k, 2)) for k in range(33))
    odd = sum(math.comb(64, 2 * k + 1) * math.prod(range(1, 2 * k + 2, 2)) for k in range(32))
    assert float(c.h[0]) == pytest.approx(even, rel=1e-12)
    assert float(c.h[1]) == pytest.approx(odd, rel=1e-12)
