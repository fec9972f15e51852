r"""Grid figures (the paper's figures and TOML sweeps): grid points, their configs, the run.

:func:`point_config` maps (spec, grid point) to the config of that point with
:func:`dataclasses.replace` (base → quick sizes → overrides → varied fields);
:class:`GridFigure` simulates every point through the per-point cache and returns a
:class:`FigureRun`, whose data, tidy frame, report and picture are those of
:class:`~onestep_gm.experiments.figures.protocol.FigureResult`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from onestep_gm.experiments.distributed import check_options, run_all
from onestep_gm.experiments.figures.catalogue import (
    ORDER_AT_BETA_ONE,
    VARIABLES,
    FigureSpec,
    Overrides,
    mixture_weights,
)
from onestep_gm.experiments.figures.control import QUICK_DRAWS, control_record, theory_draws
from onestep_gm.experiments.figures.outputs import save_outputs
from onestep_gm.experiments.figures.protocol import RunOptions, refuse
from onestep_gm.experiments.figures.report import figure_report
from onestep_gm.experiments.figures.sweepspec import check_spec_work
from onestep_gm.experiments.results import (
    config_to_json,
    encode_pairs,
    package_versions,
    simulate_cached,
    split_key,
    strict_json,
)
from onestep_gm.numerics.data import has_field
from onestep_gm.numerics.simulation import SimulationConfig, resolve
from onestep_gm.numerics.validation import FieldTypeError, FieldValueError

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


def _set(config: SimulationConfig, variable: str, value: float) -> SimulationConfig:
    r"""``config`` with one figure variable set; ``k_over_m`` sets :math:`k = \mathrm{round}(xm)`."""
    data = config.data
    if variable == "k_over_m":
        if not value > 0:
            raise FieldValueError("k_over_m", f"k_over_m must be > 0 (got {value:g})")
        return dataclasses.replace(config, k=max(1, round(value * config.m)))
    if variable == "log_eta":
        return dataclasses.replace(config, eta=float(config.data.n ** value))
    if variable in ("alpha", "beta", "alignment"):
        return dataclasses.replace(config, data=dataclasses.replace(data, **{variable: value}))
    if variable == "rho":
        return dataclasses.replace(
            config, data=dataclasses.replace(data, weights=(value, round(1.0 - value, 12)))
        )
    if variable == "spikes":
        return dataclasses.replace(config, data=dataclasses.replace(data, spikes=_whole(variable, value)))
    if variable in ("k", "m"):
        return dataclasses.replace(config, **{variable: _whole(variable, value)})
    if variable in ("lam", "eta"):
        return dataclasses.replace(config, **{variable: float(value)})
    if variable in ("n", "theta", "noise", "mean_norm") and has_field(data, variable):
        value = _whole(variable, value) if variable == "n" else float(value)
        return dataclasses.replace(config, data=dataclasses.replace(data, **{variable: value}))
    raise ValueError(f"unknown figure variable {variable!r}; choose from {', '.join(VARIABLES)}")


def _whole(variable: str, value: float) -> int:
    if not math.isfinite(float(value)) or float(value) != int(value):
        raise FieldTypeError(variable, f"{variable} takes whole numbers (got {value})")
    return int(value)


def _apply_quick(spec: FigureSpec, config: SimulationConfig) -> SimulationConfig:
    ratio = config.k / config.m
    data = config.data
    if spec.quick.n is not None and has_field(data, "n"):
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
    if ov.components is not None and has_field(data, "weights") and spec.vary != "rho":
        data = dataclasses.replace(data, weights=mixture_weights(ov.components))
    if ov.data_dir is not None and has_field(data, "data_dir"):
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
        if not has_field(spec.base.data, "weights"):
            notes.append(f"--components does not apply to {spec.base.data.title} and was ignored")
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




def check_points(spec: FigureSpec, quick: bool = False, overrides: Overrides | None = None) -> None:
    """Resolve every point's config (``ValueError`` for the first unusable one), before any
    simulation runs."""
    for coords in point_grid(spec, quick):
        try:
            resolve(point_config(spec, coords, quick, overrides or NO_OVERRIDES))
        except (ValueError, TypeError) as exc:  # a TOML value of the wrong type ends up here
            where = ", ".join(f"{k} = {v:g}" for k, v in coords.items())
            raise ValueError(f"sweep {spec.name!r} at {where}: {exc}") from None


def figure_data(run: FigureRun) -> dict:
    """Everything of a run as one JSON-able dict: every point, every trial, all parameters."""
    spec = run.spec
    points = [{
        "coords": coords, "config": config_to_json(config),
        "train": strict_json(encode_pairs(result.train)), "gen": strict_json(encode_pairs(result.gen)),
        "seconds": result.seconds, "info": strict_json(result.info),
    } for coords, config, result in zip(run.coords, run.configs, run.results, strict=True)]  # fmt: skip
    for point, record in zip(points, run.controls, strict=False):
        if record is not None:
            point["control"] = record
    convention = next((r.info.get("convention") for r in run.results if "convention" in r.info), None)
    return {
        "figure": spec.name, "title": spec.title, "kind": spec.kind, "metric": spec.metric,
        "vary": spec.vary, "vary_y": spec.vary_y, "xlabel": spec.xlabel, "ylabel": spec.ylabel,
        "yscale": spec.yscale, "quick": run.quick, "overrides": strict_json(run.overrides),
        "notes": run.notes, "convention": convention, "versions": package_versions(),
        "seconds": run.seconds, "points": points,
    }  # fmt: skip


FRAME_COLUMNS = ("figure", "point", "activation", "model", "trial", "train_error", "gen_error",
                 "n", "k", "m", "lambda", "seed", "beta", "alpha", "order", "test")  # fmt: skip
"""Columns of a grid figure's frame after its varied fields (which follow ``point``)."""


