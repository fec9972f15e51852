r"""Simulated points: batched trials of the network and its equivalent models.

One :class:`SimulationConfig` is one point of a figure.  :func:`simulate` runs its
trials through a single jitted trial function (compiled once per shape: sweeps over
:math:`\alpha`, :math:`\beta`, alignment, :math:`\rho`, :math:`\lambda` or :math:`\eta` reuse it,
because those enter as traced arguments), and inside a trial every product is
shared: one :math:`F\tilde X^\top` for the gradients of all activations, and one
:math:`\hat F [X; X_{test}]^\top` per activation for all of its models (network,
Hermite, conditional Gaussian).

Precision: the ridge solve, the gradient's elementwise part and every error are
float64.  ``dtype="float32"`` computes the three large products
(:math:`F\tilde X^\top`, :math:`A\tilde X`, :math:`\hat F X^\top`) in float32, which changes
errors by ~1e-6 relative, far below the spread over trials; ``"float64"`` (default)
does everything in float64.

Seeds: trial ``t`` of seed ``s`` uses ``fold_in(PRNGKey(s), t)``, so the same seed gives the
same numbers, and a point can be extended with more trials without changing the first ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics import data as data_mod
from onestep_gm.numerics.data import FashionSpec, MixtureSpec
from onestep_gm.numerics.equivalents import (
    CONDITIONAL_NODES,
    conditional_parts,
    hermite_parts,
    structure_basis,
    top_right_singular_vectors,
    with_noise,
)
from onestep_gm.numerics.network import (
    CONVENTION,
    fit_readout,
    gradient_from_preactivations,
    init_network,
)
from onestep_gm.numerics.precision import enable_x64

MODELS = ("nn", "hermite", "conditional", "theory")
_SIMULATED = ("nn", "hermite", "conditional")
_MAX_STRUCTURE_DIRECTIONS = 32


@dataclass(frozen=True)
class SimulationConfig:
    """One simulated point: data model, network sizes, readout, models and trials.

    ``n``, ``beta`` and ``alpha`` live in ``data``; ``eta`` defaults to ``n**(beta*alpha)``;
    ``order`` defaults to the theorem's order for ``beta`` (the higher neighbour at a boundary).
    The ``"theory"`` model is evaluated on the trained layers of the first ``theory_trials``
    trials only: its spread over trials is a few per cent of the network's, and each
    prediction costs about as much as a simulated trial.
    """

    data: MixtureSpec | FashionSpec = field(default_factory=MixtureSpec)
    k: int = 1000
    m: int = 1000
    lam: float = 1e-4
    activations: tuple[str, ...] = ("relu", "tanh", "sigmoid")
    models: tuple[str, ...] = ("nn", "hermite")
    order: int | None = None
    trials: int = 20
    seed: int = 0
    test_factor: int = 5
    dtype: str = "float64"
    eta: float | None = None
    conditional_rank: int = 2
    theory_trials: int = 3


class Pair(NamedTuple):
    """An (activation, model) pair: the key of every per-trial error table."""

    activation: str
    model: str


@dataclass(frozen=True)
class SimulationResult:
    """Per-trial errors of every (activation, model) pair, with everything that produced them."""

    config: SimulationConfig
    train: dict[Pair, np.ndarray]
    gen: dict[Pair, np.ndarray]
    seconds: float
    info: dict

    def summary(self) -> dict:
        """JSON-able: per activation and model, mean and std over trials of both errors."""
        out: dict[str, Any] = {}
        for (act, model), gen in self.gen.items():
            train = self.train[(act, model)]
            out.setdefault(act, {})[model] = {
                "train_error": {"mean": float(np.mean(train)), "std": float(np.std(train))},
                "gen_error": {"mean": float(np.mean(gen)), "std": float(np.std(gen))},
            }
        return {
            "activations": out,
            "convention": self.info["convention"],
            "parameters": self.info,
            "seconds": self.seconds,
        }


def validate(config: SimulationConfig) -> None:
    """Raise ``ValueError`` with one clear sentence for any unusable parameter."""
    if config.k <= 0 or config.m <= 0:
        raise ValueError(f"k and m must be positive integers (got k={config.k}, m={config.m})")
    if not (config.lam >= 0 and math.isfinite(config.lam)):
        raise ValueError(f"lambda must be a finite number >= 0 (got {config.lam})")
    if config.trials <= 0:
        raise ValueError(f"trials must be positive (got {config.trials})")
    if config.test_factor <= 0:
        raise ValueError(f"test_factor must be positive (got {config.test_factor})")
    if config.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64 (got {config.dtype!r})")
    if not config.activations:
        raise ValueError("at least one activation is needed")
    unknown = [mdl for mdl in config.models if mdl not in MODELS]
    if unknown or not config.models:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    if config.order is not None and not 1 <= config.order <= 40:
        raise ValueError(f"order must be between 1 and 40 (got {config.order})")
    if config.eta is not None and not math.isfinite(config.eta):
        raise ValueError(f"eta must be finite (got {config.eta})")
    if config.conditional_rank < 0:
        raise ValueError("conditional_rank must be >= 0")
    if config.theory_trials < 1:
        raise ValueError("theory_trials must be >= 1")


def resolve(config: SimulationConfig) -> dict:
    """Derived quantities of a point: θ, η, the Hermite order (τ and b for Fashion-MNIST; for
    mixtures they depend on the realised spikes and are set per trial)."""
    from onestep_gm.theory.activations import get_activation
    from onestep_gm.theory.order import hermite_order, scalings, simulation_order

    validate(config)
    spec = config.data
    notes: list[str] = []
    if isinstance(spec, FashionSpec):
        n = 784
        sc = scalings(n, spec.beta, spec.alpha)
        tau, b = n + sc.theta, 1.0
    else:
        n = spec.n
        sc = scalings(n, spec.beta, spec.alpha)
        theta = spec.theta if spec.theta is not None else sc.theta
        tau = None  # from the realised mixture (depends on the spike draw only through sizes)
        b = None
        sc = dataclasses.replace(sc, theta=theta)
    order = config.order
    if order is None and "hermite" in config.models:
        info = hermite_order(spec.beta)
        order = simulation_order(spec.beta)
        if info.boundary:
            msg = (
                f"beta = {spec.beta} is a boundary of the Hermite theorem (neighbours "
                f"{list(info.neighbours)}); using the higher order {order}"
            )
            warnings.warn(msg, stacklevel=2)
            notes.append(msg)
    eta = config.eta if config.eta is not None else sc.eta
    activations = tuple(get_activation(a).name for a in config.activations)
    return {
        "n": n,
        "beta": spec.beta,
        "alpha": spec.alpha,
        "theta": sc.theta,
        "eta": eta,
        "tau": tau,
        "b": b,
        "order": order,
        "activations": activations,
        "notes": notes,
    }


def _realise_data(config: SimulationConfig, key: jax.Array):
    spec = config.data
    if isinstance(spec, FashionSpec):
        return fashion_pools(spec)
    return data_mod.make_mixture(spec, key)


_FASHION_CACHE: dict = {}


def fashion_pools(spec):
    """Preprocessed Fashion-MNIST pools for ``spec``, loaded once per process (the last spec)."""
    if spec not in _FASHION_CACHE:
        _FASHION_CACHE.clear()
        _FASHION_CACHE[spec] = data_mod.make_fashion(spec)
    return _FASHION_CACHE[spec]


def _mixture_of(data: Any):
    return data.mixture if hasattr(data, "pools") else data


def _sample(data: Any, key: jax.Array, m: int, dtype=None):
    if hasattr(data, "pools"):
        return data_mod.sample_fashion(data, key, m, dtype)
    return data_mod.sample_mixture(data, key, m, dtype)


def _structure_directions(mixture, n: int) -> jax.Array:
    """Means and spikes (the largest ones, at most 32) as rows: the data part of S."""
    spikes = mixture.spikes.reshape(-1, n)
    if spikes.shape[0] > _MAX_STRUCTURE_DIRECTIONS:
        _, idx = jax.lax.top_k(mixture.sizes.reshape(-1), _MAX_STRUCTURE_DIRECTIONS)
        spikes = spikes[idx]
    return jnp.concatenate([mixture.means, spikes], axis=0)


_TRIAL_CACHE: dict = {}


@dataclass(frozen=True)
class TrialShape:
    """The static part of a trial: everything that fixes array shapes or code paths."""

    n: int
    k: int
    m: int
    test_factor: int
    activations: tuple[str, ...]
    models: tuple[str, ...]
    order: int | None
    dtype: str = "float64"
    rank: int = 2
    return_F_hat: bool = False


def draw_trial(key: jax.Array, data: Any, shape: TrialShape, tau: jax.Array) -> dict:
    """All random draws of one trial except the per-model noise (derived from ``model_key``).

    Batches, drawn in one call so that image pools (Fashion-MNIST) give disjoint batches:
    ``(X_tilde, y_tilde)`` for the gradient step, ``(X, y)`` for the readout, ``(X_test, y_test)``
    with ``test_factor * m`` fresh samples; ``F, w`` the initial network.  The float32 engine
    draws the samples in float32 (labels and the network stay float64).
    """
    k_data, k_net, k_model = jax.random.split(key, 3)
    m = shape.m
    dtype = jnp.float32 if shape.dtype == "float32" else None
    X_every, y_every, _ = _sample(data, k_data, (2 + shape.test_factor) * m, dtype)
    y_every = y_every.astype(jnp.float64)
    X_tilde, X, X_test = X_every[:m], X_every[m : 2 * m], X_every[2 * m :]
    y_tilde, y, y_test = y_every[:m], y_every[m : 2 * m], y_every[2 * m :]
    F, w = init_network(k_net, shape.n, shape.k, tau)
    return {
        "X_tilde": X_tilde, "y_tilde": y_tilde, "X": X, "y": y, "X_test": X_test,
        "y_test": y_test, "F": F, "w": w, "model_key": k_model,
    }  # fmt: skip


def model_keys(model_key: jax.Array, i: int) -> jax.Array:
    """Keys of activation ``i``: [Hermite noise, subspace iteration, conditional noise].

    The two noise keys are the same for every activation (common random numbers, like the
    data and the initial network, which all activations of a trial share): each model's
    noise is still i.i.d. N(0, 1) per entry, and it is drawn once per trial, not once per
    activation.
    """
    shared = jax.random.split(model_key, 3)
    return shared.at[1].set(jax.random.fold_in(shared[1], i))


def evaluate_trial(draws: dict, data: Any, params: dict, shape: TrialShape) -> dict:
    """Train and generalisation errors of every (activation, model) of one trial.

    Shared work: one :math:`F\\tilde X^\\top` for all activations' gradients, one
    :math:`\\hat F X^\\top` per activation for all of its models, and per block of test
    samples one :math:`\\hat F X_b^\\top` for all models.  Test features are streamed
    block by block (memory :math:`O(km)`, not :math:`O(k\\cdot\\text{test\\_factor}\\cdot m)`).

    The equivalent models' features are a mean plus per-entry Gaussian noise,
    :math:`\\phi = \\bar\\phi + s\\odot g`.  On the readout batch ``g`` is drawn (from
    ``fold_in(model_keys(model_key, i)[j], 0)``, see :func:`block_noise_key`): the fit depends
    on it.  On test samples it is integrated exactly, since the prediction is linear in it:
    :math:`\\mathbb E_g(y - v^\\top\\phi)^2 = (y - v^\\top\\bar\\phi)^2 + \\sum_i v_i^2 s_i^2`
    with :math:`v = \\hat w/\\sqrt k`, the same expectation as sampling it, without its variance.
    """
    from onestep_gm.theory.codegen import jax_activation, jax_moments

    compute = jnp.float32 if shape.dtype == "float32" else jnp.float64
    models = shape.models
    m, n, T, root_k = shape.m, shape.n, shape.test_factor, math.sqrt(shape.k)
    X_tilde, F, w = draws["X_tilde"].astype(compute), draws["F"], draws["w"]
    X = draws["X"].astype(compute)
    X_blocks, y_blocks, weights = _test_blocks(draws["X_test"].astype(compute), draws["y_test"], shape.k)
    pre_tilde = (F.astype(compute) @ X_tilde.T).astype(jnp.float64)
    if "conditional" in models:
        data_dirs = _structure_directions(_mixture_of(data), n)
    out: dict[str, Any] = {}
    F_hats = []
    for i, act in enumerate(shape.activations):
        sigma, dsigma = jax_activation(act)
        G = gradient_from_preactivations(pre_tilde, w, X_tilde, draws["y_tilde"], sigma, dsigma)
        F_hat = F + params["eta"] * G.astype(jnp.float64)
        F_hats.append(F_hat)
        F_hat_c = F_hat.astype(compute)
        ctx = {"sigma": sigma, "h": params["h"][i], "h_star": params["h_star"][i], "b": params["b"],
               "keys": model_keys(draws["model_key"], i), "F_hat": F_hat}  # fmt: skip
        if "conditional" in models:
            dirs = [data_dirs]
            if shape.rank > 0:
                dirs.append(top_right_singular_vectors(G, shape.rank, ctx["keys"][1]).T)
            ctx["basis"] = structure_basis(dirs)
            ctx["moments"] = jax_moments(act, nodes=CONDITIONAL_NODES)
        rows = shape.k > shape.m  # dual solve: samples-major features (see network.ridge)
        pre = X @ F_hat_c.T if rows else F_hat_c @ X.T
        fits = [
            fit_readout(_train_features(mdl, pre, X, ctx, rows) / root_k, draws["y"], params["lam"], samples_major=rows)
            for mdl in models
        ]
        readouts = [w_hat / root_k for w_hat, _ in fits]

        def test_block(total, inputs, readouts=readouts, ctx=ctx, F_hat_c=F_hat_c):
            X_b, y_b, weight_b = inputs
            pre_b = F_hat_c @ X_b.T
            sse = [
                _expected_sse(mdl, pre_b, X_b, y_b, weight_b, v, ctx)
                for mdl, v in zip(models, readouts, strict=True)
            ]
            return total + jnp.stack(sse), None

        total, _ = jax.lax.scan(test_block, jnp.zeros(len(models)), (X_blocks, y_blocks, weights))
        for j, mdl in enumerate(models):
            out[f"{act}|{mdl}"] = (fits[j][1], 0.5 * total[j] / (T * m))
    if shape.return_F_hat:
        out["F_hat"] = jnp.stack(F_hats)
    return out


_NOISE_STREAM = {"hermite": 0, "conditional": 2}


def _model_parts(model: str, pre: jax.Array, X_block: jax.Array, ctx: dict, rows: bool = False):
    """Mean features and per-entry noise scale of one model on one block (``pre`` is k × M, or
    M × k with ``rows``).

    The network's :math:`\\sigma` runs in the compute dtype; the equivalent models' series and
    moments always in float64 (high Hermite orders would overflow float32).
    """
    if model == "nn":
        return ctx["sigma"](pre), None
    pre = pre.astype(jnp.float64)
    if model == "hermite":
        return hermite_parts(pre, ctx["h"], ctx["h_star"], ctx["b"])
    X_block = X_block.astype(jnp.float64)
    if rows:
        mean, scale = conditional_parts(pre.T, ctx["F_hat"], X_block, ctx["basis"], ctx["moments"])
        return mean.T, scale.T
    return conditional_parts(pre, ctx["F_hat"], X_block, ctx["basis"], ctx["moments"])


def _train_features(model: str, pre: jax.Array, X: jax.Array, ctx: dict, rows: bool) -> jax.Array:
    """Features :math:`\\phi` (float64, laid out like ``pre``) of the readout batch, with the
    noise drawn in that layout."""
    mean, scale = _model_parts(model, pre, X, ctx, rows)
    if scale is not None:
        mean = with_noise(mean, scale, block_noise_key(ctx["keys"], _NOISE_STREAM[model], 0))
    return mean.astype(jnp.float64)


def _expected_sse(model, pre, X_b, y_b, weight_b, v, ctx) -> jax.Array:
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


TEST_BLOCK_ENTRIES = 1 << 22
"""Test samples are streamed in blocks of about this many pre-activations (k × rows): small
enough that a block's :math:`\\hat F X_b^\\top` (32 MB in float64) stays near the last-level
cache for the elementwise passes over it, large enough that its product runs at full
speed (block sizes from 2^20 to 2^23 measured within noise of each other)."""


def _test_blocks(X_test: jax.Array, y_test: jax.Array, k: int):
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


def block_noise_key(keys: jax.Array, which: int, block: int | jax.Array) -> jax.Array:
    """Key of the per-entry noise of model ``which`` (0 Hermite, 2 conditional) in ``block``
    (block 0 is the readout batch; test blocks integrate the noise and draw none)."""
    return jax.random.fold_in(keys[which], block)


def make_trial(shape: TrialShape):
    """The jitted trial ``(key, data, params) -> errors`` for one shape, compiled once and reused.

    ``params`` holds the traced scalars ``eta, lam, tau, b`` and the per-activation Hermite
    coefficients ``h`` (A × order) and ``h_star`` (A,), so sweeps over them never recompile.
    """
    if shape not in _TRIAL_CACHE:

        def trial(key, data, params):
            draws = draw_trial(key, data, shape, params["tau"])
            return evaluate_trial(draws, data, params, shape)

        _TRIAL_CACHE[shape] = jax.jit(trial)
    return _TRIAL_CACHE[shape]


@functools.cache
def _blas_controller():
    import scipy.linalg  # noqa: F401  (loads the OpenBLAS that JAX's CPU LAPACK calls)
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    threads = [lib.num_threads for lib in controller.lib_controllers if lib.user_api == "blas"]
    return controller, max(threads, default=1)


@contextlib.contextmanager
def serial_lapack(serial: bool = True):
    """Run host BLAS/LAPACK (OpenBLAS) on one thread for the duration (``serial=False``: on
    all the threads it had at first use, e.g. for SciPy work inside a serial block).

    JAX's CPU Cholesky and triangular solves call OpenBLAS, whose own thread pool then
    competes with XLA's for the same cores: measured on 2 cores, a 1000×1000 Cholesky
    issued next to a running matrix product took 70–90 ms instead of 8, and a whole
    trial took 0.51 s instead of 0.41 s.  XLA's own products keep all cores.
    """
    controller, threads = _blas_controller()
    with controller.limit(limits=1 if serial else threads, user_api="blas"):
        yield


def simulate(config: SimulationConfig, *, progress: bool = False) -> SimulationResult:
    """Run ``config.trials`` trials of one point; cached on disk under ``cache_dir`` if given."""
    enable_x64()
    resolved = resolve(config)
    from onestep_gm.theory.activations import get_activation
    from onestep_gm.theory.hermite import hermite_coefficients

    n, order = resolved["n"], resolved["order"]
    activations = resolved["activations"]
    simulated = tuple(mdl for mdl in config.models if mdl in _SIMULATED)
    want_theory = "theory" in config.models
    shape = TrialShape(
        n=n, k=config.k, m=config.m, test_factor=config.test_factor, activations=activations,
        models=simulated, order=order if "hermite" in simulated else None, dtype=config.dtype,
        rank=config.conditional_rank, return_F_hat=want_theory,
    )  # fmt: skip
    trial_fn = make_trial(shape)
    base = jax.random.PRNGKey(config.seed)
    train = {Pair(a, mdl): [] for a in activations for mdl in config.models}
    gen = {Pair(a, mdl): [] for a in activations for mdl in config.models}
    hermite_info: dict[str, dict] = {}
    taus, bs = [], []
    iterator = range(config.trials)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="trials", unit="trial", leave=False)
    start = time.perf_counter()
    with serial_lapack():
        for t in iterator:
            key = jax.random.fold_in(base, t)
            data = _realise_data(config, jax.random.fold_in(key, 1))
            mixture = _mixture_of(data)
            tau = resolved["tau"] if resolved["tau"] is not None else float(data_mod.covariance_trace(mixture))
            b = resolved["b"] if resolved["b"] is not None else math.sqrt(n / tau)
            taus.append(tau)
            bs.append(b)
            params = {"eta": resolved["eta"], "lam": config.lam, "tau": tau, "b": b}
            if order is not None:
                coeffs = [hermite_coefficients(a, _round(b), order) for a in activations]
                params["h"] = jnp.asarray(np.stack([c.as_floats() for c in coeffs]))
                params["h_star"] = jnp.asarray([float(c.h_star) for c in coeffs])
                for a, c in zip(activations, coeffs, strict=True):
                    hermite_info[a] = {"h": [float(v) for v in c.h], "h_star": float(c.h_star), "method": c.method}
            else:
                params["h"] = jnp.zeros((len(activations), 1))
                params["h_star"] = jnp.zeros(len(activations))
            out = trial_fn(jax.random.fold_in(key, 2), data, params)
            for a in activations:
                for mdl in simulated:
                    tr, ge = out[f"{a}|{mdl}"]
                    train[Pair(a, mdl)].append(float(tr))
                    gen[Pair(a, mdl)].append(float(ge))
            if want_theory and t < config.theory_trials:
                from onestep_gm.numerics.curves import predict

                with serial_lapack(serial=False):  # SciPy's eigh for the theory wants every thread
                    for i, a in enumerate(activations):
                        pred = predict(out["F_hat"][i], mixture, get_activation(a), config.lam, config.m)
                        train[Pair(a, "theory")].append(float(pred["train_error"]))
                        gen[Pair(a, "theory")].append(float(pred["gen_error"]))
    seconds = time.perf_counter() - start
    bad = [(a, mdl) for (a, mdl), v in gen.items() if not np.all(np.isfinite(v))]
    if any(mdl == "nn" for _, mdl in bad):
        names = ", ".join(f"{a}/{mdl}" for a, mdl in bad)
        raise ValueError(
            f"non-finite errors for {names}: the ridge system is singular or the features "
            f"overflow (lambda = {config.lam}; use lambda > 0)"
        )
    for a, mdl in bad:
        resolved["notes"].append(
            f"{a}/{mdl}: the ridge solve is numerically singular (condition number > 1e13) in "
            f"{int(np.sum(~np.isfinite(gen[Pair(a, mdl)])))} of {config.trials} trials, recorded as NaN: "
            "the equivalent model's features span too many orders of magnitude (e.g. a "
            "high-degree Hermite polynomial diverging along the spike)"
        )
    info = {
        "n": n,
        "k": config.k,
        "m": config.m,
        "lambda": config.lam,
        "beta": resolved["beta"],
        "alpha": resolved["alpha"],
        "theta": resolved["theta"],
        "eta": resolved["eta"],
        "tau": float(np.mean(taus)),
        "b": float(np.mean(bs)),
        "order": order,
        "activations": list(activations),
        "models": list(config.models),
        "trials": config.trials,
        "theory_trials": min(config.trials, config.theory_trials) if want_theory else 0,
        "seed": config.seed,
        "test_samples": config.test_factor * config.m,
        "dtype": config.dtype,
        "data": dataclasses.asdict(config.data),
        "hermite": hermite_info,
        "notes": resolved["notes"],
        "convention": CONVENTION,
    }
    result = SimulationResult(
        config=config,
        train={key: np.asarray(v) for key, v in train.items()},
        gen={key: np.asarray(v) for key, v in gen.items()},
        seconds=seconds,
        info=info,
    )
    return result


def _round(b: float) -> str:
    """``b`` as a 15-digit decimal string: equal draws share cached coefficients."""
    return f"{b:.15g}"
