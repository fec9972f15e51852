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


def test_paired_comparison_removes_the_settings_shared_spread():
    """Errors that follow a heavy-tailed setting s_t drawn per trial: the theory is s_t itself
    on 60 draws, the network s_t (1 + small noise) on the first 20, whose setting happens to be
    low.  Unpaired, the means differ by many s.e.; paired on the 20 shared trials they agree."""
    from onestep_gm.experiments.figures.report import agreement, paired_agreement

    rng = np.random.default_rng(1)
    s = np.exp(rng.standard_normal(60))
    s[:20] = np.sort(s)[:20]  # the network's trials: the 20 smallest settings
    nn = s[:20] * (1 + 0.001 * rng.standard_normal(20))
    data = {"metric": "gen", "points": [{"gen": {"relu|nn": list(nn), "relu|theory": list(s)}}]}
    assert agreement(data, "theory") == (0, 1)
    d = (nn - s[:20]) / nn  # the paired gaps, written out
    z = d.mean() / (d.std(ddof=1) / math.sqrt(20))
    within, pairs, largest = paired_agreement(data, "theory")
    assert (within, pairs) == (int(abs(z) <= 2), 1) and largest == pytest.approx(abs(d.mean()), rel=1e-12)
    assert abs(z) < 2
    biased = {"metric": "gen", "points": [{"gen": {"relu|nn": list(nn), "relu|theory": list(1.01 * s)}}]}
    assert paired_agreement(biased, "theory")[:2] == (0, 1)  # a 1 % bias on every trial is seen
    nan_point = {"metric": "gen", "points": [{"gen": {"relu|nn": [*nn[:-1], None], "relu|theory": list(s)}}]}
    assert paired_agreement(nan_point, "theory")[1] == 0  # a diverged network trial: no comparison
