"""More theory draws for saved figures (experiments.figures.draws, ``onestep draws``) and the
engine's side of it: ``simulate(..., trial_indices=...)`` runs the trials of a full run, and a
run of the theory line alone sees the full run's trained layers, also on image pools.

Targets are checked against the rule written out here (numpy on the saved lists); the draws
against a full run of the same configuration.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types

import numpy as np
import pytest
from onestep_gm.experiments.cli.main import main
from onestep_gm.experiments.figures.draws import (
    SAFETY,
    add_theory_draws,
    draw_targets,
    theory_precision,
)
from onestep_gm.experiments.results import config_to_json
from onestep_gm.numerics.fashion import FashionSpec
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.result import Pair

from onestep_gm import SimulationConfig, simulate


def _image_folder(folder):
    """IDX files of 28 x 28 random images, labels 0, 1 alternating (an independent writer)."""
    import struct

    folder.mkdir()
    rng = np.random.default_rng(3)
    for stem, count in (("train", 200), ("t10k", 60)):
        images = rng.integers(0, 256, (count, 28, 28)).astype(np.uint8)
        labels = (np.arange(count) % 2).astype(np.uint8)
        for kind, arr, magic in (("images", images, 0x803), ("labels", labels, 0x801)):
            head = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape)
            (folder / f"{stem}-{kind}-idx{arr.ndim}-ubyte").write_bytes(head + arr.tobytes())
    return folder


@pytest.mark.slow  # two image-pool programs to compile (20-50 s); `onestep draws` checks trial 0 on every point it extends
def test_theory_alone_sees_the_full_runs_trained_layers_on_image_pools(tmp_path):
    """Image pools give each batch disjoint rows, so a trial's draws depend on how many test
    rows it takes; the theory line alone must still see the network's trained layers."""
    spec = FashionSpec(classes=(0, 1), data_dir=str(_image_folder(tmp_path / "images")))
    config = SimulationConfig(data=spec, k=5, m=12, trials=3, theory_trials=3, test_factor=2,
                              activations=("relu",), models=("nn", "theory"), order=3)  # fmt: skip
    full = simulate(config)
    alone = simulate(dataclasses.replace(config, models=("theory",)), trial_indices=[2, 0])
    for metric in ("gen", "train"):
        want = np.asarray(getattr(full, metric)[Pair("relu", "theory")])[[2, 0]]
        np.testing.assert_allclose(getattr(alone, metric)[Pair("relu", "theory")], want, rtol=1e-10)


# --- targets ----------------------------------------------------------------------------------


SMALL = SimulationConfig(data=MixtureSpec(n=30), k=20, m=25, trials=3, activations=("tanh",), models=("theory",))


def _point(nn, theory, config=SMALL, control=None):
    point = {"config": config_to_json(config), "info": {"theory_trials": len(theory)},
             "gen": {"relu|nn": list(nn), "relu|theory": list(theory)},
             "train": {"relu|nn": list(nn), "relu|theory": list(theory)}}  # fmt: skip
    if control:
        point["control"] = control
    return point


def _figure(name, points):
    return {"figure": name, "kind": "line", "metric": "gen", "points": points, "notes": []}


def test_targets_follow_the_break_even_rule():
    rng = np.random.default_rng(0)
    nn = 0.5 + 0.01 * rng.standard_normal(20)
    noisy = [0.50, 0.508, 0.492]  # theory spread 0.008 against markers' s.e. about 0.002
    quiet = [0.5, 0.5001, 0.4999]
    data = _figure("f", [_point(nn, noisy), _point(nn, quiet), _point(nn, noisy, control={"x": 1}),
                         _point([*nn[:-1], None], noisy)])  # fmt: skip
    found = draw_targets(data)
    ratio = np.std(noisy, ddof=1) / (np.std(nn, ddof=1) / math.sqrt(20))
    assert [t.point for t in found] == [0]  # quiet: below; control: own estimator; diverged nn
    assert found[0].have == 3
    assert found[0].target == math.ceil(SAFETY * ratio**2)
    assert found[0].ratio == pytest.approx(ratio / math.sqrt(3))
    assert draw_targets(data, max_draws=10)[0].target == 10
    assert theory_precision(data) == (1, 2)  # quiet below, noisy above; control and diverged left out


# --- adding draws (a fake engine: value of trial t known in closed form) -----------------------


def _value(t):
    return 0.5 + 0.03 * math.sin(3.0 * t + 1.0)


def _fake_simulate(calls):
    def run(config, trial_indices):
        calls.append((config.trials, config.models, list(trial_indices)))
        table = {Pair("relu", "theory"): np.array([_value(t) for t in trial_indices])}
        return types.SimpleNamespace(gen=table, train=table)

    return run


def test_draws_are_appended_to_every_figure_holding_the_point(tmp_path):
    nn = 0.5 + 0.002 * np.sin(np.arange(20))
    theory = [_value(t) for t in range(3)]
    for name in ("fa", "fb"):  # fb shares fa's point (as fig6 shares fig1a's)
        (tmp_path / f"{name}.json").write_text(json.dumps(_figure(name, [_point(nn, theory)])))
    calls = []
    done = add_theory_draws(tmp_path, ["fa"], simulate_fn=_fake_simulate(calls), max_draws=12)
    assert calls[0][1] == ("theory",) and calls[0][2][:2] == [0, 3]  # trial 0 first: the check
    assert [c[2] for c in calls] == [[0, 3, 4, 5, 6, 7, 8, 9, 10], [11]]
    assert done[-1].now == 12 and done[-1].figures == ("fa", "fb")
    for name in ("fa", "fb"):
        point = json.loads((tmp_path / f"{name}.json").read_text())["points"][0]
        assert point["gen"]["relu|theory"] == pytest.approx([_value(t) for t in range(12)], rel=1e-15)
        assert point["gen"]["relu|nn"] == pytest.approx(list(nn))
        assert point["info"]["theory_trials"] == 12


def test_a_trial_0_that_does_not_reproduce_is_refused_and_nothing_is_written(tmp_path):
    nn = 0.5 + 0.002 * np.sin(np.arange(20))
    theory = [_value(t) + (1e-6 if t == 0 else 0) for t in range(3)]
    path = tmp_path / "fa.json"
    path.write_text(json.dumps(_figure("fa", [_point(nn, theory)])))
    before = path.read_text()
    with pytest.raises(ValueError, match="does not reproduce its saved theory value"):
        add_theory_draws(tmp_path, ["fa"], simulate_fn=_fake_simulate([]))
    assert path.read_text() == before
    assert add_theory_draws(tmp_path, ["fa"], simulate_fn=_fake_simulate([]), budget_s=-1) == []


def test_cli_names_a_missing_figure_in_one_line(tmp_path, capsys):
    assert main(["draws", "fig1a", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no saved grid figure fig1a" in err[0]
