"""SymPy → JAX: activations, closed-form and quadrature moments against mpmath."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from onestep_gm.numerics.codegen import jax_activation, jax_function, jax_moments, jax_source
from onestep_gm.theory.activations import REGISTRY, X, get_activation
from onestep_gm.theory.moments import A, S, moments_mpmath

USER_EXPRESSIONS = ["x**3 - tanh(x)", "Max(0, x) + 0.1*x", "Abs(x)", "Abs(tanh(x))"]
ALL = [*REGISTRY, *USER_EXPRESSIONS]
GROWS_EXPONENTIALLY = {"exp"}
GRID_A = (-3.0, -1.0, -0.2, 0.0, 0.7, 2.5)
GRID_S = (0.1, 0.5, 1.0, 2.0)
TOL = 1e-10


@pytest.fixture
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def close(value, reference, tol=TOL):
    value, reference = np.asarray(value, float), np.asarray(reference, float)
    return np.all(np.abs(value - reference) <= tol * np.maximum(1.0, np.abs(reference)))


def mpmath_pair(name):
    """sigma and sigma' evaluated by mpmath straight from the SymPy expression."""
    expr = get_activation(name).expr
    # the pointwise derivative away from kinks: jump masses (DiracDelta) are 0 there
    derivative = sp.diff(expr, X).replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    return sp.lambdify(X, expr, "mpmath"), sp.lambdify(X, derivative, "mpmath")


def stein_moments(name, a, s):
    """M0, M1 = E[g sigma(a+sg)]/s, M2 by mpmath on z, split at the kinks (independent of the code)."""
    act = get_activation(name)
    f = sp.lambdify(X, act.expr, "mpmath")
    with mp.workdps(20):
        a, s = mp.mpf(a), mp.mpf(s)
        points = [
            -mp.inf,
            *sorted({mp.mpf(0), *((mp.mpf(float(k)) - a) / s for k in act.kinks)}),
            mp.inf,
        ]
        integrands = (
            lambda z: f(a + s * z),
            lambda z: z * f(a + s * z) / s,
            lambda z: f(a + s * z) ** 2,
        )
        return [float(mp.quad(lambda z, w=w: w(z) * mp.npdf(z), points)) for w in integrands]


@pytest.mark.parametrize("name", ALL)
def test_activation_matches_mpmath_in_float64(x64, name):
    sigma, sigma_prime = jax_activation(name)
    f, fp = mpmath_pair(name)
    x = np.array([-30.0, -4.1, -1.0, -0.3, 0.2, 1.0, 3.7, 30.0])
    assert sigma(jnp.asarray(x)).dtype == jnp.float64
    assert close(sigma(jnp.asarray(x)), [float(f(mp.mpf(v))) for v in x], 1e-13)
    kinks = [float(k) for k in get_activation(name).kinks]
    xs = x[[all(abs(v - k) > 1e-12 for k in kinks) for v in x]]  # sigma'(kink) is 0 here, 1/2 in SymPy
    assert close(sigma_prime(jnp.asarray(xs)), [float(fp(mp.mpf(v))) for v in xs], 1e-13)


@pytest.mark.parametrize("name", list(REGISTRY))
@pytest.mark.parametrize("enable_x64", [False, True])
def test_float32_in_float32_out_and_finite_for_large_arguments(name, enable_x64):
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", enable_x64)
    try:
        x = jnp.array([-1e4, -88.0, -50.0, 0.0, 50.0, 89.0, 1e4], jnp.float32)
        if name in GROWS_EXPONENTIALLY:  # e^x itself exceeds float32 beyond x = 88.7
            x = x[x < 88.7]
        for fn in jax_activation(name):
            y = fn(x)
            assert y.dtype == jnp.float32 and y.shape == x.shape
            assert bool(jnp.all(jnp.isfinite(y)))
        moments = jax_moments(name)(jnp.array([-30.0, 0.0, 2.0], jnp.float32), jnp.float32(1.0))
        for m in moments:
            assert m.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(m)))
    finally:
        jax.config.update("jax_enable_x64", previous)


def test_large_arguments_in_float64_are_finite(x64):
    x = jnp.array([-1e4, -800.0, 0.0, 800.0, 1e4])
    for name in REGISTRY:
        xs = x[x < 709.0] if name in GROWS_EXPONENTIALLY else x  # e^x exceeds float64 beyond 709.8
        for fn in jax_activation(name):
            assert bool(jnp.all(jnp.isfinite(fn(xs)))), name
    sigma, sigma_prime = jax_activation("sigmoid")
    assert sigma_prime(x).tolist()[0] == 0.0 and sigma(x).tolist()[-1] == 1.0


