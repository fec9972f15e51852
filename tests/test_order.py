"""β → Hermite order, boundaries, and the (α, n) scalings."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from onestep_gm.theory.order import bulk_scale, hermite_order, scalings, simulation_order


@pytest.mark.parametrize(
    ("beta", "order"),
    [(0.0, 2), (0.1, 2), (0.49, 2), (0.51, 3), (0.6, 3), (0.7, 4), (0.74, 4), (0.76, 5), (0.81, 6)],
)
def test_order_table(beta, order):
    info = hermite_order(beta)
    assert info.order == order and not info.boundary and info.neighbours == ()
    assert info.interval == pytest.approx(((order - 2) / (order - 1), (order - 1) / order))


@given(st.floats(min_value=0.0, max_value=0.999, exclude_min=True))
def test_order_satisfies_the_theorem_inequality(beta):
    info = hermite_order(beta)
    if info.boundary:
        low, high = info.neighbours
        assert high == low + 1 and math.isclose(beta, (low - 1) / low, rel_tol=1e-12)
        return
    l, exact = info.order, Fraction(beta)
    assert Fraction(l - 2, l - 1) < exact < Fraction(l - 1, l)
    assert info.interval[0] <= beta <= info.interval[1]
    assert simulation_order(beta) == l


@pytest.mark.parametrize("l", range(2, 40))
def test_boundaries(l):
    edge = (l - 1) / l
    info = hermite_order(edge)
    assert info.order is None and info.boundary and info.neighbours == (l, l + 1)
    assert simulation_order(edge) == l + 1
    assert hermite_order(edge - 1e-9).order == l
    assert hermite_order(edge + 1e-9).order == l + 1


def test_boundary_json_and_text():
    info = hermite_order(0.5)
    assert info.to_json() == {
        "beta": 0.5,
        "order": None,
        "interval": [0.5, 0.5],
        "boundary": True,
        "neighbours": [2, 3],
    }
    text = info.describe()
    assert "says nothing" in text and "l = 2" in text and "l = 3" in text
    assert hermite_order(2 / 3).neighbours == (3, 4)


def test_interior_json_and_text():
    info = hermite_order(0.74)
    assert info.to_json() == {
        "beta": 0.74,
        "order": 4,
        "interval": [2 / 3, 0.75],
        "boundary": False,
        "neighbours": [],
    }
    assert "l = 4" in info.describe() and "(2/3, 3/4)" in info.describe()
    assert "linear Gaussian" in hermite_order(0).describe()


def test_beta_one_has_no_finite_order():
    info = hermite_order(1.0)
    assert (info.order, info.boundary, info.neighbours, info.interval) == (None, False, (), (1, 1))
    assert "no finite" in info.describe()
    with pytest.raises(ValueError, match="no finite Hermite order"):
        simulation_order(1.0)


@pytest.mark.parametrize("beta", [-0.1, 1.1, math.nan, math.inf, "0.5", None, True])
def test_bad_beta(beta):
    with pytest.raises(ValueError):
        hermite_order(beta)


def test_scalings():
    s = scalings(1000, 1.0, 0.0)
    assert (s.theta, s.eta) == (pytest.approx(1000.0), pytest.approx(1.0))
    s = scalings(1000, 1.0, 1.0)
    assert (s.theta, s.eta) == (pytest.approx(1.0), pytest.approx(1000.0))
    s = scalings(400, 0.75, 0.5)
    assert s.theta == pytest.approx(400**0.375) and s.eta == pytest.approx(400**0.375)
    assert (s.n, s.beta, s.alpha) == (400, 0.75, 0.5)


@given(
    n=st.integers(1, 10**6),
    beta=st.floats(0, 1),
    alpha=st.floats(0, 1),
)
def test_theta_times_eta_is_n_to_the_beta(n, beta, alpha):
    s = scalings(n, beta, alpha)
    assert math.isclose(s.theta * s.eta, n**beta, rel_tol=1e-12)
    assert 1 <= s.theta <= n and 1 <= s.eta <= n


@pytest.mark.parametrize(
    ("n", "beta", "alpha"),
    [
        (0, 0.5, 0.5),
        (-3, 0.5, 0.5),
        (2.5, 0.5, 0.5),
        (True, 0.5, 0.5),
        (10, 1.5, 0.5),
        (10, 0.5, -1),
    ],
)
def test_bad_scalings(n, beta, alpha):
    with pytest.raises(ValueError):
        scalings(n, beta, alpha)


def test_bulk_scale():
    assert bulk_scale(1000, 1000.0) == 1.0
    assert bulk_scale(100, 400.0) == pytest.approx(0.5)
    for tau in (0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            bulk_scale(10, tau)
    with pytest.raises(ValueError):
        bulk_scale(0, 1.0)
