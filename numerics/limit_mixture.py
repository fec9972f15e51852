r"""The sampling-free theory for Gaussian mixtures with spikes and means, at finite size
(docs: ``limit-mixtures.md``).

No :math:`\hat F` is drawn and no :math:`k`-sized array is formed: the trained layer enters through
the *law* of one neuron's projections onto the low-dimensional space :math:`S` that carries
everything that is not bulk (the spikes :math:`\gamma_{c,i}`, the means :math:`\mu_c`, the teacher
:math:`\xi` and the step's noise direction :math:`\zeta`), and the ridge readout through the
deterministic equivalent of :mod:`onestep_gm.numerics.ridge` evaluated with free-probability
identities instead of an eigendecomposition of :math:`\Omega`.

**Trained layer.**  Write :math:`\kappa = Q^\top x\in\mathbb R^s` (:math:`Q` an orthonormal basis of
:math:`S`): per component :math:`\kappa\sim\mathcal N(m_c, C_c)`, and the rest of :math:`x` is
:math:`\mathcal N(0, I)` for every component.  Neuron :math:`i`'s pre-activation is
:math:`A_i\cdot\kappa + g_i` with a bulk :math:`g_i` of variance :math:`b^2` and :math:`A_i = \hat F_iQ`.
One step with :math:`w_i = \omega_i/\sqrt k` gives, to leading order in :math:`k^{-1/2}` (the initial
output is :math:`O(k^{-1/2})`) and with Stein's lemma per component,

.. math::
    A_i = (I + c\,\omega_i M)F_iQ + \omega_i c\,(L + \delta + \|\zeta_\perp\|e_\zeta),\quad
    c = \eta/k,\quad L = \sum_c\rho_c s_{1,c}\mathbb E_c[y\kappa],\quad
    M = \sum_c\rho_c s_{2,c}\bar y_c C_c,

:math:`s_{j,c} = \mathbb E\sigma^{(j)}(b_cz)`, :math:`\delta` the batch's noise in :math:`S` (covariance
:math:`\Sigma_\delta = \frac1{\tilde m}\operatorname{Cov}(s_1y\kappa)`, annealed into the law of
:math:`A`) and :math:`\zeta_\perp` its part outside, :math:`\|\zeta_\perp\|^2 = (n-s)\mathbb E[s_1^2y^2]/\tilde m`.
Given :math:`\omega`, :math:`A` is Gaussian; the readout weight becomes a neuron *type* on its
Gauss–Hermite nodes (one type for the constant readout), each with its own bulk variance
:math:`b_t^2`.  A random teacher's overlap with the spikes and means is averaged over its
Gauss–Hermite nodes (:func:`_overlaps`).

**Features.**  By Mehler's formula, the kernel of the mean part over the neurons of type
:math:`t` is :math:`\Psi_t(\kappa)^\top\Psi_t(\kappa')` with
:math:`\Psi_{t,\alpha}(\kappa) = e_p(\kappa)\,u^\alpha/\sqrt{\alpha!}` (:math:`|\alpha| = p\le P`,
:math:`u = L_t^\top\kappa`, :math:`L_tL_t^\top` the covariance of :math:`A` given the type,
:math:`e_p(\kappa) = \mathbb E\sigma^{(p)}(\mu_t\cdot\kappa + S_t(\kappa)z)`, :math:`\mu_t` its mean,
:math:`S_t^2 = \kappa^\top L_tL_t^\top\kappa + b_t^2`).  :math:`G = \mathbb E_\kappa\Phi\Phi^\top` and
:math:`t = \mathbb E_\kappa[\Phi y]` of :math:`\Phi = (\sqrt{w_t}\Psi_t)_t` carry the mean part; the bulk
coefficients are :math:`\bar h_t = \mathbb E_\kappa e_1` and
:math:`d_t = \mathbb E\sigma^2 - \mathbb E|\Psi_t|^2 - \bar h_t^2b_t^2`.

**Ridge.**  The mean part's vectors are functions of :math:`FQ` and :math:`\omega`, free from the
rotation-invariant bulk :math:`F_\perp`; with :math:`D = \operatorname{diag}(R_t)` the bulk
resolvent's diagonal per type (:func:`_resolvent`), Woodbury's identity gives
:math:`u^\top(\Omega+z)^{-1}u = t^\top D(I+GD)^{-1}t` and
:math:`\operatorname{tr}(\Omega+z)^{-1} = k\sum_tw_tR_t - \operatorname{tr}[(I+DG)^{-1}D_2G]`
(:func:`_ridge`).

Sizes :math:`n, k, m` stay finite numbers in the equations: at the paper's default point the
learned spike is weak (:math:`r^2k\approx0.03`), and its effect is made of terms
:math:`\sqrt k\,r^p` that the proportional limit at fixed :math:`\eta/k` drops.  The learned
direction enters :math:`e_p` whole (no truncation at the Hermite order :math:`l(\beta)`); the degree
:math:`P` concerns the random part :math:`F_iQ`, whose block of degree :math:`p` has eigenvalues
:math:`\sim k(\theta/\tau)^p`.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import time
from itertools import combinations_with_replacement
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.equivalents import hermite_parts
from onestep_gm.numerics.limit import elementwise, kink_cuts
from onestep_gm.numerics.mixture import make_mixture, sizes_from_draws, spike_size, validate_spec
from onestep_gm.numerics.network import FIRST_LAYERS
from onestep_gm.numerics.quadrature import gauss_hermite_rule, hermite_step, panel_rule
from onestep_gm.numerics.ridge import effective_regularisation, errors_from_traces
from onestep_gm.theory.hermite import hermite_coefficients
from onestep_gm.theory.order import scalings
from scipy.stats import qmc

Array = jax.Array

CONVENTION = (
    "gen_error = 1/2*test MSE; train_error = 1/2*train MSE + 1/2*lambda*||w_hat||^2 "
    "(sampling-free theory at finite n, k, m: the law of the trained layer's projections, "
    "free deterministic equivalent of ridge)"
)


@dataclasses.dataclass(frozen=True)
class MixtureQuadrature:
    """Node counts of the mixture theory's quadratures and the degree of the feature map."""

    degree: int = 2  # P: the largest Mehler degree kept in Psi (docs: convergence in P)
    teacher_panel: int = 6  # Gauss-Legendre nodes per panel along the teacher's direction
    other: int = 5  # Gauss-Hermite nodes along every direction of S (the rule without the label)
    teacher_other: int = 3  # Gauss-Hermite nodes across the teacher's direction (the label's rule)
    inner: int = 12  # Gauss-Legendre nodes per panel for the inner Gaussian averages
    overlap: int = 2  # Gauss-Hermite nodes per spike/mean direction for a random teacher's overlap
    readout: int = 6  # Gauss-Hermite nodes for the Gaussian readout weight omega (neuron types)
    sizes: int = 64  # quasi-random draws of random spike sizes (spike_sizes="uniform"), a power of two >= 8

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"MixtureQuadrature.{field.name} must be an integer >= 1 (got {value!r})")
        if self.sizes & (self.sizes - 1) or self.sizes < 8:
            raise ValueError(f"MixtureQuadrature.sizes must be a power of two, at least 8 (got {self.sizes}: "
                             "the control variate's slope is fitted on the draws)")


