r"""The two-layer network after one gradient step, and its ridge readout.

:math:`f(x) = k^{-1/2} w^\top \sigma(F x)`.  The initial layers come from two tables,
:data:`FIRST_LAYERS` and :data:`READOUT_INITS`: rows of :math:`F` are
:math:`\mathcal N(0, I_n/\tau)`, :math:`\tau = \operatorname{tr}\bar\Sigma` (``"gaussian"``, the
paper) or uniform on the unit sphere (``"unit-rows"``, Cui et al. 2024); :math:`w_i \sim
\mathcal N(0, 1/k)` (``"gaussian"``, the paper) or :math:`w_i = 1/\sqrt k` (``"constant"``, Cui et
al. 2024).  One step of gradient descent on the squared loss
:math:`\frac1{2\tilde m}\sum_\mu(\tilde y_\mu - f(\tilde x_\mu))^2` of a separate batch
:math:`(\tilde X, \tilde y)` of :math:`\tilde m` samples (default :math:`\tilde m = m`):

.. math::
    G = \frac1{\tilde m} \Big[\big(k^{-1/2} w(\tilde y^\top - k^{-1/2} w^\top\sigma(F\tilde X^\top))\big)
        \odot \sigma'(F\tilde X^\top)\Big]\tilde X, \qquad \hat F = F + \eta G,

(:math:`G` is minus the loss's gradient), then ridge regression of the readout on
:math:`\Phi = k^{-1/2}\sigma(\hat F X^\top)` for a second batch of :math:`m` samples:
:math:`\hat w = (\Phi\Phi^\top + \lambda m I_k)^{-1}\Phi y = \Phi(\Phi^\top\Phi + \lambda m I_m)^{-1} y`.

Error convention (the paper's figures): training error
:math:`\tfrac12\,\mathrm{mean}(y - \Phi^\top\hat w)^2 + \tfrac12\lambda\|\hat w\|^2`, generalisation
error :math:`\tfrac12\,\mathbb E(y - \hat y)^2` estimated on fresh samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve
from onestep_gm.theory.order import bulk_scale

Array = jax.Array
Elementwise = Callable[[Array], Array]

_SINGULAR_RTOL = 1e-13  # squared pivot ratio of the Cholesky factor = 1/condition number

CONVENTION = (
    "train_error = 1/2*mean((y - Phi^T w_hat)^2) + 1/2*lambda*||w_hat||^2 on the m readout samples; "
    "gen_error = 1/2*mean((y - y_hat)^2) on test_factor*m fresh samples (equivalent models: "
    "the per-entry noise of the test features averaged exactly)"
)


def gaussian_rows(key: Array, k: int, n: int, tau: Array, dtype) -> Array:
    r""":math:`F_{ij} \sim \mathcal N(0, 1/\tau)` (Demir & Dogan, Sec. 2), shape (k, n)."""
    return jax.random.normal(key, (k, n), dtype) / jnp.sqrt(jnp.asarray(tau, dtype))


def unit_rows(key: Array, k: int, n: int, tau: Array, dtype) -> Array:
    r"""Rows uniform on the unit sphere :math:`S^{n-1}` (Cui et al. 2024): Gaussian rows divided by
    their norms; ``tau`` is not used.  Shape (k, n)."""
    del tau
    F = jax.random.normal(key, (k, n), dtype)
    return F / jnp.linalg.norm(F, axis=1, keepdims=True)


def gaussian_readout(key: Array, k: int, dtype) -> Array:
    r""":math:`w_i \sim \mathcal N(0, 1/k)` (Demir & Dogan, Sec. 2), shape (k,)."""
    return jax.random.normal(key, (k,), dtype) / jnp.sqrt(jnp.asarray(k, dtype))


def constant_readout(key: Array, k: int, dtype) -> Array:
    r""":math:`w_i = 1/\sqrt k` for every neuron (Cui et al. 2024, :math:`a_0 = 1/\sqrt p`);
    ``key`` is not used.  Shape (k,)."""
    del key
    return jnp.full((k,), 1.0 / jnp.sqrt(jnp.asarray(k, dtype)), dtype)


class FirstLayer(NamedTuple):
    r"""One initialisation of :math:`F` (a row of :data:`FIRST_LAYERS`).

    ``draw(key, k, n, tau, dtype) -> F`` (k, n); ``bulk_scale(n, tau)`` is the Hermite model's
    :math:`b`, the standard deviation of a neuron's pre-activation on the isotropic (unit
    variance) bulk of the data, :math:`b^2 = \|F_i\|^2`: :math:`n/\tau` in expectation for
    Gaussian rows (:func:`onestep_gm.theory.order.bulk_scale`), exactly 1 for unit rows.
    """

    name: str
    draw: Callable[..., Array]
    bulk_scale: Callable[[int, float], float]


FIRST_LAYERS: dict[str, FirstLayer] = {
    layer.name: layer
    for layer in (
        FirstLayer("gaussian", gaussian_rows, bulk_scale),
        FirstLayer("unit-rows", unit_rows, lambda n, tau: 1.0),
    )
}
"""Initialisations of the first layer: ``"gaussian"`` (the paper) and ``"unit-rows"`` (Cui et al.)."""

READOUT_INITS: dict[str, Callable[..., Array]] = {"gaussian": gaussian_readout, "constant": constant_readout}
"""Initialisations of the readout ``(key, k, dtype) -> w``: ``"gaussian"`` (the paper) and
``"constant"`` (Cui et al.)."""


def check_init(first_layer: str, readout_init: str) -> None:
    """Refuse an unknown initialisation with one sentence naming the field.

    Raises
    ------
    ValueError
        ``first_layer must be one of gaussian, unit-rows (got ...)`` or the same for ``readout_init``.
    """
    if first_layer not in FIRST_LAYERS:
        raise ValueError(f"first_layer must be one of {', '.join(FIRST_LAYERS)} (got {first_layer!r})")
    if readout_init not in READOUT_INITS:
        raise ValueError(f"readout_init must be one of {', '.join(READOUT_INITS)} (got {readout_init!r})")


def init_network(
    key: Array, n: int, k: int, tau: float, dtype=jnp.float64, *,
    first_layer: str = "gaussian", readout_init: str = "gaussian",
) -> tuple[Array, Array]:
    r"""Draw :math:`F \in \mathbb R^{k\times n}` and :math:`w\in\mathbb R^k`.

    Parameters
    ----------
    key : jax.Array
        Split into the first layer's key and the readout's.
    n, k : int
        Input dimension and hidden neurons.
    tau : float
        :math:`\tau = \operatorname{tr}\bar\Sigma` (only the Gaussian first layer uses it).
    first_layer : {"gaussian", "unit-rows"}
        :data:`FIRST_LAYERS`: :math:`F_{ij}\sim\mathcal N(0,1/\tau)`, or rows uniform on the unit sphere.
    readout_init : {"gaussian", "constant"}
        :data:`READOUT_INITS`: :math:`w_i \sim \mathcal N(0, 1/k)`, or :math:`w_i = 1/\sqrt k`.

    Returns
    -------
    F : (k, n), w : (k,)

    Raises
    ------
    ValueError
        For an unknown ``first_layer`` or ``readout_init``.
    """
    check_init(first_layer, readout_init)
    key_F, key_w = jax.random.split(key)
    F = FIRST_LAYERS[first_layer].draw(key_F, k, n, tau, dtype)
    w = READOUT_INITS[readout_init](key_w, k, dtype)
    return F, w


def gradient_from_preactivations(
    pre: Array, w: Array, X_tilde: Array, y_tilde: Array, sigma: Elementwise, dsigma: Elementwise
) -> Array:
    r"""The gradient :math:`G` (the model page of the docs) given the shared product ``pre`` :math:`= F\tilde X^\top`.

    ``pre`` is (k, m̃), ``w`` (k,), ``X_tilde`` (m̃, n), ``y_tilde`` (m̃,); :math:`G` is (k, n),
    normalised by the gradient batch's size m̃ (``pre.shape[1]``).  The elementwise part runs in
    ``pre``'s dtype, the product :math:`A\tilde X` in ``X_tilde``'s.
    """
    k, m = pre.shape
    root_k = jnp.sqrt(jnp.asarray(k, pre.dtype))
    residual = y_tilde - (w @ sigma(pre)) / root_k
    A = (w[:, None] / root_k) * residual[None, :] * dsigma(pre)
    return (A.astype(X_tilde.dtype) @ X_tilde) / m


def one_step(
    F: Array,
    w: Array,
    X_tilde: Array,
    y_tilde: Array,
    eta: float,
    sigma: Elementwise,
    dsigma: Elementwise,
) -> Array:
    r""":math:`\hat F = F + \eta G` (one full-batch gradient step of the first layer on the
    m̃ samples of ``X_tilde``)."""
    return F + eta * gradient_from_preactivations(F @ X_tilde.T, w, X_tilde, y_tilde, sigma, dsigma)


def ridge(Phi: Array, y: Array, lam: float, *, samples_major: bool = False) -> Array:
    r"""Ridge readout :math:`\hat w` from features :math:`\Phi\in\mathbb R^{k\times m}` (or its
    transpose, ``samples_major=True``: one row per sample).

    Solves the smaller of the primal :math:`(\Phi\Phi^\top+\lambda m I_k)\hat w=\Phi y` (k ≤ m)
    and the dual :math:`\hat w = \Phi(\Phi^\top\Phi+\lambda m I_m)^{-1}y` (k > m) by Cholesky.
    Each Gram matrix is fastest when its rows are contiguous: the primal's with ``Phi`` as
    k×m, the dual's with samples-major ``Phi`` (about 10% of a trial at k = 5000, m = 1000;
    see the Performance page of the docs).
    Returns NaNs when the system is numerically singular (condition number above 1e13, e.g.
    λ = 0 with a rank-deficient Gram matrix); callers check :func:`jnp.isfinite`.
    """
    m, k = Phi.shape if samples_major else Phi.shape[::-1]
    times = _feature_products(Phi, samples_major)
    shift = lam * m
    primal = k <= m
    size = k if primal else m
    if primal:
        gram = Phi.T @ Phi if samples_major else Phi @ Phi.T
    else:
        gram = Phi @ Phi.T if samples_major else Phi.T @ Phi
    gram = gram + shift * jnp.eye(size, dtype=Phi.dtype)
    factor = cho_factor(gram, lower=True)
    pivots = jnp.abs(jnp.diag(factor[0]))
    singular = jnp.min(pivots) ** 2 <= _SINGULAR_RTOL * jnp.max(pivots) ** 2
    w_hat = cho_solve(factor, times.features_y(y)) if primal else times.features_y(cho_solve(factor, y))
    return jnp.where(singular, jnp.nan, w_hat)


class _Products(NamedTuple):
    features_y: Callable[[Array], Array]  # (m,) -> (k,): Φ y
    predictions: Callable[[Array], Array]  # (k,) -> (m,): Φᵀ w


def _feature_products(Phi: Array, samples_major: bool) -> _Products:
    """Φy and Φᵀw written so that neither transposes ``Phi`` in memory (a matrix–vector
    product against the non-contiguous axis made XLA copy the whole matrix)."""
    if samples_major:
        return _Products(lambda v: v @ Phi, lambda w: Phi @ w)
    return _Products(lambda v: Phi @ v, lambda w: w @ Phi)


def fit_readout(Phi: Array, y: Array, lam: float, *, samples_major: bool = False) -> tuple[Array, Array]:
    """Ridge readout on ``(Phi, y)``: ``(w_hat, train_error)`` in the ½ convention (``Phi`` as
    in :func:`ridge`)."""
    w_hat = ridge(Phi, y, lam, samples_major=samples_major)
    predictions = _feature_products(Phi, samples_major).predictions(w_hat)
    train = 0.5 * jnp.mean((y - predictions) ** 2) + 0.5 * lam * jnp.sum(w_hat**2)
    return w_hat, train


def readout_errors(
    Phi: Array, y: Array, Phi_test: Array, y_test: Array, lam: float
) -> tuple[Array, Array]:
    """Fit the ridge readout on ``(Phi, y)``; return (train_error, gen_error) in the ½ convention."""
    w_hat, train = fit_readout(Phi, y, lam)
    gen = 0.5 * jnp.mean((y_test - w_hat @ Phi_test) ** 2)
    return train, gen
