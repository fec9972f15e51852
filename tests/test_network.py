"""The one-step network and the ridge readout against autodiff and dense linear algebra."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from onestep_gm.numerics.network import (
    fit_readout,
    gradient_from_preactivations,
    init_network,
    one_step,
    readout_errors,
    ridge,
)


def _loss(F, w, X, y, sigma):
    k = F.shape[0]
    return 0.5 * jnp.mean((y - sigma(F @ X.T).T @ w / jnp.sqrt(k)) ** 2)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus"])
def test_gradient_step_is_minus_autodiff_gradient(act):
    from onestep_gm.numerics.codegen import jax_activation

    sigma, dsigma = jax_activation(act)
    key = jax.random.PRNGKey(3)
    F, w = init_network(key, 17, 11, 20.0)
    X = jax.random.normal(jax.random.PRNGKey(4), (13, 17))
    y = jnp.tanh(X[:, 0])
    G = gradient_from_preactivations(F @ X.T, w, X, y, sigma, dsigma)
    auto = jax.grad(_loss)(F, w, X, y, sigma)
    np.testing.assert_allclose(G, -auto, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(one_step(F, w, X, y, 2.5, sigma, dsigma), F - 2.5 * auto, rtol=1e-12)


def test_init_scales():
    F, w = init_network(jax.random.PRNGKey(0), 400, 300, 800.0)
    assert F.shape == (300, 400) and w.shape == (300,)
    # Var F_ij = 1/tau: 120000 draws, s.e. of the variance estimate ≈ sqrt(2/N)/tau
    assert abs(float(jnp.var(F)) * 800 - 1) < 4 * np.sqrt(2 / F.size)
    assert abs(float(jnp.var(w)) * 300 - 1) < 4 * np.sqrt(2 / w.size) * 3


@pytest.mark.parametrize("k,m", [(7, 20), (20, 7), (12, 12)])
def test_ridge_primal_and_dual_equal_dense_solution(k, m):
    rng = np.random.default_rng(k * 100 + m)
    Phi, y, lam = rng.standard_normal((k, m)), rng.standard_normal(m), 0.03
    expected = np.linalg.solve(Phi @ Phi.T + lam * m * np.eye(k), Phi @ y)
    np.testing.assert_allclose(ridge(jnp.asarray(Phi), jnp.asarray(y), lam), expected, rtol=1e-10)
    rows = ridge(jnp.asarray(Phi.T), jnp.asarray(y), lam, samples_major=True)
    np.testing.assert_allclose(rows, expected, rtol=1e-10)
    w_rows, train_rows = fit_readout(jnp.asarray(Phi.T), jnp.asarray(y), lam, samples_major=True)
    train = 0.5 * np.mean((y - Phi.T @ expected) ** 2) + 0.5 * lam * expected @ expected
    assert float(train_rows) == pytest.approx(train, rel=1e-10)


def test_ridge_minimises_the_training_objective():
    rng = np.random.default_rng(1)
    k, m, lam = 9, 15, 0.1
    Phi, y = rng.standard_normal((k, m)), rng.standard_normal(m)
    w_hat = np.asarray(ridge(jnp.asarray(Phi), jnp.asarray(y), lam))

    def objective(w):
        return 0.5 * np.mean((y - Phi.T @ w) ** 2) + 0.5 * lam * w @ w

    train, _ = readout_errors(jnp.asarray(Phi), jnp.asarray(y), jnp.asarray(Phi), jnp.asarray(y), lam)
    assert float(train) == pytest.approx(objective(w_hat), rel=1e-12)
    for _ in range(20):
        assert objective(w_hat + 1e-3 * rng.standard_normal(k)) > objective(w_hat)


def test_singular_dual_system_gives_non_finite():
    Phi = jnp.ones((5, 3))  # rank one, lambda 0, dual side 3x3 singular
    assert not np.all(np.isfinite(np.asarray(ridge(Phi, jnp.ones(3), 0.0))))
