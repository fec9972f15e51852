"""``onestep draws NAME[,NAME…]|all --out DIR``: more theory draws for saved figures
(:func:`onestep_gm.experiments.figures.draws.add_theory_draws`).

At every point where a figure's theory line has a larger standard error than its markers, adds
draws of the theory (trials with the network's own seeds) until it is below, then draws and
reports the changed figures again.  The draws are saved a few at a time, so a stopped run
(``--budget`` or Ctrl-C) keeps what it finished and the next run goes on from there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from onestep_gm.experiments.cli.args import comma_list, positive_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", type=comma_list, help="comma list of saved figures (fig1a …), or all")
    parser.add_argument("--out", default="out", help="folder written by `onestep figure` (default out/)")
    parser.add_argument(
        "--budget", type=positive_float, default=None, metavar="SECONDS",
        help="start no new draws after this many seconds (what finished is saved)",
    )  # fmt: skip
    parser.add_argument("--max-draws", type=positive_int, default=None, help="cap on a point's theory draws (default 120)")
    parser.add_argument(
        "--safety", type=positive_float, default=None,
        help="draws asked for, as a multiple of the count where the two s.e. are equal (default 1.5)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    # JAX loads when the command runs: `onestep --help` stays fast
    from onestep_gm.experiments.figures import draws
    from onestep_gm.experiments.figures.outputs import redraw

    names = args.names
    if names == ["all"]:
        names = draws.saved_grid_figures(args.out)
    options = {k: v for k, v in (("max_draws", args.max_draws), ("safety", args.safety)) if v is not None}

    def report(chunk: draws.DrawsDone) -> None:
        print(f"{','.join(chunk.figures)} point {chunk.point}: {chunk.have} -> {chunk.now} of "
              f"{chunk.target} draws ({chunk.seconds:.1f} s)", flush=True)  # fmt: skip

    done = draws.add_theory_draws(args.out, names, budget_s=args.budget, on_chunk=report, **options)
    changed = sorted({fig for chunk in done for fig in chunk.figures})
    for fig in changed:
        redraw(Path(args.out) / f"{fig}.json")
    left = draws.points_above(args.out, names)
    print(f"{sum(c.now - c.have for c in done)} draws added; redrew {', '.join(changed) or 'nothing'}; "
          f"{left} point(s) where the theory line's s.e. is still above the markers'")  # fmt: skip
    return 0
