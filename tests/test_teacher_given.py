"""Teacher directions given by the user (``teacher_direction="given"``, ``teacher_vectors``).

Checked against what must hold: the realised ``xi`` is the given rows exactly, the labels are
``sum_r c_r sigma*_r(xi_r^T x)`` recomputed in numpy from the samples, and the theory's teacher
moments ``s_y`` equal an independent Monte-Carlo estimate from the realised mixture.
"""

import jax
import numpy as np
import pytest
from onestep_gm.numerics.mixture import make_mixture, sample_mixture

import onestep_gm as og

N = 30


def _vectors():
    rng = np.random.default_rng(7)
    return rng.standard_normal((2, N)) / np.sqrt(N) * np.array([[1.0], [0.5]])  # not orthogonal, unequal norms


def test_given_rows_are_used_as_given_and_label_the_data():
    vectors = _vectors()
    spec = og.MixtureSpec(n=N, teacher=("tanh", "x**2 - 1"), teacher_weights=(1.0, 0.5),
                          teacher_direction="given", teacher_vectors=vectors)
    mixture = make_mixture(spec, 3)
    np.testing.assert_array_equal(np.asarray(mixture.xi), vectors)
    X, y, _ = sample_mixture(mixture, jax.random.PRNGKey(0), 64)
    X, y = np.asarray(X), np.asarray(y)
    t = X @ vectors.T
    np.testing.assert_allclose(y, np.tanh(t[:, 0]) + 0.5 * (t[:, 1] ** 2 - 1), rtol=1e-10, atol=1e-12)


def test_single_index_takes_a_vector():
    vector = _vectors()[0]
    mixture = make_mixture(og.MixtureSpec(n=N, teacher="tanh", teacher_direction="given", teacher_vectors=vector), 0)
    np.testing.assert_array_equal(np.asarray(mixture.xi), vector)


@pytest.mark.parametrize("fields, words", [
    (dict(teacher_direction="given"), "needs teacher_vectors"),
    (dict(teacher_vectors=np.ones(N)), "teacher_direction='given' only"),
    (dict(teacher_direction="given", teacher_vectors=np.ones((2, N))), "shape (1, 30)"),
    (dict(teacher_direction="given", teacher_vectors=np.zeros(N)), "zero row"),
    (dict(teacher_direction="given", teacher_vectors=np.full(N, np.nan)), "finite"),
])
def test_refusals_name_the_field(fields, words):
    with pytest.raises(ValueError, match="teacher_vectors|teacher_direction") as error:
        make_mixture(og.MixtureSpec(n=N, **fields), 0)
    assert words in str(error.value)


def test_theory_teacher_moment_matches_monte_carlo():
    vectors = _vectors()
    spec = og.MixtureSpec(n=N, teacher=("tanh", "relu"), teacher_direction="given", teacher_vectors=vectors)
    mixture = make_mixture(spec, 1)
    F_hat = np.random.default_rng(2).standard_normal((4, N)) / np.sqrt(N)
    with jax.enable_x64(True):
        moments = og.population_moments(F_hat, mixture, "tanh")
        X, y, _ = sample_mixture(mixture, jax.random.PRNGKey(5), 200_000)
    y = np.asarray(y)
    mc, se = np.mean(y**2), np.std(y**2) / np.sqrt(len(y))
    assert abs(float(moments.s_y) - mc) < 5 * se
