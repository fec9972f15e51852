"""fig4a's theory heat map from the sampling-free mixture theory (900 points, ReLU), beside the
simulated one (20 trials per point, docs/paper-full/fig4a.json) and the conditional theory.

Usage: python benchmarks/limit_mixture_heatmap.py OUT.json OUT.png
Writes the per-point values, the wall time of the 900 points and the agreement counts; draws three
panels (network, sampling-free theory, their difference in the network's standard errors).
"""

import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a script: no display
import matplotlib.pyplot as plt
import numpy as np
from onestep_gm.experiments.results import config_from_json
from onestep_gm.numerics.limit_mixture import sampling_free_point

ROOT = Path(__file__).resolve().parents[1]


def main(out_json: str, out_png: str) -> None:
    fig = json.loads((ROOT / "docs" / "paper-full" / "fig4a.json").read_text())
    configs = [config_from_json(p["config"]) for p in fig["points"]]
    sampling_free_point(configs[0], "relu")  # compile once (counted apart)
    rows, start = [], time.perf_counter()
    for point, config in zip(fig["points"], configs, strict=True):
        value = sampling_free_point(config, "relu").gen_error
        nn = np.asarray(point["gen"]["relu|nn"])
        rows.append({"alpha": point["coords"]["alpha"], "beta": point["coords"]["beta"], "limit": value,
                     "nn": float(nn.mean()), "nn_se": float(nn.std(ddof=1) / np.sqrt(nn.size)),
                     "theory": float(np.mean(point["gen"]["relu|theory"]))})
    seconds = time.perf_counter() - start
    z = np.array([(r["limit"] - r["nn"]) / r["nn_se"] for r in rows])
    rel = np.array([r["limit"] / r["theory"] - 1 for r in rows])
    summary = {"points": len(rows), "seconds": seconds, "within_2se_of_nn": int(np.sum(np.abs(z) <= 2)),
               "within_2pct_of_conditional": int(np.sum(np.abs(rel) <= 0.02)),
               "median_abs_rel_conditional": float(np.median(np.abs(rel)))}
    Path(out_json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary))

    alphas, betas = sorted({r["alpha"] for r in rows}), sorted({r["beta"] for r in rows})
    grid = {key: np.full((len(betas), len(alphas)), np.nan) for key in ("nn", "limit", "z")}
    for r, zz in zip(rows, z, strict=True):
        i, j = betas.index(r["beta"]), alphas.index(r["alpha"])
        grid["nn"][i, j], grid["limit"][i, j], grid["z"][i, j] = r["nn"], r["limit"], zz
    extent = (alphas[0], alphas[-1], betas[0], betas[-1])
    figure, axes = plt.subplots(1, 3, figsize=(13.5, 4), constrained_layout=True)
    lo, hi = np.log10(np.nanmin(grid["nn"])), np.log10(np.nanmax(grid["nn"]))
    for ax, key, title in ((axes[0], "nn", "network (20 trials per point)"),
                           (axes[1], "limit", f"sampling-free theory ({seconds:.0f} s for 900 points)")):
        im = ax.imshow(np.log10(grid[key]), origin="lower", extent=extent, aspect="auto", vmin=lo, vmax=hi)
        ax.set(title=title, xlabel=r"$\alpha$", ylabel=r"$\beta$")
        figure.colorbar(im, ax=ax, label=r"$\log_{10}$ generalisation error")
    im = axes[2].imshow(np.clip(grid["z"], -10, 10), origin="lower", extent=extent, aspect="auto", cmap="RdBu_r",
                        vmin=-10, vmax=10)
    axes[2].set(title="(theory − network) / s.e. (clipped at ±10)", xlabel=r"$\alpha$", ylabel=r"$\beta$")
    figure.colorbar(im, ax=axes[2])
    figure.suptitle("fig4a: ReLU, n = 400, k = m = 500, teacher along the spikes")
    figure.savefig(out_png, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
