r"""Theory curves: the ridge readout's errors from exact population feature moments.

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
:math:`u_i = \sum_c\rho_c\,\mathbb E_c[\sigma(a_i)\,\mathrm{ReLU}(\xi^\top x)]/\sqrt k` (regression;
:math:`(a_i,\xi^\top x)` is bivariate Gaussian) or :math:`\sum_c\rho_c y_c\,\mathbb E_c\sigma(a_i)/\sqrt k`
(classification, :math:`y_0 = +1`, :math:`y_{c\ge1} = -1`), and :math:`s_y` in closed form.
Rules:

* ``"closed"``: the exact kernels of :mod:`theory.kernels` (ReLU and erf with zero means,
  polynomials with any means), compiled to JAX;
* ``"mehler"``: for pairs with :math:`|\rho_{ij}|\le 0.9`, the Mehler expansion
  :math:`\mathbb E[\sigma(a_i)\sigma(a_j)] = \sum_p \rho_{ij}^p\,c_p(i)c_p(j)` with per-neuron normalised
  Hermite coefficients :math:`c_p(i) = \mathbb E[\sigma(\mu_i + s_i z)\mathrm{He}_p(z)]/\sqrt{p!}`
  (1-D Gauss–Legendre on panels of :math:`[-12, 12]` cut at the kinks, so kinked
  activations are integrated to ~1e-15), truncated where :math:`\rho_{\max}^{P}<10^{-13}`;
  for :math:`|\rho_{ij}| > 0.9` (slow Mehler convergence for kinked :math:`\sigma`) a nested
  1-D × 1-D Gauss–Legendre rule with panels at the kink and at its smoothed image; the
  diagonal from 1-D quadrature.  Measured error against mpmath: see ``docs/theory-curves.md``;
* ``"auto"``: ``"closed"`` where it applies to every component, ``"mehler"`` otherwise.

**Ridge equivalent** (:func:`ridge_equivalent`).  With :math:`w_* = \Omega^+u`,
:math:`\sigma_\varepsilon^2 = s_y - u^\top\Omega^+u`, the effective regularisation :math:`\kappa` solves
:math:`\lambda = \kappa\,(1 - \mathrm{df}_1(\kappa)/m)`, :math:`\mathrm{df}_1 = \operatorname{tr}\Omega(\Omega+\kappa)^{-1}`,
:math:`\mathrm{df}_2 = \operatorname{tr}\Omega^2(\Omega+\kappa)^{-2}`, and

.. math::
    \mathcal B = \frac{\kappa^2 w_*^\top\Omega(\Omega+\kappa)^{-2}w_*}{1-\mathrm{df}_2/m},\quad
    \mathcal V = \sigma_\varepsilon^2\frac{\mathrm{df}_2/m}{1-\mathrm{df}_2/m},\quad
    \text{test MSE} = \mathcal B + \mathcal V + \sigma_\varepsilon^2,\quad
    \text{train MSE} = (\lambda/\kappa)^2\,\text{test MSE}.

The norm of the readout follows from :math:`\lambda(\hat\Sigma+\lambda)^{-1}\simeq\kappa(\Omega+\kappa)^{-1}`
differentiated in :math:`\lambda` (:math:`d\kappa/d\lambda = 1/(1-\mathrm{df}_2/m)`):

.. math::
    \|\hat w\|^2 \simeq w_*^\top\Omega(\Omega+\kappa)^{-1}w_*
      - \frac{\lambda\,w_*^\top\Omega(\Omega+\kappa)^{-2}w_*}{1-\mathrm{df}_2/m}
      + \sigma_\varepsilon^2\,\frac{\operatorname{tr}\Omega(\Omega+\kappa)^{-2}}{m\,(1-\mathrm{df}_2/m)}.

Errors in the figures' convention: ``gen_error`` :math:`=\tfrac12` test MSE, ``train_error``
:math:`=\tfrac12` train MSE :math:`+\tfrac12\lambda\|\hat w\|^2`.  Everything is computed in the
eigenbasis of :math:`\Omega`, decomposed once per :math:`\hat F` and reused across :math:`m` and
:math:`\lambda`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from onestep_gm.theory.activations import Activation, get_activation

Array = jax.Array
Elementwise = Callable[[Array], Array]

CONVENTION = (
    "gen_error = 1/2*test MSE; train_error = 1/2*train MSE + 1/2*lambda*||w_hat||^2 "
    "(deterministic equivalent of ridge on exact population moments)"
)
RULES = ("auto", "closed", "mehler")

TRUNCATION = 12.0
"""Integration range :math:`[-L, L]` in standard units: the normal mass beyond is ~1e-33."""
FIXED_CUTS = (-6.0, -3.0, 3.0, 6.0)
"""Cuts every panel rule makes, so no panel is longer than 6 standard units."""
RHO_SWITCH = 0.9
"""Pairs with :math:`|\\rho|` above this go to the nested 1-D×1-D rule instead of Mehler."""
MEHLER_TOL = 1e-13
MAX_ORDER = 300
PAIR_CHUNK = 256


class ComponentLaw(NamedTuple):
    """Joint Gaussian law of the pre-activations (and the teacher's argument) in one component."""

    mean: Array  # (k,) F_hat mu_c
    cov: Array  # (k, k) C_c
    t_mean: Array  # () xi^T mu_c
    t_var: Array  # () xi^T Sigma_c xi
    t_cov: Array  # (k,) F_hat Sigma_c xi


class Spectrum(NamedTuple):
    r""":math:`\Omega` in its eigenbasis: eigenvalues, :math:`a_i = (V^\top u)_i^2/\omega_i`, :math:`s_y`."""

    omega: Array
    a: Array
    s_y: Array

    @property
    def sigma_eps2(self) -> Array:
        return self.s_y - jnp.sum(self.a)


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
    F_xi = F_hat @ xi
    laws = []
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


@functools.lru_cache(maxsize=16)
def _legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(nodes)


def panel_rule(cuts: Array, nodes: int) -> tuple[Array, Array]:
    r"""Gauss–Legendre nodes and weights for :math:`\mathbb E f(z)`, :math:`z\sim\mathcal N(0,1)`.

    :math:`[-L, L]` is cut at ``cuts`` (shape ``(..., K)``, clipped to the range, any order) and
    at :data:`FIXED_CUTS`; each of the ``K+5`` panels gets ``nodes`` Gauss–Legendre nodes, so a function that is
    smooth on every panel (a kink only at a cut) is integrated with spectral accuracy.
    Returns ``(z, w)`` of shape ``(..., (K+5)*nodes)``; ``w`` includes the normal density.
    """
    t, v = _legendre(nodes)
    t, v = jnp.asarray(t), jnp.asarray(v)
    fixed = jnp.broadcast_to(jnp.asarray(FIXED_CUTS), cuts.shape[:-1] + (len(FIXED_CUTS),))
    cuts = jnp.concatenate([cuts, fixed], axis=-1)
    edges = jnp.sort(jnp.clip(cuts, -TRUNCATION, TRUNCATION), axis=-1)
    lo_end = jnp.full(edges.shape[:-1] + (1,), -TRUNCATION)
    edges = jnp.concatenate([lo_end, edges, -lo_end], axis=-1)
    half = (edges[..., 1:] - edges[..., :-1])[..., None] / 2
    mid = (edges[..., 1:] + edges[..., :-1])[..., None] / 2
    z = mid + half * t
    w = half * v * jnp.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    shape = edges.shape[:-1] + (-1,)
    return z.reshape(shape), w.reshape(shape)


def _cut_points(activation: Activation) -> tuple[float, ...]:
    """Kinks, or 0 (where saturating activations turn) for smooth ones."""
    return tuple(float(k) for k in activation.kinks) or (0.0,)


def _jax_pair(activation: Activation) -> Elementwise:
    from onestep_gm.theory.codegen import jax_activation

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
    return _hermite_projections(weighted, z, order)


@functools.partial(jax.jit, static_argnums=2)
def _hermite_projections(weighted: Array, z: Array, order: int) -> Array:
    """:math:`\\sum_q w_q\\sigma(z_q)\\,\\mathrm{He}_p(z_q)/\\sqrt{p!}` for p ≤ order (jitted once per shape)."""

    def step(carry, p):
        prev, cur = carry
        coef = jnp.sum(weighted * cur, axis=-1)
        nxt = (z * cur - jnp.sqrt(p) * prev) / jnp.sqrt(p + 1.0)
        return (cur, nxt), coef

    _, coefs = jax.lax.scan(step, (jnp.zeros_like(z), jnp.ones_like(z)), jnp.arange(order + 1.0))
    return coefs


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


def _mehler_order(rho_max: float) -> int:
    if rho_max <= 0:
        return 1
    needed = max(8, math.ceil(math.log(MEHLER_TOL) / math.log(rho_max)))
    # rounded up to a multiple of 8: the Mehler order fixes array shapes, and every new
    # order would recompile the series (a few tenths of a second) for each trial
    return int(min(MAX_ORDER, 8 * math.ceil(needed / 8)))


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
    K = _mehler_kernel(activation, order, mean, std, rho, low, off)
    k = rho.shape[0]
    if int(high_pairs):
        high = np.argwhere(np.asarray((~low) & off & jnp.triu(jnp.ones((k, k), bool), 1)))
        i, j = jnp.asarray(high[:, 0]), jnp.asarray(high[:, 1])
        vals = pair_expectation(activation, activation, mean[i], std[i], mean[j], std[j], rho[i, j])
        K = K.at[i, j].set(vals).at[j, i].set(vals)
    return K


@jax.jit
def _correlations(cov: Array):
    """Standard deviations, correlations, the Mehler mask (|ρ| <= RHO_SWITCH off the
    diagonal), the off-diagonal mask, the largest |ρ| under the mask and the number of
    entries outside it."""
    std = jnp.sqrt(jnp.diag(cov))
    rho = jnp.clip(cov / (std[:, None] * std[None, :]), -1.0, 1.0)
    off = ~jnp.eye(rho.shape[0], dtype=bool)
    low = (jnp.abs(rho) <= RHO_SWITCH) & off
    return std, rho, low, off, jnp.max(jnp.where(low, jnp.abs(rho), 0.0)), jnp.sum(off & ~low)


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
    matrix through memory once per order; at k = 1000, order 24, the whole kernel took 21 ms
    instead of 31 ms, and the fused sum alone 2.4 ms)."""
    total = coefs[-1][:, None] * coefs[-1][None, :]
    for p in range(coefs.shape[0] - 2, -1, -1):
        total = coefs[p][:, None] * coefs[p][None, :] + rho * total
    return total


@functools.lru_cache(maxsize=64)
def _closed_function(expr, symbols) -> Callable:
    from onestep_gm.theory.codegen import jax_function

    return jax.jit(jax_function(expr, *symbols))


@functools.lru_cache(maxsize=64)
def _closed_matrix(expr, symbols) -> Callable:
    """Jitted :math:`K_{ij}` from a closed kernel: off-diagonal with clamped covariances, exact diagonal."""
    fn = _closed_function(expr, symbols)

    @jax.jit
    def matrix(mean: Array, cov: Array) -> Array:
        q = jnp.diag(cov)
        K = fn(mean[:, None], mean[None, :], q[:, None], q[None, :], _clip_cov(cov, q, q))
        return _set_diag(K, fn(mean, mean, q, q, _clip_cov(q, q, q)))

    return matrix


def _teacher() -> Activation:
    return get_activation("relu")


class LawSummary(NamedTuple):
    """Host-side facts about one component's law that choose the rule and the Mehler order."""

    centred: bool  # all neuron means are 0
    teacher_centred: bool  # the teacher's argument has mean 0
    rho_max: float  # largest off-diagonal |ρ_ij| at most RHO_SWITCH
    high_pairs: int  # off-diagonal entries with |ρ_ij| > RHO_SWITCH
    cross_rho_max: float  # largest |corr(a_i, ξᵀx)|


