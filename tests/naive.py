"""The straightforward way: an independent NumPy implementation used as a yardstick.

It follows DESIGN.md literally and shares nothing with :mod:`numerics`: every model
recomputes every product (``F X̃ᵀ``, the gradient, ``F̂ Xᵀ``, ``F̂ X_testᵀ``), the readout
always solves the k×k primal system, data are drawn through a dense ``Σ_c^{1/2}``
(n×n, by eigendecomposition), and Hermite coefficients come from 100-node
Gauss–Hermite quadrature as in the paper's notebooks (unless exact ones are passed).
Used by ``onestep bench`` for timing and by the tests for agreement to 1e-10 given the
same random draws.
"""

from __future__ import annotations

import math

import numpy as np

SIGMAS = {
    "relu": (lambda u: np.maximum(u, 0.0), lambda u: (u > 0).astype(float)),
    "tanh": (np.tanh, lambda u: 1.0 - np.tanh(u) ** 2),
    "sigmoid": (
        lambda u: 1.0 / (1.0 + np.exp(-u)),
        lambda u: np.exp(-u) / (1.0 + np.exp(-u)) ** 2,
    ),
}


def dense_sqrt_covariance(n: int, spikes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Σ^{1/2} for Σ = I + Σ_i θ_i γ_i γ_iᵀ, formed densely (n×n) by eigendecomposition."""
    sigma = np.eye(n) + (spikes.T * sizes) @ spikes
    vals, vecs = np.linalg.eigh(sigma)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def sample_dense(z: np.ndarray, comp: np.ndarray, means: np.ndarray, sqrt_covs: list[np.ndarray]):
    """x = μ_c + Σ_c^{1/2} z for standard normal rows ``z`` and component labels ``comp``."""
    X = np.empty_like(z)
    for c, root in enumerate(sqrt_covs):
        rows = comp == c
        X[rows] = means[c] + z[rows] @ root.T
    return X


def hermite_quadrature(sigma, b: float, order: int, nodes: int = 100):
    """h_j = E[σ(bz) He_j(z)] and h_star by ``nodes``-point Gauss–Hermite (the paper's way)."""
    z, wts = np.polynomial.hermite_e.hermegauss(nodes)
    wts = wts / math.sqrt(2 * math.pi)
    vals = sigma(b * z)
    h = [float(np.sum(wts * vals * np.polynomial.hermite_e.hermeval(z, [0] * j + [1]))) for j in range(order)]
    second = float(np.sum(wts * vals**2))
    rest = second - sum(hj**2 / math.factorial(j) for j, hj in enumerate(h))
    return np.array(h), math.sqrt(max(rest, 0.0))


def hermite_activation(u: np.ndarray, h: np.ndarray, h_star: float, b: float, noise: np.ndarray):
    """Σ_j h_j/j! He_j(u/b) + h_star·g with He_j from numpy's HermiteE series."""
    coef = np.array([hj / math.factorial(j) for j, hj in enumerate(h)])
    return np.polynomial.hermite_e.hermeval(u / b, coef) + h_star * noise


def primal_ridge_errors(Phi, y, Phi_test, y_test, lam, test_noise_var=0.0):
    """Train and test errors; ``test_noise_var`` is the variance of i.i.d. noise added to every
    test feature entry, averaged exactly (``Phi_test`` then holds the noiseless features)."""
    k, m = Phi.shape
    w_hat = np.linalg.solve(Phi @ Phi.T + lam * m * np.eye(k), Phi @ y)
    train = 0.5 * np.mean((y - Phi.T @ w_hat) ** 2) + 0.5 * lam * np.sum(w_hat**2)
    gen = 0.5 * np.mean((y_test - Phi_test.T @ w_hat) ** 2) + 0.5 * test_noise_var * np.sum(w_hat**2)
    return train, gen


def one_model(act, model, F, w, X_tilde, y_tilde, X, y, X_test, y_test, eta, lam, hermite=None):
    """Errors of one (activation, model) pair, recomputing every product from scratch.

    ``hermite = (h, h_star, b, noise, noise_test)``; ``noise_test=None`` averages the test
    features' noise exactly instead of sampling it.
    """
    sigma, dsigma = SIGMAS[act]
    k, m = F.shape[0], X_tilde.shape[0]
    pre_tilde = F @ X_tilde.T
    residual = y_tilde - w @ sigma(pre_tilde) / math.sqrt(k)
    G = ((w[:, None] / math.sqrt(k)) * residual[None, :] * dsigma(pre_tilde)) @ X_tilde / m
    F_hat = F + eta * G
    pre, pre_test = F_hat @ X.T, F_hat @ X_test.T
    test_noise_var = 0.0
    if model == "nn":
        Phi, Phi_test = sigma(pre), sigma(pre_test)
    else:
        h, h_star, b, noise, noise_test = hermite
        Phi = hermite_activation(pre, h, h_star, b, noise)
        if noise_test is None:  # the test noise averaged exactly, as the engine does
            Phi_test, test_noise_var = hermite_activation(pre_test, h, 0.0, b, 0.0), h_star**2 / k
        else:
            Phi_test = hermite_activation(pre_test, h, h_star, b, noise_test)
    return primal_ridge_errors(Phi / math.sqrt(k), y, Phi_test / math.sqrt(k), y_test, lam, test_noise_var)


def naive_trial(rng: np.random.Generator, n, k, m, theta, eta, lam, order, activations=("relu", "tanh", "sigmoid"), test_factor=5):
    """One full trial, the straightforward way (for timing): C = 2, ρ = ½, d = 1, equal trace."""
    g1 = rng.standard_normal(n)
    g1 /= np.linalg.norm(g1)
    g2 = rng.standard_normal(n)
    g2 -= (g2 @ g1) * g1
    g2 /= np.linalg.norm(g2)
    spikes = [g1[None, :], g2[None, :]]
    roots = [dense_sqrt_covariance(n, s, np.array([theta])) for s in spikes]
    means = np.zeros((2, n))
    tau = n + theta
    sigma_bar_norm = 1.0 + theta / 2
    xi = rng.standard_normal(n)
    xi *= 1.0 / (np.linalg.norm(xi) * math.sqrt(sigma_bar_norm))
    b = math.sqrt(n / tau)

    def batch(size):
        comp = rng.integers(0, 2, size)
        X = sample_dense(rng.standard_normal((size, n)), comp, means, roots)
        return X, np.maximum(X @ xi, 0.0)

    X_tilde, y_tilde = batch(m)
    X, y = batch(m)
    X_test, y_test = batch(test_factor * m)
    F = rng.standard_normal((k, n)) / math.sqrt(tau)
    w = rng.standard_normal(k) / math.sqrt(k)
    out = {}
    for act in activations:
        h, h_star = hermite_quadrature(SIGMAS[act][0], b, order)
        noise = (rng.standard_normal((k, m)), rng.standard_normal((k, test_factor * m)))
        for model in ("nn", "hermite"):
            herm = (h, h_star, b, *noise) if model == "hermite" else None
            out[(act, model)] = one_model(
                act, model, F, w, X_tilde, y_tilde, X, y, X_test, y_test, eta, lam, herm
            )
    return out
