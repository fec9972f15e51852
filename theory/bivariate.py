r"""How closed bivariate Gaussian kernels :math:`\mathbb E[f(u)g(v)]` are derived: three routes.

For :math:`(u, v)` jointly Gaussian with means :math:`(m_1, m_2)`, variances :math:`(q_1, q_2)` and
covariance :math:`c` (the symbols :data:`M1, M2, Q1, Q2, C`):

* **Isserlis** (:func:`polynomial_kernel`, polynomials, any means): mixed moments from the joint
  moment generating function;
* **the bivariate MGF** (:func:`mgf_kernel`, any means): sums of :math:`x^ne^{\gamma x^2+\beta x}`
  (sin, cos by Euler, exp, the Gaussian bump) by completing the square;
* **Price's theorem** (:func:`price_kernel`, zero means, Price 1958):
  :math:`\partial_c^r K = \mathbb E[f^{(r)}(u)g^{(r)}(v)]` with distributional derivatives,
  integrated by SymPy and checked by differentiation; :func:`verify_price` checks any kernel
  against the equation.

:mod:`theory.kernels` picks the route per pair and emits the result.
"""

from __future__ import annotations

import functools

import sympy as sp
from onestep_gm.theory.activations import X, kinks_of
from onestep_gm.theory.gaussian import (
    NoClosedForm,
    expectation,
    exponential_form,
    real_part,
    term_atoms,
)

__all__ = [
    "C",
    "M1",
    "M2",
    "MAX_PRICE_ORDER",
    "Q1",
    "Q2",
    "centred_mean",
    "distributional_derivative",
    "mgf_kernel",
    "normalised",
    "polynomial_kernel",
    "price_integrand",
    "price_kernel",
    "verify_price",
]

_T1, _T2 = sp.symbols("t1 t2", real=True)
M1, M2 = sp.symbols("M1 M2", real=True)
Q1, Q2 = sp.symbols("Q1 Q2", positive=True)
C = sp.Symbol("C", real=True)


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


def normalised(expr: sp.Expr) -> sp.Expr:
    r""":math:`\sigma` with ``Max``/``Abs``/``sign`` as ``Heaviside``, ready for distributional derivatives."""
    out = sp.expand(expr.rewrite(sp.Heaviside))
    return out.replace(lambda a: a.is_Pow and isinstance(a.base, sp.Heaviside) and a.exp.is_Integer
                       and a.exp > 0, lambda a: a.base)  # fmt: skip


def distributional_derivative(expr: sp.Expr) -> sp.Expr:
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
    :math:`u'\sim N(0, q_u - t^2/q_v)`, the 1-D mean by :func:`centred_mean`, put over one
    denominator (so that SymPy's integral in :math:`t` sees the simplest integrand).
    """
    mean = centred_mean(smooth, q_smooth - _T**2 / q_delta)
    if mean is None:
        return None
    return sp.factor(sp.together(weight * mean / sp.sqrt(2 * sp.pi * q_delta)))


def centred_mean(expr: sp.Expr, q: sp.Expr) -> sp.Expr | None:
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


def price_integrand(d1: sp.Expr, d2: sp.Expr) -> sp.Expr | None:
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
    d1, d2 = normalised(first), normalised(second)
    base = sp.Integer(0)
    for r in range(1, MAX_PRICE_ORDER + 1):
        mean_1, mean_2 = centred_mean(d1, Q1), centred_mean(d2, Q2)
        if mean_1 is None or mean_2 is None:
            return None
        base += C ** (r - 1) / sp.factorial(r - 1) * mean_1 * mean_2
        d1, d2 = distributional_derivative(d1), distributional_derivative(d2)
        if d1 == 0 or d2 == 0:  # a polynomial of degree r - 1: the Taylor sum is the kernel
            return sp.simplify(base), r
        inner = price_integrand(d1, d2)
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


def verify_price(kernel: sp.Expr, first: sp.Expr, second: sp.Expr, order: int, *, points: int = 4,
                 dps: int = 50) -> float:  # fmt: skip
    r"""Largest residual of Price's theorem for a centred ``kernel`` of ``(first, second)``.

    Checks :math:`\partial_c^j K|_{c=0} = \mathbb E f^{(j)}\,\mathbb E g^{(j)}` for :math:`j <`
    ``order`` and :math:`\partial_c^{\text{order}} K = \mathbb E[f^{(r)}(u)g^{(r)}(v)]`, both
    symbolic, evaluated at ``points`` rational :math:`(q_1, q_2, c)` with ``dps`` digits; a
    residual near :math:`10^{-\text{dps}}` means the kernel solves Price's equation with the
    right initial values, which determines it.
    """
    d1, d2 = normalised(first), normalised(second)
    checks = []
    for j in range(order):
        checks.append(sp.diff(kernel, C, j).subs(C, 0) - centred_mean(d1, Q1) * centred_mean(d2, Q2))
        d1, d2 = distributional_derivative(d1), distributional_derivative(d2)
    checks.append(sp.diff(kernel, C, order) - price_integrand(d1, d2).subs(_T, C))
    worst = 0.0
    grid = [(sp.Rational(1, 2), sp.Rational(3, 2), sp.Rational(1, 3)), (2, 1, sp.Rational(-7, 5)),
            (sp.Rational(3, 4), sp.Rational(3, 4), sp.Rational(37, 50)), (3, 5, sp.Rational(38, 10))]
    for q1, q2, c in grid[:points]:
        for check in checks:
            value = sp.N(check.subs({Q1: q1, Q2: q2, C: c}), dps)
            worst = max(worst, abs(float(value)))
    return worst
