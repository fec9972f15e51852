r"""Spike strength :math:`\beta` → Hermite order :math:`l`, and the scalings :math:`\theta, \eta`.

The paper's theorem (Demir & Dogan, ICLR 2025; the docs' model page)
says the network after one step is equivalent to the Hermite model of order
:math:`l` where

.. math::

    \frac{l-2}{l-1} < \beta < \frac{l-1}{l}
    \iff l = \Big\lfloor \frac{1}{1-\beta} \Big\rfloor + 1 ,

so :math:`\beta\in(0,\tfrac12)\to 2`, :math:`(\tfrac12,\tfrac23)\to 3`,
:math:`(\tfrac23,\tfrac34)\to 4`, ... :math:`\beta = 0` is the classical linear
Gaussian equivalent (:math:`l = 2`).  At a boundary :math:`\beta = (l-1)/l` the
theorem says nothing; :math:`\beta = 1` has no finite order.

Examples
--------
>>> hermite_order(0.74).order
4
>>> hermite_order(0.5).neighbours
(2, 3)
>>> scalings(1000, 0.5, 0.5).theta
5.623413251903491
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "OrderInfo",
    "Scalings",
    "bulk_scale",
    "check_strength",
    "hermite_order",
    "scalings",
    "simulation_order",
]

BOUNDARY_TOLERANCE = 1e-12
"""Relative distance to :math:`(l-1)/l` under which :math:`\\beta` counts as a boundary."""


def _fraction(l: int) -> str:
    """:math:`(l-1)/l` as text (``"2/3"``; ``"0"`` for :math:`l = 1`)."""
    return str(Fraction(l - 1, l))


@dataclass(frozen=True)
class OrderInfo:
    r"""What the theorem says about the Hermite order at strength ``beta``.

    ``order`` is ``None`` at a boundary (``boundary=True``, ``neighbours=(l, l+1)``)
    and at :math:`\beta = 1` (``boundary=False``, no neighbours).
    """

    beta: float
    order: int | None
    interval: tuple[float, float]
    boundary: bool
    neighbours: tuple[int, ...]

    def to_json(self) -> dict:
        """The ``onestep order --json`` object (the CLI reference of the docs)."""
        return {
            "beta": self.beta,
            "order": self.order,
            "interval": list(self.interval),
            "boundary": self.boundary,
            "neighbours": list(self.neighbours),
        }

    def describe(self) -> str:
        """One line for people."""
        head = f"β = {self.beta:g}"
        if self.boundary:
            low, high = self.neighbours
            return (
                f"{head} is the boundary (l-1)/l = {_fraction(low)} between orders l = {low} and"
                f" l = {high}: the theorem says nothing here (use l = {low} or l = {high})"
            )
        if self.order is None:
            return (
                f"{head} → no finite Hermite order (features keep the full nonlinearity"
                " along the spike); pass an explicit order"
            )
        if self.beta == 0:
            return f"{head} → Hermite order l = 2 (the classical linear Gaussian equivalent)"
        l = self.order
        return (
            f"{head} → Hermite order l = {l} "
            f"(β in ({_fraction(l - 1)}, {_fraction(l)}), degree {l - 1} polynomial + noise)"
        )


def check_strength(value, name: str = "beta") -> float:
    r"""The one range check of :math:`\beta` and :math:`\alpha`: a finite real number in [0, 1].

    Parameters
    ----------
    value : float
        The strength :math:`\beta` or the weight :math:`\alpha`.
    name : str
        ``"beta"`` or ``"alpha"``, named in the message.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    ValueError
        ``"beta must be a number in [0, 1], got ..."`` for anything else (booleans, NaN, ±inf
        and strings included).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def _check_beta(beta) -> float:
    return check_strength(beta, "beta")


