"""User-given covariances in MixtureSpec (numerics/mixture.py): full covariances and given
spikes realised, sampled (empirical covariance against the given one), ||Sigma_bar|| with
eigenvalues below 1, hashing by content, and one-line refusals."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from onestep_gm.numerics import mixture as mixture_module
from onestep_gm.numerics.mixture import (
    MixtureSpec,
    covariance_trace,
    make_mixture,
    sample_mixture,
    top_eigenvalue,
)

N = 8
M = 40000  # one sampler shape for the whole module
SE = 5.0  # standard errors allowed per entry


def psd(seed, n=N, low=0.05):
    """A covariance with eigenvalues on both sides of 1 (0.05 up to about 4)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.linspace(low, 4.0, n)) @ Q.T


def dense(mixture, c):
    U, s = np.asarray(mixture.spikes[c]), np.asarray(mixture.sizes[c])
    return np.eye(U.shape[1]) + (U.T * s) @ U


def empirical(mixture, c, seed=0):
    comps = jnp.full(M, c, jnp.int32)
    X = np.asarray(sample_mixture(mixture, jax.random.PRNGKey(seed), M, components=comps)[0])
    return np.cov(X.T, bias=True), X.mean(axis=0)


def assert_close_to(S_hat, S):
    # Var of an entry of a Gaussian sample covariance: (S_ij^2 + S_ii S_jj) / M
    se = np.sqrt((S**2 + np.outer(np.diag(S), np.diag(S))) / M)
    assert np.all(np.abs(S_hat - S) <= SE * se), np.max(np.abs(S_hat - S) / se)


def test_full_covariance_is_realised_and_sampled():
    S = psd(0)
    spec = MixtureSpec(n=N, covariances=(S, None), spikes=1, task="classification")
    mixture = make_mixture(spec, 0)
    assert mixture.spikes.shape == (2, N, N) and spec.max_spikes == N
    np.testing.assert_allclose(dense(mixture, 0), S, atol=1e-12)
    assert float(np.asarray(mixture.sizes[0]).min()) == pytest.approx(0.05 - 1)  # an eigenvalue below 1
    S_hat, mean = empirical(mixture, 0)
    assert_close_to(S_hat, S)
    assert np.all(np.abs(mean) < SE * np.sqrt(np.diag(S) / M))
    # component 1 is the paper's: one spike of size theta (equal_trace leaves a user component alone)
    assert float(np.asarray(mixture.sizes[1]).sum()) == pytest.approx(spec.spike_size())
    tau = 0.5 * np.trace(S) + 0.5 * (N + spec.spike_size())
    assert float(covariance_trace(mixture)) == pytest.approx(tau)


