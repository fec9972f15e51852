r"""The Gaussian-expectation engine: closed forms of :math:`\mathbb E f(x)`, :math:`x\sim N(m, t^2)`.

One engine serves the conditional moments (:mod:`theory.moments`, :math:`m = a`, :math:`t = s`),
the Hermite coefficients (:mod:`theory.hermite`, :math:`m = 0`, :math:`t = b`) and the 1-D means
inside the bivariate kernels (:mod:`theory.kernels`).  It takes :math:`f` a sum of terms

.. math::

    c\,x^n\,e^{\alpha x^2+\beta x+\gamma}\prod_i \mathrm{erf}(u_i x + v_i)

(``sin``, ``cos``, ``sinh``, ``cosh`` enter as complex exponentials), on the whole line, or,
between exact kinks, piecewise such terms without ``erf``.  Every step is an exact identity
(:data:`IDENTITIES`):

* completing the square: :math:`\mathbb E[e^{\alpha x^2+\beta x+\gamma}h(x)] = K\,\mathbb E h(x')`,
  :math:`x'\sim N(m', t'^2)`;
* Stein's lemma: :math:`\mathbb E[x\,h(x)] = m\,\mathbb E h(x) + t^2\,\mathbb E h'(x)`;
* erf smoothing: :math:`\mathbb E\,\mathrm{erf}(ux+v) = \mathrm{erf}((um+v)/\sqrt{1+2u^2t^2})`;
* Price's arcsine law (Williams 1997): :math:`\mathbb E\,\mathrm{erf}(u_1x)\mathrm{erf}(u_2x) =
  \tfrac2\pi\arcsin\big(2u_1u_2t^2/\sqrt{(1+2u_1^2t^2)(1+2u_2^2t^2)}\big)` at :math:`m = 0`;
* on an interval, the truncated moments :math:`I_n(\alpha,\beta) = \int_\alpha^\beta z^n\varphi(z)\,dz`,
  :math:`I_n = \alpha^{n-1}\varphi(\alpha) - \beta^{n-1}\varphi(\beta) + (n-1)I_{n-2}`
  (integration by parts; :func:`truncated_moments`).

No speculative ``sympy.integrate`` (which can hang): the structure of :math:`f` picks the route,
and anything else has no closed form here (:class:`NoClosedForm`, ``None`` from :func:`expectation`).

References: Demir & Dogan (ICLR 2025, arXiv 2503.00856), conditional Gaussian equivalence;
Stein (1981); Williams, *Computing with infinite networks* (NeurIPS 1997); Owen, *A table of
normal integrals* (1980) for the truncated moments.

Examples
--------
>>> from onestep_gm.theory.activations import X
>>> m, t = sp.Symbol("m", real=True), sp.Symbol("t", positive=True)
>>> expectation(sp.sin(X), m, t)[0]
exp(-t**2/2)*sin(m)
>>> expectation(sp.Max(0, X), 0, 1, (0,))
(sqrt(2)/(2*sqrt(pi)), ('kinks',))
"""

from __future__ import annotations

import functools

import sympy as sp
from onestep_gm.theory.activations import X, as_sympy

__all__ = [
    "IDENTITIES",
    "NoClosedForm",
    "branch_at",
    "expectation",
    "exponential_form",
    "normal_cdf",
    "normal_pdf",
    "polynomial_pieces",
    "real_part",
    "term_atoms",
    "truncated_moments",
]

IDENTITIES = {
    "square": "completing the square in the Gaussian exponent",
    "stein": "Stein's lemma E[x h(x)] = m E h + t² E h'",
    "erf": "erf smoothing E erf(ux+v) = erf((um+v)/√(1+2u²t²))",
    "arcsine": "Price's arcsine law for E erf·erf at zero mean",
    "euler": "sin, cos as complex exponentials (Gaussian moment generating function)",
    "kinks": "splitting at the kinks, truncated Gaussian moments (erf/Φ closed forms)",
}
"""How a closed form was obtained: the keys :func:`expectation` reports."""

