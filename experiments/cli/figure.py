"""``onestep figure NAME|all|SPEC.toml``: run, draw and report a figure
(:func:`onestep_gm.experiments.figures.runner.make_figures`).

Writes ``<out>/<name>.{png,pdf,json,csv,md}`` once the whole figure has run; every point is
cached under ``<out>/.cache`` so an interrupted run resumes where it stopped.  ``all`` goes on
past a figure that fails (its files are not written) and names the failures at the end (exit 2).
"""

from __future__ import annotations

import argparse
import sys

from onestep_gm.experiments.cli.args import (
    add_run_arguments,
    comma_list,
    positive_int,
    print_saved,
    size_list,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="figure name (fig1a … fig8b, order, convergence), all, or a sweep spec SPEC.toml")
    add_run_arguments(parser, "few grid points, n≈300, 3–5 trials: about a minute per figure")
    parser.add_argument(
        "--activation",
        type=comma_list,
        default=None,
        help="comma list of registry names or expressions in x (default: the figure's)",
    )
    parser.add_argument(
        "--models",
        "--model",
        dest="models",
        type=comma_list,
        default=None,
        help="comma list from nn,hermite,conditional,theory,limit (default: the figure's); without nn, "
        "only theory and/or limit: a theory-only figure",
    )
    parser.add_argument(
        "--components",
        type=positive_int,
        default=None,
        help="mixture components C with weights 1/C (Gaussian-mixture figures)",
    )
    parser.add_argument(
        "--order", type=positive_int, default=None, help="fix the Hermite order l at every point"
    )
    parser.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST files")
    parser.add_argument(
        "--test", choices=["exact", "sampled"], default=None,
        help="test error from exact population moments or fresh samples "
        "(default: exact for Gaussian mixtures, sampled for Fashion-MNIST)",
    )  # fmt: skip
    parser.add_argument(
        "--protocol",
        choices=["fresh", "paper"],
        default=None,
        help="fresh: every trial draws its own data (default); paper: one mixture and one "
        "dataset set per figure, trials redraw only F and w, m/2 samples per component",
    )
    parser.add_argument(
        "--sizes", type=size_list, default=None,
        help="order and convergence only: comma list of n = k = m (default: the figure's)",
    )  # fmt: skip
    parser.add_argument(
        "--reuse", default=None, metavar="JSON",
        help="order and convergence only: take the points of a saved order.json or "
        "convergence.json run with the same settings instead of simulating them",
    )  # fmt: skip


def options_from_args(args: argparse.Namespace):
    """The run's :class:`~onestep_gm.experiments.figures.protocol.RunOptions` (the library
    validates them: ``ValueError`` on bad input)."""
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.figures.catalogue import Overrides
    from onestep_gm.experiments.figures.protocol import RunOptions

    overrides = Overrides(
        activations=None if args.activation is None else tuple(args.activation), models=args.models,
        components=args.components, order=args.order, data_dir=args.data_dir, test=args.test,
        protocol=args.protocol,
    )  # fmt: skip
    return RunOptions(quick=args.quick, trials=args.trials, seed=args.seed, overrides=overrides,
                      sizes=args.sizes, reuse=args.reuse, progress=not args.no_progress,
                      workers=args.workers, scheduler=args.scheduler)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.figures.catalogue import SWAP_NOTE
    from onestep_gm.experiments.figures.runner import make_figures

    if args.name in ("fig2a", "fig2b"):
        print(f"note: {SWAP_NOTE}", file=sys.stderr)
    make_figures(args.name, options_from_args(args), args.out, saved=print_saved)
    return 0
