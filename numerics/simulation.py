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

import dataclasses
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.coefficients import hermite_parameters
from onestep_gm.numerics.config import (
    PROTOCOLS,
    Resolved,
    SimulationConfig,
    resolve,
    trial_shape,
    validate,
)
from onestep_gm.numerics.exact_test import exact_errors_program, exact_test_errors
from onestep_gm.numerics.fashion import FASHION_N, fashion_pools
from onestep_gm.numerics.mixture import covariance_trace
from onestep_gm.numerics.models import FEATURE_MODELS, MODELS, PREDICTORS, THEORY
from onestep_gm.numerics.network import CONVENTION, FIRST_LAYERS
from onestep_gm.numerics.precision import scoped_x64
from onestep_gm.numerics.prediction import Prediction, predict
from onestep_gm.numerics.result import Pair, SimulationResult
from onestep_gm.numerics.ridge import ridge_equivalent
from onestep_gm.numerics.runtime import serial_lapack
from onestep_gm.numerics.trial import (
    Data,
    TrialParams,
    make_layers,
    make_trial,
    mixture_of,
)
from onestep_gm.numerics.validation import check_int
from onestep_gm.theory.activations import get_activation
from onestep_gm.theory.order import scalings

__all__ = [  # the loop's own names, and those of the modules it was split into (kept importable)
    "FASHION_N", "MODELS", "PROTOCOLS", "Pair", "Resolved", "SimulationConfig", "SimulationResult",
    "TrialSetup", "exact_test_errors", "fashion_pools", "resolve", "serial_lapack", "setup_trial",
    "simulate", "trained_layer", "trial_data", "trial_shape", "validate",
]  # fmt: skip
_exact_errors_jit = exact_errors_program  # the name the compile-count test reads


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


def trial_data(config: SimulationConfig, t: int) -> Data:
    """The data that trial ``t`` of ``config`` realises (``config.data.realise`` with the
    trial's data key): its mixture (spikes, spike sizes, means, teacher) or image pools.

    Under ``protocol="paper"`` every trial gets trial 0's data.  Cheap beside a trial (no
    sample is drawn), so a figure can recompute a trial's setting from its seed.

    Parameters
    ----------
    config : SimulationConfig
        The point.
    t : int
        Trial index, ``>= 0`` (also beyond ``config.trials``: a trial that was never run).
    """
    root = jax.random.PRNGKey(config.seed)
    data_root = jax.random.fold_in(root, 0 if config.protocol == "paper" else t)
    return config.data.realise(jax.random.fold_in(data_root, 1))


def setup_trial(config: SimulationConfig, resolved: Resolved, t: int) -> TrialSetup:
    """Realise trial ``t``'s data (``config.data.realise``: a fresh mixture, or the image
    pools) and its parameters.

    Under ``protocol="paper"`` the mixture and the samples' key are those of trial 0 for
    every ``t``; only the network's key (and the models' noise) follows ``t``.
    """
    root = jax.random.PRNGKey(config.seed)
    key = jax.random.fold_in(root, t)
    paper = config.protocol == "paper"
    data_root = jax.random.fold_in(root, 0) if paper else key
    data = trial_data(config, t)
    data.check_draws((config.m_step or config.m) + (1 + config.test_factor) * config.m)
    tau = resolved.tau if resolved.tau is not None else float(covariance_trace(mixture_of(data)))
    b = resolved.b if resolved.b is not None else FIRST_LAYERS[config.first_layer].bulk_scale(resolved.n, tau)
    h, h_star, hermite = hermite_parameters(resolved.activations, resolved.order, b)
    params = TrialParams(eta=resolved.eta, lam=config.lam, tau=tau, b=b, h=h, h_star=h_star)
    data_key = jax.random.split(jax.random.fold_in(data_root, 2), 3)[0] if paper else None
    return TrialSetup(data, jax.random.fold_in(key, 2), tau, b, params, hermite, data_key)


@scoped_x64
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
    check_int("trial", trial, 0, 2**31 - 1)
    if activation is not None:
        config = dataclasses.replace(config, activations=(activation,))
    config = dataclasses.replace(config, activations=config.activations[:1], models=("nn",))
    resolved = resolve(config)
    setup = setup_trial(config, resolved, trial)
    F_hats = make_layers(trial_shape(config, resolved))(
        setup.key, setup.data, setup.tau, resolved.eta, setup.data_key
    )
    return F_hats[0], mixture_of(setup.data)