_SWITCHES = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign, sp.Piecewise)
_ZERO3 = (sp.Integer(0),) * 3


class NoClosedForm(Exception):
    """The engine has no closed form for this term (raised inside, ``None`` outside)."""


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


def truncated_moments(alpha: sp.Expr, beta: sp.Expr, order: int) -> list[sp.Expr]:
    r""":math:`I_n = \int_\alpha^\beta z^n\varphi(z)\,dz` for :math:`n \le` ``order``.

    :math:`I_0 = \Phi(\beta) - \Phi(\alpha)`, :math:`I_1 = \varphi(\alpha) - \varphi(\beta)`,
    :math:`I_n = \alpha^{n-1}\varphi(\alpha) - \beta^{n-1}\varphi(\beta) + (n-1)\,I_{n-2}`
    (integration by parts; the boundary terms vanish at :math:`\pm\infty`).

    >>> truncated_moments(0, sp.oo, 2)
    [1/2, sqrt(2)/(2*sqrt(pi)), 1/2]
    """
    alpha, beta = as_sympy(alpha), as_sympy(beta)

    def boundary(z: sp.Expr, power: int) -> sp.Expr:
        return sp.Integer(0) if z in (sp.oo, -sp.oo) else z**power * normal_pdf(z)

    moments = [normal_cdf(beta) - normal_cdf(alpha), normal_pdf(alpha) - normal_pdf(beta)]
    for n in range(2, order + 1):
        moments.append(boundary(alpha, n - 1) - boundary(beta, n - 1) + (n - 1) * moments[n - 2])
    return moments[: order + 1]


def branch_at(expr: sp.Expr, t: sp.Expr) -> sp.Expr:
    """The smooth branch of ``expr`` that is active at ``x = t`` (``t`` not a kink).

    >>> branch_at(sp.Max(0, X) + sp.Abs(X - 1), 2)
    2*x - 1
    """

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

    previous = None
    while previous != expr:
        previous = expr
        expr = expr.replace(lambda n: isinstance(n, _SWITCHES), pick)
    return expr


