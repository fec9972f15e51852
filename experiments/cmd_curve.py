"""``onestep curve``: theory curves of the ridge readout from exact population moments.

One trained first layer :math:`\\hat F` per trial (the network that ``onestep simulate`` trains with the same seed), then the
deterministic equivalent of ridge along ``--vary`` (no readout is simulated); the
eigendecomposition of :math:`\\Omega` is shared by every point of an ``m`` or ``lambda`` curve.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from onestep_gm.experiments.args import (
    emit_json,
    nonnegative_float,
    positive_int,
    seed,
    unit_interval,
)
from onestep_gm.experiments.results import check_targets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vary", choices=["m", "k", "lambda"], required=True,
                        help="m: readout samples (m/k in [0.2, 10]); k: first k rows of F_hat "
                             "(k/m in [0.1, 2]); lambda: in [1e-6, 10]; log-spaced")
    parser.add_argument("--activation", default="relu", help="registry name or expression in x")
    parser.add_argument("--beta", type=unit_interval, default=0.74, help="strength β (default 0.74)")
    parser.add_argument("--alpha", type=unit_interval, default=0.5, help="weight α (default 0.5)")
    parser.add_argument("--n", type=positive_int, default=1000, help="input dimension (default 1000)")
    parser.add_argument("--k", type=positive_int, default=1000,
                        help="hidden neurons (default 1000; with --vary k the largest is 2m)")
    parser.add_argument("--m", type=positive_int, default=1000,
                        help="samples of the gradient step and of the readout (default 1000)")
    parser.add_argument("--lambda", dest="lam", type=nonnegative_float, default=1e-4,
                        help="ridge penalty (default 1e-4)")
    parser.add_argument("--task", choices=["regression", "classification"], default="regression")
    parser.add_argument("--points", type=positive_int, default=100, help="points on the curve (default 100)")
    parser.add_argument("--trials", type=positive_int, default=3, help="trained layers F_hat (default 3)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed in 0 .. 2**32-1 (default 0)")
    parser.add_argument("--out", default=None, help="write curve.csv and curve.png into this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object and nothing else")


def compute(args: argparse.Namespace) -> dict:
    """The curve of ``args`` as the JSON object of ``onestep curve --json``."""
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.numerics.learning import learning_curve

    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.numerics.mixture import MixtureSpec
    from onestep_gm.numerics.simulation import SimulationConfig
    from onestep_gm.theory.activations import get_activation

    act = get_activation(args.activation)
    spec = MixtureSpec(n=args.n, beta=args.beta, alpha=args.alpha, task=args.task,
                       mean_norm=1.0 if args.task == "classification" else 0.0)
    config = SimulationConfig(data=spec, k=args.k, m=args.m, lam=args.lam, activations=(act.name,),
                              models=("nn",), seed=args.seed)
    curve = learning_curve(config, vary=args.vary, points=args.points, trials=args.trials)
    return {
        "vary": curve.vary,
        "values": curve.values.tolist(),
        "mean": {key: v.tolist() for key, v in curve.mean.items()},
        "std": {key: v.tolist() for key, v in curve.std.items()},
        "parameters": {
            "activation": act.name, "beta": args.beta, "alpha": args.alpha, "n": args.n,
            "k": args.k, "m": args.m, "lambda": args.lam, "eta": _eta(args), "task": args.task,
            "trials": args.trials, "seed": args.seed, "points": len(curve.values),
        },
        "convention": curve.convention,
        "notes": _notes(curve, args.lam),
        "seconds": curve.seconds,
    }


def _notes(curve, lam: float) -> list[str]:
    r"""Why a value is missing (``null`` in JSON); raises for a non-finite value with no reason.

    With λ = 0 the deterministic equivalent diverges where the readout samples equal the rank of
    :math:`\Omega` (the interpolation threshold): the generalisation error is infinite there
    (``null``) and the train error is 0, its limit.  Any other non-finite value is an error.
    """
    gen, train = curve.mean["gen_error"], curve.mean["train_error"]
    bad = ~np.isfinite(gen) | ~np.isfinite(train)
    if not bad.any():
        return []
    where = ", ".join(f"{curve.vary} = {v:g}" for v in curve.values[bad])
    at_threshold = lam == 0 and np.all(np.isfinite(train[bad])) and np.all(np.isposinf(gen[bad]))
    if not at_threshold:
        raise ValueError(
            f"the theory curve is not finite at {where} (lambda = {lam:g}); "
            "no finite deterministic equivalent there"
        )
    return [
        f"gen_error is infinite (null) at {where}: with lambda = 0 that is the interpolation "
        "threshold, where the readout samples equal the rank of the feature covariance and "
        "ridgeless regression's test error diverges; train_error there is 0, its limit"
    ]


def _eta(args: argparse.Namespace) -> float:
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.theory.order import scalings

    return scalings(args.n, args.beta, args.alpha).eta


def _write(result: dict, out: Path) -> None:
    import matplotlib  # matplotlib only when drawing

    matplotlib.use("Agg")

    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast

    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.results import staged

    columns = ["gen_error", "train_error", "kappa", "df1", "sigma_eps2"]
    with staged(_targets(out)) as tmp:
        _draw(result, columns, tmp)


def _draw(result: dict, columns: list[str], tmp: dict) -> None:
    import matplotlib.pyplot as plt  # matplotlib only when drawing

    with open(tmp["csv"], "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([result["vary"]] + [f"{c}_{s}" for c in columns for s in ("mean", "std")])
        for i, x in enumerate(result["values"]):
            writer.writerow([x] + [result[s][c][i] for c in columns for s in ("mean", "std")])
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    xs = np.asarray(result["values"])
    p = result["parameters"]
    if result["vary"] != "lambda":
        xs = xs / (p["k"] if result["vary"] == "m" else p["m"])
    for name, style in (("gen_error", "-"), ("train_error", "--")):
        mean, std = np.asarray(result["mean"][name]), np.asarray(result["std"][name])
        shown = np.isfinite(mean) & np.isfinite(std) & (mean > 0)  # log axes: no 0, no inf
        ax.plot(xs[shown], mean[shown], style, label=name.replace("_", " "))
        ax.fill_between(xs[shown], (mean - std)[shown], (mean + std)[shown], alpha=0.25)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel({"m": "m / k", "k": "k / m", "lambda": "λ"}[result["vary"]])
    ax.set_ylabel("error (½ MSE convention)")
    ax.set_title(f"{p['activation']}, β={p['beta']}, α={p['alpha']}, n={p['n']} (theory)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(tmp["png"], dpi=150, format="png")
    plt.close(fig)


def _targets(out: Path) -> dict[str, Path]:
    return {"csv": out / "curve.csv", "png": out / "curve.png"}


def run(args: argparse.Namespace) -> int:
    if args.vary == "k" and 2 * args.m > 20000:
        raise ValueError("--vary k uses up to 2m neurons; m must be at most 10000")
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a folder")
        check_targets(_targets(out))
    result = compute(args)  # every refusal happens here, before anything is written or printed
    if out is not None:
        _write(result, out)
    if args.json:
        emit_json(result)
        return 0
    p = result["parameters"]
    print(f"theory curve along {result['vary']}: {p['activation']} beta={p['beta']} alpha={p['alpha']} "
          f"n={p['n']} k={p['k']} m={p['m']} lambda={p['lambda']} trials={p['trials']} "
          f"({result['seconds']:.1f} s)")
    print(f"{result['vary']:>12}{'gen_error':>14}{'train_error':>14}{'kappa':>12}")
    for i, x in enumerate(result["values"]):
        g, t, kap = (result["mean"][c][i] for c in ("gen_error", "train_error", "kappa"))
        print(f"{x:>12.4g}{g:>14.6g}{t:>14.6g}{kap:>12.4g}")
    print(f"convention: {result['convention']}")
    for note in result["notes"]:
        print(f"note: {note}")
    if out is not None:
        print(f"wrote {out / 'curve.csv'} and {out / 'curve.png'}")
    return 0
