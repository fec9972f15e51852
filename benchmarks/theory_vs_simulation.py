"""Theory (deterministic equivalent) vs simulated networks at the regimes of the theory-curve issue.

Usage: ``python -m benchmarks.theory_vs_simulation [--n 1000] [--trials 10] [--out table.md]``.
Prints a Markdown table of mean generalisation errors (network and theory, same F̂ per trial)
and their relative gap, for relu, tanh and sigmoid.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig, simulate

ACTS = ("relu", "tanh", "sigmoid")


def regimes(n: int) -> list[tuple[str, SimulationConfig]]:
    base = SimulationConfig(data=MixtureSpec(n=n, beta=0.74, alpha=0.5), k=n, m=n,
                            activations=ACTS, models=("nn", "theory"))
    def with_data(**kw):
        return dataclasses.replace(base, data=dataclasses.replace(base.data, **kw))
    return [
        ("paper point β=0.74, α=½", base),
        ("β=0.3, α=½", with_data(beta=0.3)),
        ("β=0.6, α=½", with_data(beta=0.6)),
        ("β=0.9, α=½", with_data(beta=0.9)),
        ("β=0.9, α=0", with_data(beta=0.9, alpha=0.0)),
        ("β=0.9, α=1", with_data(beta=0.9, alpha=1.0)),
        ("k/m=0.5", dataclasses.replace(base, k=n // 2)),
        ("k/m=2", dataclasses.replace(base, k=2 * n)),
        ("classification ρ=½ (fig2b)", with_data(task="classification")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--json", default=None, help="also write raw results here")
    args = parser.parse_args()
    rows, raw = [], {}
    header = "| regime | " + " | ".join(f"{a}: NN / theory / gap" for a in ACTS) + " |"
    for name, cfg in regimes(args.n):
        res = simulate(dataclasses.replace(cfg, trials=args.trials))
        cells = []
        for a in ACTS:
            nn, th = res.gen[(a, "nn")], res.gen[(a, "theory")]
            se = np.std(nn, ddof=1) / np.sqrt(len(nn))
            gap = (np.mean(th) - np.mean(nn)) / np.mean(nn)
            cells.append(f"{np.mean(nn):.5f}±{se:.5f} / {np.mean(th):.5f} / {100 * gap:+.1f}%")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
        raw[name] = res.summary()
        print(rows[-1], flush=True)
    print()
    print(header)
    print("|---" * (len(ACTS) + 1) + "|")
    print("\n".join(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(raw, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
