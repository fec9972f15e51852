"""Hermite and conditional Gaussian feature maps against mpmath, closed forms and Monte-Carlo."""

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from onestep_gm.numerics.equivalents import (
    conditional_features,
    hermite_features,
    structure_basis,
    top_right_singular_vectors,
)
from onestep_gm.numerics.quadrature import hermite_series


def _mp_series(t, h):
    """Σ h_j/j! He_j(t) with mpmath at 50 digits (He_j from mpmath's physicists' H_j)."""
    with mpmath.workdps(50):
        t = mpmath.mpf(t)
        total = mpmath.mpf(0)
        for j, hj in enumerate(h):
            he = mpmath.hermite(j, t / mpmath.sqrt(2)) / mpmath.mpf(2) ** (mpmath.mpf(j) / 2)
            total += mpmath.mpf(hj) / mpmath.factorial(j) * he
        return total


@pytest.mark.parametrize("order", [6, 9, 12])
def test_hermite_series_matches_mpmath_at_high_order(order):
    rng = np.random.default_rng(order)
    h = rng.standard_normal(order)
    t = np.array([-40.0, -7.5, -1.0, 0.0, 0.3, 2.0, 9.0, 60.0])
    got = np.asarray(hermite_series(jnp.asarray(t), jnp.asarray(h)))
    want = np.array([float(_mp_series(v, h)) for v in t])
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_hermite_features_reproduce_a_polynomial_activation_exactly():
    from onestep_gm.theory.hermite import hermite_coefficients

    b = 0.8
    c = hermite_coefficients("x**3 - 2*x + 0.5", b, 5)  # degree 3 < L = 5
    assert float(c.h_star) == pytest.approx(0.0, abs=1e-12)
    u = jax.random.normal(jax.random.PRNGKey(0), (6, 50)) * 3
    got = hermite_features(u, jnp.asarray(c.as_floats()), jnp.asarray(0.0), jnp.asarray(b), jax.random.PRNGKey(1))
    np.testing.assert_allclose(got, u**3 - 2 * u + 0.5, rtol=1e-11, atol=1e-11)


def test_h_star_noise_has_the_right_variance():
    u = jnp.zeros((200, 500))
    feats = hermite_features(u, jnp.asarray([0.0]), jnp.asarray(0.7), jnp.asarray(1.0), jax.random.PRNGKey(2))
    var = float(jnp.var(feats))
    se = 0.49 * math.sqrt(2 / feats.size)
    assert abs(var - 0.49) < 4 * se
    assert abs(float(jnp.mean(feats))) < 4 * 0.7 / math.sqrt(feats.size)


def test_top_singular_vectors_match_svd():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    V, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    s = np.array([50.0, 20.0] + [1.0 / (i + 1) for i in range(38)])
    G = (U * s) @ V[:, :40].T
    Q = np.asarray(top_right_singular_vectors(jnp.asarray(G), 2, jax.random.PRNGKey(0)))
    P_true = V[:, :2] @ V[:, :2].T
    np.testing.assert_allclose(Q @ Q.T, P_true, atol=1e-9)


def test_conditional_features_match_network_moments_monte_carlo():
    """Mean, variance and cross-neuron covariance of the features within 4 standard errors."""
    from onestep_gm.numerics.codegen import jax_activation, jax_moments

    n, k, N = 120, 3, 60000
    key = jax.random.PRNGKey(7)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    gamma = jax.random.normal(k1, (n,))
    gamma = gamma / jnp.linalg.norm(gamma)
    theta = 4.0
    z = jax.random.normal(k2, (N, n))
    X = z + (jnp.sqrt(1 + theta) - 1) * (z @ gamma)[:, None] * gamma[None, :] + 0.5 * gamma
    # neurons with a large component along the spike and an O(1) bulk
    F_hat = jax.random.normal(k3, (k, n)) / jnp.sqrt(n) + jnp.array([1.0, -0.5, 0.2])[:, None] * gamma
    sigma, _ = jax_activation("tanh")
    pre = F_hat @ X.T
    net = np.asarray(sigma(pre))
    basis = structure_basis([gamma[None, :]])
    cond = np.asarray(conditional_features(pre, F_hat, X, basis, jax_moments("tanh"), k4))
    for stat in (lambda f: f.mean(axis=1), lambda f: (f**2).mean(axis=1), lambda f: (f[0] * f[1]).mean()[None]):
        a, b = stat(net), stat(cond)
        per_sample = [stat(net[:, i : i + 1]) for i in range(0, 2000)]
        se = np.std(np.array(per_sample), axis=0) / math.sqrt(N) * math.sqrt(2)
        assert np.all(np.abs(a - b) < 4 * se + 1e-12), (a, b, se)
