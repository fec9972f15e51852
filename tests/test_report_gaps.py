"""A model that diverged on some trials of a point is reported as diverged there, not as a gap
over the trials that survived (whose spread could make any mean "agree")."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onestep_gm.experiments.figures.report import point_gaps, verdict

NN = [0.16, 0.17, 0.15, 0.16]


def _point(hermite):
    return {"coords": {"k_over_m": 1.0}, "gen": {"relu|nn": NN, "relu|hermite": hermite}}


def test_partly_diverged_model_is_not_a_gap():
    # fig7b's case: a huge mean over the surviving trials, whose spread alone gives |z| < 2
    huge = _point([2e4, None, float("nan"), 5.0])
    assert math.isnan(point_gaps(huge, "gen", "hermite")["relu"])
    fine = _point([0.16, 0.17, 0.15, 0.16])
    line = verdict([point_gaps(p, "gen", "hermite") for p in (fine, huge)])
    assert "at 1/1 points" in line and "diverged at 1 more" in line


def test_finite_model_keeps_its_gap():
    assert point_gaps(_point(list(NN)), "gen", "hermite")["relu"] == 0.0
    far = point_gaps(_point([v + 0.05 for v in NN]), "gen", "hermite")["relu"]
    se = math.sqrt(2 * np.var(NN, ddof=1) / len(NN))  # same spread on both sides
    assert far == pytest.approx(-0.05 / se, rel=1e-12)
