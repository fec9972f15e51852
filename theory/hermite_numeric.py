r"""The numeric route of the Hermite coefficients: mpmath tanh-sinh quadrature at ``dps`` digits.

:math:`h_j = \mathbb E[\sigma(bz)\mathrm{He}_j(z)]` and :math:`\mathbb E\sigma(bz)^2` for activations
without a closed form (:mod:`theory.hermite_exact`), on :math:`[-Z, Z]` split at the kinks,
with every :math:`\mathrm{He}_j` from the normalised three-term recurrence
(:func:`hermite_step`, the package's one copy, which :mod:`onestep_gm.numerics.quadrature`
uses in JAX) so that all coefficients and :math:`\mathbb E\sigma^2` come out of one pass over the
nodes.  :math:`Z` is chosen so the Gaussian tail is below :math:`10^{-\mathrm{dps}}`; accuracy
degrades only for activations that grow like :math:`e^{c x^2}` (refused by
:func:`theory.activations.moment_divergence`).

References: Takahasi & Mori (1974), the tanh-sinh rule, as implemented by mpmath;
Abramowitz & Stegun 22.7.14 for the recurrence :math:`\mathrm{He}_{j+1} = z\,\mathrm{He}_j - j\,\mathrm{He}_{j-1}`.

Examples
--------
>>> p2 = hermite_step(2.0, 1.0, 2.0, 1)  # He_2(2)/sqrt(2!) = (4 - 1)/sqrt(2)
>>> round(p2 * math.sqrt(2), 12)
3.0
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import sympy as sp
from mpmath.calculus.quadrature import TanhSinh
from onestep_gm.theory.activations import Activation, X
from onestep_gm.theory.hermite_exact import GUARD_DIGITS

__all__ = ["check_resolved", "hermite_step", "numeric_values", "probe_growth", "tail_cutoff"]

_RULE = TanhSinh(mpmath.mp)


def hermite_step(t, prev, cur, j, sqrt=math.sqrt):
    r""":math:`p_{j+1} = (t\,p_j - \sqrt j\,p_{j-1})/\sqrt{j+1}`, :math:`p_j = \mathrm{He}_j(t)/\sqrt{j!}`.

    The normalised probabilists' recurrence (:math:`p_0 = 1`, :math:`p_1 = t`): no factorial is
    formed, so high orders neither overflow nor cancel.  Works on any numbers with ``*``, ``-``
    and ``/`` (floats, mpmath, NumPy or JAX arrays); ``sqrt`` must suit the type of ``j``.
    """
    return (t * cur - sqrt(j) * prev) / sqrt(j + 1)


def tail_cutoff(order: int, dps: int) -> mpmath.mpf:
    r"""Smallest :math:`Z` (step 1/2) with :math:`Z^{L+2} e^{-Z^2/2} < 10^{-\mathrm{dps}}`."""
    z = 4.0
    target = -(dps + 5) * math.log(10)
    while (order + 2) * math.log(z) - z * z / 2 > target:
        z += 0.5
    return mpmath.mpf(z)


def _vector_tanh_sinh(values, a, b, size: int, prec: int, eps):
    r"""Tanh-sinh of the vector-valued ``values(x)`` on ``[a, b]`` (mpmath's rule, one pass).

    The components are :math:`h_0..h_{L-1}` and :math:`\mathbb{E}[\sigma^2]` (last); it stops
    when mpmath's error estimate of each :math:`h_j` is below ``eps`` relative to its
    Cauchy-Schwarz bound :math:`\sqrt{j!\,\mathbb{E}[\sigma^2]}`.
    """
    raw = [mpmath.mpf(0)] * size
    history: list[list] = []
    for degree in range(1, 13):
        for x, w in _RULE.get_nodes(a, b, degree, prec):
            for i, v in enumerate(values(x)):
                raw[i] += w * v
        h = mpmath.ldexp(1, -degree)
        history.append([h * r for r in raw])
        if degree > 1:
            # Scale-free: the error of h_j is judged against sqrt(j! E[σ²]) itself, never an
            # absolute floor (which stopped too early for tiny b).
            m2 = abs(history[-1][-1]) or mpmath.mpf(1)
            scales = [mpmath.sqrt(mpmath.factorial(j) * m2) for j in range(size - 1)] + [m2]
            # mpmath's estimator assumes numbers of size ~1, so feed it scaled ones.
            errors = [
                _RULE.estimate_error([row[i] / scales[i] for row in history], prec, eps)
                for i in range(size)
            ]
            if max(errors) <= eps:
                return history[-1]
    raise ArithmeticError(f"quadrature on [{a}, {b}] did not converge")  # pragma: no cover


def probe_growth(activation: Activation, b: sp.Rational, cutoff: float) -> None:
    """Refuse, in double precision, activations that overflow on the quadrature range.

    SymPy and mpmath would otherwise try to evaluate numbers like ``exp(exp(exp(10)))``.
    """
    fast = sp.lambdify(X, activation.expr, "math")
    for z in np.linspace(-cutoff, cutoff, 41):
        try:
            value = fast(float(b) * float(z))
        except OverflowError:
            value = math.inf
        except (ValueError, TypeError, NameError, ZeroDivisionError):
            continue  # domain errors are reported by the mpmath pass
        if isinstance(value, (int, float)) and not abs(value) < 1e150:
            raise ValueError(
                f"{activation.name} grows too fast: |σ({float(b) * float(z):.3g})| is about {value:.3g}"
            )

def _integrand(activation: Activation, bm, order: int):
    r"""``values(z)``: :math:`\varphi(z)\sigma(bz)\,[\mathrm{He}_0(z), \dots, \mathrm{He}_{L-1}(z), \sigma(bz)]`."""
    sigma = sp.lambdify(X, activation.expr, "mpmath")
    inv_sqrt_2pi = 1 / mpmath.sqrt(2 * mpmath.pi)
    scale = [mpmath.sqrt(mpmath.factorial(k)) for k in range(order)]

    def values(z):
        u = sigma(bm * z)
        if isinstance(u, mpmath.mpc):
            if u.imag != 0:
                raise ValueError(f"{activation.name} is not real at x = {mpmath.nstr(bm * z, 6)}")
            u = u.real
        s = u * mpmath.exp(-z * z / 2) * inv_sqrt_2pi
        out, prev, cur = [], mpmath.mpf(0), mpmath.mpf(1)
        for k in range(order):
            out.append(s * cur * scale[k])
            prev, cur = cur, hermite_step(z, prev, cur, k, mpmath.sqrt)
        out.append(s * u)
        return out

    return values


def numeric_values(activation: Activation, b: sp.Rational, order: int, dps: int):
    r"""``(h, m2)``: :math:`h_0..h_{L-1}` and :math:`\mathbb E\sigma(bz)^2` by tanh-sinh at ``dps`` digits.

    The range :math:`[-Z, Z]` (:func:`tail_cutoff`) doubles until the tail is negligible even
    where :math:`\sigma` grows (``exp(x)``).
    """
    with mpmath.workdps(dps + GUARD_DIGITS):
        prec, eps = mpmath.mp.prec, mpmath.mpf(10) ** (-dps - 5)
        values = _integrand(activation, mpmath.mpf(b.p) / b.q, order)
        cutoff = tail_cutoff(order, dps)
        kinks = sorted(mpmath.mpf(sp.N(k / b, dps + GUARD_DIGITS)) for k in activation.kinks)
        grid = {mpmath.mpf(0), *kinks}
        while True:
            points = sorted(p for p in grid | {cutoff, -cutoff} if -cutoff <= p <= cutoff)
            total = [mpmath.mpf(0)] * (order + 1)
            for lo, hi in zip(points[:-1], points[1:], strict=True):
                part = _vector_tanh_sinh(values, lo, hi, order + 1, prec, eps)
                total = [t + p for t, p in zip(total, part, strict=True)]
            edge = max(abs(values(cutoff)[-1]), abs(values(-cutoff)[-1])) * cutoff
            if edge <= eps * max(total[-1], eps):
                return tuple(+v for v in total[:-1]), +total[-1]
            cutoff *= 2
            if cutoff > 1e4:
                raise ArithmeticError(f"E[σ(bz)^2] does not converge for {activation.name}")


def check_resolved(act: Activation, b, h, m2, star_sq, dps: int) -> None:
    r"""Refuse results the quadrature cannot resolve (tiny :math:`b`), instead of printing them.

    The quadrature's error on :math:`h_j` is about :math:`10^{-\mathrm{dps}}\sqrt{j!\,\mathbb E\sigma^2}`.
    For small :math:`b`, :math:`h_j \sim b^j` falls below it for odd/even :math:`j` that are not zero
    by symmetry, and :math:`(h_L^*)^2` cancels to below :math:`10^{-\mathrm{dps}/2}\,\mathbb E\sigma^2`:
    then the digits shown would be wrong, so the request is refused.
    """
    odd, even = _zero_by_symmetry(act.expr)
    floor = mpmath.mpf(10) ** (-dps + 5)
    for j, v in enumerate(h):
        degree = odd if j % 2 else even
        if degree is not None and j > degree:
            continue
        if abs(v) < floor * mpmath.sqrt(mpmath.factorial(j) * m2):
            raise ArithmeticError(
                f"b = {float(b):g} is too small for the numeric route: h_{j} of {act.name} is below "
                f"the quadrature's resolution ({dps} digits); use a larger b"
            )
    if 0 <= star_sq < mpmath.mpf(10) ** (-dps // 2) * m2:
        raise ArithmeticError(
            f"b = {float(b):g} is too small for the numeric route: h_star² of {act.name} cancels "
            f"below {dps // 2} digits; use a larger b"
        )


@functools.lru_cache(maxsize=256)
def _zero_by_symmetry(expr: sp.Expr) -> tuple[int | None, int | None]:
    r"""``(d_odd, d_even)``: the odd (even) part of :math:`\sigma` is a polynomial of that degree, else ``None``.

    Then every odd (even) :math:`h_j` with :math:`j >` that degree is exactly zero
    (``tanh``: odd part tanh, even part 0; ``softplus``: odd part x/2).
    """
    mirrored = expr.subs(X, -X)
    out = []
    for part in ((expr - mirrored) / 2, (expr + mirrored) / 2):
        try:
            simple = sp.simplify(sp.expand(part.rewrite(sp.exp)))
        except (TypeError, ValueError, NotImplementedError):  # pragma: no cover
            out.append(None)
            continue
        out.append(int(sp.degree(simple, X)) if simple.is_polynomial(X) and simple != 0 else (-1 if simple == 0 else None))
    return out[0], out[1]
