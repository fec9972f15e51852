"""The engine against the naive implementation, reproducibility, caching and input checks."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import naive
import numpy as np
import pytest
from onestep_gm.experiments.results import simulate_cached
from onestep_gm.numerics.equivalents import entry_noise
from onestep_gm.numerics.mixture import MixtureSpec, covariance_trace, make_mixture
from onestep_gm.numerics.simulation import (
    SimulationConfig,
    resolve,
    setup_trial,
    simulate,
    trial_shape,
)
from onestep_gm.numerics.trial import (
    _TRIAL_CACHE,
    TrialParams,
    TrialShape,
    _Model,
    block_noise_key,
    draw_trial,
    model_keys,
)
from onestep_gm.numerics.trial import evaluate_trial as _evaluate_trial
from onestep_gm.theory.hermite import hermite_coefficients

ACTS = ("relu", "tanh", "sigmoid")


def evaluate_trial(draws, data, params, shape):
    """The trial's errors as ``{"act|model": (train, gen)}``."""
    out = _evaluate_trial(draws, data, TrialParams(**params), shape)
    return {
        f"{act}|{mdl}": (out.train[i, j], out.gen[i, j])
        for i, act in enumerate(shape.activations)
        for j, mdl in enumerate(shape.models)
    }


def _small_trial(k, m, n=40, T=2, order=5):
    spec = MixtureSpec(n=n, beta=0.74, alpha=0.5)
    mixture = make_mixture(spec, jax.random.PRNGKey(11))
    tau = float(covariance_trace(mixture))
    b = math.sqrt(n / tau)
    coeffs = [hermite_coefficients(a, f"{b:.15g}", order) for a in ACTS]
    params = {
        "eta": n ** 0.37, "lam": 1e-3, "tau": tau, "b": b,
        "h": np.stack([c.as_floats() for c in coeffs]), "h_star": np.array([float(c.h_star) for c in coeffs]),
    }  # fmt: skip
    shape = TrialShape(n=n, k=k, m=m, test_factor=T, activations=ACTS, models=("nn", "hermite"), order=order)
    draws = draw_trial(jax.random.PRNGKey(5), mixture, shape, tau)
    return mixture, params, shape, draws


@pytest.mark.parametrize("k,m", [(30, 25), (45, 20)])  # primal and dual readout
def test_engine_equals_naive_given_the_same_draws(k, m):
    mixture, params, shape, draws = _small_trial(k, m)
    b = params["b"]
    out = evaluate_trial(draws, mixture, params, shape)
    d = {key: np.asarray(v) for key, v in draws._asdict().items() if key != "model_key"}
    for i, act in enumerate(ACTS):
        keys = model_keys(draws.model_key, i)
        if k > m:  # the dual solve draws its features (and their noise) samples-major
            noise = np.asarray(entry_noise(block_noise_key(keys, 0, 0), (m, k)), float).T
        else:
            noise = np.asarray(entry_noise(block_noise_key(keys, 0, 0), (k, m)), float)
        for model in ("nn", "hermite"):
            herm = (params["h"][i], params["h_star"][i], b, noise, None)
            want = naive.one_model(
                act, model, d["F"], d["w"], d["X_tilde"], d["y_tilde"], d["X"], d["y"],
                d["X_test"], d["y_test"], params["eta"], params["lam"], herm if model == "hermite" else None,
            )  # fmt: skip
            got = [float(v) for v in out[f"{act}|{model}"]]
            np.testing.assert_allclose(got, want, rtol=1e-10, err_msg=f"{act}/{model}")