@scoped_x64
def simulate(config: SimulationConfig, *, progress: bool = False, trial_indices=None) -> SimulationResult:
    """Run ``config.trials`` trials of one point (or the trials ``trial_indices`` of it).

    Runs in 64-bit JAX (:func:`onestep_gm.numerics.precision.x64`) and leaves the process as it
    found it: the x64 flag, the compile-cache setting (switch the persistent cache on with
    :func:`onestep_gm.enable_compile_cache`), the BLAS threads, the environment.

    Parameters
    ----------
    config : SimulationConfig
        The point.
    progress : bool
        Show a progress bar over trials.
    trial_indices : sequence of int, optional
        Run only these trials, in this order (each in ``[0, config.trials)``; trial ``t`` has the
        same seeds as in a full run, so a run can be extended later: e.g. more draws of the
        theory line, with ``theory_trials = trials``).  Default ``range(config.trials)``.

    Returns
    -------
    SimulationResult
        Per-trial train and generalisation errors per (activation, model), in the ½ convention
        of the paper's figures (``info["convention"]``); one entry per trial run (the theory
        line: per trial run below ``theory_trials``).

    Raises
    ------
    ValueError
        For an unusable configuration, or non-finite network errors (a singular ridge system,
        e.g. λ = 0 at the interpolation threshold), or ``trial_indices`` that are empty,
        repeated or outside ``[0, config.trials)``.
    """
    indices = _trial_indices(config, trial_indices)
    resolved = resolve(config)
    errors = _TrialErrors(resolved.activations, config.models)
    sampled = _sampled_models(config)
    start = time.perf_counter()
    if sampled:
        first = setup_trial(config, resolved, indices[0])  # its refusals (activation, data) precede the bar
        iterator = indices
        if progress:
            from tqdm.auto import tqdm  # the progress bar is optional and for terminals only

            iterator = tqdm(iterator, desc="trials", unit="trial", leave=False)
        start = time.perf_counter()
        with serial_lapack():
            _run_trials(config, resolved, (indices[0], first), iterator, errors)
    for mdl in config.models:  # sampling-free predictors: one value per point
        point = getattr(PREDICTORS.get(mdl), "point", None)
        if point is not None:
            errors.add_point(mdl, config, resolved, point)
    seconds = time.perf_counter() - start
    notes = list(resolved.notes) + [PREDICTORS[mdl].note for mdl in config.models
                                    if mdl in PREDICTORS and PREDICTORS[mdl].note] + errors.check(config)
    return SimulationResult(config, errors.train_arrays(), errors.gen_arrays(), seconds,
                            _info(config, resolved, errors, notes), errors.train_mse_arrays())  # fmt: skip


def _trial_indices(config: SimulationConfig, trial_indices) -> tuple[int, ...]:
    """The trials a run covers: ``range(config.trials)``, or ``trial_indices`` checked."""
    if trial_indices is None:
        return tuple(range(config.trials))
    indices = tuple(trial_indices)
    for t in indices:
        check_int("trial_indices entry", t, 0, config.trials - 1)
    if not indices or len(set(indices)) < len(indices):
        raise ValueError(f"trial_indices must be non-empty and without repeats, got {list(indices)}")
    return indices


def _run_trials(config: SimulationConfig, resolved: Resolved, first: tuple[int, TrialSetup], trials,
                errors: _TrialErrors) -> None:  # fmt: skip
    """Run ``trials`` (indices) through one compiled trial, adding each one's errors to ``errors``
    (the theory line on those below ``config.theory_trials``); ``first`` is the first trial's
    index and its set-up, already realised."""
    want_theory = THEORY.name in config.models
    shape = trial_shape(config, resolved, with_layers=want_theory)
    if not shape.models:  # the theory line alone: the trained layers, no readout to fit
        # the network's draws: an image pool gives every batch disjoint rows, so what a trial
        # draws depends on how many test rows its models take (the network's here)
        layers = make_layers(trial_shape(dataclasses.replace(config, models=("nn",)), resolved))  # = trained_layer's
        for t in trials:
            if t >= config.theory_trials:
                continue
            setup = first[1] if t == first[0] else setup_trial(config, resolved, t)
            F_hats = layers(setup.key, setup.data, setup.tau, resolved.eta, setup.data_key)
            errors.record(setup)
            with serial_lapack(serial=False):
                errors.add_theory(F_hats, mixture_of(setup.data), config)
        return
    trial_fn = make_trial(shape)
    for t in trials:
        setup = first[1] if t == first[0] else setup_trial(config, resolved, t)
        out = trial_fn(setup.key, setup.data, setup.params, setup.data_key)
        moments = None
        if shape.test == "exact":
            out, moments = exact_test_errors(out, setup, shape)
        errors.add_simulated(shape.models, out)
        errors.record(setup)
        if want_theory and t < config.theory_trials:
            with serial_lapack(serial=False):  # SciPy's eigh for the theory wants every thread
                errors.add_theory(out.F_hat, mixture_of(setup.data), config, moments)


