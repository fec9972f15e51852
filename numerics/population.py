r"""Exact population moments of the network's features, per mixture component.

Conditional on the trained first layer :math:`\hat F\in\mathbb R^{k\times n}`, the readout is
ridge regression on :math:`\phi(x) = \sigma(\hat Fx)/\sqrt k` with :math:`m` samples,
:math:`\hat w = (\Phi\Phi^\top + \lambda m I)^{-1}\Phi y`.  Its errors are predicted by the
deterministic equivalent of ridge regression, which needs only

.. math::
    \Omega = \mathbb E[\phi\phi^\top],\qquad u = \mathbb E[\phi\,y],\qquad s_y = \mathbb E[y^2].

**Moments** (:func:`population_moments`).  Given the component :math:`c`, :math:`a = \hat Fx` is
Gaussian with mean :math:`\hat F\mu_c` and covariance
:math:`C_c = \hat F\hat F^\top + (\hat F\Gamma_c^\top)\operatorname{diag}(\theta_c)(\hat F\Gamma_c^\top)^\top`
(no :math:`n\times n` matrix is formed), so every entry is a bivariate Gaussian expectation:
:math:`\Omega = \sum_c\rho_c\,\mathbb E_c[\sigma(a_i)\sigma(a_j)]/k`,
:math:`u_i = \sum_c\rho_c\sum_r c_r\,\mathbb E_c[\sigma(a_i)\,\sigma^*_r(\xi_r^\top x)]/\sqrt k`
(regression with the teacher :math:`y = \sum_r c_r\sigma^*_r(\xi_r^\top x) + \delta\varepsilon`;
each :math:`(a_i,\xi_r^\top x)` is bivariate Gaussian) or :math:`\sum_c\rho_c y_c\,\mathbb E_c\sigma(a_i)/\sqrt k`
(classification, :math:`y_0 = +1`, :math:`y_{c\ge1} = -1`), and
:math:`s_y = \sum_c\rho_c\sum_{r,r'}c_rc_{r'}\mathbb E_c[\sigma^*_r(\xi_r^\top x)\sigma^*_{r'}(\xi_{r'}^\top x)]
+ \delta^2` (bivariate between teacher pairs, the exact second moment on the diagonal).
The teacher's cross terms take the same rules as :math:`\Omega`: closed where the pair's kernel
is closed, the Mehler series or the nested pair rule otherwise.
Rules:

* ``"closed"``: the derived kernels of :mod:`theory.kernels`, compiled to JAX: for any means
  polynomials (Isserlis) and sin, cos, exp, the Gaussian bump (bivariate MGF); with zero means
  also ReLU, Abs, sign, step, ReLU**p, erf (Price's theorem) and GELU (Stein's lemma);
* ``"mehler"``: for pairs with :math:`|\rho_{ij}|\le 0.9`, the Mehler expansion
  :math:`\mathbb E[\sigma(a_i)\sigma(a_j)] = \sum_p \rho_{ij}^p\,c_p(i)c_p(j)` with per-neuron normalised
  Hermite coefficients :math:`c_p(i) = \mathbb E[\sigma(\mu_i + s_i z)\mathrm{He}_p(z)]/\sqrt{p!}`
  (1-D Gauss–Legendre on panels of :math:`[-12, 12]` cut at the kinks, so kinked
  activations are integrated to ~1e-15), truncated where :math:`\rho_{\max}^{P}<10^{-13}`;
  for :math:`|\rho_{ij}| > 0.9` (slow Mehler convergence for kinked :math:`\sigma`) a nested
  1-D × 1-D Gauss–Legendre rule with panels at the kink and at its smoothed image; the
  diagonal from 1-D quadrature.  Measured error against mpmath: see ``docs/theory-curves.md``;
* ``"auto"``: ``"closed"`` where it applies to every component, ``"mehler"`` otherwise.
"""


from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.precision import require_x64, scoped_x64
from onestep_gm.numerics.quadrature import hermite_projections, panel_rule
from onestep_gm.numerics.teacher import RELU_TEACHER
from onestep_gm.theory.activations import Activation, get_activation

Array = jax.Array
Elementwise = Callable[[Array], Array]

RULES = ("auto", "closed", "mehler")

RHO_SWITCH = 0.9
"""Pairs with :math:`|\\rho|` above this go to the nested 1-D×1-D rule instead of Mehler."""
MEHLER_TOL = 1e-13
MAX_ORDER = 300
PAIR_CHUNK = 256


