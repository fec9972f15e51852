"""``onestep report``: gather every figure's agreement report into the docs page."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="out", help="folder written by `onestep figure` (default out/)"
    )
    parser.add_argument(
        "--docs",
        default="docs/results.md",
        help="page to write (default docs/results.md; pictures go to its figures/)",
    )
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="first draw every figure and its report again from the saved <name>.json files "
        "of --out (the current figure style; nothing is simulated)",
    )


def run(args: argparse.Namespace) -> int:
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.figures.catalogue import FIGURES
    from onestep_gm.experiments.figures.results_page import gather

    if args.redraw:
        from onestep_gm.experiments.figures.outputs import redraw_folder  # matplotlib loads with it

        done = redraw_folder(args.out)
        print(f"redrew {len(done)} figures in {args.out} from their saved data")
    page = gather(args.out, args.docs, order=list(FIGURES))
    print(f"wrote {page} (pictures in {page.parent / 'figures'})")
    return 0
