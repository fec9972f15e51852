"""How far do the paper's Figure 1(a) values sit within the spread of single-dataset runs?

Usage: ``python benchmarks/paper_protocol_spread.py [K_OVER_M] [DATASETS] [TRIALS] [N]``
(defaults 1.0, 6, 5, 1000).  The paper's protocol (``protocol="paper"``) draws one mixture
and one set of datasets per seed, and its trials redraw only F and w; so its curve is one
dataset's curve.  Here each seed is one dataset: the network's mean over ``TRIALS`` trials
per dataset, the spread of those means across datasets, and the published value's distance
from their average in units of that spread.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
from onestep_gm.experiments.figures.catalogue import FIGURES, Overrides
from onestep_gm.experiments.figures.grid import point_config
from onestep_gm.experiments.figures.paper import paper_value
from onestep_gm.numerics.simulation import simulate


def main(argv: list[str]) -> int:
    x = float(argv[0]) if argv else 1.0
    datasets = int(argv[1]) if len(argv) > 1 else 6
    trials = int(argv[2]) if len(argv) > 2 else 5
    n = int(argv[3]) if len(argv) > 3 else 1000
    spec = FIGURES["fig1a"]
    means: dict[str, list[float]] = {}
    within: dict[str, list[float]] = {}
    for seed in range(datasets):
        ov = Overrides(protocol="paper", seed=seed, trials=trials, models=("nn",))
        config = point_config(spec, {"k_over_m": x}, overrides=ov)
        if n != config.data.n:  # smaller sizes for a quick look: n = m, k = x m
            data = dataclasses.replace(config.data, n=n)
            config = dataclasses.replace(config, data=data, m=n, k=max(1, round(x * n)))
        result = simulate(config)
        for pair, gen in result.gen.items():
            means.setdefault(pair.activation, []).append(float(np.mean(gen)))
            within.setdefault(pair.activation, []).append(float(np.std(gen, ddof=1)))
        print(f"dataset {seed}: " + ", ".join(f"{a} {v[-1]:.5f}" for a, v in means.items()), flush=True)
    print(f"\nfig1a, k/m = {x}, n = m = {n}, {datasets} datasets x {trials} trials (protocol paper)")
    print("| activation | paper | mean of dataset means | spread across datasets | "
          "spread within a dataset | (paper - mean)/spread |")
    print("|---|---|---|---|---|---|")
    for act, values in means.items():
        paper = paper_value("fig1a", act, x)
        mean, spread = float(np.mean(values)), float(np.std(values, ddof=1))
        z = "–" if paper is None else f"{(paper - mean) / spread:+.1f}"
        shown = "–" if paper is None else f"{paper:.4f}"
        print(f"| {act} | {shown} | {mean:.5f} | {spread:.5f} | {np.mean(within[act]):.5f} | {z} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