class ComponentLaw(NamedTuple):
    """Joint Gaussian law of the pre-activations (and the teacher's argument) in one component."""

    mean: Array  # (k,) F_hat mu_c
    cov: Array  # (k, k) C_c
    t_mean: Array  # () xi^T mu_c; (R,) for a multi-index teacher
    t_var: Array  # () xi^T Sigma_c xi; (R, R) xi_r^T Sigma_c xi_r' for a multi-index teacher
    t_cov: Array  # (k,) F_hat Sigma_c xi; (R, k) for a multi-index teacher


class TeacherIndex(NamedTuple):
    r"""One direction of the teacher in one component: :math:`t_r = \xi_r^\top x`."""

    activation: Activation  # sigma*_r
    weight: float  # c_r
    t_mean: Array  # () xi_r^T mu_c
    t_var: Array  # () xi_r^T Sigma_c xi_r
    t_cov: Array  # (k,) F_hat Sigma_c xi_r


def teacher_indices(law: ComponentLaw, teacher) -> list[TeacherIndex]:
    """The teacher's directions in one component's law, one :class:`TeacherIndex` per
    :math:`r` (``teacher``: the mixture's :class:`~onestep_gm.numerics.teacher.Teacher`)."""
    pairs = zip(teacher.activations, teacher.weights, strict=True)
    if law.t_mean.ndim == 0:
        (act, w), = pairs
        return [TeacherIndex(act, w, law.t_mean, law.t_var, law.t_cov)]
    return [TeacherIndex(act, w, law.t_mean[r], law.t_var[r, r], law.t_cov[r]) for r, (act, w) in enumerate(pairs)]


def _teacher_variances(law: ComponentLaw) -> Array:
    r""":math:`\operatorname{Var}_c(\xi_r^\top x)`: ``()`` for one direction, ``(R,)`` for several."""
    return law.t_var if law.t_var.ndim == 0 else jnp.diag(law.t_var)


# ---------------------------------------------------------------------------------------------
# Gaussian laws per component
# ---------------------------------------------------------------------------------------------


@jax.jit
def component_laws(F_hat: Array, mixture) -> list[ComponentLaw]:
    r"""Mean and covariance of :math:`a=\hat Fx` (and of :math:`t=\xi^\top x`) in every component.

    :math:`C_c = \hat F\hat F^\top + P_c\operatorname{diag}(\theta_c)P_c^\top` with
    :math:`P_c = \hat F\Gamma_c^\top` (k × d): :math:`O(k^2 n)` once plus :math:`O(k^2 d)` per component.
    """
    F_hat = jnp.asarray(F_hat, jnp.float64)
    gram = F_hat @ F_hat.T
    xi = jnp.asarray(mixture.xi, jnp.float64)
    laws = []
    if xi.ndim == 2:  # a multi-index teacher: rows xi_r
        F_xi = xi @ F_hat.T  # (R, k)
        for c in range(mixture.weights.shape[0]):
            spikes, theta = mixture.spikes[c], mixture.sizes[c]
            P = F_hat @ spikes.T
            g_xi = spikes @ xi.T  # (d, R)
            laws.append(
                ComponentLaw(
                    mean=F_hat @ mixture.means[c],
                    cov=gram + (P * theta) @ P.T,
                    t_mean=xi @ mixture.means[c],
                    t_var=xi @ xi.T + g_xi.T @ (theta[:, None] * g_xi),
                    t_cov=F_xi + (P @ (theta[:, None] * g_xi)).T,
                )
            )
        return laws
    F_xi = F_hat @ xi
    for c in range(mixture.weights.shape[0]):
        spikes, theta = mixture.spikes[c], mixture.sizes[c]
        P = F_hat @ spikes.T
        g_xi = spikes @ xi
        laws.append(
            ComponentLaw(
                mean=F_hat @ mixture.means[c],
                cov=gram + (P * theta) @ P.T,
                t_mean=mixture.means[c] @ xi,
                t_var=xi @ xi + jnp.sum(theta * g_xi**2),
                t_cov=F_xi + P @ (theta * g_xi),
            )
        )
    return laws


# ---------------------------------------------------------------------------------------------
# Quadrature rules
# ---------------------------------------------------------------------------------------------


def _cut_points(activation: Activation) -> tuple[float, ...]:
    """Kinks, or 0 (where saturating activations turn) for smooth ones."""
    return tuple(float(k) for k in activation.kinks) or (0.0,)


def _jax_pair(activation: Activation) -> Elementwise:
    # SymPy-derived kernels load when a closed rule is used
    from onestep_gm.numerics.codegen import jax_activation

    return jax_activation(activation)[0]


def _order_nodes(order: int) -> int:
    """Nodes per panel that integrate :math:`\\varphi(z)\\mathrm{He}_p(z)\\sigma` to ~1e-15 for p ≤ order."""
    return 48 + order // 2