@jax.jit
def _law_numbers(law: ComponentLaw):
    _, _, _, _, rho_max, high_pairs = _correlations(law.cov)
    cross = law.t_cov / (jnp.sqrt(jnp.diag(law.cov)) * jnp.sqrt(law.t_var))
    return jnp.all(law.mean == 0), law.t_mean == 0, rho_max, high_pairs, jnp.max(jnp.abs(cross))


def summarise(laws: Sequence[ComponentLaw]) -> list[LawSummary]:
    """:class:`LawSummary` of every component, fetched from the device in one transfer."""
    fetched = jax.device_get([_law_numbers(law) for law in laws])
    return [
        LawSummary(bool(c), bool(t), float(r), int(h), float(x)) for c, t, r, h, x in fetched
    ]


def _kernel(activation: Activation, law: ComponentLaw, rule: str, summary: LawSummary) -> Array:
    from onestep_gm.theory import kernels

    centred = summary.centred
    expr = kernels.closed_kernel(activation, centred=centred) if rule != "mehler" else None
    if expr is None:
        if rule == "closed":
            raise ValueError(
                f"no closed-form kernel for {activation.name} with "
                f"{'zero' if centred else 'non-zero'} means; use rule='mehler' or 'auto'"
            )
        return numeric_kernel(activation, law.mean, law.cov, summary)
    symbols = (kernels.M1, kernels.M2, kernels.Q1, kernels.Q2, kernels.C)
    return _closed_matrix(expr, symbols)(law.mean, law.cov)


