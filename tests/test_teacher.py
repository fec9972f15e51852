"""The teacher y = sum_r c_r sigma*_r(xi_r^T x) + delta eps: labels, directions, theory moments.

References are independent of the code under test: labels recomputed in numpy from the
realised directions; u = E[sigma(f^T x) y] and s_y = E y^2 by 2-D Gauss-Hermite quadrature in
numpy (a product trapezoidal rule, spectrally accurate for analytic integrands) over the
bivariate law built from the dense n x n covariance (smooth pairs), and by
scipy's adaptive quadrature for the ReLU teacher's kink.
"""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from onestep_gm.numerics.data import spec_from_fields
from onestep_gm.numerics.mixture import MixtureSpec, make_mixture, sample_mixture
from onestep_gm.numerics.population import population_moments
from scipy import integrate

N, M = 24, 64  # one small shape for every sampler compile here

FUNCS = {
    "relu": lambda t: np.maximum(t, 0.0),
    "tanh": np.tanh,
    "x**2-1": lambda t: t**2 - 1,
    "sin(x)": np.sin,
}


def _rows(mixture) -> np.ndarray:
    xi = np.asarray(mixture.xi)
    return xi[None, :] if xi.ndim == 1 else xi


def _dense_sigma(mixture, c) -> np.ndarray:
    U, theta = np.asarray(mixture.spikes[c]), np.asarray(mixture.sizes[c])
    return np.eye(U.shape[1]) + (U.T * theta) @ U


def _sigma_bar_norm(mixture) -> float:
    w = np.asarray(mixture.weights)
    return float(np.linalg.eigvalsh(sum(w[c] * _dense_sigma(mixture, c) for c in range(len(w))))[-1])


# --- labels and directions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("teacher", "weights"),
    [("tanh", None), ("x**2-1", None), (("relu", "tanh"), (1.0, -0.5)), (("sin(x)", "x**2-1", "tanh"), None)],
)
def test_labels_are_the_teacher_of_the_realised_directions(teacher, weights):
    spec = MixtureSpec(n=N, teacher=teacher, teacher_weights=weights, noise=0.0)
    mixture = make_mixture(spec, 5)
    X, y, _ = sample_mixture(mixture, jax.random.PRNGKey(2), M)
    X, y = np.asarray(X), np.asarray(y)
    names = (teacher,) if isinstance(teacher, str) else teacher
    c = weights or (1.0,) * len(names)
    xi = _rows(mixture)
    assert xi.shape == (len(names), N)
    expected = sum(w * FUNCS[name](X @ row) for w, name, row in zip(c, names, xi, strict=True))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_random_directions_are_orthogonal_with_the_norm_rule():
    mixture = make_mixture(MixtureSpec(n=N, theta=5.0, teacher=("relu",) * 8), 3)
    xi = _rows(mixture)
    gram = xi @ xi.T * _sigma_bar_norm(mixture)
    np.testing.assert_allclose(gram, np.eye(8), atol=1e-12)


def test_spike_and_mean_directions():
    spec = MixtureSpec(n=N, theta=5.0, spikes=2, alignment=0.4, teacher=("tanh", "relu"), teacher_direction="spikes")
    mixture = make_mixture(spec, 1)
    lam = _sigma_bar_norm(mixture)
    g = np.asarray(mixture.spikes)
    for r, row in enumerate(_rows(mixture)):
        direction = g[0, r] + g[1, r]
        np.testing.assert_allclose(row, direction / np.linalg.norm(direction) / math.sqrt(lam), atol=1e-12)
    three = MixtureSpec(n=N, weights=(0.2, 0.3, 0.5), mean_norm=2.0, teacher=("tanh", "relu"), teacher_direction="means")
    mixture = make_mixture(three, 1)
    means, lam = np.asarray(mixture.means), _sigma_bar_norm(mixture)
    for r, row in enumerate(_rows(mixture)):
        np.testing.assert_allclose(row, means[r] / np.linalg.norm(means[r]) / math.sqrt(lam), atol=1e-12)


# --- theory moments against quadrature ---------------------------------------------------------

# The trapezoidal rule on [-12, 12] with step 0.04 against the standard normal density: for
# integrands analytic in a strip around the real axis (tanh, sin, polynomials) its error decays
# like exp(-2 pi d / h) (d the strip's half-width in z), far below 1e-13 here, where 80-node
# Gauss-Hermite stops near 1e-6 for tanh (poles at +-i pi/2).
GH_Z = np.arange(-300, 301) * 0.04
GH_W = 0.04 * np.exp(-GH_Z**2 / 2) / math.sqrt(2 * math.pi)


def _gauss_2d(f, g, mean, cov):
    """E[f(u) g(v)] for (u, v) ~ N(mean, cov) by the product trapezoidal rule above."""
    L = np.linalg.cholesky(cov + 1e-300 * np.eye(2))
    z1, z2 = np.meshgrid(GH_Z, GH_Z, indexing="ij")
    u = mean[0] + L[0, 0] * z1
    v = mean[1] + L[1, 0] * z1 + L[1, 1] * z2
    return float(np.sum(np.outer(GH_W, GH_W) * f(u) * g(v)))


