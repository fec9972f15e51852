"""The theorem's figures: common-random-number order fits, the slope fit, tiny end-to-end runs."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import jax.numpy as jnp
import numpy as np
import pytest
from onestep_gm.experiments import theorem
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig, resolve, setup_trial, trial_shape
from onestep_gm.numerics.trial import make_order_fits, make_trial
from onestep_gm.theory.hermite import hermite_coefficients


def test_order_fits_equal_the_trials_readouts_at_each_order():
    """Row l of make_order_fits is the readout simulate fits with order=l on the same trial
    (same F̂, batch and noise), and row 0 the network's: the orders share their draws."""
    base = SimulationConfig(data=MixtureSpec(n=40), k=30, m=25, activations=("relu", "tanh"),
                            models=("nn", "hermite"), order=5, test="exact")
    orders = (2, 3, 5)
    resolved = resolve(base)
    setup = setup_trial(base, resolved, 0)
    coeffs = [hermite_coefficients(a, f"{setup.b:.15g}", 5) for a in resolved.activations]
    h_stars = jnp.asarray([[float(c.h_star_at(l)) for l in orders] for c in coeffs])
    F_hats, w_hats = make_order_fits(trial_shape(base, resolved), orders)(setup.key, setup.data, setup.params, h_stars)
    for o, l in enumerate(orders):
        config = dataclasses.replace(base, order=l)
        res = resolve(config)
        s = setup_trial(config, res, 0)
        out = make_trial(trial_shape(config, res))(s.key, s.data, s.params)
        np.testing.assert_allclose(np.asarray(out.F_hat), np.asarray(F_hats), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(out.w_hat[:, 1]), np.asarray(w_hats[:, 1 + o]), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(np.asarray(out.w_hat[:, 0]), np.asarray(w_hats[:, 0]), rtol=1e-8, atol=1e-10)


def test_fit_slope_recovers_a_power_law():
    """Gaps c·n^-0.5 with 5% errors give slope -0.5 inside the 95% interval; gaps within 2 SE of 0
    are left out."""
    rng = np.random.default_rng(0)
    ns = np.array([250, 500, 1000, 2000, 4000.0])
    g = 0.3 * ns**-0.5 * (1 + 0.05 * rng.standard_normal(5))
    fit = theorem.fit_slope(ns, g, 0.05 * np.abs(g))
    assert fit["points"] == 5 and abs(fit["slope"] + 0.5) < fit["ci"] + 1e-12 and fit["ci"] < 0.2
    assert theorem.fit_slope(ns, [1e-3, 1e-4, 1e-3, 1e-4, 1e-3], [1.0] * 5)["points"] == 0


def test_order_gap_and_its_standard_error_by_hand():
    nn = np.array([[1.0, 1.0, 1.0, 1.0]])
    herm = np.array([[[0.9, 1.1, 1.0, 1.0], [0.8, 0.8, 0.8, 0.8]]])
    np.testing.assert_allclose(theorem.order_gap(nn, herm), [[0.0, 0.2]], atol=1e-15)
    np.testing.assert_allclose(theorem.order_gap_se(nn, herm), [[math.sqrt(0.02 / 3) / 2, 0.0]], atol=1e-15)
    assert np.isnan(theorem.order_gap_se(nn[:, :1], herm[:, :, :1])).all()


def test_rms_gap_and_its_standard_error_by_hand():
    """d = (0.1, -0.1, 0, 0): mean gap 0 (unresolved) but RMS sqrt(0.005), SE by the delta
    method sd(d^2)/sqrt(4)/(2 RMS)."""
    nn, other = np.ones(4), np.array([0.9, 1.1, 1.0, 1.0])
    rms, se = theorem.rms_stats(nn, other)
    assert theorem.gap_stats(nn, other)[0] == pytest.approx(0.0, abs=1e-15)
    assert rms == pytest.approx(math.sqrt(0.005), rel=1e-12)
    assert se == pytest.approx(math.sqrt(1e-4 / 3) / 2 / (2 * math.sqrt(0.005)), rel=1e-9)
    assert all(math.isnan(v) for v in theorem.rms_stats(nn[:1], other[:1]))


def test_theorem_order_is_the_staircase():
    assert [theorem.theorem_order(b) for b in (0.0, 0.3, 0.6, 0.7, 0.74, 0.77, 0.9)] == [2, 2, 3, 4, 4, 5, 11]
    assert all(abs(b - (l - 1) / l) > 1e-6 for b in theorem.ORDER_FULL.betas for l in range(2, 100))
    assert len(theorem.ORDER_FULL.betas) == 24


@pytest.mark.slow
def test_tiny_order_and_convergence_runs(tmp_path):
    """Both figures run end to end at toy sizes and write their files; gaps are finite."""
    spec = theorem.OrderSpec(n_values=(40,), betas=(0.3, 0.8), trials=2, orders=(2, 3, 4))
    data = theorem.run_order(spec, cache_dir=tmp_path / ".cache")
    resumed = theorem.run_order(spec, cache_dir=tmp_path / ".cache")
    assert resumed["results"] == data["results"]
    data["quick"] = True
    table = theorem.order_table(data)
    assert table[("relu", 40)].shape == (2, 3) and np.all(np.isfinite(table[("relu", 40)]))
    paths = theorem.write_theorem_outputs(data, tmp_path)
    assert json.loads(paths["json"].read_text())["name"] == "order" and paths["png"].stat().st_size > 0
    conv = theorem.ConvergenceSpec(n_values=(40, 60), points=((0.3, 0.5),), trials=2)
    data = theorem.run_convergence(conv)
    rows = theorem.convergence_table(data)
    assert {r["model"] for r in rows} == {"hermite", "conditional", "theory"}
    assert theorem.write_theorem_outputs(data, tmp_path)["md"].read_text().startswith("# Convergence")


def test_sizes_override_reaches_the_spec(monkeypatch):
    """``n_values`` (``onestep figure … --sizes``) replaces the figure's sizes and nothing else."""
    seen = {}
    monkeypatch.setattr(theorem, "run_convergence", lambda spec, **_: seen.setdefault("conv", spec) and {})
    monkeypatch.setattr(theorem, "run_order", lambda spec, **_: seen.setdefault("order", spec) and {})
    theorem.run_theorem_figure("convergence", n_values=[2000, 250])
    theorem.run_theorem_figure("order", quick=True, n_values=(64,), trials=3)
    assert seen["conv"] == dataclasses.replace(theorem.CONVERGENCE_FULL, n_values=(2000, 250))
    assert seen["order"] == dataclasses.replace(theorem.ORDER_QUICK, n_values=(64,), trials=3)


def test_run_time_sums_the_points_seconds_per_n():
    """A re-drawn convergence run reports its points' simulation time, not its own 0 s; old
    outputs without ``seconds_per_n`` get it from the per-point seconds."""
    results = {"0.74|0.5|250": {"seconds": 10.0}, "0.3|0.5|250": {"seconds": 2.5},
               "0.74|0.5|500": {"seconds": 40.0}, "0.3|0.5|500": {"seconds": 1.0}}  # fmt: skip
    text = theorem._run_time({"name": "convergence", "seconds": 0.01, "results": results})
    assert "Run time 0 s" in text and "n = 250: 12 s, n = 500: 41 s" in text
    order = {"1000|0.3": {"seconds": 5.0}, "1000|0.6": {"seconds": 6.0}, "2000|0.3": {"seconds": 30.0}}
    assert "n = 1000: 11 s, n = 2000: 30 s" in theorem._run_time({"name": "order", "seconds": 1.0, "results": order})


def test_reuse_takes_saved_points_and_refuses_other_settings(monkeypatch):
    """``--reuse``: the points of a saved run with the same settings are taken as saved (not
    simulated again, listed under "reused"), the new sizes are simulated, and a saved run of
    other settings or of the other figure is refused with the field named."""
    calls = []

    class FakeResult:
        def __init__(self, config):
            n = config.data.n
            self.gen = {(a, m): np.full(config.trials, n + len(m)) for a in config.activations for m in config.models}
            self.seconds, self.info = float(n), {"order": 4}

    def fake_simulate(config, cache_dir=None):
        calls.append(config.data.n)
        return FakeResult(config)

    monkeypatch.setattr(theorem, "simulate_cached", fake_simulate)
    small = theorem.ConvergenceSpec(n_values=(40,), points=((0.3, 0.5),), trials=2)
    saved = json.loads(json.dumps(theorem.run_convergence(small)))
    saved["results"]["0.3|0.5|40"]["gen"]["relu|nn"] = [7.0, 7.0]  # marks the saved point
    calls.clear()
    data = theorem.run_convergence(dataclasses.replace(small, n_values=(40, 60)), reuse=saved)
    assert calls == [60]
    assert data["reused"] == ["0.3|0.5|40"] and data["results"]["0.3|0.5|40"]["gen"]["relu|nn"] == [7.0, 7.0]
    assert data["results"]["0.3|0.5|60"]["gen"]["relu|nn"] == [62.0, 62.0]
    assert "1 of 2 points were taken from a saved run" in theorem._run_time(data)
    with pytest.raises(ValueError, match="trials = 2, this run with 3"):
        theorem.run_convergence(dataclasses.replace(small, trials=3), reuse=saved)
    with pytest.raises(ValueError, match="holds no order figure"):
        theorem.run_order(theorem.ORDER_QUICK, reuse=saved)
    for broken in ({"seconds": 1.0}, {"seconds": "x", "gen": {}}, {"seconds": 1.0, "gen": {"relu|nn": [1.0]}}):
        saved["results"]["0.3|0.5|40"] = broken
        with pytest.raises(ValueError, match=re.escape("point 0.3|0.5|40 lacks gen, seconds")):
            theorem.run_convergence(small, reuse=saved)
    with pytest.raises(ValueError, match="has no settings"):
        theorem.run_convergence(small, reuse={**saved, "spec": []})


def test_reuse_of_an_order_figure_simulates_only_the_new_points(monkeypatch):
    calls = []

    def fake_point(n, beta, spec):
        calls.append((n, beta))
        return {"nn": [[n]], "hermite": [[[beta]]], "seconds": 1.0}

    monkeypatch.setattr(theorem, "order_point", fake_point)
    spec = theorem.OrderSpec(n_values=(40,), betas=(0.3, 0.8), trials=2, orders=(2, 3))
    saved = json.loads(json.dumps(theorem.run_order(spec)))
    saved["results"]["40|0.3"]["nn"] = [[7.0]]
    calls.clear()
    data = theorem.run_order(dataclasses.replace(spec, n_values=(40, 60)), reuse=saved)
    assert calls == [(60, 0.3), (60, 0.8)]
    assert data["results"]["40|0.3"]["nn"] == [[7.0]] and data["reused"] == ["40|0.3", "40|0.8"]
