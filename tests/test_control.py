"""The control-variate estimate of a theory line (fig2c): the estimator against least squares
written out here and against its own sampling distribution, the control against a dense
eigenvalue, the saved figure's line against its markers."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from onestep_gm.experiments.figures.catalogue import FIGURES
from onestep_gm.experiments.figures.control import (
    CONTROLS,
    QUICK_DRAWS,
    SignalScale,
    control_record,
    controlled_estimate,
)
from onestep_gm.experiments.figures.runner import run_figure
from onestep_gm.experiments.stats import control_variate_mean
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.precision import x64
from onestep_gm.numerics.result import SimulationResult
from onestep_gm.numerics.simulation import SimulationConfig, resolve, setup_trial, trial_data

ROOT = Path(__file__).resolve().parents[1]


# --- the estimator ---------------------------------------------------------------------------


def test_estimate_is_the_least_squares_line_at_the_control_mean():
    rng = np.random.default_rng(3)
    g = rng.uniform(size=12)
    y = 0.2 + 0.5 * g + 0.05 * rng.standard_normal(12)
    mu = 0.47
    # y = c0 + c1 (g - mu): c0 is the line at g = mu, its variance s^2 [(X^T X)^-1]_00
    X = np.column_stack([np.ones_like(g), g - mu])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    s2 = np.sum((y - X @ coef) ** 2) / (len(y) - 2)
    se = math.sqrt(s2 * np.linalg.inv(X.T @ X)[0, 0])
    mean, got_se = control_variate_mean(y, g, mu)
    assert mean == pytest.approx(coef[0], rel=1e-12)
    assert got_se == pytest.approx(se, rel=1e-10)
    # an estimated control mean adds b^2 se(mu)^2
    _, wider = control_variate_mean(y, g, mu, 0.01)
    assert wider == pytest.approx(math.sqrt(se**2 + (coef[1] * 0.01) ** 2), rel=1e-10)


def test_estimate_is_unbiased_and_its_standard_error_honest():
    """4000 replications of 12 draws, y = 0.3 + 0.8 g + 0.05 eps with g ~ U(0, 1), so E y = 0.7:
    the estimates centre on it, their spread matches the reported s.e., and it is far below the
    plain mean's (sd(y)/sqrt(12) with sd(y)^2 = 0.8^2/12 + 0.05^2)."""
    rng = np.random.default_rng(0)
    est, ses = [], []
    for _ in range(4000):
        g = rng.uniform(size=12)
        mean, se = control_variate_mean(0.3 + 0.8 * g + 0.05 * rng.standard_normal(12), g, 0.5)
        est.append(mean)
        ses.append(se)
    est = np.asarray(est)
    spread = est.std(ddof=1)
    assert abs(est.mean() - 0.7) < 4 * spread / math.sqrt(len(est))
    assert np.sqrt(np.mean(np.square(ses))) == pytest.approx(spread, rel=0.1)
    assert spread < 0.3 * math.sqrt((0.8**2 / 12 + 0.05**2) / 12)


@pytest.mark.parametrize(
    ("y", "g", "match"),
    [([1.0, 2.0], [0.0, 1.0], "T >= 3"), ([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], "same on every draw"),
     ([1.0, 2.0, 3.0], [0.0, 1.0], "T >= 3")],
)  # fmt: skip
def test_estimate_refuses_what_it_cannot_use(y, g, match):
    with pytest.raises(ValueError, match=match):
        control_variate_mean(y, g, 0.5)


# --- the control -----------------------------------------------------------------------------


def _config(**data) -> SimulationConfig:
    spec = MixtureSpec(n=40, spikes=3, spike_sizes="uniform", **data)
    return SimulationConfig(data=spec, k=20, m=30, trials=3, activations=("relu",), models=("nn",))


