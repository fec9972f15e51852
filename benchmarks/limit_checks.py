"""Checks (b) and (c) of the sampling-free isotropic limit (docs/limit-theory.md).

(b) the F_hat-conditional theory (exact population moments of sigma(F_hat x)/sqrt(k) and the ridge
    deterministic equivalent of ``numerics/ridge.py``) averaged over F_hat draws at growing n;
(c) direct simulation: the network's features, ridge, test MSE on fresh samples.

The one-step layer is written here from DESIGN.md (isotropic x ~ N(0, I_n), rows of F of unit
norm, readout w = 1/sqrt(k) or N(0, 1/k), G as in DESIGN.md, F_hat = F + eta G with
eta = eta_tilde * k), independently of ``numerics/limit.py``.

    python -m benchmarks.limit_checks simulate --n 1000 --seeds 3
    python -m benchmarks.limit_checks conditional --sizes 500 1000 2000 4000 --draws 4
"""

from __future__ import annotations

import argparse
import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp


def _fns(spec: str):
    from onestep_gm.theory.activations import X, get_activation

    act = get_activation(spec)
    mods = [{"Heaviside": lambda x, h0=0.5: jnp.where(x > 0, 1.0, jnp.where(x < 0, 0.0, h0))}, "jax"]
    return sp.lambdify(X, act.expr, modules=mods), sp.lambdify(X, act.derivative, modules=mods)


def one_step_layer(key, *, n, k, m_step, eta_tilde, activation, teacher, readout="constant", noise=0.0):
    """(F_hat, xi): the trained first layer and the teacher direction (float64)."""
    sigma, dsigma = _fns(activation)
    tsigma, _ = _fns(teacher)
    kF, kw, kx, ke, kxi = jax.random.split(key, 5)
    F = jax.random.normal(kF, (k, n))
    F = F / jnp.linalg.norm(F, axis=1, keepdims=True)
    w = jnp.ones(k) / math.sqrt(k) if readout == "constant" else jax.random.normal(kw, (k,)) / math.sqrt(k)
    xi = jax.random.normal(kxi, (n,))
    xi = xi / jnp.linalg.norm(xi)
    X = jax.random.normal(kx, (m_step, n))
    y = tsigma(X @ xi) + noise * jax.random.normal(ke, (m_step,))
    pre = F @ X.T
    resid = y - (w @ sigma(pre)) / math.sqrt(k)
    G = ((w[:, None] / math.sqrt(k)) * resid[None, :] * dsigma(pre)) @ X / m_step
    return F + eta_tilde * k * G, xi


def srf_layer(key, *, n, k, spike, bulk, alignment):
    """Cui et al.'s spiked random-features layer with the limit's (r, c, gamma), constant readout:
    F_hat = sqrt(c) F + r 1 v^T, v = gamma xi + sqrt(1 - gamma^2) zeta (diagnostic of assumption A1)."""
    kF, kxi, kz = jax.random.split(key, 3)
    F = jax.random.normal(kF, (k, n))
    F = F / jnp.linalg.norm(F, axis=1, keepdims=True)
    xi = jax.random.normal(kxi, (n,))
    xi = xi / jnp.linalg.norm(xi)
    zeta = jax.random.normal(kz, (n,))
    zeta = zeta - (zeta @ xi) * xi
    zeta = zeta / jnp.linalg.norm(zeta)
    v = alignment * xi + math.sqrt(1 - alignment**2) * zeta
    return math.sqrt(bulk) * F + spike * jnp.outer(jnp.ones(k), v), xi


def simulate(key, F_hat, xi, *, m, penalty, activation, teacher, noise=0.0, test=5000):
    """Ridge on sigma(F_hat x)/sqrt(k) with m samples, unnormalised penalty; (test MSE, train MSE, ||w||^2)."""
    sigma, _ = _fns(activation)
    tsigma, _ = _fns(teacher)
    k, n = F_hat.shape
    kx, ke, kt, kte = jax.random.split(key, 4)
    X = jax.random.normal(kx, (m, n))
    y = tsigma(X @ xi) + noise * jax.random.normal(ke, (m,))
    Phi = sigma(X @ F_hat.T) / math.sqrt(k)  # (m, k)
    if m >= k:
        w = jnp.linalg.solve(Phi.T @ Phi + penalty * jnp.eye(k), Phi.T @ y)
    else:
        w = Phi.T @ jnp.linalg.solve(Phi @ Phi.T + penalty * jnp.eye(m), y)
    train = jnp.mean((y - Phi @ w) ** 2)
    Xt = jax.random.normal(kt, (test, n))
    yt = tsigma(Xt @ xi) + noise * jax.random.normal(kte, (test,))
    err = jnp.mean((yt - sigma(Xt @ F_hat.T) @ w / math.sqrt(k)) ** 2)
    return float(err), float(train), float(w @ w)