def _point_rows(data: Mapping[str, Any], i: int, variables: list[str]) -> list[dict]:
    point, config = data["points"][i], data["points"][i]["config"]
    info, mixture = point["info"], config["data"]
    fixed = {"n": info.get("n"), "k": config["k"], "m": config["m"], "lambda": config["lam"],
             "seed": config["seed"], "beta": mixture.get("beta"), "alpha": mixture.get("alpha"),
             "order": info.get("order"), "test": info.get("test", config.get("test"))}  # fmt: skip
    rows = []
    for key, gens in point["gen"].items():
        act, model = split_key(key)
        for t, (tr, ge) in enumerate(zip(point["train"][key], gens, strict=True)):
            rows.append({"figure": data["figure"], "point": i, **{v: point["coords"][v] for v in variables},
                         "activation": act, "model": model, "trial": t,
                         "train_error": np.nan if tr is None else float(tr),
                         "gen_error": np.nan if ge is None else float(ge), **fixed})  # fmt: skip
    return rows


def figure_frame(data: Mapping[str, Any]):
    """Tidy :class:`pandas.DataFrame` of a grid figure's data (:func:`figure_data`, or a saved
    ``<name>.json``): one row per point × activation × model × trial, the varied fields and the
    fixed parameters as columns (:data:`FRAME_COLUMNS`)."""
    import pandas as pd  # pandas only when a frame is asked for

    variables = [data["vary"]] + ([data["vary_y"]] if data["vary_y"] else [])
    rows = [row for i in range(len(data["points"])) for row in _point_rows(data, i, variables)]
    columns = [*FRAME_COLUMNS[:2], *variables, *FRAME_COLUMNS[2:]]
    return pd.DataFrame(rows, columns=columns).astype({"order": "Int64", "n": "Int64"})