@functools.partial(jax.jit, static_argnums=(0, 3))
def hermite_coefficients(
    activation: Activation, mean: Array, std: Array, order: int
) -> Array:
    r"""Normalised Hermite coefficients :math:`c_p = \mathbb E[\sigma(\mu+sz)\mathrm{He}_p(z)]/\sqrt{p!}`.

    Shape ``(order + 1, k)``; one 1-D panel rule per neuron (cut at its kinks), the
    :math:`\mathrm{He}_p/\sqrt{p!}` by the normalised three-term recurrence (no factorials).
    """
    sigma = _jax_pair(activation)
    cuts = jnp.stack([(kink - mean) / std for kink in _cut_points(activation)], axis=-1)
    z, w = panel_rule(cuts, _order_nodes(order))
    weighted = w * sigma(mean[:, None] + std[:, None] * z)
    return hermite_projections(weighted, z, order)


@functools.partial(jax.jit, static_argnums=(0, 1))
def one_d_expectation(activation: Activation, power: int, mean: Array, std: Array) -> Array:
    r""":math:`\mathbb E[\sigma(\mu+sz)^{\text{power}}]` per entry by the kink-cut panel rule."""
    sigma = _jax_pair(activation)
    cuts = jnp.stack([(kink - mean) / std for kink in _cut_points(activation)], axis=-1)
    z, w = panel_rule(cuts, 64)
    return jnp.sum(w * sigma(mean[..., None] + std[..., None] * z) ** power, axis=-1)


def pair_expectation(
    first: Activation,
    second: Activation,
    m1: Array,
    s1: Array,
    m2: Array,
    s2: Array,
    rho: Array,
    *,
    outer_nodes: int = 20,
    inner_nodes: int = 20,
) -> Array:
    r""":math:`\mathbb E[f(u)g(v)]` per pair by a nested 1-D × 1-D Gauss–Legendre rule.

    :math:`u = m_1 + s_1z`, :math:`v = m_2 + s_2(\rho z + \sqrt{1-\rho^2}\,g)`.  The inner
    expectation over :math:`g` is cut at the kinks of ``g``; the outer one over :math:`z` at the
    kinks of ``f`` and at the smoothed kink of the inner function, :math:`z_0 = (k-m_2)/(s_2\rho)`,
    with extra cuts at :math:`z_0 \pm \{1, 8\}\sqrt{1-\rho^2}/|\rho|`, so the rule stays accurate
    as :math:`|\rho|\to 1` (the regime where Mehler converges slowly).  Pairs are processed
    in chunks of :data:`PAIR_CHUNK`.
    """
    return _pair_expectation(first, second, m1, s1, m2, s2, rho, outer_nodes, inner_nodes)


@functools.partial(jax.jit, static_argnums=(0, 1, 7, 8))
def _pair_expectation(first, second, m1, s1, m2, s2, rho, outer_nodes, inner_nodes):
    f, g = _jax_pair(first), _jax_pair(second)
    kinks_f, kinks_g = _cut_points(first), _cut_points(second)
    shape = jnp.broadcast_shapes(m1.shape, s1.shape, m2.shape, s2.shape, rho.shape)
    args = [jnp.broadcast_to(jnp.asarray(a, jnp.float64), shape).reshape(-1) for a in (m1, s1, m2, s2, rho)]
    total = args[0].shape[0]
    pad = (-total) % PAIR_CHUNK
    padded = [jnp.concatenate([a, jnp.full(pad, fill)]) for a, fill in zip(args, (0.0, 1.0, 0.0, 1.0, 0.0), strict=True)]
    chunks = [a.reshape(-1, PAIR_CHUNK) for a in padded]

    def one_chunk(block):
        a1, b1, a2, b2, r = block
        r = jnp.clip(r, -1.0, 1.0)
        rest = jnp.sqrt(jnp.maximum(1.0 - r**2, 0.0))
        r_safe = jnp.where(jnp.abs(r) < 1e-12, 1e-12, r)
        width = jnp.maximum(rest, 1e-300) / jnp.abs(r_safe)
        outer = [(k - a1) / b1 for k in kinks_f]
        for k in kinks_g:
            centre = (k - a2) / (b2 * r_safe)
            outer += [centre + t * width for t in (-8.0, -1.0, 0.0, 1.0, 8.0)]
        z, wz = panel_rule(jnp.stack(outer, axis=-1), outer_nodes)
        shift = a2[:, None] + (b2 * r)[:, None] * z
        scale = (b2 * jnp.maximum(rest, 1e-300))[:, None]
        inner_cuts = jnp.stack([(k - shift) / scale for k in kinks_g], axis=-1)
        gz, wg = panel_rule(inner_cuts, inner_nodes)
        inner = jnp.sum(wg * g(shift[..., None] + scale[..., None] * gz), axis=-1)
        inner = jnp.where(rest[:, None] > 0, inner, g(shift))
        return jnp.sum(wz * f(a1[:, None] + b1[:, None] * z) * inner, axis=-1)

    values = jax.lax.map(one_chunk, tuple(chunks))
    return values.reshape(-1)[:total].reshape(shape)


