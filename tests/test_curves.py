"""Theory curves: exact moments vs Monte Carlo and mpmath, the ridge equivalent vs classical
formulas and simulation, and the network prediction vs simulated networks."""

import json
import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from onestep_gm.numerics import population, prediction, ridge
from onestep_gm.numerics.codegen import jax_activation
from onestep_gm.numerics.mixture import Mixture, MixtureSpec, make_mixture, sample_mixture
from onestep_gm.numerics.network import readout_errors
from onestep_gm.theory.activations import get_activation
from onestep_gm.theory.order import scalings

RELU, TANH = get_activation("relu"), get_activation("tanh")


def _trained_layer(mixture, activation, k, m, eta, key):
    """F_hat = F + eta G from a fresh network and batch, written out here (independent of the
    engine's trial code)."""
    from onestep_gm.numerics.mixture import covariance_trace
    from onestep_gm.numerics.network import init_network, one_step

    key_net, key_batch = jax.random.split(key)
    n = mixture.means.shape[-1]
    F, w = init_network(key_net, n, k, float(covariance_trace(mixture)))
    X_tilde, y_tilde, _ = sample_mixture(mixture, key_batch, m)
    sigma, dsigma = jax_activation(activation)
    return one_step(F, w, X_tilde, y_tilde, eta, sigma, dsigma)


def _relu_closed(q1, q2, c):
    s = np.sqrt(np.maximum(q1 * q2 - c**2, 0.0))
    return (s + c * (np.pi - np.arctan2(s, c))) / (2 * np.pi)


# --------------------------------------------------------------------------- numeric rules


def test_pair_rule_matches_arc_cosine_kernel_up_to_collinear_pairs():
    rho = jnp.array([0.0, 0.3, -0.5, 0.9, 0.95, 0.99, 0.999, 0.99999, -0.9999, 1.0])
    q1, q2 = 1.3, 0.7
    n = rho.shape[0]
    vals = population.pair_expectation(
        RELU, RELU, jnp.zeros(n), jnp.full(n, q1**0.5), jnp.zeros(n), jnp.full(n, q2**0.5), rho
    )
    expected = _relu_closed(q1, q2, np.asarray(rho) * math.sqrt(q1 * q2))
    np.testing.assert_allclose(vals, expected, rtol=0, atol=1e-13)


def _dense_gauss_hermite(f, m1, m2, q1, q2, c, nodes=300):
    """E[f(u) f(v)] for a Gaussian pair (means m1, m2, variances q1, q2, covariance c): a dense
    nested 300 × 300 Gauss-Hermite rule in numpy, written here (the engine cuts Gauss-Legendre
    panels at the kinks).  For tanh at the point below it equals mpmath's 15-digit nested
    quadrature (``kernels.bivariate_mp``, ~6 s) to 2e-16; 200 nodes are off by 1e-13."""
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / math.sqrt(2 * math.pi)
    slope, rest = c / math.sqrt(q1), math.sqrt(q2 - c * c / q1)
    inner = f(m2 + slope * z[:, None] + rest * z[None, :]) @ w
    return float(np.sum(w * f(m1 + math.sqrt(q1) * z) * inner))


@pytest.mark.parametrize(
    "name,f,m1,m2,rho",
    [("tanh", np.tanh, 0.4, -1.1, 0.97), ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), 1.5, 0.3, -0.6)],
)
def test_pair_rule_matches_a_dense_reference_with_means(name, f, m1, m2, rho):
    act = get_activation(name)
    q1, q2 = 2.0, 0.5
    ref = _dense_gauss_hermite(f, m1, m2, q1, q2, rho * math.sqrt(q1 * q2))
    val = population.pair_expectation(
        act, act, jnp.array(m1), jnp.array(q1**0.5), jnp.array(m2), jnp.array(q2**0.5), jnp.array(rho)
    )
    assert float(val) == pytest.approx(ref, abs=1e-13)


def test_hermite_coefficients_of_relu_match_design_closed_forms():
    b = 1.7
    c = population.hermite_coefficients(RELU, jnp.zeros(1), jnp.full(1, b), 40)[:, 0]
    root = math.sqrt(2 * math.pi)
    # DESIGN.md: h0 = b/sqrt(2pi), h1 = b/2, h2 = b/sqrt(2pi), h3 = 0, h4 = -b/sqrt(2pi); c_p = h_p/sqrt(p!)
    expected = [b / root, b / 2, b / root / math.sqrt(2), 0.0, -b / root / math.sqrt(24)]
    np.testing.assert_allclose(c[:5], expected, atol=1e-14)
    # odd coefficients beyond 1 vanish; Parseval approaches E relu^2 = b^2/2 from below
    assert float(jnp.max(jnp.abs(c[3::2]))) < 1e-14
    assert 0 < b**2 / 2 - float(jnp.sum(c**2)) < 1e-3


