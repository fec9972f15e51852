r"""Hermite coefficients of an activation at bulk scale :math:`b`.

The Hermite model of the paper (Demir & Dogan, ICLR 2025, Theorem on the
Hermite equivalent; DESIGN.md "Hermite model") replaces :math:`\sigma` by

.. math::

    \hat\sigma_l(u) = \sum_{j<l} \frac{h_j}{j!}\,\mathrm{He}_j(u/b) + h_l^*\, g,
    \qquad h_j = \mathbb{E}_{z\sim N(0,1)}[\sigma(bz)\,\mathrm{He}_j(z)],
    \qquad (h_l^*)^2 = \mathbb{E}[\sigma(bz)^2] - \sum_{j<l} \frac{h_j^2}{j!},

with probabilists' Hermite polynomials :math:`\mathrm{He}_j` (``h_j`` is *not*
divided by :math:`j!`).

Two routes, chosen per activation:

* **exact** (SymPy): piecewise polynomials (relu, leaky_relu, ``Abs``,
  polynomials) are integrated piece by piece between the kinks with the
  truncated Gaussian moments
  :math:`\int_t^\infty z^n\varphi = t^{n-1}\varphi(t) + (n-1)\int_t^\infty z^{n-2}\varphi`;
  ``a*erf(c*x)`` terms use the closed form of :func:`_erf_hermite`.
* **numeric** (mpmath): tanh-sinh quadrature at ``dps`` (default 40) digits on
  :math:`[-Z, Z]` split at the kinks, with every :math:`\mathrm{He}_j` evaluated by
  the three-term recurrence :math:`\mathrm{He}_{j+1}(z) = z\,\mathrm{He}_j(z) - j\,\mathrm{He}_{j-1}(z)`
  so that all coefficients and :math:`\mathbb{E}[\sigma^2]` come out of one pass over
  the nodes.  :math:`Z` is chosen so the Gaussian tail is below
  :math:`10^{-\mathrm{dps}}`; accuracy degrades only for activations that grow like
  :math:`e^{c x^2}` (not supported).

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
import math
import numbers
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp
from mpmath.calculus.quadrature import TanhSinh
from onestep_gm.theory.activations import Activation, X, as_sympy, get_activation

__all__ = [
    "B",
    "HermiteCoefficients",
    "hermite_coefficients",
    "hermite_symbolic",
    "second_moment_symbolic",
]

B = sp.Symbol("b", positive=True)
"""The bulk scale :math:`b` in the symbolic coefficients."""

MAX_ORDER = 40
_Z = sp.Symbol("z", real=True)
_GUARD_DIGITS = 10


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
        """The ``onestep hermite --json`` object (DESIGN.md, CLI contract)."""

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
    return activation if isinstance(activation, Activation) else get_activation(activation)


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


# ---------------------------------------------------------------- exact route


def _gaussian_upper_moment(n: int, t: sp.Expr) -> sp.Expr:
    r""":math:`\int_t^\infty z^n \varphi(z)\,dz` by :math:`G_n = t^{n-1}\varphi(t) + (n-1)G_{n-2}`."""
    if t is sp.oo:
        return sp.Integer(0)
    if t is -sp.oo:
        return sp.Integer(0) if n % 2 else sp.factorial2(n - 1)
    phi = sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)
    g_prev, g = sp.erfc(t / sp.sqrt(2)) / 2, phi  # G_0, G_1
    if n == 0:
        return g_prev
    for k in range(2, n + 1):
        g_prev, g = g, t ** (k - 1) * phi + (k - 1) * g_prev
    return g


def _integrate_against_gaussian(poly: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    r""":math:`\int_{lo}^{hi} p(z)\varphi(z)\,dz` for a polynomial :math:`p` in ``_Z``."""
    total = sp.Integer(0)
    for (n,), coeff in sp.Poly(sp.expand(poly), _Z).terms():
        total += coeff * (_gaussian_upper_moment(n, lo) - _gaussian_upper_moment(n, hi))
    return total


def _piece_at(pw: sp.Expr, point: sp.Expr) -> sp.Expr:
    if not isinstance(pw, sp.Piecewise):
        return pw
    for expr, cond in pw.args:
        if bool(as_sympy(cond).subs(X, point)):
            return expr
    raise ValueError(f"no branch of {pw} holds at x = {point}")  # pragma: no cover


@functools.lru_cache(maxsize=256)
def _polynomial_pieces(
    expr: sp.Expr, kinks: tuple[sp.Expr, ...]
) -> tuple[tuple[sp.Expr, sp.Expr, sp.Expr], ...] | None:
    r"""``((lo, hi, p), ...)``: :math:`\sigma(bz) = p(z)` on :math:`z\in(lo, hi)`, or ``None``."""
    if expr.is_polynomial(X):
        pieces = [(-sp.oo, sp.oo, expr)]
    else:
        pw = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
        branches = pw.args if isinstance(pw, sp.Piecewise) else ((pw, True),)
        if not all(as_sympy(e).is_polynomial(X) for e, _ in branches):
            return None
        edges = [-sp.oo, *sorted(kinks, key=float), sp.oo]
        pieces = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            if lo is -sp.oo:
                point = sp.floor(hi) - 1 if hi is not sp.oo else sp.Integer(0)
            elif hi is sp.oo:
                point = sp.ceiling(lo) + 1
            else:
                point = (lo + hi) / 2
            pieces.append((lo, hi, _piece_at(pw, point)))
    return tuple(
        (
            lo / B if lo.is_finite else lo,
            hi / B if hi.is_finite else hi,
            sp.expand(p.subs(X, B * _Z)),
        )
        for lo, hi, p in pieces
    )


def _erf_hermite(s: sp.Expr, j: int) -> sp.Expr:
    r""":math:`\mathbb{E}[\mathrm{erf}(sz)\mathrm{He}_j(z)]`.

    By Stein's lemma this is :math:`\tfrac{2s}{\sqrt\pi}\mathbb{E}[e^{-s^2z^2}\mathrm{He}_{j-1}(z)]`,
    and with :math:`v = 1/(1+2s^2)`, :math:`\mathbb{E}[e^{-s^2z^2}\mathrm{He}_m(z)] = \sqrt v\,
    \mathbb{E}_{y\sim N(0,v)}\mathrm{He}_m(y) = \sqrt v\,(v-1)^{m/2}(m-1)!!` for even :math:`m`, 0 for odd:

    .. math::

        h_j = \frac{2s}{\sqrt{\pi(1+2s^2)}}\Big(\frac{-2s^2}{1+2s^2}\Big)^{(j-1)/2}(j-2)!!
        \quad (j \text{ odd}),\qquad h_j = 0 \quad (j \text{ even}).
    """
    if j % 2 == 0:
        return sp.Integer(0)
    m = j - 1
    v = 1 / (1 + 2 * s**2)
    return 2 * s / sp.sqrt(sp.pi) * sp.sqrt(v) * (v - 1) ** (m // 2) * sp.factorial2(m - 1)


def _erf_second_moment(s: sp.Expr) -> sp.Expr:
    r""":math:`\mathbb{E}[\mathrm{erf}(sz)^2] = \tfrac{2}{\pi}\arcsin\tfrac{2s^2}{1+2s^2}`."""
    return 2 / sp.pi * sp.asin(2 * s**2 / (1 + 2 * s**2))


@functools.lru_cache(maxsize=256)
def _split_erf(expr: sp.Expr) -> tuple[sp.Expr, tuple[tuple[sp.Expr, sp.Expr], ...]]:
    """``expr = rest + sum a*erf(c*x)``: returns ``(rest, ((a, c), ...))``."""
    rest, terms = sp.Integer(0), []
    for term in sp.Add.make_args(sp.expand(expr)):
        coeff, factor = term.as_independent(X, as_Add=False)
        if isinstance(factor, sp.erf):
            c = sp.simplify(factor.args[0] / X)
            if not c.has(X):
                terms.append((coeff, c))
                continue
        rest += term
    return rest, tuple(terms)


def _simplify(expr: sp.Expr) -> sp.Expr:
    return sp.factor_terms(sp.simplify(expr))


def hermite_symbolic(activation: str | Activation, j: int) -> sp.Expr | None:
    r""":math:`h_j(b) = \mathbb{E}[\sigma(bz)\mathrm{He}_j(z)]` in closed form in :data:`B`, or ``None``.

    Closed forms exist here for piecewise polynomials plus ``a*erf(c*x)`` terms.

    >>> hermite_symbolic("relu", 4)
    -sqrt(2)*b/(2*sqrt(pi))
    >>> hermite_symbolic("tanh", 1) is None
    True
    """
    if isinstance(j, bool) or not isinstance(j, numbers.Integral) or j < 0:
        raise ValueError(f"j must be a non-negative integer, got {j!r}")
    act = _as_activation(activation)
    return _hermite_symbolic(act.expr, act.kinks, int(j))


@functools.lru_cache(maxsize=1024)
def _hermite_symbolic(expr: sp.Expr, kinks: tuple[sp.Expr, ...], j: int) -> sp.Expr | None:
    rest, erf_terms = _split_erf(expr)
    pieces = _polynomial_pieces(rest, kinks) if rest != 0 else ()
    if pieces is None:
        return None
    he = sp.hermite_prob(j, _Z)
    total = sum(
        (_integrate_against_gaussian(p * he, lo, hi) for lo, hi, p in pieces), sp.Integer(0)
    )
    total += sum((a * _erf_hermite(c * B, j) for a, c in erf_terms), sp.Integer(0))
    return _simplify(total)


def second_moment_symbolic(activation: str | Activation) -> sp.Expr | None:
    r""":math:`\mathbb{E}[\sigma(bz)^2]` in closed form in :data:`B`, or ``None``.

    Available for piecewise polynomials and for a single ``a*erf(c*x)``.

    >>> second_moment_symbolic("relu")
    b**2/2
    """
    act = _as_activation(activation)
    return _second_moment_symbolic(act.expr, act.kinks)


@functools.lru_cache(maxsize=256)
def _second_moment_symbolic(expr: sp.Expr, kinks: tuple[sp.Expr, ...]) -> sp.Expr | None:
    rest, erf_terms = _split_erf(expr)
    if erf_terms:
        if rest != 0 or len(erf_terms) != 1:
            return None
        a, c = erf_terms[0]
        return _simplify(a**2 * _erf_second_moment(c * B))
    pieces = _polynomial_pieces(rest, kinks)
    if pieces is None:
        return None
    return _simplify(sum(_integrate_against_gaussian(p**2, lo, hi) for lo, hi, p in pieces))


# ---------------------------------------------------------------- numeric route

_RULE = TanhSinh(mpmath.mp)


def _tail_cutoff(order: int, dps: int) -> mpmath.mpf:
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
            m2 = max(abs(history[-1][-1]), mpmath.mpf(10) ** (-prec // 3))
            scales = [mpmath.sqrt(mpmath.factorial(j) * m2) for j in range(size - 1)] + [m2]
            # mpmath's estimator assumes numbers of size ~1, so feed it scaled ones.
            errors = [
                _RULE.estimate_error([row[i] / scales[i] for row in history], prec, eps)
                for i in range(size)
            ]
            if max(errors) <= eps:
                return history[-1]
    raise ArithmeticError(f"quadrature on [{a}, {b}] did not converge")  # pragma: no cover


def _probe_growth(activation: Activation, b: sp.Rational, cutoff: float) -> None:
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


def _numeric(activation: Activation, b: sp.Rational, order: int, dps: int):
    sigma = sp.lambdify(X, activation.expr, "mpmath")
    with mpmath.workdps(dps + _GUARD_DIGITS):
        prec = mpmath.mp.prec
        eps = mpmath.mpf(10) ** (-dps - 5)
        bm = mpmath.mpf(b.p) / b.q
        inv_sqrt_2pi = 1 / mpmath.sqrt(2 * mpmath.pi)

        def values(z):
            u = sigma(bm * z)
            if isinstance(u, mpmath.mpc):
                if u.imag != 0:
                    raise ValueError(
                        f"{activation.name} is not real at x = {mpmath.nstr(bm * z, 6)}"
                    )
                u = u.real
            s = u * mpmath.exp(-z * z / 2) * inv_sqrt_2pi
            out, he_prev, he = [], mpmath.mpf(0), mpmath.mpf(1)
            for k in range(order):
                out.append(s * he)
                he_prev, he = he, z * he - k * he_prev
            out.append(s * u)
            return out

        cutoff = _tail_cutoff(order, dps)
        kinks = sorted(mpmath.mpf(sp.N(k / b, dps + _GUARD_DIGITS)) for k in activation.kinks)
        grid = {mpmath.mpf(0), *kinks}
        # The tail must be negligible even where sigma grows (e.g. exp(x)): widen until it is.
        while True:
            points = sorted(p for p in grid | {cutoff, -cutoff} if -cutoff <= p <= cutoff)
            total = [mpmath.mpf(0)] * (order + 1)
            for lo, hi in zip(points[:-1], points[1:], strict=True):
                part = _vector_tanh_sinh(values, lo, hi, order + 1, prec, eps)
                total = [t + p for t, p in zip(total, part, strict=True)]
            m2 = total[-1]
            edge = max(abs(values(cutoff)[-1]), abs(values(-cutoff)[-1])) * cutoff
            if edge <= eps * max(m2, eps):
                break
            cutoff *= 2
            if cutoff > 1e4:
                raise ArithmeticError(f"E[σ(bz)^2] does not converge for {activation.name}")
        return tuple(+v for v in total[:-1]), +m2


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

    Results are cached.
    """
    act = _as_activation(activation)
    b_exact = _as_rational(b)
    order = _check_order(order)
    if isinstance(dps, bool) or not isinstance(dps, numbers.Integral) or not 15 <= dps <= 200:
        raise ValueError(f"dps must be an integer in [15, 200], got {dps!r}")
    return _hermite_coefficients(act, b_exact, order, int(dps))