MEHLER_ORDERS = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, MAX_ORDER)
"""The orders a Mehler series may have.  The order fixes array shapes, so each new order
compiles the trial's moments again (seconds): with every multiple of 8 allowed, 20 small
tanh trials (n = 60) compiled more than two programs.  Steps of about 1.5x keep that to one
or two at little cost; powers of two (32 where 24 suffices at the defaults) made the cold
start slower."""


def _mehler_order(rho_max: float) -> int:
    if rho_max <= 0:
        return 1
    needed = math.ceil(math.log(MEHLER_TOL) / math.log(rho_max))
    return next((order for order in MEHLER_ORDERS if order >= needed), MAX_ORDER)


def numeric_kernel(activation: Activation, mean: Array, cov: Array, summary: LawSummary | None = None) -> Array:
    r""":math:`K_{ij} = \mathbb E[\sigma(a_i)\sigma(a_j)]`, :math:`a\sim\mathcal N(\text{mean},\text{cov})`.

    Mehler for :math:`|\rho_{ij}|\le` :data:`RHO_SWITCH`, :func:`pair_expectation` above it,
    :func:`one_d_expectation` on the diagonal.  ``summary`` (from :func:`summarise`) saves
    two device round trips.
    """
    std, rho, low, off, rho_max, high_pairs = _correlations(cov)
    if summary is not None:
        rho_max, high_pairs = summary.rho_max, summary.high_pairs
    order = _mehler_order(float(rho_max))
    return _mehler_with_pairs(activation, order, mean, std, rho, low, off, _pair_slots(int(high_pairs)))


def _mehler_with_pairs(activation: Activation, order: int, mean, std, rho, low, off, slots: int) -> Array:
    """The Mehler kernel, with the pairs above :data:`RHO_SWITCH` by the pair rule.

    Traceable: their indices are found on the device in ``slots`` places (static; from
    :func:`_pair_slots`); the places left over are dropped.  Should the data hold
    more such pairs than places, the kernel is NaN (never a silently wrong value)."""
    K = _mehler_kernel(activation, order, mean, std, rho, low, off)
    upper = (~low) & off & jnp.triu(jnp.ones(rho.shape, bool), 1)
    if slots:
        k = rho.shape[0]
        i, j = jnp.nonzero(upper, size=slots, fill_value=k)  # unused places: (k, k), dropped below
        a, b = i % k, j % k
        vals = pair_expectation(activation, activation, mean[a], std[a], mean[b], std[b], rho[a, b])
        K = K.at[i, j].set(vals, mode="drop").at[j, i].set(vals, mode="drop")
    return jnp.where(jnp.sum(upper) > slots, jnp.nan, K)


def _pair_slots(pairs: int) -> int:
    """Places for the ``pairs`` (i < j) with :math:`|\\rho| >` :data:`RHO_SWITCH`: 0 for none,
    else a power of two above their count and at least :data:`PAIR_CHUNK`, so that the count,
    which changes from trial to trial, rarely changes the compiled program."""
    return 0 if pairs == 0 else max(PAIR_CHUNK, 1 << int(pairs).bit_length())  # > pairs: one spare


@jax.jit
def _correlations(cov: Array):
    """Standard deviations, correlations (made exactly symmetric: the covariance from
    :func:`component_laws` differs from its transpose in the last bits, and a pair on the
    switch could otherwise be treated by Mehler on one side and by the pair rule on the
    other), the Mehler mask (|ρ| <= RHO_SWITCH off the diagonal), the off-diagonal mask, the
    largest |ρ| under the mask and the number of pairs i < j outside it."""
    std = jnp.sqrt(jnp.diag(cov))
    rho = jnp.clip(cov / (std[:, None] * std[None, :]), -1.0, 1.0)
    rho = (rho + rho.T) / 2
    off = ~jnp.eye(rho.shape[0], dtype=bool)
    low = (jnp.abs(rho) <= RHO_SWITCH) & off
    pairs = jnp.sum(jnp.triu(off & ~low, 1))
    return std, rho, low, off, jnp.max(jnp.where(low, jnp.abs(rho), 0.0)), pairs


