r"""Conditional moments of :math:`\sigma(a + s g)`, :math:`g \sim \mathcal N(0, 1)`.

The conditional Gaussian model (Demir & Dogan, ICLR 2025, the conditional Gaussian equivalence theorem) replaces
each feature :math:`\sigma(a_i + s_i g)` by its first two conditional moments

.. math::

    M_0(a, s) = \mathbb E\,\sigma(a + s g), \qquad
    M_1(a, s) = \partial_a M_0(a, s) = \tfrac{1}{s}\,\mathbb E\,[g\,\sigma(a + s g)], \qquad
    M_2(a, s) = \mathbb E\,\sigma(a + s g)^2 .

:math:`M_1` is defined through Stein's lemma; it equals
:math:`\mathbb E\,\sigma'(a + s g)` whenever :math:`\sigma` is continuous, and it
keeps the jump terms (:math:`\varphi(\cdot)/s` per unit jump) when it is not.

Closed forms are derived, never typed in, and the route is chosen by the
structure of :math:`\sigma` (no speculative ``sympy.integrate``, which can hang):

* piecewise polynomials (polynomials, ``linear``, ``relu``, ``leaky_relu``,
  ``Abs``, ``Max``/``Min``/``Heaviside`` combinations): on each interval between
  kinks :math:`\sigma` is a polynomial :math:`p`, and
  :math:`\mathbb E[p(a+sg)\,\mathbf 1\{\alpha < g < \beta\}]` is a combination of
  truncated Gaussian moments :math:`I_n(\alpha,\beta) = \int_\alpha^\beta z^n \varphi(z)\,dz`,
  :math:`I_n = \alpha^{n-1}\varphi(\alpha) - \beta^{n-1}\varphi(\beta) + (n-1) I_{n-2}`;
* sums of :math:`x^n \cdot f(ux+v)` with :math:`f \in \{1, \mathrm{erf}, \exp\}`:
  Gaussian smoothing :math:`\mathbb E\,\mathrm{erf}(u(a+sg)+v) = \mathrm{erf}((ua+v)/\sqrt{1+2u^2s^2})`,
  :math:`\mathbb E\,e^{u(a+sg)+v} = e^{ua+v+u^2s^2/2}`, and the Stein recursion
  :math:`\mathbb E[x\,f(x)] = (a + s^2\partial_a)\,\mathbb E f(x)` for the powers of :math:`x = a+sg`;
* anything else (``tanh``, ``sigmoid``, ``softplus``, ``silu``, :math:`M_2` of ``erf``
  and ``gelu``) has no closed form here: :func:`moments_mpmath` and
  :func:`theory.codegen.jax_moments` integrate it numerically.

References: Demir & Dogan (ICLR 2025, arXiv 2503.00856), conditional Gaussian
equivalence; the docs' model page lists :math:`M_0, M_1, M_2` of ReLU and erf.

Examples
--------
>>> m = conditional_moments("relu")
>>> m.method
'exact'
>>> sp.simplify(m.M1 - (1 + sp.erf(A / (sp.sqrt(2) * S))) / 2)
0
>>> conditional_moments("erf").M0
erf(a/sqrt(2*s**2 + 1))
>>> conditional_moments("tanh").method
'quadrature'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import mpmath as mp
import sympy as sp
from onestep_gm.theory.activations import (
    MAX_EXACT_DEGREE,
    Activation,
    X,
    as_sympy,
    get_activation,
    polynomial_degree,
    require_finite_moments,
)

__all__ = [
    "A",
    "S",
    "ConditionalMoments",
    "conditional_moments",
    "gaussian_expectation",
    "moments_mpmath",
    "normal_cdf",
    "normal_notation",
    "normal_pdf",
]

A = sp.Symbol("a", real=True)
"""Conditional mean :math:`a` of the pre-activation."""
S = sp.Symbol("s", positive=True)
"""Conditional standard deviation :math:`s > 0` of the pre-activation."""

_MOMENTS = ("M0", "M1", "M2")


def normal_cdf(u: sp.Expr) -> sp.Expr:
    r""":math:`\Phi(u) = \tfrac12\,(1 + \mathrm{erf}(u/\sqrt 2))`, with :math:`\Phi(\pm\infty)` exact."""
    if u is sp.oo:
        return sp.Integer(1)
    if u is -sp.oo:
        return sp.Integer(0)
    return (1 + sp.erf(u / sp.sqrt(2))) / 2


def normal_pdf(u: sp.Expr) -> sp.Expr:
    r""":math:`\varphi(u) = e^{-u^2/2}/\sqrt{2\pi}`, zero at :math:`\pm\infty`."""
    if u in (sp.oo, -sp.oo):
        return sp.Integer(0)
    return sp.exp(-(u**2) / 2) / sp.sqrt(2 * sp.pi)


@dataclass(frozen=True)
class ConditionalMoments:
    r"""Closed forms of :math:`M_0, M_1, M_2` in :data:`A`, :data:`S` (``None`` where none is known).

    ``method`` is ``"exact"`` when all three are closed, else ``"quadrature"``
    (the missing ones are integrated numerically by the consumers).
    """

    activation: str
    M0: sp.Expr | None
    M1: sp.Expr | None
    M2: sp.Expr | None
    method: str
    how: tuple[str, ...] = ()
    """Keys of :data:`IDENTITIES`: how the closed forms were obtained."""

    @property
    def exact(self) -> dict[str, bool]:
        return {name: getattr(self, name) is not None for name in _MOMENTS}

    def to_json(self) -> dict:
        """``{"activation","method","M0","M1","M2","exact"}``; formulas as SymPy strings or ``None``."""
        out: dict = {"activation": self.activation, "method": self.method}
        for name in _MOMENTS:
            expr = getattr(self, name)
            out[name] = None if expr is None else str(expr)
        out["exact"] = self.exact
        return out


def _truncated_moments(alpha: sp.Expr, beta: sp.Expr, order: int) -> list[sp.Expr]:
    r""":math:`I_n = \int_\alpha^\beta z^n\varphi(z)\,dz` for :math:`n \le` ``order`` by the recurrence

    :math:`I_0 = \Phi(\beta) - \Phi(\alpha)`, :math:`I_1 = \varphi(\alpha) - \varphi(\beta)`,
    :math:`I_n = \alpha^{n-1}\varphi(\alpha) - \beta^{n-1}\varphi(\beta) + (n-1)\,I_{n-2}`
    (integration by parts; boundary terms vanish at :math:`\pm\infty`).
    """

    def boundary(z: sp.Expr, power: int) -> sp.Expr:
        return sp.Integer(0) if z in (sp.oo, -sp.oo) else z**power * normal_pdf(z)

    moments = [normal_cdf(beta) - normal_cdf(alpha), normal_pdf(alpha) - normal_pdf(beta)]
    for n in range(2, order + 1):
        moments.append(boundary(alpha, n - 1) - boundary(beta, n - 1) + (n - 1) * moments[n - 2])
    return moments[: order + 1]


def _polynomial_expectation(p: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    r""":math:`\mathbb E[p(a+sg)\,\mathbf 1\{lo < a+sg < hi\}]` for a polynomial :math:`p` in :data:`X`."""
    z = sp.Dummy("z")
    poly = sp.Poly(sp.expand(p.subs(X, A + S * z)), z)
    degree = poly.degree()
    if degree < 0:
        return sp.Integer(0)
    alpha = lo if lo is -sp.oo else (lo - A) / S
    beta = hi if hi is sp.oo else (hi - A) / S
    moments = _truncated_moments(alpha, beta, degree)
    return sum((c * moments[n] for (n,), c in poly.terms()), sp.Integer(0))


def _branch_at(expr: sp.Expr, t: sp.Expr) -> sp.Expr:
    """The smooth branch of ``expr`` that is active at ``x = t`` (not at a kink)."""

    def positive(u: sp.Expr) -> bool:
        return bool(u.subs(X, t) > 0)

    def pick(node: sp.Expr) -> sp.Expr:
        if isinstance(node, (sp.Max, sp.Min)):
            values = [arg.subs(X, t) for arg in node.args]
            best = max if isinstance(node, sp.Max) else min
            return node.args[values.index(best(values))]
        if isinstance(node, sp.Abs):
            return node.args[0] if positive(node.args[0]) else -node.args[0]
        if isinstance(node, sp.Heaviside):
            return sp.Integer(1) if positive(node.args[0]) else sp.Integer(0)
        if isinstance(node, sp.sign):
            return sp.Integer(1) if positive(node.args[0]) else sp.Integer(-1)
        if isinstance(node, sp.Piecewise):
            for branch, cond in node.args:
                if bool(as_sympy(cond).subs(X, t)):
                    return branch
        return node

    kinds = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign, sp.Piecewise)
    previous = None
    while previous != expr:
        previous = expr
        expr = expr.replace(lambda n: isinstance(n, kinds), pick)
    return expr


def _inside(lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """A point strictly inside the interval ``(lo, hi)`` between two kinks (either may be infinite)."""
    if lo is -sp.oo and hi is sp.oo:
        return sp.Integer(0)
    if lo is -sp.oo:
        return hi - 1
    if hi is sp.oo:
        return lo + 1
    return (lo + hi) / 2


def _pieces(activation: Activation) -> list[tuple[sp.Expr, sp.Expr, sp.Expr]] | None:
    """``[(lo, hi, polynomial)]`` covering the real line, or ``None`` if a piece is not polynomial."""
    edges = [-sp.oo, *activation.kinks, sp.oo]
    pieces = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        branch = _branch_at(activation.expr, _inside(lo, hi))
        if not branch.is_polynomial(X):
            return None
        pieces.append((lo, hi, sp.expand(branch)))
    return pieces


def _piecewise_expectation(pieces, power: int) -> sp.Expr:
    return sum((_polynomial_expectation(p**power, lo, hi) for lo, hi, p in pieces), sp.Integer(0))


def _linear_in_x(u: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    if not u.has(X) or not u.is_polynomial(X) or sp.degree(u, X) != 1:
        return None
    poly = sp.Poly(u, X)
    return poly.coeff_monomial(X), poly.coeff_monomial(1)


def _smoothed_atom(atom: sp.Expr) -> sp.Expr | None:
    r""":math:`\mathbb E f(a+sg)` for one factor :math:`f` that is ``erf`` or ``exp`` of a linear function."""
    if atom == 1:
        return sp.Integer(1)
    if isinstance(atom, (sp.erf, sp.exp)) and (lin := _linear_in_x(atom.args[0])) is not None:
        u, v = lin
        if isinstance(atom, sp.erf):
            return sp.erf((u * A + v) / sp.sqrt(1 + 2 * u**2 * S**2))
        return sp.exp(u * A + v + u**2 * S**2 / 2)
    return None


def _term_expectation(term: sp.Expr) -> sp.Expr | None:
    r""":math:`\mathbb E[c\,x^n f(x)]` with the Stein recursion :math:`\mathbb E[x\,h(x)] = (a + s^2\partial_a)\mathbb E h(x)`."""
    coeff, dependent = term.as_independent(X, as_Add=False)
    power, atoms = 0, []
    for factor in sp.Mul.make_args(dependent):
        base, exponent = factor.as_base_exp()
        if base == X and exponent.is_Integer and exponent >= 0:
            power += int(exponent)
        elif factor != 1:
            atoms.append(factor)
    if len(atoms) > 1:
        return None
    smoothed = _smoothed_atom(atoms[0] if atoms else sp.Integer(1))
    if smoothed is None:
        return None
    for _ in range(power):
        smoothed = A * smoothed + S**2 * sp.diff(smoothed, A)
    return coeff * smoothed


def gaussian_expectation(expr: sp.Expr) -> sp.Expr | None:
    r"""Closed form of :math:`\mathbb E\,f(a + s g)` for a smooth :math:`f` built from
    :math:`x^n`, :math:`\mathrm{erf}` and :math:`\exp` of linear functions, else ``None``.

    >>> gaussian_expectation(sp.exp(X))
    exp(a + s**2/2)
    >>> gaussian_expectation(sp.tanh(X)) is None
    True
    """
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(expr, power_exp=False)):
        value = _term_expectation(term)
        if value is None:
            return None
        total += value
    return total


def _tidy(expr: sp.Expr) -> sp.Expr:
    """Expanded, collected on the erf/exp atoms; coefficients and atom arguments factored."""
    expanded = sp.expand(expr, power_exp=False)
    atoms = sorted(expanded.atoms(sp.erf, sp.exp), key=sp.default_sort_key)
    collected = sp.collect(expanded, atoms, sp.factor) if atoms else sp.factor(expanded)
    return collected.replace(
        lambda e: isinstance(e, (sp.erf, sp.exp)), lambda e: e.func(sp.factor(e.args[0]))
    )


def _derive_legacy(activation: Activation):
    if activation.kinks or activation.is_polynomial:
        pieces = _pieces(activation)
        if pieces is None:
            return None, None, None
        m0 = _piecewise_expectation(pieces, 1)
        return m0, sp.diff(m0, A), _piecewise_expectation(pieces, 2)
    m0 = gaussian_expectation(activation.expr)
    m1 = sp.diff(m0, A) if m0 is not None else gaussian_expectation(activation.derivative)
    m2 = gaussian_expectation(activation.expr**2)
    return m0, m1, m2


def _derive(activation: Activation):
    """``(M0, M1, M2, identities)``; the truncated-moment and smoothing routes first, then the engine."""
    if not activation.kinks_complete:
        return None, None, None, ()
    m0, m1, m2 = _derive_legacy(activation)
    how: set = set()
    if activation.kinks and m0 is not None:
        how.add("kinks")
    if m0 is None:
        m0, tags = expectation(activation.expr, A, S, activation.kinks)
        how |= set(tags)
        m1 = None if m0 is None else sp.diff(m0, A)
    if m2 is None:
        m2, tags = expectation(activation.expr**2, A, S, activation.kinks)
        how |= set(tags)
    if m0 is not None and not how:
        expr = activation.expr
        how |= {key for key, present in (
            ("erf", expr.has(sp.erf)), ("square", expr.has(sp.exp)),
            ("stein", not activation.is_polynomial and expr.has(X * X) or activation.is_polynomial),
        ) if present} or {"stein"}
    return m0, m1, m2, tuple(sorted(how))


@functools.lru_cache(maxsize=128)
def _conditional_moments(activation: Activation) -> ConditionalMoments:
    if polynomial_degree(activation.expr) > MAX_EXACT_DEGREE:
        return ConditionalMoments(activation.name, None, None, None, method="quadrature")
    *derived, how = _derive(activation)
    exprs = [None if e is None else _tidy(e) for e in derived]
    method = "exact" if all(e is not None for e in exprs) else "quadrature"
    return ConditionalMoments(activation.name, *exprs, method=method, how=how)


def conditional_moments(activation: str | Activation) -> ConditionalMoments:
    r"""Closed forms of :math:`M_0, M_1, M_2` for an activation (name, expression or object).

    Cached per activation.  Raises :class:`theory.activations.ActivationError`
    (a ``ValueError``) for an unknown activation.

    >>> conditional_moments("x**2").M2
    a**4 + 6*a**2*s**2 + 3*s**4

    Raises
    ------
    ActivationError
        When :math:`M_2` is infinite for every :math:`s` (a pole such as ``1/x``): see
        :func:`theory.activations.moment_divergence`.
    """
    act = get_activation(activation)
    require_finite_moments(act, None, 2)
    return _conditional_moments(act)


_PHI = sp.Function("Phi")
_PDF = sp.Function("phi")


def _normal_argument(w: sp.Expr) -> sp.Expr | None:
    r"""``u`` with :math:`u = \sqrt2\,w` when that removes every :math:`\sqrt 2`, else ``None``."""
    u = sp.factor(sp.sqrt(2) * w)
    return None if u.has(sp.sqrt(2)) else u


def _square_root(v: sp.Expr) -> sp.Expr | None:
    r"""``u`` with :math:`v = -u^2/2` when :math:`u` is free of :math:`\sqrt 2` and of roots of :math:`a`."""
    u = sp.powdenest(sp.sqrt(sp.factor(-2 * v)), force=True)
    u = u.replace(lambda n: isinstance(n, sp.Abs), lambda n: n.args[0])
    root_of_a = any(not p.exp.is_Integer and p.base.has(A) for p in u.atoms(sp.Pow))
    return None if root_of_a or u.has(sp.sqrt(2)) else u


def normal_notation(expr: sp.Expr) -> sp.Expr:
    r"""Display form of a moment in :math:`\Phi` (``Phi``) and :math:`\varphi` (``phi``), as on the docs' model page.

    :math:`\mathrm{erf}(u/\sqrt2) \to 2\Phi(u) - 1` and :math:`e^{-u^2/2} \to \sqrt{2\pi}\,\varphi(u)`
    where this removes the :math:`\sqrt 2`; other ``erf``/``exp`` stay.  For reading only:
    ``Phi`` and ``phi`` are undefined SymPy functions.

    >>> normal_notation(conditional_moments("relu").M0)
    a*Phi(a/s) + s*phi(a/s)
    """

    def erf_to_cdf(node):
        u = _normal_argument(node.args[0])
        return node if u is None else 2 * _PHI(u) - 1

    def exp_to_pdf(node):
        u = _square_root(node.args[0])
        return node if u is None else sp.sqrt(2 * sp.pi) * _PDF(u)

    out = expr.replace(lambda n: isinstance(n, sp.erf), erf_to_cdf)
    out = sp.expand(out.replace(lambda n: isinstance(n, sp.exp), exp_to_pdf), power_exp=False)
    atoms = sorted(out.atoms(_PHI, _PDF), key=sp.default_sort_key)
    return sp.collect(out, atoms, sp.factor) if atoms else out


def _mpmath_function(expr: sp.Expr):
    return sp.lambdify(X, expr, modules="mpmath")


@functools.lru_cache(maxsize=128)
def _mpmath_functions(activation: Activation):
    sigma = _mpmath_function(activation.expr)
    derivative = activation.derivative
    sigma_prime = None if derivative.has(sp.DiracDelta) else _mpmath_function(derivative)
    kinks = tuple(sp.N(k, 50) for k in activation.kinks)
    return sigma, sigma_prime, kinks


def moments_mpmath(activation: str | Activation, a, s, dps: int = 30) -> tuple:
    r"""Reference :math:`(M_0, M_1, M_2)` at one point by mpmath quadrature split at the kinks.

    The integrals over :math:`z` run over :math:`|z| \le L` with
    :math:`L = \sqrt{2\ln 10\,(\mathrm{dps}+6)}` (the Gaussian tail beyond is below
    :math:`10^{-\mathrm{dps}}` for activations of moderate growth) and are split at
    :math:`0`, :math:`-a/s` and the kinks :math:`(k - a)/s`, so that every panel is
    smooth; each panel uses mpmath's adaptive Gauss–Legendre rule.  :math:`M_1`
    integrates :math:`\sigma'` when :math:`\sigma` is continuous, else Stein's form
    :math:`\mathbb E[g\,\sigma(a+sg)]/s`.  Slow (about 0.02–0.1 s per point); use
    :func:`theory.codegen.jax_moments` for arrays.

    >>> [mp.nstr(m, 12) for m in moments_mpmath("relu", 0, 1)]
    ['0.398942280401', '0.5', '0.5']
    """
    act = get_activation(activation)
    sigma, sigma_prime, kinks = _mpmath_functions(act)
    with mp.workdps(dps):
        a, s = mp.mpf(a), mp.mpf(s)
        if not s > 0:
            raise ValueError(f"s must be > 0, got {s}")
        L = mp.sqrt(2 * mp.log(10) * (dps + 6))
        cuts = sorted({mp.mpf(0), -a / s, *((mp.mpf(k) - a) / s for k in kinks)})
        points = [-L, *(c for c in cuts if -L < c < L), L]

        def expect(f):
            return mp.quad(lambda z: f(a + s * z) * mp.npdf(z), points, method="gauss-legendre")

        m0 = expect(sigma)
        m1 = (
            expect(sigma_prime)
            if sigma_prime is not None
            else expect(lambda x: (x - a) * sigma(x)) / s**2
        )
        m2 = expect(lambda x: sigma(x) ** 2)
        return +m0, +m1, +m2


# ---------------------------------------------------------------- the derivation engine
#
# E f(x), x ~ N(m, t^2), for f a sum of terms  c x^n exp(alpha x^2 + beta x + gamma) prod_i erf(u_i x + v_i)
# (sin, cos, sinh, cosh enter as complex exponentials), on the whole line or on an interval
# between two kinks.  Four identities, each exact:
#   completing the square:  E[e^{alpha x^2+beta x+gamma} h(x)] = K E h(x'),  x' ~ N(m', t'^2);
#   Stein's lemma:          E[x h(x)] = m E h(x) + t^2 E h'(x);
#   erf smoothing:          E erf(u x + v) = erf((u m + v)/sqrt(1 + 2u^2 t^2));
#   Price/arcsine:          E erf(u1 x) erf(u2 x) = (2/pi) asin(2 u1 u2 t^2 / sqrt((1+2u1^2t^2)(1+2u2^2t^2)))  (m = 0);
# and on an interval the truncated moments I_n (integration by parts, erf/Phi closed forms).

IDENTITIES = {
    "square": "completing the square in the Gaussian exponent",
    "stein": "Stein's lemma E[x h(x)] = m E h + t² E h'",
    "erf": "erf smoothing E erf(ux+v) = erf((um+v)/√(1+2u²t²))",
    "arcsine": "Price's arcsine law for E erf·erf at zero mean",
    "euler": "sin, cos as complex exponentials (Gaussian moment generating function)",
    "kinks": "splitting at the kinks, truncated Gaussian moments (erf/Φ closed forms)",
}


class _NoClosedForm(Exception):
    pass


def _linear(u: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    if not u.is_polynomial(X) or sp.degree(u, X) > 1:
        raise _NoClosedForm
    poly = sp.Poly(u, X)
    return poly.coeff_monomial(X), poly.coeff_monomial(1)


def _quadratic(q: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    if not q.is_polynomial(X) or sp.degree(q, X) > 2:
        raise _NoClosedForm
    poly = sp.Poly(q, X)
    return poly.coeff_monomial(X**2), poly.coeff_monomial(X), poly.coeff_monomial(1)


def _atoms(term: sp.Expr):
    """``(coeff, n, (alpha, beta, gamma), erfs)`` for ``coeff x^n exp(alpha x^2+beta x+gamma) prod erf``."""
    coeff, dependent = term.as_independent(X, as_Add=False)
    n, exponent, erfs = 0, sp.Integer(0), []
    for factor in sp.Mul.make_args(dependent):
        base, power = factor.as_base_exp()
        if factor == 1:
            continue
        if isinstance(factor, sp.exp):
            exponent += factor.args[0]
        elif base == X and power.is_Integer and power > 0:
            n += int(power)
        elif isinstance(base, sp.exp) and power.is_number:
            exponent += power * base.args[0]
        elif isinstance(base, sp.erf) and power.is_Integer and power > 0:
            erfs += [_linear(base.args[0])] * int(power)
        elif isinstance(factor, sp.erf):
            erfs.append(_linear(factor.args[0]))
        else:
            raise _NoClosedForm
    return coeff, n, _quadratic(sp.expand(exponent)), tuple(erfs)


def _complete_square(quad, m, t, used: set):
    alpha, beta, gamma = quad
    if alpha == 0 and beta == 0:
        return sp.exp(gamma), m, t
    used.add("square")
    d = 1 - 2 * alpha * t**2
    if d.is_number and not bool(sp.re(d) > 0):
        raise _NoClosedForm  # the expectation diverges (see activations.moment_divergence)
    factor = sp.exp(gamma + (alpha * m**2 + beta * m + beta**2 * t**2 / 2) / d) / sp.sqrt(d)
    return factor, (m + beta * t**2) / d, t / sp.sqrt(d)


@functools.lru_cache(maxsize=100_000)
def _free_expectation(n: int, quad, erfs, m, t, used_key) -> tuple[sp.Expr, frozenset]:
    r""":math:`\mathbb E[x^n e^{\alpha x^2+\beta x+\gamma}\prod_i \mathrm{erf}(u_ix+v_i)]`, :math:`x\sim N(m,t^2)`."""
    used: set = set()
    factor, m, t = _complete_square(quad, m, t, used)
    if erfs and m.has(sp.I):
        raise _NoClosedForm
    if n == 0:
        if not erfs:
            return factor, frozenset(used)
        if len(erfs) == 1:
            (u, v), = erfs
            used.add("erf")
            return factor * sp.erf((u * m + v) / sp.sqrt(1 + 2 * u**2 * t**2)), frozenset(used)
        if len(erfs) == 2 and all(sp.simplify(u * m + v) == 0 for u, v in erfs):
            (u1, _), (u2, _) = erfs
            used.add("arcsine")
            ratio = 2 * u1 * u2 * t**2 / sp.sqrt((1 + 2 * u1**2 * t**2) * (1 + 2 * u2**2 * t**2))
            return factor * 2 / sp.pi * sp.asin(ratio), frozenset(used)
        raise _NoClosedForm
    used.add("stein")
    zero = (sp.Integer(0),) * 3
    total = m * _free_expectation(n - 1, zero, erfs, m, t, None)[0]
    inner = _free_expectation(n - 2, zero, erfs, m, t, None) if n >= 2 else None
    if inner is not None:
        total += t**2 * (n - 1) * inner[0]
        used |= inner[1]
    used |= _free_expectation(n - 1, zero, erfs, m, t, None)[1]
    for i, (u, v) in enumerate(erfs):
        others = erfs[:i] + erfs[i + 1 :]
        value, tags = _free_expectation(
            n - 1, (-(u**2), -2 * u * v, -(v**2)), others, m, t, None
        )
        total += t**2 * u * 2 / sp.sqrt(sp.pi) * value
        used |= tags
    return factor * total, frozenset(used)


def _interval_expectation(n: int, quad, lo, hi, m, t, used: set) -> sp.Expr:
    r""":math:`\mathbb E[x^n e^{\alpha x^2+\beta x+\gamma}\mathbf 1\{lo<x<hi\}]` by truncated moments."""
    factor, m, t = _complete_square(quad, m, t, used)
    if m.has(sp.I):
        raise _NoClosedForm
    used.add("kinks")
    z = sp.Dummy("z")
    poly = sp.Poly(sp.expand((m + t * z) ** n), z)
    alpha = lo if lo is -sp.oo else (lo - m) / t
    beta = hi if hi is sp.oo else (hi - m) / t
    moments = _truncated_moments(alpha, beta, max(poly.degree(), 0))
    return factor * sum((c * moments[k] for (k,), c in poly.terms()), sp.Integer(0))


def _exponential_form(expr: sp.Expr, used: set) -> sp.Expr:
    trig = (sp.sin, sp.cos, sp.sinh, sp.cosh)
    if expr.has(*trig):
        if expr.has(sp.sin, sp.cos):
            used.add("euler")
        expr = expr.replace(lambda e: isinstance(e, trig), lambda e: e.rewrite(sp.exp))
    return sp.expand(sp.powsimp(sp.expand(expr, power_exp=False)), power_exp=False)


def _real_part(value: sp.Expr) -> sp.Expr:
    if not value.has(sp.I):
        return value
    re, im = sp.expand_complex(value).as_real_imag()
    if sp.simplify(im) != 0:  # pragma: no cover - a real integrand has a real mean
        raise _NoClosedForm
    return re


def expectation(expr: sp.Expr, m: sp.Expr, t: sp.Expr, kinks=(), complete: bool = True):
    r"""Closed form of :math:`\mathbb E f(x)`, :math:`x \sim N(m, t^2)`, and how it was obtained.

    :math:`f` is a sum of :math:`c\,x^n e^{\alpha x^2+\beta x+\gamma}\prod_i\mathrm{erf}(u_ix+v_i)`
    (``sin``, ``cos``, ``sinh``, ``cosh`` as complex exponentials) or, between exact kinks,
    piecewise such terms without ``erf``.  Identities: completing the square,
    Stein's lemma :math:`\mathbb E[x h(x)] = m\,\mathbb E h + t^2\,\mathbb E h'`, Gaussian smoothing
    of ``erf``, Price's arcsine law for two centred ``erf`` (Williams 1997), truncated Gaussian
    moments on each interval between kinks.

    Parameters
    ----------
    expr:
        :math:`f` in :data:`theory.activations.X`.
    m, t:
        Mean and standard deviation (SymPy expressions or numbers; :math:`t > 0`).
    kinks:
        Exact kinks of ``expr``, sorted.
    complete:
        False when the kinks are a truncated periodic set: then there is no closed form.

    Returns
    -------
    tuple
        ``(value, identities)`` with ``identities`` a sorted tuple of keys of :data:`IDENTITIES`,
        or ``(None, ())`` when no closed form is reached.

    >>> expectation(sp.sin(X), A, S)[0]
    exp(-s**2/2)*sin(a)
    """
    used: set = set()
    m, t = as_sympy(m), as_sympy(t)
    try:
        if kinks or expr.has(sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign, sp.Piecewise):
            if not complete:
                return None, ()
            edges = [-sp.oo, *kinks, sp.oo]
            total = sp.Integer(0)
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                branch = _exponential_form(_branch_at(expr, _inside(lo, hi)), used)
                if branch.has(sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign, sp.Piecewise):
                    return None, ()
                for term in sp.Add.make_args(branch):
                    if term == 0:
                        continue
                    coeff, n, quad, erfs = _atoms(term)
                    if erfs:
                        return None, ()
                    total += coeff * _interval_expectation(n, quad, lo, hi, m, t, used)
            return _real_part(total), tuple(sorted(used))
        total = sp.Integer(0)
        for term in sp.Add.make_args(_exponential_form(expr, used)):
            if term == 0:
                continue
            coeff, n, quad, erfs = _atoms(term)
            value, tags = _free_expectation(n, quad, erfs, m, t, None)
            used |= tags
            total += coeff * value
        return _real_part(total), tuple(sorted(used))
    except _NoClosedForm:
        return None, ()
