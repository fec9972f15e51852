"""Exact test errors: the Hermite model's population kernel against Isserlis (SymPy) and mpmath,
the quadratic form against Monte-Carlo, and ``test="exact"`` against sampled test errors."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from onestep_gm.numerics.equivalents import hermite_features
from onestep_gm.numerics.exact import generalisation_error, hermite_population_moments
from onestep_gm.numerics.mixture import MixtureSpec, make_mixture, sample_mixture
from onestep_gm.numerics.population import population_moments
from onestep_gm.numerics.simulation import SimulationConfig, simulate
from onestep_gm.theory import kernels
from onestep_gm.theory.activations import X
from onestep_gm.theory.hermite import hermite_coefficients

ORDERS = (2, 3, 5)
B = 1.1


def _setup(task="regression", mean_norm=1.5, n=40, k=4, seed=0):
    mixture = make_mixture(MixtureSpec(n=n, beta=0.7, alpha=0.3, task=task, mean_norm=mean_norm), seed)
    F = 1.3 * jax.random.normal(jax.random.PRNGKey(seed + 1), (k, n)) / math.sqrt(n)
    coeffs = hermite_coefficients("tanh", str(B), max(ORDERS))
    h = jnp.asarray(coeffs.as_floats())
    h_star = jnp.asarray([float(coeffs.h_star_at(l)) for l in ORDERS])
    return mixture, F, h, h_star


def _explicit_law(F, mixture, c):
    """Mean and covariance of (Fx, xi.x) in component c from the n×n covariance itself."""
    F, xi = np.asarray(F), np.asarray(mixture.xi)
    n = F.shape[1]
    spikes, sizes = np.asarray(mixture.spikes[c]), np.asarray(mixture.sizes[c])
    Sigma = np.eye(n) + (spikes.T * sizes) @ spikes
    A = np.vstack([F, xi])
    return A @ np.asarray(mixture.means[c]), A @ Sigma @ A.T


def _polynomial(h, l):
    return sum(sp.Float(float(h[j]), 30) / math.factorial(j) * sp.hermite_prob(j, X / sp.Float(B, 30)) for j in range(l))


def test_hermite_kernel_matches_isserlis():
    """Ω from the finite Mehler sum equals the Isserlis kernel (SymPy's MGF moments) to 1e-9
    relative, with non-zero means, at every order."""
    mixture, F, h, h_star = _setup(k=3)
    Omega, _, _ = hermite_population_moments(F, mixture, h, h_star, B, orders=ORDERS)
    k = F.shape[0]
    weights = np.asarray(mixture.weights)
    for o, l in enumerate(ORDERS):
        p = _polynomial(h, l)
        kernel = sp.lambdify((kernels.M1, kernels.M2, kernels.Q1, kernels.Q2, kernels.C), kernels.polynomial_kernel(p))
        ref = np.zeros((k, k))
        for c in range(len(weights)):
            mean, cov = _explicit_law(F, mixture, c)
            for i in range(k):
                for j in range(k):
                    ref[i, j] += weights[c] * kernel(mean[i], mean[j], cov[i, i], cov[j, j], cov[i, j])
        ref += float(h_star[o]) ** 2 * np.eye(k)
        np.testing.assert_allclose(np.asarray(Omega[o]) * k, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_hermite_teacher_cross_term_matches_mpmath():
    """u = E[p_l(a) ReLU(t)]/√k and s_y against nested mpmath integrals (about 40 s per
    integral on a loaded 2-core machine: slow), with non-zero means, at the highest order."""
    mixture, F, h, h_star = _setup(k=2)
    _, u, s_y = hermite_population_moments(F, mixture, h, h_star, B, orders=ORDERS)
    k = F.shape[0]
    weights = np.asarray(mixture.weights)
    relu = sp.Max(X, 0)
    p = _polynomial(h, max(ORDERS))
    ref_u = np.zeros(k)
    ref_sy = 0.0
    for c in range(len(weights)):
        mean, cov = _explicit_law(F, mixture, c)
        for i in range(k):
            ref_u[i] += weights[c] * float(kernels.bivariate_mp(p, relu, mean[i], mean[k], cov[i, i], cov[k, k], cov[i, k], dps=16))
        ref_sy += weights[c] * float(kernels.mean_mp(relu**2, mean[k], cov[k, k]))
    np.testing.assert_allclose(np.asarray(u[-1]) * math.sqrt(k), ref_u, rtol=1e-8, atol=1e-12)
    assert float(s_y) == pytest.approx(ref_sy, rel=1e-10)


def test_hermite_kernel_classification_mean():
    """Classification: u = Σ_c ρ_c y_c E_c p_l(a) (the Isserlis mean), s_y = 1."""
    mixture, F, h, h_star = _setup(task="classification", mean_norm=1.0)
    Omega, u, s_y = hermite_population_moments(F, mixture, h, h_star, B, orders=(3,))
    p = _polynomial(h, 3)
    mean_fn = sp.lambdify((kernels.M1, kernels.Q1), kernels.polynomial_kernel(p, sp.Integer(1)))
    ref = np.zeros(F.shape[0])
    for c, label in ((0, 1.0), (1, -1.0)):
        mean, cov = _explicit_law(F, mixture, c)
        ref += 0.5 * label * np.array([mean_fn(mean[i], cov[i, i]) for i in range(F.shape[0])])
    np.testing.assert_allclose(np.asarray(u[0]) * math.sqrt(F.shape[0]), ref, rtol=1e-10)
    assert float(s_y) == 1.0


@pytest.mark.parametrize("model", ["nn", "hermite"])
def test_generalisation_error_matches_monte_carlo(model):
    """½(s_y − 2wᵀu + wᵀΩw) against the mean of ½(y − wᵀφ/√k)² over 400 000 fresh samples
    (Hermite features with their noise drawn), within 4 standard errors."""
    mixture, F, h, h_star = _setup(n=60, k=12, mean_norm=0.0)
    k = F.shape[0]
    w = jax.random.normal(jax.random.PRNGKey(7), (k,)) * 0.6
    if model == "nn":
        moments = population_moments(F, mixture, "relu")[:3]
    else:
        O, u, s = hermite_population_moments(F, mixture, h, h_star[1:2], B, orders=(3,))
        moments = (O[0], u[0], s)
    exact = float(generalisation_error(w, *moments))
    losses = []
    for block in range(8):
        X_b, y_b, _ = sample_mixture(mixture, jax.random.PRNGKey(100 + block), 50_000)
        pre = F @ X_b.T
        if model == "nn":
            phi = jnp.maximum(pre, 0.0)
        else:
            phi = hermite_features(pre, h[:3], h_star[1], B, jax.random.PRNGKey(200 + block))
        losses.append(0.5 * (y_b - w @ phi / math.sqrt(k)) ** 2)
    losses = np.concatenate([np.asarray(v) for v in losses])
    se = losses.std() / math.sqrt(losses.size)
    assert abs(exact - losses.mean()) < 4 * se, (exact, losses.mean(), se)


def test_exact_and_sampled_test_errors_agree_on_the_same_trials():
    """Paired trials (same draws: the conditional model keeps test samples in both runs): the
    exact error equals the sampled one within the sampling error of 100m test samples.  The
    standard error of a mean of ½r² is estimated as √2·E/√(samples) (Gaussian residuals) and
    the tolerance is 5 of them, ~5% here; the sampled errors differ from the exact ones."""
    config = SimulationConfig(data=MixtureSpec(n=100), k=100, m=100, activations=("relu", "tanh"),
                              models=("nn", "hermite", "conditional"), trials=3, test_factor=100)
    exact = simulate(dataclasses.replace(config, test="exact"))
    sampled = simulate(dataclasses.replace(config, test="sampled"))
    assert exact.info["test"] == "exact" and sampled.info["test"] == "sampled"
    samples = config.test_factor * config.m
    assert sampled.info["test_samples"] == samples
    for pair, values in exact.gen.items():
        other = sampled.gen[pair]
        if pair.model == "conditional":
            np.testing.assert_array_equal(values, other)
            continue
        np.testing.assert_array_equal(exact.train[pair], sampled.train[pair])
        se = math.sqrt(2) * values / math.sqrt(samples)
        assert np.all(np.abs(values - other) < 5 * se), (pair, values, other)
        assert np.all(values != other)


def test_exact_test_draws_no_test_samples():
    """Without the conditional model no test sample is drawn (info reports 0).  The network
    alone: the default models' Hermite and theory programs add compilation, not a check.  A
    sampled run's count (test_factor · m) is checked in the test above (its own programs)."""
    config = SimulationConfig(data=MixtureSpec(n=60), k=50, m=40, activations=("relu",), models=("nn",), trials=1)
    assert simulate(config).info["test_samples"] == 0


def test_test_option_is_validated():
    from onestep_gm.numerics.fashion import FashionSpec
    from onestep_gm.numerics.simulation import validate

    with pytest.raises(ValueError, match="exact or sampled"):
        validate(SimulationConfig(test="both"))
    with pytest.raises(ValueError, match="Fashion-MNIST"):
        validate(SimulationConfig(data=FashionSpec(), test="exact"))
