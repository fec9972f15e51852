r"""Simulated points: the trial loop over a :class:`SimulationConfig`.

One :class:`SimulationConfig` is one point of a figure.  :func:`simulate` resolves it
(:func:`resolve`: θ, η, the order), realises the data per trial, and runs its trials through
one jitted trial (:func:`onestep_gm.numerics.trial.make_trial`, compiled once per shape:
sweeps over :math:`\alpha`, :math:`\beta`, alignment, :math:`\rho`, :math:`\lambda` or :math:`\eta`
reuse it, because those enter as traced arguments).  Results are a :class:`SimulationResult`;
saving and caching them is the job of :mod:`onestep_gm.experiments.results`.

Seeds: trial ``t`` of seed ``s`` uses ``fold_in(PRNGKey(s), t)`` (data from ``fold_in(·, 1)``,
the trial's draws from ``fold_in(·, 2)``), so the same seed gives the same numbers, and a point
can be extended with more trials without changing the first ones.

Protocols: ``"fresh"`` (default) draws every trial's mixture and datasets anew.  ``"paper"``
follows the authors' code: one mixture and one set of datasets (gradient batch, readout batch,
test set) per seed, those of trial 0, shared by every trial and every point of a figure with
the same sizes; trials redraw only :math:`F`, :math:`w` and the equivalent models' noise; and
every batch holds exactly :math:`\rho_c` times its size of component :math:`c` (:math:`m/2` each).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.compile_cache import (
    coefficient_cache_dir,
    enable_compile_cache,
    release_near_map_limit,
)
from onestep_gm.numerics.exact import generalisation_error, hermite_population_moments
from onestep_gm.numerics.fashion import FashionSpec, check_pool_size, make_fashion
from onestep_gm.numerics.memory import check_simulation_memory
from onestep_gm.numerics.mixture import MixtureSpec, covariance_trace, make_mixture
from onestep_gm.numerics.network import CONVENTION
from onestep_gm.numerics.population import (
    component_laws,
    moment_plans,
    planned_moments,
    summarise,
)
from onestep_gm.numerics.precision import enable_x64
from onestep_gm.numerics.prediction import Prediction, predict
from onestep_gm.numerics.ridge import ridge_equivalent
from onestep_gm.numerics.trial import (
    EXACT_MODELS,
    TESTS,
    Data,
    TrialErrors,
    TrialParams,
    TrialShape,
    hermite_slots,
    make_layers,
    make_trial,
    mixture_of,
)
from onestep_gm.theory.activations import get_activation, require_finite_moments
from onestep_gm.theory.hermite import hermite_coefficients
from onestep_gm.theory.order import bulk_scale, hermite_order, scalings, simulation_order
from sympy import srepr as sp_srepr

MODELS = ("nn", "hermite", "conditional", "theory")
PROTOCOLS = ("fresh", "paper")
_SIMULATED = ("nn", "hermite", "conditional")
FASHION_N = 784
_SQUARE_MAX = 1e150
"""Largest eta or label noise whose squares (in the Gram matrix and the errors) stay finite."""


@dataclass(frozen=True)
class SimulationConfig:
    """One simulated point: data model, network sizes, readout, models and trials.

    Parameters
    ----------
    data : MixtureSpec or FashionSpec
        The data model; ``n``, ``beta`` and ``alpha`` live here.
    k, m : int
        Hidden neurons; samples of the gradient batch and of the readout batch (each).
    lam : float
        Ridge penalty :math:`\\lambda \\ge 0`.
    activations : tuple of str
        Registry names or expressions in ``x``.
    models : tuple of str
        Any of ``"nn"``, ``"hermite"``, ``"conditional"``, ``"theory"``.
    order : int or None
        Hermite order; ``None`` is the theorem's order for ``beta`` (the higher neighbour at a
        boundary).
    trials, seed : int
        Independent trials; the seed of trial ``t`` is ``fold_in(PRNGKey(seed), t)``.
    test_factor : int
        Fresh test samples per trial, in units of ``m``.
    dtype : str
        ``"float64"`` or ``"float32"`` for the large products (everything else is float64).
    eta : float or None
        Learning rate; ``None`` is :math:`\\eta = n^{\\beta\\alpha}`.
    conditional_rank : int
        Top singular directions of the gradient added to the conditional model's subspace.
    theory_trials : int
        The ``"theory"`` model is evaluated on the trained layers of the first
        ``theory_trials`` trials only (its spread over trials is a few per cent of the
        network's, and each prediction costs about as much as a trial).
    test : {"exact", "sampled"} or None
        How the generalisation error is measured.  ``"exact"``:
        :math:`\\tfrac12(s_y - 2\\hat w^\\top u + \\hat w^\\top\\Omega\\hat w)` from the exact
        population moments given :math:`\\hat F` (:mod:`onestep_gm.numerics.exact`; network and
        Hermite model, the conditional model stays sampled); ``"sampled"``: the mean over
        ``test_factor · m`` fresh samples.  ``None`` (default): exact for Gaussian mixtures
        (less spread over trials at lower cost, see ``docs/theorem.md``), sampled for
        Fashion-MNIST (real images have no population law).
    protocol : str
        ``"fresh"``: every trial draws its own mixture and datasets; ``"paper"``: one mixture
        and one set of datasets per seed (trial 0's), trials redraw only the network, and each
        batch holds exactly :math:`\\rho_c` times its size of component :math:`c` (the
        authors' code, Fig 1a).
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
    test: str | None = None
    protocol: str = "fresh"


class Pair(NamedTuple):
    """An (activation, model) pair: the key of every per-trial error table."""

    activation: str
    model: str


@dataclass(frozen=True)
class SimulationResult:
    """Per-trial errors of every (activation, model) pair, with everything that produced them.

    ``train[Pair(a, m)]`` and ``gen[Pair(a, m)]`` are arrays of shape ``(trials,)`` (``theory``:
    ``(min(trials, theory_trials),)``) in the convention ``info["convention"]``.
    """

    config: SimulationConfig
    train: dict[Pair, np.ndarray]
    gen: dict[Pair, np.ndarray]
    seconds: float
    info: dict

    def summary(self) -> dict:
        """JSON-able: per activation and model, mean and std over trials of both errors."""
        out: dict[str, Any] = {}
        with np.errstate(invalid="ignore"):  # an infinite (null) prediction has no spread
            return self._summary(out)

    def _summary(self, out: dict[str, Any]) -> dict:
        for pair, gen in self.gen.items():
            train = self.train[pair]
            out.setdefault(pair.activation, {})[pair.model] = {
                "train_error": {"mean": float(np.mean(train)), "std": float(np.std(train))},
                "gen_error": {"mean": float(np.mean(gen)), "std": float(np.std(gen))},
            }
        return {
            "activations": out,
            "convention": self.info["convention"],
            "parameters": self.info,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Resolved:
    """Derived quantities of a point (:func:`resolve`).

    ``tau`` and ``b`` are fixed for Fashion-MNIST; for mixtures they depend on the realised
    spike sizes and are ``None`` here (set per trial).
    """

    n: int
    beta: float
    alpha: float
    theta: float
    eta: float
    tau: float | None
    b: float | None
    order: int | None
    activations: tuple[str, ...]
    notes: tuple[str, ...]
    test: str = "sampled"


def validate(config: SimulationConfig) -> None:
    """Raise ``ValueError`` with one clear sentence for any unusable parameter, including sizes
    whose trial cannot fit in the available memory (:func:`~onestep_gm.numerics.memory.check_simulation_memory`)."""
    checks = [
        (config.k > 0 and config.m > 0, f"k and m must be positive integers (got k={config.k}, m={config.m})"),
        (config.lam >= 0 and math.isfinite(config.lam), f"lambda must be a finite number >= 0 (got {config.lam})"),
        (config.trials > 0, f"trials must be positive (got {config.trials})"),
        (config.test_factor > 0, f"test_factor must be positive (got {config.test_factor})"),
        (config.dtype in ("float32", "float64"), f"dtype must be float32 or float64 (got {config.dtype!r})"),
        (bool(config.activations), "at least one activation is needed"),
        (config.order is None or 1 <= config.order <= 40, f"order must be between 1 and 40 (got {config.order})"),
        (config.eta is None or math.isfinite(config.eta), f"eta must be finite (got {config.eta})"),
        (config.eta is None or abs(config.eta) <= _SQUARE_MAX,
         f"eta = {config.eta:g} would overflow float64: the features of F + eta*G are squared in the ridge solve (use eta <= 1e150)"
         if config.eta is not None else ""),
        (float(getattr(config.data, "noise", 0.0)) <= _SQUARE_MAX,
         f"noise = {getattr(config.data, 'noise', 0.0):g} would overflow float64: the labels are squared (use noise <= 1e150)"),
        (config.conditional_rank >= 0, "conditional_rank must be >= 0"),
        (config.theory_trials >= 1, "theory_trials must be >= 1"),
        (isinstance(config.seed, int) and 0 <= config.seed <= 2**32 - 1,
         f"seed must be an integer in 0 .. 2**32 - 1 (got {config.seed!r})"),
        (config.test in (None, *TESTS), f"test must be exact or sampled (got {config.test!r})"),
        (config.test != "exact" or not isinstance(config.data, FashionSpec),
         "test='exact' needs a Gaussian mixture: Fashion-MNIST images have no population law"),
        (config.protocol in PROTOCOLS, f"protocol must be one of {', '.join(PROTOCOLS)} (got {config.protocol!r})"),
    ]  # fmt: skip
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    unknown = [mdl for mdl in config.models if mdl not in MODELS]
    if unknown or not config.models:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    check_simulation_memory(config)  # before any allocation: refuse what cannot fit


def resolve(config: SimulationConfig) -> Resolved:
    """Validate ``config`` and derive θ, η, the Hermite order and the activation names.

    Raises
    ------
    ValueError
        For any unusable parameter (:func:`validate`), β or α outside [0, 1], or an unknown
        activation.
    """
    validate(config)
    spec = config.data
    notes: list[str] = []
    fashion = isinstance(spec, FashionSpec)
    n = FASHION_N if fashion else spec.n
    sc = scalings(n, spec.beta, spec.alpha)
    theta = sc.theta if fashion or spec.theta is None else float(spec.theta)
    tau, b = (n + theta, 1.0) if fashion else (None, None)
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
    if any(mdl in config.models for mdl in ("hermite", "conditional", "theory")):
        for a in activations:  # the equivalent models need E sigma(a + s g)^2 < inf at s = b <= 1
            require_finite_moments(a, 1.0, 2)
    test = config.test or ("sampled" if fashion else "exact")
    if test == "exact" and "conditional" in config.models:
        notes.append("test='exact': the conditional model's generalisation error is sampled "
                     f"({config.test_factor}m fresh samples); nn and hermite are exact")
    return Resolved(n, spec.beta, spec.alpha, theta, eta, tau, b, order, activations, tuple(notes), test)


def trial_shape(config: SimulationConfig, resolved: Resolved, *, with_layers: bool = False) -> TrialShape:
    """The static shape of ``config``'s trials (what one compilation serves)."""
    simulated = tuple(mdl for mdl in config.models if mdl in _SIMULATED)
    return TrialShape(
        n=resolved.n, k=config.k, m=config.m, test_factor=config.test_factor,
        activations=resolved.activations, models=simulated,
        order=hermite_slots(resolved.order) if "hermite" in simulated else None, dtype=config.dtype,
        rank=config.conditional_rank, return_F_hat=with_layers, test=resolved.test,
        balanced=config.protocol == "paper",
    )  # fmt: skip


_FASHION_CACHE: dict = {}


def fashion_pools(spec: FashionSpec):
    """Preprocessed Fashion-MNIST pools for ``spec``, loaded once per process (the last spec)."""
    if spec not in _FASHION_CACHE:
        _FASHION_CACHE.clear()
        _FASHION_CACHE[spec] = make_fashion(spec)
    return _FASHION_CACHE[spec]


class TrialSetup(NamedTuple):
    """Trial ``t``'s realised data, its keys and traced parameters (``data_key``: the samples'
    key shared by every trial under the paper's protocol, ``None`` under the fresh one)."""

    data: Data
    key: jax.Array
    tau: float
    b: float
    params: TrialParams
    hermite: dict
    data_key: jax.Array | None = None


def setup_trial(config: SimulationConfig, resolved: Resolved, t: int) -> TrialSetup:
    """Realise trial ``t``'s data (a fresh mixture, or the image pools) and its parameters.

    Under ``protocol="paper"`` the mixture and the samples' key are those of trial 0 for
    every ``t``; only the network's key (and the models' noise) follows ``t``.
    """
    root = jax.random.PRNGKey(config.seed)
    key = jax.random.fold_in(root, t)
    paper = config.protocol == "paper"
    data_root = jax.random.fold_in(root, 0) if paper else key
    spec = config.data
    data = fashion_pools(spec) if isinstance(spec, FashionSpec) else make_mixture(spec, jax.random.fold_in(data_root, 1))
    if isinstance(spec, FashionSpec):
        check_pool_size(data, (2 + config.test_factor) * config.m)
    tau = resolved.tau if resolved.tau is not None else float(covariance_trace(mixture_of(data)))
    b = resolved.b if resolved.b is not None else bulk_scale(resolved.n, tau)
    h, h_star, hermite = _hermite_parameters(resolved, b)
    params = TrialParams(eta=resolved.eta, lam=config.lam, tau=tau, b=b, h=h, h_star=h_star)
    data_key = jax.random.split(jax.random.fold_in(data_root, 2), 3)[0] if paper else None
    return TrialSetup(data, jax.random.fold_in(key, 2), tau, b, params, hermite, data_key)


def _hermite_parameters(resolved: Resolved, b: float):
    """Per-activation :math:`h_0..h_{l-1}` zero-padded to (A, :func:`hermite_slots` ``(l)``),
    :math:`h_l^*` (A,) at ``b``, and their record."""
    if resolved.order is None:
        return jnp.zeros((len(resolved.activations), 1)), jnp.zeros(len(resolved.activations)), {}
    record = {a: _hermite_record(a, f"{b:.15g}", resolved.order) for a in resolved.activations}
    h = np.zeros((len(resolved.activations), hermite_slots(resolved.order)))
    for i, a in enumerate(resolved.activations):
        h[i, : resolved.order] = np.asarray(record[a]["h"], dtype=np.float64)
    h = jnp.asarray(h)
    h_star = jnp.asarray([record[a]["h_star"] for a in resolved.activations])
    return h, h_star, record


_HERMITE_FORMAT = "onestep-gm/hermite-floats-1"


def _hermite_record(activation: str, b: str, order: int) -> dict:
    """``{"h", "h_star", "method"}`` of one activation at ``b`` as floats, read from the
    coefficient cache next to the compile cache when there is one.

    The exact layer takes about 1 s per activation for the numeric ones (tanh-sinh quadrature
    at 40 digits): most of a warm cold start.  Only the float64 values the trial uses are
    stored (JSON round-trips them exactly), keyed by the activation's SymPy expression, ``b``,
    the order and the package version; an unreadable entry is recomputed.
    """
    folder = coefficient_cache_dir()
    path = None
    if folder is not None:
        act = get_activation(activation)
        key = repr((_HERMITE_FORMAT, _package_version(), sp_srepr(act.expr), act.kinks, b, order))
        path = folder / f"h-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
        try:
            obj = json.loads(path.read_text())
            if obj.get("key") == key:
                return obj["record"]
        except (OSError, ValueError, KeyError, AttributeError):
            pass
    c = hermite_coefficients(activation, b, order)
    record = {"h": [float(v) for v in c.h], "h_star": float(c.h_star), "method": c.method}
    if path is not None:
        with contextlib.suppress(OSError):
            _write_atomic(path, json.dumps({"key": key, "record": record}))
    return record


def _write_atomic(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@functools.cache
def _package_version() -> str:
    import importlib.metadata as md  # the version keys the coefficient cache only

    try:
        return md.version("onestep-gm")
    except md.PackageNotFoundError:
        return "source"


def trained_layer(config: SimulationConfig, activation: str | None = None, trial: int = 0):
    r"""The trained first layer :math:`\hat F = F + \eta G` that trial ``trial`` of ``config`` sees.

    The same draws and the same step as :func:`simulate` (one compiled function per shape), so
    the theory curves and the simulations of one seed share :math:`\hat F`.

    Parameters
    ----------
    config : SimulationConfig
        The point (its seed, sizes, data and dtype).
    activation : str, optional
        Registry name or expression; default the first of ``config.activations``.
    trial : int
        Trial index (``fold_in(PRNGKey(seed), trial)``).

    Returns
    -------
    F_hat : jax.Array, shape ``(k, n)``, float64
    mixture : Mixture
        The trial's Gaussian mixture (Fashion-MNIST: its Gaussian surrogate).

    Raises
    ------
    ValueError
        For an unusable configuration (see :func:`resolve`).
    """
    enable_x64()
    if activation is not None:
        config = dataclasses.replace(config, activations=(activation,))
    config = dataclasses.replace(config, activations=config.activations[:1], models=("nn",))
    resolved = resolve(config)
    setup = setup_trial(config, resolved, trial)
    F_hats = make_layers(trial_shape(config, resolved))(
        setup.key, setup.data, setup.tau, resolved.eta, setup.data_key
    )
    return F_hats[0], mixture_of(setup.data)


@functools.cache
def _blas_controller():
    import scipy.linalg  # noqa: F401  (loads the OpenBLAS that JAX's CPU LAPACK calls)
    from threadpoolctl import ThreadpoolController  # optional at import: used by trials only

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
    trial took 0.51 s instead of 0.41 s.  XLA's own products keep all cores.  On an
    accelerator the pin is not applied.
    """
    if jax.default_backend() != "cpu":
        yield
        return
    controller, threads = _blas_controller()
    with controller.limit(limits=1 if serial else threads, user_api="blas"):
        yield


def simulate(config: SimulationConfig, *, progress: bool = False) -> SimulationResult:
    """Run ``config.trials`` trials of one point.

    Switches JAX to 64-bit (:func:`onestep_gm.enable_x64`) and, unless the user opted out,
    on JAX's persistent compilation cache (:func:`onestep_gm.enable_compile_cache`).  A
    process that holds half the memory maps Linux allows it first lets go of its compiled
    programs (:func:`onestep_gm.numerics.compile_cache.release_near_map_limit`).

    Parameters
    ----------
    config : SimulationConfig
        The point.
    progress : bool
        Show a progress bar over trials.

    Returns
    -------
    SimulationResult
        Per-trial train and generalisation errors per (activation, model), in the ½ convention
        of the paper's figures (``info["convention"]``).

    Raises
    ------
    ValueError
        For an unusable configuration, or non-finite network errors (a singular ridge system,
        e.g. λ = 0 at the interpolation threshold).
    """
    enable_x64()
    enable_compile_cache()
    release_near_map_limit()
    resolved = resolve(config)
    want_theory = "theory" in config.models
    shape = trial_shape(config, resolved, with_layers=want_theory)
    trial_fn = make_trial(shape)
    errors = _TrialErrors(resolved.activations, config.models)
    first = setup_trial(config, resolved, 0)  # its refusals (activation, data) precede the bar
    iterator = range(config.trials)
    if progress:
        from tqdm.auto import tqdm  # the progress bar is optional and for terminals only

        iterator = tqdm(iterator, desc="trials", unit="trial", leave=False)
    start = time.perf_counter()
    with serial_lapack():
        for t in iterator:
            setup = first if t == 0 else setup_trial(config, resolved, t)
            out = trial_fn(setup.key, setup.data, setup.params, setup.data_key)
            theory = want_theory and t < config.theory_trials
            moments = None
            if shape.test == "exact":
                out, moments = exact_test_errors(out, setup, shape)
            errors.add_simulated(shape.models, out)
            errors.record(setup)
            if theory:
                with serial_lapack(serial=False):  # SciPy's eigh for the theory wants every thread
                    errors.add_theory(out.F_hat, mixture_of(setup.data), config, moments)
    seconds = time.perf_counter() - start
    notes = list(resolved.notes) + errors.check(config)
    return SimulationResult(config, errors.train_arrays(), errors.gen_arrays(), seconds,
                            _info(config, resolved, errors, notes))  # fmt: skip


def exact_test_errors(out: TrialErrors, setup: TrialSetup, shape: TrialShape):
    r"""Fill in the exact generalisation errors of the network and the Hermite model.

    :math:`E = \tfrac12(s_y - 2\hat w^\top u + \hat w^\top\Omega\hat w)` with the network's
    moments from :func:`onestep_gm.numerics.population.planned_moments` and the Hermite
    model's from :func:`onestep_gm.numerics.exact.hermite_population_moments` (float64).
    The rules are chosen on the host from one transfer of the laws' summaries; the moments
    and errors of every activation then run as one compiled program.

    Returns
    -------
    TrialErrors
        ``out`` with ``gen`` filled in for :data:`EXACT_MODELS`.
    list of (Omega, u, s_y)
        The network's moments per activation (shared with the theory prediction).
    """
    mixture = mixture_of(setup.data)
    classification = bool(mixture.classification)
    activations = tuple(get_activation(a) for a in shape.activations)
    laws = [component_laws(F_hat, mixture) for F_hat in out.F_hat]
    components = len(laws[0])
    summaries = summarise([law for per_activation in laws for law in per_activation])
    plans = tuple(
        moment_plans(act, summaries[i * components : (i + 1) * components], classification)
        for i, act in enumerate(activations)
    )  # fmt: skip
    params = setup.params
    exact, moments = _exact_errors_jit(activations, plans, classification, shape.models, shape.order,
                                       mixture, laws, out.F_hat, out.w_hat, params.h, params.h_star,
                                       params.b)  # fmt: skip
    gen = np.array(out.gen)
    exact = np.asarray(exact)
    for j, mdl in enumerate(shape.models):
        if mdl in EXACT_MODELS:
            gen[:, j] = exact[:, j]
    return out._replace(gen=gen), moments


def _exact_errors(activations, plans, classification, models, order, mixture, laws, F_hats, w_hats, h, h_star, b):
    """Per activation the network's moments and the exact errors of the models in
    :data:`EXACT_MODELS` (NaN for the others); traceable with the first five arguments static."""
    rows, moments = [], []
    for i, act in enumerate(activations):
        Omega, u, s_y = planned_moments(act, plans[i], classification, mixture, laws[i])
        moments.append((Omega, u, s_y))
        row = []
        for j, mdl in enumerate(models):
            if mdl == "nn":
                row.append(generalisation_error(w_hats[i, j], Omega, u, s_y))
            elif mdl == "hermite":
                H = hermite_population_moments(
                    F_hats[i], mixture, h[i], h_star[i : i + 1], b, orders=(order,), laws=laws[i]
                )  # fmt: skip
                row.append(generalisation_error(w_hats[i, j], H[0][0], H[1][0], H[2]))
            else:
                row.append(jnp.asarray(jnp.nan))
        rows.append(jnp.stack(row))
    return jnp.stack(rows), moments


_exact_errors_jit = jax.jit(_exact_errors, static_argnums=(0, 1, 2, 3, 4))


class _TrialErrors:
    """Per-trial errors collected over the loop of :func:`simulate`."""

    def __init__(self, activations: tuple[str, ...], models: tuple[str, ...]):
        self.activations = activations
        self.train = {Pair(a, mdl): [] for a in activations for mdl in models}
        self.gen = {Pair(a, mdl): [] for a in activations for mdl in models}
        self.taus: list[float] = []
        self.bs: list[float] = []
        self.hermite: dict = {}

    def add_simulated(self, models, out) -> None:
        train, gen = np.asarray(out.train), np.asarray(out.gen)
        for i, a in enumerate(self.activations):
            for j, mdl in enumerate(models):
                self.train[Pair(a, mdl)].append(float(train[i, j]))
                self.gen[Pair(a, mdl)].append(float(gen[i, j]))

    def add_theory(self, F_hats, mixture, config: SimulationConfig, moments=None) -> None:

        for i, a in enumerate(self.activations):
            if moments is not None:
                out = ridge_equivalent(*moments[i], config.lam, config.m)
                pred = Prediction(**{key: float(v) for key, v in out.items()})
            else:
                pred = predict(F_hats[i], mixture, get_activation(a), config.lam, config.m)
            self.train[Pair(a, "theory")].append(pred.train_error)
            self.gen[Pair(a, "theory")].append(pred.gen_error)

    def record(self, setup: TrialSetup) -> None:
        self.taus.append(setup.tau)
        self.bs.append(setup.b)
        self.hermite = setup.hermite

    def check(self, config: SimulationConfig) -> list[str]:
        """Raise for non-finite network errors; notes for non-finite equivalent models."""
        bad = [p for p, v in self.gen.items() if not np.all(np.isfinite(v))]
        if any(p.model == "nn" for p in bad):
            names = ", ".join(f"{p.activation}/{p.model}" for p in bad)
            raise ValueError(f"non-finite errors for {names}: {_non_finite_cause(config, bad)}")
        return [_theory_note(p, config, self.gen[p]) if p.model == "theory" else
            f"{p.activation}/{p.model}: the ridge solve is numerically singular (condition number > 1e13) in "
            f"{int(np.sum(~np.isfinite(self.gen[p])))} of {config.trials} trials, recorded as NaN: "
            "the equivalent model's features span too many orders of magnitude (e.g. a "
            "high-degree Hermite polynomial diverging along the spike)"
            for p in bad
        ]

    def train_arrays(self) -> dict[Pair, np.ndarray]:
        return {p: np.asarray(v) for p, v in self.train.items()}

    def gen_arrays(self) -> dict[Pair, np.ndarray]:
        return {p: np.asarray(v) for p, v in self.gen.items()}


def _theory_note(pair: Pair, config: SimulationConfig, gen: list[float]) -> str:
    """Why the theory's prediction is missing (``null`` in JSON) in some trials."""
    count = int(np.sum(~np.isfinite(gen)))
    if config.lam == 0:
        return (f"{pair.activation}/theory: the predicted generalisation error is infinite in {count} "
                f"of {len(gen)} predictions (recorded as NaN, null in JSON): lambda = 0 at the "
                f"interpolation threshold (m = {config.m} equals the rank of the feature covariance)")
    return (f"{pair.activation}/theory: no finite prediction in {count} of {len(gen)} trials "
            f"(recorded as NaN, null in JSON) at lambda = {config.lam:g}")


def _non_finite_cause(config: SimulationConfig, bad: list[Pair]) -> str:
    """Which input made the network's errors non-finite, in one clause."""
    from onestep_gm.numerics.codegen import jax_activation  # loaded already by the trial

    probe = jnp.linspace(-40.0, 40.0, 161)  # pre-activations reach this range after a step
    for act in dict.fromkeys(p.activation for p in bad if p.model == "nn"):
        broken = ~np.isfinite(np.asarray(jax_activation(act)[0](probe)))
        probe = np.asarray(probe)
        if np.any(broken):
            x = float(probe[np.argmax(broken)])
            return (f"the activation {act} is not real or overflows at x = {x:g} (pre-activations "
                    "reach such values after the step); use an activation finite on the real line")
    spec = config.data
    eta = config.eta if config.eta is not None else scalings(getattr(spec, "n", FASHION_N), spec.beta, spec.alpha).eta
    noise = float(getattr(spec, "noise", 0.0))
    if noise > 1e100:
        return f"noise = {noise:g} makes the labels' squares overflow; use a smaller noise"
    if eta > 1e100:
        return f"eta = {eta:g} makes the trained layer's features overflow; use a smaller eta"
    if config.lam == 0:
        return (f"lambda = 0 and the ridge system is singular (k = {config.k}, m = {config.m}: "
                "at or near the interpolation threshold); use lambda > 0")
    return (f"the features overflow or the ridge system is singular at lambda = {config.lam:g} "
            f"(eta = {eta:g}, noise = {noise:g})")


def _info(config: SimulationConfig, resolved: Resolved, errors: _TrialErrors, notes: list[str]) -> dict:
    want_theory = "theory" in config.models
    return {
        "n": resolved.n, "k": config.k, "m": config.m, "lambda": config.lam,
        "beta": resolved.beta, "alpha": resolved.alpha, "theta": resolved.theta,
        "eta": resolved.eta, "tau": float(np.mean(errors.taus)), "b": float(np.mean(errors.bs)),
        "order": resolved.order, "activations": list(resolved.activations),
        "models": list(config.models), "trials": config.trials,
        "theory_trials": min(config.trials, config.theory_trials) if want_theory else 0,
        "seed": config.seed, "test": resolved.test,
        "test_samples": trial_shape(config, resolved).test_rows,
        "dtype": config.dtype,
        "data": dataclasses.asdict(config.data), "protocol": config.protocol, "hermite": errors.hermite, "notes": notes,
        "convention": CONVENTION,
    }  # fmt: skip