def test_signal_scale_is_one_over_the_dense_top_eigenvalue():
    """g = 1/||Sigma_bar||_2 with Sigma_bar = I + sum_c rho_c sum_i theta_ci gamma gamma^T built
    as a dense n x n matrix here, at alignment 0 and 0.6."""
    for alignment in (0.0, 0.6):
        config = _config(alignment=alignment)
        for t in (0, 1, 7):
            with x64():
                mix = trial_data(config, t)
                spikes, sizes, w = (np.asarray(a, float) for a in (mix.spikes, mix.sizes, mix.weights))
            dense = np.eye(40) + sum(w[c] * sizes[c, i] * np.outer(spikes[c, i], spikes[c, i])
                                     for c in range(len(w)) for i in range(spikes.shape[1]))  # fmt: skip
            assert SignalScale().value(config, t) == pytest.approx(1 / np.linalg.eigvalsh(dense)[-1], rel=1e-12)
    assert CONTROLS["signal_scale"] == SignalScale()


def test_trial_data_is_what_the_trial_draws():
    config = _config()
    with x64():
        resolved = resolve(config)
        for t in (0, 2):
            assert np.array_equal(setup_trial(config, resolved, t).data.sizes, trial_data(config, t).sizes)
        assert not np.array_equal(trial_data(config, 0).sizes, trial_data(config, 1).sizes)
        paper = dataclasses.replace(config, protocol="paper")
        assert np.array_equal(trial_data(paper, 0).sizes, trial_data(paper, 5).sizes)


def test_record_holds_the_theory_draws_and_a_mean_from_unrun_trials():
    config = _config()
    record = control_record(SignalScale(), config, trials=4, draws=50)
    assert record["values"] == [SignalScale().value(config, t) for t in range(4)]
    assert record["model"] == "theory" and record["draws"] == 50
    # sizes theta*U: the mean of g lies between its extremes 1/(1 + theta/2) and 1
    assert 1 / (1 + config.data.spike_size() / 2) < record["mean"] < 1
    assert 0 < record["mean_se"] < 0.05


def test_controlled_estimate_reads_a_saved_point():
    g = [0.2, 0.4, 0.5, 0.9, 0.3]
    y = [1.2, 1.4, None, 1.9, 1.31]
    point = {"gen": {"relu|theory": y, "relu|nn": [1.0] * 20},
             "control": {"name": "signal_scale", "model": "theory", "values": g, "mean": 0.5,
                         "mean_se": 0.001, "draws": 100}}  # fmt: skip
    mean, se, draws = controlled_estimate(point, "relu", "theory")
    keep = [0, 1, 3, 4]  # the diverged draw leaves with its control value
    assert (mean, se) == control_variate_mean([y[i] for i in keep], [g[i] for i in keep], 0.5, 0.001)
    assert draws == 4
    assert controlled_estimate(point, "relu", "nn") is None
    point["gen"]["relu|theory"] = [1.2, None, None, 1.9, None]
    assert controlled_estimate(point, "relu", "theory") is None  # fewer than 3 draws: the plain mean
    assert controlled_estimate({"gen": point["gen"]}, "relu", "theory") is None


# --- a figure with a control -----------------------------------------------------------------


def _fake_simulate(config, *, progress=False, cache_dir=None):
    gen = {(a, m): 0.1 + 0.001 * np.arange(config.trials) for a in config.activations for m in config.models}
    return SimulationResult(config=config, train=gen, gen=gen, seconds=0.0, info={"n": config.data.n})


def test_a_quick_fig2c_saves_its_control_and_reports_the_estimate():
    run = run_figure("fig2c", quick=True, simulate_fn=_fake_simulate)
    data = run.data()
    spec = FIGURES["fig2c"]
    for point, config in zip(data["points"], run.configs, strict=True):
        record = point["control"]
        assert record["draws"] == QUICK_DRAWS and len(record["values"]) == spec.quick.trials
        assert record["values"][1] == SignalScale().value(config, 1)
    assert "control-variate" in run.report()


def test_published_fig2c_line_is_more_precise_than_its_markers():
    """The saved full-size fig2c: at every point and activation the theory line's s.e. (control
    variate over 12 draws) is below the network's (100 trials), and within 2 s.e. of it."""
    data = json.loads((ROOT / "docs/paper-full/fig2c.json").read_text())
    for point in data["points"]:
        for act in ("relu", "tanh", "sigmoid"):
            nn = np.asarray(point["gen"][f"{act}|nn"], float)
            se_nn = nn.std(ddof=1) / math.sqrt(nn.size)
            mean, se, draws = controlled_estimate(point, act, "theory")
            assert draws == 12 and se < se_nn
            assert abs(nn.mean() - mean) <= 2 * math.hypot(se, se_nn)
