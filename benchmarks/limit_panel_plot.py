"""One paper panel: the network's saved points (mean ± 2 s.e.) and the sampling-free mixture
theory's line from the rows of ``benchmarks/limit_mixture_checks.py``.

Usage: python benchmarks/limit_panel_plot.py ROWS.jsonl FIGURE OUT.png
(e.g. benchmarks/limit_results/fig2c_2026-12-04.jsonl fig2c docs/figures/fig2c_limit.png)
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a script: no display
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(rows_path: str, figure: str, out_png: str) -> None:
    fig = json.loads((ROOT / "docs" / "paper-full" / f"{figure}.json").read_text())
    vary = fig["vary"]
    rows = [json.loads(line) for line in Path(rows_path).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["figure"] == figure and r["limit"] is not None]
    _, ax = plt.subplots(figsize=(6, 4))
    for color, act in zip(("C0", "C1", "C2"), dict.fromkeys(r["activation"] for r in rows), strict=False):
        mine = sorted((r for r in rows if r["activation"] == act), key=lambda r: r["coords"][vary])
        x = np.array([r["coords"][vary] for r in mine])
        nn = np.array([r["nn"][:2] for r in mine])
        ax.errorbar(x, nn[:, 0], yerr=2 * nn[:, 1], fmt="o", color=color, ms=4, capsize=2,
                    label=f"{act}: network (mean ± 2 s.e.)")  # fmt: skip
        ax.plot(x, [r["limit"] for r in mine], "-", color=color, label=f"{act}: sampling-free theory")
    ax.set_xlabel(fig["xlabel"])
    ax.set_ylabel(fig["ylabel"])
    ax.set_title(f"{figure}: network against the sampling-free theory")
    ax.legend(fontsize=7)
    plt.tight_layout()
    plt.savefig(out_png, dpi=150)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
