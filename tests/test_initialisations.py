"""Initialisations (Gaussian or unit rows, Gaussian or constant readout), the step's own batch
size and the isotropic corner: against closed forms, an independent NumPy gradient and the naive
oracle (issue 25, item 2)."""

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import naive
import numpy as np
import pytest
from onestep_gm.experiments.cli import main
from onestep_gm.experiments.cli.main import build_parser
from onestep_gm.numerics.equivalents import entry_noise
from onestep_gm.numerics.memory import trial_bytes
from onestep_gm.numerics.mixture import MixtureSpec, covariance_trace, make_mixture
from onestep_gm.numerics.network import FIRST_LAYERS, READOUT_INITS, init_network
from onestep_gm.numerics.simulation import SimulationConfig, resolve, simulate, trial_shape
from onestep_gm.numerics.trial import (
    TrialParams,
    TrialShape,
    block_noise_key,
    draw_trial,
    evaluate_trial,
    model_keys,
    trained_layers,
)
from onestep_gm.theory.hermite import hermite_coefficients

ISOTROPIC = MixtureSpec(n=40, weights=(1.0,), spikes=0)


def test_constant_readout_is_one_over_root_k():
    _, w = init_network(jax.random.PRNGKey(0), 9, 37, 9.0, readout_init="constant")
    assert w.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(w), np.full(37, 1 / math.sqrt(37)))


def test_unit_rows_have_norm_one_and_are_uniform_on_the_sphere():
    n, k = 30, 4000
    F, _ = init_network(jax.random.PRNGKey(1), n, k, 123.0, first_layer="unit-rows")
    F = np.asarray(F)
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0, rtol=0, atol=1e-12)
    # uniform on S^{n-1}: E F_i = 0 and E F_i F_i^T = I/n (each entry's s.e. below)
    assert np.max(np.abs(F.mean(axis=0))) < 5 / math.sqrt(n * k)
    second = F.T @ F / k
    assert np.max(np.abs(second - np.eye(n) / n)) < 6 * math.sqrt(2 / k) / n


def test_default_initialisation_is_the_papers_draw_bit_for_bit():
    key, n, k, tau = jax.random.PRNGKey(7), 13, 11, 17.5
    F, w = init_network(key, n, k, tau)
    key_F, key_w = jax.random.split(key)
    np.testing.assert_array_equal(F, jax.random.normal(key_F, (k, n)) / math.sqrt(tau))
    np.testing.assert_array_equal(w, jax.random.normal(key_w, (k,)) / math.sqrt(k))
    both = init_network(key, n, k, tau, first_layer="gaussian", readout_init="gaussian")
    np.testing.assert_array_equal(both[0], F)


def test_tables_and_cli_choices_agree():
    sub = next(a for a in build_parser()._subparsers._group_actions[0].choices["simulate"]._actions
               if a.dest == "readout_init")
    assert tuple(sub.choices) == tuple(READOUT_INITS)
    sub = next(a for a in build_parser()._subparsers._group_actions[0].choices["simulate"]._actions
               if a.dest == "first_layer")
    assert tuple(sub.choices) == tuple(FIRST_LAYERS)


def _numpy_gradient(F, w, X, y):
    k, m = F.shape[0], X.shape[0]
    pre = F @ X.T
    residual = y - np.tanh(pre).T @ w / math.sqrt(k)
    return ((w[:, None] / math.sqrt(k)) * residual[None, :] * (1 - np.tanh(pre) ** 2)) @ X / m


def _params(n, b, tau, eta=3.0, lam=1e-3, order=4, acts=("tanh",)):
    coeffs = [hermite_coefficients(a, f"{b:.15g}", order) for a in acts]
    return TrialParams(eta=eta, lam=lam, tau=tau, b=b, h=np.stack([c.as_floats() for c in coeffs]),
                       h_star=np.array([float(c.h_star) for c in coeffs]))  # fmt: skip


