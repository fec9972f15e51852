"""Numeric activations (a JAX callable): quadrature coefficients, moments, kernels, every model,
and one-line refusals where SymPy is needed.  References are independent of the numeric route:
mpmath quadrature and closed forms of the exact layer, published closed kernels, and a nested
trapezoid rule written here."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import mpmath
import numpy as np
import pytest
from onestep_gm.numerics.activations import numeric_activation
from onestep_gm.theory.activations import get_activation


def _cube(x):
    return x**3


def _two(x):
    return 2.0 + 0 * x


# Module-level functions: a name keeps its first definition for the life of the process, so a
# rerun of a test in the same process registers the same function object again (a no-op).



def test_hermite_coefficients_and_second_moment_match_the_exact_layer(activation_registrations):
    import onestep_gm as og

    numeric_activation("spline_tanh", jnp.tanh)
    for b in ("0.8", "2.5"):
        numeric = og.hermite_coefficients("spline_tanh", b, 8)
        exact = og.hermite_coefficients("tanh", b, 8)  # mpmath tanh-sinh at 40 digits
        assert numeric.method == "numeric" and numeric.exact is None
        assert [float(v) for v in numeric.h] == pytest.approx([float(v) for v in exact.h], abs=1e-13)
        assert float(numeric.second_moment) == pytest.approx(float(exact.second_moment), rel=1e-13)
        assert float(numeric.h_star) == pytest.approx(float(exact.h_star), rel=1e-9)
    # and against a polynomial's closed form: x**3 by a JAX lambda, h_1 = 3 b^3, h_3 = 6 b^3
    numeric_activation("cube_fn", _cube)
    c = og.hermite_coefficients("cube_fn", 0.5, 4)
    assert [float(v) for v in c.h] == pytest.approx([0, 3 * 0.125, 0, 6 * 0.125], abs=1e-14)
    assert float(c.h_star) == pytest.approx(0.0, abs=1e-7)  # E[(bz)^6] = 15 b^6 = h_1^2 + h_3^2/3!


def test_moments_and_conditional_moments_match_mpmath(activation_registrations):
    from onestep_gm.numerics.codegen import jax_moments

    act = numeric_activation("spline_tanh", jnp.tanh)

    def reference(a, s, f):
        return mpmath.quad(lambda z: f(a + s * z) * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf])

    for a, s in ((0.3, 0.7), (-1.2, 2.0)):
        m2 = float(reference(a, s, lambda x: mpmath.tanh(x) ** 2))
        assert float(act.moment(a, s, 2)) == pytest.approx(m2, rel=1e-13)
        with jax.enable_x64(True):
            M0, M1, M2 = (float(v) for v in jax_moments("spline_tanh")(a, s))
        assert M0 == pytest.approx(float(reference(a, s, mpmath.tanh)), abs=1e-13)
        assert M1 == pytest.approx(float(reference(a, s, lambda x: mpmath.sech(x) ** 2)), rel=1e-12)
        assert M2 == pytest.approx(m2, rel=1e-12)


def test_a_jump_declared_as_a_kink_gets_the_first_moment_by_steins_form(activation_registrations):
    from onestep_gm.numerics.codegen import jax_moments

    numeric_activation("jump", jnp.sign, kinks=(0.0,))  # jax.grad of sign is 0: Stein's form is needed
    a, s = 0.4, 0.9
    with jax.enable_x64(True):
        M0, M1, _ = (float(v) for v in jax_moments("jump")(a, s))
    assert M0 == pytest.approx(math.erf(a / (s * math.sqrt(2))), abs=1e-13)  # 2 Phi(a/s) - 1
    assert M1 == pytest.approx(2 * math.exp(-(a**2) / (2 * s**2)) / (s * math.sqrt(2 * math.pi)), rel=1e-12)


def test_the_derivative_defaults_to_autodiff_and_a_given_one_is_used(activation_registrations):
    x = jnp.linspace(-3.0, 3.0, 7)
    _, d_auto = numeric_activation("auto_d", jnp.tanh).functions()
    _, d_given = numeric_activation("given_d", jnp.tanh, derivative=_two).functions()
    np.testing.assert_allclose(np.asarray(d_auto(x)), 1 - np.tanh(np.asarray(x)) ** 2, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(d_given(x)), 2.0)
    sigma, _ = get_activation("auto_d").functions()
    assert sigma(jnp.ones(3, jnp.float32)).dtype == jnp.float32  # the input's dtype


def _pair_reference(f, m1, s1, m2, s2, rho, nodes=801):
    """E[f(u) f(v)] by a nested trapezoid rule on |z|, |g| <= 10 (f analytic: geometric convergence)."""
    z = np.linspace(-10, 10, nodes)
    w = (z[1] - z[0]) * np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    Z, G = np.meshgrid(z, z, indexing="ij")
    u = m1 + s1 * Z
    v = m2 + s2 * (rho * Z + math.sqrt(1 - rho**2) * G)
    return float(np.einsum("i,j,ij->", w, w, f(u) * f(v)))


def test_the_bivariate_kernel_matches_a_trapezoid_reference(activation_registrations):
    act = numeric_activation("spline_tanh", jnp.tanh)
    mean = np.array([0.3, -0.5, 0.1])
    L = np.array([[1.0, 0, 0], [0.6, 0.9, 0], [-0.95, 0.1, 0.3]])  # pairs on both sides of RHO_SWITCH
    cov = L @ L.T
    K = np.asarray(act.kernel(mean, cov))
    s = np.sqrt(np.diag(cov))
    for i in range(3):
        for j in range(3):
            rho = min(cov[i, j] / (s[i] * s[j]), 1.0)
            assert K[i, j] == pytest.approx(_pair_reference(np.tanh, mean[i], s[i], mean[j], s[j], rho), abs=1e-12)


def test_the_erf_kernel_matches_its_published_closed_form(activation_registrations):
    # E[erf(u) erf(v)] = (2/pi) arcsin(2c / sqrt((1 + 2q1)(1 + 2q2))), centred (Williams 1997)
    L = np.array([[1.0, 0, 0], [0.6, 0.9, 0], [-0.95, 0.1, 0.3]])
    cov = L @ L.T
    K = np.asarray(numeric_activation("erf_fn", jsp.erf).kernel(np.zeros(3), cov))
    q = np.diag(cov)
    closed = 2 / np.pi * np.arcsin(2 * cov / np.sqrt(np.outer(1 + 2 * q, 1 + 2 * q)))
    np.testing.assert_allclose(K, closed, atol=1e-12)


def test_every_model_of_simulate_runs_a_numeric_activation_like_the_built_in_one(activation_registrations):
    import onestep_gm as og

    numeric_activation("spline_tanh", jnp.tanh)
    config = og.SimulationConfig(
        data=og.MixtureSpec(n=40, beta=0.6, alpha=0.5), k=30, m=40, trials=1,
        activations=("tanh", "spline_tanh"), models=("nn", "hermite", "theory"), theory_trials=1,
    )  # fmt: skip
    result = og.simulate(config)
    for model in config.models:
        built_in, numeric = og.Pair("tanh", model), og.Pair("spline_tanh", model)
        assert np.isfinite(result.gen[numeric]).all()
        np.testing.assert_allclose(result.gen[numeric], result.gen[built_in], rtol=1e-9)
        np.testing.assert_allclose(result.train[numeric], result.train[built_in], rtol=1e-9)
    assert result.info["hermite"]["spline_tanh"]["method"] == "numeric"


def test_quantities_that_need_sympy_are_refused_with_one_line_naming_the_activation(activation_registrations):
    from onestep_gm.experiments.derive import render_activation
    from onestep_gm.theory.hermite_exact import hermite_symbolic
    from onestep_gm.theory.moments import moments_mpmath

    import onestep_gm as og

    numeric_activation("spline_tanh", jnp.tanh)
    refused = {
        "derivation page": lambda: render_activation("spline_tanh"),
        "closed-form conditional moments": lambda: og.conditional_moments("spline_tanh"),
        "mpmath reference": lambda: moments_mpmath("spline_tanh", 0, 1),
        "closed-form h_j": lambda: hermite_symbolic("spline_tanh", 1),
        "sampling-free limit": lambda: og.limit_point(
            og.IsotropicLimit(alpha=1.0, alpha_step=0.5, activation="spline_tanh")
        ),
    }
    for what, call in refused.items():
        with pytest.raises(ValueError) as info:
            call()
        line = str(info.value)
        assert "\n" not in line and "'spline_tanh' is numeric" in line and what in line
        assert "register_activation" in line  # the alternative


def test_numeric_activation_refuses_what_it_cannot_use(activation_registrations):
    with pytest.raises(TypeError, match="callable"):
        numeric_activation("bad", 3.0)
    with pytest.raises(TypeError, match="derivative"):
        numeric_activation("bad", jnp.tanh, derivative="tanh")
    with pytest.raises(ValueError, match="elementwise"):
        numeric_activation("bad", lambda x: jnp.sum(x))
    with pytest.raises(ValueError, match="not finite"):
        numeric_activation("bad", lambda x: 1 / x)
    with pytest.raises(ValueError, match="built in"):
        numeric_activation("tanh", jnp.tanh)
    with pytest.raises(ValueError, match="kinks"):
        numeric_activation("bad", jnp.abs, kinks=("zero",))
    numeric_activation("taken", jnp.tanh)
    with pytest.raises(ValueError, match="registered already"):
        numeric_activation("taken", jnp.sin)


def test_closed_rules_step_aside_for_a_numeric_activation(activation_registrations):
    from onestep_gm.numerics.population import LawSummary, moment_plans
    from onestep_gm.theory import kernels

    act = numeric_activation("erf_fn", jsp.erf)
    assert kernels.closed_kernel(act, centred=True) is None and kernels.closed_mean(act) is None
    summary = LawSummary(centred=True, teacher_centred=True, rho_max=0.5, high_pairs=0, cross_rho_max=(0.5,))
    (plan,) = moment_plans(act, [summary], classification=False, rule="auto")
    assert plan.kernel is None and plan.cross == (None,)  # the Mehler series and the pair rule
    with pytest.raises(ValueError, match="no closed-form kernel for erf_fn"):
        moment_plans(act, [summary], classification=False, rule="closed")