def _inside(lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """A point strictly inside ``(lo, hi)`` between two kinks (either may be infinite)."""
    if lo is -sp.oo and hi is sp.oo:
        return sp.Integer(0)
    if lo is -sp.oo:
        return hi - 1
    if hi is sp.oo:
        return lo + 1
    return (lo + hi) / 2


def _intervals(kinks) -> list[tuple[sp.Expr, sp.Expr]]:
    edges = [-sp.oo, *kinks, sp.oo]
    return list(zip(edges[:-1], edges[1:], strict=True))


def polynomial_pieces(expr: sp.Expr, kinks=()) -> list[tuple[sp.Expr, sp.Expr, sp.Expr]] | None:
    """``[(lo, hi, p)]``: ``expr`` is the polynomial ``p`` on ``(lo, hi)``; ``None`` if a piece is not.

    >>> polynomial_pieces(sp.Max(0, X), (0,))
    [(-oo, 0, 0), (0, oo, x)]
    """
    pieces = []
    for lo, hi in _intervals(kinks):
        branch = branch_at(expr, _inside(lo, hi))
        if not branch.is_polynomial(X):
            return None
        pieces.append((lo, hi, sp.expand(branch)))
    return pieces


def _linear(u: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    if not u.is_polynomial(X) or sp.degree(u, X) > 1:
        raise NoClosedForm
    poly = sp.Poly(u, X)
    return poly.coeff_monomial(X), poly.coeff_monomial(1)


def _quadratic(q: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    if not q.is_polynomial(X) or sp.degree(q, X) > 2:
        raise NoClosedForm
    poly = sp.Poly(q, X)
    return poly.coeff_monomial(X**2), poly.coeff_monomial(X), poly.coeff_monomial(1)


def term_atoms(term: sp.Expr):
    r"""``(c, n, (α, β, γ), erfs)`` for one term :math:`c\,x^n e^{\alpha x^2+\beta x+\gamma}\prod\mathrm{erf}(u_ix+v_i)`.

    ``erfs`` is a tuple of ``(u_i, v_i)``.  Raises :class:`NoClosedForm` for any other factor.

    >>> term_atoms(3 * X**2 * sp.exp(-X**2 / 2) * sp.erf(2 * X))
    (3, 2, (-1/2, 0, 0), ((2, 0),))
    """
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
            raise NoClosedForm
    return coeff, n, _quadratic(sp.expand(exponent)), tuple(erfs)


def _complete_square(quad, m, t, used: set):
    alpha, beta, gamma = quad
    if alpha == 0 and beta == 0:
        return sp.exp(gamma), m, t
    used.add("square")
    d = 1 - 2 * alpha * t**2
    if d.is_number and not bool(sp.re(d) > 0):
        raise NoClosedForm  # the expectation diverges (see activations.moment_divergence)
    factor = sp.exp(gamma + (alpha * m**2 + beta * m + beta**2 * t**2 / 2) / d) / sp.sqrt(d)
    return factor, (m + beta * t**2) / d, t / sp.sqrt(d)


def _erf_mean(erfs, m, t, used: set) -> sp.Expr:
    r""":math:`\mathbb E\prod_i\mathrm{erf}(u_ix+v_i)` for at most two factors (smoothing, arcsine law)."""
    if not erfs:
        return sp.Integer(1)
    if len(erfs) == 1:
        (u, v), = erfs
        used.add("erf")
        return sp.erf((u * m + v) / sp.sqrt(1 + 2 * u**2 * t**2))
    if len(erfs) == 2 and all(sp.simplify(u * m + v) == 0 for u, v in erfs):
        (u1, _), (u2, _) = erfs
        used.add("arcsine")
        ratio = 2 * u1 * u2 * t**2 / sp.sqrt((1 + 2 * u1**2 * t**2) * (1 + 2 * u2**2 * t**2))
        return 2 / sp.pi * sp.asin(ratio)
    raise NoClosedForm


@functools.lru_cache(maxsize=100_000)
def free_expectation(n: int, quad, erfs, m, t) -> tuple[sp.Expr, frozenset]:
    r""":math:`\mathbb E[x^n e^{\alpha x^2+\beta x+\gamma}\prod_i \mathrm{erf}(u_ix+v_i)]`, :math:`x\sim N(m,t^2)`.

    Returns ``(value, identities)``; raises :class:`NoClosedForm`.  Stein's lemma lowers
    :math:`n`, the derivative of an ``erf`` factor bringing in :math:`2u\,e^{-(ux+v)^2}/\sqrt\pi`.
    """
    used: set = set()
    factor, m, t = _complete_square(quad, m, t, used)
    if erfs and m.has(sp.I):
        raise NoClosedForm
    if n == 0:
        return factor * _erf_mean(erfs, m, t, used), frozenset(used)
    used.add("stein")
    lower, tags = free_expectation(n - 1, _ZERO3, erfs, m, t)
    total, used = m * lower, used | tags
    if n >= 2:
        inner, tags = free_expectation(n - 2, _ZERO3, erfs, m, t)
        total, used = total + t**2 * (n - 1) * inner, used | tags
    for i, (u, v) in enumerate(erfs):
        others = erfs[:i] + erfs[i + 1 :]
        value, tags = free_expectation(n - 1, (-(u**2), -2 * u * v, -(v**2)), others, m, t)
        total, used = total + t**2 * u * 2 / sp.sqrt(sp.pi) * value, used | tags
    return factor * total, frozenset(used)


def _interval_expectation(n: int, quad, lo, hi, m, t, used: set) -> sp.Expr:
    r""":math:`\mathbb E[x^n e^{\alpha x^2+\beta x+\gamma}\mathbf 1\{lo<x<hi\}]` by truncated moments."""
    factor, m, t = _complete_square(quad, m, t, used)
    if m.has(sp.I):
        raise NoClosedForm
    used.add("kinks")
    z = sp.Dummy("z")
    poly = sp.Poly(sp.expand((m + t * z) ** n), z)
    alpha = lo if lo is -sp.oo else (lo - m) / t
    beta = hi if hi is sp.oo else (hi - m) / t
    moments = truncated_moments(alpha, beta, max(poly.degree(), 0))
    return factor * sum((c * moments[k] for (k,), c in poly.terms()), sp.Integer(0))


def exponential_form(expr: sp.Expr, used: set) -> sp.Expr:
    """``expr`` expanded with ``sin``, ``cos``, ``sinh``, ``cosh`` as exponentials (``"euler"`` noted in ``used``)."""
    trig = (sp.sin, sp.cos, sp.sinh, sp.cosh)
    if expr.has(*trig):
        if expr.has(sp.sin, sp.cos):
            used.add("euler")
        expr = expr.replace(lambda e: isinstance(e, trig), lambda e: e.rewrite(sp.exp))
    return sp.expand(sp.powsimp(sp.expand(expr, power_exp=False)), power_exp=False)


def real_part(value: sp.Expr) -> sp.Expr:
    """``value`` without its imaginary part, which must vanish (a real integrand has a real mean).

    The imaginary part is checked at two points at 30 digits, not by ``simplify``: for a
    Gaussian bump times sin or cos, ``simplify`` of the (zero) imaginary part ran for hours.
    Raises :class:`NoClosedForm` when it does not vanish.
    """
    if not value.has(sp.I):
        return value
    re, im = sp.expand_complex(value).as_real_imag()
    if not _vanishes(im):  # pragma: no cover - a real integrand has a real mean
        raise NoClosedForm
    return re


def _vanishes(expr: sp.Expr) -> bool:
    """``expr`` is 0 at two generic points (positive symbols in (1, 2), real ones in (-1, 1), c² < q₁q₂)."""
    if expr == 0:
        return True
    symbols = sorted(expr.free_symbols, key=str)
    for shift in (0, 1):
        point = {x: sp.Rational(7 + 2 * k + shift, 6 + 2 * k) if x.is_positive
                 else sp.Rational((-1) ** k * (k + 1 + shift), 4 * k + 9) for k, x in enumerate(symbols)}  # fmt: skip
        value = sp.N(expr.subs(point), 30)
        if not value.is_number or abs(value) > sp.Float("1e-25"):
            return False
    return True


def _piecewise_sum(expr, kinks, m, t, used: set) -> sp.Expr:
    total = sp.Integer(0)
    for lo, hi in _intervals(kinks):
        branch = exponential_form(branch_at(expr, _inside(lo, hi)), used)
        if branch.has(*_SWITCHES):
            raise NoClosedForm
        for term in sp.Add.make_args(branch):
            if term == 0:
                continue
            coeff, n, quad, erfs = term_atoms(term)
            if erfs:
                raise NoClosedForm
            total += coeff * _interval_expectation(n, quad, lo, hi, m, t, used)
    return total


def _smooth_sum(expr, m, t, used: set) -> sp.Expr:
    total = sp.Integer(0)
    for term in sp.Add.make_args(exponential_form(expr, used)):
        if term == 0:
            continue
        coeff, n, quad, erfs = term_atoms(term)
        value, tags = free_expectation(n, quad, erfs, m, t)
        used |= tags
        total += coeff * value
    return total


def expectation(expr: sp.Expr, m, t, kinks=(), complete: bool = True):
    r"""Closed form of :math:`\mathbb E f(x)`, :math:`x \sim N(m, t^2)`, and how it was obtained.

    Parameters
    ----------
    expr:
        :math:`f` in :data:`theory.activations.X` (see the module notes for the forms covered).
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

    >>> expectation(X**2, 1, 2)
    (5, ('stein',))
    """
    used: set = set()
    m, t = as_sympy(m), as_sympy(t)
    try:
        if kinks or expr.has(*_SWITCHES):
            if not complete:
                return None, ()
            total = _piecewise_sum(expr, kinks, m, t, used)
        else:
            total = _smooth_sum(expr, m, t, used)
        return real_part(total), tuple(sorted(used))
    except NoClosedForm:
        return None, ()
