"""``onestep figure NAME|all``: simulate, draw and report a figure of the paper.

Writes ``<out>/<name>.{png,pdf,json,csv,md}`` once the whole figure has run; every point is
cached under ``<out>/.cache`` so an interrupted run resumes where it stopped.  ``all`` goes on
past a figure that fails (its files are not written) and names the failures at the end (exit 2).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from pathlib import Path

from onestep_gm.experiments.args import comma_list, positive_int, seed, size_list

THEOREM_FIGURES = ("order", "convergence")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="figure name (fig1a … fig8b, order, convergence), all, or a sweep spec SPEC.toml")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="few grid points, n≈300, 3–5 trials: about a minute per figure",
    )
    parser.add_argument("--trials", type=positive_int, default=None, help="trials per point")
    parser.add_argument("--out", default="out", help="output folder (default out/)")
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
        help="comma list from nn,hermite,conditional,theory (default nn,hermite)",
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
        "--seed", type=seed, default=None, help="random seed in 0 .. 2**32-1 (default 0)"
    )
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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_distributed_arguments(parser)


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` / ``--scheduler ADDRESS``: the points as Dask tasks (``figure``, ``sweep``)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers", type=positive_int, default=None,
        help="run the points on a local Dask cluster of N worker processes (extra [distributed])",
    )  # fmt: skip
    group.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="run the points on the Dask cluster at ADDRESS, e.g. tcp://host:8786",
    )  # fmt: skip


def overrides_from_args(args: argparse.Namespace):
    """Validated :class:`~onestep_gm.experiments.catalogue.Overrides` (``ValueError`` on bad input)."""
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.catalogue import Overrides
    from onestep_gm.numerics.simulation import MODELS
    from onestep_gm.theory.activations import get_activation

    activations = None
    if args.activation is not None:
        activations = tuple(args.activation)
        for spec in activations:
            get_activation(spec)
    models = None
    if args.models is not None:
        models = tuple(dict.fromkeys(args.models))
        unknown = [m for m in models if m not in MODELS]
        if unknown:
            raise ValueError(
                f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}"
            )
        if "nn" not in models:
            raise ValueError("--models must include nn: every figure compares against the network")
    if args.components is not None and args.components > 1000:  # before C weights are built
        raise ValueError(
            f"--components {args.components} is too many: each component needs its own spike "
            "direction, and the figures use n <= 1000"
        )
    return Overrides(
        activations=activations, models=models, components=args.components, order=args.order,
        trials=args.trials, seed=args.seed, data_dir=args.data_dir, test=args.test,
        protocol=getattr(args, "protocol", None),
    )  # fmt: skip


def _check_data(spec, overrides) -> None:
    """Load Fashion-MNIST before any progress bar starts, so a missing or corrupt file is
    reported as one line (the loaded pools are cached for the run)."""
    if spec.is_fashion:
        # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
        from onestep_gm.numerics.simulation import fashion_pools

        data = spec.base.data
        if overrides.data_dir is not None:
            data = dataclasses.replace(data, data_dir=overrides.data_dir)
        fashion_pools(data)


def _run_theorem(args: argparse.Namespace) -> int:
    """``order`` / ``convergence``: the theorem's own figures (always exact test errors)."""
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.distributed import check_options
    from onestep_gm.experiments.theorem import run_theorem_figure, write_theorem_outputs

    check_options(args.workers, args.scheduler)
    out = Path(args.out)
    reuse = None
    if args.reuse is not None:
        try:
            reuse = json.loads(Path(args.reuse).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--reuse {args.reuse}: cannot read a saved figure ({exc})") from None
        if not isinstance(reuse, dict):
            raise ValueError(f"--reuse {args.reuse}: not a saved order or convergence figure")
    data = run_theorem_figure(args.name, quick=args.quick, trials=args.trials, seed=args.seed,
                              n_values=args.sizes, cache_dir=out / ".cache",
                              progress=not args.no_progress, reuse=reuse, workers=args.workers,
                              scheduler=args.scheduler)  # fmt: skip
    paths = write_theorem_outputs(data, out)
    print(f"{args.name}: {paths['json'].with_suffix('')}.{{png,pdf,json,md}} ({data['seconds']:.1f} s)")
    return 0


def _run_spec(args: argparse.Namespace) -> int:
    """``onestep figure SPEC.toml``: the user's sweep spec, as ``onestep sweep SPEC.toml`` runs it."""
    from onestep_gm.experiments import cmd_sweep  # the sweep command loads only for a spec

    options = [name for name in ("activation", "models", "components", "order", "data_dir", "test",
                                 "protocol") if getattr(args, name) is not None]  # fmt: skip
    if options:
        flags = ", ".join("--" + name.replace("_", "-") for name in options)
        raise ValueError(f"{flags}: a sweep spec declares these itself; edit {args.name}")
    return cmd_sweep.run(argparse.Namespace(spec=args.name, quick=args.quick, trials=args.trials,
                                            seed=args.seed, out=args.out, check=False,
                                            no_progress=args.no_progress, workers=args.workers,
                                            scheduler=args.scheduler))  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from onestep_gm.experiments.catalogue import (  # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
        FIGURES,
        SWAP_NOTE,
        get_figure,
    )
    from onestep_gm.experiments.distributed import check_options
    from onestep_gm.experiments.results import check_targets

    if args.name in THEOREM_FIGURES:
        return _run_theorem(args)
    if args.reuse is not None:
        raise ValueError(f"--reuse applies to {' and '.join(THEOREM_FIGURES)} only, not {args.name}")
    if args.sizes is not None:
        raise ValueError(f"--sizes applies to {' and '.join(THEOREM_FIGURES)} only, not {args.name}")
    if args.name.endswith(".toml"):
        return _run_spec(args)

    names = list(FIGURES) if args.name == "all" else [get_figure(args.name).name]
    if args.name in ("fig2a", "fig2b"):
        print(f"note: {SWAP_NOTE}", file=sys.stderr)
    overrides = overrides_from_args(args)
    for name in names:
        spec = FIGURES[name]
        if spec.kind == "heatmap" and overrides.models and "hermite" not in overrides.models:
            raise ValueError(f"{name} needs the hermite model (it compares NN with it)")
    out = Path(args.out)
    for name in names:  # refuse unwritable outputs before a minute of simulation
        check_targets({ext: out / f"{name}.{ext}" for ext in ("json", "csv", "md", "png", "pdf")})
    check_targets({"cache": out / ".cache" / "point.json"})
    check_options(args.workers, args.scheduler)
    with contextlib.ExitStack() as stack:
        if args.workers is not None and len(names) > 1:  # one cluster for every figure
            from onestep_gm.experiments.distributed import local_cluster  # Dask: --workers only

            args.scheduler, args.workers = stack.enter_context(local_cluster(args.workers)), None
        return _run_figures(args, names, overrides, out)


def _run_figures(args: argparse.Namespace, names: list[str], overrides, out: Path) -> int:
    from onestep_gm.experiments.catalogue import FIGURES  # SymPy: the command runs
    from onestep_gm.experiments.outputs import save_figure
    from onestep_gm.experiments.runner import run_figure
    from onestep_gm.numerics.compile_cache import release_compiled_programs

    failed: list[str] = []
    for name in names:
        try:
            _check_data(FIGURES[name], overrides)
            run_ = run_figure(
                FIGURES[name], quick=args.quick, overrides=overrides, cache_dir=out / ".cache",
                progress=not args.no_progress, workers=args.workers, scheduler=args.scheduler,
            )  # fmt: skip
        except ValueError as exc:
            if len(names) == 1:
                raise
            failed.append(f"{name} ({' '.join(str(exc).split())})")
            continue
        paths = save_figure(run_, out)
        stem = paths["json"].with_suffix("")
        print(f"{name}: {stem}.{{png,pdf,json,csv,md}} ({run_.seconds:.1f} s)")
        sys.stdout.flush()
        if len(names) > 1:
            release_compiled_programs()  # the next figure's shapes differ; keep the process's memory maps bounded
    if failed:
        raise ValueError(f"{len(failed)} of {len(names)} figures failed: {'; '.join(failed)}")
    return 0
