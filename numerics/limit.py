r"""The sampling-free learning curve after one step, isotropic corner (docs: ``limit-theory.md``).

Isotropic data :math:`x\sim\mathcal N(0, I_n)`, a single-index teacher
:math:`y = \sigma_*(\xi^\top x) + \delta\varepsilon` with :math:`\|\xi\| = 1`, first-layer rows of
unit norm, readout at initialisation constant (:math:`w_i = 1/\sqrt k`, Cui et al. 2024) or
Gaussian (:math:`w_i = \omega_i/\sqrt k`, :math:`\omega_i\sim\mathcal N(0,1)`, the paper), one step
:math:`\hat F = F + \eta G` (DESIGN.md) on :math:`\tilde m` samples, ridge on :math:`m` samples.
Proportional limit: :math:`m/n = \alpha`, :math:`\tilde m/n = \alpha_0`, :math:`k/n = q`, with
:math:`\tilde\eta = \eta/k` and :math:`\lambda_c = \lambda m` (Cui et al.'s unnormalised penalty) fixed.

**Trained layer** (spiked random features, Cui et al. ICML 2024 Sec. 3 and Result 3.3, extended
here to a non-zero residual mean, label noise and the Gaussian readout): neuron :math:`i` sees
:math:`\hat F_i x = r a_i\kappa + \sqrt{c(a_i)}\,g_i`, :math:`\kappa = v^\top x`, with

.. math::
    r = \tilde\eta h_1\sqrt{L^2 + s_r/\alpha_0},\quad
    \gamma = v^\top\xi = \frac{t_1}{\sqrt{L^2+s_r/\alpha_0}},\quad
    c(a) = (1+\tilde\eta a\,\bar r\,h_2)^2 + \tilde\eta^2a^2 s_r\,\check h_1^2/\alpha_0,

:math:`h_j = \mathbb E[\sigma(z)\mathrm{He}_j(z)]`, :math:`\check h_1^2 = \mathbb E(\sigma'(z)-h_1)^2`,
:math:`t_1 = \mathbb E[z\sigma_*(z)]`; :math:`\bar r`, :math:`s_r` are the mean and second moment of
the residual :math:`y - f_0(x)` at initialisation and :math:`L^2 = t_1^2` the squared norm of its linear
part.  The initial output :math:`f_0` is :math:`h_0` for the constant readout and
:math:`\frac1k\sum_i\omega_i\sigma(F_ix) = O(k^{-1/2})` for the Gaussian one, whose residual is the label.  The bulk :math:`g = F\Pi x` has the
Marchenko–Pastur spectrum of ratio :math:`q`.

**Conditional Gaussian equivalence**: given :math:`\kappa`,
:math:`\sigma(\hat F_ix)\approx\mu_0(\kappa)+\mu_1(\kappa)g_i+\mu_2(\kappa)\zeta_i` with
:math:`\mu_0 = \mathbb E_z\sigma(r\kappa+\sqrt cz)`,
:math:`\mu_1 = \mathbb E_z[z\,\sigma(r\kappa+\sqrt cz)]`,
:math:`\mu_2^2 = \mathbb E_z\sigma^2 - \mu_0^2 - \mu_1^2`
(:math:`\mu_1` is the coefficient of the unit-variance bulk :math:`g_i`).  For the Gaussian readout
the coefficients are averaged over :math:`a\sim\mathcal N(0,1)` (the spread of :math:`\mu_0` and
:math:`\mu_1` across neurons is counted as noise in :math:`\mu_2`: an approximation, measured in the
docs).

**Ridge**: the replica/deterministic-equivalent equations of Cui et al. (Result 3.3) with the sampled
spectrum replaced by the Marchenko–Pastur law (:math:`F_j\to1`, :math:`H_j\to D_j`; the sums over the
spike's and the teacher's projections are normalised by :math:`n`, a factor :math:`q` against the
average over the :math:`k` eigenvalues, which Cui et al.'s :math:`p = d` hides): a 2-D fixed point
for :math:`(V_1, V_2)` and two small linear systems for :math:`(\theta, m)` and :math:`(q_1, q_2)`
(:func:`_solve_point`).  Accuracy against simulation and the conditional theory, and where it
fails (ReLU: 1.5-4 %; :math:`k = 2n`: 1-4 %), in the docs.  Every integral is
a vectorised quadrature: Gauss–Hermite in :math:`\kappa` (and :math:`a`), a kink-cut Gauss–Legendre
rule for the inner Gaussian averages, and a spectrally accurate rule for the MP law.  No array has a
size that grows with :math:`n`, :math:`k` or :math:`m`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.network import READOUT_INITS as NETWORK_READOUT_INITS
from onestep_gm.theory.order import scalings

Array = jax.Array

READOUT_INITS = tuple(NETWORK_READOUT_INITS)
"""The readout initialisations the limit takes: the rows of
:data:`onestep_gm.numerics.network.READOUT_INITS` (one table)."""

CONVENTION = (
    "gen_error = 1/2*test MSE; train_error = 1/2*train MSE + 1/2*lambda*||w_hat||^2 "
    "(lambda = penalty/m, the paper's); test_mse, train_mse without 1/2 (Cui et al.); "
    "sampling-free limit n, k, m -> infinity at fixed ratios, eta/k and lambda*m"
)

INNER_RADIUS = 10.0
"""The inner Gaussian averages integrate :math:`z\\in[-10, 10]` (the tail beyond is below 1e-22)."""


@dataclasses.dataclass(frozen=True)
class Quadrature:
    """Node counts of the point's quadratures (defaults: all errors below 1e-6 relative, docs)."""

    kappa: int = 64  # Gauss-Hermite nodes for the projection kappa on the spike
    readout: int = 16  # Gauss-Hermite nodes for a Gaussian readout weight a
    inner: int = 16  # Gauss-Legendre nodes per panel for the inner Gaussian averages
    spectrum: int = 96  # midpoint nodes of the Marchenko-Pastur rule (in its angle)
    iterations: int = 400  # damped fixed-point iterations for (V1, V2), at most


