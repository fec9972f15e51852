"""Tests for the Gaussian-mixture sampler of numerics.mixture (Fashion-MNIST: test_fashion.py).

Reference values come from dense numpy matrices built from the realised spikes, closed forms
(eigenvalues of I + (theta/2)(g1 g1^T + g2 g2^T)), and Monte Carlo with standard errors.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from onestep_gm.numerics.mixture import (
    Mixture,
    MixtureSpec,
    balanced_components,
    component_covariance_apply,
    covariance_trace,
    make_mixture,
    sample_mixture,
    spike_size,
    top_eigenvalue,
)
from scipy import stats


def dense_covariance(mixture: Mixture, c: int) -> np.ndarray:
    U, theta = np.asarray(mixture.spikes[c]), np.asarray(mixture.sizes[c])
    return np.eye(U.shape[1]) + (U.T * theta) @ U


def dense_average_covariance(mixture: Mixture) -> np.ndarray:
    weights = np.asarray(mixture.weights)
    return sum(w * dense_covariance(mixture, c) for c, w in enumerate(weights))


# Tests share one (n, m) where they can: each new shape costs an XLA compile of the sampler.
N_SHARED, M_SHARED = 20, 20_000


def draw(mixture: Mixture, seed: int, m: int):
    X, y, c = sample_mixture(mixture, jax.random.PRNGKey(seed), m)
    return np.asarray(X), np.asarray(y), np.asarray(c)


# --- moments of the samples -------------------------------------------------------------------


def test_sample_mean_and_covariance_match_dense_entrywise():
    spec = MixtureSpec(
        n=12, weights=(0.3, 0.7), spikes=(2, 1), theta=6.0, alignment=0.4, mean_norm=1.5
    )
    mixture = make_mixture(spec, 0)
    X, _, c = draw(mixture, 1, 60_000)
    for component in (0, 1):
        Xc = X[c == component]
        N = len(Xc)
        Sigma = dense_covariance(mixture, component)
        mean_se = np.sqrt(np.diag(Sigma) / N)
        assert np.all(np.abs(Xc.mean(0) - np.asarray(mixture.means[component])) < 5 * mean_se)
        diag = np.diag(Sigma)
        cov_se = np.sqrt((np.outer(diag, diag) + Sigma**2) / N)
        empirical = np.cov(Xc, rowvar=False, bias=True)
        assert np.all(np.abs(empirical - Sigma) < 5 * cov_se), np.max(
            np.abs(empirical - Sigma) / cov_se
        )


def test_variance_along_spike_is_one_plus_theta_and_one_orthogonally():
    spec = MixtureSpec(n=200, alignment=0.5)
    theta = 200 ** (0.74 * 0.5)
    mixture = make_mixture(spec, 3)
    X, _, c = draw(mixture, 4, 20_000)
    rng = np.random.default_rng(0)
    for component in (0, 1):
        Xc = X[c == component]
        N = len(Xc)
        gamma = np.asarray(mixture.spikes[component, 0])
        along = Xc @ gamma
        assert abs(along.var() - (1 + theta)) < 4 * (1 + theta) * np.sqrt(2 / (N - 1))
        assert abs(along.mean()) < 4 * np.sqrt((1 + theta) / N)
        u = rng.standard_normal(spec.n)
        u -= (u @ gamma) * gamma
        u /= np.linalg.norm(u)
        across = Xc @ u
        assert abs(across.var() - 1) < 4 * np.sqrt(2 / (N - 1))


def test_component_frequencies_follow_the_weights():
    mixture = make_mixture(MixtureSpec(n=N_SHARED, weights=(0.2, 0.8)), 0)
    _, _, c = draw(mixture, 2, M_SHARED)
    assert abs(np.mean(c == 0) - 0.2) < 4 * np.sqrt(0.2 * 0.8 / M_SHARED)
    assert c.dtype == np.int32
    _, _, c = draw(make_mixture(MixtureSpec(n=N_SHARED, weights=(0.0, 1.0)), 0), 2, M_SHARED)
    assert np.all(c == 1)


# --- spikes, alignment, sizes, means ----------------------------------------------------------


def test_spikes_orthonormal_aligned_and_padded():
    a = 0.7
    spec = MixtureSpec(n=40, weights=(0.2, 0.3, 0.5), spikes=(3, 2, 4), alignment=a, mean_norm=2.0)
    mixture = make_mixture(spec, 5)
    U = np.asarray(mixture.spikes)
    assert U.shape == (3, 4, 40)
    for c, d_c in enumerate((3, 2, 4)):
        np.testing.assert_allclose(U[c, :d_c] @ U[c, :d_c].T, np.eye(d_c), atol=1e-12)
        assert np.all(U[c, d_c:] == 0)
        assert np.all(np.asarray(mixture.sizes)[c, d_c:] == 0)
    np.testing.assert_allclose(U[0, :3] @ U[1, :2].T, a * np.eye(3)[:, :2], atol=1e-12)
    overlap = U[0, :3] @ U[2, :4].T
    np.testing.assert_allclose(overlap, a * np.eye(3, 4), atol=1e-12)
    np.testing.assert_allclose(U[1, :2] @ U[2, :2].T, a**2 * np.eye(2), atol=1e-12)
    means = np.asarray(mixture.means)
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 2.0, rtol=1e-12)
    np.testing.assert_allclose(means @ means.T, 4.0 * np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.einsum("cdn,kn->cdk", U, means), 0, atol=1e-12)


@pytest.mark.parametrize("a", [-1.0, 1.0, 0.0, -0.3])
def test_alignment_inner_product(a):
    mixture = make_mixture(MixtureSpec(n=30, alignment=a), 7)
    g1, g2 = np.asarray(mixture.spikes[:, 0])
    assert g1 @ g2 == pytest.approx(a, abs=1e-12)
    assert np.linalg.norm(g2) == pytest.approx(1, abs=1e-12)


def test_two_component_means_are_opposite_and_orthogonal_to_spikes():
    mixture = make_mixture(MixtureSpec(n=25, mean_norm=3.0, alignment=0.2), 0)
    mu = np.asarray(mixture.means)
    np.testing.assert_allclose(mu[1], -mu[0], atol=0)
    assert np.linalg.norm(mu[0]) == pytest.approx(3.0, rel=1e-12)
    np.testing.assert_allclose(np.asarray(mixture.spikes[:, 0]) @ mu[0], 0, atol=1e-12)
    assert np.all(np.asarray(make_mixture(MixtureSpec(n=25), 0).means) == 0)


def test_theta_default_and_override():
    mixture = make_mixture(MixtureSpec(n=1000, beta=0.74, alpha=0.5), 0)
    np.testing.assert_allclose(np.asarray(mixture.sizes), 1000**0.37, rtol=1e-12)
    assert spike_size(MixtureSpec(n=1000, beta=0.74, alpha=0.5)) == pytest.approx(1000**0.37)
    assert spike_size(MixtureSpec(n=1000, beta=0.8, alpha=1.0)) == 1.0
    mixture = make_mixture(MixtureSpec(n=50, theta=2.5), 0)
    np.testing.assert_allclose(np.asarray(mixture.sizes), 2.5, rtol=1e-12)


def test_equal_trace_rescales_later_components():
    theta = 4.0
    mixture = make_mixture(MixtureSpec(n=30, spikes=(1, 4), theta=theta), 0)
    np.testing.assert_allclose(np.asarray(mixture.sizes[1]), theta / 4, rtol=1e-12)
    spec = MixtureSpec(n=30, spikes=(2, 5), theta=theta, spike_sizes="uniform")
    sizes = np.asarray(make_mixture(spec, 1).sizes)
    assert sizes[0].sum() == pytest.approx(sizes[1].sum(), rel=1e-12)
    traces = [np.trace(dense_covariance(make_mixture(spec, 1), c)) for c in (0, 1)]
    assert traces[0] == pytest.approx(traces[1], rel=1e-12)
    free = np.asarray(make_mixture(dataclasses.replace(spec, equal_trace=False), 1).sizes)
    assert free[0].sum() != pytest.approx(free[1].sum(), rel=1e-6)


def test_uniform_sizes_lie_in_zero_theta_and_are_uniform():
    theta = 7.0
    spec = MixtureSpec(n=400, weights=(1.0,), spikes=300, theta=theta, spike_sizes="uniform")
    sizes = np.asarray(make_mixture(spec, 11).sizes[0])
    assert np.all((sizes >= 0) & (sizes <= theta))
    assert stats.kstest(sizes / theta, "uniform").pvalue > 1e-4
    spec = MixtureSpec(n=60, spikes=(3, 5), theta=theta, spike_sizes="uniform", equal_trace=False)
    sizes = np.asarray(make_mixture(spec, 2).sizes)
    assert np.all((sizes >= 0) & (sizes <= theta))
    assert len(np.unique(sizes[sizes > 0])) == 8


# --- trace, top eigenvalue, covariance products -----------------------------------------------


def test_trace_and_top_eigenvalue_against_dense():
    spec = MixtureSpec(
        n=30, weights=(0.5, 0.2, 0.3), spikes=(2, 1, 3), theta=9.0, spike_sizes="uniform",
        alignment=0.8,
    )
    mixture = make_mixture(spec, 4)
    Sigma_bar = dense_average_covariance(mixture)
    assert float(covariance_trace(mixture)) == pytest.approx(np.trace(Sigma_bar), rel=1e-12)
    assert float(top_eigenvalue(mixture)) == pytest.approx(np.linalg.eigvalsh(Sigma_bar)[-1], rel=1e-12)


@pytest.mark.parametrize("a", [0.0, 0.6, -0.9])
def test_top_eigenvalue_closed_form(a):
    theta = 5.0
    mixture = make_mixture(MixtureSpec(n=20, theta=theta, alignment=a), 0)
    assert float(top_eigenvalue(mixture)) == pytest.approx(1 + theta * (1 + abs(a)) / 2, rel=1e-12)
    assert float(covariance_trace(mixture)) == pytest.approx(20 + theta, rel=1e-12)


def test_no_spikes_is_isotropic():
    mixture = make_mixture(MixtureSpec(n=8, spikes=0), 0)
    assert mixture.spikes.shape == (2, 0, 8)
    assert float(top_eigenvalue(mixture)) == 1.0
    assert float(covariance_trace(mixture)) == 8.0


def test_component_covariance_apply_against_dense():
    mixture = make_mixture(MixtureSpec(n=25, spikes=(2, 3), theta=3.0, alignment=0.5), 0)
    V = np.random.default_rng(1).standard_normal((25, 4))
    apply = jax.jit(component_covariance_apply)
    for c in (0, 1):
        expected = dense_covariance(mixture, c) @ V
        np.testing.assert_allclose(np.asarray(apply(mixture, c, jnp.asarray(V))), expected, atol=1e-12)
        got = np.asarray(component_covariance_apply(mixture, c, jnp.asarray(V[:, 0])))
        np.testing.assert_allclose(got, expected[:, 0], atol=1e-12)


# --- labels -----------------------------------------------------------------------------------


def test_teacher_norm_rule_random_and_spikes():
    mixture = make_mixture(MixtureSpec(n=40, theta=6.0, alignment=0.3), 2)
    lam = np.linalg.eigvalsh(dense_average_covariance(mixture))[-1]
    xi = np.asarray(mixture.xi)
    assert xi @ xi * lam == pytest.approx(1, rel=1e-12)
    spikes = make_mixture(MixtureSpec(n=40, theta=6.0, alignment=0.3, teacher_direction="spikes"), 2)
    xi = np.asarray(spikes.xi)
    direction = np.asarray(spikes.spikes[0, 0] + spikes.spikes[1, 0])
    lam = np.linalg.eigvalsh(dense_average_covariance(spikes))[-1]
    np.testing.assert_allclose(xi, direction / np.linalg.norm(direction) / np.sqrt(lam), atol=1e-12)


def test_regression_labels_are_relu_of_teacher_plus_noise():
    mixture = make_mixture(MixtureSpec(n=N_SHARED), 0)
    X, y, _ = draw(mixture, 1, M_SHARED)
    np.testing.assert_allclose(y, np.maximum(X @ np.asarray(mixture.xi), 0), atol=1e-12)
    delta, m = 0.3, M_SHARED
    noisy = make_mixture(MixtureSpec(n=N_SHARED, noise=delta), 0)
    X, y, _ = draw(noisy, 1, m)
    residual = y - np.maximum(X @ np.asarray(noisy.xi), 0)
    assert abs(residual.var() - delta**2) < 4 * delta**2 * np.sqrt(2 / (m - 1))
    assert abs(residual.mean()) < 4 * delta / np.sqrt(m)


def test_classification_labels_follow_components():
    spec = MixtureSpec(n=N_SHARED, task="classification", weights=(0.4, 0.6))
    mixture = make_mixture(spec, 0)
    assert np.all(np.asarray(mixture.xi) == 0)
    _, y, c = draw(mixture, 3, M_SHARED)
    np.testing.assert_array_equal(y, np.where(c == 0, 1.0, -1.0))
    assert 0 < np.sum(c == 0) < M_SHARED


# --- purity, dtype, scale ---------------------------------------------------------------------


def test_same_key_same_sample_and_vmap():
    spec = MixtureSpec(n=N_SHARED, mean_norm=1.0, noise=0.1)
    mixture = make_mixture(spec, 3)
    first, again = draw(mixture, 9, M_SHARED), draw(mixture, 9, M_SHARED)
    other = draw(mixture, 10, M_SHARED)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[0], other[0])
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    Xs, _, _ = jax.vmap(lambda key: sample_mixture(mixture, key, 50))(keys)
    np.testing.assert_array_equal(np.asarray(Xs[1]), np.asarray(sample_mixture(mixture, keys[1], 50)[0]))


def test_mixture_is_determined_by_the_key():
    spec = MixtureSpec(n=N_SHARED, spikes=2, spike_sizes="uniform", alignment=0.5)
    raw, typed = jax.random.PRNGKey(3), jax.random.key(3)
    for key in (raw, typed, 3):
        a, b = make_mixture(spec, key), make_mixture(spec, key)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    a, b = make_mixture(spec, raw), make_mixture(spec, jax.random.PRNGKey(4))
    assert not np.allclose(a.spikes, b.spikes) and not np.allclose(a.sizes, b.sizes)


def test_float32_dtype():
    mixture = make_mixture(MixtureSpec(n=10), 0, dtype=jnp.float32)
    X, y, _ = sample_mixture(mixture, jax.random.PRNGKey(0), 4)
    assert X.dtype == jnp.float32 and y.dtype == jnp.float32


def _largest_intermediates(fn, *args) -> list[tuple[int, ...]]:
    """All shapes inside the jaxpr of fn(*args), descending into nested jaxprs."""
    shapes = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            shapes.extend(tuple(v.aval.shape) for v in eqn.outvars if hasattr(v.aval, "shape"))
            for param in eqn.params.values():
                for sub in param if isinstance(param, tuple | list) else (param,):
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        walk(inner)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return shapes


def test_never_forms_an_n_by_n_matrix():
    n = 3001
    mixture = make_mixture(MixtureSpec(n=n, spikes=(2, 3), mean_norm=1.0), 0)
    key = jax.random.PRNGKey(0)
    V = jnp.ones((n, 2))
    for fn, args in [
        (functools.partial(sample_mixture, m=8), (mixture, key)),
        (top_eigenvalue, (mixture,)),
        (covariance_trace, (mixture,)),
        (lambda mixture, V: component_covariance_apply(mixture, 1, V), (mixture, V)),
    ]:
        shapes = _largest_intermediates(fn, *args)
        assert shapes, fn
        assert all(sum(dim >= n for dim in shape) < 2 for shape in shapes), fn


def test_large_n_small_m_works():
    """n = 20000 would need 3.2 GB for one n×n matrix; the structured sampler needs O(mnd)."""
    mixture = make_mixture(MixtureSpec(n=20_000, spikes=2, mean_norm=1.0), 0)
    X, y, c = sample_mixture(mixture, jax.random.PRNGKey(1), 8)
    assert X.shape == (8, 20_000) and y.shape == (8,) and c.shape == (8,)
    assert np.all(np.isfinite(np.asarray(X)))


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"n": 0}, "n must"),
        ({"n": 2.5}, "n must"),
        ({"beta": 1.5}, "beta"),
        ({"alpha": -0.1}, "alpha"),
        ({"beta": float("nan")}, "beta"),
        ({"weights": (0.5, 0.6)}, "sum to 1"),
        ({"weights": (1.2, -0.2)}, ">= 0"),
        ({"weights": ()}, "at least one"),
        ({"spikes": (1,)}, "spikes"),
        ({"spikes": -1}, "spikes"),
        ({"theta": -1.0}, "theta"),
        ({"spike_sizes": "gaussian"}, "spike_sizes"),
        ({"alignment": 1.1}, "alignment"),
        ({"mean_norm": -1.0}, "mean_norm"),
        ({"task": "ranking"}, "task"),
        ({"teacher": "ones"}, "teacher"),
        ({"noise": -0.1}, "noise"),
        ({"teacher": "spikes"}, "teacher_direction='spikes'"),
        ({"teacher_direction": "spikes", "spikes": (1, 0), "equal_trace": False}, "teacher_direction='spikes'"),
        ({"teacher_direction": "spikes", "alignment": -1.0}, "alignment -1"),
        ({"spikes": (1, 0)}, "equal_trace"),
        ({"spikes": (0, 2)}, "equal_trace"),
        ({"n": 1}, "too small"),
        ({"n": 3, "spikes": 1, "mean_norm": 1.0, "weights": (0.25, 0.25, 0.5)}, "too small"),
    ],
)
def test_bad_specs_raise_value_error(fields, match):
    with pytest.raises(ValueError, match=match):
        make_mixture(MixtureSpec(**fields), 0)


def test_blocked_normal_is_standard_normal_across_blocks():
    from onestep_gm.numerics.mixture import NORMAL_BLOCK_ENTRIES, blocked_normal

    rows, n = 3 * NORMAL_BLOCK_ENTRIES // 1000, 1000  # three blocks, the last one shorter
    z = np.asarray(blocked_normal(jax.random.PRNGKey(4), rows, n, jnp.float64))
    assert z.shape == (rows, n) and z.dtype == np.float64
    block = NORMAL_BLOCK_ENTRIES // n
    for part in (z[:block], z[block : 2 * block], z[2 * block :]):
        N = part.size
        assert abs(part.mean()) < 5 / np.sqrt(N)
        assert abs(part.var() - 1) < 5 * np.sqrt(2 / N)
    assert abs(np.corrcoef(z[:block].ravel(), z[block : 2 * block].ravel())[0, 1]) < 5 / np.sqrt(block * n)
    assert abs(np.mean(np.abs(z) > 3) - 0.0026998) < 5 * np.sqrt(0.0027 / z.size)  # tails, not just moments


# --- balanced batches (the paper's protocol) ---------------------------------------------------


@pytest.mark.parametrize(
    "weights,size,expected",
    [((0.5, 0.5), 10, (5, 5)), ((0.3, 0.7), 10, (3, 7)), ((0.0, 1.0), 7, (0, 7)),
     ((1.0, 0.0), 6, (6, 0)), ((0.25, 0.25, 0.5), 8, (2, 2, 4))],
)  # fmt: skip
def test_balanced_components_have_fixed_counts_per_batch(weights, size, expected):
    c = np.asarray(balanced_components(jax.random.PRNGKey(3), jnp.asarray(weights), (size, size, 3 * size)))
    assert c.shape == (5 * size,)
    for batch in (c[:size], c[size : 2 * size]):
        assert tuple(np.bincount(batch, minlength=len(weights))) == expected
    assert tuple(np.bincount(c[2 * size :], minlength=len(weights))) == tuple(3 * e for e in expected)


def test_sample_mixture_keeps_given_components():
    spec = MixtureSpec(n=12, beta=0.5, alpha=0.5, task="classification")
    mixture = make_mixture(spec, jax.random.PRNGKey(0))
    given = jnp.asarray([1, 0, 0, 1, 1, 1, 0, 1], jnp.int32)
    _, y, c = sample_mixture(mixture, jax.random.PRNGKey(1), 8, components=given)
    np.testing.assert_array_equal(np.asarray(c), np.asarray(given))
    np.testing.assert_array_equal(np.asarray(y), np.where(np.asarray(given) == 0, 1.0, -1.0))


# --- the data-source protocol (onestep_gm.numerics.data) ---------------------------------------


def test_both_sources_satisfy_the_protocol_and_answer_for_themselves():
    from onestep_gm.numerics.data import DATA_SOURCES, DataSpec, RealisedData
    from onestep_gm.numerics.fashion import FASHION_N, FashionSpec

    mixture_spec, fashion_spec = MixtureSpec(n=30, spikes=(1, 3)), FashionSpec(beta=1.0, alpha=0.0)
    for spec in (mixture_spec, fashion_spec):
        assert isinstance(spec, DataSpec)
        assert DATA_SOURCES[spec.kind] is type(spec)
    assert (mixture_spec.n, mixture_spec.components, mixture_spec.max_spikes) == (30, 2, 3)
    assert mixture_spec.has_population_law and mixture_spec.fixed_scales() is None
    assert (fashion_spec.n, fashion_spec.noise, fashion_spec.has_population_law) == (FASHION_N, 0.0, False)
    assert fashion_spec.fixed_scales() == (FASHION_N + FASHION_N, 1.0)  # tau = n + theta, theta = n
    assert "n" not in dataclasses.asdict(fashion_spec)  # saved results keep their fields
    realised = mixture_spec.realise(0)
    assert isinstance(realised, RealisedData) and realised.surrogate is realised
    X, y, c = realised.sample(jax.random.PRNGKey(1), 7)
    assert X.shape == (7, 30) and y.shape == c.shape == (7,)
    realised.check_draws(10**9)  # a mixture gives any number of samples


def test_spec_from_fields_builds_each_kind_and_refuses_unknown_ones():
    from onestep_gm.numerics.data import spec_from_fields

    assert spec_from_fields("mixture", {"n": 12}) == MixtureSpec(n=12)
    with pytest.raises(ValueError, match="unknown data kind 'npz'"):
        spec_from_fields("npz", {})
    with pytest.raises(ValueError, match="not a fashion data spec"):
        spec_from_fields("fashion", {"n": 12})