@pytest.mark.parametrize("name", ALL)
def test_moments_match_mpmath_on_the_grid(x64, name):
    a, s = np.meshgrid(GRID_A, GRID_S, indexing="ij")
    got = np.stack(jax_moments(name)(jnp.asarray(a), jnp.asarray(s)), axis=-1)
    reference = np.array(
        [
            [[float(v) for v in moments_mpmath(name, ai, si, dps=20)] for si in GRID_S]
            for ai in GRID_A
        ]
    )
    assert got.shape == reference.shape
    assert close(got, reference)
    for i, j in ((0, 1), (3, 2), (5, 3)):
        assert close(got[i, j], stein_moments(name, GRID_A[i], GRID_S[j]))


@pytest.mark.parametrize("name", ["tanh", "erf", "gelu"])
def test_quadrature_meets_1e10_at_the_edges_of_the_design_range(x64, name):
    a = np.array([-5.0, -5.0, 5.0, 5.0, 0.3, -0.1])
    s = np.array([0.05, 3.0, 0.05, 3.0, 3.0, 3.0])
    got = np.stack(jax_moments(name)(jnp.asarray(a), jnp.asarray(s)), axis=-1)
    reference = [
        [float(v) for v in moments_mpmath(name, ai, si, dps=20)]
        for ai, si in zip(a, s, strict=True)
    ]
    assert close(got, reference)


def test_hermite_rule_is_accurate_for_moderate_s(x64):
    a, s = jnp.asarray(GRID_A), jnp.full(len(GRID_A), 0.5)
    got = np.stack(jax_moments("tanh", rule="hermite", nodes=96)(a, s), axis=-1)
    reference = [[float(v) for v in moments_mpmath("tanh", ai, 0.5, dps=20)] for ai in GRID_A]
    assert close(got, reference)


def test_relu_closed_form_matches_the_design_formula_numerically(x64):
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    a, s = rng.uniform(-4, 4, 200), rng.uniform(0.05, 4, 200)
    m0, m1, m2 = (np.asarray(m) for m in jax_moments("relu")(jnp.asarray(a), jnp.asarray(s)))
    u = a / s
    assert close(m0, a * norm.cdf(u) + s * norm.pdf(u), 1e-13)
    assert close(m1, norm.cdf(u), 1e-13)
    assert close(m2, (a**2 + s**2) * norm.cdf(u) + a * s * norm.pdf(u), 1e-13)


def test_tanh_moments_monte_carlo_within_four_standard_errors(x64):
    a, s, n = -0.4, 1.3, 400_000
    x = a + s * np.random.default_rng(3).standard_normal(n)
    samples = (np.tanh(x), 1 - np.tanh(x) ** 2, np.tanh(x) ** 2)
    moments = jax_moments("tanh")(jnp.asarray(a), jnp.asarray(s))
    for values, m in zip(samples, moments, strict=True):
        assert abs(values.mean() - float(m)) < 4 * values.std(ddof=1) / np.sqrt(n)


def test_jit_and_vmap(x64):
    moments = jax_moments("softplus")
    a = jnp.linspace(-2.0, 2.0, 12).reshape(3, 4)
    s = jnp.array([0.3, 0.7, 1.1, 1.9])
    batched = jax.jit(jax.vmap(lambda row: moments(row, s)))(a)
    direct = moments(a, s)
    for b, d in zip(batched, direct, strict=True):
        assert b.shape == (3, 4)
        assert close(b, d, 1e-14)
    grad = jax.grad(lambda v: moments(v, 1.0)[0])(0.3)
    assert close(grad, moments(0.3, 1.0)[1], 1e-9)


def test_broadcasting_and_scalar_inputs(x64):
    m0, m1, m2 = jax_moments("relu")(jnp.zeros((2, 1)), jnp.ones(3))
    assert m0.shape == m1.shape == m2.shape == (2, 3)
    sigma_prime = jax_activation("linear")[1]
    assert sigma_prime(jnp.zeros(5)).shape == (5,)
    assert float(jax_moments("relu")(0.0, 1.0)[2]) == pytest.approx(0.5, rel=1e-15)


def test_heaviside_convention_and_stable_source():
    assert jax_activation("relu")[1](jnp.array([-1.0, 0.0, 2.0])).tolist() == [0.0, 0.0, 1.0]
    assert "sigmoid(x)" in jax_source(REGISTRY["sigmoid"].expr, X)
    assert "softplus(x)" in jax_source(REGISTRY["softplus"].expr, X)
    f = jax_function(A * sp.erf(A / S), A, S)
    assert f(jnp.ones(2, jnp.float32), 2).dtype == jnp.float32


def test_bad_rule_raises():
    with pytest.raises(ValueError):
        jax_moments("tanh", rule="simpson")
    with pytest.raises(ValueError):
        jax_moments("tanh", nodes=1)


def test_theory_does_not_import_jax():
    code = ("import sys, onestep_gm.theory.moments, onestep_gm.theory.kernels, onestep_gm.theory.hermite; "
            "assert 'jax' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