def _clip_cov(cov: Array, q1: Array, q2: Array) -> Array:
    r"""Rounding can push :math:`|c|` past :math:`\sqrt{q_1q_2}` for collinear pairs; clamp it."""
    bound = jnp.sqrt(q1[..., :, None] * q2[..., None, :]) if cov.ndim == 2 else jnp.sqrt(q1 * q2)
    return jnp.clip(cov, -bound, bound)


def _set_diag(K: Array, diag: Array) -> Array:
    k = K.shape[0]
    return K.at[jnp.arange(k), jnp.arange(k)].set(diag)


def _cross(activation: Activation, law: ComponentLaw, rule: str, summary: LawSummary) -> Array:
    r""":math:`\mathbb E[\sigma(a_i)\,\mathrm{ReLU}(t)]` for each neuron."""
    from onestep_gm.theory import kernels

    teacher = _teacher()
    centred = summary.centred and summary.teacher_centred
    expr = None
    if rule != "mehler":
        expr = kernels.closed_cross_kernel(activation, teacher.expr, centred=centred)
    q = jnp.diag(law.cov)
    if expr is not None:
        fn = _closed_function(expr, (kernels.M1, kernels.M2, kernels.Q1, kernels.Q2, kernels.C))
        return fn(law.mean, law.t_mean, q, law.t_var, _clip_cov(law.t_cov, q, law.t_var))
    if rule == "closed":
        raise ValueError(f"no closed-form teacher kernel for {activation.name}; use rule='auto'")
    std, t_std = jnp.sqrt(q), jnp.sqrt(law.t_var)
    rho = law.t_cov / (std * t_std)
    rho_max = summary.cross_rho_max
    if rho_max <= RHO_SWITCH:
        order = _mehler_order(rho_max)
        return _mehler_cross(activation, teacher, order, law.mean, std, law.t_mean, t_std, rho)
    return pair_expectation(activation, teacher, law.mean, std, law.t_mean, t_std, rho)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _mehler_cross(activation, teacher, order, mean, std, t_mean, t_std, rho) -> Array:
    r"""Mehler series :math:`\sum_p \rho_i^p c_p(\sigma; \mu_i, s_i)\, c_p(\mathrm{ReLU}; \mu_t, s_t)`
    (normalised coefficients), valid for :math:`|\rho_i| \le` :data:`RHO_SWITCH`."""
    c_neuron = hermite_coefficients(activation, mean, std, order)
    c_teacher = hermite_coefficients(teacher, jnp.reshape(t_mean, (1,)), jnp.reshape(t_std, (1,)), order)
    powers = rho[None, :] ** jnp.arange(order + 1.0)[:, None]
    return jnp.sum(powers * c_neuron * c_teacher, axis=0)


