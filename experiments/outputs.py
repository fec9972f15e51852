r"""A figure's outputs: ``<name>.{json,csv,md,png,pdf}``, written all or nothing.

:func:`figure_data` holds every point and every trial with all parameters and versions (so
any number on the results page can be recomputed), :func:`figure_csv` one row per point ×
activation × model × trial, :func:`save_figure` stages all five files and publishes them
together (:func:`onestep_gm.experiments.results.staged`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from onestep_gm.experiments.results import (
    config_to_json,
    dumps,
    package_versions,
    staged,
    strict_json,
)
from onestep_gm.experiments.runner import FigureRun


def _pairs(result: Any) -> list[tuple[str, str]]:
    return list(result.gen.keys())


def figure_data(run: FigureRun) -> dict:
    """Everything of a run as one JSON-able dict: every point, every trial, all parameters."""
    spec = run.spec
    points = []
    for coords, config, result in zip(run.coords, run.configs, run.results, strict=True):
        points.append({
            "coords": coords,
            "config": config_to_json(config),
            "train": {f"{a}|{mdl}": strict_json(result.train[(a, mdl)]) for a, mdl in _pairs(result)},
            "gen": {f"{a}|{mdl}": strict_json(result.gen[(a, mdl)]) for a, mdl in _pairs(result)},
            "seconds": result.seconds,
            "info": strict_json(result.info),
        })  # fmt: skip
    convention = next(
        (r.info.get("convention") for r in run.results if "convention" in r.info), None
    )
    return {
        "figure": spec.name,
        "title": spec.title,
        "kind": spec.kind,
        "metric": spec.metric,
        "vary": spec.vary,
        "vary_y": spec.vary_y,
        "xlabel": spec.xlabel,
        "ylabel": spec.ylabel,
        "yscale": spec.yscale,
        "quick": run.quick,
        "overrides": strict_json(run.overrides),
        "notes": run.notes,
        "convention": convention,
        "versions": package_versions(),
        "seconds": run.seconds,
        "points": points,
    }


def figure_csv(data: Mapping[str, Any]) -> str:
    """One row per point × activation × model × trial."""
    variables = [data["vary"]] + ([data["vary_y"]] if data["vary_y"] else [])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["figure", "point", *variables, "activation", "model", "trial",
                     "train_error", "gen_error", "n", "k", "m", "lambda", "seed"])  # fmt: skip
    for i, point in enumerate(data["points"]):
        info = point["info"]
        for key, gens in point["gen"].items():
            act, model = key.split("|", 1)
            for t, (tr, ge) in enumerate(zip(point["train"][key], gens, strict=True)):
                writer.writerow([
                    data["figure"], i, *(point["coords"][v] for v in variables), act, model, t,
                    _csv_number(tr), _csv_number(ge), info.get("n"), point["config"]["k"],
                    point["config"]["m"], point["config"]["lam"], point["config"]["seed"],
                ])  # fmt: skip
    return buf.getvalue()


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def save_figure(run: FigureRun, out_dir: str | Path) -> dict[str, Path]:
    """Write ``<name>.{json,csv,md,png,pdf}`` of a figure run under ``out_dir``, all or nothing.

    Every file is rendered to a temporary name in ``out_dir`` and moved into place only once
    all five exist (:func:`onestep_gm.experiments.results.staged`).

    Parameters
    ----------
    run : FigureRun
        What :func:`onestep_gm.run_figure` returned.
    out_dir : str or Path
        The folder (created if missing).

    Returns
    -------
    dict
        ``{"json": Path, "csv": ..., "md": ..., "png": ..., "pdf": ...}``.

    Raises
    ------
    OSError
        When a file cannot be written; no target is changed and no temporary file is left.
    """
    from onestep_gm.experiments import plots, report  # matplotlib: only when drawing

    out = Path(out_dir)
    name = run.spec.name
    data = figure_data(run)
    final = {ext: out / f"{name}.{ext}" for ext in ("json", "csv", "md", "png", "pdf")}
    with staged(final) as tmp:
        tmp["json"].write_text(dumps(data, indent=1) + "\n")
        tmp["csv"].write_text(figure_csv(data))
        tmp["md"].write_text(report.figure_report(data, image=f"{name}.png"))
        plots.save_pictures(plots.draw(data), {ext: tmp[ext] for ext in ("png", "pdf")})
    return final
