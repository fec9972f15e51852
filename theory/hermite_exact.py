r"""Closed forms of the Hermite coefficients :math:`h_j(b)` and of :math:`\mathbb E\sigma(bz)^2`.

The exact route of :func:`theory.hermite.hermite_coefficients` (Demir & Dogan, ICLR 2025, the
Hermite equivalence theorem): with :math:`x = bz \sim N(0, b^2)`,

.. math::

    h_j(b) = \mathbb E[\sigma(x)\,\mathrm{He}_j(x/b)] = b^j\,\partial_a^j M_0(a, b)\big|_{a=0},
    \qquad M_0(a, b) = \mathbb E\,\sigma(a + bz),

by Gaussian integration by parts :math:`j` times (Stein's lemma; the jumps of a discontinuous
:math:`\sigma` are included because the derivative acts on the smooth :math:`M_0`).  Every
expectation comes from the one engine, :func:`theory.gaussian.expectation` (truncated
moments between kinks, completing the square, erf smoothing, the arcsine law); the
derivatives are taken on a structured form (:func:`_structured`) that SymPy differentiates
without assumption queries.  :func:`evaluate_closed` turns the closed forms into numbers with
a guaranteed number of digits, cancellation included.

Examples
--------
>>> hermite_symbolic("relu", 4)
-sqrt(2)*b/(2*sqrt(pi))
>>> second_moment_symbolic("erf")
2*asin(2*b**2/(2*b**2 + 1))/pi
"""

from __future__ import annotations

import functools
import numbers

import mpmath
import sympy as sp
from onestep_gm.theory.activations import (
    MAX_EXACT_DEGREE,
    Activation,
    X,
    get_activation,
    polynomial_degree,
    require_symbolic,
)
from onestep_gm.theory.gaussian import expectation

__all__ = ["B", "GUARD_DIGITS", "evaluate_closed", "exact_values", "hermite_symbolic", "second_moment_symbolic"]

B = sp.Symbol("b", positive=True)
"""The bulk scale :math:`b` in the symbolic coefficients."""
GUARD_DIGITS = 10
"""Digits carried beyond the requested ``dps`` by both routes."""

_MEAN = sp.Symbol("a", real=True)
_PLAIN = sp.Dummy("a")


def _simplify(expr: sp.Expr) -> sp.Expr:
    return sp.factor_terms(sp.simplify(expr))


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
def _symbolic(act: Activation, j: int) -> sp.Expr | None:
    if not act.kinks_complete:
        return None
    value = _engine_hermite(act, j, B)
    if value is None:
        integrand = act.expr * sp.hermite_prob(j, X / B)
        value = expectation(integrand, 0, B, act.kinks)[0]
    return None if value is None else _simplify(value)


def hermite_symbolic(activation: str | Activation, j: int) -> sp.Expr | None:
    r""":math:`h_j(b) = \mathbb{E}[\sigma(bz)\mathrm{He}_j(z)]` in closed form in :data:`B`, or ``None``.

    >>> hermite_symbolic("tanh", 1) is None
    True
    """
    if isinstance(j, bool) or not isinstance(j, numbers.Integral) or j < 0:
        raise ValueError(f"j must be a non-negative integer, got {j!r}")
    return _symbolic(require_symbolic(get_activation(activation), "a closed-form h_j"), int(j))


@functools.lru_cache(maxsize=256)
def _second_moment(act: Activation) -> sp.Expr | None:
    value = expectation(act.expr**2, 0, B, act.kinks, act.kinks_complete)[0]
    return None if value is None else _simplify(value)


def second_moment_symbolic(activation: str | Activation) -> sp.Expr | None:
    r""":math:`\mathbb{E}[\sigma(bz)^2]` in closed form in :data:`B`, or ``None``.

    >>> second_moment_symbolic("relu")
    b**2/2
    """
    return _second_moment(require_symbolic(get_activation(activation), "a closed-form E[σ(bz)²]"))


def exact_values(act: Activation, b: sp.Rational, order: int) -> list | None:
    r"""Closed forms of :math:`h_0..h_{L-1}` and :math:`\mathbb E\sigma(bz)^2` at ``b``, or ``None``."""
    if not act.kinks_complete or polynomial_degree(act.expr) > MAX_EXACT_DEGREE:
        return None
    second = _second_moment(act)
    if second is None:
        return None
    h = [_engine_hermite(act, j, b) for j in range(order)]
    if any(v is None for v in h):
        symbolic = [_symbolic(act, j) for j in range(order)]
        if any(v is None for v in symbolic):
            return None
        h = [v.subs(B, b) for v in symbolic]
    return [*h, second.subs(B, b)]


def evaluate_closed(exprs: list, dps: int) -> list | None:
    """Closed forms as numbers with ``dps`` correct digits, cancellation included.

    Each is evaluated by mpmath at ``p`` and ``2p`` digits (``p`` from ``dps + 20`` up to 1600);
    a value is accepted when the two agree to ``10^-dps`` relative to the largest term's size.
    """
    functions = [sp.lambdify((), e, modules="mpmath") for e in exprs]
    out = []
    for f, e in zip(functions, exprs, strict=True):
        p = dps + 2 * GUARD_DIGITS
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