def _mean(activation: Activation, law: ComponentLaw, rule: str) -> Array:
    from onestep_gm.theory import kernels

    q = jnp.diag(law.cov)
    expr = kernels.closed_mean(activation) if rule != "mehler" else None
    if expr is not None:
        return _closed_function(expr, (kernels.M1, kernels.Q1))(law.mean, q)
    return one_d_expectation(activation, 1, law.mean, jnp.sqrt(q))


def _teacher_second_moment(law: ComponentLaw) -> Array:
    from onestep_gm.theory import kernels

    fn = _closed_function(kernels.relu_second_moment(), (kernels.M1, kernels.Q1))
    return fn(law.t_mean, law.t_var)


def population_moments(
    F_hat: Array, mixture, activation: str | Activation, *, rule: str = "auto"
) -> tuple[Array, Array, Array]:
    r"""Exact :math:`(\Omega, u, s_y)` of :math:`\phi = \sigma(\hat Fx)/\sqrt k` for the mixture.

    ``rule``: ``"auto"`` (closed forms where they apply, else Mehler + pair rule),
    ``"closed"`` (raise if none) or ``"mehler"`` (numeric everywhere; for measuring).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose from {', '.join(RULES)}")
    act = activation if isinstance(activation, Activation) else get_activation(activation)
    F_hat = jnp.asarray(F_hat, jnp.float64)
    k = F_hat.shape[0]
    laws = component_laws(F_hat, mixture)
    summaries = summarise(laws)
    weights = np.asarray(mixture.weights, np.float64)
    classification = bool(mixture.classification)
    Omega = jnp.zeros((k, k))
    u = jnp.zeros(k)
    s_y = jnp.asarray(0.0)
    for c, law in enumerate(laws):
        Omega = _add_scaled(Omega, weights[c], _kernel(act, law, rule, summaries[c]))
        if classification:
            label = 1.0 if c == 0 else -1.0
            u = u + weights[c] * label * _mean(act, law, rule)
            s_y = s_y + weights[c]
        else:
            u = u + weights[c] * _cross(act, law, rule, summaries[c])
            s_y = s_y + weights[c] * _teacher_second_moment(law)
    if not classification:
        s_y = s_y + jnp.asarray(mixture.noise, jnp.float64) ** 2
    return _symmetrised(Omega, k), u / math.sqrt(k), s_y


@jax.jit
def _add_scaled(total: Array, weight, K: Array) -> Array:
    return total + weight * K


@functools.partial(jax.jit, static_argnums=1)
def _symmetrised(Omega: Array, k: int) -> Array:
    return (Omega + Omega.T) / (2 * k)


# ---------------------------------------------------------------------------------------------
# Ridge deterministic equivalent
# ---------------------------------------------------------------------------------------------


def spectrum(Omega: Array, u: Array, s_y) -> Spectrum:
    r"""Eigendecomposition of :math:`\Omega` (once) and :math:`a_i = (V^\top u)_i^2/\omega_i`.

    LAPACK's divide-and-conquer ``syevd`` through SciPy (0.08 s at k = 1000 on 2 cores, where
    JAX's CPU ``eigh`` takes ~9 s and numpy's ``eigh`` ~2 s).  Eigenvalues below :math:`10^{-12}\,\omega_{\max}` are treated as zero
    (the pseudo-inverse in :math:`w_* = \Omega^+u`).
    """
    # a writable Fortran-ordered copy, overwritten in place: 78 ms at k = 1000, where
    # eigh on a read-only view of the JAX buffer measured 120-160 ms
    A = np.array(Omega, dtype=np.float64, order="F")
    omega, V = scipy.linalg.eigh(A, driver="evd", overwrite_a=True, check_finite=False)
    v = V.T @ np.asarray(u, np.float64)
    keep = omega > 1e-12 * omega.max()
    omega = np.where(keep, omega, 0.0)
    a = np.where(keep, v**2 / np.where(keep, omega, 1.0), 0.0)
    return Spectrum(omega=jnp.asarray(omega), a=jnp.asarray(a), s_y=jnp.asarray(s_y, jnp.float64))


@jax.jit
def _kappa(omega: Array, lam: Array, m: Array) -> Array:
    r"""Root of :math:`\kappa(1-\mathrm{df}_1(\kappa)/m) = \lambda` by bisection in :math:`\log\kappa`.

    :math:`g(\kappa) = \kappa - \frac1m\sum\frac{\kappa\omega}{\omega+\kappa}` is below
    :math:`\lambda` left of the root and above it right of it; :math:`\lambda \le \kappa \le
    \lambda + \operatorname{tr}\Omega/m` brackets it.
    """
    hi = lam + jnp.sum(omega) / m
    lo = jnp.maximum(lam, hi * 1e-30)

    def g(kappa):
        return kappa * (1.0 - jnp.sum(omega / (omega + kappa)) / m)

    def body(_, bounds):
        lo, hi = bounds
        mid = jnp.sqrt(lo * hi)
        below = g(mid) < lam
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 200, body, (lo, hi))
    return jnp.sqrt(lo * hi)


@jax.jit
def _equivalent(spec: Spectrum, lam: Array, m: Array) -> dict:
    omega, a = spec.omega, spec.a
    kappa = _kappa(omega, lam, m)
    ratio = omega / (omega + kappa)
    df1, df2 = jnp.sum(ratio), jnp.sum(ratio**2)
    shrink = 1.0 - df2 / m
    sigma_eps2 = jnp.maximum(spec.s_y - jnp.sum(a), 0.0)
    bias = kappa**2 * jnp.sum(a / (omega + kappa) ** 2) / shrink
    variance = sigma_eps2 * (df2 / m) / shrink
    test_mse = bias + variance + sigma_eps2
    train_mse = (1.0 - df1 / m) ** 2 * test_mse
    w_norm2 = (
        jnp.sum(a * ratio / jnp.where(omega > 0, omega, 1.0))
        - lam * jnp.sum(a / (omega + kappa) ** 2) / shrink
        + sigma_eps2 * jnp.sum(omega / (omega + kappa) ** 2) / (m * shrink)
    )
    return {
        "gen_error": test_mse / 2,
        "train_error": train_mse / 2 + lam * w_norm2 / 2,
        "test_mse": test_mse,
        "train_mse": train_mse,
        "kappa": kappa,
        "bias": bias,
        "variance": variance,
        "df1": df1,
        "df2": df2,
        "sigma_eps2": sigma_eps2,
        "w_norm2": w_norm2,
    }


def equivalent_from_spectrum(spec: Spectrum, lam, m) -> dict[str, Array]:
    """:func:`ridge_equivalent` for one decomposition; ``lam`` and ``m`` may be arrays (broadcast)."""
    lam = jnp.asarray(lam, jnp.float64)
    m = jnp.asarray(m, jnp.float64)
    lam, m = jnp.broadcast_arrays(lam, m)
    if np.any(np.asarray(lam) < 0) or np.any(np.asarray(m) <= 0):
        raise ValueError("lambda must be >= 0 and m > 0")
    out = jax.vmap(_equivalent, in_axes=(None, 0, 0))(spec, lam.reshape(-1), m.reshape(-1))
    return {key: v.reshape(lam.shape) for key, v in out.items()}


def ridge_equivalent(Omega: Array, u: Array, s_y, lam: float, m: int) -> dict[str, Array]:
    r"""Deterministic-equivalent errors of ridge with penalty ``lam`` on ``m`` samples (module notes).

    Keys: ``gen_error, train_error, test_mse, train_mse, kappa, bias, variance, df1, df2,
    sigma_eps2, w_norm2``.
    """
    return equivalent_from_spectrum(spectrum(Omega, u, s_y), lam, m)


def predict(F_hat: Array, mixture, activation, lam: float, m: int, *, rule: str = "auto") -> dict:
    """:func:`population_moments` then :func:`ridge_equivalent`; floats, plus the convention."""
    Omega, u, s_y = population_moments(F_hat, mixture, activation, rule=rule)
    out = {key: float(v) for key, v in ridge_equivalent(Omega, u, s_y, lam, m).items()}
    out["convention"] = CONVENTION
    return out


def learning_curve(
    F_hat: Array,
    mixture,
    activation,
    *,
    vary: str,
    values: Sequence[float],
    lam: float,
    m: int,
    rule: str = "auto",
) -> dict[str, np.ndarray]:
    r"""The prediction along ``values`` of ``vary`` ∈ {``"m"``, ``"lambda"``, ``"k"``}.

    ``m`` and ``lambda`` reuse one eigendecomposition of :math:`\Omega`.  ``k`` uses the first
    :math:`k'` rows of :math:`\hat F`: :math:`\Omega' = \frac{k}{k'}\Omega_{[:k',:k']}`,
    :math:`u' = \sqrt{k/k'}\,u_{[:k']}` (the moments are computed once; one decomposition per
    :math:`k'`).  Returns arrays keyed as :func:`ridge_equivalent` plus ``"values"``.
    """
    values = np.asarray(values, np.float64)
    Omega, u, s_y = population_moments(F_hat, mixture, activation, rule=rule)
    if vary == "m":
        out = equivalent_from_spectrum(spectrum(Omega, u, s_y), lam, values)
    elif vary == "lambda":
        out = equivalent_from_spectrum(spectrum(Omega, u, s_y), values, m)
    elif vary == "k":
        k = Omega.shape[0]
        if np.any(values < 1) or np.any(values > k) or np.any(values != np.round(values)):
            raise ValueError(f"k values must be integers in [1, {k}] (the rows of F_hat)")
        rows = []
        for kp in values.astype(int):
            sub = spectrum(Omega[:kp, :kp] * (k / kp), u[:kp] * math.sqrt(k / kp), s_y)
            rows.append(equivalent_from_spectrum(sub, lam, m))
        out = {key: jnp.stack([r[key] for r in rows]) for key in rows[0]}
    else:
        raise ValueError(f"vary must be 'm', 'k' or 'lambda' (got {vary!r})")
    result = {key: np.asarray(v, np.float64) for key, v in out.items()}
    result["values"] = values
    return result


def trained_layer(mixture, activation, k: int, m: int, eta: float, key: Array) -> Array:
    r""":math:`\hat F = F + \eta G` from a fresh network and a fresh batch of ``m`` samples.

    The network of DESIGN.md: :math:`F_{ij}\sim\mathcal N(0,1/\tau)`, :math:`\tau=\operatorname{tr}\bar\Sigma`,
    :math:`w_i\sim\mathcal N(0,1/k)`; one step on :math:`(\tilde X,\tilde y)`.
    """
    from onestep_gm.numerics.data import covariance_trace, sample_mixture
    from onestep_gm.numerics.network import init_network, one_step
    from onestep_gm.theory.codegen import jax_activation

    key_net, key_batch = jax.random.split(key)
    n = mixture.means.shape[-1]
    F, w = init_network(key_net, n, k, float(covariance_trace(mixture)))
    X_tilde, y_tilde, _ = sample_mixture(mixture, key_batch, m)
    sigma, dsigma = jax_activation(activation)
    return one_step(F, w, X_tilde, y_tilde, eta, sigma, dsigma)
