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
from onestep_gm.theory.activations import (
    MAX_EXACT_DEGREE,
    Activation,
    X,
    _kinks_of,
    as_sympy,
    get_activation,
    polynomial_degree,
    require_finite_moments,
)
from onestep_gm.theory.moments import expectation

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


@functools.lru_cache(maxsize=512)
def get_activation_like(expr: sp.Expr, kinks: tuple[sp.Expr, ...]) -> Activation:
    """The activation of ``expr`` (periodic kink sets recovered from the expression)."""
    found, periodic = _kinks_of(expr)
    return Activation(name=str(expr), expr=expr, kinks=found, periodic=periodic)


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


def _engine(act: Activation, integrand: sp.Expr, t: sp.Expr) -> sp.Expr | None:
    r""":math:`\mathbb E f(x)`, :math:`x\sim N(0,t^2)`, by :func:`theory.moments.expectation`."""
    return expectation(integrand, 0, t, act.kinks, act.kinks_complete)[0]


_MEAN = sp.Symbol("a", real=True)
_PLAIN = sp.Dummy("a")


@functools.lru_cache(maxsize=256)
def _mean_derivatives(act: Activation, t: sp.Expr) -> list:
    """``[M0(a, t), dM0/da, ...]`` grown on demand (``None`` when :math:`M_0` has no closed form)."""
    m0 = expectation(act.expr, _MEAN, t, act.kinks, act.kinks_complete)[0]
    if m0 is None:
        return [None]
    # Differentiating in a symbol without assumptions avoids SymPy's costly assumption queries.
    return [m0.subs(_MEAN, _PLAIN)]


def _poly(expr: sp.Expr) -> list:
    """Coefficients of a polynomial in the mean, lowest degree first (plain SymPy numbers, no ``cancel``)."""
    return [sp.expand(c) for c in reversed(sp.Poly(expr, _PLAIN).all_coeffs())]


def _padd(p: list, q: list) -> list:
    n = max(len(p), len(q))
    return [(p[i] if i < len(p) else 0) + (q[i] if i < len(q) else 0) for i in range(n)]