@functools.partial(jax.jit, static_argnums=(0, 1))
def _mehler_kernel(activation: Activation, order: int, mean, std, rho, low, off) -> Array:
    """Mehler series off the diagonal (pairs outside the mask ``low`` have ρ set to 0 and are
    overwritten by the caller), the exact 1-D second moment on it."""
    K = _mehler_sum(jnp.where(low, rho, 0.0), hermite_coefficients(activation, mean, std, order))
    return jnp.where(off, K, jnp.diag(one_d_expectation(activation, 2, mean, std)))


@jax.jit
def _mehler_sum(rho: Array, coefs: Array) -> Array:
    r""":math:`\sum_p \rho_{ij}^p c_p(i) c_p(j)` by Horner's rule, unrolled over :math:`p` so that XLA
    fuses it into one pass over the k×k matrix (a loop over :math:`p` would stream the
    matrix through memory once per order, about a third slower at k = 1000, order 24; see the
    Performance page of the docs)."""
    total = coefs[-1][:, None] * coefs[-1][None, :]
    for p in range(coefs.shape[0] - 2, -1, -1):
        total = coefs[p][:, None] * coefs[p][None, :] + rho * total
    return total


@functools.lru_cache(maxsize=64)
def _closed_function(expr, symbols) -> Callable:
    # SymPy-derived kernels load when a closed rule is used
    from onestep_gm.numerics.codegen import jax_function

    return jax.jit(jax_function(expr, *symbols))


@functools.lru_cache(maxsize=64)
def _closed_matrix(expr, symbols) -> Callable:
    """Jitted :math:`K_{ij}` from a closed kernel: off-diagonal with clamped covariances, exact diagonal."""
    fn = _closed_function(expr, symbols)

    @jax.jit
    def matrix(mean: Array, cov: Array) -> Array:
        q = jnp.diag(cov)
        K = fn(mean[:, None], mean[None, :], q[:, None], q[None, :], _clip_cov(cov, q, q))
        K = _set_diag(K, fn(mean, mean, q, q, _clip_cov(q, q, q)))
        # the formula swaps its arguments in another order of operations, and the covariance
        # from component_laws is symmetric only to rounding
        return (K + K.T) / 2

    return matrix


class LawSummary(NamedTuple):
    """Host-side facts about one component's law that choose the rule and the Mehler order."""

    centred: bool  # all neuron means are 0
    teacher_centred: bool  # every teacher argument ξ_rᵀx has mean 0
    rho_max: float  # largest off-diagonal |ρ_ij| at most RHO_SWITCH
    high_pairs: int  # pairs i < j with |ρ_ij| > RHO_SWITCH
    cross_rho_max: tuple[float, ...]  # largest |corr(a_i, ξ_rᵀx)| per teacher direction r


@jax.jit
def _law_numbers(law: ComponentLaw):
    _, _, _, _, rho_max, high_pairs = _correlations(law.cov)
    t_std = jnp.sqrt(_teacher_variances(law))[..., None]
    cross = law.t_cov / (jnp.sqrt(jnp.diag(law.cov)) * t_std)
    return jnp.all(law.mean == 0), jnp.all(law.t_mean == 0), rho_max, high_pairs, jnp.max(jnp.abs(cross), axis=-1)


def summarise(laws: Sequence[ComponentLaw]) -> list[LawSummary]:
    """:class:`LawSummary` of every component, fetched from the device in one transfer."""
    fetched = jax.device_get([_law_numbers(law) for law in laws])
    return [
        LawSummary(bool(c), bool(t), float(r), int(h), tuple(float(v) for v in np.atleast_1d(x)))
        for c, t, r, h, x in fetched
    ]


class ComponentPlan(NamedTuple):
    """The rule for each expectation of one component, chosen on the host from its
    :class:`LawSummary`.

    Only discrete values: a jitted evaluation keyed on plans compiles once per shape and
    activation, not once per trial.
    """

    kernel: object  # closed E[σ(u)σ(v)] (a SymPy expression), or None: Mehler + pair rule
    order: int  # the Mehler order for Omega (0 with a closed kernel)
    pair_slots: int  # places for the pairs with |ρ_ij| > RHO_SWITCH (pair rule; Mehler only), 0: none
    cross: tuple  # per teacher direction r: closed E[σ(u)σ*_r(v)] or None (regression); (closed E σ(u) or None,) (classification)
    cross_order: tuple  # per r: the Mehler order for u's term r; None: closed, or the pair rule (|corr| > RHO_SWITCH)


