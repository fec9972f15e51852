"""``onestep sweep SPEC.toml``: a user's own figure, declared in a TOML sweep spec.

The spec (reference: the docs page "Sweep specs") names the varied field(s) and grids, the
fixed fields, models, activations, trials and the kind of plot.  The outputs are those of a
paper figure, ``<out>/<name>.{png,pdf,json,csv,md}``, and every point is cached under
``<out>/.cache`` so an interrupted sweep resumes.  An invalid spec is reported as one line
(exit 2) before anything runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from onestep_gm.experiments.cli.args import add_run_arguments, print_saved


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="the sweep spec, a .toml file")
    add_run_arguments(parser, "the spec's quick grids and sizes")
    parser.add_argument("--check", action="store_true", help="validate the spec and exit")


def run(args: argparse.Namespace) -> int:
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.figures.protocol import RunOptions
    from onestep_gm.experiments.figures.runner import check_sweep, make_figures

    options = RunOptions(quick=args.quick, trials=args.trials, seed=args.seed, progress=not args.no_progress,
                         workers=args.workers, scheduler=args.scheduler)  # fmt: skip
    if args.check:
        spec, points = check_sweep(args.spec, options)
        print(f"{args.spec}: valid sweep {spec.name!r} ({spec.kind}, {points} points)")
        return 0
    make_figures(Path(args.spec), options, args.out, saved=print_saved)
    return 0
