r"""Running a figure: the grid points of a spec, their configs, and the simulations.

:func:`point_config` maps (spec, grid point) to the config of that point with
:func:`dataclasses.replace` (base → quick sizes → overrides → varied fields);
:func:`run_figure` simulates every point through the per-point cache.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onestep_gm.experiments.catalogue import (
    FASHION_N,
    ORDER_AT_BETA_ONE,
    VARIABLES,
    FigureSpec,
    Overrides,
    get_figure,
)
from onestep_gm.experiments.distributed import check_options, run_all
from onestep_gm.experiments.results import simulate_cached
from onestep_gm.numerics.compile_cache import enable_compile_cache
from onestep_gm.numerics.fashion import FashionSpec
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig

Coords = dict[str, float]
SimulateFn = Callable[..., Any]
NO_OVERRIDES = Overrides()


def point_grid(spec: FigureSpec, quick: bool = False) -> list[Coords]:
    """The points of a figure in drawing order (heatmaps: rows of ``vary_y``, then ``vary``)."""
    xs = spec.quick_grid if quick else spec.grid
    if spec.kind != "heatmap":
        return [{spec.vary: x} for x in xs]
    ys = spec.quick_grid_y if quick else spec.grid_y
    return [{spec.vary: x, spec.vary_y: y} for y, x in itertools.product(ys, xs)]


def _data_n(config: SimulationConfig) -> int:
    return FASHION_N if isinstance(config.data, FashionSpec) else config.data.n


def _set(config: SimulationConfig, variable: str, value: float) -> SimulationConfig:
    r"""``config`` with one figure variable set; ``k_over_m`` sets :math:`k = \mathrm{round}(xm)`."""
    data = config.data
    if variable == "k_over_m":
        return dataclasses.replace(config, k=max(1, round(value * config.m)))
    if variable == "log_eta":
        return dataclasses.replace(config, eta=float(_data_n(config) ** value))
    if variable in ("alpha", "beta", "alignment"):
        return dataclasses.replace(config, data=dataclasses.replace(data, **{variable: value}))
    if variable == "rho":
        return dataclasses.replace(
            config, data=dataclasses.replace(data, weights=(value, round(1.0 - value, 12)))
        )
    if variable == "spikes":
        return dataclasses.replace(config, data=dataclasses.replace(data, spikes=int(value)))
    if variable in ("k", "m"):
        return dataclasses.replace(config, **{variable: _whole(variable, value)})
    if variable in ("lam", "eta"):
        return dataclasses.replace(config, **{variable: float(value)})
    if variable in ("n", "theta", "noise", "mean_norm") and isinstance(data, MixtureSpec):
        value = _whole(variable, value) if variable == "n" else float(value)
        return dataclasses.replace(config, data=dataclasses.replace(data, **{variable: value}))
    raise ValueError(f"unknown figure variable {variable!r}; choose from {', '.join(VARIABLES)}")


def _whole(variable: str, value: float) -> int:
    if float(value) != int(value):
        raise ValueError(f"{variable} takes whole numbers (got {value})")
    return int(value)


def _apply_quick(spec: FigureSpec, config: SimulationConfig) -> SimulationConfig:
    ratio = config.k / config.m
    data = config.data
    if spec.quick.n is not None and isinstance(data, MixtureSpec):
        data = dataclasses.replace(data, n=spec.quick.n)
    return dataclasses.replace(
        config, data=data, m=spec.quick.m, k=max(1, round(ratio * spec.quick.m)),
        trials=spec.quick.trials,
    )  # fmt: skip


def _apply_overrides(spec: FigureSpec, config: SimulationConfig, ov: Overrides) -> SimulationConfig:
    changes: dict[str, Any] = {}
    data = config.data
    if ov.activations is not None:
        changes["activations"] = tuple(ov.activations)
    if ov.models is not None:
        changes["models"] = tuple(ov.models)
    if ov.order is not None:
        changes["order"] = ov.order
    if ov.trials is not None:
        changes["trials"] = ov.trials
    if ov.seed is not None:
        changes["seed"] = ov.seed
    if ov.test is not None:
        changes["test"] = ov.test
    if ov.protocol is not None:
        changes["protocol"] = ov.protocol
    if ov.components is not None and isinstance(data, MixtureSpec) and spec.vary != "rho":
        data = dataclasses.replace(data, weights=(1.0 / ov.components,) * ov.components)
    if ov.data_dir is not None and isinstance(data, FashionSpec):
        data = dataclasses.replace(data, data_dir=ov.data_dir)
    return dataclasses.replace(config, data=data, **changes)


def point_config(
    spec: FigureSpec, coords: Mapping[str, float], quick: bool = False,
    overrides: Overrides = NO_OVERRIDES,
) -> SimulationConfig:  # fmt: skip
    """The config of one grid point: base → quick sizes → CLI overrides → varied fields.

    Where :math:`\\beta \\ge 1` and no order is fixed, the Hermite order is set to
    :data:`ORDER_AT_BETA_ONE` (the theorem has no finite order there).
    """
    config = spec.base
    if quick:
        config = _apply_quick(spec, config)
    config = _apply_overrides(spec, config, overrides)
    for variable, value in coords.items():
        config = _set(config, variable, value)
    if config.order is None and config.data.beta >= 1.0:
        config = dataclasses.replace(config, order=ORDER_AT_BETA_ONE)
    return config


def figure_notes(spec: FigureSpec, overrides: Overrides = NO_OVERRIDES) -> list[str]:
    """What the reader must know about a figure's run, including ignored options."""
    notes = list(spec.notes)
    if overrides.components is not None:
        if spec.is_fashion:
            notes.append("--components does not apply to Fashion-MNIST and was ignored")
        elif spec.vary == "rho":
            notes.append("--components ignored: this figure varies the ratio of two components")
        else:
            notes.append(f"{overrides.components} components with weights 1/{overrides.components}")
    if overrides.order is not None:
        notes.append(f"Hermite order fixed to {overrides.order} by --order")
    if overrides.protocol == "paper":
        notes.append(
            "--protocol paper: one mixture and one set of datasets per seed for the whole "
            "figure (trial 0's), trials redraw only F and w, m/2 samples per component per batch"
        )
    return notes


