r"""Hermite coefficients of an activation at bulk scale :math:`b`.

The Hermite model of the paper (Demir & Dogan, ICLR 2025, Theorem on the
Hermite equivalent; Demir & Dogan, ICLR 2025, the Hermite equivalence theorem) replaces :math:`\sigma` by

.. math::

    \hat\sigma_l(u) = \sum_{j<l} \frac{h_j}{j!}\,\mathrm{He}_j(u/b) + h_l^*\, g,
    \qquad h_j = \mathbb{E}_{z\sim N(0,1)}[\sigma(bz)\,\mathrm{He}_j(z)],
    \qquad (h_l^*)^2 = \mathbb{E}[\sigma(bz)^2] - \sum_{j<l} \frac{h_j^2}{j!},

with probabilists' Hermite polynomials :math:`\mathrm{He}_j` (``h_j`` is *not*
divided by :math:`j!`).

Two routes, chosen per activation:

* **exact** (:mod:`theory.hermite_exact`, SymPy): closed forms from the Gaussian-expectation
  engine :mod:`theory.gaussian` (piecewise polynomials between kinks, erf, exp, sin/cos and
  their products with polynomials), evaluated to ``dps`` guaranteed digits;
* **numeric** (:mod:`theory.hermite_numeric`, mpmath): tanh-sinh quadrature at ``dps``
  (default 40) digits split at the kinks, every :math:`\mathrm{He}_j` from the three-term
  recurrence, all coefficients and :math:`\mathbb{E}[\sigma^2]` in one pass over the nodes.

Examples
--------
>>> c = hermite_coefficients("relu", 1, 5)
>>> c.method, [round(float(v), 12) for v in c.h]
('exact', [0.398942280401, 0.5, 0.398942280401, 0.0, -0.398942280401])
>>> hermite_symbolic("relu", 1)
b/2
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp
from onestep_gm.theory.activations import Activation, get_activation, require_finite_moments
from onestep_gm.theory.hermite_exact import (
    GUARD_DIGITS,
    B,
    evaluate_closed,
    exact_values,
    hermite_symbolic,
    second_moment_symbolic,
)
from onestep_gm.theory.hermite_numeric import (
    check_resolved,
    numeric_values,
    probe_growth,
    tail_cutoff,
)

__all__ = [
    "B",
    "HermiteCoefficients",
    "hermite_coefficients",
    "hermite_symbolic",
    "second_moment_symbolic",
]

MAX_ORDER = 40
"""Highest order :math:`L` accepted."""


@dataclass(frozen=True)
class HermiteCoefficients:
    r"""Coefficients :math:`h_0,\dots,h_{L-1}` of :math:`\sigma(b\,\cdot)`, :math:`\mathbb{E}[\sigma(bz)^2]` and :math:`h_L^*`.

    ``method`` is ``"exact"`` when every number came from a closed form (then
    ``exact`` holds those closed forms evaluated at ``b``), else ``"numeric"``.
    """

    activation: str
    b: float
    order: int
    h: tuple[mpmath.mpf, ...]
    second_moment: mpmath.mpf
    h_star: mpmath.mpf
    method: str
    exact: tuple[sp.Expr, ...] | None

    def h_star_at(self, order: int, dps: int = 40) -> mpmath.mpf:
        r""":math:`h_L^\star = \sqrt{\mathbb E[\sigma(bz)^2] - \sum_{j<L} h_j^2/j!}` for any
        :math:`L \le` ``self.order``: every lower order from one set of coefficients."""
        if not 1 <= order <= self.order:
            raise ValueError(f"h_star needs 1 <= L <= {self.order}, got {order}")
        with mpmath.workdps(dps + 10):
            square = self.second_moment - mpmath.fsum(
                h**2 / mpmath.factorial(j) for j, h in enumerate(self.h[:order])
            )
            return +mpmath.sqrt(max(square, 0))

    def as_floats(self) -> np.ndarray:
        """:math:`h_j` as a float64 array of length ``order``."""
        return np.array([float(v) for v in self.h], dtype=np.float64)

    def to_json(self, digits: int = 17) -> dict:
        """The ``onestep hermite --json`` object (the CLI reference of the docs)."""

        def text(value: mpmath.mpf) -> str:
            return mpmath.nstr(value, digits)

        return {
            "activation": self.activation,
            "b": self.b,
            "order": self.order,
            "h": [text(v) for v in self.h],
            "h_star": text(self.h_star),
            "second_moment": text(self.second_moment),
            "method": self.method,
        }


# ---------------------------------------------------------------- validation


def _as_activation(activation: str | Activation) -> Activation:
    return get_activation(activation)


def _as_rational(b) -> sp.Rational:
    if isinstance(b, bool):
        raise ValueError(f"b must be a positive number, got {b!r}")
    try:
        value = sp.Rational(str(b).strip())
    except (TypeError, ValueError, SyntaxError):
        raise ValueError(f"b must be a positive finite number, got {b!r}") from None
    if not value > 0:
        raise ValueError(f"b must be > 0, got {b!r}")
    return value


def _check_order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise ValueError(f"order must be an integer in [1, {MAX_ORDER}], got {order!r}")
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be in [1, {MAX_ORDER}], got {order}")
    return int(order)


# ---------------------------------------------------------------- public entry


def hermite_coefficients(
    activation: str | Activation, b, order: int, *, dps: int = 40
) -> HermiteCoefficients:
    r"""Hermite coefficients :math:`h_0..h_{L-1}`, :math:`\mathbb{E}[\sigma(bz)^2]` and :math:`h_L^*`.

    Parameters
    ----------
    activation:
        A registered name, ``leaky_relu(slope)``, an expression in ``x``, or an
        :class:`~theory.activations.Activation`.
    b:
        Bulk scale :math:`b > 0` (str, int, float or Rational; ``"0.3"`` is 3/10 exactly).
    order:
        :math:`L \in [1, 40]`; the coefficients :math:`h_0..h_{L-1}` are returned.
    dps:
        Decimal digits of the numeric route (>= 30 significant digits are kept
        with the default 40).

    Results are cached.  A numeric activation (a JAX callable,
    :func:`onestep_gm.numerics.activations.numeric_activation`) answers by float64 quadrature
    (``method="numeric"``, ``exact=None``; ``dps`` does not apply).
    """
    act = _as_activation(activation)
    b_exact = _as_rational(b)
    order = _check_order(order)
    if isinstance(dps, bool) or not isinstance(dps, numbers.Integral) or not 15 <= dps <= 200:
        raise ValueError(f"dps must be an integer in [15, 200], got {dps!r}")
    if not act.symbolic:
        return act.hermite_coefficients(float(b_exact), order)
    return _hermite_coefficients(act, b_exact, order, int(dps))


@functools.lru_cache(maxsize=512)
def _hermite_coefficients(
    act: Activation, b: sp.Rational, order: int, dps: int
) -> HermiteCoefficients:
    require_finite_moments(act, b, 2)
    probe_growth(act, b, float(tail_cutoff(order, dps)))
    exact = exact_values(act, b, order)
    result = None if exact is None else _exact_result(act, b, exact, dps)
    return result if result is not None else _numeric_result(act, b, order, dps)


def _exact_result(act: Activation, b: sp.Rational, exact: list, dps: int) -> HermiteCoefficients | None:
    """The closed forms evaluated to ``dps`` digits, or ``None`` when they cannot be."""
    *h_exprs, second_b = exact
    star_expr = sp.expand(second_b - sum(e**2 / sp.factorial(j) for j, e in enumerate(h_exprs)))
    values = evaluate_closed([*h_exprs, second_b, star_expr], dps)
    if values is None:
        return None
    *h, m2, star = values
    with mpmath.workdps(dps + GUARD_DIGITS):
        h_star = mpmath.sqrt(max(star, 0))
    with mpmath.workdps(dps):
        h, m2, h_star = tuple(+v for v in h), +m2, +h_star
    return HermiteCoefficients(act.name, float(b), len(h), h, m2, h_star, "exact", tuple(h_exprs))


def _numeric_result(act: Activation, b: sp.Rational, order: int, dps: int) -> HermiteCoefficients:
    h, m2 = numeric_values(act, b, order, dps)
    with mpmath.workdps(dps + GUARD_DIGITS):
        star_sq = m2 - mpmath.fsum(v**2 / mpmath.factorial(j) for j, v in enumerate(h))
        if star_sq < -(mpmath.mpf(10) ** (-dps + 5)) * max(m2, 1):
            raise ArithmeticError(f"negative h_star^2 = {star_sq} for {act.name}")  # pragma: no cover
        # |h_j| <= sqrt(j! E[σ²]); anything dps digits below that bound is quadrature noise.
        floor = mpmath.mpf(10) ** (-dps)
        h = tuple(mpmath.mpf(0) if abs(v) < floor * mpmath.sqrt(mpmath.factorial(j) * m2) else v
                  for j, v in enumerate(h))  # fmt: skip
    check_resolved(act, b, h, m2, star_sq, dps)
    with mpmath.workdps(dps):
        h_star = mpmath.sqrt(max(star_sq, 0))
        h = tuple(+v for v in h)
        m2 = +m2
    return HermiteCoefficients(act.name, float(b), order, h, m2, h_star, "numeric", None)