def conditional(F_hat, xi, *, ms, penalty, activation, teacher, noise=0.0):
    """The F_hat-conditional theory at every m in ``ms`` (penalty lambda_c = lambda m fixed): exact
    Omega, u, s_y (Mehler series of ``numerics/population.py``) and ``numerics/ridge.py``'s
    deterministic equivalent, decomposed once.  Returns arrays (test MSE, train MSE)."""
    from onestep_gm.numerics.population import hermite_coefficients, numeric_kernel
    from onestep_gm.numerics.ridge import equivalent_from_spectrum, spectrum
    from onestep_gm.theory.activations import get_activation

    act, tact = get_activation(activation), get_activation(teacher)
    k = F_hat.shape[0]
    cov = F_hat @ F_hat.T
    Omega = numeric_kernel(act, jnp.zeros(k), cov) / k
    std = jnp.sqrt(jnp.diag(cov))
    rho = (F_hat @ xi) / std  # corr(a_i, xi^T x)
    order = 64
    cs = hermite_coefficients(act, jnp.zeros(k), std, order)  # (order+1, k)
    ct = hermite_coefficients(tact, jnp.zeros(1), jnp.ones(1), order)[:, 0]
    powers = rho[None, :] ** jnp.arange(order + 1)[:, None]
    u = jnp.sum(cs * ct[:, None] * powers, axis=0) / math.sqrt(k)
    s_y = jnp.sum(ct**2) + noise**2
    ms = np.asarray(ms, np.float64)
    out = equivalent_from_spectrum(spectrum(Omega, u, s_y), penalty / ms, ms)
    return np.asarray(out.test_mse), np.asarray(out.train_mse)


def _limit(args, alpha, n=None):
    from onestep_gm.numerics.limit import IsotropicLimit, limit_point

    return limit_point(
        IsotropicLimit(alpha=alpha, alpha_step=args.alpha_step, width=args.width, eta_tilde=args.eta_tilde,
                       penalty=args.penalty, activation=args.activation, teacher=args.teacher,
                       noise=args.noise, readout_init=args.readout)
    )


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("check", choices=["simulate", "conditional"])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--sizes", type=int, nargs="*", default=[500, 1000, 2000, 4000])
    p.add_argument("--alphas", type=float, nargs="*", default=[0.5, 1.0, 2.0])
    p.add_argument("--alpha-step", type=float, default=0.5)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--eta-tilde", type=float, default=1.0)
    p.add_argument("--penalty", type=float, default=0.01)
    p.add_argument("--activation", default="tanh")
    p.add_argument("--teacher", default="tanh")
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--readout", default="constant")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--draws", type=int, default=3)
    p.add_argument("--layer", choices=["step", "srf"], default="step",
                   help="conditional check on the one-step layer, or on the sRF layer of the limit (A1 diagnostic)")
    args = p.parse_args(argv)
    rows = []
    with jax.enable_x64(True):
        if args.check == "simulate":
            n = args.n
            k = round(args.width * n)
            for alpha in args.alphas:
                tests, trains = [], []
                t0 = time.perf_counter()
                for seed in range(args.seeds):
                    key = jax.random.PRNGKey(1000 + seed)
                    if args.layer == "srf":
                        lim0 = _limit(args, alpha)
                        F_hat, xi = srf_layer(key, n=n, k=k, spike=lim0.spike, bulk=lim0.bulk,
                                              alignment=lim0.alignment)
                    else:
                        F_hat, xi = one_step_layer(key, n=n, k=k, m_step=round(args.alpha_step * n),
                                                   eta_tilde=args.eta_tilde, activation=args.activation,
                                                   teacher=args.teacher, readout=args.readout, noise=args.noise)
                    e, t, _ = simulate(jax.random.fold_in(key, 7), F_hat, xi, m=round(alpha * n),
                                       penalty=args.penalty, activation=args.activation,
                                       teacher=args.teacher, noise=args.noise)
                    tests.append(e)
                    trains.append(t)
                lim = _limit(args, alpha)
                row = {"alpha": alpha, "n": n, "sim_test": float(np.mean(tests)),
                       "sim_test_se": float(np.std(tests, ddof=1) / math.sqrt(len(tests))) if len(tests) > 1 else None,
                       "sim_train": float(np.mean(trains)), "limit_test": lim.test_mse, "limit_train": lim.train_mse,
                       "seconds": time.perf_counter() - t0}
                rows.append(row)
                print(json.dumps(row), flush=True)
        else:
            lims = [_limit(args, alpha) for alpha in args.alphas]
            for n in args.sizes:
                k = round(args.width * n)
                vals = []
                t0 = time.perf_counter()
                for draw in range(args.draws):
                    key = jax.random.PRNGKey(2000 + draw)
                    if args.layer == "srf":
                        F_hat, xi = srf_layer(key, n=n, k=k, spike=lims[0].spike, bulk=lims[0].bulk,
                                              alignment=lims[0].alignment)
                    else:
                        F_hat, xi = one_step_layer(key, n=n, k=k, m_step=round(args.alpha_step * n),
                                                   eta_tilde=args.eta_tilde, activation=args.activation,
                                                   teacher=args.teacher, readout=args.readout, noise=args.noise)
                    vals.append(conditional(F_hat, xi, ms=[round(a * n) for a in args.alphas], penalty=args.penalty,
                                            activation=args.activation, teacher=args.teacher, noise=args.noise))
                vals = np.array(vals)  # (draws, 2, alphas)
                for j, (alpha, lim) in enumerate(zip(args.alphas, lims, strict=True)):
                    test = vals[:, 0, j]
                    row = {"alpha": alpha, "n": n, "draws": len(test), "cond_test": float(test.mean()),
                           "cond_test_draws": [float(v) for v in test],
                           "cond_test_se": float(test.std(ddof=1) / math.sqrt(len(test))) if len(test) > 1 else None,
                           "cond_train": float(vals[:, 1, j].mean()), "limit_test": lim.test_mse,
                           "limit_train": lim.train_mse, "gap": float(test.mean() / lim.test_mse - 1),
                           "seconds": time.perf_counter() - t0}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    main()