@pytest.mark.parametrize("model", ["hermite", "conditional"])
def test_integrated_test_noise_equals_the_mean_over_sampled_noise(model):
    """The engine averages the test features' noise exactly; sampling it must agree on average."""
    from onestep_gm.numerics.codegen import jax_moments
    from onestep_gm.numerics.equivalents import structure_basis
    from onestep_gm.numerics.trial import _expected_sse, _model_parts

    k, n, M, R = 8, 12, 5, 20000
    keys = jax.random.split(jax.random.PRNGKey(3), 5)
    F_hat = jax.random.normal(keys[0], (k, n)) / np.sqrt(n)
    X_b = jax.random.normal(keys[1], (M, n))
    y_b = jax.random.normal(keys[2], (M,))
    v = jax.random.normal(keys[3], (k,)) / np.sqrt(k)
    ctx = _Model(sigma=None, h=jnp.asarray([0.1, 0.5, 0.2, -0.1]), h_star=jnp.asarray(0.3), b=0.9,
                 keys=None, F_hat=F_hat, basis=structure_basis([jnp.eye(n)[:2]]),
                 moments=jax_moments("tanh"))  # fmt: skip
    pre = F_hat @ X_b.T
    mean, scale = _model_parts(model, pre, X_b, ctx)
    g = jax.random.normal(keys[4], (R, k, M))
    sampled = np.asarray(jnp.sum((y_b - jnp.einsum("k,rkm->rm", v, mean + scale * g)) ** 2, axis=1))
    exact = float(_expected_sse(model, pre, X_b, y_b, jnp.ones(M), v, ctx))
    assert abs(sampled.mean() - exact) < 4 * sampled.std() / np.sqrt(R)
    assert exact > float(jnp.sum((y_b - v @ mean) ** 2)) + 1e-3  # the noise term is not negligible here


def test_padded_test_blocks_give_the_same_errors(monkeypatch):
    """Streaming the test set in uneven blocks (the last padded, weight 0) changes nothing."""
    import onestep_gm.numerics.trial as sweep

    mixture, params, shape, draws = _small_trial(30, 25, T=2)
    whole = evaluate_trial(draws, mixture, params, shape)
    monkeypatch.setattr(sweep, "TEST_BLOCK_ENTRIES", 30 * 7)  # 50 samples -> 8 blocks of 7, 6 padded
    X_blocks, _, weights = sweep._test_blocks(draws.X_test, draws.y_test, 30)
    assert X_blocks.shape[:2] == (8, 7) and float(jnp.sum(weights)) == 50
    blocked = evaluate_trial(draws, mixture, params, shape)
    for key in whole:
        np.testing.assert_allclose(np.asarray(blocked[key]), np.asarray(whole[key]), rtol=1e-12, err_msg=key)


def test_dense_sampling_equals_structured_sampling():
    """x = μ + Σ^{1/2} z through a dense n×n root equals the engine's O(mnd) formula."""
    n = 30
    mixture = make_mixture(MixtureSpec(n=n, beta=0.9, alpha=0.2, spikes=2), jax.random.PRNGKey(1))
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, n))
    spikes, sizes = np.asarray(mixture.spikes[0]), np.asarray(mixture.sizes[0])
    root = naive.dense_sqrt_covariance(n, spikes, sizes)
    structured = z + ((z @ spikes.T) * (np.sqrt(1 + sizes) - 1)) @ spikes
    np.testing.assert_allclose(z @ root.T, structured, atol=1e-10)


SMALL = SimulationConfig(
    data=MixtureSpec(n=60, beta=0.74, alpha=0.5), k=50, m=40, trials=3, activations=("relu", "tanh"),
    models=("nn", "hermite", "conditional"),
)


def test_same_seed_same_numbers_and_prefix_property():
    a = simulate(SMALL)
    b = simulate(SMALL)
    more = simulate(dataclasses.replace(SMALL, trials=4))
    other = simulate(dataclasses.replace(SMALL, seed=1))
    for key in a.gen:
        np.testing.assert_array_equal(a.gen[key], b.gen[key])
        np.testing.assert_array_equal(a.gen[key], more.gen[key][:3])
        assert not np.array_equal(a.gen[key], other.gen[key])
        assert np.all(a.gen[key] > 0) and np.all(a.train[key] > 0)


def test_no_recompilation_across_a_sweep_of_traced_parameters():
    simulate(SMALL)
    n_before = len(_TRIAL_CACHE)
    fns = set()
    for alpha in (0.0, 0.3, 0.8):
        for lam in (1e-3, 1e-2):
            cfg = dataclasses.replace(SMALL, lam=lam, data=dataclasses.replace(SMALL.data, alpha=alpha))
            simulate(cfg)
    assert len(_TRIAL_CACHE) == n_before
    for fn in _TRIAL_CACHE.values():
        fns.add(fn._cache_size())
    assert max(fns) <= 2  # one compilation per distinct data pytree structure


