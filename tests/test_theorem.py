"""The theorem's figures: common-random-number order fits, the slope fit, tiny end-to-end runs."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from onestep_gm.experiments.figures import convergence, order, runner, theorem
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig, resolve, setup_trial, trial_shape
from onestep_gm.numerics.trial import make_order_fits, make_trial
from onestep_gm.theory.hermite import hermite_coefficients
from onestep_gm.theory.order import simulation_order

ROOT = Path(__file__).resolve().parents[1]


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


def test_theorem_order_is_the_staircase():
    assert [simulation_order(b) for b in (0.0, 0.3, 0.6, 0.7, 0.74, 0.77, 0.9)] == [2, 2, 3, 4, 4, 5, 11]
    assert all(abs(b - (l - 1) / l) > 1e-6 for b in order.ORDER_FULL.betas for l in range(2, 100))
    assert len(order.ORDER_FULL.betas) == 24


@pytest.mark.slow
def test_tiny_order_and_convergence_runs(tmp_path):
    """Both figures run end to end at toy sizes and write their files; gaps are finite."""
    spec = order.OrderSpec(n_values=(40,), betas=(0.3, 0.8), trials=2, orders=(2, 3, 4))
    data = order.run_order(spec, cache_dir=tmp_path / ".cache")
    resumed = order.run_order(spec, cache_dir=tmp_path / ".cache")
    assert resumed["results"] == data["results"]
    data["quick"] = True
    table = order.order_table(data)
    assert table[("relu", 40)].shape == (2, 3) and np.all(np.isfinite(table[("relu", 40)]))
    paths = order.order_run(data).save(tmp_path)
    assert json.loads(paths["json"].read_text())["name"] == "order" and paths["png"].stat().st_size > 0
    conv = convergence.ConvergenceSpec(n_values=(40, 60), points=((0.3, 0.5),), trials=2)
    data = convergence.run_convergence(conv)
    rows = convergence.convergence_table(data)
    assert {r["model"] for r in rows} == {"hermite", "conditional", "theory"}
    assert convergence.convergence_run(data).save(tmp_path)["md"].read_text().startswith("# Convergence")


def test_sizes_override_reaches_the_spec(monkeypatch):
    """``n_values`` (``onestep figure … --sizes``) replaces the figure's sizes and nothing else."""
    seen = {}
    monkeypatch.setattr(convergence, "run_convergence", lambda spec, **_: seen.setdefault("conv", spec) and {})
    monkeypatch.setattr(order, "run_order", lambda spec, **_: seen.setdefault("order", spec) and {})
    runner.run_figure("convergence", sizes=(2000, 250))
    runner.run_figure("order", quick=True, sizes=(64,), trials=3)
    assert seen["conv"] == dataclasses.replace(convergence.CONVERGENCE_FULL, n_values=(2000, 250))
    assert seen["order"] == dataclasses.replace(order.ORDER_QUICK, n_values=(64,), trials=3)


def test_run_time_sums_the_points_seconds_per_n():
    """A re-drawn convergence run reports its points' simulation time, not its own 0 s; old
    outputs without ``seconds_per_n`` get it from the per-point seconds."""
    results = {"0.74|0.5|250": {"seconds": 10.0}, "0.3|0.5|250": {"seconds": 2.5},
               "0.74|0.5|500": {"seconds": 40.0}, "0.3|0.5|500": {"seconds": 1.0}}  # fmt: skip
    text = theorem.run_time({"name": "convergence", "seconds": 0.01, "results": results})
    assert "Run time 0 s" in text and "n = 250: 12 s, n = 500: 41 s" in text
    order = {"1000|0.3": {"seconds": 5.0}, "1000|0.6": {"seconds": 6.0}, "2000|0.3": {"seconds": 30.0}}
    assert "n = 1000: 11 s, n = 2000: 30 s" in theorem.run_time({"name": "order", "seconds": 1.0, "results": order})


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

    monkeypatch.setattr(convergence, "simulate_cached", fake_simulate)
    small = convergence.ConvergenceSpec(n_values=(40,), points=((0.3, 0.5),), trials=2)
    saved = json.loads(json.dumps(convergence.run_convergence(small)))
    saved["results"]["0.3|0.5|40"]["gen"]["relu|nn"] = [7.0, 7.0]  # marks the saved point
    calls.clear()
    data = convergence.run_convergence(dataclasses.replace(small, n_values=(40, 60)), reuse=saved)
    assert calls == [60]
    assert data["reused"] == ["0.3|0.5|40"] and data["results"]["0.3|0.5|40"]["gen"]["relu|nn"] == [7.0, 7.0]
    assert data["results"]["0.3|0.5|60"]["gen"]["relu|nn"] == [62.0, 62.0]
    assert "1 of 2 points were taken from a saved run" in theorem.run_time(data)
    with pytest.raises(ValueError, match="trials = 2, this run with 3"):
        convergence.run_convergence(dataclasses.replace(small, trials=3), reuse=saved)
    with pytest.raises(ValueError, match="holds no order figure"):
        order.run_order(order.ORDER_QUICK, reuse=saved)
    good = saved["results"]["0.3|0.5|40"]
    gen = good["gen"]
    broken_points = [  # (point, what the message names)
        ({"seconds": 1.0}, "lacks gen, seconds"), ({"seconds": "x", "gen": {}}, "seconds must be a number"),
        ({**good, "seconds": 1e400}, "seconds must be a number"), ({**good, "seconds": -1.0}, "seconds"),
        ({**good, "gen": {**gen, "relu|nn": [1.0]}}, "gen relu|nn must be a list of 2 entries (got 1"),
        ({**good, "gen": {**gen, "relu|nn": [1.0] * 6}}, "got 6 entries"),
        ({**good, "gen": {**gen, "relu|nn": []}}, "got 0 entries"),
        ({**good, "gen": {**gen, "relu|nn": [[1.0, 2.0], [1.0, 2.0]]}}, "holds [1.0, 2.0]"),
        ({**good, "gen": {**gen, "relu|nn": [1.0, -2.0]}}, "holds -2.0"),
        ({**good, "gen": {**gen, "relu|nn": [1.0, float("nan")]}}, "holds nan"),
        ({**good, "gen": {k: v for k, v in gen.items() if k != "tanh|hermite"}}, "gen lacks tanh|hermite"),
    ]  # fmt: skip
    for broken, named in broken_points:
        saved["results"]["0.3|0.5|40"] = broken
        with pytest.raises(ValueError, match=re.escape("point 0.3|0.5|40") + ".*" + re.escape(named)):
            convergence.run_convergence(small, reuse=saved)
    saved["results"]["0.3|0.5|40"] = {**good, "gen": {**gen, "relu|nn": [None, 1.0]}}  # a singular solve
    assert convergence.run_convergence(small, reuse=saved)["reused"] == ["0.3|0.5|40"]
    with pytest.raises(ValueError, match="has no settings"):
        convergence.run_convergence(small, reuse={**saved, "spec": []})