def moment_plans(
    activation: Activation, summaries: Sequence[LawSummary], classification: bool, rule: str = "auto",
    teacher=None,
) -> tuple[ComponentPlan, ...]:  # fmt: skip
    """:class:`ComponentPlan` per component; ``rule`` as in :func:`population_moments`;
    ``teacher``: the mixture's :class:`~onestep_gm.numerics.teacher.Teacher` (default the ReLU).

    Raises
    ------
    ValueError
        For ``rule="closed"`` where no closed form applies.
    """
    # SymPy-derived kernels load when a closed rule is used
    from onestep_gm.theory import kernels

    teacher = RELU_TEACHER if teacher is None else teacher
    rows = []
    for summary in summaries:
        centred = summary.centred
        kernel = kernels.closed_kernel(activation, centred=centred) if rule != "mehler" else None
        if kernel is None and rule == "closed":
            raise ValueError(
                f"no closed-form kernel for {activation.name} with "
                f"{'zero' if centred else 'non-zero'} means; use rule='mehler' or 'auto'"
            )
        if classification:
            cross = (kernels.closed_mean(activation) if rule != "mehler" else None,)
            cross_mehler = (False,)
        else:
            teacher_centred = centred and summary.teacher_centred
            cross = tuple(
                kernels.closed_cross_kernel(activation, act.expr, centred=teacher_centred) if rule != "mehler" else None
                for act in teacher.activations
            )
            if rule == "closed" and None in cross:
                missing = teacher.activations[cross.index(None)].name
                raise ValueError(f"no closed-form kernel of {activation.name} against the teacher {missing}; use rule='auto'")
            cross_mehler = tuple(
                x is None and rho <= RHO_SWITCH for x, rho in zip(cross, summary.cross_rho_max, strict=True)
            )
        rows.append((summary, kernel, cross, cross_mehler))
    # The plan is a static argument of the jitted moments, so it should vary with the data as
    # little as possible: fields a closed form does not use stay fixed, and every Mehler series
    # of the activation (Omega and u, all components) uses one order, the largest needed.
    needed = [r.rho_max for r, kernel, _, _ in rows if kernel is None]
    needed += [rho for r, _, _, mehler in rows for rho, m in zip(r.cross_rho_max, mehler, strict=True) if m]
    order = _mehler_order(max(needed)) if needed else 0
    return tuple(
        ComponentPlan(kernel, 0 if kernel is not None else order,
                      0 if kernel is not None else _pair_slots(summary.high_pairs), cross,
                      tuple(order if m else None for m in cross_mehler))
        for summary, kernel, cross, cross_mehler in rows
    )  # fmt: skip


def _symbols(count: int) -> tuple:
    """The closed forms' arguments: (M1, M2, Q1, Q2, C), or (M1, Q1) for 1-D means."""
    from onestep_gm.theory import kernels  # SymPy-derived kernels load when a closed rule is used

    if count == 2:
        return (kernels.M1, kernels.Q1)
    return (kernels.M1, kernels.M2, kernels.Q1, kernels.Q2, kernels.C)


def _kernel(activation: Activation, law: ComponentLaw, plan: ComponentPlan) -> Array:
    r""":math:`\mathbb E[\sigma(a_i)\sigma(a_j)]` in one component, by the planned rule."""
    if plan.kernel is not None:
        return _closed_matrix(plan.kernel, _symbols(5))(law.mean, law.cov)
    std, rho, low, off, _, _ = _correlations(law.cov)
    return _mehler_with_pairs(activation, plan.order, law.mean, std, rho, low, off, plan.pair_slots)


def _clip_cov(cov: Array, q1: Array, q2: Array) -> Array:
    r"""Rounding can push :math:`|c|` past :math:`\sqrt{q_1q_2}` for collinear pairs; clamp it."""
    bound = jnp.sqrt(q1[..., :, None] * q2[..., None, :]) if cov.ndim == 2 else jnp.sqrt(q1 * q2)
    return jnp.clip(cov, -bound, bound)


def _set_diag(K: Array, diag: Array) -> Array:
    k = K.shape[0]
    return K.at[jnp.arange(k), jnp.arange(k)].set(diag)


def _cross(activation: Activation, law: ComponentLaw, plan: ComponentPlan, teacher) -> Array:
    r""":math:`\sum_r c_r\mathbb E[\sigma(a_i)\,\sigma^*_r(t_r)]` for each neuron, by the planned rules."""
    total = None
    parts = teacher_indices(law, teacher)
    for index, closed, order in zip(parts, plan.cross, plan.cross_order, strict=True):
        term = _cross_term(activation, law, index, closed, order)
        term = term if index.weight == 1.0 else index.weight * term
        total = term if total is None else total + term
    return total