def test_given_spikes_directions_and_sizes():
    rng = np.random.default_rng(1)
    D, _ = np.linalg.qr(rng.standard_normal((N, 3)))
    D = D.T  # (3, n) orthonormal rows
    spec = MixtureSpec(n=N, weights=(0.5, 0.5), spike_directions=(D, D[:1]), spike_values=((3.0, 0.5, -0.75), None))
    mixture = make_mixture(spec, 2)
    np.testing.assert_allclose(np.asarray(mixture.spikes[0]), D)
    np.testing.assert_allclose(np.asarray(mixture.sizes[0]), (3.0, 0.5, -0.75))
    np.testing.assert_allclose(np.asarray(mixture.sizes[1]), (spec.spike_size(), 0, 0))  # the paper's theta
    expected = np.eye(N) + (D.T * np.array([3.0, 0.5, -0.75])) @ D
    assert_close_to(empirical(mixture, 0, seed=1)[0], expected)
    # given sizes, drawn directions: orthonormal rows, sizes as given
    drawn = make_mixture(MixtureSpec(n=N, spike_values=((2.0, 1.0), (4.0,)), equal_trace=False), 3)
    U = np.asarray(drawn.spikes[0])
    np.testing.assert_allclose(U @ U.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(np.asarray(drawn.sizes), [[2.0, 1.0], [4.0, 0.0]])


@pytest.mark.parametrize("dense_path", [True, False])
def test_top_eigenvalue_with_eigenvalues_below_one(dense_path):
    if dense_path:  # C d >= n: two full covariances, all eigenvalues below 1 in one of them
        spec = MixtureSpec(n=N, covariances=(psd(2, low=0.01) * 0.2, psd(3)), task="regression")
    else:  # C d < n: small spikes with negative sizes only
        rows = np.eye(N)[:2]
        spec = MixtureSpec(n=N, spike_directions=(rows, rows[::-1]), spike_values=((-0.5, -0.9), (-0.2, -0.4)))
    mixture = make_mixture(spec, 4)
    S_bar = 0.5 * dense(mixture, 0) + 0.5 * dense(mixture, 1)
    top = np.linalg.eigvalsh(S_bar)[-1]
    assert float(top_eigenvalue(mixture)) == pytest.approx(top, rel=1e-10)
    xi = np.asarray(mixture.xi)  # the teacher's scale uses the same norm: ||xi|| = 1/sqrt(||Sigma_bar||)
    assert np.linalg.norm(xi) == pytest.approx(1 / np.sqrt(top), rel=1e-10)


def test_specs_with_arrays_hash_and_compare_by_content():
    S = psd(5)
    a = MixtureSpec(n=N, covariances=(S, None))
    b = MixtureSpec(n=N, covariances=(S.copy().tolist(), None))
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert MixtureSpec(n=N, covariances=(S * 1.0001, None)) != a
    assert len(repr(a)) < 500 and "sha256=" in repr(a)


def _spec(**kw):
    return MixtureSpec(n=N, **kw)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _spec(covariances=(np.eye(N)[:4], None)), r"covariances\[0\]: shape \(4, 8\), expected \(n, n\)"),
        (lambda: _spec(covariances=(np.triu(np.ones((N, N))), None)), r"covariances\[0\]: not symmetric"),
        (lambda: _spec(covariances=(np.diag([1.0] * (N - 1) + [-0.5]), None)), "not positive semi-definite"),
        (lambda: _spec(covariances=(np.full((N, N), np.nan), None)), "NaN or infinite"),
        (lambda: _spec(covariances=(np.eye(N),)), "covariances: 1 entries given for 2 components"),
        (lambda: _spec(covariances=(np.eye(N), None), spike_values=((1.0,), None)), "not both"),
        (lambda: _spec(covariances=("FrozenArray(...)", None)), "not stored in saved results"),
        (lambda: _spec(spike_directions=(np.ones((2, N)), None)), "rows must be orthonormal"),
        (lambda: _spec(spike_directions=(np.eye(N)[:2], None), spike_values=((1.0,), None)), "1 sizes for 2"),
        (lambda: _spec(spike_values=((-2.0,), None)), ">= -1"),
        (lambda: MixtureSpec(n=2001, covariances=(np.eye(2001), None)), "exceeds 2000"),
    ],
)  # fmt: skip
def test_refusals_are_one_line_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make_mixture(make(), 0)
    assert "\n" not in str(info.value)


def test_a_covariance_larger_than_memory_is_refused(monkeypatch):
    monkeypatch.setattr(mixture_module, "available_memory", lambda: 1_000)
    with pytest.raises(ValueError, match=r"covariances\[0\]: a full covariance of n = 8 .* more than the available"):
        make_mixture(MixtureSpec(n=N, covariances=(psd(6), None)), 0)


def test_a_sweep_spec_gives_covariances_as_nested_lists():
    from onestep_gm.experiments.figures.sweepspec import spec_from_dict

    S = psd(7)
    obj = {"name": "cov", "x": {"field": "lam", "values": [0.01]},
           "fixed": {"n": N, "covariances": [S.tolist(), []], "spike_values": [[], [2.0, 0.5]]}}  # fmt: skip
    data = spec_from_dict(obj).base.data
    assert data == MixtureSpec(n=N, covariances=(S, None), spike_values=(None, (2.0, 0.5)))
    mixture = make_mixture(data, 0)
    np.testing.assert_allclose(dense(mixture, 0), S, atol=1e-12)
    np.testing.assert_allclose(np.asarray(mixture.sizes[1])[:2], (2.0, 0.5))