@dataclasses.dataclass(frozen=True)
class IsotropicLimit:
    r"""One point of the isotropic corner, in the proportional limit.

    Parameters
    ----------
    alpha : float
        :math:`m/n`, readout samples per input dimension.
    alpha_step : float
        :math:`\alpha_0 = \tilde m/n`, step samples per input dimension (0: no step, plain random features).
    width : float
        :math:`q = k/n`.
    eta_tilde : float
        :math:`\tilde\eta = \eta/k` (Cui et al.'s step is :math:`\tilde\eta p`).
    penalty : float
        :math:`\lambda_c = \lambda m`, the unnormalised ridge penalty
        :math:`\sum_\mu(y_\mu-\hat y_\mu)^2+\lambda_c\|w\|^2`.
    activation : str
        The network's activation :math:`\sigma`: a registry name or a whitelisted expression
        (:func:`onestep_gm.theory.activations.get_activation`).
    teacher : str
        The teacher :math:`\sigma^*` of the labels, the same way.
    noise : float
        Label noise :math:`\delta`.
    readout_init : {"constant", "gaussian"}
    """

    alpha: float
    alpha_step: float
    width: float = 1.0
    eta_tilde: float = 1.0
    penalty: float = 0.1
    activation: str = "tanh"
    teacher: str = "tanh"
    noise: float = 0.0
    readout_init: str = "constant"

    def __post_init__(self):
        for name in ("alpha", "width"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        for name in ("alpha_step", "eta_tilde", "penalty", "noise"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {getattr(self, name)!r}")
        if self.readout_init not in READOUT_INITS:
            raise ValueError(f"readout_init must be one of {', '.join(READOUT_INITS)}, got {self.readout_init!r}")

    @classmethod
    def from_sizes(
        cls, *, n: int, k: int, m: int, lam: float, eta: float, m_step: int | None = None, **options
    ) -> IsotropicLimit:
        r"""The limit that a finite model (DESIGN.md's names) approaches: :math:`\alpha = m/n`,
        :math:`\alpha_0 = \tilde m/n` (default :math:`\tilde m = m`), :math:`q = k/n`,
        :math:`\tilde\eta = \eta/k`, :math:`\lambda_c = \lambda m`."""
        m_step = m if m_step is None else m_step
        return cls(alpha=m / n, alpha_step=m_step / n, width=k / n, eta_tilde=eta / k, penalty=lam * m, **options)


class LimitPoint(NamedTuple):
    """The limit at one point; errors in both conventions (:data:`CONVENTION`), and what made them."""

    gen_error: float
    train_error: float
    test_mse: float
    train_mse: float
    spike: float  # r (per unit readout weight)
    bulk: float  # c at a = 1
    alignment: float  # gamma
    overlaps: dict  # V1, V2, q1, q2, theta, psi, m (the norm of the mean part for the gaussian readout)
    info: dict


FIXED_CUTS = (-5.0, -2.5, 2.5, 5.0)
"""Panel edges added to every inner rule, so that each panel spans at most a few widths of the
Gaussian weight (two panels on [-10, 10] left a 1e-5 relative error in the test error at 24 nodes)."""

# ---------------------------------------------------------------------------------------------
# Quadrature rules (host, cached)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def hermite_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite for :math:`\\mathbb E_{z\\sim\\mathcal N(0,1)}`: weights sum to 1."""
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    return z, w / w.sum()


@functools.lru_cache(maxsize=16)
def _legendre_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(nodes)


def _panel_average(fn, cuts: Array, nodes: int) -> Array:
    r""":math:`\mathbb E_z f(z)` (standard normal) by Gauss–Legendre panels on :math:`[-10, 10]` cut at
    ``cuts`` (shape ``(..., C)``; clipped into the interval).  ``fn`` maps nodes of shape
    ``(..., P)`` to values of the same shape; kinks of ``fn`` at the cuts cost no accuracy."""
    t, wt = (jnp.asarray(a) for a in _legendre_rule(nodes))
    fixed = jnp.broadcast_to(jnp.asarray(FIXED_CUTS), cuts.shape[:-1] + (len(FIXED_CUTS),))
    edges = jnp.sort(jnp.clip(jnp.concatenate([cuts, fixed], axis=-1), -INNER_RADIUS, INNER_RADIUS), axis=-1)
    lo = jnp.concatenate([jnp.full(edges.shape[:-1] + (1,), -INNER_RADIUS), edges], axis=-1)
    hi = jnp.concatenate([edges, jnp.full(edges.shape[:-1] + (1,), INNER_RADIUS)], axis=-1)
    half = (hi - lo)[..., None] / 2  # (..., panels, 1)
    z = (lo[..., None] + hi[..., None]) / 2 + half * t  # (..., panels, nodes)
    w = half * wt * jnp.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    shape = z.shape[:-2] + (-1,)
    z, w = z.reshape(shape), w.reshape(shape)
    return jnp.sum(w * fn(z), axis=-1)


def marchenko_pastur_rule(width: float | Array, nodes: int) -> tuple[Array, Array]:
    r"""Nodes and weights for :math:`\langle f(D)\rangle`, the average over the :math:`k` eigenvalues of
    :math:`F\Pi F^\top` (rows of unit norm, :math:`k/n = q`): the Marchenko–Pastur law.

    With :math:`D(t) = 1+q-2\sqrt q\cos t`, :math:`t\in(0,\pi)`, the continuous part is
    :math:`\frac{2}{\pi}\frac{\sin^2t}{D(t)}\,dt` (mass :math:`\min(1, 1/q)`); for :math:`q>1` an atom
    of mass :math:`1-1/q` sits at :math:`D = 0` (the last node).  The integrand is smooth and even in
    :math:`t` (also at :math:`q = 1`, where :math:`\sin^2t/D = (1+\cos t)/2`), so the midpoint rule
    converges geometrically.
    """
    q = jnp.asarray(width, jnp.float64)
    t = (jnp.arange(nodes) + 0.5) * (math.pi / nodes)
    D = 1.0 + q - 2.0 * jnp.sqrt(q) * jnp.cos(t)
    # sin^2 t / D without cancellation at q = 1, t -> 0: D = (1 - sqrt q)^2 + 4 sqrt q sin^2(t/2)
    D = (1.0 - jnp.sqrt(q)) ** 2 + 4.0 * jnp.sqrt(q) * jnp.sin(t / 2) ** 2
    w = (2.0 / nodes) * jnp.sin(t) ** 2 / D
    atom = jnp.maximum(1.0 - 1.0 / q, 0.0)
    return jnp.append(D, 0.0), jnp.append(w, atom)


# ---------------------------------------------------------------------------------------------
# Activations as JAX functions (SymPy -> JAX, once per name)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def elementwise(spec: str):
    """``(sigma, sigma', kinks)`` of a registry name or expression, as JAX functions."""
    import sympy as sp  # SymPy (about 1 s) loads only when an activation is first compiled
    from onestep_gm.theory.activations import (  # the registry pulls in SymPy
        X,
        get_activation,
        require_symbolic,
    )

    act = require_symbolic(get_activation(spec), "the sampling-free limit (it compiles the expression)")
    modules = [{"Heaviside": lambda x, h0=0.5: jnp.where(x > 0, 1.0, jnp.where(x < 0, 0.0, h0))}, "jax"]
    fn = sp.lambdify(X, act.expr, modules=modules)
    dfn = sp.lambdify(X, act.derivative, modules=modules)

    def sigma(z):
        return jnp.broadcast_to(fn(z), jnp.shape(z)).astype(jnp.float64)

    def dsigma(z):
        return jnp.broadcast_to(dfn(z), jnp.shape(z)).astype(jnp.float64)

    kinks = tuple(float(k) for k in act.kinks_within(INNER_RADIUS * 4)) or (0.0,)
    return sigma, dsigma, kinks


# ---------------------------------------------------------------------------------------------
# The point
# ---------------------------------------------------------------------------------------------


def kink_cuts(kinks, shift, scale):
    """Where :math:`\\sigma(\\text{shift} + \\text{scale}\\,z)` has its kinks, in :math:`z` (last axis)."""
    return jnp.stack([(k - shift) / scale for k in kinks], axis=-1)


def _unit_moments(activation: str, nodes: int) -> dict:
    sigma, dsigma, kinks = elementwise(activation)
    cuts = kink_cuts(kinks, jnp.zeros(()), jnp.ones(()))

    def avg(f):
        return _panel_average(f, cuts, nodes)

    h0 = avg(sigma)
    h1 = avg(lambda z: z * sigma(z))
    h2 = avg(lambda z: (z**2 - 1) * sigma(z))
    second = avg(lambda z: sigma(z) ** 2)
    # E(sigma' - h1)^2 = E sigma'^2 - h1^2 (E sigma' = h1 by Stein)
    dsq = avg(lambda z: dsigma(z) ** 2)
    return {"h0": h0, "h1": h1, "h2": h2, "second": second, "check_h1_sq": jnp.maximum(dsq - h1**2, 0.0)}


@functools.partial(jax.jit, static_argnames=("activation", "teacher", "gaussian", "quad"))
def _limit(params: Array, *, activation: str, teacher: str, gaussian: bool, quad: Quadrature) -> dict:
    alpha, alpha0, q, eta, lam, noise = (params[i] for i in range(6))
    s = _unit_moments(activation, quad.inner)
    t = _unit_moments(teacher, quad.inner)
    t0, t1, t2 = t["h0"], t["h1"], t["second"] + noise**2

    # The initial output f0(x) = k^{-1/2} w^T sigma(F x): the mean of sigma(F_i x) over neurons,
    # h0, for the constant readout; (1/k) sum_i a_i sigma(F_i x) = O(k^{-1/2}) for the Gaussian
    # one, which vanishes in the limit (offset, linear part and fluctuation alike), so the
    # residual at initialisation is the label itself.
    if gaussian:
        initial = 0.0
        a_nodes, a_w = (jnp.asarray(a) for a in hermite_rule(quad.readout))
    else:
        initial = s["h0"]
        a_nodes, a_w = jnp.ones(1), jnp.ones(1)
    mean_r = t0 - initial
    s_r = t2 - t0**2 + mean_r**2
    noise_sq = jnp.where(alpha0 > 0, s_r / jnp.maximum(alpha0, 1e-300), 0.0)  # the batch's noise in s
    norm = jnp.sqrt(t1**2 + noise_sq)
    stepped = (alpha0 > 0) & (eta > 0)
    r = jnp.where(stepped, eta * s["h1"] * norm, 0.0)
    gamma = jnp.where(stepped & (norm > 0), t1 / jnp.where(norm > 0, norm, 1.0), 0.0)

    def bulk_at(a):
        return jnp.where(stepped, (1.0 + eta * a * mean_r * s["h2"]) ** 2 + eta**2 * a**2 * noise_sq * s["check_h1_sq"], 1.0)

    out = _solve_point(activation, teacher, quad, alpha / q, q, lam, noise, r, gamma, a_nodes, a_w, bulk_at(a_nodes))
    out.update(spike=r, alignment=gamma, bulk=bulk_at(1.0))
    return out


class _Conditional(NamedTuple):
    """Step 2's coefficients on the κ nodes: the student's mean-part basis ``(K, A)``, bulk
    coefficient μ₁ and noise μ₂² ``(K,)``; the teacher's h, h₁ and hh ``(K,)``."""

    basis: Array
    mu1: Array
    mu2_sq: Array
    h: Array
    h1: Array
    hh: Array


def _conditional(activation, teacher, quad, kz, noise, r, gamma, a_nodes, a_w, bulk) -> _Conditional:
    """Step 2: conditional Gaussian-equivalence coefficients of student and teacher given κ."""
    sigma, _, kinks = elementwise(activation)
    tsigma, _, tkinks = elementwise(teacher)
    # conditional coefficients per (kappa, a): pre-activation r a kappa + sqrt(c(a)) z
    shift = r * a_nodes[None, :] * kz[:, None]  # (K, A)
    scale = jnp.sqrt(bulk)[None, :] * jnp.ones_like(shift)
    cuts = kink_cuts(kinks, shift, scale)

    def inner(f):
        return _panel_average(lambda z: f(shift[..., None] + scale[..., None] * z, z), cuts, quad.inner)

    mu0 = inner(lambda u, z: sigma(u))
    mu1 = inner(lambda u, z: z * sigma(u))
    second = inner(lambda u, z: sigma(u) ** 2)
    # Gaussian readout: the mean part mu0(kappa; a_i) differs between neurons, so the readout can
    # combine the functions {mu0(.; a_j)} freely (each is carried by a direction of norm ~ sqrt(k),
    # unpenalised in the limit): they become the basis of the mean part (Cui et al.'s single m
    # becomes one coefficient per readout node).  The bulk coefficient is averaged over a, its
    # spread across neurons counted as noise (an approximation, measured in the docs; exact for
    # the constant readout, where a = 1)
    b1 = mu1 @ a_w
    mu2_sq = jnp.maximum((second - mu0**2) @ a_w - b1**2, 0.0)

    # teacher given kappa: sigma_*(gamma kappa + rho w) + delta eps
    rho = jnp.sqrt(jnp.maximum(1.0 - gamma**2, 0.0))
    tshift = gamma * kz
    tscale = jnp.maximum(rho, 1e-150) * jnp.ones_like(kz)
    tcuts = kink_cuts(tkinks, tshift, tscale)

    def tinner(f):
        return _panel_average(lambda z: f(tshift[..., None] + tscale[..., None] * z, z), tcuts, quad.inner)

    h = tinner(lambda u, z: tsigma(u))
    h1 = tinner(lambda u, z: z * tsigma(u))
    hh = tinner(lambda u, z: tsigma(u) ** 2) + noise**2
    return _Conditional(mu0, b1, mu2_sq, h, h1, hh)


def _variances(co: _Conditional, kw, alpha_p, lam, D, dw, iterations):
    """(V₁, V₂) and their hats: the 2-D fixed point, a damped iteration in the log (both stay
    positive) stopped at 1e-14; also the iteration count and the last step's size."""

    def hats(V):
        denom = 1.0 + co.mu1**2 * V[0] + co.mu2_sq * V[1]
        return alpha_p * jnp.array([kw @ (co.mu1**2 / denom), kw @ (co.mu2_sq / denom)])

    def overlaps(Vhat):
        S = lam + Vhat[0] * D + Vhat[1]
        return jnp.array([jnp.sum(dw * (D / S)), jnp.sum(dw * (1.0 / S))])

    def body(state):
        i, V, _ = state
        new = overlaps(hats(V))
        nxt = jnp.exp(0.5 * jnp.log(V) + 0.5 * jnp.log(new))
        return i + 1, nxt, jnp.max(jnp.abs(jnp.log(new) - jnp.log(V)))

    def cond(state):
        i, _, err = state
        return (i < iterations) & (err > 1e-14)

    V0 = overlaps(hats(jnp.array([1.0, 1.0])))
    iters, V, err = jax.lax.while_loop(cond, body, (0, V0, jnp.asarray(jnp.inf)))
    return V, hats(V), iters, err


def _mean_part(co: _Conditional, kz, kw, alpha_p, q, V, denom):
    """(θ, m, θ̂, ψ, ψ̂): θ = θ̂ V₂ (F → 1); the mean part Σ_j m_j B_j(κ) is the weighted
    least-squares fit of h − μ₁κθ, E[B_j (h − B·m − μ₁κθ)/(1+V)] = 0, and
    θ̂ = α_p E[κμ₁(h − B·m − μ₁κθ)/(1+V)]: one linear system."""
    basis, mu1, h = co.basis, co.mu1, co.h
    Bw = basis / denom[:, None]
    th_m = alpha_p * (kw * kz * mu1) @ Bw  # (A,)
    th_t = alpha_p * (kw @ (kz**2 * mu1**2 / denom))
    th_c = alpha_p * (kw @ (kz * mu1 * h / denom))
    gram = basis.T @ (kw[:, None] * Bw)  # (A, A)
    m_t = Bw.T @ (kw * mu1 * kz)
    m_c = Bw.T @ (kw * h)
    top = jnp.concatenate([jnp.array([1.0 + q * V[1] * th_t]), q * V[1] * th_m])[None, :]
    lower = jnp.concatenate([m_t[:, None], gram], axis=1)
    system = jnp.concatenate([top, lower], axis=0)
    rhs = jnp.concatenate([jnp.array([q * V[1] * th_c]), m_c])
    # pinv: mu0 = 0 identically (odd sigma, no spike) or nearly collinear basis functions leave
    # parts of m undetermined and irrelevant
    sol = jnp.linalg.pinv(system, rtol=1e-12) @ rhs
    theta, m = sol[0], sol[1:]
    theta_hat = th_c - th_m @ m - th_t * theta
    psi_hat = alpha_p * (kw @ (co.h1 * mu1 / denom))
    psi = q * psi_hat * V[0]  # H -> D; teacher-side sums run over the n input directions: q<.>
    return theta, m, gram, theta_hat, psi, psi_hat


def _error_overlaps(co: _Conditional, kw, alpha_p, q, D, dw, S, denom, base, theta_hat, psi_hat):
    """(q₁, q₂), linear: q = M q̂ + const with q̂ = e + a q (error integrand
    e(κ) = base + μ₁² q₁ + μ₂² q₂)."""
    mu1_sq, mu2_sq = co.mu1**2, co.mu2_sq
    w1, w2 = mu1_sq / denom**2, mu2_sq / denom**2
    e = alpha_p * jnp.array([kw @ (w1 * base), kw @ (w2 * base)])
    a = alpha_p * jnp.array([[kw @ (w1 * mu1_sq), kw @ (w1 * mu2_sq)], [kw @ (w2 * mu1_sq), kw @ (w2 * mu2_sq)]])
    s2, s1, s0 = jnp.sum(dw * (D**2 / S**2)), jnp.sum(dw * (D / S**2)), jnp.sum(dw * (1.0 / S**2))
    M = jnp.array([[s2, s1], [s1, s0]])
    extra = q * theta_hat**2 * jnp.array([s1, s0]) + q * psi_hat**2 * jnp.array([s2, s1])
    return jnp.linalg.solve(jnp.eye(2) - M @ a, M @ e + extra)


def _solve_point(activation, teacher, quad, alpha_p, q, lam, noise, r, gamma, a_nodes, a_w, bulk) -> dict:
    r"""Cui et al.'s Result 3.3 in the Marchenko–Pastur limit (unit bulk; docs ``limit-theory.md``).

    :math:`\alpha_p = m/k` (the hat equations average over the :math:`k` features), spectral
    averages :math:`\langle\cdot\rangle` over the MP law of ratio :math:`q`.  The steps are
    those of the page: conditional coefficients, (V₁, V₂), (θ, m), (q₁, q₂), the errors.
    """
    kz, kw = (jnp.asarray(a) for a in hermite_rule(quad.kappa))
    co = _conditional(activation, teacher, quad, kz, noise, r, gamma, a_nodes, a_w, bulk)
    D, dw = marchenko_pastur_rule(q, quad.spectrum)
    V, Vhat, iters, err = _variances(co, kw, alpha_p, lam, D, dw, quad.iterations)
    S = lam + Vhat[0] * D + Vhat[1]
    denom = 1.0 + co.mu1**2 * V[0] + co.mu2_sq * V[1]
    theta, m, gram, theta_hat, psi, psi_hat = _mean_part(co, kz, kw, alpha_p, q, V, denom)
    c_k = co.basis @ m + co.mu1 * kz * theta
    base = co.hh + c_k**2 - 2.0 * c_k * co.h - 2.0 * co.mu1 * psi * co.h1
    qs = _error_overlaps(co, kw, alpha_p, q, D, dw, S, denom, base, theta_hat, psi_hat)
    err_k = base + co.mu1**2 * qs[0] + co.mu2_sq * qs[1]
    return {
        "test_mse": kw @ err_k,
        "train_mse": kw @ (err_k / denom**2),
        "w_norm2_per_k": qs[1],  # ||w_hat||^2 / k (the overlap with the noise features)
        "V1": V[0],
        "V2": V[1],
        "q1": qs[0],
        "q2": qs[1],
        "theta": theta,
        "psi": psi,
        "m": m[0] if m.shape[0] == 1 else jnp.sqrt(m @ gram @ m),  # Gaussian readout: norm of the mean part
        # the readout norm that carries the mean part: w_i = g(a_i)/sqrt(k) with m_j = pi_j g(a_j)
        # gives ||w_mean||^2 = E g^2 = sum_j m_j^2/pi_j (m^2 for the constant readout), O(1) in the
        # limit against the bulk's k q2
        "mean_norm2": jnp.sum(m**2 / a_w),
        "iterations": iters,
        "residual": err,
    }


def limit_point(spec: IsotropicLimit, quad: Quadrature = Quadrature()) -> LimitPoint:
    r"""The sampling-free test and training errors of the one-step network at one point.

    Test MSE :math:`=\mathbb E_\kappa\big[\mathbb E[y^2|\kappa] + c_\kappa^2 - 2c_\kappa h(\kappa)
    - 2\mu_1\psi h_1(\kappa) + \mu_1^2q_1 + \mu_2^2q_2\big]`, :math:`c_\kappa = \mu_0 m + \mu_1\kappa\theta`;
    train MSE the same integrand divided by :math:`(1+\mu_1^2V_1+\mu_2^2V_2)^2`; the order parameters
    solve Cui et al.'s Result 3.3 with the Marchenko–Pastur spectrum (module notes, docs
    ``limit-theory.md``).  Float64 inside a scoped ``jax.enable_x64``.

    Parameters
    ----------
    spec : IsotropicLimit
    quad : Quadrature
        Node counts; the defaults keep the quadrature error under 1e-6 (relative) for tanh, ReLU,
        sigmoid (measured in ``tests/test_limit.py``).

    Returns
    -------
    LimitPoint
        ``gen_error`` :math:`=\tfrac12` test MSE, ``train_error`` :math:`=\tfrac12` train MSE
        :math:`+\tfrac12\lambda\|\hat w\|^2` (:math:`\lambda = \lambda_c/m`,
        :math:`\|\hat w\|^2 = kq_2`), the raw MSEs, the layer's spike :math:`r`, bulk :math:`c`,
        alignment :math:`\gamma`, the order parameters and ``info`` (every parameter, convention).

    Examples
    --------
    >>> p = limit_point(IsotropicLimit(alpha=1.0, alpha_step=0.5, eta_tilde=1.0, penalty=0.01))
    >>> round(p.test_mse, 3)  # Cui et al.'s setting (tanh student and teacher)
    0.287
    """
    params = np.array(
        [spec.alpha, spec.alpha_step, spec.width, spec.eta_tilde, spec.penalty, spec.noise], np.float64
    )
    with jax.enable_x64(True):
        out = _limit(
            jnp.asarray(params, jnp.float64),
            activation=spec.activation,
            teacher=spec.teacher,
            gaussian=spec.readout_init == "gaussian",
            quad=quad,
        )
        out = {key: float(v) for key, v in out.items()}
    # penalty term: lambda ||w||^2 / m-normalised objective: lambda_c * k q2 / m = lambda_c q2 width/alpha
    penalty_term = spec.penalty * out["w_norm2_per_k"] * spec.width / spec.alpha
    return LimitPoint(
        gen_error=out["test_mse"] / 2,
        train_error=out["train_mse"] / 2 + penalty_term / 2,
        test_mse=out["test_mse"],
        train_mse=out["train_mse"],
        spike=out["spike"],
        bulk=out["bulk"],
        alignment=out["alignment"],
        overlaps={key: out[key] for key in ("V1", "V2", "q1", "q2", "theta", "psi", "m", "mean_norm2")},
        info={**dataclasses.asdict(spec), **dataclasses.asdict(quad), "iterations": out["iterations"],
              "residual": out["residual"], "convention": CONVENTION},
    )


class LimitCurve(NamedTuple):
    """The limit along :math:`\\alpha = m/n` (arrays over ``alpha``); fields as :class:`LimitPoint`."""

    alpha: np.ndarray
    gen_error: np.ndarray
    train_error: np.ndarray
    test_mse: np.ndarray
    train_mse: np.ndarray
    info: dict


@functools.partial(jax.jit, static_argnames=("activation", "teacher", "gaussian", "quad"))
def _limit_many(params: Array, *, activation: str, teacher: str, gaussian: bool, quad: Quadrature) -> dict:
    return jax.vmap(lambda p: _limit(p, activation=activation, teacher=teacher, gaussian=gaussian, quad=quad))(params)


def limit_curve(spec: IsotropicLimit, alphas, quad: Quadrature = Quadrature(), *, penalties=None) -> LimitCurve:
    r"""The learning curve of :func:`limit_point` over :math:`\alpha = m/n` in one vectorised call.

    Everything of ``spec`` but ``alpha`` is held fixed, the penalty included
    (:math:`\lambda_c = \lambda m`: the paper's :math:`\lambda` then falls as :math:`1/m` along the
    curve), unless ``penalties`` (one :math:`\lambda_c` per alpha, e.g. :math:`\lambda\alpha n` to
    hold the paper's :math:`\lambda`) is given.  One compilation per (activation, teacher, readout,
    quadrature); the points run as one batched program.

    Raises
    ------
    ValueError
        For a non-positive alpha, a negative penalty, or ``penalties`` of another length.

    Examples
    --------
    >>> c = limit_curve(IsotropicLimit(alpha=1.0, alpha_step=0.5, penalty=0.01), [0.5, 1.0, 2.0])  # doctest: +SKIP
    >>> [round(float(e), 3) for e in c.test_mse]  # doctest: +SKIP
    [0.299, 0.287, 0.175]
    """
    alphas = np.atleast_1d(np.asarray(alphas, np.float64))
    if not np.all(np.isfinite(alphas) & (alphas > 0)):
        raise ValueError("every alpha must be a positive number")
    base = np.array([0.0, spec.alpha_step, spec.width, spec.eta_tilde, spec.penalty, spec.noise], np.float64)
    params = np.tile(base, (alphas.size, 1))
    params[:, 0] = alphas
    if penalties is not None:
        penalties = np.asarray(penalties, np.float64)
        penalties = np.full(alphas.shape, float(penalties)) if penalties.ndim == 0 else penalties
        if penalties.shape != alphas.shape or not np.all(np.isfinite(penalties) & (penalties >= 0)):
            raise ValueError(f"penalties must be {alphas.size} non-negative numbers, one per alpha")
        params[:, 4] = penalties
    with jax.enable_x64(True):
        out = _limit_many(jnp.asarray(params, jnp.float64), activation=spec.activation, teacher=spec.teacher,
                          gaussian=spec.readout_init == "gaussian", quad=quad)
        out = {key: np.asarray(v, np.float64) for key, v in out.items()}
    penalty_term = params[:, 4] * out["w_norm2_per_k"] * spec.width / alphas
    return LimitCurve(
        alpha=alphas,
        gen_error=out["test_mse"] / 2,
        train_error=out["train_mse"] / 2 + penalty_term / 2,
        test_mse=out["test_mse"],
        train_mse=out["train_mse"],
        info={**dataclasses.asdict(spec), **dataclasses.asdict(quad), "convention": CONVENTION,
              "iterations": out["iterations"].tolist(), "spike": out["spike"].tolist(),
              **({"penalty": params[:, 4].tolist()} if penalties is not None else {}),
              "bulk": out["bulk"].tolist(), "alignment": out["alignment"].tolist()},
    )


# ---------------------------------------------------------------------------------------------
# The limit as a model of a simulated point (``SimulationConfig(models=(..., "limit"))``)
# ---------------------------------------------------------------------------------------------


GAUSSIAN_READOUT_MIN_R2K = 30.0
r"""Least :math:`r^2k` for which the limit model takes the Gaussian readout.  Its limit lets the
readout fit the mean part freely in :math:`\operatorname{span}\{\mu_0(\cdot;a)\}` (the readout
weights :math:`a` make the spike :math:`ar` differ between neurons); extracting a function of
:math:`\kappa` from those differences costs a readout norm :math:`\sim 1/r^2`, negligible against the
bulk's :math:`O(k)` only when :math:`r^2k\gg1`.  Measured at n = k = m = 1000 (relu / sigmoid,
``docs/limit-theory.md``): the limit is 22 / 21 % below the network at :math:`r^2k \approx 0.03`
(the paper's default step), 6.4 % below at 17 (relu), 1.6 / 2.3 % below at 187 / 32."""


CONSTANT_READOUT_MAX_MEAN_NORM = 0.1
r"""Largest :math:`m^2/k` for which the limit model takes the constant readout.  The limit fits the
mean part :math:`m\,\mu_0(\kappa)` without counting its readout norm :math:`m^2` (negligible against
the bulk's :math:`O(k)` in the limit); with an odd activation at a small step
(:math:`\mu_0\approx h_1r\kappa`) it takes :math:`m\sim1/r`.  Measured at n = k = m = 1000, tanh
(``docs/limit-theory.md``): the limit is 8.6 % below the network at :math:`m^2/k = 5.0` (the paper's
default step), 3.8 % at 0.083 and 1.5 % at 0.009 (about ReLU's own error, 1.5-4 %); ReLU and sigmoid
sit near 0.001 (:math:`h_0\ne0`: the mean direction is spent on the offset)."""


def _weak_spike(config) -> list[str]:
    """The refusals of a learned spike too weak at this width for the limit (empty if none), from
    the limit at each activation (the point the model will report; one compilation serves both):
    the Gaussian readout needs :data:`GAUSSIAN_READOUT_MIN_R2K`, the constant one
    :data:`CONSTANT_READOUT_MAX_MEAN_NORM`."""
    spec = config.data
    eta = config.eta if config.eta is not None else scalings(spec.n, spec.beta, spec.alpha).eta
    out = []
    for act in config.activations:
        point = limit_point(_sizes_spec(config, act, eta))
        if config.readout_init == "gaussian":
            r2k = point.spike**2 * config.k
            if 0 < r2k < GAUSSIAN_READOUT_MIN_R2K:
                out.append(
                    f"r^2*k >= {GAUSSIAN_READOUT_MIN_R2K:g} with the Gaussian readout (got {r2k:.3g} for {act}: "
                    f"its learned spike r = {point.spike:.3g} is too weak at k = {config.k} for the limit, which "
                    "is then more than 5 % off; use --readout-init constant or a larger --eta)"
                )
        elif (ratio := point.overlaps["mean_norm2"] / config.k) > CONSTANT_READOUT_MAX_MEAN_NORM:
            out.append(
                f"m^2/k <= {CONSTANT_READOUT_MAX_MEAN_NORM:g} (got {ratio:.3g} for {act}: the limit fits the mean "
                f"part with a readout norm that is not small against k = {config.k} here, a weak learned spike "
                "with an odd activation, and is then about 4 % off or more; use a larger --eta)"
            )
    return out


def limit_applies(config) -> list[str]:
    """What ``config`` (a :class:`~onestep_gm.SimulationConfig`) lacks for the limit model: empty
    when the isotropic-corner limit (:func:`isotropic_applies`) or, failing it, the finite-size
    mixture theory (:func:`onestep_gm.numerics.limit_mixture.mixture_applies`) applies; else the
    latter's missing conditions."""
    if not isotropic_applies(config):
        return []
    from onestep_gm.numerics.limit_mixture import mixture_applies  # it imports this module

    return mixture_applies(config)


def isotropic_applies(config) -> list[str]:
    """What ``config`` (a :class:`~onestep_gm.SimulationConfig`) lacks for the isotropic-corner
    limit: one phrase per missing condition, empty when it applies.

    The limit covers a Gaussian mixture with one component, no spikes and zero mean
    (:math:`x\\sim\\mathcal N(0, I_n)`), a regression teacher along a random unit direction with a
    single index.  Both first layers are covered: rows
    :math:`\\mathcal N(0, I_n/n)` and unit rows have the same limit (each row's norm concentrates
    at 1, and both give the Marchenko–Pastur bulk); so are any :math:`\\eta`, ``m_step``, label
    noise, student activation and :math:`\\lambda > 0`, and both readouts at initialisation (the
    Gaussian one through approximation A3 of ``docs/limit-theory.md``, measured there), where the
    learned spike is strong enough at this width for the limit to be reached
    (:data:`GAUSSIAN_READOUT_MIN_R2K`, :data:`CONSTANT_READOUT_MAX_MEAN_NORM`).
    """
    spec = config.data
    if not spec.has_population_law:  # the limit is of a Gaussian law (real data have none)
        return [f"a Gaussian mixture (got {getattr(spec, 'title', type(spec).__name__)})"]
    missing = []
    if spec.components != 1:
        missing.append(f"components=1 (got {spec.components})")
    if spec.max_spikes != 0:
        missing.append(f"spikes=0 (got {spec.spikes})")
    if float(spec.mean_norm) != 0.0:
        missing.append(f"mean_norm=0 (got {spec.mean_norm:g})")
    if spec.task != "regression":
        missing.append(f"task='regression' (got {spec.task!r})")
    if spec.teacher_direction != "random":
        missing.append(f"a random teacher direction (got {spec.teacher_direction!r})")
    if not isinstance(spec.teacher, str):
        missing.append("a single-index teacher (one target activation)")
    if spec.teacher_weights not in (None, (1.0,)):
        missing.append(f"teacher_weights None or (1,) (got {spec.teacher_weights!r}; scale the expression instead)")
    if not config.lam > 0:
        missing.append(f"lambda > 0 (got {config.lam:g})")
    if not missing:
        missing += _weak_spike(config)
    return missing


def check_limit_config(config) -> None:
    """Refuse a configuration the limit model does not cover, with one sentence naming what is missing.

    Raises
    ------
    ValueError
        ``the limit model needs spike_sizes='equal' (got 'uniform' ...), ...`` (:func:`limit_applies`).
    """
    missing = limit_applies(config)
    if missing:
        raise ValueError("the limit model needs " + ", ".join(missing))


def check_isotropic_config(config) -> None:
    """Refuse a configuration outside the isotropic-corner limit, in one sentence.

    Raises
    ------
    ValueError
        ``the isotropic-corner limit needs components=1 (got 2), spikes=0 (got 1), ...``
        (:func:`isotropic_applies`).
    """
    missing = isotropic_applies(config)
    if missing:
        raise ValueError("the isotropic-corner limit needs " + ", ".join(missing))


def limit_spec(config, activation: str, eta: float) -> IsotropicLimit:
    """The :class:`IsotropicLimit` that ``config``'s sizes approach (:meth:`IsotropicLimit.from_sizes`),
    for the student ``activation`` and the resolved learning rate ``eta``.

    Raises
    ------
    ValueError
        As :func:`check_isotropic_config`.
    """
    check_isotropic_config(config)
    return _sizes_spec(config, activation, eta)


def _sizes_spec(config, activation: str, eta: float) -> IsotropicLimit:
    spec = config.data
    return IsotropicLimit.from_sizes(
        n=spec.n, k=config.k, m=config.m, lam=config.lam, eta=eta, m_step=config.m_step,
        activation=activation, teacher=spec.teacher, noise=float(spec.noise),
        readout_init=config.readout_init,
    )  # fmt: skip


def limit_prediction(config, resolved, activation: str) -> tuple[float, float, float]:
    """``(train_error, gen_error, train_mse)`` of the limit model at ``config``'s point (the
    paper's ½ convention; ``train_mse`` without ½ or penalty), deterministic: one value per
    point, no sampling: the isotropic-corner limit (:func:`limit_point`) where it applies, the
    finite-size mixture theory (:func:`onestep_gm.numerics.limit_mixture.sampling_free_point`)
    elsewhere.

    ``resolved`` is :func:`onestep_gm.numerics.config.resolve`'s answer (its ``eta``).
    """
    if isotropic_applies(config):  # outside the corner: the finite-size mixture theory
        from onestep_gm.numerics.limit_mixture import mixture_prediction  # it imports this module

        return mixture_prediction(config, resolved, activation)
    point = limit_point(_sizes_spec(config, activation, resolved.eta))
    return point.train_error, point.gen_error, point.train_mse
