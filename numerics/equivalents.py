r"""Equivalent feature maps: the Hermite model and the conditional Gaussian model.

Both act on the network's own pre-activations :math:`U = \hat F X^\top` (shared with the
network's features: one product serves every model) and replace only :math:`\sigma`.

Hermite model (Demir & Dogan, ICLR 2025, the Hermite equivalence theorem):
:math:`\hat\sigma_l(u) = \sum_{j<l} \frac{h_j}{j!}\mathrm{He}_j(u/b) + h_l^\ast g`, with
:math:`g\sim\mathcal N(0,1)` fresh per entry.

Conditional Gaussian model (Theorem): with :math:`P` the projector onto
:math:`S = \mathrm{span}(\text{means},\text{spikes},\text{top singular directions of } G)`,
:math:`a = \hat F P x`, :math:`s_i = \|(\hat F(I-P))_{i}\|`,

.. math::
    \hat\phi(x) = \nu + \Psi z^\perp + \Phi^{1/2} g,\quad
    \nu = M_0(a,s),\ \Psi z^\perp = M_1(a,s)\odot \hat F(I-P)x,\
    \Phi = \mathrm{diag}(M_2 - M_0^2 - M_1^2 s^2).

Only the diagonal of :math:`\Phi` is kept: the off-diagonal covariance of the
remainder between two neurons (of order :math:`\langle \hat F_i, \hat F_j\rangle^2`)
is dropped, as in the theorem's construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from onestep_gm.numerics.quadrature import hermite_series

Array = jax.Array

_ROW_BLOCK = 16
CONDITIONAL_NODES = 64
"""Trapezoid nodes for conditional moments without closed form (tanh, sigmoid, ...).

Measured against the 201-node default of :mod:`numerics.codegen` for a in [-5, 5]: max error
4e-13 at s <= 1 for tanh, sigmoid, softplus, silu, gelu, erf; at s = 2, 1e-6 (tanh), 2e-8
(erf), <1e-12 (others).  Ample for Monte-Carlo features (s ≈ b <= 1 here) at a third of the cost.
"""


def entry_noise(key: Array, shape: tuple[int, ...]) -> Array:
    """Fresh N(0, 1) per feature entry, drawn in float32: its precision is irrelevant to the
    statistics and it halves the cost of the largest random draw of a trial."""
    return jax.random.normal(key, shape, jnp.float32)


def hermite_parts(pre: Array, h: Array, h_star: Array, b: Array) -> tuple[Array, Array]:
    r"""Mean and noise scale of :math:`\hat\sigma_l(U)`: :math:`(\sum_{j<l}\frac{h_j}{j!}\mathrm{He}_j(U/b),\ h_l^\ast)`."""
    return hermite_series(pre / b, h.astype(pre.dtype)), h_star.astype(pre.dtype)


def hermite_features(pre: Array, h: Array, h_star: Array, b: Array, key: Array) -> Array:
    r""":math:`\hat\sigma_l(U)` for pre-activations ``pre``; ``h`` = :math:`(h_0..h_{l-1})`."""
    return with_noise(*hermite_parts(pre, h, h_star, b), key)


def with_noise(mean: Array, scale: Array, key: Array) -> Array:
    """``mean + scale * g`` with fresh :func:`entry_noise` ``g`` of ``mean``'s shape."""
    return mean + scale * entry_noise(key, mean.shape).astype(mean.dtype)


def top_right_singular_vectors(G: Array, rank: int, key: Array, iterations: int = 12) -> Array:
    r"""Orthonormal :math:`n\times r` basis of the top-``rank`` right singular space of ``G``.

    Block subspace iteration on :math:`G^\top G` with ``rank + 4`` vectors: :math:`O(knr)` per
    iteration instead of a full SVD.
    """
    n = G.shape[1]
    width = min(rank + 4, n)
    V = jax.random.normal(key, (n, width), G.dtype)
    for _ in range(iterations):
        V, _ = jnp.linalg.qr(G.T @ (G @ V))
    _, _, Wt = jnp.linalg.svd(G @ V, full_matrices=False)
    return V @ Wt.T[:, :rank]


def structure_basis(directions: Sequence[Array]) -> Array:
    """Orthonormal basis (n × r) of the span of the given direction blocks (each (r_i, n))."""
    stacked = jnp.concatenate([jnp.atleast_2d(d) for d in directions], axis=0)
    Q, _ = jnp.linalg.qr(stacked.T)
    return Q


def _rowwise(moments, a: Array, s: Array):
    """Apply ``moments`` one block of neurons at a time: quadrature rules add a node axis,
    and k × M × nodes would not fit in memory at k = M = 1000s."""
    return jax.lax.map(lambda row: moments(row[0], row[1]), (a, s), batch_size=_ROW_BLOCK)


def conditional_parts(
    pre: Array,
    F_hat: Array,
    X: Array,
    basis: Array,
    moments: Callable[[Array, Array], tuple[Array, Array, Array]],
) -> tuple[Array, Array]:
    r"""Mean :math:`\nu + \Psi z^\perp` and noise scale :math:`\Phi^{1/2}` (per entry) of the
    conditional Gaussian features.

    ``pre`` is :math:`\hat F X^\top` (k × M), ``basis`` an orthonormal n × r basis of :math:`S`,
    ``moments(a, s) -> (M0, M1, M2)`` the conditional moments of :math:`\sigma(a + s g)`.
    """
    FQ = F_hat @ basis
    a = FQ @ (basis.T @ X.T).astype(pre.dtype)
    outside = pre - a
    s2 = jnp.sum(F_hat**2, axis=1) - jnp.sum(FQ**2, axis=1)
    s = jnp.sqrt(jnp.maximum(s2, 0.0))[:, None].astype(pre.dtype)
    M0, M1, M2 = _rowwise(moments, a, s)
    remainder = jnp.maximum(M2 - M0**2 - (M1 * s) ** 2, 0.0)
    return M0 + M1 * outside, jnp.sqrt(remainder)


def conditional_features(
    pre: Array,
    F_hat: Array,
    X: Array,
    basis: Array,
    moments: Callable[[Array, Array], tuple[Array, Array, Array]],
    key: Array,
) -> Array:
    r"""Conditional Gaussian features :math:`\nu + \Psi z^\perp + \Phi^{1/2} g` (diagonal :math:`\Phi`);
    arguments as in :func:`conditional_parts`."""
    return with_noise(*conditional_parts(pre, F_hat, X, basis, moments), key)
