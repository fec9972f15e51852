"""The order diagram from the sampling-free mixture theory: the relative gap between the network
and the Hermite model of order l = 2..8 over the order diagram's beta grid, at n = 1000, 8000 and
10^7 (the limit's stand-in), for alpha = 1/2 (the diagram's setting) and alpha = 0 (the strongest
spike); and the theory against the simulated diagram (docs/figures/theorem/order.json, n = 1000
and 2000, 4 trials per point: the network's and every order's mean test error).

Usage: python benchmarks/order_theory_band.py OUT.json OUT.png
"""

import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a script: no display
import matplotlib.pyplot as plt
import numpy as np
from onestep_gm.numerics.config import SimulationConfig
from onestep_gm.numerics.limit_mixture import sampling_free_point
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.theory.order import simulation_order

ROOT = Path(__file__).resolve().parents[1]
ORDERS = tuple(range(2, 9))
SIZES = (1000, 2000, 8000, 10**7)
SHOWN = (1000, 8000, 10**7)
ALPHAS = (0.5, 0.0)
ACTIVATIONS = ("relu", "tanh")


def theory(n: int, beta: float, alpha: float, act: str) -> dict:
    config = SimulationConfig(data=MixtureSpec(n=n, beta=beta, alpha=alpha), k=n, m=n)
    net = sampling_free_point(config, act).gen_error
    return {"nn": net, "hermite": [sampling_free_point(config, act, order=l).gen_error for l in ORDERS]}


def main(out_json: str, out_png: str) -> None:
    sim = json.loads((ROOT / "docs" / "figures" / "theorem" / "order.json").read_text())
    betas = sim["spec"]["betas"]
    rows, start = [], time.perf_counter()
    for alpha in ALPHAS:
        for act in ACTIVATIONS:
            for n in SIZES:
                for beta in betas:
                    rows.append({"alpha": alpha, "activation": act, "n": n, "beta": beta} | theory(n, beta, alpha, act))
            print(f"alpha {alpha} {act}: {time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start

    # the theory against the simulated diagram (alpha = 1/2, n = 1000 and 2000)
    checks = []
    for row in rows:
        key = f"{row['n']}|{row['beta']:g}"
        if row["alpha"] != sim["spec"]["alpha"] or key not in sim["results"]:
            continue
        a = sim["spec"]["activations"].index(row["activation"])
        point = sim["results"][key]
        series = [("nn", row["nn"], np.asarray(point["nn"][a]))]
        series += [(f"l={l}", row["hermite"][i], np.asarray(point["hermite"][a][i])) for i, l in enumerate(ORDERS)]
        for name, value, trials in series:
            mean, se = trials.mean(), trials.std(ddof=1) / np.sqrt(trials.size)
            checks.append({"n": row["n"], "beta": row["beta"], "activation": row["activation"], "model": name,
                           "theory": value, "simulation": mean, "se": se, "z": (value - mean) / se})
    z = np.array([c["z"] for c in checks])
    rel = np.array([c["theory"] / c["simulation"] - 1 for c in checks])
    summary = {"rows": len(rows), "seconds": seconds, "checks": len(checks),
               "within_2se": int(np.sum(np.abs(z) <= 2)), "median_rel": float(np.median(rel)),
               "max_abs_rel": float(np.max(np.abs(rel)))}  # fmt: skip
    Path(out_json).write_text(json.dumps({"summary": summary, "rows": rows, "checks": checks}, indent=1))
    print(json.dumps(summary))

    fig, axes = plt.subplots(len(ALPHAS) * len(ACTIVATIONS), len(SHOWN), figsize=(4.2 * len(SHOWN), 12),
                             sharex=True, sharey=True, squeeze=False)  # fmt: skip
    for r, (alpha, act) in enumerate((a, b) for a in ALPHAS for b in ACTIVATIONS):
        for c, n in enumerate(SHOWN):
            ax = axes[r, c]
            sel = [row for row in rows if row["alpha"] == alpha and row["activation"] == act and row["n"] == n]
            gap = np.array([[abs(h / row["nn"] - 1) for h in row["hermite"]] for row in sel]).T  # (L, B)
            image = ax.pcolormesh(betas, ORDERS, np.log10(np.maximum(gap, 1e-8)), vmin=-6, vmax=0,
                                  cmap="viridis", shading="nearest")  # fmt: skip
            stairs = [simulation_order(b) for b in betas]
            ax.step(betas, np.minimum(stairs, max(ORDERS) + 0.5), where="mid", color="white", lw=1.5)
            ax.set_ylim(1.5, max(ORDERS) + 0.5)
            ax.set_title(f"{act}, α = {alpha:g}, n = {n:g}", fontsize=10)
            if r == len(axes) - 1:
                ax.set_xlabel("β")
            if c == 0:
                ax.set_ylabel("Hermite order l")
            fig.colorbar(image, ax=ax, label="log₁₀ |E_Herm(l) / E_NN − 1|")
    fig.suptitle(f"Order diagram from the sampling-free theory (white: the theorem's l(β)); "
                 f"{len(rows) * (1 + len(ORDERS))} evaluations in {seconds:.0f} s", fontsize=11)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
