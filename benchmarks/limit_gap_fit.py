"""Summarise check (b): the gap between the F_hat-conditional theory and the limit, per n, and its slope.

    python -m benchmarks.limit_gap_fit FILE.jsonl [FILE.jsonl ...]

Draw seeds are nested (draw j uses seed 2000 + j at every n), so for each (alpha, n) the row with
the most draws is kept (it contains the others). Per n:
the mean gap (conditional / limit - 1) with its standard error, and the root-mean-square relative
deviation of a single draw, sqrt(gap^2 + sd^2), which is what the O(n^-1/2) fluctuation of F_hat
sets; the slope of log RMS against log n by least squares (over all alphas).
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np


def summarise(paths):
    best = {}
    for path in paths:
        for line in open(path):
            row = json.loads(line)
            key = (row["alpha"], row["n"])
            if key not in best or row["draws"] > best[key]["draws"]:
                best[key] = row
    out = []
    for (alpha, n), row in sorted(best.items()):
        lim, d = row["limit_test"], row["draws"]
        gap = row["cond_test"] / lim - 1
        sd = (row["cond_test_se"] or 0.0) * math.sqrt(d) / lim
        out.append({"alpha": alpha, "n": n, "draws": d, "gap": gap, "gap_se": sd / math.sqrt(d),
                    "rms": math.sqrt(gap**2 + sd**2 * (d - 1) / d)})
    return out


def main(argv=None):
    rows = summarise(argv if argv is not None else sys.argv[1:])
    for r in rows:
        print(f"alpha={r['alpha']:<4} n={r['n']:<5} draws={r['draws']:<3} gap={100 * r['gap']:+.2f}% "
              f"± {100 * r['gap_se']:.2f}%  rms={100 * r['rms']:.2f}%")
    ns = np.array([r["n"] for r in rows], float)
    rms = np.array([r["rms"] for r in rows])
    alphas = sorted({r["alpha"] for r in rows})
    # common slope, one intercept per alpha
    X = np.column_stack([np.log(ns)] + [[1.0 if r["alpha"] == a else 0.0 for r in rows] for a in alphas])
    coef, *_ = np.linalg.lstsq(X, np.log(rms), rcond=None)
    print(f"slope of log rms vs log n: {coef[0]:.2f}")
    absgap = np.array([abs(r["gap"]) for r in rows])
    coef2, *_ = np.linalg.lstsq(X, np.log(np.maximum(absgap, 1e-6)), rcond=None)
    print(f"slope of log |mean gap| vs log n: {coef2[0]:.2f} (noisy: the gaps are within ~2 s.e. of 0)")
    return rows, coef[0]


if __name__ == "__main__":
    main()
