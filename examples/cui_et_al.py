"""Cui et al. (ICML 2024)'s simulation setting, run with this package's API.

    python examples/cui_et_al.py [--d 2000] [--seeds 3] [--out docs/assets/cui]

Their setting (``Simulations.ipynb`` of SPOC-group/OneStepGD_asymptotics) in our names:

=====================================  =====================================================
Cui et al.                             onestep-gm
=====================================  =====================================================
x ~ N(0, I_d), d = 2000                ``MixtureSpec(n=d, weights=(1.0,), spikes=0)``
y = tanh(x_1) (no noise)               ``teacher="tanh"`` (a random unit direction: same law)
student tanh, p = d neurons            ``activations=("tanh",)``, ``k=d``
W0 rows of unit norm                   ``first_layer="unit-rows"``
a0 = 1/sqrt(p)                         ``readout_init="constant"``
step eta_tilde * p, eta_tilde = 1      ``eta = eta_tilde * k``
n0 = 0.5 d samples for the step        ``m_step = d // 2``
n = alpha d samples for the readout    ``m = int(alpha * d)``
ridge, penalty lambda_c = 0.01         ``lam = lambda_c / m`` (ours is normalised by m)
test MSE (no 1/2) on 5000 points       ``2 * gen_error`` (ours: the exact expectation)
train MSE (no 1/2, no penalty)         ``train_mse``
=====================================  =====================================================

They draw W0 and take the step once for all seeds (seeds redraw the readout data); every trial
here redraws everything.  Writes ``cui_setting.csv`` (one row per alpha, model and seed),
``cui_setting.md`` (mean ± std over seeds, with their notebook's published simulation numbers)
and ``cui_setting.png`` under ``--out``; prints the table and the run time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import onestep_gm as og

ALPHAS = np.linspace(0.2, 3.0, 7)
LAMBDA_C = 0.01
MODELS = ("nn", "hermite", "limit")

# Their notebook's saved simulation outputs (d = p = 2000, 3 seeds), test and train MSE per alpha:
# public data, quoted for comparison (SPOC-group/OneStepGD_asymptotics, Simulations.ipynb).
PUBLISHED = {
    0.2: ((0.29908, 0.28985, 0.29418), (0.000482, 0.000493, 0.000429)),
    0.6667: ((0.32184, 0.31863, 0.31516), (0.003706, 0.003665, 0.003860)),
    1.1333: ((0.26713, 0.28852, 0.27541), (0.019119, 0.019402, 0.019605)),
    1.6: ((0.19540, 0.21768, 0.20401), (0.039379, 0.039815, 0.038733)),
    2.0667: ((0.16900, 0.17510, 0.17241), (0.051668, 0.053454, 0.051134)),
    2.5333: ((0.15162, 0.15670, 0.15631), (0.059998, 0.061184, 0.059640)),
    3.0: ((0.14266, 0.14222, 0.14854), (0.064550, 0.067940, 0.064561)),
}


def cui_config(alpha: float, d: int = 2000, seeds: int = 3, models=MODELS) -> og.SimulationConfig:
    """One point of Cui et al.'s setting: ``alpha = m / d`` (see the module's table)."""
    m = int(alpha * d)
    data = og.MixtureSpec(n=d, weights=(1.0,), spikes=0, teacher="tanh")
    return og.SimulationConfig(
        data=data, k=d, m=m, m_step=d // 2, eta=1.0 * d, lam=LAMBDA_C / m,
        activations=("tanh",), models=models, readout_init="constant", first_layer="unit-rows",
        trials=seeds, seed=0,
    )  # fmt: skip


def run(d: int = 2000, seeds: int = 3, alphas=ALPHAS, models=MODELS, progress: bool = False):
    """Every alpha's simulation as one tidy frame (column ``m_over_d`` = their alpha), with Cui
    et al.'s test and train MSE."""
    import pandas as pd

    frames = []
    for alpha in alphas:
        frame = og.simulate(cui_config(float(alpha), d, seeds, models), progress=progress).to_frame()
        frame.insert(0, "m_over_d", float(alpha))  # Cui et al.'s alpha (ours is the strength's weight)
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    frame["test_mse"] = 2 * frame["gen_error"]
    return frame


def table(frame) -> str:
    """Mean ± std over seeds per alpha and model (the limit is one value), and the published numbers."""
    lines = ["| α | model | test MSE | train MSE |", "|---|---|---|---|"]
    for alpha, by_alpha in frame.groupby("m_over_d"):
        for model in [m for m in MODELS if m in set(by_alpha.model)]:
            rows = by_alpha[by_alpha.model == model]
            test, train = rows.test_mse, rows.train_mse
            spread = len(rows) > 1
            lines.append(f"| {alpha:.3g} | {model} | {test.mean():.4f}" + (f" ± {test.std(ddof=0):.4f}" if spread else "")
                         + f" | {train.mean():.5f}" + (f" ± {train.std(ddof=0):.5f}" if spread else "") + " |")
        published = PUBLISHED.get(round(float(alpha), 4))
        if published is not None:
            test, train = np.asarray(published[0]), np.asarray(published[1])
            lines.append(f"| {alpha:.3g} | Cui et al. (their notebook) | {test.mean():.4f} ± {test.std():.4f} "
                         f"| {train.mean():.5f} ± {train.std():.5f} |")
    return "\n".join(lines)


def plot(frame, path: Path) -> None:
    """Test and train MSE against alpha: markers for the network, lines for the equivalents."""
    from matplotlib.figure import Figure  # no pyplot: the process's backend stays as it is

    fig = Figure(figsize=(11, 4.2), constrained_layout=True)
    axes = fig.subplots(1, 2)
    styles = {"nn": dict(marker="o", ls="none", color="k", label="network (mean ± s.e., 3 seeds)"),
              "hermite": dict(marker="s", ls="--", color="tab:orange", label="Hermite model"),
              "limit": dict(marker="", ls="-", color="tab:blue", label="sampling-free limit")}
    for ax, column, title in zip(axes, ("test_mse", "train_mse"), ("test MSE", "train MSE"), strict=True):
        for model, style in styles.items():
            rows = frame[frame.model == model].groupby("m_over_d")[column]
            if not len(rows):
                continue
            mean, se = rows.mean(), rows.std(ddof=1) / np.sqrt(rows.count())
            ax.errorbar(mean.index, mean.values, yerr=se.fillna(0).values, capsize=3, **style)
        alphas = sorted(PUBLISHED)
        values = [np.mean(PUBLISHED[a][0 if column == "test_mse" else 1]) for a in alphas]
        ax.plot(alphas, values, marker="x", ls="none", color="tab:red", label="Cui et al. notebook (3 seeds)")
        ax.set_xlabel(r"$\alpha = m/d$")
        ax.set_title(title)
    axes[0].legend(frameon=False, fontsize=9)
    fig.savefig(path, dpi=150)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--alphas", default=None, help="comma list of alpha = m/d (default linspace(0.2, 3, 7))")
    parser.add_argument("--out", default="docs/assets/cui")
    args = parser.parse_args(argv)
    alphas = ALPHAS if args.alphas is None else [float(a) for a in args.alphas.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    frame = run(args.d, args.seeds, alphas, progress=True)
    seconds = time.perf_counter() - start
    frame.to_csv(out / "cui_setting.csv", index=False)
    text = table(frame)
    (out / "cui_setting.md").write_text(text + "\n")
    plot(frame, out / "cui_setting.png")
    print(text)
    print(f"d = {args.d}, {args.seeds} seeds, {len(alphas)} values of alpha: {seconds:.0f} s")
    return frame


if __name__ == "__main__":
    main()
