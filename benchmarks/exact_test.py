"""Exact vs sampled test errors: trial-to-trial spread and cost per trial.

Usage: ``python -m benchmarks.exact_test [--n 1000] [--trials 16] [--out table.md]``.

For each point and activation, every trial is evaluated both ways on the same draws (the same
F̂ and readout): the sampled error over ``5m`` fresh samples, and the exact one from the
population moments.  Prints a Markdown table: mean and std over trials of each, the ratio of the
stds, the mean paired difference (exact − sampled) with its standard error, and the seconds per
trial of ``simulate`` with ``test="sampled"`` and ``test="exact"`` (models nn and hermite; the
first trial, which compiles, is excluded).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.precision import enable_x64
from onestep_gm.numerics.simulation import (
    SimulationConfig,
    exact_test_errors,
    resolve,
    serial_lapack,
    setup_trial,
    simulate,
    trial_shape,
)
from onestep_gm.numerics.trial import make_trial

ACTS = ("relu", "tanh")
POINTS = ((0.74, 0.5), (0.3, 0.5), (0.9, 0.5))


def paired(config: SimulationConfig) -> dict:
    """Per (activation, model): sampled and exact errors of the same trials."""
    config = dataclasses.replace(config, test="sampled")
    resolved = resolve(config)
    shape = trial_shape(config, resolved, with_layers=True)
    trial = make_trial(shape)
    rows: dict = {}
    with serial_lapack():
        for t in range(config.trials):
            setup = setup_trial(config, resolved, t)
            out = trial(setup.key, setup.data, setup.params)
            sampled = np.asarray(out.gen)
            exact, _ = exact_test_errors(out, setup, dataclasses.replace(shape, test="exact"))
            for i, act in enumerate(shape.activations):
                for j, mdl in enumerate(shape.models):
                    row = rows.setdefault(f"{act}/{mdl}", {"sampled": [], "exact": []})
                    row["sampled"].append(float(sampled[i, j]))
                    row["exact"].append(float(exact.gen[i, j]))
    return rows


def per_trial_seconds(config: SimulationConfig, test: str) -> float:
    """Seconds per trial of :func:`simulate` (a one-trial run first compiles)."""
    simulate(dataclasses.replace(config, trials=1, test=test))
    start = time.perf_counter()
    simulate(dataclasses.replace(config, test=test, seed=config.seed + 1))
    return (time.perf_counter() - start) / config.trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--timing-trials", type=int, default=4)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    enable_x64()
    lines = [
        "| β, α | activation/model | sampled mean ± std | exact mean ± std | std ratio | exact − sampled (± SE) | s/trial sampled | s/trial exact |",
        "|---|---|---|---|---|---|---|---|",
    ]
    record = []
    for beta, alpha in POINTS:
        config = SimulationConfig(data=MixtureSpec(n=args.n, beta=beta, alpha=alpha), k=args.n, m=args.n,
                                  activations=ACTS, models=("nn", "hermite"), trials=args.trials)
        rows = paired(config)
        timing = dataclasses.replace(config, trials=args.timing_trials)
        seconds = {test: per_trial_seconds(timing, test) for test in ("sampled", "exact")}
        for name, row in rows.items():
            s, e = np.asarray(row["sampled"]), np.asarray(row["exact"])
            d = e - s
            lines.append(
                f"| {beta}, {alpha} | {name} | {s.mean():.5f} ± {s.std(ddof=1):.5f} | {e.mean():.5f} ± {e.std(ddof=1):.5f} "
                f"| {s.std(ddof=1) / e.std(ddof=1):.2f} | {d.mean():+.5f} ± {d.std(ddof=1) / np.sqrt(len(d)):.5f} "
                f"| {seconds['sampled']:.2f} | {seconds['exact']:.2f} |"
            )
            record.append({"beta": beta, "alpha": alpha, "pair": name, **row, "seconds": seconds})
        print("\n".join(lines), flush=True)
    text = "\n".join(lines)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
        with open(args.out.rsplit(".", 1)[0] + ".json", "w") as fh:
            json.dump({"n": args.n, "trials": args.trials, "rows": record}, fh)


if __name__ == "__main__":
    main()