class Geometry(NamedTuple):
    """The data's law in the coordinates of :math:`S` (host, numpy): per component weights
    ``(C,)``, means ``(C, s)``, covariances ``(C, s, s)``; the teacher vector ``(s,)`` (zero for
    classification), labels ``(C,)`` (classification); the last coordinate of :math:`S` is the
    step's noise direction."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    xi: np.ndarray
    labels: np.ndarray | None
    xi_random_norm2: float  # ||xi||^2 / n: the variance of the random teacher's overlap per direction of S0
    s0: int  # directions of the spikes and means
    tau: float
    n: int


@functools.lru_cache(maxsize=1024)
def geometry(spec) -> Geometry:
    r"""The coordinates of a :class:`~onestep_gm.numerics.mixture.MixtureSpec` in :math:`S`.

    The spec is realised once (:func:`~onestep_gm.numerics.mixture.make_mixture`, seed 0) and
    projected onto the span of its spikes and means: the law depends only on their Gram matrix,
    not on the draw.  A random teacher direction is replaced by its part outside that span; its
    overlap with the span, :math:`O(n^{-1/2})`, is averaged over by :func:`_overlaps` (or annealed
    into the step, :math:`\Sigma_L`, with one overlap node).
    """
    with jax.enable_x64(True):
        mix = make_mixture(spec, 0, dtype=jnp.float64)
        mix = jax.tree_util.tree_map(np.asarray, mix)
    n = spec.n
    spikes = np.asarray(mix.spikes, np.float64)
    sizes = np.asarray(mix.sizes, np.float64)
    means = np.asarray(mix.means, np.float64)
    keep = np.asarray(mix.weights, np.float64) > 0  # a component of weight 0 has no data
    spikes, sizes, means = spikes[keep], sizes[keep], means[keep]
    C = means.shape[0]
    rows = [spikes[c, i] for c in range(C) for i in range(spikes.shape[1]) if sizes[c, i] != 0]
    rows += [means[c] for c in range(C) if np.any(means[c] != 0)]
    basis = []  # Gram-Schmidt in the given order: orthogonal spikes stay coordinate axes
    for row in rows:
        for q in basis:
            row = row - (q @ row) * q
        if np.linalg.norm(row) > 1e-10:
            basis.append(row / np.linalg.norm(row))
    Q0 = np.stack(basis, axis=1) if basis else np.zeros((n, 0))
    s0 = Q0.shape[1]
    regression = not bool(mix.classification)
    xi_full = np.asarray(mix.xi, np.float64)
    random_xi = regression and spec.teacher_direction == "random"
    extra = 1 if random_xi else 0
    s = s0 + extra + 1  # the last coordinate is the step's noise direction zeta
    mu = np.zeros((C, s))
    cov = np.tile(np.eye(s), (C, 1, 1))
    for c in range(C):
        mu[c, :s0] = Q0.T @ means[c]
        G = Q0.T @ spikes[c].T  # (s0, d)
        cov[c, :s0, :s0] += (G * sizes[c]) @ G.T
    xi = np.zeros(s)
    norm2 = float(xi_full @ xi_full)
    if random_xi:
        xi[s0] = math.sqrt(norm2)
    elif regression:
        xi[:s0] = Q0.T @ xi_full
    labels = None if regression else np.where(np.flatnonzero(keep) == 0, 1.0, -1.0)
    return Geometry(
        weights=np.asarray(mix.weights, np.float64)[keep], means=mu, covariances=cov, xi=xi, labels=labels,
        xi_random_norm2=norm2 / n if random_xi else 0.0, s0=s0, tau=float(np.sum(mix.weights * (n + np.sum(mix.sizes, axis=-1)))), n=n,
    )  # fmt: skip


@functools.lru_cache(maxsize=32)
def _multi_indices(s: int, degree: int, split: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""All :math:`\alpha\in\mathbb N^s` with :math:`|\alpha|\le P` ``(R, s)``, :math:`|\alpha|` ``(R,)``
    and :math:`\sqrt{\alpha!}` ``(R,)``; a multi-index that touches the first ``split`` coordinates
    (the conditional ones, :func:`_split`) only with :math:`|\alpha| = 1`.  The linear ones come
    right after the constant, in coordinate order (rows 1 .. s)."""
    rows = []
    for p in range(degree + 1):
        for combo in combinations_with_replacement(range(s), p):
            if p > 1 and min(combo) < split:
                continue
            rows.append(np.bincount(np.asarray(combo, int), minlength=s))
    alpha = np.asarray(rows, np.int64).reshape(-1, s)
    fact = np.sqrt([float(np.prod([math.factorial(int(a)) for a in row])) for row in alpha])
    return alpha, alpha.sum(axis=1), fact


TEACHER_RANGE = 6.0
r"""The teacher's rule stops at :math:`|z| = 6` standard units (normal mass beyond: 2e-9)."""