@functools.lru_cache(maxsize=512)
def _hermite_coefficients(
    act: Activation, b: sp.Rational, order: int, dps: int
) -> HermiteCoefficients:
    _probe_growth(act, b, float(_tail_cutoff(order, dps)))
    second = _second_moment_symbolic(act.expr, act.kinks)
    symbolic = (
        [_hermite_symbolic(act.expr, act.kinks, j) for j in range(order)]
        if second is not None
        else []
    )
    if second is not None and all(e is not None for e in symbolic):
        exact = tuple(e.subs(B, b) for e in symbolic)
        second_b = second.subs(B, b)
        star_sq = sp.expand(second_b - sum(e**2 / sp.factorial(j) for j, e in enumerate(exact)))
        with mpmath.workdps(dps):
            h = tuple(mpmath.mpf(sp.N(e, dps + _GUARD_DIGITS)) for e in exact)
            m2 = mpmath.mpf(sp.N(second_b, dps + _GUARD_DIGITS))
            star = mpmath.mpf(sp.N(star_sq, dps + _GUARD_DIGITS))
            h_star = mpmath.sqrt(max(star, 0))
        return HermiteCoefficients(act.name, float(b), order, h, m2, h_star, "exact", exact)
    h, m2 = _numeric(act, b, order, dps)
    with mpmath.workdps(dps + _GUARD_DIGITS):
        star_sq = m2 - mpmath.fsum(v**2 / mpmath.factorial(j) for j, v in enumerate(h))
        if star_sq < -(mpmath.mpf(10) ** (-dps + 5)) * max(m2, 1):
            raise ArithmeticError(
                f"negative h_star^2 = {star_sq} for {act.name}"
            )  # pragma: no cover
        # |h_j| <= sqrt(j! E[σ²]); anything dps digits below that bound is quadrature noise.
        h = tuple(
            mpmath.mpf(0)
            if abs(v) < mpmath.mpf(10) ** (-dps) * mpmath.sqrt(mpmath.factorial(j) * m2)
            else v
            for j, v in enumerate(h)
        )
    with mpmath.workdps(dps):
        h_star = mpmath.sqrt(max(star_sq, 0))
        h = tuple(+v for v in h)
        m2 = +m2
    return HermiteCoefficients(act.name, float(b), order, h, m2, h_star, "numeric", None)
