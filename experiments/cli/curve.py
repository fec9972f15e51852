"""``onestep curve``: theory curves of the ridge readout from exact population moments, or
(``--theory limit``) the sampling-free theory (:class:`onestep_gm.experiments.figures.curve.CurveFigure`)."""

from __future__ import annotations

import argparse

from onestep_gm.experiments.cli.args import (
    emit_json,
    nonnegative_float,
    positive_float,
    positive_int,
    seed,
    unit_interval,
)


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
    parser.add_argument("--theory", choices=["conditional", "limit"], default="conditional",
                        help="conditional: the deterministic equivalent given sampled trained layers "
                        "(default); limit: the sampling-free theory, one value per point (no trials); "
                        "with --isotropic its proportional limit, along m or lambda")
    parser.add_argument("--isotropic", action="store_true",
                        help="one component, no spikes, constant readout (Cui et al. 2024) instead of "
                        "the paper's mixture and Gaussian readout")
    parser.add_argument("--eta", type=positive_float, default=None, help="learning rate (default n^(βα))")
    parser.add_argument("--out", default=None, help="write curve.csv and curve.png into this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object and nothing else")


def run(args: argparse.Namespace) -> int:
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.figures.curve import CurveFigure, curve_targets

    figure = CurveFigure(vary=args.vary, activation=args.activation, beta=args.beta, alpha=args.alpha, n=args.n,
                         k=args.k, m=args.m, lam=args.lam, task=args.task, points=args.points,
                         trials=args.trials, seed=args.seed, theory=args.theory, eta=args.eta,
                         isotropic=args.isotropic)  # fmt: skip
    if args.out is not None:
        curve_targets(args.out)  # refused before the curve is computed
    run_ = figure.run()  # every refusal happens here, before anything is written or printed
    if args.out is not None:
        paths = run_.save(args.out)
    if args.json:
        emit_json(run_.data())
        return 0
    print(run_.report(), end="")
    if args.out is not None:
        print(f"wrote {paths['csv']} and {paths['png']}")
    return 0
