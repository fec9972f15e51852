"""Running figures by name: every kind behind :func:`run_figure`, and ``onestep figure``'s loop.

:func:`get_figure` turns a paper figure's name (``fig1a`` … ``fig8b``), ``order``,
``convergence``, a :class:`~onestep_gm.experiments.figures.catalogue.FigureSpec` or the path
of a TOML sweep spec into a :class:`~onestep_gm.experiments.figures.protocol.Figure`;
:func:`run_figure` runs it, leaving the process's JAX settings as it found them;
:func:`make_figures` runs and saves one figure or ``all`` of the paper's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from onestep_gm.experiments.distributed import check_options, restored_environ
from onestep_gm.experiments.figures import catalogue
from onestep_gm.experiments.figures.catalogue import FIGURES, FigureSpec, Overrides
from onestep_gm.experiments.figures.convergence import ConvergenceFigure, convergence_run
from onestep_gm.experiments.figures.grid import GridFigure, check_points, point_grid
from onestep_gm.experiments.figures.order import OrderFigure, order_run
from onestep_gm.experiments.figures.outputs import targets
from onestep_gm.experiments.figures.protocol import Figure, FigureResult, RunOptions
from onestep_gm.experiments.figures.sweepspec import load_sweep
from onestep_gm.numerics.files import check_targets
from onestep_gm.numerics.validation import MAX_TRIALS, FieldTypeError, check_bool, check_int

THEOREM_FIGURES: dict[str, Figure] = {"order": OrderFigure(), "convergence": ConvergenceFigure()}
"""The figures beyond the paper that check the theorem itself."""
NAMES = (*FIGURES, *THEOREM_FIGURES)
"""Every figure :func:`run_figure` knows by name (besides TOML paths and aliases)."""


def get_figure(figure: str | Path | FigureSpec | Figure) -> Figure:
    """The :class:`Figure` of a name, an alias, a ``.toml`` sweep spec, a spec, or a figure.

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones) or an invalid sweep spec.
    OSError
        When a sweep spec cannot be read.
    """
    if isinstance(figure, FigureSpec):
        return GridFigure(figure)
    if isinstance(figure, Path) or (isinstance(figure, str) and figure.endswith(".toml")):
        return GridFigure(load_sweep(figure), source=str(figure))
    if isinstance(figure, str):
        if figure in THEOREM_FIGURES:
            return THEOREM_FIGURES[figure]
        if figure not in FIGURES and figure not in catalogue.ALIASES:
            raise ValueError(f"unknown figure {figure!r}; choose from {', '.join(NAMES)}, all, or a sweep spec SPEC.toml")
        return GridFigure(catalogue.get_figure(figure))
    if not isinstance(figure, str | Path) and all(callable(getattr(figure, a, None)) for a in ("check", "run")):
        return figure
    raise FieldTypeError("figure", f"figure must be a name, a .toml path, a FigureSpec or a figure object "
                         f"(got {figure!r})")  # fmt: skip


@contextlib.contextmanager
def as_found() -> Iterator[None]:
    """Run the block in 64-bit JAX and give the process its JAX settings and its environment
    back afterwards.

    The engine switches 64-bit floats and the persistent compilation cache on for the process,
    and threadpoolctl (BLAS thread pinning) sets ``KMP_DUPLICATE_LIB_OK`` when first imported; a
    library call must not change either (a caller's other code would change under it).  The
    results are NumPy float64 arrays, so they keep their precision once the setting is restored.
    """
    import jax  # JAX: only when a figure runs

    names = ("jax_enable_x64", "jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes", "jax_compilation_cache_max_size")  # fmt: skip
    saved = {name: getattr(jax.config, name) for name in names}
    try:
        with restored_environ(), jax.enable_x64(True):
            yield
    finally:
        for name, value in saved.items():
            if getattr(jax.config, name) != value:
                jax.config.update(name, value)


def run_figure(
    figure: str | Path | FigureSpec | Figure, *, quick: bool = False, trials: int | None = None,
    seed: int | None = None, overrides: Overrides | None = None, sizes: tuple[int, ...] | None = None,
    reuse: str | Path | Mapping | None = None, cache_dir: str | Path | None = None, progress: bool = False,
    workers: int | None = None, scheduler: str | None = None, simulate_fn: Callable[..., Any] | None = None,
) -> FigureResult:  # fmt: skip
    """Run any figure: a paper figure, ``order``, ``convergence``, a TOML sweep or a spec.

    Parameters
    ----------
    figure : str, Path, FigureSpec or Figure
        ``"fig1a"`` … ``"fig8b"`` (or an alias), ``"order"``, ``"convergence"``, the path of a
        ``.toml`` sweep spec, a :class:`FigureSpec`, or any object with the figure protocol
        (e.g. :class:`~onestep_gm.experiments.figures.curve.CurveFigure`).
    quick : bool
        The figure's quick sizes: a few grid points, small n, few trials.
    trials : int, optional
        Trials per point (default: the figure's).
    seed : int, optional
        The random seed (default: the figure's).
    overrides : Overrides, optional
        Paper figures: options that change every point (activations, models, components, ...).
    sizes : tuple of int, optional
        ``order`` and ``convergence``: the sizes n = k = m.
    reuse : str, Path or mapping, optional
        ``order`` and ``convergence``: a saved run (its JSON file or data) whose points are
        taken instead of simulated when run with the same settings.
    cache_dir : str or Path, optional
        One JSON file per point; re-runs resume.  ``None`` for no cache.
    progress : bool
        A progress bar on stderr, counting completed points.
    workers : int, optional
        Run the points on a local Dask cluster of this many processes (extra ``distributed``).
    scheduler : str, optional
        Run the points on the Dask cluster at this address instead.
    simulate_fn : callable, optional
        Grid figures: ``simulate_fn(config, progress=..., cache_dir=...)`` instead of the
        per-point cache (tests inject a fake).

    Returns
    -------
    FigureResult
        ``data()``, ``to_frame()``, ``draw()``, ``report()``, ``save(out_dir)``
        (:mod:`onestep_gm.experiments.figures.protocol`).

    Raises
    ------
    ValueError
        For an unknown figure, an option the figure does not take, an unusable point, or
        distributed options that cannot be used.

    Notes
    -----
    JAX's 64-bit setting and compilation-cache settings are what they were before the call;
    the persistent compilation cache is used only if the caller switched it on
    (:func:`onestep_gm.enable_compile_cache`).
    """
    check_run_options(quick=quick, trials=trials, seed=seed, sizes=sizes, workers=workers, scheduler=scheduler)
    options = RunOptions(quick=quick, trials=trials, seed=seed, overrides=overrides, sizes=sizes, reuse=reuse,
                         cache_dir=cache_dir, progress=progress, workers=workers, scheduler=scheduler,
                         simulate_fn=simulate_fn)  # fmt: skip
    resolved = get_figure(figure)
    resolved.check(options)  # refuse what the figure does not take before anything runs
    with as_found():
        return resolved.run(options)


def check_run_options(*, quick, trials, seed, sizes, workers, scheduler) -> None:
    """Types and ranges of :func:`run_figure`'s options (exceptions name the option)."""
    check_bool("quick", quick)
    if trials is not None:
        check_int("trials", trials, 1, MAX_TRIALS)
    if seed is not None:
        check_int("seed", seed, 0, 2**32 - 1)
    if sizes is not None:
        if not isinstance(sizes, tuple | list) or not sizes:
            raise FieldTypeError("sizes", f"sizes must be a non-empty tuple of integers (got {sizes!r})")
        for n in sizes:
            check_int("sizes", n, 1)
    check_options(workers, scheduler)


def check_sweep(path: str | Path, options: RunOptions) -> tuple[FigureSpec, int]:
    """Validate a TOML sweep spec and every one of its points (``onestep sweep --check``):
    its spec and number of points.

    Raises
    ------
    ValueError
        Naming the file and the key, or the first unusable point.
    """
    figure = GridFigure(load_sweep(path), source=str(path))
    check_points(figure.spec, options.quick, figure.overrides(options))
    check_options(options.workers, options.scheduler)
    return figure.spec, len(point_grid(figure.spec, options.quick))


def redraw(json_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Redraw a saved ``order.json`` or ``convergence.json`` without simulating."""
    data = json.loads(Path(json_path).read_text())
    run = order_run(data) if data.get("name") == "order" else convergence_run(data)
    return run.save(out_dir)


def make_figures(name: str | Path, options: RunOptions, out_dir: str | Path,
                 saved: Callable[[FigureResult, dict[str, Path]], None] = lambda run, paths: None) -> list[Path]:  # fmt: skip
    """Run and save one figure, or ``all`` of the paper's (``onestep figure NAME``).

    Outputs that cannot be written are refused before anything runs.  With ``all``, a figure
    that fails is skipped (its files are not written), the others go on, and the failures are
    named at the end; ``workers`` then start one cluster for every figure.  ``saved(run, paths)``
    is called as each figure is written.

    Raises
    ------
    ValueError
        For bad input, or naming the figures that failed.
    """
    figures = [get_figure(n) for n in FIGURES] if name == "all" else [get_figure(name)]
    for figure in figures:  # refuse bad options and unwritable outputs before a minute of simulation
        figure.check(options)
        check_targets(targets(figure.name, out_dir))
    check_targets({"cache": Path(out_dir) / ".cache" / "point.json"})
    check_options(options.workers, options.scheduler)
    options = dataclasses.replace(options, cache_dir=Path(out_dir) / ".cache")
    with contextlib.ExitStack() as stack:
        if options.workers is not None and len(figures) > 1:  # one cluster for every figure
            from onestep_gm.experiments.distributed import local_cluster  # Dask: --workers only

            address = stack.enter_context(local_cluster(options.workers))
            options = dataclasses.replace(options, workers=None, scheduler=address)
        return _run_each(figures, options, out_dir, saved)


def _run_each(figures: list[Figure], options: RunOptions, out_dir: str | Path, saved) -> list[Path]:
    from onestep_gm.numerics.compile_cache import release_compiled_programs  # JAX: figures run

    failed, written = [], []
    for figure in figures:
        try:
            with as_found():
                run = figure.run(options)
        except ValueError as exc:
            if len(figures) == 1:
                raise
            failed.append(f"{figure.name} ({' '.join(str(exc).split())})")
            continue
        paths = run.save(out_dir)
        written.append(paths["json"])
        saved(run, paths)
        if len(figures) > 1:
            release_compiled_programs()  # the next figure's shapes differ; keep the memory maps bounded
    if failed:
        raise ValueError(f"{len(failed)} of {len(figures)} figures failed: {'; '.join(failed)}")
    return written
