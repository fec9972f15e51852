"""The recipes of docs/architecture.md, run: a figure of one's own through the figure protocol.

A figure is any object with ``name``, ``check(options)`` and ``run(options) -> FigureResult``;
:func:`onestep_gm.run_figure` runs it as it runs the paper's, and the result saves the same
five files (all or nothing) with the tidy frame as its CSV.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from onestep_gm.experiments.figures.protocol import (
    Figure,
    FigureResult,
    PayloadRun,
    RunOptions,
    refuse,
)

import onestep_gm as og


def _frame(payload):
    return pd.DataFrame({"beta": payload["beta"], "order": payload["order"]})


def _draw(payload):
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(4, 3))
    fig.add_subplot().step(payload["beta"], payload["order"], where="post")
    return fig


class OrderStaircase:
    """The Hermite order l(β) on a grid of β: the smallest figure there is."""

    name = "staircase"

    def check(self, options: RunOptions) -> None:
        refuse(options, ("sizes", "reuse", "workers", "scheduler"), "the staircase takes none")

    def run(self, options: RunOptions) -> FigureResult:
        betas = [0.1, 0.3, 0.55, 0.7, 0.78] if options.quick else [i / 20 for i in range(1, 20)]
        payload = {"beta": betas, "order": [og.hermite_order(b).order for b in betas], "seconds": 0.0}
        return PayloadRun(payload, _frame, _draw, lambda p: f"# staircase\n\n{len(p['beta'])} points\n",
                          self.name)  # fmt: skip


def test_a_figure_of_ones_own_runs_and_saves_like_the_papers(tmp_path):
    figure = OrderStaircase()
    assert isinstance(figure, Figure)
    run = og.run_figure(figure, quick=True)
    assert isinstance(run, FigureResult)
    # the orders are the theorem's: (l-2)/(l-1) < beta < (l-1)/l
    assert run.to_frame().order.tolist() == [2, 2, 3, 4, 5]
    paths = run.save(tmp_path)
    assert {p.suffix for p in paths.values()} == {".json", ".csv", ".md", ".png", ".pdf"}
    assert json.loads(paths["json"].read_text())["order"] == [2, 2, 3, 4, 5]
    assert pd.read_csv(paths["csv"]).equals(run.to_frame())


def test_a_figure_of_ones_own_refuses_what_it_does_not_take():
    with pytest.raises(ValueError, match="--workers: the staircase takes none"):
        og.run_figure(OrderStaircase(), workers=2)