def _kinked(f, kinked, mean, cov):
    """E[f(u) relu(v)] with the outer integral over v by scipy's quad (split at the kink), the
    inner E[f(u) | v] by the trapezoidal rule (f smooth)."""
    mu_u, mu_v = mean
    s_v = math.sqrt(cov[1, 1])
    slope, rest = cov[0, 1] / cov[1, 1], math.sqrt(max(cov[0, 0] - cov[0, 1] ** 2 / cov[1, 1], 0.0))

    def integrand(v):
        inner = np.sum(GH_W * f(mu_u + slope * (v - mu_v) + rest * GH_Z))
        return inner * kinked(v) * math.exp(-0.5 * ((v - mu_v) / s_v) ** 2) / (s_v * math.sqrt(2 * math.pi))

    lo, hi = mu_v - 12 * s_v, mu_v + 12 * s_v
    cuts = sorted({lo, min(max(0.0, lo), hi), hi})
    return sum(integrate.quad(integrand, a, b, epsabs=1e-14, epsrel=1e-12, limit=200)[0] for a, b in zip(cuts[:-1], cuts[1:], strict=True))


def _reference(F, mixture, student, names, weights, noise):
    """(u * sqrt(k), s_y) from the dense covariances, one bivariate law per pair."""
    F, xi = np.asarray(F), _rows(mixture)
    rho = np.asarray(mixture.weights)
    k = F.shape[0]
    u, s_y = np.zeros(k), noise**2
    for c in range(len(rho)):
        S, mu = _dense_sigma(mixture, c), np.asarray(mixture.means[c])
        A = np.vstack([F, xi])
        mean, cov = A @ mu, A @ S @ A.T
        for r, (name, w) in enumerate(zip(names, weights, strict=True)):
            t = k + r
            for j in range(k):
                pair_mean, pair_cov = mean[[j, t]], cov[np.ix_([j, t], [j, t])]
                if name == "relu":
                    value = _kinked(FUNCS[student], FUNCS["relu"], pair_mean, pair_cov)
                else:
                    value = _gauss_2d(FUNCS[student], FUNCS[name], pair_mean, pair_cov)
                u[j] += rho[c] * w * value
            for q, (other, w2) in enumerate(zip(names, weights, strict=True)):
                pair_mean, pair_cov = mean[[t, k + q]], cov[np.ix_([t, k + q], [t, k + q])]
                if r == q:  # the diagonal: a 1-D expectation (the 2-D rule on a degenerate law)
                    z = mean[t] + math.sqrt(cov[t, t]) * GH_Z
                    value = float(np.sum(GH_W * FUNCS[name](z) ** 2)) if name != "relu" else _relu_square(mean[t], cov[t, t])
                else:
                    value = _gauss_2d(FUNCS[name], FUNCS[other], pair_mean, pair_cov)
                s_y += rho[c] * w * w2 * value
    return u, s_y


def _relu_square(m, q):
    s = math.sqrt(q)
    a = m / s
    phi, Phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi), 0.5 * math.erfc(-a / math.sqrt(2))
    return (m * m + q) * Phi + m * s * phi


@pytest.mark.parametrize(
    ("student", "teacher", "weights", "direction"),
    [
        ("tanh", "tanh", None, "random"),
        ("tanh", "x**2-1", None, "random"),
        ("tanh", ("x**2-1", "tanh"), (1.0, 0.7), "random"),
        ("tanh", ("tanh", "sin(x)"), (0.5, -1.0), "spikes"),
        ("tanh", "relu", None, "random"),  # the default teacher, against the same references
    ],
)
def test_u_and_s_y_match_quadrature(student, teacher, weights, direction):
    names = (teacher,) if isinstance(teacher, str) else teacher
    spec = MixtureSpec(n=N, beta=0.8, alpha=0.3, spikes=2, mean_norm=0.8, noise=0.3, teacher=teacher,
                       teacher_weights=weights, teacher_direction=direction)  # fmt: skip
    mixture = make_mixture(spec, 7)
    k = 3
    F = 1.4 * np.asarray(jax.random.normal(jax.random.PRNGKey(11), (k, N))) / math.sqrt(N)
    F[0] += 0.8 * _rows(mixture)[0] * math.sqrt(_sigma_bar_norm(mixture))  # a row well aligned with xi_1
    u_ref, s_ref = _reference(F, mixture, student, names, weights or (1.0,) * len(names), 0.3)
    for rule in ("auto", "mehler"):
        got = population_moments(jnp.asarray(F), mixture, student, rule=rule)
        np.testing.assert_allclose(np.asarray(got.u) * math.sqrt(k), u_ref, rtol=1e-9, atol=1e-11)
        assert float(got.s_y) == pytest.approx(s_ref, rel=1e-10)