@dataclass(frozen=True)
class FigureRun:
    """All simulated points of one figure, in :func:`point_grid` order."""

    spec: FigureSpec
    quick: bool
    overrides: Overrides
    coords: list[Coords]
    configs: list[SimulationConfig]
    results: list[Any]  # SimulationResult
    seconds: float
    notes: list[str]


def run_figure(
    spec: FigureSpec | str,
    *,
    quick: bool = False,
    overrides: Overrides = NO_OVERRIDES,
    simulate_fn: SimulateFn | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
) -> FigureRun:
    """Simulate every point of a figure (cached per point under ``cache_dir``: re-runs resume).

    Parameters
    ----------
    spec : FigureSpec or str
        A spec of :data:`onestep_gm.FIGURES`, or its name (``"fig1a"`` ...).
    quick : bool
        Quick mode: a few grid points, n ≈ 300, 3–5 trials.
    overrides : Overrides
        Options that change every point (activations, models, trials, seed, ...).
    simulate_fn : callable, optional
        ``simulate_fn(config, progress=..., cache_dir=...)``; default
        :func:`onestep_gm.experiments.results.simulate_cached` (tests inject a fake).
    cache_dir : str or Path, optional
        One JSON file per point; ``None`` for no cache.
    progress : bool
        A progress bar over points (it counts completed points).
    workers : int, optional
        Run the points as tasks on a local Dask cluster of this many worker processes
        (:mod:`onestep_gm.experiments.distributed`; needs the ``distributed`` extra).
    scheduler : str, optional
        Run the points on the Dask cluster at this scheduler address instead.  With either,
        ``cache_dir`` must be visible to the workers; the numbers are those of the
        in-process run.

    Returns
    -------
    FigureRun
        Every point's config and :class:`~onestep_gm.SimulationResult`; write it with
        :func:`onestep_gm.save_figure`.

    Raises
    ------
    ValueError
        For an unknown figure name or an unusable point, or distributed options that cannot
        be used (both given, or dask.distributed missing).
    """
    if isinstance(spec, str):
        spec = get_figure(spec)
    distributed = workers is not None or scheduler is not None
    if distributed and simulate_fn is not None:
        raise ValueError("simulate_fn cannot be combined with workers or scheduler")
    check_options(workers, scheduler)
    enable_compile_cache()
    simulate_fn = simulate_fn or simulate_cached
    coords = point_grid(spec, quick)
    configs = [point_config(spec, c, quick, overrides) for c in coords]
    start = time.perf_counter()
    results = run_all(configs, lambda config: simulate_fn(config, progress=False, cache_dir=cache_dir),
                      desc=spec.name, progress=progress, cache_dir=cache_dir, workers=workers,
                      scheduler=scheduler)  # fmt: skip
    return FigureRun(
        spec=spec, quick=quick, overrides=overrides, coords=coords, configs=configs,
        results=results, seconds=time.perf_counter() - start, notes=figure_notes(spec, overrides),
    )  # fmt: skip