def _sampled_models(config: SimulationConfig) -> tuple[str, ...]:
    """The models of ``config`` that need trials: the feature models and the per-trial theory."""
    return tuple(mdl for mdl in config.models if mdl in FEATURE_MODELS or PREDICTORS[mdl].point is None)


class _TrialErrors:
    """Per-trial errors collected over the loop of :func:`simulate`."""

    def __init__(self, activations: tuple[str, ...], models: tuple[str, ...]):
        self.activations = activations
        self.train = {Pair(a, mdl): [] for a in activations for mdl in models}
        self.gen = {Pair(a, mdl): [] for a in activations for mdl in models}
        self.train_mse = {Pair(a, mdl): [] for a in activations for mdl in models}
        self.taus: list[float] = []
        self.bs: list[float] = []
        self.hermite: dict = {}

    def add_simulated(self, models, out) -> None:
        train, gen, mse = np.asarray(out.train), np.asarray(out.gen), np.asarray(out.train_mse)
        for i, a in enumerate(self.activations):
            for j, mdl in enumerate(models):
                self.train[Pair(a, mdl)].append(float(train[i, j]))
                self.gen[Pair(a, mdl)].append(float(gen[i, j]))
                self.train_mse[Pair(a, mdl)].append(float(mse[i, j]))

    def add_theory(self, F_hats, mixture, config: SimulationConfig, moments=None) -> None:

        for i, a in enumerate(self.activations):
            if moments is not None:
                pred = Prediction.of(ridge_equivalent(*moments[i], config.lam, config.m))
            elif not bool(jnp.all(jnp.isfinite(F_hats[i]))):  # a diverged layer: no prediction
                self.train[Pair(a, THEORY.name)].append(float("nan"))
                self.gen[Pair(a, THEORY.name)].append(float("nan"))
                self.train_mse[Pair(a, THEORY.name)].append(float("nan"))
                continue
            else:
                pred = predict(F_hats[i], mixture, get_activation(a), config.lam, config.m)
            self.train[Pair(a, THEORY.name)].append(pred.train_error)
            self.gen[Pair(a, THEORY.name)].append(pred.gen_error)
            self.train_mse[Pair(a, THEORY.name)].append(pred.train_mse)

    def add_point(self, model: str, config: SimulationConfig, resolved: Resolved, point) -> None:
        """One deterministic value per activation from a sampling-free predictor (spread 0)."""
        for a in self.activations:
            train, gen, train_mse = point(config, resolved, a)
            self.train[Pair(a, model)].append(train)
            self.gen[Pair(a, model)].append(gen)
            self.train_mse[Pair(a, model)].append(train_mse)

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
        return [_theory_note(p, config, self.gen[p]) if p.model == THEORY.name else
            f"{p.activation}/{p.model}: no finite value (recorded as NaN): the limit's equations have no "
            "finite solution at this point" if p.model in PREDICTORS else
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

    def train_mse_arrays(self) -> dict[Pair, np.ndarray]:
        return {p: np.asarray(v) for p, v in self.train_mse.items()}


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
    eta = config.eta if config.eta is not None else scalings(spec.n, spec.beta, spec.alpha).eta
    noise = float(spec.noise)
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
    want_theory = THEORY.name in config.models
    trials = config.trials if _sampled_models(config) else 0
    return {
        "n": resolved.n, "k": config.k, "m": config.m, "lambda": config.lam,
        "beta": resolved.beta, "alpha": resolved.alpha, "theta": resolved.theta,
        "eta": resolved.eta, "tau": float(np.mean(errors.taus)) if errors.taus else None,
        "b": float(np.mean(errors.bs)) if errors.bs else None,
        "order": resolved.order, "activations": list(resolved.activations),
        "models": list(config.models), "trials": trials,
        "theory_trials": min(config.trials, config.theory_trials) if want_theory else 0,
        "seed": config.seed, "test": resolved.test,
        "test_samples": trial_shape(config, resolved).test_rows,
        "dtype": config.dtype, "readout_init": config.readout_init, "first_layer": config.first_layer,
        "m_step": config.m_step or config.m,
        "data": dataclasses.asdict(config.data), "protocol": config.protocol, "hermite": errors.hermite, "notes": notes,
        "convention": CONVENTION,
    }  # fmt: skip