def _cross_term(activation: Activation, law: ComponentLaw, index: TeacherIndex, closed, order) -> Array:
    r""":math:`\mathbb E[\sigma(a_i)\,\sigma^*_r(t_r)]` for one teacher direction."""
    q = jnp.diag(law.cov)
    if closed is not None:
        fn = _closed_function(closed, _symbols(5))
        return fn(law.mean, index.t_mean, q, index.t_var, _clip_cov(index.t_cov, q, index.t_var))
    std, t_std = jnp.sqrt(q), jnp.sqrt(index.t_var)
    rho = index.t_cov / (std * t_std)
    if order is not None:
        return _mehler_cross(activation, index.activation, order, law.mean, std, index.t_mean, t_std, rho)
    return pair_expectation(activation, index.activation, law.mean, std, index.t_mean, t_std, rho)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _mehler_cross(activation, teacher, order, mean, std, t_mean, t_std, rho) -> Array:
    r"""Mehler series :math:`\sum_p \rho_i^p c_p(\sigma; \mu_i, s_i)\, c_p(\mathrm{ReLU}; \mu_t, s_t)`
    (normalised coefficients), valid for :math:`|\rho_i| \le` :data:`RHO_SWITCH`."""
    c_neuron = hermite_coefficients(activation, mean, std, order)
    c_teacher = hermite_coefficients(teacher, jnp.reshape(t_mean, (1,)), jnp.reshape(t_std, (1,)), order)
    powers = rho[None, :] ** jnp.arange(order + 1.0)[:, None]
    return jnp.sum(powers * c_neuron * c_teacher, axis=0)


def _mean(activation: Activation, law: ComponentLaw, plan: ComponentPlan) -> Array:
    r""":math:`\mathbb E\sigma(a_i)` for each neuron (classification), by the planned rule."""
    q = jnp.diag(law.cov)
    if plan.cross[0] is not None:
        return _closed_function(plan.cross[0], _symbols(2))(law.mean, q)
    return one_d_expectation(activation, 1, law.mean, jnp.sqrt(q))


def teacher_second_moment(law: ComponentLaw, teacher=None) -> Array:
    r"""The teacher's second moment :math:`\mathbb E_c\big[\big(\sum_r c_r\sigma^*_r(\xi_r^\top x)\big)^2\big]`
    under one component's law (a scalar; no noise).

    ``teacher``: the mixture's :class:`~onestep_gm.numerics.teacher.Teacher` (default the ReLU).
    The diagonal terms :math:`\mathbb E\sigma^*_r(t_r)^2`: the closed ReLU moment, else 1-D
    quadrature cut at the kinks (:func:`one_d_expectation`, ~1e-15); the pairs
    :math:`r\ne r'`: :math:`\mathbb E[\sigma^*_r(t_r)\sigma^*_{r'}(t_{r'})]` from the closed kernel
    of the pair where it exists, else the nested pair rule (:func:`pair_expectation`).
    """
    # SymPy-derived kernels load when a closed rule is used
    from onestep_gm.theory import kernels

    teacher = RELU_TEACHER if teacher is None else teacher
    parts = teacher_indices(law, teacher)
    total = None
    for r, a in enumerate(parts):
        if a.activation.name == "relu":
            fn = _closed_function(kernels.relu_second_moment(), (kernels.M1, kernels.Q1))
            term = fn(a.t_mean, a.t_var)
        else:
            term = one_d_expectation(a.activation, 2, jnp.reshape(a.t_mean, (1,)), jnp.sqrt(jnp.reshape(a.t_var, (1,))))[0]
        term = term if a.weight == 1.0 else a.weight**2 * term
        for s, b in enumerate(parts[:r]):
            term = term + 2 * a.weight * b.weight * _teacher_pair(a, b, law.t_var[r, s])
        total = term if total is None else total + term
    return total


def _teacher_pair(a: TeacherIndex, b: TeacherIndex, cov: Array) -> Array:
    r""":math:`\mathbb E[\sigma^*_a(t_a)\sigma^*_b(t_b)]` for two teacher directions of one component."""
    from onestep_gm.theory import kernels  # SymPy-derived kernels load when a closed rule is used

    centred = False
    closed = kernels.closed_cross_kernel(a.activation, b.activation.expr, centred=centred)
    if closed is not None:
        fn = _closed_function(closed, _symbols(5))
        return fn(a.t_mean, b.t_mean, a.t_var, b.t_var, _clip_cov(cov, a.t_var, b.t_var))
    rho = jnp.clip(cov / jnp.sqrt(a.t_var * b.t_var), -1.0, 1.0)
    return pair_expectation(a.activation, b.activation, a.t_mean, jnp.sqrt(a.t_var), b.t_mean, jnp.sqrt(b.t_var), rho)


class PopulationMoments(NamedTuple):
    r""":math:`(\Omega, u, s_y)` and the rule that computed them.

    ``rule`` is ``"closed"`` (every expectation in closed form), ``"mehler"`` (none) or, when
    they differ, e.g. ``"Omega closed, u mehler"``: ``"closed"`` means a derived kernel of
    :mod:`theory.kernels`, ``"mehler"`` the Mehler series with the nested pair rule (for the
    mean :math:`u` of classification, 1-D quadrature).
    """

    Omega: Array
    u: Array
    s_y: Array
    rule: str


