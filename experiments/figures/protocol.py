"""The figure protocol: every figure, whatever it computes, is run, drawn, reported and saved alike.

A :class:`Figure` (a paper figure or a TOML sweep, :class:`~onestep_gm.experiments.figures.grid.GridFigure`;
the order diagram, :class:`~onestep_gm.experiments.figures.order.OrderFigure`; the convergence
study, :class:`~onestep_gm.experiments.figures.convergence.ConvergenceFigure`; a learning curve,
:class:`~onestep_gm.experiments.figures.curve.CurveFigure`) has a ``name`` and
``check(options)`` (refuse what it does not take, before anything runs) and
``run(options) -> FigureResult``.  A :class:`FigureResult` has

* ``data()``: everything as one JSON-able dict (``<name>.json``; a saved run is re-drawn from it),
* ``to_frame()``: a tidy :class:`pandas.DataFrame`, one row per point × activation × model ×
  trial with the varied and fixed parameters as columns (``<name>.csv``),
* ``draw()``: a :class:`matplotlib.figure.Figure` made outside pyplot (``<name>.png``, ``.pdf``),
* ``report()``: Markdown (``<name>.md``),
* ``save(out_dir)``: the five files, all or nothing.

:class:`RunOptions` holds the options of a run; each figure refuses, with one sentence, the
options it does not take.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class FigureResult(Protocol):
    """One run of a figure (see the module doc)."""

    name: str
    seconds: float

    def data(self) -> dict: ...

    def to_frame(self) -> Any: ...

    def draw(self) -> Any: ...

    def report(self) -> str: ...

    def save(self, out_dir: str | Path) -> dict[str, Path]: ...


@runtime_checkable
class Figure(Protocol):
    """A figure that can be run (see the module doc)."""

    name: str

    def check(self, options: RunOptions) -> None:
        """Refuse options this figure does not take (``ValueError``), before anything runs."""
        ...

    def run(self, options: RunOptions) -> FigureResult: ...


@dataclass(frozen=True)
class RunOptions:
    """Options of one figure run (``None``: the figure's own).

    ``overrides`` (:class:`~onestep_gm.experiments.figures.catalogue.Overrides`) change every
    point of a paper figure; ``sizes`` and ``reuse`` apply to the theorem figures; ``cache_dir``
    keeps one file per point (re-runs resume); ``workers`` / ``scheduler`` run the points as Dask
    tasks; ``simulate_fn`` replaces the simulation of a grid figure (tests).
    """

    quick: bool = False
    trials: int | None = None
    seed: int | None = None
    overrides: Any = None
    sizes: tuple[int, ...] | None = None
    reuse: str | Path | Mapping | None = None
    cache_dir: str | Path | None = None
    progress: bool = False
    workers: int | None = None
    scheduler: str | None = None
    simulate_fn: Callable[..., Any] | None = None

    def given(self, *names: str) -> list[str]:
        """Of ``names``, those set here (not ``None``), including set fields of ``overrides``."""
        found = [n for n in names if n in self._own() and getattr(self, n) is not None]
        if self.overrides is not None:
            found += [f.name for f in fields(self.overrides)
                      if f.name in names and getattr(self.overrides, f.name) is not None]  # fmt: skip
        return list(dict.fromkeys(found))

    def _own(self) -> set[str]:
        return {f.name for f in fields(self)}


FLAGS = {"activations": "--activation", "models": "--models", "data_dir": "--data-dir"}
"""Command-line spelling of an option where it is not ``--`` + the field name."""


def flag(name: str) -> str:
    """The command-line option of a field: ``"data_dir"`` → ``"--data-dir"``."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def refuse(options: RunOptions, names: tuple[str, ...], why: str) -> None:
    """``ValueError`` naming the options of ``names`` that are set, with ``why``.

    Raises
    ------
    ValueError
        ``"--sizes, --reuse: <why>"`` when any of ``names`` is given.
    """
    given = options.given(*names)
    if given:
        raise ValueError(f"{', '.join(flag(n) for n in given)}: {why}")


@dataclass(frozen=True)
class PayloadRun:
    """A figure run held as its JSON-able data and the functions that read it (the theorem
    figures, learning curves): a :class:`FigureResult`; a saved ``<name>.json`` read back into
    the same class draws and reports again without computing."""

    payload: dict
    frame_fn: Callable[[Mapping], Any]
    draw_fn: Callable[[Mapping], Any]
    report_fn: Callable[[Mapping], str]
    name: str

    @property
    def seconds(self) -> float:
        return float(self.payload["seconds"])

    def data(self) -> dict:
        """The JSON-able data (``<name>.json``)."""
        return self.payload

    def to_frame(self):
        """Tidy :class:`pandas.DataFrame`: one row per point × activation × model × trial."""
        return self.frame_fn(self.payload)

    def draw(self):
        """The picture, a :class:`matplotlib.figure.Figure`."""
        return self.draw_fn(self.payload)

    def report(self) -> str:
        """The Markdown report (``<name>.md``)."""
        return self.report_fn(self.payload)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``<name>.{json,csv,md,png,pdf}`` under ``out_dir``, all or nothing."""
        from onestep_gm.experiments.figures.outputs import save_outputs  # matplotlib loads with it

        return save_outputs(self, out_dir)
