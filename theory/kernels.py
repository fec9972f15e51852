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
from typing import NamedTuple

import sympy as sp
from onestep_gm.theory.activations import Activation, X, kinks_of
from onestep_gm.theory.bivariate import (
    M1,
    M2,
    Q1,
    Q2,
    C,
    centred_mean,
    distributional_derivative,
    mgf_kernel,
    normalised,
    polynomial_kernel,
    price_kernel,
    verify_price,
)
from onestep_gm.theory.budget import BudgetExceeded, within_budget
from onestep_gm.theory.gaussian import expectation, normal_cdf, normal_pdf
from onestep_gm.theory.kernel_reference import bivariate_mp, mean_mp

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
    "mgf_kernel",
    "price_kernel",
    "verify_price",
]

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
        slope = centred_mean(distributional_derivative(normalised(first)), Q1)
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
    exact second moment (:func:`_exact_diagonal`).  ``None`` for a numeric activation (a JAX
    callable): the numeric rule applies.
    """
    if not activation.symbolic:
        return None
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
    if not activation.symbolic:  # a JAX callable: quadrature only
        return None
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
    if not activation.symbolic:  # a JAX callable: quadrature only
        return None
    return _closed_mean(activation.expr)


def relu_second_moment() -> sp.Expr:
    r""":math:`\mathbb E[(u)_+^2] = (m^2+q)\Phi(m/\sqrt q) + m\sqrt q\,\varphi(m/\sqrt q)`, in :data:`M1, Q1`."""
    z = M1 / sp.sqrt(Q1)
    return (M1**2 + Q1) * normal_cdf(z) + M1 * sp.sqrt(Q1) * normal_pdf(z)


