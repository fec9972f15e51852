r"""A figure's outputs: ``<name>.{json,csv,md,png,pdf}``, written all or nothing.

Every figure run (:class:`~onestep_gm.experiments.figures.protocol.FigureResult`) gives its
JSON-able data, its tidy frame, its Markdown report and its picture; :func:`save_outputs`
stages the five files and publishes them together
(:func:`onestep_gm.experiments.results.staged`).  The CSV is the run's ``to_frame()``.
:func:`saved_run` reads a saved ``<name>.json`` back into a figure run, and :func:`redraw` /
:func:`redraw_folder` write its picture and report again without simulating
(``onestep report --redraw``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from onestep_gm.experiments.results import dumps
from onestep_gm.numerics.files import staged

EXTENSIONS = ("json", "csv", "md", "png", "pdf")


def targets(name: str, out_dir: str | Path) -> dict[str, Path]:
    """``{"json": out_dir/<name>.json, ...}`` for every output of a figure."""
    return {ext: Path(out_dir) / f"{name}.{ext}" for ext in EXTENSIONS}


def frame_csv(frame: Any) -> str:
    """The CSV text of a tidy frame: no index, ``\\n`` line ends, NaN as an empty field, floats
    as their shortest round-trip text."""
    return frame.to_csv(index=False, lineterminator="\n")


def save_outputs(run: Any, out_dir: str | Path) -> dict[str, Path]:
    """Write ``<name>.{json,csv,md,png,pdf}`` of a figure run under ``out_dir``, all or nothing.

    Every file is rendered to a temporary name in ``out_dir`` and moved into place only once
    all five exist (:func:`onestep_gm.experiments.results.staged`).

    Parameters
    ----------
    run : FigureResult
        A figure run: ``name``, ``data()``, ``to_frame()``, ``report()``, ``draw()``.
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
    from onestep_gm.experiments.figures.plots import save_pictures  # matplotlib: only when drawing

    final = targets(run.name, out_dir)
    with staged(final) as tmp:
        tmp["json"].write_text(dumps(run.data(), indent=1) + "\n")
        tmp["csv"].write_text(frame_csv(run.to_frame()))
        tmp["md"].write_text(run.report())
        save_pictures(run.draw(), {ext: tmp[ext] for ext in ("png", "pdf")})
    return final


def save_figure(run: Any, out_dir: str | Path) -> dict[str, Path]:
    """Write a figure run's ``<name>.{json,csv,md,png,pdf}`` under ``out_dir``, all or nothing.

    Parameters
    ----------
    run : FigureResult
        What :func:`onestep_gm.run_figure` returned (any figure: paper, sweep, theorem, curve).
    out_dir : str or Path
        The folder (created if missing).

    Returns
    -------
    dict
        The path of each file, by extension.
    """
    return run.save(out_dir)


def saved_run(json_path: str | Path):
    """A saved ``<name>.json`` read back into a figure run that draws, reports and saves again
    without simulating: a grid figure (a paper figure or a sweep), the order diagram or the
    convergence study.

    Raises
    ------
    ValueError
        When the file is not the data of a figure.
    """
    # the figure kinds import this module (save_outputs): theirs are imported here, not at the top
    from onestep_gm.experiments.figures.protocol import PayloadRun

    path = Path(json_path)
    data = json.loads(path.read_text())
    if data.get("name") in ("order", "convergence") and "figure" not in data:
        # the theorem figures import this module: imported here to keep the graph acyclic
        from onestep_gm.experiments.figures.convergence import convergence_run
        from onestep_gm.experiments.figures.order import order_run

        return order_run(data) if data["name"] == "order" else convergence_run(data)
    if not {"figure", "kind", "points"} <= set(data):
        raise ValueError(f"{path} is not the data of a figure (no 'figure', 'kind' and 'points')")
    # grid imports this module, and plots loads matplotlib: both only when a redraw runs
    from onestep_gm.experiments.figures.grid import figure_frame
    from onestep_gm.experiments.figures.plots import draw
    from onestep_gm.experiments.figures.report import figure_report

    name = data["figure"]
    return PayloadRun(payload=data, frame_fn=figure_frame, draw_fn=draw,
                      report_fn=lambda d: figure_report(d, image=f"{name}.png"), name=name)  # fmt: skip


def redraw(json_path: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Draw and report a saved ``<name>.json`` again: ``<name>.{png,pdf,md}`` (its stem, so
    ``order-quick.json`` gives ``order-quick.png``) under ``out_dir`` (default: the JSON's
    folder), all or nothing, in the current style; the data files are not touched.

    Returns
    -------
    dict
        ``{"png": Path, "pdf": ..., "md": ...}``.
    """
    from onestep_gm.experiments.figures.plots import save_pictures  # matplotlib: only when drawing

    path = Path(json_path)
    run = saved_run(path)
    final = {ext: p for ext, p in targets(path.stem, path.parent if out_dir is None else out_dir).items()
             if ext in ("png", "pdf", "md")}  # fmt: skip
    with staged(final) as tmp:
        tmp["md"].write_text(run.report())
        save_pictures(run.draw(), {ext: tmp[ext] for ext in ("png", "pdf")})
    return final


def redraw_folder(out_dir: str | Path) -> list[Path]:
    """:func:`redraw` every ``<name>.json`` of ``out_dir`` in place; the JSON files redrawn."""
    done = []
    for path in sorted(Path(out_dir).glob("*.json")):
        redraw(path)
        done.append(path)
    return done
