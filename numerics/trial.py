r"""One trial: its random draws, the trained first layers and every model's errors, jitted.

A trial draws the batches and the initial network, takes one gradient step per activation
(:func:`trained_layers`), and fits the ridge readout of every model on the same features.
Every product is shared: one :math:`F\tilde X^\top` for the gradients of all activations, one
:math:`\hat F X^\top` per activation for all of its models (network, Hermite, conditional
Gaussian), and per block of test samples one :math:`\hat F X_b^\top` for all models.
:func:`make_trial` compiles it once per :class:`TrialShape`.

Precision: the ridge solve, the gradient's elementwise part and every error are float64;
``dtype="float32"`` computes the three large products (:math:`F\tilde X^\top`, :math:`A\tilde X`,
:math:`\hat F X^\top`) in float32 and draws the samples in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
from onestep_gm.numerics.codegen import jax_activation, jax_moments
from onestep_gm.numerics.equivalents import (
    CONDITIONAL_NODES,
    hermite_parts,
    structure_basis,
    top_right_singular_vectors,
    with_noise,
)
from onestep_gm.numerics.fashion import FashionPools
from onestep_gm.numerics.mixture import Mixture, balanced_components
from onestep_gm.numerics.models import EXACT_MODELS, FEATURE_MODELS, HERMITE, ModelContext
from onestep_gm.numerics.network import fit_readout, gradient_from_preactivations, init_network

Array = jax.Array
Data = Mixture | FashionPools
"""A realised data source (:class:`onestep_gm.numerics.data.RealisedData`): a pytree with
``surrogate`` and ``sample``."""

TESTS = ("exact", "sampled")

_MAX_STRUCTURE_DIRECTIONS = 32

HERMITE_SLOTS = (8, 16, 24, 32, 40)
r"""How many Hermite coefficients a compiled trial holds: the order :math:`l` rounded up to the
next of these, the coefficients :math:`h_j` for :math:`l\le j` set to 0, which leaves the series
:math:`\sum_{j<l}\frac{h_j}{j!}\mathrm{He}_j` unchanged.  A sweep over β, whose order changes
with β, then compiles one trial per slot instead of one per order (the quick convergence
figure, orders 2-5 at three sizes: 3 trial programs instead of 12, each seconds to
compile)."""


def hermite_slots(order: int) -> int:
    """The number of coefficients, from :data:`HERMITE_SLOTS`, that holds ``order`` (1..40);
    an order above 40 is returned as it is (the Hermite coefficients refuse it with a
    ``ValueError``)."""
    return next((slots for slots in HERMITE_SLOTS if slots >= order), order)


TEST_BLOCK_ENTRIES = 1 << 22
"""Test samples are streamed in blocks of about this many pre-activations (k × rows): small
enough that a block's :math:`\\hat F X_b^\\top` (32 MB in float64) stays near the last-level
cache for the elementwise passes over it, large enough that its product runs at full
speed (block sizes from 2^20 to 2^23 ran equally fast within the noise)."""


@dataclass(frozen=True)
class TrialShape:
    """The static part of a trial: everything that fixes array shapes or code paths."""

    n: int
    k: int
    m: int
    test_factor: int
    activations: tuple[str, ...]
    models: tuple[str, ...]
    order: int | None  # coefficients h_j held (hermite_slots of the Hermite order), None without
    dtype: str = "float64"
    rank: int = 2
    return_F_hat: bool = False
    test: str = "sampled"
    balanced: bool = False  # every batch holds exactly round(rho_c * size) samples of component c
    first_layer: str = "gaussian"  # row of network.FIRST_LAYERS
    readout_init: str = "gaussian"  # row of network.READOUT_INITS
    m_step: int | None = None  # samples of the gradient batch; None: m

    @property
    def step_rows(self) -> int:
        r"""Samples of the gradient batch :math:`\tilde m` (``m_step``, default ``m``)."""
        return self.m if self.m_step is None else self.m_step

    @property
    def compute(self):
        """The dtype of the large products."""
        return jnp.float32 if self.dtype == "float32" else jnp.float64

    @property
    def sampled_models(self) -> tuple[str, ...]:
        """Models whose test error is estimated on fresh samples: all of them with
        ``test="sampled"``; with ``test="exact"`` those without exact population moments
        (:data:`EXACT_MODELS`)."""
        if self.test == "sampled":
            return self.models
        return tuple(mdl for mdl in self.models if mdl not in EXACT_MODELS)

    @property
    def test_rows(self) -> int:
        """Fresh test samples drawn per trial (none when every model's test error is exact)."""
        return self.test_factor * self.m if self.sampled_models else 0


class TrialParams(NamedTuple):
    """The traced scalars of a trial (sweeps over them never recompile).

    ``h`` is (A, slots) Hermite coefficients :math:`h_0..h_{l-1}` per activation, zero-padded to
    ``slots =`` :func:`hermite_slots` ``(l)`` entries; ``h_star`` (A,) is :math:`h_l^\\ast`.
    """

    eta: Array
    lam: Array
    tau: Array
    b: Array
    h: Array
    h_star: Array


class TrialDraws(NamedTuple):
    """Every random draw of one trial except the per-model noise (derived from ``model_key``).

    Shapes: ``X_tilde`` (m_step, n), ``X`` (m, n), ``X_test`` (test_factor·m, n), labels alike, ``F`` (k, n),
    ``w`` (k,).
    """

    X_tilde: Array
    y_tilde: Array
    X: Array
    y: Array
    X_test: Array
    y_test: Array
    F: Array
    w: Array
    model_key: Array


class TrialErrors(NamedTuple):
    r"""Errors of one trial, (activations, models) each, and the trained layers if asked.

    With ``test="exact"``, ``gen`` is NaN for the models of :data:`EXACT_MODELS` (the caller
    computes it from ``F_hat`` and the readouts ``w_hat``, (activations, models, k), fitted on
    :math:`\phi/\sqrt k`); ``w_hat`` is also returned with ``return_F_hat``, else ``None``.
    ``train_mse`` (activations, models) is the readout batch's mean squared residual
    :math:`\mathrm{mean}(y - \Phi^\top\hat w)^2` (no ½, no penalty: Cui et al.'s training error).
    """

    train: Array
    gen: Array
    F_hat: Array | None
    w_hat: Array | None = None
    train_mse: Array | None = None


_Model = ModelContext  # its former name here (tests build one by hand)


def mixture_of(data: Data) -> Mixture:
    """The Gaussian mixture of ``data`` (``data.surrogate``; for images, their Gaussian surrogate)."""
    return data.surrogate


def sample(data: Data, key: Array, m: int, dtype=None, components: Array | None = None):
    """``m`` samples ``(X, y, c)`` of ``data`` (``data.sample``; ``components``: the samples'
    components, drawn when ``None``)."""
    return data.sample(key, m, dtype, components)


def draw_trial(
    key: Array, data: Data, shape: TrialShape, tau: Array, data_key: Array | None = None
) -> TrialDraws:
    """All random draws of one trial, in one sampler call so that image pools (Fashion-MNIST)
    give disjoint batches: ``(X_tilde, y_tilde)`` for the gradient step (:attr:`TrialShape.step_rows`
    samples), ``(X, y)`` for the readout (``m``), ``test_factor · m`` test samples (none if no
    model's test error is sampled, see :attr:`TrialShape.test_rows`), and the initial network
    ``F, w`` (``shape.first_layer``, ``shape.readout_init``: :func:`~onestep_gm.numerics.network.init_network`).

    ``data_key`` (the paper's protocol) replaces the samples' key drawn from ``key``, so that
    trials sharing it share their three datasets and differ only in ``F, w`` and the models'
    noise.  ``shape.balanced`` fixes the component counts of every batch
    (:func:`~onestep_gm.numerics.mixture.balanced_components`)."""
    k_data, k_net, k_model = jax.random.split(key, 3)
    if data_key is not None:
        k_data = data_key
    m, step = shape.m, shape.step_rows
    dtype = jnp.float32 if shape.dtype == "float32" else None
    components = None
    if shape.balanced:
        k_data, k_components = jax.random.split(k_data)
        sizes = (step, m, shape.test_rows)
        components = balanced_components(k_components, mixture_of(data).weights, sizes)
    X_every, y_every, _ = sample(data, k_data, step + m + shape.test_rows, dtype, components)
    y_every = y_every.astype(jnp.float64)
    F, w = init_network(k_net, shape.n, shape.k, tau, first_layer=shape.first_layer, readout_init=shape.readout_init)
    readout = step + m
    return TrialDraws(
        X_tilde=X_every[:step], y_tilde=y_every[:step], X=X_every[step:readout], y=y_every[step:readout],
        X_test=X_every[readout:], y_test=y_every[readout:], F=F, w=w, model_key=k_model,
    )  # fmt: skip


def trained_layers(draws: TrialDraws, shape: TrialShape, eta: Array) -> list[tuple[Array, Array]]:
    r"""``[(G, F_hat)]`` per activation: the gradient and :math:`\hat F = F + \eta G`.

    The one place the first layer is trained: :func:`evaluate_trial` and
    :func:`onestep_gm.trained_layer` both call it.  One :math:`F\tilde X^\top` serves every
    activation.
    """
    compute = shape.compute
    X_tilde = draws.X_tilde.astype(compute)
    pre_tilde = (draws.F.astype(compute) @ X_tilde.T).astype(jnp.float64)
    out = []
    for act in shape.activations:
        sigma, dsigma = jax_activation(act)
        G = gradient_from_preactivations(pre_tilde, draws.w, X_tilde, draws.y_tilde, sigma, dsigma)
        G = G.astype(jnp.float64)
        out.append((G, draws.F + eta * G))
    return out


def model_keys(model_key: Array, i: int) -> Array:
    """Keys of activation ``i``: [Hermite noise, subspace iteration, conditional noise].

    The two noise keys are the same for every activation (common random numbers, like the
    data and the initial network, which all activations of a trial share): each model's
    noise is still i.i.d. N(0, 1) per entry, and it is drawn once per trial.
    """
    shared = jax.random.split(model_key, 3)
    return shared.at[1].set(jax.random.fold_in(shared[1], i))


def _structure_directions(mixture: Mixture, n: int) -> Array:
    """Means and spikes (the largest ones, at most 32) as rows: the data part of S."""
    spikes = mixture.spikes.reshape(-1, n)
    if spikes.shape[0] > _MAX_STRUCTURE_DIRECTIONS:
        _, idx = jax.lax.top_k(mixture.sizes.reshape(-1), _MAX_STRUCTURE_DIRECTIONS)
        spikes = spikes[idx]
    return jnp.concatenate([mixture.means, spikes], axis=0)


def _model_context(i, act, G, F_hat, draws, data, params, shape) -> ModelContext:
    keys = model_keys(draws.model_key, i)
    basis = moments = None
    if any(FEATURE_MODELS[mdl].needs_subspace for mdl in shape.models):
        dirs = [_structure_directions(mixture_of(data), shape.n)]
        if shape.rank > 0:
            dirs.append(top_right_singular_vectors(G, shape.rank, keys[1]).T)
        basis = structure_basis(dirs)
        moments = jax_moments(act, nodes=CONDITIONAL_NODES)
    return ModelContext(jax_activation(act)[0], params.h[i], params.h_star[i], params.b, keys,
                        F_hat, basis, moments)  # fmt: skip


def evaluate_trial(draws: TrialDraws, data: Data, params: TrialParams, shape: TrialShape) -> TrialErrors:
    r"""Train and generalisation errors of every (activation, model) of one trial.

    With ``shape.test == "exact"`` the network's and the Hermite model's test errors are left to
    :func:`onestep_gm.numerics.exact.generalisation_error` (NaN here; the readouts come back in
    ``w_hat``), and only the other models' test samples are drawn and streamed.
    Test features are streamed block by block (memory :math:`O(km)`).  The equivalent models'
    features are a mean plus per-entry Gaussian noise, :math:`\phi = \bar\phi + s\odot g`.  On the
    readout batch ``g`` is drawn (see :func:`block_noise_key`): the fit depends on it.  On test
    samples it is integrated exactly, since the prediction is linear in it:
    :math:`\mathbb E_g(y - v^\top\phi)^2 = (y - v^\top\bar\phi)^2 + \sum_i v_i^2 s_i^2` with
    :math:`v = \hat w/\sqrt k`.
    """
    compute, models, root_k = shape.compute, shape.models, math.sqrt(shape.k)
    sampled = shape.sampled_models
    X = draws.X.astype(compute)
    blocks = _test_blocks(draws.X_test.astype(compute), draws.y_test, shape.k) if sampled else None
    rows = shape.k > shape.m  # dual solve: samples-major features (see network.ridge)
    train, gen, F_hats, w_hats, mses = [], [], [], [], []
    for i, (act, (G, F_hat)) in enumerate(zip(shape.activations, trained_layers(draws, shape, params.eta), strict=True)):
        ctx = _model_context(i, act, G, F_hat, draws, data, params, shape)
        F_hat_c = F_hat.astype(compute)
        pre = X @ F_hat_c.T if rows else F_hat_c @ X.T
        fits = [
            fit_readout(_train_features(mdl, pre, X, ctx, rows) / root_k, draws.y, params.lam, samples_major=rows)
            for mdl in models
        ]
        readouts = [w_hat / root_k for (w_hat, _), mdl in zip(fits, models, strict=True) if mdl in sampled]
        errors = jnp.full(len(models), jnp.nan)
        if sampled:

            def test_block(total, inputs, readouts=readouts, ctx=ctx, F_hat_c=F_hat_c):
                X_b, y_b, weight_b = inputs
                pre_b = F_hat_c @ X_b.T
                sse = [_expected_sse(mdl, pre_b, X_b, y_b, weight_b, v, ctx) for mdl, v in zip(sampled, readouts, strict=True)]
                return total + jnp.stack(sse), None

            total, _ = jax.lax.scan(test_block, jnp.zeros(len(sampled)), blocks)
            where = jnp.asarray([models.index(mdl) for mdl in sampled])
            errors = errors.at[where].set(0.5 * total / shape.test_rows)
        train.append(jnp.stack([fit[1] for fit in fits]))
        # train = mean(r^2)/2 + lam*||w_hat||^2/2, so the residual's mean square is 2*train - lam*||w_hat||^2
        mses.append(jnp.stack([2.0 * fit[1] - params.lam * jnp.sum(fit[0] ** 2) for fit in fits]))
        gen.append(errors)
        F_hats.append(F_hat)
        w_hats.append(jnp.stack([fit[0] for fit in fits]))
    exact = shape.test == "exact"
    return TrialErrors(
        jnp.stack(train), jnp.stack(gen), jnp.stack(F_hats) if shape.return_F_hat or exact else None,
        jnp.stack(w_hats) if shape.return_F_hat or exact else None, jnp.stack(mses),
    )  # fmt: skip


def _model_parts(model: str, pre: Array, X_block: Array, ctx: ModelContext, rows: bool = False):
    """Mean features and per-entry noise scale of one model on one block (``pre`` is k × M, or
    M × k with ``rows``): the table's :attr:`~onestep_gm.numerics.models.FeatureModel.parts`."""
    return FEATURE_MODELS[model].parts(pre, X_block, ctx, rows)


def _train_features(model: str, pre: Array, X: Array, ctx: ModelContext, rows: bool) -> Array:
    """Features :math:`\\phi` (float64, laid out like ``pre``) of the readout batch, with the
    noise drawn in that layout."""
    mean, scale = _model_parts(model, pre, X, ctx, rows)
    if scale is not None:
        mean = with_noise(mean, scale, block_noise_key(ctx.keys, FEATURE_MODELS[model].noise_stream, 0))
    return mean.astype(jnp.float64)


def _expected_sse(model, pre, X_b, y_b, weight_b, v, ctx: ModelContext) -> Array:
    """:math:`\\sum_b \\mathbb E_g (y_b - v^\\top\\phi_b)^2` over one test block (noise
    integrated; ``weight_b`` is 0 on padding rows)."""
    mean, scale = _model_parts(model, pre, X_b, ctx)
    residual = y_b - (v.astype(mean.dtype) @ mean).astype(jnp.float64)
    sse = weight_b @ residual**2
    if scale is None:
        return sse
    if jnp.ndim(scale) == 0:
        return sse + jnp.sum(weight_b) * scale**2 * jnp.sum(v**2)
    return sse + weight_b @ ((v**2) @ scale**2)


def _test_blocks(X_test: Array, y_test: Array, k: int):
    """``(X, y, weight)`` split into equal row blocks of ~``TEST_BLOCK_ENTRIES / k`` rows, the
    last one padded with zero rows of weight 0."""
    total, n = X_test.shape
    rows = max(1, min(total, TEST_BLOCK_ENTRIES // k))
    blocks = -(-total // rows)
    rows = -(-total // blocks)
    pad = blocks * rows - total
    if pad == 0:
        return X_test.reshape(blocks, rows, n), y_test.reshape(blocks, rows), jnp.ones((blocks, rows))
    weights = jnp.concatenate([jnp.ones(total), jnp.zeros(pad)]).reshape(blocks, rows)
    X_pad = jnp.concatenate([X_test, jnp.zeros((pad, n), X_test.dtype)]).reshape(blocks, rows, n)
    y_pad = jnp.concatenate([y_test, jnp.zeros(pad, y_test.dtype)]).reshape(blocks, rows)
    return X_pad, y_pad, weights


def block_noise_key(keys: Array, which: int, block: int | Array) -> Array:
    """Key of the per-entry noise of model ``which`` (0 Hermite, 2 conditional) in ``block``
    (block 0 is the readout batch; test blocks integrate the noise and draw none)."""
    return jax.random.fold_in(keys[which], block)


_TRIAL_CACHE: dict = {}
_LAYER_CACHE: dict = {}


def make_trial(shape: TrialShape):
    """The jitted trial ``(key, data, params, data_key=None) -> TrialErrors`` for one shape,
    compiled once (per presence of ``data_key``)."""
    if shape not in _TRIAL_CACHE:

        def trial(key, data, params, data_key=None):
            draws = draw_trial(key, data, shape, params.tau, data_key)
            return evaluate_trial(draws, data, params, shape)

        _TRIAL_CACHE[shape] = jax.jit(trial)
    return _TRIAL_CACHE[shape]


def make_layers(shape: TrialShape):
    """The jitted ``(key, data, tau, eta, data_key=None) -> F_hat`` (A, k, n) of a trial, without the readout:
    the same draws and the same :func:`trained_layers` as :func:`make_trial`."""
    if shape not in _LAYER_CACHE:

        def layers(key, data, tau, eta, data_key=None):
            draws = draw_trial(key, data, shape, tau, data_key)
            return jnp.stack([F_hat for _, F_hat in trained_layers(draws, shape, eta)])

        _LAYER_CACHE[shape] = jax.jit(layers)
    return _LAYER_CACHE[shape]


_ORDERS_CACHE: dict = {}


def make_order_fits(shape: TrialShape, orders: tuple[int, ...]):
    r"""The jitted ``(key, data, params, h_stars) -> (F_hat, w_hat)`` of one trial for the
    network and the Hermite model at every order in ``orders``, on the same draws.

    Common random numbers: one :math:`\hat F`, one readout batch and one noise draw :math:`g`
    (the Hermite model's key, block 0) serve every order, so the orders differ only through
    :math:`p_l` and :math:`h_l^\ast`.  ``params.h`` holds :math:`h_0..h_{L-1}` per activation
    with :math:`L = \max(\text{orders})`; ``h_stars`` is (activations, len(orders)).
    No test sample is drawn: the errors are exact (:mod:`onestep_gm.numerics.exact`).

    Returns
    -------
    F_hat : (activations, k, n) float64
    w_hat : (activations, 1 + len(orders), k) float64, fitted on :math:`\phi/\sqrt k`; row 0 is
        the network's.
    """
    key = (shape, orders)
    if key not in _ORDERS_CACHE:
        root_k = math.sqrt(shape.k)

        def fits(key, data, params, h_stars):
            draws = draw_trial(key, data, shape, params.tau)
            X = draws.X.astype(shape.compute)
            rows = shape.k > shape.m
            F_hats, w_hats = [], []
            for i, (act, (_, F_hat)) in enumerate(zip(shape.activations, trained_layers(draws, shape, params.eta), strict=True)):
                F_c = F_hat.astype(shape.compute)
                pre = X @ F_c.T if rows else F_c @ X.T
                feats = [jax_activation(act)[0](pre).astype(jnp.float64)]
                noise_key = block_noise_key(model_keys(draws.model_key, i), HERMITE.noise_stream, 0)
                pre64 = pre.astype(jnp.float64)
                for o, l in enumerate(orders):
                    mean, scale = hermite_parts(pre64, params.h[i, :l], h_stars[i, o], params.b)
                    feats.append(with_noise(mean, scale, noise_key))
                w_hats.append(jnp.stack([
                    fit_readout(phi / root_k, draws.y, params.lam, samples_major=rows)[0] for phi in feats
                ]))  # fmt: skip
                F_hats.append(F_hat)
            return jnp.stack(F_hats), jnp.stack(w_hats)

        _ORDERS_CACHE[key] = jax.jit(fits)
    return _ORDERS_CACHE[key]
