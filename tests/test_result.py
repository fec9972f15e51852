"""A simulated point's result: typed summaries, the JSON summary and the tidy frame."""

from __future__ import annotations

import numpy as np
import pytest
from onestep_gm.numerics.config import SimulationConfig
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.result import Pair, SimulationResult

INFO = {"n": 20, "k": 10, "m": 12, "lambda": 1e-4, "beta": 0.74, "alpha": 0.5, "theta": 2.0,
        "eta": 2.1, "tau": 22.0, "b": 0.95, "order": 4, "seed": 0, "test": "exact",
        "dtype": "float64", "protocol": "fresh", "convention": "1/2"}  # fmt: skip


@pytest.fixture
def result() -> SimulationResult:
    config = SimulationConfig(data=MixtureSpec(n=20), k=10, m=12, trials=2, activations=("relu",),
                              models=("nn", "theory"))  # fmt: skip
    train = {Pair("relu", "nn"): np.array([0.1, 0.3]), Pair("relu", "theory"): np.array([0.2])}
    gen = {Pair("relu", "nn"): np.array([1.0, 3.0]), Pair("relu", "theory"): np.array([np.inf])}
    return SimulationResult(config, train, gen, 1.5, INFO)


def test_summaries_are_typed_and_the_json_summary_keeps_its_shape(result):
    s = result.summaries()[Pair("relu", "nn")]
    assert s.gen_error.mean == 2.0 and s.gen_error.std == 1.0
    assert s.train_error == pytest.approx((0.2, 0.1))
    summary = result.summary()
    assert summary["activations"]["relu"]["nn"]["gen_error"] == {"mean": 2.0, "std": 1.0}
    assert np.isnan(summary["activations"]["relu"]["theory"]["gen_error"]["std"])  # inf: no spread
    assert summary["convention"] == "1/2" and summary["seconds"] == 1.5


def test_to_frame_has_one_row_per_trial_with_the_parameters(result):
    frame = result.to_frame()
    assert len(frame) == 3  # two network trials, one theory prediction
    assert list(frame.columns[:5]) == ["activation", "model", "trial", "train_error", "gen_error"]
    assert set(frame.model) == {"nn", "theory"} and (frame["lambda"] == 1e-4).all()
    assert (frame.data == "mixture").all() and frame.gen_error.dtype == np.float64
    assert frame.groupby("model").gen_error.mean()["nn"] == 2.0
