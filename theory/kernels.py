r"""Bivariate Gaussian kernels :math:`\mathbb E[\sigma(u)\,\tau(v)]` for the theory curves.

For :math:`(u, v)` jointly Gaussian with means :math:`(m_1, m_2)`, variances
:math:`(q_1, q_2)` and covariance :math:`c`, the population feature moments of a
network with first layer :math:`\hat F` are entries of such kernels
(:mod:`onestep_gm.numerics.population`).  This module derives what is exact
(:func:`derive_kernel`), by three routes:

* **Isserlis** (polynomials, any means): mixed moments from the joint moment generating
  function :math:`\exp(t_1m_1+t_2m_2+\tfrac12(q_1t_1^2+2ct_1t_2+q_2t_2^2))`;
* **the bivariate MGF** (:func:`mgf_kernel`, any means): for sums of
  :math:`x^ne^{\gamma x^2+\beta x}`, i.e. sin, cos (Euler), exp, the Gaussian bump
  :math:`e^{-x^2/2}` and their products with polynomials, by completing the square;
* **Price's theorem** (:func:`price_kernel`, zero means):
  :math:`\partial_c^r K = \mathbb E[\sigma^{(r)}(u)\tau^{(r)}(v)]` with distributional
  derivatives, integrated by SymPy: ReLU (the arc-cosine kernel of Cho & Saul 2009), Abs, sign
  and step (arcsine laws), ReLU**p (the arc-cosine family), erf (Williams 1997), and any
  polynomial against any of these; GELU by Stein's lemma (:func:`gelu_kernel`), checked by
  Price's theorem (:func:`verify_price`).  With :math:`\delta(v)` on one side only (the ReLU
  teacher at :math:`r = 2`), :math:`\mathbb E[h(u)\delta(v)] = \mathbb E[h(u')]/\sqrt{2\pi q_2}`,
  :math:`u'\sim N(0, q_1 - c^2/q_2)` (:func:`_delta_conditional`): ReLU³, exp, cos and the
  Gaussian bump against ReLU.

Means :math:`\mathbb E\sigma(u)` come from the 1-D engine of :mod:`theory.gaussian`.
ReLU and erf with non-zero means need the bivariate normal CDF: no elementary form, so the
numeric rules of :mod:`onestep_gm.numerics.population` (Mehler series, nested Gauss–Legendre)
apply there, as for tanh and sigmoid.

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
from typing import NamedTuple

import mpmath as mp
import sympy as sp
from onestep_gm.theory.activations import Activation, X, kinks_of
from onestep_gm.theory.budget import BudgetExceeded, within_budget
from onestep_gm.theory.gaussian import (
    NoClosedForm,
    expectation,
    exponential_form,
    normal_cdf,
    normal_pdf,
    real_part,
    term_atoms,
)

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
    "kernel_derivation",
    "kernel_method",
    "angular_relu_kernel",
    "relu_second_moment",
    "bivariate_mp",
    "mean_mp",
]

M1, M2 = sp.symbols("M1 M2", real=True)
Q1, Q2 = sp.symbols("Q1 Q2", positive=True)
C = sp.Symbol("C", real=True)

_T1, _T2 = sp.symbols("t1 t2", real=True)
_RELU = sp.Max(0, X)
_GELU = X * (1 + sp.erf(X / sp.sqrt(2))) / 2


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


_B1, _B2 = sp.symbols("b1 b2")
_T = sp.Symbol("t", real=True)
MAX_PRICE_ORDER = 6
"""Highest derivative order tried by :func:`price_kernel` (ReLU**4 needs 5)."""

_TRIG = (sp.sin, sp.cos, sp.sinh, sp.cosh)
_MAX_INTEGRAND_OPS = 40
r"""Price integrands larger than this are not handed to ``sp.integrate``: the arcsine family has
about 10 operations, while GELU's :math:`\mathbb E[\sigma''\sigma'']` (about 60) kept SymPy
busy for over ten minutes without an answer; :func:`gelu_kernel` covers that case instead."""


def _exp_quadratic_terms(expr: sp.Expr):
    r"""``[(c, n, β, γ), ...]`` with :math:`f(x) = \sum c\,x^n e^{\gamma x^2 + \beta x}`, or ``None``.

    ``sin``, ``cos``, ``sinh``, ``cosh`` become complex exponentials (Euler), so :math:`\beta` may
    be imaginary; :math:`\gamma \le 0` is required (else the bivariate moment may diverge).
    """
    if any(not isinstance(f, (sp.exp, *_TRIG)) for f in expr.atoms(sp.Function)):
        return None
    terms = []
    for term in sp.Add.make_args(exponential_form(expr, set())):
        try:
            coeff, n, (gamma, beta, constant), erfs = term_atoms(term)
        except NoClosedForm:
            return None
        if erfs or not gamma.is_real or gamma > 0:
            return None
        terms.append((coeff * sp.exp(constant), n, beta, gamma))
    return terms


@functools.lru_cache(maxsize=256)
def _gaussian_mgf(gamma_1: sp.Expr, gamma_2: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    r"""``(L, det)`` with :math:`\mathbb E\exp(b_1u + b_2v + \gamma_1u^2 + \gamma_2v^2) = e^{L}/\sqrt{\det}`.

    With :math:`\Gamma = \operatorname{diag}(\gamma_1,\gamma_2)`, :math:`B = I - 2\Sigma\Gamma` and
    :math:`\beta = b + 2\Gamma m`: :math:`\det = \det B` and :math:`L = b^\top m + m^\top\Gamma m +
    \tfrac12\beta^\top B^{-1}\Sigma\beta`, by completing the square; :math:`\Sigma^{-1}` never
    appears, so the form holds up to :math:`|\rho| = 1`.
    """
    sigma = sp.Matrix([[Q1, C], [C, Q2]])
    Gamma = sp.diag(gamma_1, gamma_2)
    mean, b = sp.Matrix([M1, M2]), sp.Matrix([_B1, _B2])
    B = sp.eye(2) - 2 * sigma * Gamma
    det = sp.expand(B.det())
    beta = b + 2 * Gamma * mean
    quadratic = sp.expand((beta.T * B.adjugate() * sigma * beta)[0])
    linear = (b.T * mean)[0] + (mean.T * Gamma * mean)[0]
    return sp.cancel(linear + quadratic / (2 * det)), det


@functools.lru_cache(maxsize=1024)
def _mixed_moment(gamma_1, gamma_2, n_1: int, n_2: int) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    r"""``(R, L, det)``: :math:`\mathbb E[u^{n_1}v^{n_2}e^{b_1u+b_2v+\gamma_1u^2+\gamma_2v^2}] = R\,e^{L}/\sqrt{\det}`.

    :math:`R = e^{-L}\partial_{b_1}^{n_1}\partial_{b_2}^{n_2}e^{L}`, by
    :math:`R \mapsto \partial_b R + R\,\partial_b L` once per derivative.
    """
    log_mgf, det = _gaussian_mgf(gamma_1, gamma_2)
    ratio = sp.Integer(1)
    for symbol, times in ((_B1, n_1), (_B2, n_2)):
        slope = sp.diff(log_mgf, symbol)
        for _ in range(times):
            ratio = sp.diff(ratio, symbol) + ratio * slope
    return sp.cancel(ratio), log_mgf, det


def mgf_kernel(first: sp.Expr, second: sp.Expr) -> sp.Expr | None:
    r""":math:`\mathbb E[f(u)g(v)]` for any means, by the Gaussian moment generating function.

    For :math:`f, g` sums of :math:`c\,x^n e^{\gamma x^2+\beta x}` (polynomials, ``exp``,
    the Gaussian bump, ``sin``/``cos``/``sinh``/``cosh`` by Euler, and their products): each
    pair of terms is a derivative of the bivariate MGF :func:`_gaussian_mgf` in :math:`b` at
    :math:`b = \beta`.  Terms sharing an exponential are summed as one rational factor.
    ``None`` when ``first`` or ``second`` is not of this form.
    """
    terms_1, terms_2 = _exp_quadratic_terms(first), _exp_quadratic_terms(second)
    if terms_1 is None or terms_2 is None:
        return None
    groups: dict[tuple, sp.Expr] = {}
    for c1, n1, beta1, gamma1 in terms_1:
        for c2, n2, beta2, gamma2 in terms_2:
            ratio, log_mgf, det = _mixed_moment(gamma1, gamma2, n1, n2)
            at = {_B1: beta1, _B2: beta2}
            key = (sp.cancel(log_mgf.subs(at)), det)
            groups[key] = groups.get(key, sp.Integer(0)) + c1 * c2 * ratio.subs(at)
    total = sp.Integer(0)
    for (log_mgf, det), ratio in groups.items():
        total += sp.factor(sp.cancel(ratio)) * sp.exp(log_mgf) / sp.sqrt(det)
    try:
        return _tidy(real_part(total))  # Euler's complex exponentials cancel
    except NoClosedForm:  # pragma: no cover - a real integrand has a real mean
        return None


_TIDY_MAX_OPS = 300
"""Larger kernels are emitted as they are: ``trigsimp`` on the real part of a Gaussian bump
times sin or cos (about 2000 operations) ran for hours; sin, cos against themselves have < 100."""


def _tidy(expr: sp.Expr) -> sp.Expr:
    """Trigonometric and exponential collection where it shortens the emitted JAX expression."""
    if not expr.has(sp.sin, sp.cos) or sp.count_ops(expr) > _TIDY_MAX_OPS:
        return expr
    shorter = sp.trigsimp(sp.powsimp(expr, combine="exp"))
    return shorter if sp.count_ops(shorter) <= sp.count_ops(expr) else expr


def _normalised(expr: sp.Expr) -> sp.Expr:
    r""":math:`\sigma` with ``Max``/``Abs``/``sign`` as ``Heaviside``, ready for distributional derivatives."""
    out = sp.expand(expr.rewrite(sp.Heaviside))
    return out.replace(lambda a: a.is_Pow and isinstance(a.base, sp.Heaviside) and a.exp.is_Integer
                       and a.exp > 0, lambda a: a.base)  # fmt: skip


def _derivative(expr: sp.Expr) -> sp.Expr:
    r""":math:`f'` with :math:`x^k\delta^{(j)}(x) = (-1)^k\frac{j!}{(j-k)!}\delta^{(j-k)}(x)` (0 for :math:`k>j`)."""
    def reduce(term):
        coeff, rest = term.as_independent(X, as_Add=False)
        k, delta = 0, None
        for factor in sp.Mul.make_args(rest):
            base, power = factor.as_base_exp()
            if isinstance(factor, sp.DiracDelta) and factor.args[0] == X:
                delta = factor
            elif base == X and power.is_Integer and power > 0:
                k += int(power)
            else:
                return term
        if delta is None or k == 0:
            return term
        j = int(delta.args[1]) if len(delta.args) > 1 else 0
        if k > j:
            return sp.Integer(0)
        reduced = sp.DiracDelta(X, j - k) if j > k else sp.DiracDelta(X)
        return coeff * (-1) ** k * sp.factorial(j) / sp.factorial(j - k) * reduced

    return sp.Add(*(reduce(term) for term in sp.Add.make_args(sp.expand(sp.diff(expr, X)))))


def _delta_terms(expr: sp.Expr) -> dict[int, sp.Expr] | None:
    r"""``{j: a_j}`` when ``expr`` is :math:`\sum_j a_j\,\delta^{(j)}(x)` with constant ``a_j``, else ``None``."""
    terms: dict[int, sp.Expr] = {}
    for term in sp.Add.make_args(sp.expand(expr)):
        weight, delta = term.as_independent(X, as_Add=False)
        if not isinstance(delta, sp.DiracDelta) or delta.args[0] != X:
            return None
        j = int(delta.args[1]) if len(delta.args) > 1 else 0
        terms[j] = terms.get(j, sp.Integer(0)) + weight
    return terms or None


def _delta_expectation(first: dict[int, sp.Expr], second: dict[int, sp.Expr]) -> sp.Expr:
    r""":math:`\mathbb E[\sum_a a_a\delta^{(a)}(u)\sum_b b_b\delta^{(b)}(v)]` for centred :math:`(u, v)`, covariance :math:`t`.

    :math:`\mathbb E[\delta^{(a)}(u)\delta^{(b)}(v)] = (-1)^{a+b}\partial_x^a\partial_y^b p(0, 0)`,
    :math:`p` the bivariate normal density; :math:`\mathbb E[\delta(u)\delta(v)] =
    1/(2\pi\sqrt{q_1q_2-t^2})`.
    """
    x, y = sp.symbols("x_ y_", real=True)
    gap = Q1 * Q2 - _T**2
    density = sp.exp(-(Q2 * x**2 - 2 * _T * x * y + Q1 * y**2) / (2 * gap)) / (2 * sp.pi * sp.sqrt(gap))
    total = sp.Integer(0)
    for a, wa in first.items():
        for b, wb in second.items():
            derivative = sp.diff(density, x, a, y, b).subs({x: 0, y: 0})
            total += wa * wb * (-1) ** (a + b) * derivative
    return sp.simplify(total)


def _delta_conditional(smooth: sp.Expr, weight: sp.Expr, q_smooth: sp.Expr, q_delta: sp.Expr) -> sp.Expr | None:
    r""":math:`\mathbb E[h(u)\,a\,\delta(v)]` for centred :math:`(u, v)` with covariance :math:`t`.

    :math:`= a\,p_v(0)\,\mathbb E[h(u)\mid v = 0] = a\,(2\pi q_v)^{-1/2}\,\mathbb E\,h(u')`,
    :math:`u'\sim N(0, q_u - t^2/q_v)`, the 1-D mean by :func:`_centred_mean`, put over one
    denominator (so that SymPy's integral in :math:`t` sees the simplest integrand).
    """
    mean = _centred_mean(smooth, q_smooth - _T**2 / q_delta)
    if mean is None:
        return None
    return sp.factor(sp.together(weight * mean / sp.sqrt(2 * sp.pi * q_delta)))


def _centred_mean(expr: sp.Expr, q: sp.Expr) -> sp.Expr | None:
    r""":math:`\mathbb E f(u)`, :math:`u\sim N(0, q)`, by the 1-D engine of :mod:`theory.gaussian`."""
    terms = sp.Add.make_args(sp.expand(expr))
    rest = sp.Add(*(t for t in terms if not t.has(sp.DiracDelta)))
    singular = sp.Add(*(t for t in terms if t.has(sp.DiracDelta)))
    weights = _delta_terms(singular) if singular != 0 else {}
    if weights is None:
        return None
    # E δ^(j)(u) = (-1)^j p^(j)(0) = He_j(0) q^(-j/2) / sqrt(2π q) for u ~ N(0, q)
    deltas = sum((w * sp.hermite_prob(j, 0) * q ** sp.Rational(-j, 2) / sp.sqrt(2 * sp.pi * q)
                  for j, w in weights.items()), sp.Integer(0))  # fmt: skip
    if rest == 0:
        return deltas
    value, _ = expectation(rest, sp.Integer(0), sp.sqrt(q), kinks_of(rest)[0])
    return None if value is None else deltas + value


def _antiderivative(integrand: sp.Expr) -> sp.Expr | None:
    r"""A primitive in :math:`t` on :math:`t^2 < q_1q_2`, checked by differentiating it back."""
    primitive = sp.integrate(integrand, _T, conds="none")
    # SymPy's last branch is its generic one; the check below holds it to t² < q1·q2
    primitive = primitive.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[-1][0])
    if primitive.has(sp.Integral, sp.I):
        return None
    if sp.simplify(sp.diff(primitive, _T) - integrand) != 0:
        return None
    return primitive


def _price_integrand(d1: sp.Expr, d2: sp.Expr) -> sp.Expr | None:
    r""":math:`\mathbb E[f^{(r)}(u)g^{(r)}(v)]` at zero means and covariance :math:`t`, or ``None``.

    Closed when both derivatives are sums of :math:`\delta^{(j)}` (:func:`_delta_expectation`)
    or both are of the MGF form (:func:`mgf_kernel`).
    """
    w1, w2 = _delta_terms(d1), _delta_terms(d2)
    if w1 is not None and w2 is not None:
        return _delta_expectation(w1, w2)
    if w2 is not None and set(w2) == {0} and not d1.has(sp.DiracDelta):
        return _delta_conditional(d1, w2[0], Q1, Q2)
    if w1 is not None and set(w1) == {0} and not d2.has(sp.DiracDelta):
        return _delta_conditional(d2, w1[0], Q2, Q1)
    if d1.has(sp.DiracDelta, sp.Heaviside) or d2.has(sp.DiracDelta, sp.Heaviside):
        return None
    inner = mgf_kernel(d1, d2)
    return None if inner is None else sp.simplify(inner.subs({M1: 0, M2: 0, C: _T}))


def price_kernel(first: sp.Expr, second: sp.Expr) -> tuple[sp.Expr, int] | None:
    r"""Centred :math:`\mathbb E[f(u)g(v)]` by Price's theorem, and the order :math:`r` used.

    Price (1958): :math:`\partial_c^r\,\mathbb E[f(u)g(v)] = \mathbb E[f^{(r)}(u)g^{(r)}(v)]`, so

    .. math::
        K(c) = \sum_{j<r}\frac{c^j}{j!}\,\mathbb E f^{(j)}(u)\,\mathbb E g^{(j)}(v)
        + \int_0^c\frac{(c-t)^{r-1}}{(r-1)!}\,\mathbb E[f^{(r)}g^{(r)}]\big|_{c=t}\,dt,

    with :math:`r` the first order at which one derivative vanishes (a polynomial: the sum
    alone is exact), or both are sums of :math:`\delta^{(j)}(x)` (:func:`_delta_expectation`:
    derivatives of the bivariate density at 0), or both are of the MGF form
    (:func:`mgf_kernel` at zero means).  The 1-D means come from
    :func:`theory.gaussian.expectation`, the integral from SymPy, checked by differentiation.
    ``None`` when no such :math:`r\le` :data:`MAX_PRICE_ORDER` exists or an integral does not close.
    """
    d1, d2 = _normalised(first), _normalised(second)
    base = sp.Integer(0)
    for r in range(1, MAX_PRICE_ORDER + 1):
        mean_1, mean_2 = _centred_mean(d1, Q1), _centred_mean(d2, Q2)
        if mean_1 is None or mean_2 is None:
            return None
        base += C ** (r - 1) / sp.factorial(r - 1) * mean_1 * mean_2
        d1, d2 = _derivative(d1), _derivative(d2)
        if d1 == 0 or d2 == 0:  # a polynomial of degree r - 1: the Taylor sum is the kernel
            return sp.simplify(base), r
        inner = _price_integrand(d1, d2)
        if inner is None:
            continue
        if sp.count_ops(inner) > _MAX_INTEGRAND_OPS:
            return None
        weights = sp.Add.make_args(sp.expand((C - _T) ** (r - 1) / sp.factorial(r - 1)))
        primitive = _antiderivative(sp.Add(*(w * inner for w in weights)))  # inner kept whole
        if primitive is None:
            return None
        return sp.simplify(base + primitive.subs(_T, C) - primitive.subs(_T, 0)), r
    return None


class dawsn(sp.Function):  # noqa: N801 - named as scipy.special.dawsn, which the JAX printer calls
    r"""Dawson's integral :math:`D(x) = e^{-x^2}\int_0^x e^{t^2}dt = \tfrac{\sqrt\pi}{2}e^{-x^2}\operatorname{erfi}(x)`.

    Bounded (:math:`|D| < 0.55`), where :math:`\operatorname{erfi}` overflows: :func:`stable_form`
    writes :math:`\operatorname{erfi}(x) = \tfrac{2}{\sqrt\pi}e^{x^2}D(x)` and merges
    :math:`e^{x^2}` into the kernel's other exponentials.  Abramowitz & Stegun 7.1.17.
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.Integer(0)
        return None

    def fdiff(self, argindex=1):
        return 1 - 2 * self.args[0] * dawsn(self.args[0])

    def _eval_rewrite_as_erfi(self, x, **kwargs):
        return sp.sqrt(sp.pi) / 2 * sp.exp(-(x**2)) * sp.erfi(x)

    def _eval_evalf(self, prec):
        return self.rewrite(sp.erfi)._eval_evalf(prec)

    def _latex(self, printer):
        return rf"\operatorname{{D}}\left({printer._print(self.args[0])}\right)"


@functools.lru_cache(maxsize=256)  # SymPy's replace and expand took 9-13 ms per theory point for relu2, relu3
def stable_form(expr: sp.Expr) -> sp.Expr:
    r"""``asin(a)`` as ``atan2(a, sqrt(max(1 - a², 0)))``, :math:`\sqrt{q_1q_2-c^2}` clamped at 0,
    and ``erfi`` through Dawson's integral (:class:`dawsn`).

    Equal where both are defined; the emitted kernel stays finite when rounding pushes
    :math:`|c|` a hair past :math:`\sqrt{q_1q_2}` (collinear neurons, the diagonal), and
    :math:`e^{-q_1/2}\operatorname{erfi}(c/\sqrt{2q_2})` (cos against ReLU) becomes
    :math:`\tfrac{2}{\sqrt\pi}e^{c^2/(2q_2)-q_1/2}D(c/\sqrt{2q_2})`, whose exponent is :math:`\le 0`.
    """
    def _atan2(arg):
        num, den = sp.fraction(sp.together(arg))
        if den != 1 and den.is_positive:  # asin(N/D) = atan2(N, sqrt(D² - N²)): no division
            return sp.atan2(num, sp.sqrt(sp.Max(sp.expand(den**2 - num**2), 0)))
        return sp.atan2(arg, sp.sqrt(sp.Max(1 - arg**2, 0)))

    expr = expr.replace(sp.asin, _atan2)
    if expr.has(sp.erfi):
        expr = expr.replace(sp.erfi, lambda z: 2 / sp.sqrt(sp.pi) * sp.exp(z**2) * dawsn(z))
        expr = sp.powsimp(sp.expand(expr), combine="exp")
    gap = Q1 * Q2 - C**2
    return expr.replace(lambda a: a.is_Pow and sp.expand(a.base - gap) == 0,
                        lambda a: sp.Max(a.base, 0) ** a.exp)  # fmt: skip


def gelu_kernel() -> sp.Expr:
    r"""Centred :math:`\mathbb E[\mathrm{gelu}(u)\mathrm{gelu}(v)]`, :math:`\mathrm{gelu}(x) = x\Phi(x)`.

    With :math:`\Phi(x) = P(g \le x)` for an independent :math:`g\sim N(0,1)`, the kernel is
    :math:`\mathbb E[uv\,\mathbf 1\{A>0\}\mathbf 1\{B>0\}]` for :math:`A = u-g_1`,
    :math:`B = v-g_2` (variances :math:`a = 1+q_1`, :math:`b = 1+q_2`, covariance :math:`c`,
    :math:`\Delta = ab-c^2`).  Stein's lemma applied twice gives

    .. math::
        \frac c4 + \frac{c}{2\pi}\arcsin\frac{c}{\sqrt{ab}} + \frac{q_1q_2 + c^2}{2\pi\sqrt\Delta}
        - \frac{c^2}{2\pi\sqrt\Delta}\Big(\frac{q_1}{a} + \frac{q_2}{b}\Big).

    :func:`verify_price` checks it against Price's theorem (:math:`K(0)`, :math:`K'(0)` and
    :math:`K'' = \mathbb E[\sigma''(u)\sigma''(v)]` from :func:`mgf_kernel`), since SymPy's
    integrator does not close :func:`price_kernel`'s integral for GELU.
    """
    a, b = 1 + Q1, 1 + Q2
    delta = a * b - C**2
    return (C / 4 + C * sp.asin(C / sp.sqrt(a * b)) / (2 * sp.pi)
            + (Q1 * Q2 + C**2) / (2 * sp.pi * sp.sqrt(delta))
            - C**2 * (Q1 / a + Q2 / b) / (2 * sp.pi * sp.sqrt(delta)))  # fmt: skip


def gelu_relu_kernel() -> sp.Expr:
    r"""Centred :math:`\mathbb E[\mathrm{gelu}(u)\,\mathrm{ReLU}(v)]`: GELU against the ReLU teacher.

    Split :math:`\mathrm{gelu}(x) = \frac x2 + g(x)`, :math:`g(x) = \frac x2\operatorname{erf}(x/\sqrt2)`
    (even), and :math:`\mathrm{ReLU}(v) = \frac v2 + \frac{|v|}2`: the cross terms vanish by
    parity or by Stein (:math:`\mathbb E g' = 0`), leaving :math:`\frac c4 + \frac12\mathbb E[g(u)|v|]`.
    Price's theorem in :math:`c`: :math:`\partial_c^2\mathbb E[g(u)|v|] = 2p_v(0)\,\mathbb E[g''(u)\mid v=0]`
    with :math:`g''(x) = (2-x^2)\varphi(x)` and :math:`u \mid v=0 \sim N(0, q_1-c^2/q_2)`, which
    integrates, with :math:`D = q_2(1+q_1)`, to

    .. math::
        \frac c4 + \frac{q_1\sqrt{q_2}}{2\pi\sqrt{1+q_1}}
        + \frac1{2\pi}\Big(c\arcsin\frac c{\sqrt D} + \sqrt{D-c^2} - \sqrt D\Big)
        + \frac{q_2}{2\pi}\Big(\frac1{\sqrt D} - \frac{\sqrt{D-c^2}}{D}\Big).

    Checked against nested mpmath quadrature in the tests.
    """
    D = Q2 * (1 + Q1)
    root = sp.sqrt(D - C**2)
    return (C / 4 + Q1 * sp.sqrt(Q2) / (2 * sp.pi * sp.sqrt(1 + Q1))
            + (C * sp.asin(C / sp.sqrt(D)) + root - sp.sqrt(D)) / (2 * sp.pi)
            + Q2 * (1 / sp.sqrt(D) - root / D) / (2 * sp.pi))  # fmt: skip


def verify_price(kernel: sp.Expr, first: sp.Expr, second: sp.Expr, order: int, *, points: int = 4,
                 dps: int = 50) -> float:  # fmt: skip
    r"""Largest residual of Price's theorem for a centred ``kernel`` of ``(first, second)``.

    Checks :math:`\partial_c^j K|_{c=0} = \mathbb E f^{(j)}\,\mathbb E g^{(j)}` for :math:`j <`
    ``order`` and :math:`\partial_c^{\text{order}} K = \mathbb E[f^{(r)}(u)g^{(r)}(v)]`, both
    symbolic, evaluated at ``points`` rational :math:`(q_1, q_2, c)` with ``dps`` digits; a
    residual near :math:`10^{-\text{dps}}` means the kernel solves Price's equation with the
    right initial values, which determines it.
    """
    d1, d2 = _normalised(first), _normalised(second)
    checks = []
    for j in range(order):
        checks.append(sp.diff(kernel, C, j).subs(C, 0) - _centred_mean(d1, Q1) * _centred_mean(d2, Q2))
        d1, d2 = _derivative(d1), _derivative(d2)
    checks.append(sp.diff(kernel, C, order) - _price_integrand(d1, d2).subs(_T, C))
    worst = 0.0
    grid = [(sp.Rational(1, 2), sp.Rational(3, 2), sp.Rational(1, 3)), (2, 1, sp.Rational(-7, 5)),
            (sp.Rational(3, 4), sp.Rational(3, 4), sp.Rational(37, 50)), (3, 5, sp.Rational(38, 10))]
    for q1, q2, c in grid[:points]:
        for check in checks:
            value = sp.N(check.subs({Q1: q1, Q2: q2, C: c}), dps)
            worst = max(worst, abs(float(value)))
    return worst


def _same(expr: sp.Expr, reference: sp.Expr) -> bool:
    """Structural equality after expansion (cheap: no ``simplify``, which took seconds on tanh)."""
    return expr == reference or sp.expand(expr - reference) == 0


KERNEL_BUDGET = 10.0
"""CPU seconds a kernel's symbolic derivation may take (:func:`theory.budget.within_budget`);
the registered activations need at most about 4 (ReLU⁴), while SymPy's real part of a Gaussian
bump times sin or cos never returned.  Past it the numeric rules apply."""


class KernelDerivation(NamedTuple):
    """How a bivariate kernel is computed: ``method`` ``"exact"`` (``kernel`` closed) or ``"numeric"``."""

    kernel: sp.Expr | None
    method: str
    how: str


@functools.lru_cache(maxsize=64)
def kernel_derivation(first: sp.Expr, second: sp.Expr, centred: bool) -> KernelDerivation:
    r"""Closed :math:`\mathbb E[f(u)g(v)]` within :data:`KERNEL_BUDGET`, or the numeric rule's verdict.

    In this order: polynomials by Isserlis (any means); sums of :math:`x^ne^{\gamma x^2+\beta x}`
    (sin, cos, exp, the Gaussian bump) by the bivariate MGF (any means); with zero means
    (``centred``), Price's theorem (ReLU, Abs, sign, step, ReLU**p, erf) and GELU's
    Stein-lemma form.
    """
    try:
        derived = within_budget(KERNEL_BUDGET, lambda: _derive(first, second, centred))
    except BudgetExceeded:
        why = f"the symbolic derivation ran past its budget of {KERNEL_BUDGET:g} CPU seconds"
        return KernelDerivation(None, "numeric", f"numeric rule: {why}")
    if derived is None:
        return KernelDerivation(None, "numeric", "numeric rule: no closed form here")
    return KernelDerivation(derived[0], "exact", derived[1])


def derive_kernel(first: sp.Expr, second: sp.Expr, centred: bool) -> tuple[sp.Expr, str] | None:
    """``(kernel, how)`` from :func:`kernel_derivation`, or ``None`` when the numeric rules apply."""
    derived = kernel_derivation(first, second, centred)
    return None if derived.kernel is None else (derived.kernel, derived.how)


def _derive(first: sp.Expr, second: sp.Expr, centred: bool) -> tuple[sp.Expr, str] | None:
    if first.is_polynomial(X) and second.is_polynomial(X):
        return polynomial_kernel(first, second), "Isserlis' theorem (moments of the joint MGF)"
    mgf = mgf_kernel(first, second)
    if mgf is not None:
        return mgf, "bivariate Gaussian MGF (completing the square; sin/cos by Euler)"
    if not centred:
        return None
    if _same(first, _RELU) and _same(second, _RELU):  # the paper's hot path: no SymPy at run time
        return relu_kernel(), "Price's theorem at order 2: the arc-cosine kernel of Cho & Saul (2009)"
    if _same(first, _GELU) and _same(second, _RELU):
        return gelu_relu_kernel(), "parity and Stein's lemma, then Price's theorem on E[g(u)|v|] (g = x·erf(x/√2)/2)"
    if _same(first, _GELU) and _same(second, _GELU):
        return gelu_kernel(), "Stein's lemma on x·Φ(x) = E_g[x·1{g ≤ x}], checked by Price's theorem"
    if _same(second, sp.Max(0, X)) and _same(first.subs(X, -X), -first):
        slope = _centred_mean(_derivative(_normalised(first)), Q1)
        if slope is not None:
            return C * slope / 2, "Stein's lemma on ReLU(v) = (v + |v|)/2 against an odd σ: E[σ(u)|v|] = 0"
    price = price_kernel(first, second)
    if price is not None:
        kernel, order = price
        return kernel, f"Price's theorem at order {order} (∂_c^{order} K = E[σ^({order})σ^({order})]), integrated by SymPy"
    return None


RHO_ANGULAR = sp.Rational(-9, 10)
r"""Below this correlation :math:`\rho = c/\sqrt{q_1q_2}` the ReLU**p kernels (p ≥ 2) switch from
the Price form, whose terms cancel as :math:`\rho\to-1` (ReLU⁴ at :math:`\rho = -0.999`: 2e-2
relative error), to :func:`angular_relu_kernel`, a sum of positive terms."""
ANGULAR_NODES = 16
"""Gauss–Legendre nodes of :func:`angular_relu_kernel` (the integrand is a trigonometric
polynomial on an interval shorter than 0.46 where it is used: 16 nodes reach double precision)."""


def angular_relu_kernel(p: int, q: int, nodes: int = ANGULAR_NODES) -> sp.Expr:
    r"""Centred :math:`\mathbb E[(u)_+^p(v)_+^q]` by Gauss–Legendre quadrature of its angular integral.

    With :math:`w \sim N(0, I_2)` in polar form and :math:`\lambda = \pi - \vartheta` the angle
    between the two half-planes where both factors are positive (Cho & Saul 2009, eq. 4):

    .. math::
        \mathbb E[(u)_+^p(v)_+^q] = q_1^{p/2}q_2^{q/2}\,\frac{2^{(p+q)/2}\,\Gamma(\tfrac{p+q}2+1)}{2\pi}
        \int_0^\lambda \sin^p t\,\sin^q(\lambda - t)\,dt,
        \qquad \lambda = \operatorname{atan2}\big(\sqrt{q_1q_2 - c^2}, -c\big).

    Every term is positive, so the relative accuracy holds as :math:`\rho\to-1`
    (:math:`\lambda\to0`), where the Price form cancels.  Exact for :math:`p = q = 1`
    (:func:`relu_kernel`) up to the quadrature error.
    """
    from sympy.integrals.quadrature import gauss_legendre  # SymPy's node table, loaded when used

    lam = sp.atan2(sp.sqrt(sp.Max(Q1 * Q2 - C**2, 0)), -C)
    radial = 2 ** sp.Rational(p + q, 2) * sp.gamma(sp.Rational(p + q, 2) + 1) / (2 * sp.pi)
    t, w = gauss_legendre(nodes, 30)
    angular = sum((w_k * sp.sin(lam * (1 + t_k) / 2) ** p * sp.sin(lam * (1 - t_k) / 2) ** q
                   for t_k, w_k in zip(t, w, strict=True)), sp.Integer(0))  # fmt: skip
    return Q1 ** sp.Rational(p, 2) * Q2 ** sp.Rational(q, 2) * radial * lam / 2 * angular


def _relu_power(expr: sp.Expr) -> int | None:
    base, exponent = expr.as_base_exp()
    if _same(base, _RELU) and exponent.is_Integer and exponent >= 1:
        return int(exponent)
    return None


def _anticollinear_stable(kernel: sp.Expr, first: sp.Expr, second: sp.Expr, centred: bool) -> sp.Expr:
    """The ReLU**p kernels with :func:`angular_relu_kernel` below :data:`RHO_ANGULAR`."""
    powers = (_relu_power(first), _relu_power(second))
    if not centred or None in powers or max(powers) < 2:
        return kernel
    return sp.Piecewise((kernel, C >= RHO_ANGULAR * sp.sqrt(Q1 * Q2)), (angular_relu_kernel(*powers), True))


@functools.lru_cache(maxsize=64)
def _exact_diagonal(kernel: sp.Expr, expr: sp.Expr, centred: bool) -> sp.Expr:
    r"""``kernel`` with its diagonal (:math:`c = q_1 = q_2`, equal means) the exact :math:`\mathbb E\sigma^2`.

    Only where the kernel takes :math:`\sqrt{q_1q_2 - c^2}`: on the diagonal that is 0, but under
    ``jit`` XLA may fuse ``q*q - c**2`` into a fused multiply-add that leaves ~2e-18, and the
    square root amplifies it (sign, step: 3e-9).  The second moment has no such term.
    """
    if not kernel.has(sp.Max):
        return kernel
    mean = sp.Integer(0) if centred else M1
    second, _ = expectation(expr**2, mean, sp.sqrt(Q1), kinks_of(expr)[0])
    if second is None:
        return kernel
    same = sp.And(sp.Eq(C, Q1), sp.Eq(Q1, Q2), *(() if centred else (sp.Eq(M1, M2),)))
    return sp.Piecewise((stable_form(second), same), (kernel, True))


def closed_kernel(activation: Activation, *, centred: bool) -> sp.Expr | None:
    r"""Exact :math:`\mathbb E[\sigma(u)\sigma(v)]` in :data:`M1, M2, Q1, Q2, C`, or ``None``.

    ``centred=True`` promises :math:`m_1 = m_2 = 0` (the expression may then omit the means).
    Exact for any means: polynomials, sin, cos, exp, the Gaussian bump (and sums of
    :math:`x^ne^{\gamma x^2+\beta x}`); centred only: ReLU, Abs, sign, step, ReLU**p, erf, GELU.
    See :func:`derive_kernel`; the result is in :func:`stable_form`, with the ReLU**p kernels
    switched to :func:`angular_relu_kernel` below :data:`RHO_ANGULAR` and the diagonal from the
    exact second moment (:func:`_exact_diagonal`).
    """
    expr = activation.expr
    derived = derive_kernel(expr, expr, centred)
    if derived is None:
        return None
    kernel = _anticollinear_stable(stable_form(derived[0]), expr, expr, centred)
    return _exact_diagonal(kernel, expr, centred)


def kernel_method(activation: Activation, *, centred: bool) -> str:
    """How :func:`closed_kernel` is obtained (one line); ``"numeric rule: ..."`` when it has no closed form."""
    return kernel_derivation(activation.expr, activation.expr, centred).how


def closed_cross_kernel(activation: Activation, teacher: sp.Expr, *, centred: bool) -> sp.Expr | None:
    r"""Exact :math:`\mathbb E[\sigma(u)\,\sigma_*(v)]` for a teacher expression in :data:`X`, or ``None``."""
    derived = derive_kernel(activation.expr, teacher, centred)
    if derived is None:
        return None
    return _anticollinear_stable(stable_form(derived[0]), activation.expr, teacher, centred)


@functools.lru_cache(maxsize=64)
def _closed_mean(expr: sp.Expr) -> sp.Expr | None:
    kinks, periodic = kinks_of(expr)
    if periodic:
        return None
    value, _ = expectation(expr, M1, sp.sqrt(Q1), kinks)
    return value


def closed_mean(activation: Activation) -> sp.Expr | None:
    r""":math:`\mathbb E\,\sigma(u)`, :math:`u\sim\mathcal N(m_1, q_1)`, in :data:`M1, Q1`, or ``None``.

    From the 1-D engine :func:`theory.gaussian.expectation` (truncated moments between kinks,
    Stein's lemma, erf smoothing, the Gaussian MGF): e.g. ReLU
    :math:`m\Phi(m/\sqrt q) + \sqrt q\,\varphi(m/\sqrt q)`, erf :math:`\operatorname{erf}(m/\sqrt{1+2q})`.
    """
    return _closed_mean(activation.expr)


def relu_second_moment() -> sp.Expr:
    r""":math:`\mathbb E[(u)_+^2] = (m^2+q)\Phi(m/\sqrt q) + m\sqrt q\,\varphi(m/\sqrt q)`, in :data:`M1, Q1`."""
    z = M1 / sp.sqrt(Q1)
    return (M1**2 + Q1) * normal_cdf(z) + M1 * sp.sqrt(Q1) * normal_pdf(z)


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
    quadrature (one 1-D quadrature instead of a nested one; about 20x faster at 16 digits).
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
