r"""A lean NumPy trial of the paper's protocol: the baseline ``onestep bench`` times the engine against.

What a careful researcher writes without a framework: float64 NumPy, no JIT, the network only.
Two components with one spike each (:math:`\theta = n^{\beta(1-\alpha)}`, equal weights),
:math:`x = z + (\sqrt{1+\theta}-1)(\gamma^\top z)\gamma`, teacher :math:`y = \mathrm{ReLU}(\xi^\top x)`
with :math:`\|\xi\| = 1/\sqrt{\|\bar\Sigma\|}`, :math:`F \sim N(0, 1/\tau)`, :math:`\tau = n+\theta`,
:math:`w \sim N(0, 1/k)`, one gradient step of size :math:`\eta = n^{\beta\alpha}` on a separate
batch, ridge on a second batch of :math:`m` samples, generalisation error
:math:`\tfrac12\,\mathrm{mean}(y-\hat y)^2` on ``test_factor``·m fresh samples.  It shares
:math:`F\tilde X^\top` between activations and solves the ridge system on the smaller side,
as anyone tuning a script would, with NumPy's own LAPACK: SciPy's Cholesky runs on SciPy's
copy of OpenBLAS, whose threads then compete with NumPy's for the cores, which made this trial
markedly slower than the shared yardstick (the numbers are on the Performance page of the docs).
"""

from __future__ import annotations

import math
import time

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


ACTIVATIONS = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
}


def baseline_trial(
    rng: np.random.Generator, n: int, k: int, m: int, beta: float = 0.74, alpha: float = 0.5,
    lam: float = 1e-4, test_factor: int = 5, activations=("relu", "tanh", "sigmoid"),
) -> dict[str, float]:  # fmt: skip
    """One trial; the generalisation error of the network per activation.

    Parameters
    ----------
    rng : numpy.random.Generator
        The trial's random numbers.
    n, k, m : int
        Input dimension, hidden neurons, samples per batch.
    beta, alpha, lam : float
        Strength, weight and ridge penalty.
    test_factor : int
        Fresh test samples in units of ``m``.
    activations : sequence of str
        Names from :data:`ACTIVATIONS`.

    Returns
    -------
    dict
        ``{activation: generalisation error}`` in the ½ convention.
    """
    theta, eta = n ** (beta * (1 - alpha)), n ** (beta * alpha)
    tau = n + theta
    gammas = np.linalg.qr(rng.standard_normal((n, 2)))[0].T  # two orthonormal spikes
    norm = 1.0 + 0.5 * theta  # ||Sigma_bar||: orthogonal spikes of size theta, weights 1/2
    xi = rng.standard_normal(n)
    xi /= np.linalg.norm(xi) * math.sqrt(norm)
    stretch = math.sqrt(1.0 + theta) - 1.0

    def sample(count: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.standard_normal((count, n))
        half = count // 2
        for c, rows in enumerate((slice(0, half), slice(half, count))):
            X[rows] += stretch * np.outer(X[rows] @ gammas[c], gammas[c])
        return X, np.maximum(X @ xi, 0.0)

    X_tilde, y_tilde = sample(m)
    X, y = sample(m)
    X_test, y_test = sample(test_factor * m)
    F = rng.standard_normal((k, n)) / math.sqrt(tau)
    w = rng.standard_normal(k) / math.sqrt(k)
    pre_tilde = F @ X_tilde.T  # shared by every activation
    root_k = math.sqrt(k)
    out = {}
    for name in activations:
        sigma, dsigma = ACTIVATIONS[name]
        residual = y_tilde - w @ sigma(pre_tilde) / root_k
        G = ((w[:, None] / root_k) * residual[None, :] * dsigma(pre_tilde)) @ X_tilde / m
        F_hat = F + eta * G
        Phi = sigma(F_hat @ X.T) / root_k  # k x m
        if k <= m:
            gram = Phi @ Phi.T
            gram[np.diag_indices(k)] += lam * m
            w_hat = np.linalg.solve(gram, Phi @ y)
        else:
            gram = Phi.T @ Phi
            gram[np.diag_indices(m)] += lam * m
            w_hat = Phi @ np.linalg.solve(gram, y)
        y_hat = (w_hat / root_k) @ sigma(F_hat @ X_test.T)
        out[name] = 0.5 * float(np.mean((y_test - y_hat) ** 2))
    return out


def time_baseline(n: int, k: int, m: int, trials: int = 2, test_factor: int = 5) -> float:
    """Best seconds per trial of :func:`baseline_trial` over ``trials``, after a small warm-up."""
    baseline_trial(np.random.default_rng(0), 100, 100, 100, test_factor=test_factor)
    best = math.inf
    for t in range(trials):
        t0 = time.perf_counter()
        baseline_trial(np.random.default_rng(t + 1), n, k, m, test_factor=test_factor)
        best = min(best, time.perf_counter() - t0)
    return best
