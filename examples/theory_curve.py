"""A learning curve from the theory alone, with simulated networks as markers.

The deterministic equivalent predicts the generalisation error along m (readout samples)
for one trained first layer; a few m are then simulated (network and Hermite model) and
drawn on top. Writes theory_curve.png.

    python examples/theory_curve.py --n 1000 --activation tanh --out out/

Small sizes: ``--n 120 --markers 2 --trials 1`` or ONESTEP_EXAMPLE_SMALL=1.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib
import numpy as np

import onestep_gm as og

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    small = os.environ.get("ONESTEP_EXAMPLE_SMALL") == "1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=120 if small else 1000, help="n = k = m of the step")
    parser.add_argument("--beta", type=float, default=0.74)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--lam", type=float, default=1e-4)
    parser.add_argument("--points", type=int, default=40, help="points on the theory curve")
    parser.add_argument("--markers", type=int, default=2 if small else 4, help="simulated m values")
    parser.add_argument("--trials", type=int, default=1 if small else 3)
    parser.add_argument("--out", default="out")
    args = parser.parse_args(argv)

    og.enable_x64()
    n = k = args.n
    act = og.get_activation(args.activation)
    data = og.MixtureSpec(n=n, beta=args.beta, alpha=args.alpha)
    step = og.SimulationConfig(data=data, k=k, m=n, lam=args.lam, activations=(act.name,))
    ms = np.unique(np.round(np.geomspace(0.25 * k, 4 * k, args.points)))
    theory = og.learning_curve(step, vary="m", values=ms, trials=1)
    curve = {"values": theory.values, **theory.mean}

    marker_ms = np.unique(np.round(np.geomspace(0.5 * k, 2 * k, args.markers))).astype(int)
    simulated = {}
    for m in marker_ms:
        # In the simulations the step and the readout both use m samples.
        config = og.SimulationConfig(data=data, k=k, m=int(m), lam=args.lam, trials=args.trials,
                                     activations=(act.name,), models=("nn", "hermite"))
        s = og.simulate(config).summary()["activations"][act.name]
        simulated[int(m)] = {model: s[model]["gen_error"]["mean"] for model in s}

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(curve["values"] / k, curve["gen_error"], "-", label="theory (one trained layer)")
    for model, style in (("nn", "o"), ("hermite", "s")):
        ax.plot(marker_ms / k, [simulated[m][model] for m in marker_ms], style, mfc="none", label=model)
    ax.set_xscale("log")
    ax.set_xlabel("m / k")
    ax.set_ylabel("generalisation error")
    ax.set_title(f"{act.name}, n = k = {n}, β = {args.beta}, α = {args.alpha}", fontsize=9)
    ax.legend(fontsize=8)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "theory_curve.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"theory at m = k: {float(np.interp(k, curve['values'], curve['gen_error'])):.5f}")
    for m, errors in simulated.items():
        print(f"simulated m = {m}: " + ", ".join(f"{k_}: {v:.5f}" for k_, v in errors.items()))
    print(f"wrote {out / 'theory_curve.png'}")
    return {"curve": curve, "simulated": simulated}


if __name__ == "__main__":
    main()