def test_mehler_kernel_matches_arc_cosine_on_correlated_neurons():
    rng = np.random.default_rng(0)
    k = 40
    A = rng.standard_normal((k, 20)) / np.sqrt(20)
    common = np.where(np.arange(k) < k // 2, 1.0, -1.0) * (1 + 0.2 * rng.standard_normal(k))
    scale = np.where(np.arange(k) % 3 == 0, 0.3, 12.0)  # a third with moderate correlations
    cov = A @ A.T + np.outer(np.sqrt(scale) * common, np.sqrt(scale) * common)
    q = np.diag(cov)
    rho = cov / np.sqrt(np.outer(q, q))
    upper = np.abs(rho[np.triu_indices(k, 1)])
    assert np.sum(upper > population.RHO_SWITCH) > 100 and np.sum(upper < population.RHO_SWITCH) > 100
    numeric = population.numeric_kernel(RELU, jnp.zeros(k), jnp.asarray(cov))
    np.testing.assert_allclose(numeric, _relu_closed(q[:, None], q[None, :], cov), atol=1e-13)


def test_more_close_pairs_than_places_give_nan_not_a_wrong_kernel():
    """The pairs with |rho| > RHO_SWITCH are found on the device in a fixed number of places;
    should there be more, the kernel must not keep the Mehler value of the pairs left out."""
    rng = np.random.default_rng(0)
    k = 40
    common = rng.standard_normal(k)
    cov = np.outer(common, common) * 12.0 + np.eye(k)  # nearly all pairs |rho| > 0.9
    std, rho, low, off, _, high = population._correlations(jnp.asarray(cov))
    assert int(high) // 2 > 2
    args = (RELU, 64, jnp.zeros(k), std, rho, low, off)
    assert np.all(np.isnan(np.asarray(population._mehler_with_pairs(*args, 2))))
    full = np.asarray(population.numeric_kernel(RELU, jnp.zeros(k), jnp.asarray(cov)))
    np.testing.assert_allclose(full, _relu_closed(np.diag(cov)[:, None], np.diag(cov)[None, :], cov), atol=1e-12)


def test_mehler_and_pair_rules_agree_for_tanh_with_means():
    rng = np.random.default_rng(1)
    k = 12
    A = rng.standard_normal((k, 8)) / np.sqrt(8)
    cov = A @ A.T + 0.5 * np.eye(k)
    mean = rng.standard_normal(k)
    numeric = np.asarray(population.numeric_kernel(TANH, jnp.asarray(mean), jnp.asarray(cov)))
    std = np.sqrt(np.diag(cov))
    i, j = np.triu_indices(k, 1)
    pairs = population.pair_expectation(
        TANH, TANH, jnp.asarray(mean[i]), jnp.asarray(std[i]), jnp.asarray(mean[j]),
        jnp.asarray(std[j]), jnp.asarray(cov[i, j] / (std[i] * std[j])),
    )  # fmt: skip
    np.testing.assert_allclose(numeric[i, j], pairs, atol=1e-13)


@pytest.mark.parametrize("act,mean_norm,rule", [("tanh", 0.0, "mehler"), ("relu", 1.0, "mehler"),
                                                 ("relu", 0.0, "closed"), ("sin", 1.0, "Omega closed, u mehler")])  # fmt: skip
def test_population_omega_is_exactly_symmetric(act, mean_norm, rule):
    """Omega is not symmetrised at the end (XLA evaluated the Mehler sum twice for it): each
    kernel must be symmetric to the last bit on its own, Mehler's by construction and the
    closed ones by their own symmetrisation."""
    spec = MixtureSpec(n=60, beta=0.74, alpha=0.5, mean_norm=mean_norm)
    mixture, F_hat = _layer(spec, act, 50, 1.0, 3)
    moments = population.population_moments(F_hat, mixture, act)
    Omega = np.asarray(moments.Omega)
    assert moments.rule == rule
    assert np.array_equal(Omega, Omega.T)


# --------------------------------------------------------------------------- moments vs Monte Carlo


def _layer(spec, act, k, eta_factor, seed):
    mixture = make_mixture(spec, seed)
    eta = eta_factor * scalings(spec.n, spec.beta, spec.alpha).eta
    return mixture, _trained_layer(mixture, act, k, 4 * spec.n, eta, jax.random.PRNGKey(seed))


@pytest.mark.parametrize(
    "act,task",
    [("relu", "regression"), ("tanh", "regression"),
     pytest.param("sigmoid", "regression", marks=pytest.mark.slow),
     ("relu", "classification"), ("sin", "classification"), ("gelu", "regression"),
     pytest.param("tanh", "classification", marks=pytest.mark.slow)],
)  # fmt: skip
def test_exact_moments_equal_monte_carlo_within_standard_errors(act, task):
    spec = MixtureSpec(n=60, beta=0.9, alpha=0.5, task=task, noise=0.3 * (task == "regression"),
                       mean_norm=1.5 if task == "classification" else 0.0)  # fmt: skip
    mixture, F_hat = _layer(spec, act, 24, 8.0, 3)
    Omega, u, s_y, _ = population.population_moments(F_hat, mixture, act)
    N = 120_000
    X, y, _ = sample_mixture(mixture, jax.random.PRNGKey(11), N)
    sigma, _ = jax_activation(act)
    Phi = sigma(F_hat @ X.T) / math.sqrt(F_hat.shape[0])
    prods = Phi[:, None, :] * Phi[None, :, :]
    z_omega = (jnp.mean(prods, -1) - Omega) / (jnp.std(prods, -1) / math.sqrt(N))
    z_u = (jnp.mean(Phi * y, -1) - u) / (jnp.std(Phi * y, -1) / math.sqrt(N))
    z_s = (jnp.mean(y**2) - s_y) / (jnp.std(y**2) / math.sqrt(N)) if task == "regression" else 0.0
    # 300 distinct entries of Omega: the largest |z| of 300 normals exceeds 4.5 with prob ~ 2e-3
    assert float(jnp.max(jnp.abs(z_omega))) < 4.5
    assert float(jnp.max(jnp.abs(z_u))) < 4.5
    if task == "classification":
        assert float(s_y) == 1.0
    else:
        assert abs(float(z_s)) < 4.5


def test_closed_and_numeric_rules_agree_on_a_trained_layer():
    spec = MixtureSpec(n=60, beta=0.9, alpha=0.5)
    mixture, F_hat = _layer(spec, "relu", 24, 8.0, 5)
    closed = population.population_moments(F_hat, mixture, "relu", rule="closed")
    numeric = population.population_moments(F_hat, mixture, "relu", rule="mehler")
    assert (closed.rule, numeric.rule) == ("closed", "mehler")
    for a, b in zip(closed[:3], numeric[:3], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


# --------------------------------------------------------------------------- ridge equivalent


def _mp_stieltjes(gamma, lam):
    """Marchenko-Pastur Stieltjes transform m(z) = int dmu(s)/(s - z), evaluated near z = -lam."""

    def m(z):
        return (1 - gamma - z - mp.sqrt((1 - gamma - z) ** 2 - 4 * gamma * z)) / (2 * gamma * z)

    return m(-lam), mp.diff(m, -lam)


@pytest.mark.parametrize("k,m,lam", [(60, 150, 1e-2), (90, 60, 1e-3), (80, 80, 0.3)])
def test_linear_features_on_isotropic_data_give_classical_ridge_risk(k, m, lam):
    n = 120
    rng = np.random.default_rng(k + m)
    Q = np.linalg.qr(rng.standard_normal((n, k)))[0].T
    scale = 1.7
    F_hat = jnp.asarray(math.sqrt(scale) * Q)
    xi = rng.standard_normal(n)
    xi /= np.linalg.norm(xi)
    mixture = Mixture(
        weights=jnp.ones(1), means=jnp.zeros((1, n)), spikes=jnp.zeros((1, 1, n)),
        sizes=jnp.zeros((1, 1)), xi=jnp.asarray(xi), noise=jnp.asarray(0.2),
        classification=jnp.asarray(False),
    )  # fmt: skip
    pred = prediction.predict(F_hat, mixture, "linear", lam, m)
    # features z = F_hat x / sqrt(k) ~ N(0, omega I), omega = scale/k; Cov(x, relu(xi.x)) = xi/2
    omega = scale / k
    u = math.sqrt(scale) * (Q @ xi) / (2 * math.sqrt(k))
    r2 = float(u @ u) / omega
    noise = 0.5 + 0.2**2 - r2  # E y^2 minus the explained part
    gamma, lam_w = k / m, lam / omega
    mm, dm = _mp_stieltjes(gamma, lam_w)
    risk = r2 * lam_w**2 * dm + noise * gamma * (mm - lam_w * dm)
    assert pred.sigma_eps2 == pytest.approx(noise, rel=1e-12)
    assert pred.test_mse == pytest.approx(float(risk) + noise, rel=1e-9)
    assert pred.gen_error == pytest.approx(pred.test_mse / 2, rel=1e-15)


def test_ridgeless_underparametrised_limit():
    omega = np.linspace(0.5, 2.0, 50)
    Omega, u = jnp.diag(jnp.asarray(omega)), jnp.asarray(np.sqrt(omega) * 0.1)
    out = ridge.ridge_equivalent(Omega, u, 1.0, 0.0, 200)
    sigma2 = 1.0 - 50 * 0.01
    # classical: test = sigma^2/(1 - k/m), train = sigma^2 (1 - k/m), no bias, ||w||^2 = ||w*||^2 + noise
    assert float(out.test_mse) == pytest.approx(sigma2 / (1 - 50 / 200), rel=1e-9)
    assert float(out.train_mse) == pytest.approx(sigma2 * (1 - 50 / 200), rel=1e-9)
    assert float(out.kappa) < 1e-20


def test_kappa_solves_the_fixed_point():
    omega = np.geomspace(1e-4, 3.0, 300)
    spec = ridge.Spectrum(jnp.asarray(omega), jnp.zeros(300), jnp.asarray(1.0))
    for lam, m in [(1e-4, 100), (1e-2, 1000), (1.0, 50)]:
        kappa = float(ridge.equivalent_from_spectrum(spec, lam, m).kappa)
        assert kappa * (1 - np.sum(omega / (omega + kappa)) / m) == pytest.approx(lam, rel=1e-12)


@pytest.mark.parametrize("lam,m", [(1e-4, 60), (0.0, 40), (0.0, 200), (0.3, 1000)])
def test_solve_route_equals_the_eigenbasis(lam, m):
    """One (lambda, m) by eigenvalues + Cholesky solves, against the eigenvectors' route;
    over- and under-parametrised, ridgeless and not."""
    rng = np.random.default_rng(3)
    k = 80
    A = rng.standard_normal((k, 2 * k)) / np.sqrt(2 * k)
    Omega = jnp.asarray(A @ A.T / k + np.outer(np.ones(k), np.ones(k)) / k**2)
    u = jnp.asarray(A @ rng.standard_normal(2 * k) / k)
    fast = ridge._equivalent_by_solves(Omega, u, 0.5, lam, m)
    slow = ridge.equivalent_from_spectrum(ridge.spectrum(Omega, u, 0.5), lam, m)
    assert fast is not None
    for key in slow._fields:
        assert float(getattr(fast, key)) == pytest.approx(float(getattr(slow, key)), rel=1e-10, abs=1e-13), key


def test_rank_deficient_omega_takes_the_eigenbasis():
    """k > rank: the solve route declines (its Omega^-1 does not exist) and the pseudo-inverse
    of the eigenbasis answers."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((60, 20))
    Omega, u = jnp.asarray(A @ A.T / 60), jnp.asarray(A @ rng.standard_normal(20) / 60)
    assert ridge._equivalent_by_solves(Omega, u, 1.0, 1e-3, 100) is None
    out = ridge.ridge_equivalent(Omega, u, 1.0, 1e-3, 100)
    ref = ridge.equivalent_from_spectrum(ridge.spectrum(Omega, u, 1.0), 1e-3, 100)
    for key in ref._fields:
        assert float(getattr(out, key)) == float(getattr(ref, key)), key


def test_non_finite_moments_give_nan_errors_on_both_routes():
    """A diverged layer (NaN in Omega) must give NaN, not a LAPACK traceback nor a finite
    number (the eigenbasis used to read NaN eigenvalues as zeros: gen_error = s_y/2)."""
    Omega = np.eye(5) * 0.1
    Omega[1, 2] = Omega[2, 1] = np.nan
    u = jnp.full(5, 0.01)
    point = ridge.ridge_equivalent(jnp.asarray(Omega), u, 0.5, 1e-3, 10)
    curve = ridge.equivalent_from_spectrum(ridge.spectrum(jnp.asarray(Omega), u, 0.5), [1e-3, 1e-2], 10)
    assert np.isnan(float(point.gen_error)) and np.all(np.isnan(np.asarray(curve.gen_error)))


def test_nan_lambda_is_refused_on_both_routes():
    Omega, u = jnp.eye(4) * 0.1, jnp.full(4, 0.01)
    with pytest.raises(ValueError):
        ridge.ridge_equivalent(Omega, u, 0.5, float("nan"), 10)
    with pytest.raises(ValueError):
        ridge.equivalent_from_spectrum(ridge.spectrum(Omega, u, 0.5), [1e-3, float("nan")], 10)


def test_equivalent_matches_gaussian_feature_simulation():
    """Gaussian features with a linear target: train MSE, test MSE and ||w||^2 (noise-averaged)."""
    rng = np.random.default_rng(0)
    k, m, lam, s2, trials = 150, 300, 1e-2, 0.3, 16
    ev = np.linspace(0.1, 2.0, k) ** 3
    V = np.linalg.qr(rng.standard_normal((k, k)))[0]
    Omega = (V * ev) @ V.T
    w_star = rng.standard_normal(k) / np.sqrt(k)
    pred = ridge.ridge_equivalent(jnp.asarray(Omega), jnp.asarray(Omega @ w_star),
                                   w_star @ Omega @ w_star + s2, lam, m)  # fmt: skip
    root = V * np.sqrt(ev)
    sims = []
    for _ in range(trials):
        Z = rng.standard_normal((m, k)) @ root.T
        S = Z.T @ Z / m
        R = np.linalg.inv(S + lam * np.eye(k))
        signal = R @ S @ w_star
        H = Z @ R @ Z.T / m
        resid = Z @ w_star - H @ Z @ w_star
        I_H = np.eye(m) - H
        d = signal - w_star
        sims.append([
            (resid @ resid + s2 * np.sum(I_H**2)) / m,
            d @ Omega @ d + s2 * np.trace(Omega @ R @ S @ R) / m + s2,
            signal @ signal + s2 * np.trace(S @ R @ R) / m,
        ])  # fmt: skip
    train, test, wn = np.mean(sims, axis=0)
    assert float(pred.train_mse) == pytest.approx(train, rel=0.03)
    assert float(pred.test_mse) == pytest.approx(test, rel=0.02)
    assert float(pred.w_norm2) == pytest.approx(wn, rel=0.02)
    assert float(pred.train_error) == pytest.approx(train / 2 + lam * wn / 2, rel=0.03)


# --------------------------------------------------------------------------- curves


def test_learning_curve_reuses_moments_consistently():
    spec = MixtureSpec(n=60, beta=0.74, alpha=0.5)
    mixture, F_hat = _layer(spec, "relu", 40, 1.0, 2)
    by_m = prediction.curve_along(F_hat, mixture, "relu", vary="m", values=[30, 80], lam=1e-3, m=50)
    for i, m in enumerate((30, 80)):
        assert by_m["gen_error"][i] == pytest.approx(prediction.predict(F_hat, mixture, "relu", 1e-3, m).gen_error, rel=1e-10)
    by_k = prediction.curve_along(F_hat, mixture, "relu", vary="k", values=[10, 25], lam=1e-3, m=50)
    for i, kp in enumerate((10, 25)):
        direct = prediction.predict(F_hat[:kp], mixture, "relu", 1e-3, 50)
        assert by_k["train_error"][i] == pytest.approx(direct.train_error, rel=1e-9)
        assert by_k["gen_error"][i] == pytest.approx(direct.gen_error, rel=1e-9)
    by_lam = prediction.curve_along(F_hat, mixture, "relu", vary="lambda", values=[1e-3], lam=0.0, m=50)
    direct = prediction.predict(F_hat, mixture, "relu", 1e-3, 50)
    assert by_lam["gen_error"][0] == pytest.approx(direct.gen_error, rel=1e-10)
    with pytest.raises(ValueError, match="vary"):
        prediction.curve_along(F_hat, mixture, "relu", vary="n", values=[1], lam=1e-3, m=50)


# --------------------------------------------------------------------------- network vs theory


def _network_gap(act, beta, n, k, m, lam, trials, task="regression"):
    spec = MixtureSpec(n=n, beta=beta, alpha=0.5, task=task, mean_norm=1.0 * (task == "classification"))
    eta = scalings(n, beta, 0.5).eta
    sigma, _ = jax_activation(act)
    sim, theory = [], []
    for t in range(trials):
        key = jax.random.PRNGKey(100 + t)
        mixture = make_mixture(spec, jax.random.fold_in(key, 0))
        F_hat = _trained_layer(mixture, act, k, m, eta, jax.random.fold_in(key, 1))
        X, y, _ = sample_mixture(mixture, jax.random.fold_in(key, 2), m)
        Xt, yt, _ = sample_mixture(mixture, jax.random.fold_in(key, 3), 5 * m)
        tr, ge = readout_errors(sigma(F_hat @ X.T) / math.sqrt(k), y, sigma(F_hat @ Xt.T) / math.sqrt(k), yt, lam)
        sim.append([float(tr), float(ge)])
        p = prediction.predict(F_hat, mixture, act, lam, m)
        theory.append([p.train_error, p.gen_error])
    return np.mean(sim, axis=0), np.mean(theory, axis=0)


def test_prediction_matches_simulated_network_relu():
    sim, theory = _network_gap("relu", 0.74, 300, 150, 300, 1e-3, 4)
    assert theory[1] == pytest.approx(sim[1], rel=0.03)


@pytest.mark.slow
@pytest.mark.parametrize(
    "act,beta,n,k,m,lam,task",
    [("sigmoid", 0.74, 300, 150, 300, 1e-3, "regression"),
     ("tanh", 0.5, 300, 300, 300, 1e-2, "regression"),
     ("relu", 0.74, 300, 150, 300, 1e-3, "classification")],
)  # fmt: skip
def test_prediction_matches_simulated_network_more_regimes(act, beta, n, k, m, lam, task):
    sim, theory = _network_gap(act, beta, n, k, m, lam, 6, task)
    assert theory[1] == pytest.approx(sim[1], rel=0.04)


# --------------------------------------------------------------------------- CLI


def test_cli_curve_json_and_files(tmp_path, capsys):
    from onestep_gm.experiments.cli import main

    rc = main(["curve", "--vary", "lambda", "--n", "40", "--k", "30", "--m", "50", "--points", "4",
               "--trials", "2", "--json", "--out", str(tmp_path)])  # fmt: skip
    assert rc == 0
    obj = json.loads(capsys.readouterr().out)
    assert len(obj["values"]) == 4 and len(obj["mean"]["gen_error"]) == 4
    assert "convention" in obj and obj["parameters"]["trials"] == 2
    assert all(np.isfinite(obj["mean"]["train_error"]))
    assert (tmp_path / "curve.csv").read_text().count("\n") == 5
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_cli_curve_bad_input_exits_2(capsys):
    from onestep_gm.experiments.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["curve", "--vary", "n"])
    assert exc.value.code == 2
    assert main(["curve", "--vary", "m", "--activation", "nope(x"]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_mehler_teacher_cross_moment_equals_nested_pair_rule(act):
    """u_i by the Mehler series (fast path) against the nested 1-D x 1-D rule, ρ up to ~0.8."""
    import onestep_gm.numerics.population as C
    from onestep_gm.numerics.codegen import jax_activation
    from onestep_gm.numerics.mixture import (
        MixtureSpec,
        covariance_trace,
        make_mixture,
        sample_mixture,
    )
    from onestep_gm.numerics.network import init_network, one_step
    from onestep_gm.theory.activations import get_activation

    n = k = m = 150
    mix = make_mixture(MixtureSpec(n=n, beta=0.9, alpha=0.0, mean_norm=1.0), jax.random.PRNGKey(0))
    X, y, _ = sample_mixture(mix, jax.random.PRNGKey(1), m)
    F, w = init_network(jax.random.PRNGKey(2), n, k, float(covariance_trace(mix)))
    sigma, dsigma = jax_activation(act)
    F_hat = one_step(F, w, X, y, 1.0, sigma, dsigma)
    for law in C.component_laws(F_hat, mix):
        std, t_std = jnp.sqrt(jnp.diag(law.cov)), jnp.sqrt(law.t_var)
        rho = law.t_cov / (std * t_std)
        assert float(jnp.max(jnp.abs(rho))) > 0.3
        ref = C.pair_expectation(get_activation(act), get_activation("relu"), law.mean, std, law.t_mean, t_std, rho)
        plan = C.moment_plans(get_activation(act), C.summarise([law]), False)[0]
        got = C._cross(get_activation(act), law, plan, mix.teacher)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13)