@pytest.mark.parametrize("k,m", [(30, 25), (45, 20)])  # primal and dual readout
def test_step_batch_of_its_own_size_against_numpy_and_the_naive_oracle(k, m):
    n, m_step, T = 40, 11, 2
    mixture = make_mixture(ISOTROPIC, jax.random.PRNGKey(3))
    tau = float(covariance_trace(mixture))
    shape = TrialShape(n=n, k=k, m=m, test_factor=T, activations=("tanh",), models=("nn", "hermite"), order=4,
                       first_layer="unit-rows", readout_init="constant", m_step=m_step)  # fmt: skip
    draws = draw_trial(jax.random.PRNGKey(5), mixture, shape, tau)
    d = {key: np.asarray(v) for key, v in draws._asdict().items() if key != "model_key"}
    assert d["X_tilde"].shape == (m_step, n) and d["X"].shape == (m, n) and d["X_test"].shape == (T * m, n)
    assert len({d["X_tilde"][0, 0], d["X"][0, 0], d["X_test"][0, 0]}) == 3  # three different batches
    np.testing.assert_allclose(np.linalg.norm(d["F"], axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(d["w"], np.full(k, 1 / math.sqrt(k)))
    [(G, F_hat)] = trained_layers(draws, shape, 3.0)
    want = _numpy_gradient(d["F"], d["w"], d["X_tilde"], d["y_tilde"])
    np.testing.assert_allclose(np.asarray(G), want, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(np.asarray(F_hat), d["F"] + 3.0 * want, rtol=1e-11, atol=1e-14)
    params = _params(n, 1.0, tau)
    out = evaluate_trial(draws, mixture, params, shape)
    keys = model_keys(draws.model_key, 0)
    rows = k > m
    noise = np.asarray(entry_noise(block_noise_key(keys, 0, 0), (m, k) if rows else (k, m)), float)
    noise = noise.T if rows else noise
    for j, model in enumerate(("nn", "hermite")):
        herm = (params.h[0], params.h_star[0], 1.0, noise, None)
        want = naive.one_model("tanh", model, d["F"], d["w"], d["X_tilde"], d["y_tilde"], d["X"], d["y"],
                               d["X_test"], d["y_test"], 3.0, 1e-3, herm if model == "hermite" else None)  # fmt: skip
        np.testing.assert_allclose([float(out.train[0, j]), float(out.gen[0, j])], want, rtol=1e-10, err_msg=model)


SMALL = SimulationConfig(data=MixtureSpec(n=40), k=30, m=30, trials=2, activations=("tanh",), models=("nn", "hermite"))


def test_m_step_equal_to_m_is_the_default_shape():
    resolved = resolve(SMALL)
    assert trial_shape(dataclasses.replace(SMALL, m_step=30), resolved) == trial_shape(SMALL, resolved)
    assert trial_shape(dataclasses.replace(SMALL, m_step=12), resolved).step_rows == 12


@pytest.mark.parametrize(
    "change,field",
    [({"readout_init": "uniform"}, "readout_init"), ({"first_layer": "orthogonal"}, "first_layer"),
     ({"m_step": 0}, "m_step"), ({"m_step": 2.5}, "m_step")],
)  # fmt: skip
def test_unknown_options_are_refused_naming_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        simulate(dataclasses.replace(SMALL, **change))


@pytest.mark.parametrize("change", [{"readout_init": "uniform"}, {"first_layer": "orthogonal"}])
def test_init_network_refuses_unknown_initialisations(change):
    with pytest.raises(ValueError, match=next(iter(change))):
        init_network(jax.random.PRNGKey(0), 3, 2, 3.0, **change)


def test_memory_estimate_counts_the_step_batch():
    base = trial_bytes(n=100, k=50, m=80)
    assert trial_bytes(n=100, k=50, m=80, m_step=80) == base
    assert trial_bytes(n=100, k=50, m=80, m_step=180) == base + 100 * (100 + 50) * 8


def test_isotropic_corner_runs_every_model_with_unit_rows_and_constant_readout():
    config = dataclasses.replace(SMALL, data=ISOTROPIC, models=("nn", "hermite", "conditional", "theory"),
                                 readout_init="constant", first_layer="unit-rows", m_step=20, eta=30.0,
                                 theory_trials=1)  # fmt: skip
    result = simulate(config)
    info = result.info
    assert info["tau"] == 40 and info["b"] == 1.0 and info["eta"] == 30.0 and info["m_step"] == 20
    assert info["readout_init"] == "constant" and info["first_layer"] == "unit-rows"
    assert any("theta is not used" in note for note in info["notes"])
    for pair, values in result.gen.items():
        assert np.all(np.isfinite(values)) and np.all(values > 0), pair
    # the theory line predicts the network's exact test error given F_hat, so they are close
    nn, theory = result.gen[("tanh", "nn")][0], result.gen[("tanh", "theory")][0]
    assert abs(theory / nn - 1) < 0.5


def test_gaussian_first_layer_keeps_the_papers_bulk_scale():
    # the network alone: b is the step's scale, the Hermite model only adds compilation
    config = dataclasses.replace(SMALL, trials=1, models=("nn",))
    info = simulate(config).info
    assert info["b"] == pytest.approx(math.sqrt(40 / info["tau"]), rel=1e-15)
    assert simulate(dataclasses.replace(config, first_layer="unit-rows")).info["b"] == 1.0


CLI = ["simulate", "--n", "40", "--k", "30", "--m", "30", "--trials", "1", "--activation", "tanh"]


def test_one_component_with_a_mean_is_shifted_by_it():
    mixture = make_mixture(dataclasses.replace(ISOTROPIC, mean_norm=0.5), 4)
    assert mixture.means.shape == (1, 40) and float(jnp.linalg.norm(mixture.means[0])) == pytest.approx(0.5, rel=1e-14)
    assert mixture.spikes.shape == (1, 0, 40) and float(jnp.linalg.norm(mixture.xi)) == pytest.approx(1.0, rel=1e-14)


def test_cli_isotropic_corner_with_every_option(capsys):
    argv = [*CLI, "--components", "1", "--spikes", "0", "--mean-norm", "0.5", "--readout-init", "constant",
            "--first-layer", "unit-rows", "--m-step", "20", "--eta", "30", "--model", "nn,hermite,theory", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    params = out["parameters"]
    assert params["readout_init"] == "constant" and params["first_layer"] == "unit-rows" and params["m_step"] == 20
    assert params["data"]["mean_norm"] == 0.5 and params["data"]["spikes"] == 0 and params["data"]["weights"] == [1.0]


@pytest.mark.parametrize(
    "bad", [["--readout-init", "uniform"], ["--first-layer", "ortho"], ["--m-step", "0"], ["--spikes", "-1"],
            ["--mean-norm", "-1"]],
)  # fmt: skip
def test_cli_refuses_bad_options_in_one_line(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main([*CLI, *bad]))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