def _pmul(p: list, q: list) -> list:
    out = [sp.Integer(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for k, c in enumerate(q):
            out[i + k] += a * c
    return [sp.expand(c) for c in out]


def _structured(expr: sp.Expr) -> dict | None:
    """``{atom: coefficients}`` with atoms 1, erf(linear), exp(quadratic), sin/cos(linear) of a."""
    out: dict = {}
    for term in sp.Add.make_args(sp.expand(expr, power_exp=False)):
        coeff, dependent = term.as_independent(_PLAIN, as_Add=False)
        poly, atom = sp.Integer(1), sp.Integer(1)
        for factor in sp.Mul.make_args(dependent):
            if factor.is_polynomial(_PLAIN):
                poly *= factor
            elif isinstance(factor, sp.exp) and isinstance(atom, sp.exp):
                atom = sp.exp(atom.args[0] + factor.args[0])
            elif isinstance(factor, (sp.erf, sp.exp, sp.sin, sp.cos)) and atom == 1:
                atom = factor
            else:
                return None
        if atom != 1:
            degree = 2 if isinstance(atom, sp.exp) else 1
            if not atom.args[0].is_polynomial(_PLAIN) or sp.degree(atom.args[0], _PLAIN) > degree:
                return None
        part = _poly(coeff * poly)
        out[atom] = _padd(out[atom], part) if atom in out else part
    return out


def _differentiate(terms: dict) -> dict:
    r"""Product rule on :func:`_structured` terms (:math:`\mathrm{erf}' = 2e^{-u^2}/\sqrt\pi`)."""
    out: dict = {}

    def add(atom, poly):
        out[atom] = _padd(out[atom], poly) if atom in out else poly

    for atom, poly in terms.items():
        add(atom, [k * c for k, c in enumerate(poly)][1:] or [sp.Integer(0)])
        if atom == 1:
            continue
        u = atom.args[0]
        du = _poly(sp.diff(u, _PLAIN))
        if isinstance(atom, sp.erf):
            add(sp.exp(sp.expand(-(u**2))), _pmul(poly, [c * 2 / sp.sqrt(sp.pi) for c in du]))
        elif isinstance(atom, sp.exp):
            add(atom, _pmul(poly, du))
        elif isinstance(atom, sp.sin):
            add(sp.cos(u), _pmul(poly, du))
        else:
            add(sp.sin(u), _pmul(poly, [-c for c in du]))
    return out


def _at_zero(terms: dict) -> sp.Expr:
    return sp.Add(*(poly[0] * atom.subs(_PLAIN, 0) for atom, poly in terms.items()))


def _engine_hermite(act: Activation, j: int, t: sp.Expr) -> sp.Expr | None:
    r""":math:`h_j(t) = t^j\,\partial_a^j M_0(a, t)|_{a=0}`, :math:`M_0(a,t) = \mathbb E\sigma(a + tz)`.

    Gaussian integration by parts (Stein) :math:`j` times:
    :math:`\mathbb E[\sigma(tz)\mathrm{He}_j(z)] = t^j\,\mathbb E\sigma^{(j)}(tz)`, with the jumps of a
    discontinuous :math:`\sigma` included because the derivative acts on the smooth :math:`M_0`.
    """
    chain = _mean_derivatives(act, t)
    if chain[0] is None:
        return None
    if len(chain) == 1:
        chain.append(_structured(chain[0]))
    if chain[1] is None:
        return t**j * sp.diff(chain[0], _PLAIN, j).subs(_PLAIN, 0)
    while len(chain) <= j + 1:
        chain.append(_differentiate(chain[-1]))
    return t**j * _at_zero(chain[j + 1])


@functools.lru_cache(maxsize=1024)
def _hermite_symbolic(expr: sp.Expr, kinks: tuple[sp.Expr, ...], j: int) -> sp.Expr | None:
    act = get_activation_like(expr, kinks)
    if not act.kinks_complete:
        return None
    rest, erf_terms = _split_erf(expr)
    pieces = _polynomial_pieces(rest, kinks) if rest != 0 else ()
    if pieces is None:
        value = _engine_hermite(act, j, B)
        return None if value is None else _simplify(value)
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
    act = get_activation_like(expr, kinks)
    if not act.kinks_complete:
        return None
    rest, erf_terms = _split_erf(expr)
    if erf_terms and rest == 0 and len(erf_terms) == 1:
        a, c = erf_terms[0]
        return _simplify(a**2 * _erf_second_moment(c * B))
    pieces = None if erf_terms else _polynomial_pieces(rest, kinks)
    if pieces is None:
        value = _engine(act, expr**2, B)
        return None if value is None else _simplify(value)
    return _simplify(sum(_integrate_against_gaussian(p**2, lo, hi) for lo, hi, p in pieces))


def _exact_at(act: Activation, b: sp.Rational, order: int) -> list | None:
    r"""Closed forms of :math:`h_0..h_{L-1}` and :math:`\mathbb E\sigma(bz)^2` at ``b``, or ``None``."""
    if not act.kinks_complete or polynomial_degree(act.expr) > MAX_EXACT_DEGREE:
        return None
    second = _second_moment_symbolic(act.expr, act.kinks)
    if second is None:
        return None
    h = [_engine_hermite(act, j, b) for j in range(order)]
    if any(v is None for v in h):
        symbolic = [_hermite_symbolic(act.expr, act.kinks, j) for j in range(order)]
        if any(v is None for v in symbolic):
            return None
        h = [v.subs(B, b) for v in symbolic]
    return [*h, second.subs(B, b)]


def _evaluate(exprs: list, dps: int) -> list | None:
    """Closed forms as numbers with ``dps`` correct digits, cancellation included.

    Each is evaluated by mpmath at ``p`` and ``2p`` digits (``p`` from ``dps + 20`` up to 1600);
    a value is accepted when the two agree to ``10^-dps`` relative to the largest term's size.
    """
    functions = [sp.lambdify((), e, modules="mpmath") for e in exprs]
    out = []
    for f, e in zip(functions, exprs, strict=True):
        p = dps + 2 * _GUARD_DIGITS
        while True:
            with mpmath.workdps(p):
                low = mpmath.mpf(f())
            with mpmath.workdps(2 * p):
                high = mpmath.mpf(f())
                size = max((abs(mpmath.mpf(sp.N(t, 15))) for t in sp.Add.make_args(e)), default=0)
                # Past 400 digits the value is accepted to dps digits of the largest term:
                # a closed form that cancels to below that is zero to the precision shown.
                floor = size * mpmath.mpf(10) ** (-p // 2 if p < 400 else 0)
                if abs(high - low) <= mpmath.mpf(10) ** (-dps - 5) * max(abs(high), floor):
                    out.append(high)
                    break
            p *= 2
            if p > 1600:
                return None
    return out


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


def _check_resolved(act: Activation, b, h, m2, star_sq, dps: int) -> None:
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
    require_finite_moments(act, b, 2)
    _probe_growth(act, b, float(_tail_cutoff(order, dps)))
    exact = _exact_at(act, b, order)
    if exact is not None:
        *h_exprs, second_b = exact
        star_expr = sp.expand(second_b - sum(e**2 / sp.factorial(j) for j, e in enumerate(h_exprs)))
        values = _evaluate([*h_exprs, second_b, star_expr], dps)
        if values is not None:
            *h, m2, star = values
            with mpmath.workdps(dps + _GUARD_DIGITS):
                h_star = mpmath.sqrt(max(star, 0))
            with mpmath.workdps(dps):
                h, m2, h_star = tuple(+v for v in h), +m2, +h_star
            return HermiteCoefficients(
                act.name, float(b), order, h, m2, h_star, "exact", tuple(h_exprs)
            )
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
    _check_resolved(act, b, h, m2, star_sq, dps)
    with mpmath.workdps(dps):
        h_star = mpmath.sqrt(max(star_sq, 0))
        h = tuple(+v for v in h)
        m2 = +m2
    return HermiteCoefficients(act.name, float(b), order, h, m2, h_star, "numeric", None)
