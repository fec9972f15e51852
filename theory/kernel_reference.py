r"""Reference values of the bivariate kernels by nested mpmath quadrature (slow, accurate).

What the closed forms of :mod:`theory.kernels` and the numeric rules of
:mod:`onestep_gm.numerics.population` are measured against: adaptive tanh-sinh quadrature
split at the kinks and, for nearly collinear pairs, at the smoothed kink of the inner factor.
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath as mp
import sympy as sp
from onestep_gm.theory.activations import X, kinks_of

__all__ = ["bivariate_mp", "mean_mp"]


def _mp_function(expr: sp.Expr) -> Callable:
    return sp.lambdify(X, expr, modules=["mpmath"])


def _kink_points(expr: sp.Expr) -> list[float]:
    return [float(k) for k in kinks_of(expr)[0]]


def mean_mp(expr: sp.Expr, m1, q1, *, dps: int = 30):
    r""":math:`\mathbb E\,\sigma(m_1 + \sqrt{q_1} z)` by mpmath quadrature split at the kinks."""
    with mp.workdps(dps):
        f = _mp_function(expr)
        m1, s1 = mp.mpf(m1), mp.sqrt(mp.mpf(q1))
        points = _breakpoints([(k - m1) / s1 for k in _kink_points(expr)])
        return mp.quad(lambda z: mp.npdf(z) * f(m1 + s1 * z), points)


def bivariate_mp(first: sp.Expr, second: sp.Expr, m1, m2, q1, q2, c, *, dps: int = 25):
    r"""Reference :math:`\mathbb E[f(u)g(v)]` by nested mpmath quadrature (slow, accurate).

    :math:`u = m_1 + \sqrt{q_1}z_1`, :math:`v = m_2 + \frac{c}{\sqrt{q_1}}z_1 +
    \sqrt{q_2 - c^2/q_1}\,z_2`; the inner integral over :math:`z_2` and the outer over
    :math:`z_1` are split at the kinks of ``second`` and ``first`` and, for the outer one,
    at the point where the (smoothed) kink of ``second`` sits, with extra breakpoints at
    the smoothing scale, so nearly collinear pairs (:math:`|\rho|\to1`) stay accurate.
    When ``second`` is the ReLU teacher :math:`\max(0, x)`, the inner integral is the
    textbook :math:`\mathbb E\max(0, s + rg) = s\Phi(s/r) + r\varphi(s/r)` instead of a
    quadrature (one 1-D quadrature instead of a nested one, an order of magnitude faster).
    """
    with mp.workdps(dps):
        f, g = _mp_function(first), _mp_function(second)
        m1, m2, q1, q2, c = (mp.mpf(v) for v in (m1, m2, q1, q2, c))
        s1 = mp.sqrt(q1)
        slope = c / s1
        rest = mp.sqrt(max(q2 - c**2 / q1, mp.mpf(0)))
        kinks_f, kinks_g = _kink_points(first), _kink_points(second)
        relu_inner = second == sp.Max(0, X)

        def inner(z1):
            shift = m2 + slope * z1
            if rest == 0:
                return g(shift)
            if relu_inner:
                return shift * mp.ncdf(shift / rest) + rest * mp.npdf(shift / rest)
            points = _breakpoints([(k - shift) / rest for k in kinks_g])
            return mp.quad(lambda z2: mp.npdf(z2) * g(shift + rest * z2), points)

        outer_points = [(k - m1) / s1 for k in kinks_f]
        if slope != 0:
            width = rest / abs(slope)
            for k in kinks_g:
                centre = (k - m2) / slope
                outer_points += [centre + t * width for t in (-8, -1, 0, 1, 8)]
        return mp.quad(lambda z1: mp.npdf(z1) * f(m1 + s1 * z1) * inner(z1),
                       _breakpoints(outer_points))


_CUTOFF = 14  # standard-normal mass beyond |z| = 14 is below 1e-44


def _breakpoints(points) -> list:
    """``[-L, sorted interior points and 0, L]``: finite panels keep tanh-sinh fast and sharp."""
    inside = {mp.mpf(p) for p in points if -_CUTOFF < p < _CUTOFF} | {mp.mpf(0)}
    return [mp.mpf(-_CUTOFF), *sorted(inside), mp.mpf(_CUTOFF)]
