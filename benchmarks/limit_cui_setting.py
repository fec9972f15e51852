"""The sampling-free limit in Cui et al.'s setting (ICML 2024, Fig. 2): test and train MSE along alpha.

    python -m benchmarks.limit_cui_setting [--out benchmarks/limit_results/cui_setting.csv]

Cui et al.'s setting in our names: d = p = 2000 (``n = k = 2000``), the step's batch
:math:`n_0 = 0.5d` (``m_step = 1000``), :math:`\\tilde\\eta = 1` (``eta = eta_tilde * k = 2000``),
tanh student and tanh teacher, unit-norm rows, constant readout :math:`1/\\sqrt p`, their
unnormalised penalty :math:`\\lambda_c = 0.01` held along the curve (ours: ``lam = 0.01 / m``),
:math:`\\alpha = m/d`.  Writes one row per alpha for two grids: ``coarse`` (``numpy.linspace(0.2, 3, 7)``)
and ``fine`` (57 points, ``numpy.linspace(0.2, 3, 57)``).  ``test_mse`` and ``train_mse`` are Cui et
al.'s convention (no 1/2, the train MSE without the penalty); ``gen_error`` (= test_mse / 2) and
``train_error`` (= train_mse / 2 + lam/2 ||w||^2) are the paper's.  Prints the table and the time
(compilation and evaluation separately).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from onestep_gm.numerics.limit import IsotropicLimit, limit_curve

D = 2000
GRIDS = {"coarse": np.linspace(0.2, 3, 7), "fine": np.linspace(0.2, 3, 57)}
COLUMNS = ("grid", "alpha", "m", "test_mse", "train_mse", "gen_error", "train_error", "spike", "bulk", "alignment")


def cui_spec() -> IsotropicLimit:
    """Cui et al.'s setting through our sizes (:meth:`IsotropicLimit.from_sizes`)."""
    return IsotropicLimit.from_sizes(n=D, k=D, m=D, lam=0.01 / D, eta=1.0 * D, m_step=D // 2,
                                     activation="tanh", teacher="tanh", readout_init="constant")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/limit_results/cui_setting.csv")
    args = parser.parse_args(argv)
    spec = cui_spec()
    assert (spec.alpha_step, spec.width, spec.eta_tilde, spec.penalty) == (0.5, 1.0, 1.0, 0.01), spec
    rows = []
    for grid, alphas in GRIDS.items():
        t0 = time.perf_counter()
        limit_curve(spec, alphas)  # compiles the batched program for this many points
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        curve = limit_curve(spec, alphas)
        warm = time.perf_counter() - t0
        print(f"{grid}: {len(alphas)} points, first call (with compilation) {first:.2f} s, "
              f"warm {warm * 1e3:.1f} ms ({warm / len(alphas) * 1e3:.2f} ms per point)")
        for i, a in enumerate(curve.alpha):
            rows.append({"grid": grid, "alpha": float(a), "m": float(a) * D, "test_mse": curve.test_mse[i],
                         "train_mse": curve.train_mse[i], "gen_error": curve.gen_error[i],
                         "train_error": curve.train_error[i], "spike": curve.info["spike"][i],
                         "bulk": curve.info["bulk"][i], "alignment": curve.info["alignment"][i]})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.10g}" if isinstance(v, float | np.floating) else v) for k, v in row.items()})
    print(f"{'grid':<7}{'alpha':>8}{'test_mse':>12}{'train_mse':>12}")
    for row in rows:
        print(f"{row['grid']:<7}{row['alpha']:>8.4g}{row['test_mse']:>12.6f}{row['train_mse']:>12.6f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
