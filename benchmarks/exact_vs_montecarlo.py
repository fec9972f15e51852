"""The exact test error against an independent Monte-Carlo estimate, trial by trial.

Usage: ``python -m benchmarks.exact_vs_montecarlo [--n 1000] [--trials 16] [--samples 100000]``.

For each trial of ``simulate``'s protocol (same F̂ and readout ŵ) the network's generalisation
error is computed three ways:

* ``exact``: ½(s_y − 2ŵᵀu + ŵᵀΩŵ) from the population moments (the engine's ``test="exact"``);
* ``engine``: the engine's sampled estimate on 5m fresh samples (``test="sampled"``);
* ``mc``: an independent estimate on ``--samples`` fresh samples drawn here with NumPy's
  generator (not the engine's sampler), x = μ_c + Σ_c^{1/2} z, y = ReLU(ξᵀx) + δε,
  ŷ = ŵᵀσ(F̂x)/√k, in float64.

Prints, per (point, activation), the mean over trials of each and the paired differences with
their standard errors.  A difference far beyond its standard error locates a bias: in the
population moments (exact ≠ mc) or in the engine's test sampler (engine ≠ mc).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.precision import enable_x64
from onestep_gm.numerics.simulation import (
    SimulationConfig,
    exact_test_errors,
    resolve,
    serial_lapack,
    setup_trial,
    trial_shape,
)
from onestep_gm.numerics.trial import make_trial, mixture_of

ACTIVATIONS = {"relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh}
POINTS = ((0.74, 0.5), (0.3, 0.5))


def monte_carlo(mixture, F_hat: np.ndarray, w_hat: np.ndarray, sigma, samples: int, rng, chunk: int = 10_000) -> tuple[float, float]:
    """½ mean (y − ŷ)² over ``samples`` fresh draws, and its standard error."""
    weights = np.asarray(mixture.weights, np.float64)
    means = np.asarray(mixture.means, np.float64)
    spikes = np.asarray(mixture.spikes, np.float64)
    stretch = np.sqrt(1.0 + np.asarray(mixture.sizes, np.float64)) - 1.0
    xi = np.asarray(mixture.xi, np.float64)
    noise = float(mixture.noise)
    k, n = F_hat.shape
    v = w_hat / np.sqrt(k)
    sq = []
    for start in range(0, samples, chunk):
        rows = min(chunk, samples - start)
        c = rng.choice(len(weights), size=rows, p=weights / weights.sum())
        z = rng.standard_normal((rows, n))
        X = z + means[c]
        for comp in range(len(weights)):
            sel = c == comp
            coords = z[sel] @ spikes[comp].T * stretch[comp]
            X[sel] += coords @ spikes[comp]
        y = np.maximum(X @ xi, 0.0) + noise * rng.standard_normal(rows)
        y_hat = sigma(X @ F_hat.T) @ v
        sq.append(0.5 * (y - y_hat) ** 2)
    sq = np.concatenate(sq)
    return float(sq.mean()), float(sq.std(ddof=1) / np.sqrt(sq.size))


def run(n: int, trials: int, samples: int, seed: int, points=POINTS) -> list[dict]:
    rng = np.random.default_rng(seed + 12345)
    rows = []
    for beta, alpha in points:
        config = SimulationConfig(data=MixtureSpec(n=n, beta=beta, alpha=alpha), k=n, m=n,
                                  activations=tuple(ACTIVATIONS), models=("nn",), trials=trials,
                                  seed=seed, test="sampled")  # fmt: skip
        resolved = resolve(config)
        shape = trial_shape(config, resolved, with_layers=True)
        trial = make_trial(shape)
        with serial_lapack():
            for t in range(trials):
                setup = setup_trial(config, resolved, t)
                out = trial(setup.key, setup.data, setup.params)
                engine = np.asarray(out.gen)
                exact, _ = exact_test_errors(out, setup, dataclasses.replace(shape, test="exact"))
                mixture = mixture_of(setup.data)
                for i, act in enumerate(shape.activations):
                    F_hat, w_hat = np.asarray(out.F_hat[i]), np.asarray(out.w_hat[i, 0])
                    mc, mc_se = monte_carlo(mixture, F_hat, w_hat, ACTIVATIONS[act], samples, rng)
                    rows.append({"beta": beta, "alpha": alpha, "activation": act, "trial": t,
                                 "exact": float(exact.gen[i, 0]), "engine": float(engine[i, 0]),
                                 "mc": mc, "mc_se": mc_se})  # fmt: skip
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def _paired(d: np.ndarray, scale: float) -> str:
    return f"{d.mean() / scale:+.2%} ± {d.std(ddof=1) / np.sqrt(d.size) / scale:.2%}"


def table(rows: list[dict]) -> str:
    lines = ["| β, α | activation | exact | engine (5m) | MC | exact − MC (± SE) | engine − MC (± SE) |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    keys = sorted({(r["beta"], r["alpha"], r["activation"]) for r in rows}, key=lambda k: (-k[0], k[2]))
    for beta, alpha, act in keys:
        sel = [r for r in rows if (r["beta"], r["alpha"], r["activation"]) == (beta, alpha, act)]
        e, s, m = (np.asarray([r[f] for r in sel]) for f in ("exact", "engine", "mc"))

        lines.append(f"| {beta}, {alpha} | {act} | {e.mean():.5f} | {s.mean():.5f} | {m.mean():.5f} "
                     f"| {_paired(e - m, m.mean())} | {_paired(s - m, m.mean())} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beta", type=float, nargs="*", help="only these points (α = 0.5)")
    args = parser.parse_args()
    enable_x64()
    points = POINTS if not args.beta else tuple((b, 0.5) for b in args.beta)
    print(table(run(args.n, args.trials, args.samples, args.seed, points)))


if __name__ == "__main__":
    main()
