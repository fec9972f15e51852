"""The training MSE without ½ and penalty (Cui et al.'s training error), beside the paper's errors.

Checked against what it must equal: at λ = 0 with fewer neurons than samples the penalty
vanishes, so ``train_mse == 2 * train_error`` exactly; with λ > 0 the network's value agrees with
the deterministic equivalent's ``train_mse`` (:func:`onestep_gm.ridge_equivalent`, an independent
route through the population moments) to the theory's accuracy; and it survives a save/load.
"""

import numpy as np
import pytest
from onestep_gm.experiments.results import result_from_json, result_to_json

import onestep_gm as og

SMALL = dict(k=40, m=120, trials=2, activations=("tanh",), seed=3)


def _data(**kw):
    return og.MixtureSpec(n=60, weights=(1.0,), spikes=0, teacher="tanh", **kw)


def test_no_penalty_means_twice_the_train_error():
    result = og.simulate(og.SimulationConfig(data=_data(), lam=0.0, models=("nn", "hermite"), **SMALL))
    for pair, mse in result.train_mse.items():
        np.testing.assert_allclose(mse, 2 * result.train[pair], rtol=1e-12)


@pytest.fixture(scope="module")
def penalised():
    config = og.SimulationConfig(data=_data(), lam=1e-2, models=("nn", "theory"), theory_trials=2, **SMALL)
    return og.simulate(config)


def test_penalty_removed_and_close_to_the_equivalent(penalised):
    nn = penalised.train_mse[og.Pair("tanh", "nn")]
    theory = penalised.train_mse[og.Pair("tanh", "theory")]
    assert np.all(nn < 2 * penalised.train[og.Pair("tanh", "nn")])  # the penalty is positive
    # the deterministic equivalent of the same trained layers: agreement to its O(1/sqrt(n)) accuracy
    np.testing.assert_allclose(nn.mean(), theory.mean(), rtol=0.15)


def test_frame_and_json_carry_it(penalised):
    frame = penalised.to_frame()
    assert "train_mse" in frame.columns
    nn = frame[frame.model == "nn"].train_mse.to_numpy()
    np.testing.assert_array_equal(nn, penalised.train_mse[og.Pair("tanh", "nn")])
    back = result_from_json(result_to_json(penalised), config=penalised.config)
    for pair, values in penalised.train_mse.items():
        np.testing.assert_array_equal(back.train_mse[pair], values)
