"""`onestep order`: which Hermite order the theorem gives for a spike strength β."""

from __future__ import annotations

import argparse

from onestep_gm.experiments.cli.args import emit_json, positive_int, unit_interval
from onestep_gm.theory.order import bulk_scale, hermite_order, scalings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--beta", type=unit_interval, required=True, help="spike strength β in [0, 1]"
    )
    parser.add_argument("--alpha", type=unit_interval, help="weight α in [0, 1] (needs --n)")
    parser.add_argument("--n", type=positive_int, help="input dimension n (needs --alpha)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    if (args.alpha is None) != (args.n is None):
        raise ValueError("--alpha and --n go together: give both or neither")
    info = hermite_order(args.beta)
    result = info.to_json()
    if args.n is not None:
        s = scalings(args.n, args.beta, args.alpha)
        # Default model: d = 1 spike per component, equal traces, so tau = tr(Sigma_bar) = n + theta.
        result |= {"theta": s.theta, "eta": s.eta, "b": bulk_scale(args.n, args.n + s.theta)}
    if args.json:
        emit_json(result)
        return 0
    print(info.describe())
    if args.n is not None:
        print(
            f"n = {args.n}, α = {args.alpha:g}: θ = n^(β(1-α)) = {result['theta']:.6g},"
            f" η = n^(βα) = {result['eta']:.6g}, b = sqrt(n/(n+θ)) = {result['b']:.6g}"
        )
    return 0