@functools.lru_cache(maxsize=256)
def _panel_nodes(cuts: tuple, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~onestep_gm.numerics.quadrature.panel_rule` on the host, once per cut set, without
    its panels beyond :data:`TEACHER_RANGE`."""
    with jax.enable_x64(True):
        z, w = panel_rule(jnp.asarray(cuts, jnp.float64), nodes)
        z, w = np.asarray(z), np.asarray(w)
    keep = np.abs(z) < TEACHER_RANGE
    return z[keep], w[keep]


STRONG = 0.02
r"""A direction of :math:`\kappa` whose variance :math:`\lambda` exceeds ``STRONG`` :math:`n` (the
bulk's) gets more Gauss–Hermite nodes (:func:`_axis_nodes`)."""
STRONG_NODES = 24.0
AXIS_BUCKETS = (9, 13, 17, 25, 33, 41)
"""Node counts a strong direction is rounded up to (few shapes, few compilations), at most the
last.  This and the module's other node constants are read when a point's rules are first built
(the caches to clear after changing one: :data:`MAX_DIRECTIONS`)."""


def _axis_nodes(variance: float, n: int, base: int) -> int:
    r"""Gauss–Hermite nodes along a direction of :math:`\kappa` with variance ``variance``:
    ``base``, plus :math:`2\lceil` :data:`STRONG_NODES` :math:`\rho\rceil` for a strong direction
    (:math:`\rho = \lambda/n` > :data:`STRONG`) rounded up to :data:`AXIS_BUCKETS` (at most its last).  Along a strong
    spike a neuron's scale :math:`S(\kappa)^2 = b^2 + \rho b^2z^2 + \dots` has branch points at
    :math:`z = \pm i/\sqrt\rho`, and Gauss–Hermite needs :math:`O(\rho)` nodes to resolve them
    (docs: fig4a's corner, where 5 nodes were off by up to 90 %)."""
    rho = variance / n
    if rho <= STRONG:
        return base
    want = base + 2 * math.ceil(STRONG_NODES * rho)
    return next((b for b in AXIS_BUCKETS if b >= want), AXIS_BUCKETS[-1])


def _kappa_nodes(geo: Geometry, teacher: str | None, quad: MixtureQuadrature, aligned: bool = True,
                 split: int = 0):
    r"""Nodes ``(N, s)``, weights ``(N,)`` (summing to one) and components ``(N,)`` for
    :math:`\mathbb E_\kappa` over the mixture: per component :math:`\kappa = m_c + L_cz` with
    :math:`L_c = V_c\Lambda_c^{1/2}` on the covariance's eigenvectors, so each axis of :math:`z` has
    its own strength and node count (:func:`_axis_nodes`).  For the teacher's rule the first axis
    is along the teacher (:math:`\xi^\top L_c\propto e_1`) with kink-cut Gauss–Legendre panels,
    the others diagonalise the rest of :math:`L_c^\top L_c`.

    With ``split`` conditional coordinates (:func:`_split`) the rule runs over the others,
    :math:`\kappa_q`, and the first ``split`` coordinates of a node are their conditional mean
    :math:`\mathbb E_c[\kappa_w\mid\kappa_q] = m_{c,w} + C_{c,wq}C_{c,qq}^{-1}(\kappa_q - m_{c,q})`
    (their conditional covariance is :func:`_conditional_covariance`)."""
    if split:
        q = slice(split, None)
        sub = geo._replace(means=geo.means[:, q], covariances=geo.covariances[:, q, q], xi=geo.xi[q])
        zq, weights, comp = _kappa_nodes(sub, teacher, quad, aligned)
        B = np.linalg.solve(geo.covariances[:, q, q], geo.covariances[:, q, :split])  # C_qq^{-1} C_qw
        zw = geo.means[comp, :split] + np.einsum("ni,nij->nj", zq - geo.means[comp, q], B[comp])
        return np.concatenate([zw, zq], axis=1), weights, comp
    s = geo.means.shape[1]
    kinks = elementwise(teacher)[2] if teacher is not None else ()
    nodes, weights = [], []
    for c in range(geo.means.shape[0]):
        lam, V = np.linalg.eigh(geo.covariances[c])
        L = V * np.sqrt(lam)[None, :]
        w = L.T @ geo.xi
        norm = float(np.linalg.norm(w))
        if aligned and norm > 0:
            # the teacher's axis first; the rest of z-space on the eigenvectors of L^T L there
            rest = np.linalg.svd(np.eye(s) - np.outer(w, w) / norm**2)[0][:, : s - 1]
            strength, R = np.linalg.eigh(rest.T @ (L.T @ L) @ rest)
            L = L @ np.concatenate([(w / norm)[:, None], rest @ R], axis=1)
            cuts = tuple(float((kk - geo.xi @ geo.means[c]) / norm) for kk in kinks) or (0.0,)
            rules = [_panel_nodes(cuts, quad.teacher_panel)]
            rules += [gauss_hermite_rule(_axis_nodes(v, geo.n, quad.teacher_other)) for v in strength]
        else:
            rules = [gauss_hermite_rule(_axis_nodes(v, geo.n, quad.other)) for v in lam]
        grids = np.meshgrid(*[r[0] for r in rules], indexing="ij")
        wgrids = np.meshgrid(*[r[1] for r in rules], indexing="ij")
        Z = np.stack([g.reshape(-1) for g in grids], axis=1)
        W = np.prod(np.stack([g.reshape(-1) for g in wgrids], axis=1), axis=1)
        nodes.append(geo.means[c] + Z @ L.T)
        weights.append(geo.weights[c] * W / W.sum())
    comp = np.concatenate([np.full(len(w), c) for c, w in enumerate(weights)])
    return np.concatenate(nodes), np.concatenate(weights), comp


def _conditional_covariance(geo: Geometry, split: int) -> np.ndarray:
    r""":math:`\Gamma_c = C_{c,ww} - C_{c,wq}C_{c,qq}^{-1}C_{c,qw}` ``(C, s, s)``, the covariance of the
    first ``split`` coordinates given the others, in the top-left block (zeros elsewhere)."""
    C, s = geo.means.shape
    out = np.zeros((C, s, s))
    if split:
        q = slice(split, None)
        cov = geo.covariances
        out[:, :split, :split] = cov[:, :split, :split] - cov[:, :split, q] @ np.linalg.solve(cov[:, q, q], cov[:, q, :split])
    return out


def _split(geo: Geometry) -> tuple[Geometry, int]:
    r"""Rotate :math:`S_0` (the spikes' and means' span) so that its *weak* directions that carry
    neither the teacher nor a mean come first, and say how many: ``(geometry, split)``.  Only when
    :math:`S` has more than :data:`MAX_DIRECTIONS` directions (``split = 0`` otherwise, the
    geometry untouched).

    Those :math:`w` directions (every component's variance along them at most :data:`STRONG`
    :math:`n`) leave the tensor rule: given the rest :math:`\kappa_q` they are Gaussian
    (:func:`_kappa_nodes`, :func:`_conditional_covariance`), the label does not see them, a
    neuron's scale takes their conditional mean square (its fluctuation is
    :math:`O(\sum_w\lambda_w^2/\tau^2)`), and the features keep their linear monomials
    exactly while their higher ones join the bulk's noise :math:`d` (docs: many spikes)."""
    s = geo.means.shape[1]
    if s <= MAX_DIRECTIONS or geo.s0 == 0:
        return geo, 0
    s0 = geo.s0
    keep = np.concatenate([geo.xi[None, :s0], geo.means[:, :s0]]).T  # (s0, 1 + C)
    U, sv, _ = np.linalg.svd(keep, full_matrices=True)
    r = int(np.sum(sv > 1e-10 * max(float(np.max(sv, initial=0.0)), 1e-300)))
    K, P = U[:, :r], U[:, r:]
    blocks = geo.covariances[:, :s0, :s0]
    _, R = np.linalg.eigh(np.einsum("ji,cjk,kl->il", P, blocks, P))  # summed over the components
    P = P @ R
    variance = np.einsum("ji,cjk,ki->ci", P, blocks, P)  # (C, s0 - r)
    weak = np.all(variance <= STRONG * geo.n, axis=0)
    rot = np.eye(s)
    rot[:s0, :s0] = np.concatenate([P[:, weak], K, P[:, ~weak]], axis=1)
    geo = geo._replace(means=geo.means @ rot, covariances=np.einsum("ji,cjk,kl->cil", rot, geo.covariances, rot),
                       xi=geo.xi @ rot)
    return geo, int(np.sum(weak))


MAX_OVERLAP_POINTS = 4096
"""Most overlap geometries :func:`_overlaps` enumerates (the tensor rule over the coordinates of
:math:`S_0`, folded on the sign-symmetric ones) before merging mirrored ones."""


def _overlap_rules(geo: Geometry, nodes: int) -> tuple[list, list]:
    r"""The rule per coordinate of :math:`S_0` for a random teacher's overlap: Gauss–Hermite, folded
    onto :math:`|g|` for a coordinate whose sign is a symmetry of the law of :math:`\kappa` (every
    component's mean zero along it, no covariance coupling it to the others), and the indices of
    those coordinates."""
    g, w = gauss_hermite_rule(nodes)
    w = w / w.sum()
    C = geo.covariances[:, : geo.s0, : geo.s0]
    tol = 1e-10 * np.abs(C).max()
    means = np.abs(geo.means[:, : geo.s0]) <= 1e-10 * max(1.0, float(np.abs(geo.means).max(initial=0.0)))
    alone = [d for d in range(geo.s0)
             if np.all(means[:, d]) and not np.any(np.abs(np.delete(C[:, d, :], d, axis=1)) > tol)]  # fmt: skip
    folded = np.unique(np.round(np.abs(g), 12))
    folded_w = np.array([w[np.isclose(np.abs(g), v)].sum() for v in folded])
    return [(folded, folded_w) if d in alone else (g, w) for d in range(geo.s0)], alone


def _overlaps(geo: Geometry, nodes: int):
    r"""``(geometry, weight)`` pairs averaging over a random teacher's overlap with the spikes and
    means: :math:`\xi_{S_0} = \|\xi\|g/\sqrt n`, :math:`g\sim\mathcal N(0, I_{s_0})`, by a tensor
    Gauss–Hermite rule (its effect on the teacher grows like :math:`\theta/n`: 17 % of the label
    variance at fig1b's :math:`\alpha = 0`).  One pair, the geometry itself with the overlap
    annealed into the step (:math:`\Sigma_L`), when ``nodes`` is 1 or there is no random teacher."""
    if geo.xi_random_norm2 == 0 or geo.s0 == 0 or nodes <= 1:
        return [(geo, 1.0)]
    rules, alone = _overlap_rules(geo, nodes)
    count = math.prod(len(r[0]) for r in rules)
    if count > MAX_OVERLAP_POINTS:
        raise ValueError(
            f"at most {MAX_OVERLAP_POINTS} geometries for a random teacher's overlap with the spikes and means "
            f"(got {count}: {geo.s0 - len(alone)} of {geo.s0} directions coupled or under a mean; in Python, "
            "sampling_free_point(..., quad=MixtureQuadrature(overlap=1)) anneals the overlap instead)")
    grids = np.meshgrid(*[r[0] for r in rules], indexing="ij")
    wgrids = np.meshgrid(*[r[1] for r in rules], indexing="ij")
    points = np.stack([gr.reshape(-1) for gr in grids], axis=1)
    weights = np.prod(np.stack([wg.reshape(-1) for wg in wgrids], axis=1), axis=1)
    # symmetries of the law of kappa (zero means): a coordinate of S0 that no covariance couples to
    # the others may flip sign alone (its rule is folded onto |g|), and flipping all of them is
    # always one; the errors are the same at mirrored overlaps, so each class is evaluated once
    # with its summed weight
    if np.abs(geo.means).max(initial=0.0) <= 1e-10:
        key = points.copy()
        first = np.argmax(np.abs(key) > 1e-12, axis=1)
        sign = np.where(key[np.arange(len(key)), first] < 0, -1.0, 1.0)
        key = np.round(key * sign[:, None], 12)
        classes: dict = {}
        for point, weight, k_ in zip(points, weights, map(tuple, key), strict=True):
            classes.setdefault(k_, [point, 0.0])[1] += weight
        points = np.array([v[0] for v in classes.values()])
        weights = np.array([v[1] for v in classes.values()])
    out = []
    for point, weight in zip(points, weights, strict=True):
        xi = geo.xi.copy()
        xi[: geo.s0] = math.sqrt(geo.xi_random_norm2) * point
        out.append((geo._replace(xi=xi, xi_random_norm2=0.0), float(weight)))
    return out


def _rules(spec, teacher: str | None, quad: MixtureQuadrature) -> tuple:
    r"""Per overlap node of a random teacher (:func:`_overlaps`): its weight, the quadrature nodes
    over :math:`\kappa` (the teacher's rule and the smooth one, :func:`_kappa_nodes`), the
    geometry's arrays (with the conditional covariance, :func:`_split`), the overlap variance left
    to anneal and the number of conditional coordinates; host arrays (:func:`_device_rules` caches
    them on the device per spec)."""
    rules = []
    for geo_g, weight in _overlaps(geometry(spec), quad.overlap):
        geo_g, split = _split(geo_g)
        if geo_g.means.shape[1] - split > MAX_DIRECTIONS:  # mixture_applies refuses these first
            raise ValueError(_directions_message(geo_g.means.shape[1] - split))
        kz, kw, comp = _kappa_nodes(geo_g, teacher, quad, split=split)
        smooth = _kappa_nodes(geo_g, teacher, quad, aligned=False, split=split) if teacher is not None else (kz, kw, comp)
        labels = geo_g.labels if geo_g.labels is not None else np.zeros(len(geo_g.weights))
        arrays = (geo_g.weights, geo_g.means, geo_g.covariances, geo_g.xi, labels, _conditional_covariance(geo_g, split))
        rules.append((weight, (kz, kw, comp, *smooth), arrays, geo_g.xi_random_norm2, split))
    return tuple(rules)


@functools.lru_cache(maxsize=1024)
def _device_rules(spec, teacher: str | None, quad: MixtureQuadrature) -> tuple:
    """:func:`_rules` as float64 device arrays, once per spec (no host-to-device copies per point)."""
    with jax.enable_x64(True):
        return tuple((weight, tuple(jnp.asarray(a) for a in nodes), tuple(jnp.asarray(a) for a in arrays), xi_random,
                      split) for weight, nodes, arrays, xi_random, split in _rules(spec, teacher, quad))  # fmt: skip


@functools.lru_cache(maxsize=16)
def _device_readout(nodes: int) -> tuple:
    r"""The neuron types: Gauss–Hermite nodes and weights of the Gaussian readout weight
    :math:`\omega` (``nodes`` of them), or the constant readout's one type (``nodes = 0``)."""
    if nodes:
        omega, omega_w = gauss_hermite_rule(nodes)
        omega_w = omega_w / omega_w.sum()
    else:
        omega, omega_w = np.ones(1), np.ones(1)
    with jax.enable_x64(True):
        return jnp.asarray(omega), jnp.asarray(omega_w)


class SamplingFreePoint(NamedTuple):
    """The theory at one point; errors in the figures' convention (:data:`CONVENTION`)."""

    gen_error: float
    train_error: float
    test_mse: float
    train_mse: float
    info: dict


def _gauss_moments(sigma, kinks, scale, inner, degree, shift=None):
    r""":math:`e_p = \mathbb E\sigma^{(p)}(Sz) = \mathbb E[\sigma(Sz)\mathrm{He}_p(z)]/S^p` for
    :math:`p\le` ``degree`` ``(degree+1, ...)`` and :math:`\mathbb E\sigma(Sz)^2`, by Stein's lemma (no
    derivative of :math:`\sigma`)."""
    shift = jnp.zeros_like(scale) if shift is None else shift
    cuts = kink_cuts(kinks, shift, scale)
    z, w = panel_rule(cuts, inner)
    f = sigma(shift[..., None] + scale[..., None] * z)
    prev, cur = jnp.zeros_like(z), jnp.ones_like(z)
    out = []
    for p in range(degree + 1):  # p_j = He_j/sqrt(j!) by the normalised recurrence
        out.append(jnp.sum(w * f * cur, axis=-1) * math.sqrt(math.factorial(p)) / scale**p)
        prev, cur = cur, hermite_step(z, prev, cur, p)
    return jnp.stack(out), jnp.sum(w * f * f, axis=-1)


@functools.partial(jax.jit, static_argnames=("activation", "teacher", "degree", "inner", "classification", "hermite",
                                             "grid", "split"))
def _point(kz, kw, comp, sz, sw, scomp, omega, omega_w, geo_arrays, params, features, *, activation, teacher, degree,
           inner, classification, hermite, grid, split):
    weights, means, covs, xi, labels, gamma = geo_arrays
    n, k, m, m_step, lam, eta, tau_f, noise, xi_random, s0, k_step = (params[i] for i in range(11))
    sigma, _, kinks = elementwise(activation)
    alpha, degrees, fact = _multi_indices(means.shape[1], degree, split)
    # the readout's features: sigma, or the Hermite model's polynomial (its fresh noise h_l* g adds
    # (h_l*)^2 to each feature's second moment and nothing to its mean)
    feature, feature_kinks = (functools.partial(_hermite_polynomial, features), (0.0,)) if hermite else (sigma, kinks)
    C, s = means.shape
    eye = jnp.eye(s)

    # the labels on the nodes and the data's moments per component
    if classification:
        y = labels[comp]
    else:
        tsigma = elementwise(teacher)[0]
        y = tsigma(kz @ xi)
    onehot = (comp[:, None] == jnp.arange(C)[None, :]).astype(kz.dtype)  # (N, C)
    wc = kw[:, None] * onehot / weights[None, :]  # per-component weights, each summing to one
    y_bar = wc.T @ y  # (C,)
    y2 = kw @ y**2 + noise**2
    yk = wc.T @ (y[:, None] * kz)  # E_c[y kappa] (C, s)

    # the step: s_1, s_2 per component at the component's pre-activation scale b_c
    b_c = jnp.sqrt(jnp.einsum("cii->c", covs) + (n - s)) / jnp.sqrt(tau_f)
    e_c, _ = _gauss_moments(sigma, kinks, b_c, inner, 2)
    s1, s2 = e_c[1], e_c[2]
    c = eta / k_step  # the step's width: the readout may use the first k of k_step neurons
    Lvec = (weights * s1) @ yk
    M = jnp.einsum("c,cij->ij", weights * s2 * y_bar, covs)
    s1_nodes = s1[comp]
    second = (kw[:, None] * (s1_nodes * y)[:, None] ** 2 * kz).T @ kz + noise**2 * jnp.einsum(
        "c,cij->ij", weights * s1**2, covs + jnp.einsum("ci,cj->cij", means, means))
    # the conditional coordinates' fluctuation about their mean on the nodes (none without a split)
    second = second + jnp.einsum("c,cij->ij", weights * s1**2 * (wc.T @ y**2), gamma)
    Sigma_delta = (second - jnp.outer(Lvec, Lvec)) / m_step
    zeta2 = (n - s) * (kw @ (s1_nodes * y) ** 2 + noise**2 * (weights @ s1**2)) / m_step
    K = jnp.einsum("c,cij->ij", weights * s1 * _stein(wc, y, kz, means, covs, xi), covs)
    in_s0 = (jnp.arange(s) < s0).astype(kz.dtype)
    Sigma_L = xi_random * (K * in_s0[None, :]) @ (K * in_s0[None, :]).T
    e_zeta = eye[s - 1]
    # neuron types: the readout weight omega at its quadrature nodes (one type for the constant
    # readout); given omega, A = (I + c omega M) F_i Q + omega c v is Gaussian
    v = Lvec + jnp.sqrt(zeta2) * e_zeta
    rescale = eye[None] + c * omega[:, None, None] * M[None]
    Sigma_T = jnp.einsum("tij,tkj->tik", rescale, rescale) / tau_f + (c * omega)[:, None, None] ** 2 * (
        Sigma_L + Sigma_delta)[None]
    # the bulk per type: the first layer's rows outside S, rescaled by the step's Stein term, plus
    # the step's per-neuron noise (sigma' - s_1) y x_perp
    dsq = _dsigma_sq(activation, b_c, inner)
    bulk_noise = (n / m_step) * (weights @ ((dsq - s1**2) * (wc.T @ y**2 + noise**2)))
    b2 = (n - s) / tau_f * (1.0 + c * omega * (weights @ (s2 * y_bar))) ** 2 + (c * omega) ** 2 * bulk_noise

    # the feature map per type: G and the bulk's coefficients on the smooth nodes, t on the teacher's
    L_T = jnp.linalg.cholesky(Sigma_T)  # (T, s, s)
    both = jnp.concatenate([kz, sz])  # (N + N_s, s)
    u = jnp.einsum("ni,tij->tnj", both, L_T)  # (T, N + N_s, s)
    # the conditional coordinates' mean square given kappa_q: tr(Gamma_c Sigma_T) in the scale, and
    # the learned shift's fluctuation (c omega)^2 v^T Gamma_c v folded in with it (zero without a split)
    spread = jnp.einsum("cij,tji->ct", gamma, Sigma_T) + jnp.einsum("i,cij,j->c", v, gamma, v)[:, None] * (
        c * omega)[None, :] ** 2  # (C, T)
    comps = jnp.concatenate([comp, scomp])
    scale = jnp.sqrt(jnp.sum(u * u, axis=-1).T + b2[None, :] + spread[comps])  # (N + N_s, T)
    N = kz.shape[0]
    # the mean of A.kappa per type is omega_t c v.kappa
    e, m2 = _interpolated_moments(feature, feature_kinks, c * (both @ v), omega, scale, inner, degree, N, grid)
    m2 = m2 + features[-1] ** 2 if hermite else m2
    # u^alpha / sqrt(alpha!) for the static multi-indices (products of columns, no gather)
    columns = []
    for row in alpha:
        term = jnp.ones(u.shape[:-1], u.dtype)
        for d_, power in enumerate(row):
            if power:
                term = term * u[..., d_] ** int(power)
        columns.append(term)
    mono = jnp.stack(columns, axis=-1) / fact  # (T, N + N_s, R)
    Psi = e[degrees].transpose(2, 1, 0) * mono * jnp.sqrt(omega_w)[:, None, None]  # (T, N + N_s, R)
    T_, R_ = Psi.shape[0], Psi.shape[2]
    Phi_s = Psi[:, N:].transpose(1, 0, 2).reshape(-1, T_ * R_)  # (N_s, T R)
    G = (Phi_s * sw[:, None]).T @ Phi_s
    t = Psi[:, :N].transpose(1, 0, 2).reshape(N, T_ * R_).T @ (kw * y)
    h1 = sw @ e[1, N:]  # (T,)
    psi2 = jnp.einsum("n,tnr->t", sw, Psi[:, N:] ** 2) / omega_w
    if split:
        # the linear monomials' conditional covariance: E[u_i u'_l | kappa_q] gains (L_t^T Gamma_c L_u)_il
        X = jnp.einsum("n,nc,nt,nu->ctu", sw, (scomp[:, None] == jnp.arange(C)[None, :]).astype(sw.dtype),
                       e[1, N:], e[1, N:])  # rho_c E_c[e_1 e_1'] per type pair
        Y = jnp.einsum("tji,cjk,ukl->ctuil", L_T, gamma, L_T)
        corr = jnp.einsum("ctu,ctuil->tiul", X, Y) * jnp.sqrt(omega_w[:, None, None, None] * omega_w[None, None, :, None])
        G = G.reshape(T_, R_, T_, R_).at[:, 1 : s + 1, :, 1 : s + 1].add(corr).reshape(T_ * R_, T_ * R_)
        psi2 = psi2 + jnp.einsum("ctt,cij,tji->t", X, gamma, Sigma_T)
    d = jnp.maximum(sw @ m2 - psi2 - h1**2 * b2, 0.0)
    bulk = _Bulk(h2=h1**2 * b2, d=d, w=omega_w, ratio=k / (n - s), k=k)
    out = _ridge(G, t, bulk, R_, y2, k, m, lam)
    out |= {"h1": omega_w @ h1, "d_bar": omega_w @ d, "b2": omega_w @ b2,
            "spike_norm2": c**2 * (Lvec @ Lvec + zeta2), "zeta2": zeta2, "trace_G": jnp.trace(G)}
    return jnp.stack([out[key] for key in OUTPUTS])  # one array: one transfer to the host


OUTPUTS = ("test_mse", "train_mse", "w_norm2", "kappa", "df1", "df2", "sigma_eps2", "bias", "variance",
           "h1", "d_bar", "b2", "spike_norm2", "zeta2", "trace_G")
"""What :func:`_point` returns, in order (:attr:`SamplingFreePoint.info`'s keys)."""


RANK = 40
"""Eigen-directions of :math:`G` kept in the ridge's solves: keeping all of them (up to 200)
changes the errors by less than 2e-12 relative at the default point and at fig4a's corners
(measured, docs)."""

NEWTON_STEPS = 4
r"""Newton steps for the bulk's :math:`\delta` from its upper bound (with :data:`KAPPA_BISECTION`
and :data:`KAPPA_NEWTON`: see there)."""


KAPPA_BISECTION = 4
"""Bisection steps in log kappa before :data:`KAPPA_NEWTON`."""
KAPPA_NEWTON = 6
r"""Newton steps for the effective regularisation after :data:`KAPPA_BISECTION` bisection steps
(:func:`~onestep_gm.numerics.ridge.effective_regularisation`).  Against 44 bisection steps, 4 + 6
steps agreed to 7e-15 relative at 293 (point, activation) pairs of the paper's panels, and to
1e-15 at k/m = 1.2, :math:`\lambda` down to 1e-10 (a test), where 2 + 4 were 3 % off in the test
error and a factor 85 in the training error: the bracket spans many decades when
:math:`\lambda` is small.  4 Newton steps for :math:`\delta` (instead of 6) move the errors by
1e-14 at 16 points (the default point, fig1b's ends, fig4a's strong corners, k/m = 5 and 1/5 at
lambda = 1e-6, lambda = 10; ReLU and tanh; docs)."""


class _Bulk(NamedTuple):
    r"""The bulk :math:`B = \frac1k(HZZ^\top H/(n-s) + \operatorname{diag}d)` by neuron type:
    :math:`H^2 = ` ``h2`` :math:`= \bar h_1^2b^2`, ``d``, type weights ``w``, ``ratio`` :math:`k/(n-s)`."""

    h2: Array
    d: Array
    w: Array
    ratio: Array
    k: Array


def _resolvent(bulk: _Bulk, z):
    r"""The deterministic equivalent of :math:`\operatorname{diag}(B+z)^{-1}` per type:
    :math:`k/(d_t + kz + h_t^2/(1+\delta))`, :math:`\delta = \frac{k}{n-s}\sum_tw_th_t^2/(d_t+kz+h_t^2/(1+\delta))`
    (a sample covariance with independent rows of variances :math:`h_t^2` plus a diagonal;
    Silverstein and Bai 1995).  :math:`\delta` by Newton's method, differentiable in :math:`z` through
    the implicit function theorem (``jax.lax.custom_root``)."""
    kz = bulk.k * z

    def excess(delta):
        return delta - bulk.ratio * jnp.sum(bulk.w * bulk.h2 / (bulk.d + kz + bulk.h2 / (1.0 + delta)))

    def solve(f, _):
        # g(delta) = excess is convex and increasing (the sum is concave in 1 + delta), so Newton's
        # method from an upper bound (g >= 0 there) descends monotonically to the root
        delta = bulk.ratio * jnp.sum(bulk.w * bulk.h2 / (bulk.d + kz))

        def step(_, delta):
            value, slope = jax.jvp(f, (delta,), (jnp.ones_like(delta),))
            return jnp.maximum(delta - value / slope, 0.0)

        return jax.lax.fori_loop(0, NEWTON_STEPS, step, delta)

    delta = jax.lax.custom_root(excess, jnp.zeros(()), solve, lambda g, r: r / g(1.0))
    return bulk.k / (bulk.d + kz + bulk.h2 / (1.0 + delta))


def _ridge(G, t, bulk: _Bulk, R, s_y, k, m, lam):
    r"""The deterministic equivalent of ridge (:mod:`onestep_gm.numerics.ridge`) for
    :math:`\Omega = B + \mathcal V\mathcal V^*/k`, :math:`u = \mathcal Vy/\sqrt k`, with
    :math:`\mathcal V^*f(B)\mathcal V \simeq kJ\operatorname{diag}(f(B)_t)J^*` (types' diagonal
    resolvents; :math:`J^*J = G`, :math:`J^*y = t`): Woodbury's identity gives
    :math:`u^\top(\Omega+z)^{-1}u = t^\top D(I+GD)^{-1}t` and
    :math:`\operatorname{tr}(\Omega+z)^{-1} = \sum_iR_{ii} - \operatorname{tr}[(I+DG)^{-1}D_2G]`,
    :math:`D = \operatorname{diag}(R_t)`, :math:`D_2 = -dD/dz`."""
    # G = W W^T with W = Q Lambda^{1/2} on its RANK largest eigenvalues (the rest change the errors
    # by less than 2e-12, RANK's note): every solve is RANK x RANK
    lam_g, Q = jnp.linalg.eigh(G)
    rank = min(RANK, G.shape[0])
    W = Q[:, -rank:] * jnp.sqrt(jnp.maximum(lam_g[-rank:], 0.0))[None, :]
    eye = jnp.eye(rank)
    # t = W c (t lies in the range of G = W W^T): c = Lambda^{-1/2} Q^T t on the kept directions
    top = lam_g[-rank:]
    c = jnp.where(top > 0, (Q[:, -rank:].T @ t) / jnp.sqrt(jnp.where(top > 0, top, 1.0)), 0.0)

    def diag(z):
        return jnp.repeat(_resolvent(bulk, z), R)

    def T1(z):  # tr (Omega + z)^{-1} = sum_i R_ii - tr[(I + W^T D W)^{-1} W^T D_2 W]
        Dz = diag(z)
        D2 = -jax.jacfwd(diag)(z)
        inner = eye + W.T @ (Dz[:, None] * W)
        return k * (bulk.w @ _resolvent(bulk, z)) - jnp.trace(jnp.linalg.solve(inner, W.T @ (D2[:, None] * W)))

    def U(z):  # u^T (Omega + z)^{-1} u = c^T M (I + M)^{-1} c, M = W^T D W
        M = W.T @ (diag(z)[:, None] * W)
        return c @ (M @ jnp.linalg.solve(eye + M, c))

    trace = jnp.trace(G) + jnp.sum(bulk.w * (bulk.h2 + bulk.d))
    kappa = effective_regularisation(lambda kappa: k - kappa * T1(kappa), lam, m, trace, steps=KAPPA_BISECTION, newton=KAPPA_NEWTON)  # df1 = k - kappa T1
    t1 = T1(kappa)
    t2 = -jax.jacfwd(T1)(kappa)
    u0, uk = U(jnp.zeros(())), U(kappa)
    u2 = -jax.jacfwd(U)(kappa)
    out = errors_from_traces(
        kappa, lam, m, s_y, k - kappa * t1, k - 2.0 * kappa * t1 + kappa**2 * t2,
        t1 - kappa * t2,  # tr Omega (Omega + kappa)^{-2}
        u0, (u0 - uk) / kappa, (u0 - uk) / kappa**2 - u2 / kappa,  # partial fractions of the a_p
    )
    return {key: getattr(out, key) for key in ("test_mse", "train_mse", "w_norm2", "kappa", "df1", "df2",
                                                 "sigma_eps2", "bias", "variance")}


CHEBYSHEV_SHIFT = 16
CHEBYSHEV_SCALE = 10
r"""Chebyshev nodes in the shift :math:`\mu` and the scale :math:`\log S` on which the Gaussian
averages :math:`e_p(\mu, S)` are computed per neuron type and interpolated to the quadrature nodes
(both are smooth in :math:`\mu` and :math:`S > 0`; docs: interpolation error).  16 points in the
shift instead of 32 move the errors by at most 7e-7 at 38 points (the default point, fig1b's ends,
alpha = 1 at beta = 0.95, k/m = 5 and 1/5, every 37th point of fig4a; ReLU and tanh) and by
7.8e-5 at fig4a's alpha = beta = 1, the largest step (the time saved: docs' Performance page)."""
POLYNOMIAL_CHEBYSHEV = (64, 24)
"""The grid's points in the shift and in :math:`S` itself for fast-growing features (:func:`_moment_grid`)."""


@functools.lru_cache(maxsize=64)
def _moment_grid(activation: str, hermite: bool) -> tuple[int, int, bool]:
    r"""The Chebyshev grid of :func:`_interpolated_moments`: ``(A, B, log)``.

    An activation of at most linear growth (ReLU, tanh, sigmoid, ...): :data:`CHEBYSHEV_SHIFT` by
    :data:`CHEBYSHEV_SCALE` points, the scale's in :math:`\log S` (along a strong spike :math:`S`
    spans a decade; with 8 points in :math:`S` fig4a's corner was off by 13 %).  A faster-growing
    one, and the Hermite model's polynomial: :data:`POLYNOMIAL_CHEBYSHEV` points, the scale's in
    :math:`S`, where :math:`\mathbb E\sigma^2` is a polynomial (degree :math:`2(l-1)` for order
    :math:`l`, exact with :math:`2l-1` points; in :math:`\log S` relu3 at fig4a's corner gave NaN
    and the Hermite model's order 8 at :math:`\beta = 0.93`, :math:`\alpha = 0` was 5× off)."""
    if hermite:
        return (*POLYNOMIAL_CHEBYSHEV, False)
    sigma = elementwise(activation)[0]
    with jax.enable_x64(True):
        x = jnp.asarray([10.0, -10.0, 100.0, -100.0])
        value = np.abs(np.asarray(sigma(x), np.float64))
    linear = bool(np.all(np.isfinite(value))) and max(value[2:]) <= 12.0 * max(max(value[:2]), 1.0)
    return (CHEBYSHEV_SHIFT, CHEBYSHEV_SCALE, True) if linear else (*POLYNOMIAL_CHEBYSHEV, False)


def _chebyshev(values, count):
    r"""Chebyshev points of the first kind spanning each row of ``values`` ``(T, N)``: the points
    ``(T, count)`` and the barycentric interpolation matrix ``(T, N, count)`` to the values."""
    lo, hi = jnp.min(values, axis=1), jnp.max(values, axis=1)
    pad = 1e-6 * jnp.maximum(jnp.abs(lo) + jnp.abs(hi), 1e-3)
    lo, hi = lo - pad, hi + pad
    j = np.arange(count)
    x = jnp.asarray(np.cos((2 * j + 1) * np.pi / (2 * count)))
    bary = jnp.asarray((-1.0) ** j * np.sin((2 * j + 1) * np.pi / (2 * count)))
    points = (lo + hi)[:, None] / 2 + (hi - lo)[:, None] / 2 * x[None, :]
    t = (2 * values - (lo + hi)[:, None]) / (hi - lo)[:, None]
    diff = t[..., None] - x
    exact = jnp.abs(diff) < 1e-14
    weights = bary / jnp.where(exact, 1.0, diff)
    weights = jnp.where(jnp.any(exact, axis=-1, keepdims=True), exact.astype(values.dtype), weights)
    return points, weights / jnp.sum(weights, axis=-1, keepdims=True)


def _interpolated_moments(sigma, kinks, base, omega, scale, inner, degree, split, grid):
    r""":func:`_gauss_moments` at the shifts :math:`\omega_t\,m_n` and scales :math:`S_{nt}` of every
    node ``n`` and neuron type ``t`` (``base`` :math:`m` ``(N,)``, ``omega`` ``(T,)``, ``scale``
    ``(N, T)``), interpolated from a tensor grid of Chebyshev points in :math:`m` and in
    :math:`S` or :math:`\log S` per type spanning the values met:
    :math:`e_p` ``(degree+1, N, T)``, and :math:`\mathbb E\sigma^2` ``(N - split, T)`` on the rows
    from ``split`` on (the first ``split`` rows need only the :math:`e_p`).  The shifts of all types
    are multiples of one :math:`m`, so the interpolation weights in the shift are shared and the
    contraction over them is one matrix product.  ``grid``: ``(A, B, log)``, the points in the
    shift and the scale and whether the scale's are in :math:`\log S` (:func:`_moment_grid`)."""
    A, B, log = grid
    m_pts, m_w = _chebyshev(base[None, :], A)  # (1, A), (1, N, A)
    s_pts, s_w = _chebyshev(jnp.log(scale.T) if log else scale.T, B)  # (T, B), (T, N, B)
    grid_mu = jnp.broadcast_to((omega[:, None] * m_pts)[:, :, None], (omega.shape[0], A, B))
    grid_s = jnp.broadcast_to((jnp.exp(s_pts) if log else s_pts)[:, None, :], grid_mu.shape)
    e, m2 = _gauss_moments(sigma, kinks, grid_s, inner, degree, shift=grid_mu)  # (P, T, A, B), (T, A, B)
    grid = jnp.concatenate([e, m2[None]])  # (P + 1, T, A, B)

    s_w = s_w.transpose(1, 0, 2)  # (N, T, B)

    def contract(rows, values):  # one (N x A) @ (A x Q T B) product, then the scale's weights
        flat = jnp.moveaxis(values, 2, 0).reshape(A, -1)
        partial = (m_w[0, rows] @ flat).reshape(-1, *values.shape[:2], B)  # (N, Q, T, B)
        return jnp.sum(partial * s_w[rows, None], axis=-1).transpose(1, 0, 2)  # (Q, N, T)

    first = contract(slice(None, split), grid[:-1])
    rest = contract(slice(split, None), grid)
    return jnp.concatenate([first, rest[:-1]], axis=1), rest[-1]


def _hermite_polynomial(features, x):
    r""":math:`\hat\sigma_l(x) - h_l^*g = \sum_{j<l}(h_j/j!)\mathrm{He}_j(x/b)`, the Hermite model's
    mean feature (the simulation's own :func:`~onestep_gm.numerics.equivalents.hermite_parts`;
    Demir & Dogan 2025, Theorem 3.2) from ``features`` ``(h_0, ..., h_{l-1}, 0, ..., b, h_l^*)``."""
    return hermite_parts(x, features[:-2], features[-1], features[-2])[0]


def _stein(wc, y, kz, means, covs, xi):
    r""":math:`t'_c = \mathbb E_c[\sigma_*'(\xi^\top x)]` by Stein's lemma,
    :math:`\mathbb E_c[y\,\xi^\top(\kappa - m_c)]/\xi^\top C_c\xi` (0 for classification)."""
    var = jnp.einsum("i,cij,j->c", xi, covs, xi)
    centred = kz @ xi
    num = wc.T @ (y * centred) - (wc.T @ y) * (means @ xi)
    return jnp.where(var > 0, num / jnp.where(var > 0, var, 1.0), 0.0)


def _dsigma_sq(activation, scale, inner):
    _, dsigma, kinks = elementwise(activation)
    cuts = kink_cuts(kinks, jnp.zeros_like(scale), scale)
    z, w = panel_rule(cuts, inner)
    return jnp.sum(w * dsigma(scale[..., None] * z) ** 2, axis=-1)


def sampling_free_point(config, activation: str, eta: float | None = None,
                        quad: MixtureQuadrature = MixtureQuadrature(), k_step: int | None = None,
                        order: int | None = None) -> SamplingFreePoint:
    r"""The sampling-free test and training errors of the one-step network at ``config``'s point.

    Finite sizes :math:`n, k, m` (the paper's scalings :math:`\theta = n^{\beta(1-\alpha)}`,
    :math:`\eta = n^{\beta\alpha}` kept as numbers), no sampled :math:`\hat F` and no
    :math:`k`-sized array: the law of one neuron's projections on :math:`S`, the Mehler feature map
    and the free deterministic equivalent of ridge (module notes, ``docs/limit-theory.md``).
    Float64 inside a scoped ``jax.enable_x64``.

    Parameters
    ----------
    config : SimulationConfig
        A Gaussian mixture (:func:`mixture_applies` lists what is covered); its ``k``, ``m``,
        ``m_step``, ``lam``, ``eta``, ``readout_init`` and ``first_layer``.
    activation : str
        The student's activation (a registry name or a whitelisted expression).
    eta : float, optional
        The learning rate; default ``config.eta`` or :math:`n^{\beta\alpha}`.
    quad : MixtureQuadrature
        Node counts and the Mehler degree; against a refined rule the defaults differ by under
        1e-5 (relative) at the paper's default point and fig1b's ends, and by up to 2.3e-3 in
        fig4a's strong-spike corner (measured in the docs).
    k_step : int, optional
        The width the step was taken at (:math:`w_i = \omega_i/\sqrt{k_{step}}`), when the readout
        uses the first ``config.k`` of its neurons (``onestep curve --vary k``); default ``config.k``.
    order : int, optional
        The Hermite model of this order :math:`l` (2 to :data:`MAX_ORDER`) instead of the network:
        :math:`\hat\sigma_l(u) = \sum_{j<l}(h_j/j!)\mathrm{He}_j(u/b) + h_l^*g` replaces
        :math:`\sigma` in the readout's features, the step keeps :math:`\sigma` (Demir & Dogan 2025,
        Theorem 3.2; :math:`b` the first layer's bulk scale, :math:`b^2 = n/\tau` for Gaussian rows).

    Returns
    -------
    SamplingFreePoint
        ``gen_error`` :math:`=\tfrac12` test MSE, ``train_error`` :math:`=\tfrac12` train MSE
        :math:`+\tfrac12\lambda\|\hat w\|^2` (the paper's convention, :data:`CONVENTION`), the raw
        MSEs and ``info`` (effective regularisation, degrees of freedom, bulk coefficients).

    Raises
    ------
    ValueError
        For a configuration :func:`mixture_applies` does not cover (one sentence naming what is
        missing), or an ``order`` outside 2 .. :data:`MAX_ORDER`.
    """
    if order is not None and (isinstance(order, bool) or not isinstance(order, numbers.Integral)
                              or not 2 <= order <= MAX_ORDER):
        raise ValueError(f"order must be an integer in 2 .. {MAX_ORDER} (got {order!r})")
    order = None if order is None else int(order)
    missing = mixture_applies(config, quad)
    if missing:
        raise ValueError("the sampling-free mixture theory needs " + ", ".join(missing))

    spec = config.data
    eta = config.eta if eta is None and config.eta is not None else eta
    eta = scalings(spec.n, spec.beta, spec.alpha).eta if eta is None else eta
    classification = spec.task == "classification"
    teacher = None if classification else spec.teacher
    m_step = config.m if config.m_step is None else config.m_step
    if k_step is not None and (isinstance(k_step, bool) or not isinstance(k_step, numbers.Integral)
                               or k_step < config.k):
        raise ValueError(f"k_step must be an integer of at least k = {config.k} (got {k_step!r})")
    k_step = config.k if k_step is None else int(k_step)
    specs, g, g_mean = _size_rule(spec, quad.sizes)  # the spike sizes' law (one spec for fixed sizes)
    readout = _device_readout(quad.readout if config.readout_init == "gaussian" else 0)
    values = []
    with jax.enable_x64(True):
        for spec_d in specs:
            totals: dict = {}
            geo = geometry(spec_d)
            tau_f = geo.tau if config.first_layer == "gaussian" else float(spec.n)
            params = np.array([spec.n, config.k, config.m, m_step, config.lam, eta, tau_f, float(spec.noise),
                               0.0, geo.s0, k_step], np.float64)
            features = _hermite_features(activation, order, FIRST_LAYERS[config.first_layer].bulk_scale(spec.n, geo.tau))
            for weight, nodes, arrays, xi_random, split in _device_rules(spec_d, teacher, quad):
                params[8] = xi_random
                out = _point(*nodes, *readout, arrays, jnp.asarray(params),
                             jnp.asarray(features), activation=activation, teacher=teacher, degree=quad.degree,
                             inner=quad.inner, classification=classification, hermite=order is not None,
                             grid=_moment_grid(activation, order is not None), split=split)
                for key, value in zip(OUTPUTS, np.asarray(out), strict=True):  # averages over the teacher's draw
                    totals[key] = totals.get(key, 0.0) + weight * float(value)
            values.append(totals)
    out = _size_average(values, g, g_mean)
    if not all(math.isfinite(out[key]) for key in ("test_mse", "train_mse", "w_norm2")):
        raise ValueError(
            f"the sampling-free theory is not finite at this point ({activation}"
            f"{'' if order is None else f', order {order}'}: a feature with no nonlinear part left, "
            "d = 0, and lambda too small for the bulk's resolvent)")
    return SamplingFreePoint(
        gen_error=out["test_mse"] / 2,
        train_error=out["train_mse"] / 2 + config.lam * out["w_norm2"] / 2,
        test_mse=out["test_mse"], train_mse=out["train_mse"], info=out,
    )


class SamplingFreeCurve(NamedTuple):
    """The theory along a learning curve: ``values`` ``(P,)`` of ``vary``; ``gen_error``,
    ``train_error`` ``(P,)`` in the figures' convention (:data:`CONVENTION`); ``info`` the
    ridge's internals ``{"kappa", "df1", "df2", "sigma_eps2", "bias", "variance"}`` ``(P,)``; the
    step's width ``k_step`` and batch ``m_step``; ``seconds`` of wall time."""

    vary: str
    values: np.ndarray
    gen_error: np.ndarray
    train_error: np.ndarray
    info: dict
    k_step: int
    m_step: int
    seconds: float


def sampling_free_curve(config, vary: str = "m", values=None, points: int = 100, activation: str | None = None,
                        order: int | None = None, quad: MixtureQuadrature = MixtureQuadrature()) -> SamplingFreeCurve:
    r""":func:`sampling_free_point` along a learning curve of ``config``, as the conditional
    theory's :func:`~onestep_gm.learning_curve` varies it: the readout's samples ``m`` (the step's
    batch stays ``config.m_step`` or ``config.m``), the width ``k`` (the step taken at the largest
    width, the readout on the first ``k`` neurons) or the penalty ``lambda``.  One deterministic
    value per point; one compiled program for the whole curve.

    Parameters
    ----------
    config : SimulationConfig
        A Gaussian mixture the theory covers (:func:`mixture_applies`).
    vary : {"m", "k", "lambda"}
        The quantity along the curve: the readout's samples, the width or the ridge penalty.
    values : sequence of float, optional
        The grid ``(P,)``: whole numbers >= 1 for m and k, positive numbers for lambda; default
        :func:`~onestep_gm.numerics.learning.curve_grid` with ``points`` values (m/k in [0.2, 10],
        k/m in [0.1, 2], lambda in [1e-6, 10], log-spaced).
    points : int
        Grid values when ``values`` is not given.
    activation : str, optional
        Default the first of ``config.activations``.
    order : int, optional
        The Hermite model of this order instead of the network (:func:`sampling_free_point`).
    quad : MixtureQuadrature
        Node counts (:func:`sampling_free_point`); with random spike sizes every point costs
        ``quad.sizes`` evaluations, so ``MixtureQuadrature(sizes=16)`` makes such a curve 4x faster
        (docs: convergence in the number of draws).

    Returns
    -------
    SamplingFreeCurve

    Raises
    ------
    ValueError
        For an unknown ``vary``, values that are not positive (or not whole for m and k), or what
        :func:`sampling_free_point` refuses (one sentence).
    """
    from onestep_gm.numerics.learning import curve_grid  # it loads the simulation engine

    if vary not in ("m", "k", "lambda"):
        raise ValueError(f"vary must be 'm', 'k' or 'lambda' (got {vary!r})")
    grid = curve_grid(vary, points, config.k, config.m) if values is None else np.asarray(values, float)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"values of {vary} must be a non-empty list of positive numbers")
    if vary != "lambda" and np.any((grid != np.round(grid)) | (grid < 1)):
        raise ValueError(f"values of {vary} must be whole numbers of at least 1")
    activation = config.activations[0] if activation is None else activation
    k_step = int(grid.max()) if vary == "k" else config.k
    m_step = config.m if config.m_step is None else config.m_step
    field = {"m": "m", "k": "k", "lambda": "lam"}[vary]
    start = time.perf_counter()
    points_ = []
    for value in grid:
        at = dataclasses.replace(config, m_step=m_step, **{field: float(value) if field == "lam" else int(value)})
        points_.append(sampling_free_point(at, activation, quad=quad, k_step=k_step, order=order))
    info = {key: np.asarray([p.info[key] for p in points_]) for key in
            ("kappa", "df1", "df2", "sigma_eps2", "bias", "variance")}  # fmt: skip
    return SamplingFreeCurve(
        vary=vary, values=grid, gen_error=np.asarray([p.gen_error for p in points_]),
        train_error=np.asarray([p.train_error for p in points_]), info=info, k_step=k_step, m_step=m_step,
        seconds=time.perf_counter() - start,
    )  # fmt: skip


CONTROL_DRAWS = 1 << 16
"""Sobol points for the control variate's mean in :func:`_size_rule` (cheap: sizes only)."""


def _control(spec, sizes: np.ndarray) -> np.ndarray:
    r""":math:`g = 1/(1 + \max_{c,i}\rho_c\theta_{c,i})` for sizes ``(..., C, d)``: the inverse top
    eigenvalue of :math:`\mathbb E[xx^\top]` for orthogonal spikes and no means, and for any spec a
    function of the sizes alone with a mean known to 1e-4 (:data:`CONTROL_DRAWS`)."""
    return 1.0 / (1.0 + np.max(np.asarray(spec.weights)[:, None] * sizes, axis=(-2, -1)))


@functools.lru_cache(maxsize=64)
def _size_rule(spec, count: int) -> tuple:
    r"""``(specs, g, g_mean)``: the specs averaging over random spike sizes, with a control variate.

    For ``spike_sizes="uniform"`` (:math:`\theta_{c,i} = \theta U_{c,i}`, then ``equal_trace``):
    ``count`` points of a scrambled Sobol sequence (seed 0, deterministic) in
    :math:`U\in[0,1]^{C\times d}`, each a spec with those sizes given (through the realisation's own
    :func:`~onestep_gm.numerics.mixture.sizes_from_draws`), the control :math:`g` at each
    (:func:`_control`) and its mean over :data:`CONTROL_DRAWS` further Sobol points (seed 1).  The
    errors follow :math:`g` closely (fig2c, relu: correlation 0.986 to 0.999 over 256 draws at
    d = 2, 5, 10; the network's control in fig2c is the same), so :func:`sampling_free_point`
    subtracts the regression on :math:`g` (docs: fig2c).  ``((spec,), None, None)`` for fixed
    sizes."""
    counts = validate_spec(spec) if spec.spike_sizes == "uniform" else (0,)
    if spec.spike_values is not None and all(v is not None for v in spec.spike_values):
        counts = (0,)  # every size given: the network draws none either
    if max(counts) == 0 or spike_size(spec) == 0:  # nothing drawn
        return (spec,), None, None
    C, d = len(counts), max(counts)
    draws = qmc.Sobol(C * d, scramble=True, seed=0).random_base2(int(math.log2(count)))
    sizes = sizes_from_draws(spec, counts, draws.reshape(-1, C, d))
    specs = tuple(
        dataclasses.replace(spec, spike_sizes="equal",
                            spike_values=tuple(tuple(float(v) for v in row[c, : counts[c]]) for c in range(C)))
        for row in sizes)  # fmt: skip
    many = qmc.Sobol(C * d, scramble=True, seed=1).random_base2(int(math.log2(CONTROL_DRAWS)))
    g_mean = float(np.mean(_control(spec, sizes_from_draws(spec, counts, many.reshape(-1, C, d)))))
    return specs, _control(spec, sizes), g_mean


def _size_average(values: list[dict], g, g_mean) -> dict:
    r"""The mean of each quantity over the size draws, less its least-squares slope on the control
    :math:`g` times :math:`\bar g - \mathbb E g` (:func:`_size_rule`)."""
    if g is None:
        return values[0]
    dg = g - g.mean()
    out = {}
    for key in values[0]:
        f = np.asarray([v[key] for v in values])
        slope = float(dg @ (f - f.mean()) / (dg @ dg)) if dg @ dg > 0 else 0.0
        out[key] = float(f.mean() - slope * (g.mean() - g_mean))
    return out


MAX_ORDER = 12
"""The largest Hermite order the theory's feature polynomial takes."""


def _hermite_features(activation: str, order: int | None, b: float) -> np.ndarray:
    r"""``(h_0, ..., h_{l-1}, 0, ..., b, h_l^*)`` of length :data:`MAX_ORDER` + 2 (zeros
    without an order): the Hermite model's traced parameters, one compiled program for every
    order and :math:`\beta`."""
    out = np.zeros(MAX_ORDER + 2)
    if order is None:
        out[-2] = 1.0
        return out
    coefficients = hermite_coefficients(activation, f"{b:.15g}", MAX_ORDER)  # cached: every order from one set
    out[:order] = [float(coefficients.h[j]) for j in range(order)]
    out[-2], out[-1] = b, float(coefficients.h_star_at(order))
    return out


MAX_DIRECTIONS = 5
"""Most directions of :math:`S` in the tensor rule (:math:`5^s` nodes per component): with more,
the weak spike directions that carry no teacher or mean are split off (:func:`_split`), and a point
that still needs more is refused.

The module's constants are read when its caches are filled: after changing one, clear
``_device_rules``, ``_directions_missing`` and ``_size_rule`` (``.cache_clear()``) and the
compiled ``_point`` (``.clear_cache()``)."""


def mixture_applies(config, quad: MixtureQuadrature = MixtureQuadrature()) -> list[str]:
    r"""What ``config`` (a :class:`~onestep_gm.SimulationConfig`) lacks for the mixture theory:
    one phrase per missing condition, empty when it applies.

    Covered: Gaussian mixtures with any weights, spikes of the paper's equal sizes, random sizes
    :math:`\theta U(0,1)` (averaged over their law, :func:`_size_rule`) or given directions and
    sizes, means, both tasks, a single-index teacher along a random direction, the spikes or the
    means, both first layers and both readouts, any step, ``m_step``, label noise and
    :math:`\lambda > 0`, with at most :data:`MAX_DIRECTIONS` directions in the tensor rule once the
    weak spike directions are split off (:func:`_split`) and at most :data:`MAX_OVERLAP_POINTS`
    geometries for a random teacher's overlap.
    """
    spec = config.data
    if getattr(spec, "kind", None) != "mixture":
        return [f"a Gaussian mixture (got {getattr(spec, 'title', type(spec).__name__)})"]
    missing = list(_spec_missing(spec))
    if config.protocol != "fresh":
        missing.append(f"protocol='fresh' (got {config.protocol!r}: the theory averages over the teacher's draw)")
    if not config.lam > 0:
        missing.append(f"lambda > 0 (got {config.lam:g})")
    return missing or list(_directions_missing(spec, quad))


@functools.lru_cache(maxsize=512)
def _spec_missing(spec) -> tuple[str, ...]:
    """:func:`mixture_applies`'s conditions on the data's options, once per spec."""
    missing = []
    if spec.covariances is not None and any(c is not None for c in spec.covariances):
        missing.append("no full covariance (it has n spike directions)")
    given = [] if spec.spike_values is None else [v is not None for v in spec.spike_values]
    if spec.spike_sizes == "uniform" and any(given) and not all(given):
        missing.append("spike_values for every component or for none when spike_sizes='uniform' (some given, "
                       "some drawn)")
    if spec.task == "regression":
        if not isinstance(spec.teacher, str):
            missing.append("a single-index teacher (one target activation)")
        if spec.teacher_direction not in ("random", "spikes", "means"):
            missing.append(f"a teacher direction random, spikes or means (got {spec.teacher_direction!r})")
        if spec.teacher_weights not in (None, (1.0,)):
            missing.append(f"teacher_weights None or (1,) (got {spec.teacher_weights!r})")
    return tuple(missing)


def _directions_message(s: int) -> str:
    return (f"at most {MAX_DIRECTIONS} directions of strong spikes, means, teacher and step noise in the "
            f"quadrature (got {s})")


@functools.lru_cache(maxsize=512)
def _directions_missing(spec, quad: MixtureQuadrature) -> tuple[str, ...]:
    """:func:`mixture_applies`'s conditions on the geometry, once per spec and rule: for every size
    draw (:func:`_size_rule`) and every overlap geometry (:func:`_overlaps`), the overlap count
    and the tensor rule's directions once the weak ones are split off (:func:`_split`)."""
    worst = 0
    for spec_d in _size_rule(spec, quad.sizes)[0]:
        try:
            overlaps = _overlaps(geometry(spec_d), quad.overlap)  # as _rules will see them
        except ValueError as exc:  # more overlap geometries than MAX_OVERLAP_POINTS
            return (str(exc),)
        for geo_g, _ in overlaps:
            split_geo, split = _split(geo_g)
            worst = max(worst, split_geo.means.shape[1] - split)
    if worst <= MAX_DIRECTIONS:
        return ()
    drawn = _size_rule(spec, quad.sizes)[1] is not None
    return (_directions_message(worst) + (f" in some of its {quad.sizes} size draws, where a size above "
                                          f"{STRONG:g} n makes a strong direction" if drawn else ""),)


def mixture_prediction(config, resolved, activation: str) -> tuple[float, float, float]:
    """``(train_error, gen_error, train_mse)`` of :func:`sampling_free_point` at ``config``'s point
    (``resolved.eta`` the learning rate); deterministic, no sampling."""
    point = sampling_free_point(config, activation, eta=resolved.eta)
    return point.train_error, point.gen_error, point.train_mse