def test_exact_test_errors_compile_once_for_closed_kernels_and_a_few_times_for_mehler():
    """The rule plan is a static argument of the jitted exact errors: fields a closed form does
    not use must not vary with the data, and an activation's Mehler series share one order from
    a ladder of about 1.5x steps.  Before both, 20 relu trials of this configuration compiled 16 programs."""
    from onestep_gm.numerics.simulation import _exact_errors_jit

    def programs(activations):
        before = _exact_errors_jit._cache_size()
        simulate(dataclasses.replace(SMALL, activations=activations, models=("nn", "hermite"), trials=20))
        return _exact_errors_jit._cache_size() - before

    assert programs(("relu",)) == 1
    assert programs(("tanh",)) <= 2


def test_a_beta_sweep_across_hermite_orders_compiles_one_trial():
    """The Hermite order fixes the number of coefficients; held in zero-padded slots
    (HERMITE_SLOTS), orders 2, 3, 4 and 5 share one trial program, which compiled four before.
    The padding changes no number: errors equal, bit for bit, those of a trial holding exactly
    l coefficients (the series adds 0 · He_j), and the exact Hermite moments agree to 1e-12."""
    from onestep_gm.numerics.exact import hermite_population_moments
    from onestep_gm.numerics.simulation import resolve, setup_trial, trial_shape
    from onestep_gm.numerics.trial import hermite_slots, make_trial, mixture_of

    assert [hermite_slots(l) for l in (1, 2, 5, 8, 9, 33, 40, 51)] == [8, 8, 8, 8, 16, 40, 40, 51]
    with pytest.raises(ValueError, match="order"):  # beta = 0.98 asks for order 51: one line, not StopIteration
        simulate(dataclasses.replace(SMALL, data=dataclasses.replace(SMALL.data, beta=0.98), trials=1))
    base = dataclasses.replace(SMALL, models=("nn", "hermite"), trials=1, test="sampled")
    before = len(_TRIAL_CACHE)
    for beta in (0.3, 0.6, 0.74, 0.77):  # orders 2, 3, 4, 5
        config = dataclasses.replace(base, data=dataclasses.replace(SMALL.data, beta=beta))
        resolved = resolve(config)
        setup = setup_trial(config, resolved, 0)
        shape = trial_shape(config, resolved, with_layers=True)
        out = make_trial(shape)(setup.key, setup.data, setup.params)
        l = resolved.order
        assert setup.params.h.shape[1] == 8 and np.all(np.asarray(setup.params.h[:, l:]) == 0)
        if beta == 0.74:
            params = setup.params._replace(h=setup.params.h[:, :l])
            ref = make_trial(dataclasses.replace(shape, order=l))(setup.key, setup.data, params)
            np.testing.assert_array_equal(np.asarray(out.gen), np.asarray(ref.gen))
            np.testing.assert_array_equal(np.asarray(out.train), np.asarray(ref.train))
            args = (out.F_hat[0], mixture_of(setup.data))
            h, h_star, b = setup.params.h[0], setup.params.h_star[:1], setup.params.b
            padded = hermite_population_moments(*args, h, h_star, b, orders=(8,))
            plain = hermite_population_moments(*args, h[:l], h_star, b, orders=(l,))
            for a, r in zip(padded, plain, strict=True):
                np.testing.assert_allclose(np.asarray(a), np.asarray(r), rtol=1e-12, atol=1e-15)
    assert len(_TRIAL_CACHE) - before == 2  # the slot-8 trial of all four orders, and the order-4 reference


def test_cache_resumes(tmp_path):
    first = simulate_cached(SMALL, cache_dir=tmp_path)
    files = list(tmp_path.glob("point-*.json"))
    assert len(files) == 1
    again = simulate_cached(SMALL, cache_dir=tmp_path)
    assert again.seconds == first.seconds  # read back, not recomputed
    for key in first.gen:
        np.testing.assert_array_equal(first.gen[key], again.gen[key])