@dataclass(frozen=True)
class FigureRun:
    """All simulated points of one grid figure, in :func:`point_grid` order: a
    :class:`~onestep_gm.experiments.figures.protocol.FigureResult`."""

    spec: FigureSpec
    quick: bool
    overrides: Overrides
    coords: list[Coords]
    configs: list[SimulationConfig]
    results: list[Any]  # SimulationResult
    seconds: float
    notes: list[str]
    controls: tuple[dict | None, ...] = ()
    """Per point the theory line's control (:func:`control_record`), where the spec has one."""

    @property
    def name(self) -> str:
        return self.spec.name

    def data(self) -> dict:
        """Every point and trial with all parameters and versions (:func:`figure_data`)."""
        return figure_data(self)

    def to_frame(self):
        """Tidy frame: one row per point × activation × model × trial (:func:`figure_frame`)."""
        return figure_frame(self.data())

    def draw(self):
        """The picture (:func:`onestep_gm.experiments.figures.plots.draw`)."""
        from onestep_gm.experiments.figures.plots import draw  # matplotlib: only when drawing

        return draw(self.data())

    def report(self) -> str:
        """The Markdown agreement report."""
        return figure_report(self.data(), image=f"{self.name}.png")

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``<name>.{json,csv,md,png,pdf}`` under ``out_dir``, all or nothing."""
        return save_outputs(self, out_dir)


THEOREM_ONLY = ("sizes", "reuse")
SPEC_DECLARES = ("activations", "models", "components", "order", "data_dir", "test", "protocol")
"""Options that a TOML sweep spec declares itself."""


@dataclass(frozen=True)
class GridFigure:
    """A paper figure or a TOML sweep (``source``: its file) as a
    :class:`~onestep_gm.experiments.figures.protocol.Figure`."""

    spec: FigureSpec
    source: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def overrides(self, options: RunOptions) -> Overrides:
        """The options that change every point, checked against this figure."""
        refuse(options, THEOREM_ONLY, f"applies to order and convergence only, not {self.name}")
        if self.source is not None:
            refuse(options, SPEC_DECLARES, f"a sweep spec declares these itself; edit {self.source}")
        ov = dataclasses.replace(options.overrides or NO_OVERRIDES, **{
            k: getattr(options, k) for k in ("trials", "seed") if getattr(options, k) is not None})  # fmt: skip
        if self.spec.kind == "heatmap" and ov.models and "hermite" not in ov.models:
            raise ValueError(f"{self.name} needs the hermite model (it compares NN with it)")
        return ov

    def check(self, options: RunOptions) -> None:
        """Refuse options this figure does not take, before anything runs."""
        self.overrides(options)

    def run(self, options: RunOptions) -> FigureRun:
        """Simulate every point (cached per point under ``options.cache_dir``: re-runs resume)."""
        overrides = self.overrides(options)
        if options.simulate_fn is not None and (options.workers is not None or options.scheduler is not None):
            raise ValueError("simulate_fn cannot be combined with workers or scheduler")
        check_options(options.workers, options.scheduler)
        check_spec_work(self.spec, overrides.trials)
        if self.source is not None:
            check_points(self.spec, options.quick, overrides)
        check_data(self.spec, overrides)
        return simulate_points(self.spec, options, overrides)


def check_data(spec: FigureSpec, overrides: Overrides) -> None:
    """Read the figure's data files (if its source has any) before any progress bar starts,
    so a missing or corrupt file is reported as one line (what is read is cached for the run)."""
    data = spec.base.data
    if overrides.data_dir is not None and has_field(data, "data_dir"):
        data = dataclasses.replace(data, data_dir=overrides.data_dir)
    data.preload()


def simulate_points(spec: FigureSpec, options: RunOptions, overrides: Overrides) -> FigureRun:
    """Every point of ``spec`` through ``options.simulate_fn`` (default: the per-point cache)."""
    simulate_fn = options.simulate_fn or simulate_cached
    coords = point_grid(spec, options.quick)
    configs = [point_config(spec, c, options.quick, overrides) for c in coords]
    start = time.perf_counter()
    results = run_all(configs, lambda config: simulate_fn(config, progress=False, cache_dir=options.cache_dir),
                      desc=spec.name, progress=options.progress, cache_dir=options.cache_dir,
                      workers=options.workers, scheduler=options.scheduler)  # fmt: skip
    controls = tuple(point_control(spec, config, result, options.quick)
                     for config, result in zip(configs, results, strict=True))  # fmt: skip
    return FigureRun(
        spec=spec, quick=options.quick, overrides=overrides, coords=coords, configs=configs,
        results=results, seconds=time.perf_counter() - start, notes=figure_notes(spec, overrides),
        controls=controls,
    )  # fmt: skip


def point_control(spec: FigureSpec, config: SimulationConfig, result, quick: bool = False) -> dict | None:
    """The control record of one point (``None`` without a control or a theory line)."""
    if spec.control is None:
        return None
    draws = theory_draws(result.gen)
    if draws == 0:
        return None
    return control_record(spec.control, config, draws, **({"draws": QUICK_DRAWS} if quick else {}))
