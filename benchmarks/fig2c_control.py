"""How good is fig2c's control-variate theory line?  A check on the network's own trials.

The full-size fig2c (``docs/paper-full/fig2c.json``) has the network on 100 trials per point
and the theory on 12.  The theory line is the regression estimate over its 12 draws with the
control g = 1/||Sigma_bar||_2 (``onestep_gm.experiments.figures.control``).  To see what that
estimator does at this sample size, apply it to the network's errors, whose 100 trials are a
known population: with g recomputed for trials 0-99 from the saved configs and seeds, take 12 of
the 100 trials at random (``--repeats`` times), estimate their mean with the control (its mean
taken as the 100 trials' mean of g), and compare with the 100-trial mean.  Per point and
activation: R^2 of the error on g over the 100 trials, the estimator's bias and spread, the root
mean square of the standard errors it reports, and the markers' own standard error, all in %
of the 100-trial mean.

A second table compares the figure's line with the markers corrected the same way (the
network's 100 trials with the same control and the same mu_g, which both then share, so the
z of their difference counts mu_g once: with mean_se = 0 on both sides): a finer test than the
figure's, whose z carries the markers' plain-mean s.e.

    nice .venv/bin/python benchmarks/fig2c_control.py --out benchmarks/fig2c_control.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from onestep_gm.experiments.figures.control import SignalScale
from onestep_gm.experiments.results import config_from_json
from onestep_gm.experiments.stats import control_variate_mean

ROOT = Path(__file__).resolve().parents[1]


def point_rows(point: dict, repeats: int, draws: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    config = config_from_json(point["config"])
    g = np.array([SignalScale().value(config, t) for t in range(len(point["gen"]["relu|nn"]))])
    record = point["control"]
    assert np.allclose(g[: len(record["values"])], record["values"], rtol=1e-12), "control values differ"
    rows, finer = [], []
    for act in config.activations:
        y = np.asarray(point["gen"][f"{act}|nn"], float)
        target = y.mean()
        r2 = np.corrcoef(g, y)[0, 1] ** 2
        fits = [control_variate_mean(y[i], g[i], g.mean()) for i in
                (rng.choice(y.size, draws, replace=False) for _ in range(repeats))]  # fmt: skip
        est, ses = np.array([f[0] for f in fits]), np.array([f[1] for f in fits])
        pct = 100 / target
        rows.append(f"| {point['coords']['spikes']:g} | {act} | {r2:.4f} | {(est.mean() - target) * pct:+.3f} | "
                    f"{est.std(ddof=1) * pct:.2f} | {np.sqrt(np.mean(ses**2)) * pct:.2f} | "
                    f"{y.std(ddof=1) / np.sqrt(y.size) * pct:.2f} |")  # fmt: skip
        theory = np.asarray(point["gen"][f"{act}|theory"], float)
        mn, sn = control_variate_mean(y, g, record["mean"])
        mt, st = control_variate_mean(theory, g[: theory.size], record["mean"])
        finer.append(f"| {point['coords']['spikes']:g} | {act} | {mn:.5f} ± {sn:.5f} | {mt:.5f} ± {st:.5f} | "
                     f"{(mt - mn) / mn * 100:+.2f} | {(mn - mt) / np.hypot(sn, st):+.2f} |")  # fmt: skip
    return rows, finer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "docs/paper-full/fig2c.json"))
    parser.add_argument("--repeats", type=int, default=3000)
    parser.add_argument("--draws", type=int, default=12)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    data = json.loads(Path(args.data).read_text())
    rng = np.random.default_rng(1)
    lines = [f"Control variate g = 1/||Sigma_bar||_2 on fig2c's network trials: {args.draws} of the 100 "
             f"trials drawn {args.repeats} times (in % of the 100-trial mean).", "",
             "| spikes | activation | R^2 of error on g | bias (%) | spread (%) | rms reported s.e. (%) "
             "| markers' s.e. (%) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    finer = ["", "The line against the markers corrected with the same control (same mu_g, counted once):", "",
             "| spikes | activation | markers, corrected | line | (line - markers)/markers (%) | z |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for point in data["points"]:
        rows, more = point_rows(point, args.repeats, args.draws, rng)
        lines += rows
        finer += more
        print(*rows, *more, sep="\n", flush=True)
    lines += finer
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