def hermite_order(beta: float) -> OrderInfo:
    r"""The Hermite order :math:`l = \lfloor 1/(1-\beta)\rfloor + 1` of the theorem.

    Demir & Dogan (ICLR 2025), Hermite equivalence theorem: for :math:`\frac{l-2}{l-1} < \beta < \frac{l-1}{l}` the
    network after one step is equivalent to the Hermite model of order :math:`l`.

    Parameters
    ----------
    beta : float
        The strength :math:`\beta \in [0, 1]`.

    Returns
    -------
    OrderInfo
        ``order`` (``None`` at a boundary :math:`(l-1)/l`, which names both ``neighbours``,
        and at :math:`\beta = 1`, which has no finite order) and the open ``interval``.

    Raises
    ------
    ValueError
        When ``beta`` is not a number in [0, 1].

    Examples
    --------
    >>> hermite_order(0.0).order, hermite_order(0.49).order, hermite_order(0.6).order
    (2, 2, 3)
    >>> hermite_order(2 / 3).boundary
    True
    >>> hermite_order(1.0).order is None
    True
    """
    beta = _check_beta(beta)
    if beta == 1.0:
        return OrderInfo(beta, None, (1.0, 1.0), False, ())
    nearest = round(1 / (1 - beta))
    if nearest >= 2 and abs(beta - (nearest - 1) / nearest) <= BOUNDARY_TOLERANCE * beta:
        edge = (nearest - 1) / nearest
        return OrderInfo(beta, None, (edge, edge), True, (nearest, nearest + 1))
    l = math.floor(1 / (1 - beta)) + 1
    return OrderInfo(beta, l, ((l - 2) / (l - 1), (l - 1) / l), False, ())


def simulation_order(beta: float) -> int:
    """The order to simulate with: the theorem's ``l``; at a boundary the higher neighbour.

    >>> simulation_order(0.74), simulation_order(0.5)
    (4, 3)
    """
    info = hermite_order(beta)
    if info.order is not None:
        return info.order
    if info.boundary:
        return info.neighbours[-1]
    raise ValueError("β = 1 has no finite Hermite order; pass an explicit order")


@dataclass(frozen=True)
class Scalings:
    r"""Spike size :math:`\theta = n^{\beta(1-\alpha)}` and learning rate :math:`\eta = n^{\beta\alpha}`."""

    n: int
    beta: float
    alpha: float
    theta: float
    eta: float


def scalings(n: int, beta: float, alpha: float) -> Scalings:
    r"""Spike size :math:`\theta = n^{\beta(1-\alpha)}` and learning rate :math:`\eta = n^{\beta\alpha}`.

    The scalings of Demir & Dogan (ICLR 2025, Sec. 2): :math:`\|\Sigma\| \asymp n^{\beta(1-\alpha)}`
    and :math:`\theta\eta = n^\beta`.

    Parameters
    ----------
    n : int
        Input dimension (≥ 1).
    beta : float
        Strength :math:`\beta \in [0, 1]`: :math:`\theta = n^{\beta(1-\alpha)}`,
        :math:`\eta = n^{\beta\alpha}`.
    alpha : float
        Weight :math:`\alpha \in [0, 1]`: the share of :math:`\beta` that goes to the learning
        rate rather than to the spike.

    Returns
    -------
    Scalings

    Raises
    ------
    ValueError
        For a non-integer or non-positive ``n``, or ``beta``/``alpha`` outside [0, 1].

    Examples
    --------
    >>> s = scalings(100, 1.0, 0.0)
    >>> s.theta, s.eta
    (100.0, 1.0)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    beta = _check_beta(beta)
    alpha = check_strength(alpha, "alpha")
    n = int(n)
    if n > 2**53:  # beyond exact floats; n ** beta would overflow past 1e308
        raise ValueError(f"n must be at most 2**53 (got an integer of {len(str(n))} digits)")
    return Scalings(n, beta, alpha, float(n ** (beta * (1 - alpha))), float(n ** (beta * alpha)))


def bulk_scale(n: int, tau: float) -> float:
    r"""The bulk pre-activation scale :math:`b = \sqrt{n/\tau}`, :math:`\tau = \mathrm{tr}\,\bar\Sigma`.

    With :math:`F_{ij}\sim\mathcal N(0, 1/\tau)`, the pre-activation of a bulk direction has
    variance :math:`b^2 = n/\tau`; the Hermite coefficients are taken at this :math:`b`.

    Parameters
    ----------
    n : float
        Input dimension.
    tau : float
        :math:`\operatorname{tr}\bar\Sigma > 0`.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For ``n <= 0`` or a non-finite or non-positive ``tau``.

    Examples
    --------
    >>> bulk_scale(1000, 1000.0)
    1.0
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or not n > 0:
        raise ValueError(f"n must be > 0, got {n!r}")
    if (
        isinstance(tau, bool)
        or not isinstance(tau, numbers.Real)
        or not math.isfinite(tau)
        or not tau > 0
    ):
        raise ValueError(f"τ must be a positive finite number, got {tau!r}")
    return math.sqrt(n / tau)