def _rule_summary(plans: Sequence[ComponentPlan]) -> str:
    def name(closed: set[bool]) -> str:
        return "closed" if closed == {True} else "mehler" if closed == {False} else "mixed"

    omega = name({p.kernel is not None for p in plans})
    u = name({x is not None for p in plans for x in p.cross})
    return omega if omega == u else f"Omega {omega}, u {u}"


def planned_moments(
    activation: Activation, plans: tuple[ComponentPlan, ...], classification: bool, mixture,
    laws: Sequence[ComponentLaw],
) -> tuple[Array, Array, Array]:  # fmt: skip
    r""":math:`(\Omega, u, s_y)` (float64) by the rules of ``plans`` (:func:`moment_plans`).

    Traceable: inside ``jax.jit`` with the first three arguments static (``classification``
    is ``bool(mixture.classification)``, which a trace cannot read).
    """
    k = laws[0].cov.shape[0]
    weights = jnp.asarray(mixture.weights, jnp.float64)
    Omega = jnp.zeros((k, k))
    u = jnp.zeros(k)
    s_y = jnp.asarray(0.0)
    for c, (law, plan) in enumerate(zip(laws, plans, strict=True)):
        Omega = Omega + weights[c] * _kernel(activation, law, plan)
        if classification:
            label = 1.0 if c == 0 else -1.0
            u = u + weights[c] * label * _mean(activation, law, plan)
            s_y = s_y + weights[c]
        else:
            u = u + weights[c] * _cross(activation, law, plan, mixture.teacher)
            s_y = s_y + weights[c] * teacher_second_moment(law, mixture.teacher)
    if not classification:
        s_y = s_y + jnp.asarray(mixture.noise, jnp.float64) ** 2
    # every kernel is exactly symmetric (closed ones symmetrised in _closed_matrix; Mehler's
    # by construction: symmetric rho, commutative products, pairs set on both sides), so no
    # (Omega + Omega.T)/2 here: XLA fused the Mehler sum into both reads and evaluated it
    # twice (tanh at k = 1000: 105 ms against 61)
    return Omega / k, u / math.sqrt(k), s_y


_planned_moments_jit = jax.jit(planned_moments, static_argnums=(0, 1, 2))


@scoped_x64
def population_moments(
    F_hat: Array, mixture, activation: str | Activation, *, rule: str = "auto",
    laws: Sequence[ComponentLaw] | None = None,
) -> PopulationMoments:  # fmt: skip
    r"""Exact :math:`(\Omega, u, s_y)` of :math:`\phi = \sigma(\hat Fx)/\sqrt k` for the mixture.

    Parameters
    ----------
    F_hat : array, shape ``(k, n)``
        The trained first layer.
    mixture : Mixture
        The data's Gaussian mixture (means, spikes, sizes, teacher, task).
    activation : str or Activation
        :math:`\sigma`.
    rule : {"auto", "closed", "mehler"}
        ``"auto"``: closed-form kernels where they apply, else the Mehler series with the pair
        rule for strongly correlated pairs; ``"closed"``: closed forms only (raises where none
        applies); ``"mehler"``: the numeric rules everywhere (to measure them against the
        closed forms).
    laws : sequence of ComponentLaw, optional
        :func:`component_laws` of ``(F_hat, mixture)`` when the caller has them already (they
        cost one :math:`k^2n` product); ``None`` computes them.

    Returns
    -------
    PopulationMoments
        ``Omega`` (``(k, k)``), ``u`` (``(k,)``), ``s_y`` (``()``): :math:`\mathbb E\phi\phi^\top`,
        :math:`\mathbb E\phi y`, :math:`\mathbb E y^2`, float64; ``rule``: which rule computed them.
        Runs in 64-bit JAX and leaves the process's setting as it was.

    Raises
    ------
    ValueError
        For an unknown ``rule``, or ``"closed"`` where no closed kernel applies.
    """
    require_x64("population_moments")
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose from {', '.join(RULES)}")
    act = activation if isinstance(activation, Activation) else get_activation(activation)
    F_hat = jnp.asarray(F_hat, jnp.float64)
    laws = component_laws(F_hat, mixture) if laws is None else laws
    classification = bool(mixture.classification)
    plans = moment_plans(act, summarise(laws), classification, rule, mixture.teacher)
    Omega, u, s_y = _planned_moments_jit(act, plans, classification, mixture, laws)
    return PopulationMoments(Omega, u, s_y, _rule_summary(plans))