def test_float32_products_agree_with_float64_on_the_same_draws():
    """The float64 trial is the one test_engine_equals_naive_given_the_same_draws[30-25] compiled."""
    mixture, params, shape, draws = _small_trial(30, 25)
    a = evaluate_trial(draws, mixture, params, shape)
    b = evaluate_trial(draws, mixture, params, dataclasses.replace(shape, dtype="float32"))
    for key in a:
        np.testing.assert_allclose(np.asarray(b[key]), np.asarray(a[key]), rtol=1e-4, err_msg=key)
        assert not np.allclose(np.asarray(b[key]), np.asarray(a[key]), rtol=1e-12, atol=0)  # float32 ran


def test_float32_engine_samples_the_same_distribution():
    """The float32 engine draws its own (float32) samples: same errors within the spread.
    relu only: its float64 program is the one test_exact_test_errors_compile_once_... compiled
    (the draws do not depend on the activation; float32 arithmetic for relu, tanh and sigmoid
    on the same draws: test_float32_products_agree_with_float64_on_the_same_draws)."""
    config = dataclasses.replace(SMALL, activations=("relu",), models=("nn", "hermite"), trials=40)
    a = simulate(config)
    b = simulate(dataclasses.replace(config, dtype="float32"))
    for key in a.gen:
        se = math.sqrt((np.var(a.gen[key]) + np.var(b.gen[key])) / config.trials)
        assert abs(np.mean(a.gen[key]) - np.mean(b.gen[key])) < 4 * se, key


@pytest.mark.parametrize(
    "change",
    [{"k": 0}, {"lam": -1.0}, {"trials": 0}, {"models": ("nn", "bogus")}, {"dtype": "float16"}, {"order": 0}],
)
def test_bad_parameters_raise_value_error(change):
    with pytest.raises(ValueError):
        simulate(dataclasses.replace(SMALL, **change))


def test_singular_solve_is_reported():
    cfg = dataclasses.replace(SMALL, lam=0.0, k=80, m=10, activations=("linear",), models=("nn",),
                              data=dataclasses.replace(SMALL.data, n=5))
    with pytest.raises(ValueError, match="singular"):
        simulate(cfg)


def test_serial_lapack_limits_and_restores_blas_threads():
    import scipy.linalg  # noqa: F401  (SciPy's OpenBLAS, which JAX's CPU LAPACK calls)
    from onestep_gm.numerics.simulation import serial_lapack
    from threadpoolctl import threadpool_info

    def blas_threads():
        return sorted(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")

    before = blas_threads()
    assert len(before) >= 1
    with serial_lapack():
        assert set(blas_threads()) == {1}
        with serial_lapack(serial=False):
            assert max(blas_threads()) == max(before)
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


# --- protocols -------------------------------------------------------------------------------


def _protocol_draws(protocol, trials=(0, 1)):
    config = SimulationConfig(
        data=MixtureSpec(n=30, beta=0.74, alpha=0.5, task="classification"), k=20, m=12,
        models=("nn",), protocol=protocol, test_factor=2, test="sampled",
    )  # fmt: skip
    resolved = resolve(config)
    shape = trial_shape(config, resolved)
    setups = [setup_trial(config, resolved, t) for t in trials]
    return [draw_trial(s.key, s.data, shape, s.tau, s.data_key) for s in setups], setups


def test_paper_protocol_shares_the_data_and_redraws_the_network():
    (a, b), setups = _protocol_draws("paper")
    for name in ("X_tilde", "y_tilde", "X", "y", "X_test", "y_test"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
    np.testing.assert_array_equal(np.asarray(setups[0].data.spikes), np.asarray(setups[1].data.spikes))
    assert not np.array_equal(np.asarray(a.F), np.asarray(b.F))
    assert not np.array_equal(np.asarray(a.w), np.asarray(b.w))
    for labels in (a.y_tilde, a.y):  # exactly m/2 per component in every batch
        assert int(np.sum(np.asarray(labels) > 0)) == 6
    assert int(np.sum(np.asarray(a.y_test) > 0)) == 12


def test_fresh_protocol_redraws_the_data():
    (a, b), setups = _protocol_draws("fresh")
    assert not np.array_equal(np.asarray(a.X_tilde), np.asarray(b.X_tilde))
    assert not np.array_equal(np.asarray(setups[0].data.spikes), np.asarray(setups[1].data.spikes))


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="protocol must be one of fresh, paper"):
        simulate(SimulationConfig(data=MixtureSpec(n=20), k=10, m=10, trials=1, protocol="notebook"))
