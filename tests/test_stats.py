"""Gap statistics (:mod:`onestep_gm.experiments.stats`): by hand and on a known power law."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onestep_gm.experiments import stats


def test_fit_slope_recovers_a_power_law():
    """Gaps c·n^-0.5 with 5% errors give slope -0.5 inside the 95% interval; gaps within 2 SE of 0
    are left out."""
    rng = np.random.default_rng(0)
    ns = np.array([250, 500, 1000, 2000, 4000.0])
    g = 0.3 * ns**-0.5 * (1 + 0.05 * rng.standard_normal(5))
    fit = stats.fit_slope(ns, g, 0.05 * np.abs(g))
    assert fit.points == 5 and abs(fit.slope + 0.5) < fit.ci + 1e-12 and fit.ci < 0.2
    assert stats.fit_slope(ns, [1e-3, 1e-4, 1e-3, 1e-4, 1e-3], [1.0] * 5).points == 0


def test_order_gap_and_its_standard_error_by_hand():
    nn = np.array([[1.0, 1.0, 1.0, 1.0]])
    herm = np.array([[[0.9, 1.1, 1.0, 1.0], [0.8, 0.8, 0.8, 0.8]]])
    np.testing.assert_allclose(stats.relative_gap(nn[..., None, :], herm), [[0.0, 0.2]], atol=1e-15)
    np.testing.assert_allclose(stats.relative_gap_se(nn[..., None, :], herm), [[math.sqrt(0.02 / 3) / 2, 0.0]], atol=1e-15)
    assert np.isnan(stats.relative_gap_se(nn[:, None, :1], herm[:, :, :1])).all()


def test_rms_gap_and_its_standard_error_by_hand():
    """d = (0.1, -0.1, 0, 0): mean gap 0 (unresolved) but RMS sqrt(0.005), SE by the delta
    method sd(d^2)/sqrt(4)/(2 RMS)."""
    nn, other = np.ones(4), np.array([0.9, 1.1, 1.0, 1.0])
    rms, se = stats.rms_stats(nn, other)
    assert stats.gap_stats(nn, other)[0] == pytest.approx(0.0, abs=1e-15)
    assert rms == pytest.approx(math.sqrt(0.005), rel=1e-12)
    assert se == pytest.approx(math.sqrt(1e-4 / 3) / 2 / (2 * math.sqrt(0.005)), rel=1e-9)
    assert all(math.isnan(v) for v in stats.rms_stats(nn[:1], other[:1]))


def test_gap_in_se_and_agreement():
    assert stats.gap_in_se(1.0, 0.0, 1.0, 0.0, 3) == 0.0
    assert stats.gap_in_se(1.0, 0.0, 0.5, 0.0, 3) == math.inf
    assert stats.gap_in_se(1.0, 1.0, 0.0, 1.0, 2) == pytest.approx(1.0)
    assert stats.agrees(2.0) and not stats.agrees(-2.01)
    assert stats.mean_std([1.0]) == (1.0, 0.0, 1)
