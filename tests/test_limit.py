"""The sampling-free isotropic limit (numerics/limit.py) against independent evaluations.

Check (a): Cui et al. (ICML 2024) Result 3.3, written here from the paper's formulas in their own
parametrisation (bulk scale c_W, mu_1 divided by c_W, the seven order parameters iterated together
with damping 1/2 as in their notebook), NumPy only, with a Gauss-Jacobi rule for the
Marchenko-Pastur law (ours uses a midpoint rule in the angle) and Gauss-Hermite everywhere else.
Checks (b) and (c) run in ``benchmarks/limit_checks.py`` (minutes); a small (c) is slow-marked here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from onestep_gm.numerics.limit import IsotropicLimit, Quadrature, limit_point, marchenko_pastur_rule
from scipy.special import roots_jacobi

ACTS = {"tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2), "sin": (np.sin, np.cos)}


def _gh(n):
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / w.sum()


def cui_result_3_3(teacher, student, alpha0, eta, lam, alpha, *, spectrum="mp", d=2000, seed=58, tol=1e-11):
    """Test MSE of Cui et al.'s Result 3.3 (p = d), from the paper's formulas.

    ``spectrum="mp"``: the spectral averages over the Marchenko-Pastur law (ratio 1), with
    F_j -> c_W^2 and H_j -> D_j (their limits for random spike v and teacher part zeta);
    ``spectrum="sampled"``: their literal recipe, one sampled W0 (rows of unit norm), v, zeta.
    """
    f, df = ACTS[student]
    phi, _ = ACTS[teacher]
    z, wz = _gh(101)
    mu1 = wz @ (z * f(z))
    mu1t, mu2t = wz @ (z * phi(z)), wz @ phi(z) ** 2
    ss = wz @ (df(z) - mu1) ** 2
    r = eta * math.sqrt(mu2t / alpha0 + mu1t**2) * mu1
    cW = math.sqrt(1 + eta**2 / alpha0 * mu2t * ss)
    gamma = mu1t / math.sqrt(mu2t / alpha0 + mu1t**2)
    rho = math.sqrt(1 - gamma**2)

    if spectrum == "mp":
        t, w = roots_jacobi(400, 0.5, -0.5)
        D = cW**2 * 2 * (1 + t)
        dw = w / math.pi
        F, H = cW**2 * np.ones_like(D), D
    else:
        rng = np.random.default_rng(seed)
        W0 = rng.standard_normal((d, d)) / math.sqrt(d)
        W0 /= np.linalg.norm(W0, axis=1, keepdims=True)
        v = rng.standard_normal((d, 1))
        v *= math.sqrt(d) / np.linalg.norm(v)
        W = cW * W0
        Pi = np.eye(d) - v @ v.T / d
        D, U = np.linalg.eigh(W @ Pi @ W.T)
        zeta = Pi @ rng.standard_normal((d, 1))
        zeta *= math.sqrt(d) / np.linalg.norm(zeta)
        F = ((U.T @ W @ v) ** 2)[:, 0]
        H = ((U.T @ W @ zeta) ** 2)[:, 0]
        dw = np.full(d, 1.0 / d)

    k, wk = _gh(80)
    g, wg = _gh(60)
    pre = r * k[:, None] + cW * g[None, :]
    m0 = f(pre) @ wg
    m1 = (f(pre) * cW * g) @ wg / cW**2
    m2 = np.sqrt(np.maximum(f(pre) ** 2 @ wg - m0**2 - m1**2 * cW**2, 0))
    tpre = gamma * k[:, None] + rho * g[None, :]
    h, h1, hh = phi(tpre) @ wg, (g * phi(tpre)) @ wg, phi(tpre) ** 2 @ wg
    E = lambda x: wk @ x  # noqa: E731
    mean = lambda x: dw @ x  # noqa: E731

    q1, q2, V1, V2, theta, psi, m = 0.1, 0.2, 3.0, 3.0, 0.5, 0.5, 1.5
    for _ in range(20000):
        Vk = m1**2 * V1 + m2**2 * V2
        qk = m1**2 * q1 + m2**2 * q2
        c = m0 * m + m1 * k * theta
        err = hh + c**2 - 2 * c * h - 2 * m1 * psi * h1 + qk
        qh1, qh2 = alpha * E(m1**2 * err / (1 + Vk) ** 2), alpha * E(m2**2 * err / (1 + Vk) ** 2)
        Vh1, Vh2 = alpha * E(m1**2 / (1 + Vk)), alpha * E(m2**2 / (1 + Vk))
        th_hat = alpha * E(k * m1 * (h - c) / (1 + Vk))
        psi_hat = alpha * E(h1 * m1 / (1 + Vk))
        S = lam + Vh1 * D + Vh2
        num = qh1 * D + qh2 + th_hat**2 * F + psi_hat**2 * H
        new = dict(
            q1=mean(D / S**2 * num), q2=mean(num / S**2), V1=mean(D / S), V2=mean(1 / S),
            theta=th_hat * mean(F / S), psi=psi_hat * mean(H / S),
            m=E(m0 * (h - m1 * k * theta) / (1 + Vk)) / E(m0**2 / (1 + Vk)),
        )
        old = dict(q1=q1, q2=q2, V1=V1, V2=V2, theta=theta, psi=psi, m=m)
        if max(abs(new[x] - old[x]) for x in old) < tol:
            break
        q1, q2, V1, V2, theta, psi, m = (0.5 * new[x] + 0.5 * old[x] for x in old)
    else:
        raise AssertionError("Result 3.3 iteration did not converge")
    c = m0 * m + m1 * k * theta
    return E(hh + c**2 - 2 * c * h - 2 * m1 * psi * h1 + m1**2 * q1 + m2**2 * q2)


# Cui et al.'s two published settings: their theory notebook (sin teacher, alpha0 = 20, eta = 3,
# lambda = 0.1) and their simulations (tanh teacher, alpha0 = 0.5, eta = 1, lambda = 0.01)
SETTINGS = [("sin", 20.0, 3.0, 0.1), ("tanh", 0.5, 1.0, 0.01)]


@pytest.mark.parametrize(
    ("teacher", "alpha0", "eta", "lam"), [pytest.param(*SETTINGS[0], marks=pytest.mark.slow), SETTINGS[1]]
)
def test_cui_result_3_3_marchenko_pastur(teacher, alpha0, eta, lam):
    for alpha in (0.2, 1.6, 3.0) if teacher == "sin" else (0.2, 3.0):
        ours = limit_point(IsotropicLimit(alpha=alpha, alpha_step=alpha0, eta_tilde=eta, penalty=lam,
                                          activation="tanh", teacher=teacher))
        theirs = cui_result_3_3(teacher, "tanh", alpha0, eta, lam, alpha)
        assert ours.test_mse == pytest.approx(theirs, rel=5e-3), (alpha, ours.test_mse, theirs)
        assert ours.test_mse == pytest.approx(theirs, rel=1e-5)  # same equations: quadrature only


@pytest.mark.slow
@pytest.mark.parametrize(("teacher", "alpha0", "eta", "lam"), SETTINGS)
def test_cui_result_3_3_sampled_spectrum(teacher, alpha0, eta, lam):
    """Their literal recipe (one sampled W0, v, zeta at d = p = 2000, seed 58 as in their notebook).

    Measured: sin setting within 0.2 %; tanh setting +0.3 % (alpha = 0.2), +1.0 % (alpha = 1.6, near
    the interpolation peak at lambda = 0.01), finite-d fluctuations of one sampled spectrum."""
    for alpha in (0.2, 1.6, 3.0):
        ours = limit_point(IsotropicLimit(alpha=alpha, alpha_step=alpha0, eta_tilde=eta, penalty=lam,
                                          activation="tanh", teacher=teacher)).test_mse
        theirs = cui_result_3_3(teacher, "tanh", alpha0, eta, lam, alpha, spectrum="sampled")
        assert ours == pytest.approx(theirs, rel=1.5e-2), (alpha, ours, theirs)


@pytest.mark.parametrize("q", [0.5, 1.0, 3.0])
def test_marchenko_pastur_rule_moments(q):
    import jax

    with jax.enable_x64(True):
        D, w = (np.asarray(a) for a in marchenko_pastur_rule(q, 64))
    # moments of the eigenvalues of F F^T (k x k, rows of unit norm, k/n = q): 1, 1, 1 + q, 1 + 3q + q^2
    assert w.sum() == pytest.approx(1, abs=1e-13)
    assert w @ D == pytest.approx(1, abs=1e-13)
    assert w @ D**2 == pytest.approx(1 + q, abs=1e-12)
    assert w @ D**3 == pytest.approx(1 + 3 * q + q**2, abs=1e-12)


@pytest.mark.slow
def test_quadrature_converged():
    spec = IsotropicLimit(alpha=1.5, alpha_step=1.0, eta_tilde=2.0, penalty=0.05, activation="relu",
                          teacher="relu", noise=0.1)
    base = limit_point(spec)
    fine = limit_point(spec, Quadrature(kappa=128, inner=48, spectrum=192))
    assert base.test_mse == pytest.approx(fine.test_mse, rel=1e-6)
    assert base.train_error == pytest.approx(fine.train_error, rel=1e-6)


@pytest.mark.slow
def test_no_step_is_random_features_for_both_readouts():
    """Without a step the readout initialisation does not matter (odd sigma: no offset either)."""
    a = limit_point(IsotropicLimit(alpha=1.3, alpha_step=0.5, eta_tilde=0.0, readout_init="constant"))
    b = limit_point(IsotropicLimit(alpha=1.3, alpha_step=0.5, eta_tilde=0.0, readout_init="gaussian"))
    assert a.spike == 0 and b.spike == 0
    assert a.test_mse == pytest.approx(b.test_mse, rel=1e-10)


@pytest.mark.parametrize("readout_init", ["constant", "gaussian"])
def test_trained_layer_closed_forms(readout_init):
    """Step 1 for ReLU student and teacher, in closed form (h0 = t0 = 1/sqrt(2 pi), h1 = t1 = 1/2,
    h2 = 1/sqrt(2 pi), E relu^2 = 1/2, E(relu' - h1)^2 = 1/4).  The residual at initialisation is
    y - h0 for the constant readout and the label itself for the Gaussian one, whose initial output
    (1/k) sum_i a_i sigma(F_i x) is O(k^{-1/2})."""
    eta, alpha0, noise = 1.3, 0.5, 0.1
    h0 = 1 / math.sqrt(2 * math.pi)
    t2 = 0.5 + noise**2
    mean_r, s_r = (0.0, t2 - h0**2) if readout_init == "constant" else (h0, t2)
    norm = math.sqrt(0.25 + s_r / alpha0)
    bulk = (1 + eta * mean_r * h0) ** 2 + eta**2 * s_r * 0.25 / alpha0
    p = limit_point(IsotropicLimit(alpha=1.0, alpha_step=alpha0, eta_tilde=eta, penalty=0.05, activation="relu",
                                   teacher="relu", noise=noise, readout_init=readout_init))  # fmt: skip
    assert p.spike == pytest.approx(eta * 0.5 * norm, rel=1e-12)
    assert p.alignment == pytest.approx(0.5 / norm, rel=1e-12)
    assert p.bulk == pytest.approx(bulk, rel=1e-12)


def test_from_sizes_and_validation():
    spec = IsotropicLimit.from_sizes(n=2000, k=1000, m=3000, m_step=1000, lam=1e-5, eta=500.0)
    assert (spec.alpha, spec.alpha_step, spec.width, spec.eta_tilde) == (1.5, 0.5, 0.5, 0.5)
    assert spec.penalty == pytest.approx(0.03)
    with pytest.raises(ValueError, match="readout_init"):
        IsotropicLimit(alpha=1.0, alpha_step=1.0, readout_init="uniform")
    with pytest.raises(ValueError, match="alpha"):
        IsotropicLimit(alpha=0.0, alpha_step=1.0)


def test_curve_is_the_points():
    from onestep_gm.numerics.limit import limit_curve

    spec = IsotropicLimit(alpha=1.0, alpha_step=0.5, eta_tilde=1.0, penalty=0.01)
    curve = limit_curve(spec, [0.5, 2.0])
    for alpha, test, train in zip(curve.alpha, curve.test_mse, curve.train_error, strict=True):
        point = limit_point(IsotropicLimit(alpha=float(alpha), alpha_step=0.5, eta_tilde=1.0, penalty=0.01))
        assert test == pytest.approx(point.test_mse, rel=1e-12)
        assert train == pytest.approx(point.train_error, rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize(("activation", "penalty"), [("tanh", 0.01), ("relu", 0.05)])
def test_against_simulation_small(activation, penalty):
    """Check (c), small: n = k = 400, 4 seeds, constant readout; the limit within 3 s.e. + 6 %."""
    import jax

    from benchmarks.limit_checks import one_step_layer, simulate

    n, alpha = 400, 2.0
    spec = IsotropicLimit(alpha=alpha, alpha_step=0.5, eta_tilde=1.0, penalty=penalty, activation=activation,
                          teacher=activation)
    limit = limit_point(spec).test_mse
    errors = []
    with jax.enable_x64(True):
        for seed in range(4):
            key = jax.random.PRNGKey(seed)
            F_hat, xi = one_step_layer(key, n=n, k=n, m_step=n // 2, eta_tilde=1.0, activation=activation,
                                       teacher=activation)
            errors.append(simulate(jax.random.fold_in(key, 1), F_hat, xi, m=round(alpha * n), penalty=penalty,
                                   activation=activation, teacher=activation, test=4000)[0])
    se = np.std(errors, ddof=1) / 2
    assert abs(np.mean(errors) - limit) < 3 * se + 0.06 * limit, (np.mean(errors), se, limit)


@pytest.mark.parametrize("width", [0.5, 2.0])
def test_linear_features_classical_regression(width):
    """Linear student and teacher, no step: ordinary least squares on k = q n features of a linear
    target. For q < 1 the unexplained 1 - q acts as noise: test MSE = (1 - q)(1 + k/(m - k)), train
    MSE = (1 - q)(1 - k/m); for q > 1 the target is fitted exactly. This pins the k/n factors."""
    alpha = 100.0
    p = limit_point(IsotropicLimit(alpha=alpha, alpha_step=0.5, width=width, eta_tilde=0.0, penalty=1e-8,
                                   activation="linear", teacher="linear"))
    if width < 1:
        ratio = width / alpha  # k/m
        assert p.test_mse == pytest.approx((1 - width) * (1 + ratio / (1 - ratio)), rel=1e-6)
        assert p.train_mse == pytest.approx((1 - width) * (1 - ratio), rel=1e-6)
    else:
        assert abs(p.test_mse) < 1e-9 and abs(p.train_mse) < 1e-9
