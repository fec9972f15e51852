"""Timings behind ``onestep bench``: engine vs the naive implementation vs the matmul peak.

Measured in one process:
(i)  seconds per trial of the engine (3 activations × {nn, hermite}) at the given size,
     float64 and float32 products, after one compile (jit once per shape), with sampled test
     errors on 5m samples: the work that the operation count and the naive trial do;
(ii) the same trial the straightforward way (:mod:`benchmarks.naive`);
(iii) achieved GFLOP/s of the engine, from an operation count of its products, against
     the machine's measured float64 matmul peak (a 2000×2000 ``jnp.dot``);
(iv) optionally one deterministic-equivalent (theory) point per activation, and one point and
     a 30-point curve of the sampling-free isotropic limit (:func:`time_limit`); the finite-size
     mixture theory at the default point and fig4a's 30 x 30 heat map (:func:`time_limit_mixture`);
(v)  the lean NumPy trial of :mod:`onestep_gm.experiments.baseline` (network only), against
     the engine at its defaults (exact test errors, which skip the test products) on the
     network alone (``nn``) and on network + Hermite + theory;
and the device the engine ran on.
"""

from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.experiments.baseline import time_baseline
from onestep_gm.numerics.memory import MemoryLimitError, check_memory, trial_bytes
from onestep_gm.numerics.precision import enable_x64

ACTIVATIONS = ("relu", "tanh", "sigmoid")