def test_reuse_of_an_order_figure_simulates_only_the_new_points(monkeypatch):
    calls = []

    def fake_point(n, beta, spec):
        calls.append((n, beta))
        A, L = len(spec.activations), len(spec.orders)
        return {"nn": [[n] * spec.trials] * A, "hermite": [[[beta] * spec.trials] * L] * A, "seconds": 1.0}

    monkeypatch.setattr(order, "order_point", fake_point)
    spec = order.OrderSpec(n_values=(40,), betas=(0.3, 0.8), trials=2, orders=(2, 3))
    saved = json.loads(json.dumps(order.run_order(spec)))
    for bad in ([[7.0]], [[7.0, 7.0]], [[7.0, 7.0], [7.0, float("inf")]]):  # shapes (A, T), finite values
        with pytest.raises(ValueError, match=re.escape("point 40|0.3: nn")):
            order.run_order(spec, reuse={**saved, "results": {**saved["results"], "40|0.3": {
                **saved["results"]["40|0.3"], "nn": bad}}})  # fmt: skip
    saved["results"]["40|0.3"]["nn"] = [[7.0, 7.0], [7.0, 7.0]]
    calls.clear()
    data = order.run_order(dataclasses.replace(spec, n_values=(40, 60)), reuse=saved)
    assert calls == [(60, 0.3), (60, 0.8)]
    assert data["results"]["40|0.3"]["nn"] == [[7.0, 7.0], [7.0, 7.0]] and data["reused"] == ["40|0.3", "40|0.8"]


def test_theorem_figures_give_tidy_frames(monkeypatch):
    """The order diagram's frame: one row per (n, β) × activation × model (nn, Hermite at each
    order) × trial; the convergence study's: per (β, α, n) × activation × model × trial."""

    def fake_point(n, beta, spec):
        A, L = len(spec.activations), len(spec.orders)
        return {"nn": [[1.0, 2.0]] * A, "hermite": [[[0.5, 0.25]] * L] * A, "seconds": 1.0}

    monkeypatch.setattr(order, "order_point", fake_point)
    spec = order.OrderSpec(n_values=(40,), betas=(0.3, 0.8), trials=2, orders=(2, 3))
    frame = order.order_run(order.run_order(spec)).to_frame()
    assert len(frame) == 2 * 2 * (1 + 2) * 2
    assert frame[frame.model == "hermite"]["order"].tolist()[:2] == [2, 2]
    saved = {"name": "convergence", "spec": dataclasses.asdict(convergence.CONVERGENCE_QUICK), "seconds": 0.0,
             "results": {"0.3|0.5|100": {"gen": {"relu|nn": [1.0, 2.0], "relu|hermite": [1.5, 2.5]},
                                         "seconds": 1.0, "order": 2}},
             "convention": "½ MSE"}  # fmt: skip
    frame = convergence.convergence_run(saved).to_frame()
    assert frame[["beta", "alpha", "n", "model", "trial"]].values.tolist()[1] == [0.3, 0.5, 100, "nn", 1]
    assert len(frame) == 4


def test_convergence_figure_has_one_legend_outside_large_panels():
    """One legend for all panels, above them (none inside a panel), and panels wide enough to
    read: each panel over 700 px wide at the figures' resolution (the picture about 2000 px)."""
    from onestep_gm.experiments.figures.plots import DPI

    data = json.loads((ROOT / "docs" / "figures" / "theorem" / "convergence-quick.json").read_text())
    fig = convergence.draw_convergence(data)
    fig.canvas.draw()
    axes = fig.get_axes()
    assert len(axes) == len(data["spec"]["points"]) * len(data["spec"]["activations"])
    assert all(ax.get_legend() is None for ax in axes)
    assert len(fig.legends) == 1
    legend_box = fig.legends[0].get_window_extent()
    for ax in axes:
        box = ax.get_window_extent()
        assert box.width * DPI / fig.dpi > 700
        assert legend_box.y0 >= box.y1 - 1  # above every panel, never over one
    assert fig.get_figwidth() * DPI > 1800
