"""The theory line's gap to the network and to the Hermite model for several teachers (issue 25).

At n = k = m = 1000 (beta 0.74, alpha 0.5, the default two-component mixture, lambda 1e-4,
exact test errors), for the teachers ReLU (the paper's), tanh, He2 = x**2 - 1 and the two-index
target relu(xi_1^T x) + tanh(xi_2^T x), and the students relu and tanh: per trial the relative
gaps (theory - nn)/nn and (theory - hermite)/hermite on the same trained layer (the theory line
on every trial: theory_trials = trials), their mean and standard error over trials.

    nice .venv/bin/python benchmarks/teacher_gaps.py --trials 16 --out benchmarks/teacher_gaps

writes ``<out>.csv`` (one row per teacher, activation) and ``<out>.md`` (the table), after
each teacher, so a run cut short keeps the teachers it finished.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.result import Pair
from onestep_gm.numerics.simulation import SimulationConfig, simulate

TEACHERS = {
    "relu": ("relu", None),
    "tanh": ("tanh", None),
    "He2": ("x**2-1", None),
    "relu+tanh": (("relu", "tanh"), (1.0, 1.0)),
}


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, float)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


def run(name: str, trials: int, n: int, seed: int) -> tuple[list[dict], float]:
    teacher, weights = TEACHERS[name]
    config = SimulationConfig(
        data=MixtureSpec(n=n, teacher=teacher, teacher_weights=weights), k=n, m=n,
        activations=("relu", "tanh"), models=("nn", "hermite", "theory"), trials=trials,
        theory_trials=trials, seed=seed,
    )  # fmt: skip
    start = time.perf_counter()
    result = simulate(config, progress=True)
    seconds = time.perf_counter() - start
    rows = []
    for act in config.activations:
        nn, herm, theory = (result.gen[Pair(act, model)] for model in ("nn", "hermite", "theory"))
        t = len(theory)
        gap_nn = (theory - nn[:t]) / nn[:t]
        gap_herm = (theory - herm[:t]) / herm[:t]
        row = {"teacher": name, "activation": act, "trials": len(nn), "theory_trials": t}
        for key, values in (("nn", nn), ("hermite", herm), ("theory", theory), ("gap_nn", gap_nn),
                            ("gap_hermite", gap_herm)):  # fmt: skip
            row[key], row[f"{key}_se"] = _mean_se(values)
        rows.append(row)
    return rows, seconds


def write(rows: list[dict], times: dict[str, float], out: Path, n: int) -> None:
    with out.with_suffix(".csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# Theory line against the network and the Hermite model, per teacher (n = k = m = {n})",
        "",
        "beta 0.74, alpha 0.5, two-component default mixture, lambda 1e-4, exact test errors (1/2 "
        "convention); per-trial relative gaps on the same trained layer, mean ± s.e. over trials.",
        "",
        "| teacher | activation | trials | NN gen | theory gen | (theory − nn)/nn | (theory − hermite)/hermite |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['teacher']} | {r['activation']} | {r['trials']} | {r['nn']:.5g} ± {r['nn_se']:.2g} | "
            f"{r['theory']:.5g} ± {r['theory_se']:.2g} | {100 * r['gap_nn']:+.2f}% ± {100 * r['gap_nn_se']:.2f}% | "
            f"{100 * r['gap_hermite']:+.2f}% ± {100 * r['gap_hermite_se']:.2f}% |"
        )
    lines += ["", "Run time per teacher (both activations, all trials): "
              + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()), ""]  # fmt: skip
    out.with_suffix(".md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teachers", default=",".join(TEACHERS))
    parser.add_argument("--out", default="benchmarks/teacher_gaps")
    args = parser.parse_args()
    out = Path(args.out)
    rows, times = [], {}
    for name in args.teachers.split(","):
        new, seconds = run(name, args.trials, args.n, args.seed)
        rows += new
        times[name] = seconds
        write(rows, times, out, args.n)
        print(f"{name}: {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