def test_default_teacher_is_unchanged():
    """The default spec is the paper's ReLU teacher, one direction drawn as before: xi (n,) with
    ||xi|| = 1/sqrt(||Sigma_bar||), and an explicit teacher='relu' realises the same arrays."""
    base = make_mixture(MixtureSpec(n=N), 4)
    explicit = make_mixture(MixtureSpec(n=N, teacher=("relu",), teacher_weights=(1.0,), teacher_direction="random"), 4)
    assert base.xi.shape == (N,) and base.teacher.is_relu
    for a, b in zip(jax.tree.leaves(base), jax.tree.leaves(explicit), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert float(base.xi @ base.xi) * _sigma_bar_norm(base) == pytest.approx(1.0, rel=1e-12)


# --- refusals and old files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"teacher": "tanh", "task": "classification"}, "regression only"),
        ({"teacher": ("relu", "tanh"), "task": "classification"}, "regression only"),
        ({"teacher": ("relu",) * 9}, "1 to 8"),
        ({"teacher": ()}, "1 to 8"),
        ({"teacher": ("relu", "tanh"), "teacher_weights": (1.0,)}, "teacher_weights"),
        ({"teacher_weights": (float("nan"),)}, "teacher_weights"),
        ({"teacher": "nope"}, "teacher 'nope'"),
        ({"teacher": "1/x"}, "teacher '1/x'"),
        ({"teacher": "random"}, "teacher_direction='random'"),
        ({"teacher_direction": "sideways"}, "teacher_direction"),
    ],
)
def test_bad_teachers_are_refused_at_construction(fields, match):
    with pytest.raises(ValueError, match=match):
        MixtureSpec(n=N, **fields)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"teacher": ("relu", "tanh"), "teacher_direction": "spikes"}, "at least 2 spike"),
        ({"teacher_direction": "means"}, "mean_norm > 0"),
        ({"teacher": ("relu", "tanh"), "teacher_direction": "means", "mean_norm": 1.0}, "C = 2 has one"),
    ],
)
def test_unrealisable_directions_are_refused(fields, match):
    with pytest.raises(ValueError, match=match):
        make_mixture(MixtureSpec(n=N, **fields), 0)


def test_old_teacher_field_is_mapped():
    old = spec_from_fields("mixture", {"n": N, "teacher": "spikes"})
    assert (old.teacher, old.teacher_direction) == ("relu", "spikes")
    assert spec_from_fields("mixture", {"teacher": "random"}) == MixtureSpec()
    assert spec_from_fields("mixture", {"teacher": ["relu", "tanh"]}).teacher == ("relu", "tanh")


def test_saved_figure_with_the_old_field_loads():
    from pathlib import Path

    from onestep_gm.experiments.results import config_from_json

    path = Path(__file__).resolve().parents[1] / "docs" / "paper-full" / "fig4a.json"
    point = json.loads(path.read_text())["points"][0]["config"]
    assert point["data"]["teacher"] == "spikes"  # written before the field changed
    config = config_from_json(point)
    assert (config.data.teacher, config.data.teacher_direction) == ("relu", "spikes")


def test_sweep_spec_takes_a_teacher_list(tmp_path):
    from onestep_gm.experiments.figures.sweepspec import load_sweep

    path = tmp_path / "t.toml"
    path.write_text('name = "t"\n[x]\nfield = "beta"\nvalues = [0.5]\n[fixed]\nteacher = ["relu", "tanh"]\n'
                    'teacher_weights = [1.0, 2.0]\nn = 40\n')  # fmt: skip
    spec = load_sweep(path)
    assert (spec.base.data.teacher, spec.base.data.teacher_weights) == (("relu", "tanh"), (1.0, 2.0))
    path.write_text('name = "t"\n[x]\nfield = "beta"\nvalues = [0.5]\n[fixed]\nteacher = "tanh"\n'
                    'task = "classification"\n')  # fmt: skip
    with pytest.raises(ValueError, match="regression only"):
        load_sweep(path)


def test_cli_refuses_a_classification_teacher_before_any_work(capsys):
    from onestep_gm.experiments.cli import main

    code = main(["simulate", "--task", "classification", "--teacher", "tanh", "--n", "20", "--k", "20",
                 "--m", "20", "--trials", "1", "--activation", "relu"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "regression only" in err and len(err.strip().splitlines()) == 1


def test_cli_options_reach_the_spec():
    import argparse

    from onestep_gm.experiments.cli.simulate import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    one = config_from_args(parser.parse_args(["--teacher", "x**2-1"]))
    assert (one.data.teacher, one.data.teacher_direction) == ("x**2-1", "random")
    two = config_from_args(parser.parse_args(["--teacher", "relu,max(x, 0)", "--teacher-direction", "spikes"]))
    assert (two.data.teacher, two.data.teacher_direction) == (("relu", "max(x, 0)"), "spikes")
    assert config_from_args(parser.parse_args([])).data == MixtureSpec(weights=(0.5, 0.5))
