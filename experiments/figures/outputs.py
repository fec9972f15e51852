r"""A figure's outputs: ``<name>.{json,csv,md,png,pdf}``, written all or nothing.

Every figure run (:class:`~onestep_gm.experiments.figures.protocol.FigureResult`) gives its
JSON-able data, its tidy frame, its Markdown report and its picture; :func:`save_outputs`
stages the five files and publishes them together
(:func:`onestep_gm.experiments.results.staged`).  The CSV is the run's ``to_frame()``.
"""

from __future__ import annotations

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
