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

Closed forms are derived, never typed in, by the Gaussian-expectation engine
:func:`theory.gaussian.expectation` at mean :math:`a` and standard deviation :math:`s`:
piecewise polynomials (``relu``, ``leaky_relu``, ``Abs``, ``Max``/``Min``/``Heaviside``
combinations) by truncated Gaussian moments between the kinks; sums of
:math:`x^n e^{\alpha x^2+\beta x}\prod\mathrm{erf}(ux+v)` (``erf``, ``gelu``, ``exp``, ``sin``,
``cos``, the Gaussian bump) by completing the square, erf smoothing and Stein's lemma.
Anything else (``tanh``, ``sigmoid``, ``softplus``, ``silu``, :math:`M_2` of ``erf`` and
``gelu``) has no closed form here: :func:`moments_mpmath` and
:func:`onestep_gm.numerics.codegen.jax_moments` integrate it numerically.

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
    get_activation,
    polynomial_degree,
    require_finite_moments,
    require_symbolic,
)
from onestep_gm.theory.gaussian import IDENTITIES, expectation

__all__ = [
    "A",
    "S",
    "ConditionalMoments",
    "IDENTITIES",
    "conditional_moments",
    "moments_mpmath",
    "normal_notation",
]

A = sp.Symbol("a", real=True)
"""Conditional mean :math:`a` of the pre-activation."""
S = sp.Symbol("s", positive=True)
"""Conditional standard deviation :math:`s > 0` of the pre-activation."""

_MOMENTS = ("M0", "M1", "M2")


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
    """Keys of :data:`theory.gaussian.IDENTITIES`: how the closed forms were obtained."""

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


def _tidy(expr: sp.Expr) -> sp.Expr:
    """Expanded, collected on the erf/exp atoms; coefficients and atom arguments factored."""
    expanded = sp.expand(expr, power_exp=False)
    atoms = sorted(expanded.atoms(sp.erf, sp.exp), key=sp.default_sort_key)
    collected = sp.collect(expanded, atoms, sp.factor) if atoms else sp.factor(expanded)
    return collected.replace(
        lambda e: isinstance(e, (sp.erf, sp.exp)), lambda e: e.func(sp.factor(e.args[0]))
    )


def _derive(activation: Activation):
    """``(M0, M1, M2, identities)`` from :func:`theory.gaussian.expectation`; :math:`M_1 = \\partial_a M_0`."""
    if not activation.kinks_complete:
        return None, None, None, ()
    m0, how0 = expectation(activation.expr, A, S, activation.kinks)
    m1 = None if m0 is None else sp.diff(m0, A)
    m2, how2 = expectation(activation.expr**2, A, S, activation.kinks)
    return m0, m1, m2, tuple(sorted(set(how0) | set(how2)))


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
    act = require_symbolic(
        get_activation(activation), "closed-form conditional moments (jax_moments gives them by quadrature)"
    )
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
    :math:`\mathbb E[g\,\sigma(a+sg)]/s`.  Slow (adaptive quadrature at ``dps`` digits for
    each point); use :func:`onestep_gm.numerics.codegen.jax_moments` for arrays.

    >>> [mp.nstr(m, 12) for m in moments_mpmath("relu", 0, 1)]
    ['0.398942280401', '0.5', '0.5']
    """
    act = require_symbolic(get_activation(activation), "the mpmath reference moments")
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
