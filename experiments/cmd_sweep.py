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

from onestep_gm.experiments.args import nonnegative_int, positive_int
from onestep_gm.experiments.cmd_figure import add_distributed_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="the sweep spec, a .toml file")
    parser.add_argument("--quick", action="store_true", help="the spec's quick grids and sizes")
    parser.add_argument("--trials", type=positive_int, default=None, help="trials per point")
    parser.add_argument("--seed", type=nonnegative_int, default=None, help="random seed")
    parser.add_argument("--out", default="out", help="output folder (default out/)")
    parser.add_argument("--check", action="store_true", help="validate the spec and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_distributed_arguments(parser)


def run(args: argparse.Namespace) -> int:
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.catalogue import Overrides
    from onestep_gm.experiments.distributed import check_options
    from onestep_gm.experiments.outputs import save_figure
    from onestep_gm.experiments.runner import run_figure
    from onestep_gm.experiments.sweepspec import check_points, load_sweep

    spec = load_sweep(args.spec)
    overrides = Overrides(trials=args.trials, seed=args.seed)
    check_points(spec, args.quick, overrides)
    check_options(args.workers, args.scheduler)
    points = len(spec.quick_grid if args.quick else spec.grid) * max(
        1, len(spec.quick_grid_y if args.quick else spec.grid_y)
    )
    if args.check:
        print(f"{args.spec}: valid sweep {spec.name!r} ({spec.kind}, {points} points)")
        return 0
    out = Path(args.out)
    run_ = run_figure(
        spec, quick=args.quick, overrides=overrides, cache_dir=out / ".cache",
        progress=not args.no_progress, workers=args.workers, scheduler=args.scheduler,
    )  # fmt: skip
    paths = save_figure(run_, out)
    stem = paths["json"].with_suffix("")
    print(f"{spec.name}: {stem}.{{png,pdf,json,csv,md}} ({run_.seconds:.1f} s)")
    return 0
