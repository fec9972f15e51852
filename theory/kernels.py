r"""Bivariate Gaussian kernels :math:`\mathbb E[\sigma(u)\,\tau(v)]` for the theory curves.

For :math:`(u, v)` jointly Gaussian with means :math:`(m_1, m_2)`, variances
:math:`(q_1, q_2)` and covariance :math:`c`, the population feature moments of a
network with first layer :math:`\hat F` are entries of such kernels
(:mod:`onestep_gm.numerics.population`).  This module holds what is exact:

* ReLU, centred (the arc-cosine kernel of Cho & Saul 2009):
  :math:`\mathbb E[(u)_+(v)_+] = \frac{\sqrt{q_1q_2}}{2\pi}\big(\sin\vartheta +
  (\pi-\vartheta)\cos\vartheta\big)`, :math:`\cos\vartheta = c/\sqrt{q_1q_2}`;
* erf, centred (Williams 1997): :math:`\mathbb E[\operatorname{erf}(u)\operatorname{erf}(v)]
  = \frac2\pi\arcsin\frac{2c}{\sqrt{(1+2q_1)(1+2q_2)}}`;
* polynomials (linear included), any means: Isserlis' theorem, obtained here by
  differentiating the joint moment generating function
  :math:`\exp(t_1m_1+t_2m_2+\tfrac12(q_1t_1^2+2ct_1t_2+q_2t_2^2))`;
* one-dimensional means :math:`\mathbb E\,\sigma(u)` (ReLU, erf, polynomials) and the
  ReLU second moment :math:`\mathbb E[(u)_+^2] = (m^2+q)\Phi(m/\sqrt q) + m\sqrt q\,\varphi(m/\sqrt q)`.

Everything is a SymPy expression in the symbols :data:`M1, M2, Q1, Q2, C`, ready for
code generation (``sympy.lambdify(..., modules="jax")``).  Activations without a closed
form go to the numeric rules of :mod:`onestep_gm.numerics.population`; :func:`bivariate_mp` is the
mpmath reference (nested adaptive quadrature split at the kinks) that those rules are
measured against.

Examples
--------
>>> from theory.activations import get_activation
>>> k = closed_kernel(get_activation("linear"), centred=False)
>>> sp.expand(k)
C + M1*M2
>>> closed_kernel(get_activation("tanh"), centred=True) is None
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import mpmath as mp
import sympy as sp
from onestep_gm.theory.activations import Activation, X

__all__ = [
    "M1",
    "M2",
    "Q1",
    "Q2",
    "C",
    "relu_kernel",
    "erf_kernel",
    "polynomial_kernel",
    "closed_kernel",
    "closed_cross_kernel",
    "closed_mean",
    "relu_second_moment",
    "bivariate_mp",
    "mean_mp",
]

M1, M2 = sp.symbols("M1 M2", real=True)
Q1, Q2 = sp.symbols("Q1 Q2", positive=True)
C = sp.Symbol("C", real=True)

_T1, _T2 = sp.symbols("t1 t2", real=True)
_RELU = sp.Max(0, X)
_ERF = sp.erf(X)


def relu_kernel() -> sp.Expr:
    r"""Arc-cosine kernel :math:`\mathbb E[(u)_+(v)_+]` for centred :math:`(u,v)`.

    :math:`\frac{\sqrt{q_1q_2}}{2\pi}(\sin\vartheta + (\pi-\vartheta)\cos\vartheta)` with
    :math:`\cos\vartheta = c/\sqrt{q_1q_2}`, written as
    :math:`\frac1{2\pi}\big(s + c(\pi-\operatorname{atan2}(s, c))\big)`, :math:`s = \sqrt{q_1q_2-c^2}`:
    as :math:`\rho\to1` the rounding error of :math:`s` (of order :math:`\sqrt{\epsilon}`) cancels to
    first order between the two terms, whereas the :math:`\arccos` form loses half the digits.
    """
    sine = sp.sqrt(sp.Max(Q1 * Q2 - C**2, 0))
    return (sine + C * (sp.pi - sp.atan2(sine, C))) / (2 * sp.pi)


def erf_kernel() -> sp.Expr:
    r"""Arcsine kernel :math:`\frac2\pi\arcsin\frac{2c}{\sqrt{(1+2q_1)(1+2q_2)}}` (centred)."""
    return 2 / sp.pi * sp.asin(2 * C / sp.sqrt((1 + 2 * Q1) * (1 + 2 * Q2)))


def _moment_table(degree_1: int, degree_2: int) -> dict[tuple[int, int], sp.Expr]:
    r""":math:`\mathbb E[u^r v^s]` for :math:`r\le` ``degree_1``, :math:`s\le` ``degree_2`` from the MGF."""
    mgf = sp.exp(_T1 * M1 + _T2 * M2 + (Q1 * _T1**2 + 2 * C * _T1 * _T2 + Q2 * _T2**2) / 2)
    table = {}
    d1 = mgf
    for r in range(degree_1 + 1):
        d2 = d1
        for s in range(degree_2 + 1):
            table[(r, s)] = sp.expand(sp.simplify(d2.subs({_T1: 0, _T2: 0})))
            d2 = sp.diff(d2, _T2)
        d1 = sp.diff(d1, _T1)
    return table


def polynomial_kernel(first: sp.Expr, second: sp.Expr | None = None) -> sp.Expr:
    r""":math:`\mathbb E[p_1(u)p_2(v)]` for polynomials in :data:`X`, any means (Isserlis).

    With :math:`p_1 = \sum_r a_r x^r`, :math:`p_2 = \sum_s b_s x^s`:
    :math:`\sum_{r,s} a_r b_s\,\mathbb E[u^r v^s]`, the mixed moments from the joint MGF.
    """
    second = first if second is None else second
    p1, p2 = sp.Poly(first, X), sp.Poly(second, X)
    table = _moment_table(p1.degree(), p2.degree())
    total = sp.Integer(0)
    for (r,), a in p1.terms():
        for (s,), b in p2.terms():
            total += a * b * table[(r, s)]
    return sp.expand(total)


def _is_relu(expr: sp.Expr) -> bool:
    return sp.simplify(expr - _RELU) == 0


def _is_erf(expr: sp.Expr) -> bool:
    return sp.simplify(expr - _ERF) == 0


@functools.lru_cache(maxsize=64)
def _closed_kernel_expr(first: sp.Expr, second: sp.Expr, centred: bool) -> sp.Expr | None:
    if first.is_polynomial(X) and second.is_polynomial(X):
        return polynomial_kernel(first, second)
    if not centred:
        return None
    if _is_relu(first) and _is_relu(second):
        return relu_kernel()
    if _is_erf(first) and _is_erf(second):
        return erf_kernel()
    return None


def closed_kernel(activation: Activation, *, centred: bool) -> sp.Expr | None:
    r"""Exact :math:`\mathbb E[\sigma(u)\sigma(v)]` in :data:`M1, M2, Q1, Q2, C`, or ``None``.

    ``centred=True`` promises :math:`m_1 = m_2 = 0` (the expression may then omit the means);
    polynomials are exact for any means, ReLU and erf only centred.
    """
    return _closed_kernel_expr(activation.expr, activation.expr, centred)


def closed_cross_kernel(activation: Activation, teacher: sp.Expr, *, centred: bool) -> sp.Expr | None:
    r"""Exact :math:`\mathbb E[\sigma(u)\,\sigma_*(v)]` for a teacher expression in :data:`X`, or ``None``."""
    return _closed_kernel_expr(activation.expr, teacher, centred)


def closed_mean(activation: Activation) -> sp.Expr | None:
    r""":math:`\mathbb E\,\sigma(u)`, :math:`u\sim\mathcal N(m_1, q_1)`, in :data:`M1, Q1`, or ``None``.

    ReLU: :math:`m\Phi(m/\sqrt q) + \sqrt q\,\varphi(m/\sqrt q)`; erf:
    :math:`\operatorname{erf}(m/\sqrt{1+2q})`; polynomials from the MGF.
    """
    expr = activation.expr
    if expr.is_polynomial(X):
        poly = sp.Poly(expr, X)
        table = _moment_table(poly.degree(), 0)
        return sp.expand(sum(a * table[(r, 0)] for (r,), a in poly.terms()))
    z = M1 / sp.sqrt(Q1)
    if _is_relu(expr):
        return M1 * _Phi(z) + sp.sqrt(Q1) * _phi(z)
    if _is_erf(expr):
        return sp.erf(M1 / sp.sqrt(1 + 2 * Q1))
    return None


def relu_second_moment() -> sp.Expr:
    r""":math:`\mathbb E[(u)_+^2] = (m^2+q)\Phi(m/\sqrt q) + m\sqrt q\,\varphi(m/\sqrt q)`, in :data:`M1, Q1`."""
    z = M1 / sp.sqrt(Q1)
    return (M1**2 + Q1) * _Phi(z) + M1 * sp.sqrt(Q1) * _phi(z)


def _Phi(z: sp.Expr) -> sp.Expr:
    return (1 + sp.erf(z / sp.sqrt(2))) / 2


def _phi(z: sp.Expr) -> sp.Expr:
    return sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi)


def _mp_function(expr: sp.Expr) -> Callable:
    return sp.lambdify(X, expr, modules=["mpmath"])


def _kink_points(expr: sp.Expr) -> list[float]:
    from onestep_gm.theory.activations import _kinks_of

    return [float(k) for k in _kinks_of(expr)[0]]


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
    """
    with mp.workdps(dps):
        f, g = _mp_function(first), _mp_function(second)
        m1, m2, q1, q2, c = (mp.mpf(v) for v in (m1, m2, q1, q2, c))
        s1 = mp.sqrt(q1)
        slope = c / s1
        rest = mp.sqrt(max(q2 - c**2 / q1, mp.mpf(0)))
        kinks_f, kinks_g = _kink_points(first), _kink_points(second)

        def inner(z1):
            shift = m2 + slope * z1
            if rest == 0:
                return g(shift)
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