def matmul_peak(size: int = 2000, repeats: int = 5, dtype=jnp.float64) -> float:
    """Best-of-``repeats`` GFLOP/s of a square ``jnp.dot`` (the machine's practical peak)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), dtype)
    dot = jax.jit(jnp.dot)
    dot(a, a).block_until_ready()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        dot(a, a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def engine_flops(n: int, k: int, m: int, test_factor: int, activations: int, models: int) -> float:
    """Floating-point operations of the products of one engine trial (elementwise work excluded)."""
    M = (1 + test_factor) * m
    shared = 2 * k * m * n  # F X̃ᵀ
    per_activation = 2 * k * m * n + 2 * k * n * M  # gradient A X̃, F̂ [X; X_test]ᵀ
    side = min(k, m)
    per_model = 2 * side * side * max(k, m) + side**3 / 3 + 2 * k * M  # Gram, Cholesky, predictions
    return shared + activations * (per_activation + models * per_model)


def _time_engine(n, k, m, trials, dtype, test_factor=5, activations=ACTIVATIONS, models=("nn", "hermite"),
                 test="sampled"):  # fmt: skip
    # the engine (JAX) loads when a benchmark runs
    from onestep_gm.numerics.mixture import MixtureSpec
    from onestep_gm.numerics.simulation import SimulationConfig, simulate

    config = SimulationConfig(
        data=MixtureSpec(n=n, beta=0.74, alpha=0.5), k=k, m=m, activations=tuple(activations),
        models=tuple(models), trials=1, dtype=dtype, test_factor=test_factor, test=test,
    )  # fmt: skip
    simulate(config)  # compile once
    result = simulate(SimulationConfig(**{**config.__dict__, "trials": trials, "seed": 1}))
    return result.seconds / trials


def _time_naive(n, k, m, test_factor=5, repeats=1):
    """Best of ``repeats`` naive trials, after a small warm-up trial (NumPy's BLAS threads and
    first-touch allocations would otherwise be charged to the first timed trial)."""
    naive_trial = _naive_trial()

    from onestep_gm.theory.order import scalings  # the engine (JAX) loads when a benchmark runs

    sc = scalings(n, 0.74, 0.5)
    theta, eta = sc.theta, sc.eta
    naive_trial(np.random.default_rng(1), 200, 200, 200, theta, eta, 1e-4, 4, ACTIVATIONS, test_factor)
    best = math.inf
    for r in range(repeats):
        t0 = time.perf_counter()
        naive_trial(np.random.default_rng(r), n, k, m, theta, eta, 1e-4, 4, ACTIVATIONS, test_factor)
        best = min(best, time.perf_counter() - t0)
    return best


def _time_theory(n, k, m):
    """Seconds of one theory point per activation, on the trained layer of trial 0 (warm)."""
    # the engine (JAX) loads when a benchmark runs
    from onestep_gm.numerics.mixture import MixtureSpec
    from onestep_gm.numerics.prediction import predict
    from onestep_gm.numerics.simulation import SimulationConfig, trained_layer

    config = SimulationConfig(data=MixtureSpec(n=n, beta=0.74, alpha=0.5), k=k, m=m)
    out = {}
    for act in ACTIVATIONS:
        F_hat, mixture = trained_layer(config, act)
        predict(F_hat, mixture, act, config.lam, m)  # compile
        t0 = time.perf_counter()
        predict(F_hat, mixture, act, config.lam, m)
        out[act] = time.perf_counter() - t0
    return out


CLOSED_KERNEL_ACTIVATIONS = ("relu", "abs", "sign", "step", "erf", "gelu", "relu2", "relu3", "relu4",
                             "sin", "cos", "gaussian", "exp", "x**3 - x")  # fmt: skip
"""Activations with a closed bivariate kernel (:mod:`onestep_gm.theory.kernels`), timed by
:func:`time_theory_table`; ``tanh`` is the numeric-rule reference."""


def check_sizes(n: int, k: int, m: int, wide: float = 0.0) -> None:
    """Refuse sizes whose trial (or wide trial, k = ``wide``·m) cannot fit, before any timing.

    Raises
    ------
    MemoryLimitError
        When one benchmark trial cannot fit (naming the size).
    ValueError
        When the wide trial cannot fit (naming ``--wide``).
    """

    sizes = {"n": n, "k": k, "m": m, "models": 2}
    check_memory(trial_bytes, sizes, what="one benchmark trial")
    if wide > 0:
        wide_k = max(1, round(wide * m))
        try:
            check_memory(trial_bytes, {**sizes, "k": wide_k}, what="the wide benchmark trial")
        except MemoryLimitError as exc:
            if exc.parameter != "k":
                raise
            raise ValueError(exc.describe(f"--wide {wide:g} (k = {wide_k})")) from None


def time_theory_table(n: int, k: int, m: int, activations=(*CLOSED_KERNEL_ACTIVATIONS, "tanh"),
                      repeats: int = 5) -> list[dict]:  # fmt: skip
    """One theory point per activation against ReLU's, timed in pairs, and the rule used.

    The default mixture (zero means, regression, β = 0.74, α = 0.5) at ``n, k, m``; each
    activation on its own trained layer of trial 0.  The point (population moments + ridge
    equivalent) of the activation and of ReLU are timed alternately, ``repeats`` times each
    (A B A B, so drift on a busy machine hits both), after an untimed call that derives the
    kernel (SymPy) and compiles.  Rows ``{activation, seconds, relu_seconds, ratio, rule}``
    with the best time of each.
    """
    check_sizes(n, k, m)
    # the engine (JAX) loads when a benchmark runs
    from onestep_gm.numerics.mixture import MixtureSpec
    from onestep_gm.numerics.population import component_laws, population_moments
    from onestep_gm.numerics.ridge import ridge_equivalent
    from onestep_gm.numerics.simulation import SimulationConfig, trained_layer

    config = SimulationConfig(data=MixtureSpec(n=n, beta=0.74, alpha=0.5), k=k, m=m)

    def point(act, F_hat, mixture):
        moments = population_moments(F_hat, mixture, act, laws=component_laws(F_hat, mixture))
        jax.block_until_ready(ridge_equivalent(*moments[:3], config.lam, m))
        return moments.rule

    relu = trained_layer(config, "relu")
    point("relu", *relu)
    rows = []
    for act in activations:
        layer = trained_layer(config, act)
        rule = point(act, *layer)
        best = {act: math.inf, "relu": math.inf}
        for _ in range(repeats):
            for name, args in ((act, layer), ("relu", relu)):
                t0 = time.perf_counter()
                point(name, *args)
                best[name] = min(best[name], time.perf_counter() - t0)
        rows.append({"activation": act, "seconds": best[act], "relu_seconds": best["relu"],
                     "ratio": best[act] / best["relu"], "rule": rule})  # fmt: skip
    return rows


def time_limit(repeats: int = 20, curve_points: int = 30) -> dict:
    """Milliseconds of the sampling-free isotropic limit after compilation (the target: one point
    in ten milliseconds): best and median of ``repeats`` points, and per point of a
    ``curve_points``-point :func:`~onestep_gm.numerics.limit.limit_curve` (one batched program).

    Cui et al.'s setting (tanh student and teacher, constant readout, alpha_0 = 1/2,
    eta_tilde = 1, lambda_c = 0.01, q = 1), alpha from 0.5 upwards; the first call (compilation)
    is timed apart.
    """
    # the engine (JAX) loads when a benchmark runs
    from onestep_gm.numerics.limit import IsotropicLimit, limit_curve, limit_point

    def spec(alpha):
        return IsotropicLimit(alpha=alpha, alpha_step=0.5, eta_tilde=1.0, penalty=0.01, activation="tanh",
                              teacher="tanh", readout_init="constant")  # fmt: skip

    t0 = time.perf_counter()
    limit_point(spec(1.0))
    compile_s = time.perf_counter() - t0
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        limit_point(spec(0.5 + 0.05 * i))
        times.append(time.perf_counter() - t0)
    alphas = [0.5 + 0.1 * i for i in range(curve_points)]
    limit_curve(spec(1.0), alphas)  # compiles the batched program
    t0 = time.perf_counter()
    limit_curve(spec(1.0), [a + 0.05 for a in alphas])
    curve = (time.perf_counter() - t0) / curve_points
    return {"compile_seconds": compile_s, "point_ms_best": 1e3 * min(times),
            "point_ms_median": 1e3 * float(np.median(times)), "curve_ms_per_point": 1e3 * curve}  # fmt: skip


def time_limit_mixture(repeats: int = 20, grid: int = 30) -> dict:
    """The sampling-free mixture theory after compilation: one point at the paper's default point
    (ReLU, n = k = m = 1000, its random teacher's overlap averaged over 4 nodes), best and median
    of ``repeats``; and fig4a's ``grid`` x ``grid`` theory heat map (ReLU, n = 400, k = m = 500,
    teacher along the spikes, alpha and beta on [0, 1]), in seconds: its first pass (with the
    compilation of its few shapes) and a second one."""
    # the engine (JAX) loads when a benchmark runs
    from onestep_gm.numerics.config import SimulationConfig
    from onestep_gm.numerics.limit_mixture import sampling_free_point
    from onestep_gm.numerics.mixture import MixtureSpec

    default = SimulationConfig(data=MixtureSpec(n=1000), k=1000, m=1000)
    t0 = time.perf_counter()
    sampling_free_point(default, "relu")
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sampling_free_point(default, "relu")
        times.append(time.perf_counter() - t0)
    values = np.linspace(0.0, 1.0, grid)
    heat = [SimulationConfig(data=MixtureSpec(n=400, beta=float(b), alpha=float(a), teacher_direction="spikes"),
                             k=500, m=500) for b in values for a in values]  # fmt: skip
    passes = []
    for _ in range(2):  # the first pass compiles the heat map's shapes (strong spikes get more nodes)
        t0 = time.perf_counter()
        for config in heat:
            sampling_free_point(config, "relu")
        passes.append(time.perf_counter() - t0)
    return {"compile_seconds": compile_s, "point_ms_best": 1e3 * min(times),
            "point_ms_median": 1e3 * float(np.median(times)), "heatmap_points": len(heat),
            "heatmap_seconds": passes[1], "heatmap_first_seconds": passes[0]}  # fmt: skip


def device_label() -> str:
    """``"platform: kind"`` of the device JAX runs on (e.g. ``"cpu: cpu"``)."""
    device = jax.devices()[0]
    return f"{device.platform}: {device.device_kind}"


def _naive_trial():
    """The naive NumPy trial of the test suite (``tests/naive.py``), loaded from the source
    checkout; ``None`` for an installed package without one."""
    path = Path(__file__).resolve().parents[1] / "tests" / "naive.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_onestep_naive", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.naive_trial


def run_benchmark(n: int = 1000, k: int = 1000, m: int = 1000, trials: int = 3,
                  wide_ratio: float = 5.0, naive: bool = True, theory: bool = True) -> dict:
    """All measurements as one JSON-able dict (seconds, GFLOP/s and ratios); sizes that cannot
    fit are refused first (:func:`check_sizes`)."""
    check_sizes(n, k, m, wide_ratio)
    enable_x64()
    peak = matmul_peak()
    flops = engine_flops(n, k, m, 5, len(ACTIVATIONS), 2)
    res: dict = {"device": device_label(), "n": n, "k": k, "m": m, "activations": list(ACTIVATIONS), "models": ["nn", "hermite"],
                 "matmul_peak_gflops_float64": peak,
                 "matmul_peak_gflops_float32": matmul_peak(dtype=jnp.float32), "trial_gflop": flops / 1e9}
    for dtype in ("float64", "float32"):
        sec = _time_engine(n, k, m, trials, dtype)
        res[f"engine_seconds_{dtype}"] = sec
        res[f"engine_gflops_{dtype}"] = flops / sec / 1e9
        res[f"engine_fraction_of_peak_{dtype}"] = flops / sec / 1e9 / peak
    naive = naive and _naive_trial() is not None
    if naive:
        res["naive_seconds"] = _time_naive(n, k, m, repeats=2)
        for dtype in ("float64", "float32"):
            res[f"speedup_{dtype}"] = res["naive_seconds"] / res[f"engine_seconds_{dtype}"]
    res["baseline_seconds"] = time_baseline(n, k, m)
    for label, models in (("nn", ("nn",)), ("nn_hermite_theory", ("nn", "hermite", "theory"))):
        for dtype in ("float64", "float32"):
            sec = _time_engine(n, k, m, trials, dtype, models=models, test=None)
            res[f"engine_{label}_seconds_{dtype}"] = sec
            res[f"baseline_over_{label}_{dtype}"] = res["baseline_seconds"] / sec
    if wide_ratio:
        k_wide = int(round(wide_ratio * m))
        wide = res["wide"] = {"k": k_wide, "trial_gflop": engine_flops(n, k_wide, m, 5, len(ACTIVATIONS), 2) / 1e9}
        for dtype in ("float64", "float32"):
            wide[f"engine_seconds_{dtype}"] = _time_engine(n, k_wide, m, 1, dtype)
        if naive:
            wide["naive_seconds"] = _time_naive(n, k_wide, m, repeats=2)
            for dtype in ("float64", "float32"):
                wide[f"speedup_{dtype}"] = wide["naive_seconds"] / wide[f"engine_seconds_{dtype}"]
    if theory:
        try:
            res["theory_seconds"] = _time_theory(n, k, m)
            res["nn_trial_seconds"] = {
                act: _time_engine(n, k, m, trials, "float64", activations=(act,), models=("nn",))
                for act in ACTIVATIONS
            }
        except ImportError as exc:  # the theory-curve module is optional for the benchmark
            res["theory_seconds"] = f"unavailable: {exc}"
        res["limit"] = time_limit()
        res["limit_mixture"] = time_limit_mixture()
    return res
