r"""Exact test errors: the generalisation error of a fitted readout from population moments.

Given the trained first layer :math:`\hat F` and a readout :math:`\hat w` fitted on features
:math:`\phi(x)/\sqrt k`, the generalisation error over fresh samples of the mixture is a
quadratic form in :math:`\hat w`,

.. math::
    E_{\mathrm{gen}}(\hat w) = \tfrac12\,\mathbb E\big(y - \hat w^\top\phi(x)/\sqrt k\big)^2
      = \tfrac12\big(s_y - 2\hat w^\top u + \hat w^\top\Omega\hat w\big),

with :math:`\Omega = \mathbb E[\phi\phi^\top]/k`, :math:`u = \mathbb E[\phi\,y]/\sqrt k`,
:math:`s_y = \mathbb E y^2` (the ½ convention of the paper's figures).  This replaces the
estimate from ``test_factor · m`` fresh samples: no sampling noise, and no test products.

* The network, :math:`\phi = \sigma(\hat Fx)`: the moments of
  :func:`onestep_gm.numerics.population.population_moments`.
* The Hermite model, :math:`\phi_i = p_l(a_i) + h_l^\ast g_i` with
  :math:`p_l(a) = \sum_{j<l}\frac{h_j}{j!}\mathrm{He}_j(a/b)` and :math:`g` independent noise
  (:func:`hermite_population_moments`).  In component :math:`c`, :math:`a = \hat Fx` is Gaussian,
  :math:`a_i = \mu_i + s_iz_i`, with correlations :math:`\rho_{ij}`.  Because :math:`p_l` is a
  polynomial of degree :math:`l-1`, its Hermite expansion in the standardised variable is finite,
  :math:`p_l(\mu_i + s_iz) = \sum_{q<l} c_q(i)\,\mathrm{He}_q(z)/\sqrt{q!}` with
  :math:`c_q(i) = \mathbb E[p_l(\mu_i+s_iz)\mathrm{He}_q(z)]/\sqrt{q!}`, computed *exactly* (up to
  rounding) by an :math:`l`-node Gauss–Hermite rule (the integrand has degree
  :math:`\le 2l-2`).  Mehler's formula :math:`\mathbb E[\mathrm{He}_p(z_i)\mathrm{He}_q(z_j)] =
  \delta_{pq}\,p!\,\rho_{ij}^p` then gives the exact kernel

  .. math::
      \mathbb E[p_l(a_i)p_l(a_j)] = \sum_{q<l}\rho_{ij}^q\,c_q(i)c_q(j),\qquad
      \mathbb E[p_l(a_i)\,\sigma^*_r(t_r)] = \sum_{q<l}r_{ir}^q\,c_q(i)\,d_{q,r},

  a finite sum for every :math:`|\rho|\le 1` (no truncation), with :math:`r_{ir} = \mathrm{corr}(a_i,t_r)`,
  :math:`t_r = \xi_r^\top x`, and :math:`d_{q,r}` the normalised Hermite coefficients of
  :math:`\sigma^*_r(\mu_{t_r} + s_{t_r}z)` (1-D quadrature); :math:`u` sums them with the teacher's
  weights :math:`c_r`, and :math:`s_y` is that of the network (:func:`teacher_second_moment`).  The
  noise adds :math:`(h_l^\ast)^2` to the diagonal and nothing to :math:`u` (it is independent of
  :math:`y`).  Classification: :math:`u = \sum_c\rho_c y_c\,c_0` per component.
* The conditional Gaussian model is not covered: its mean features :math:`M_0(a, s)` and slopes
  :math:`M_1(a,s)` are smoothed :math:`\sigma` and :math:`\sigma'` of the projected inputs, so its
  :math:`\Omega` needs the kernels of :math:`\sigma'` (a step for ReLU) with the modified
  covariance :math:`\hat FP\Sigma_cP\hat F^\top + \mathrm{diag}(s^2)` and a Stein term for the
  teacher; those kernels do not exist in :mod:`onestep_gm.numerics.population` yet.  Its test
  error stays sampled.

Precision: everything here is float64.

References: Demir & Dogan, ICLR 2025 (arXiv 2503.00856), the Hermite model of Theorem 3.2;
Mehler's formula, e.g. O'Donnell, *Analysis of Boolean Functions*, Prop. 11.31 (Gaussian noise
stability of Hermite polynomials).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from onestep_gm.numerics.population import (
    ComponentLaw,
    component_laws,
    hermite_coefficients,
    teacher_indices,
    teacher_second_moment,
)
from onestep_gm.numerics.quadrature import gauss_hermite_rule, hermite_step

Array = jax.Array


def generalisation_error(w_hat: Array, Omega: Array, u: Array, s_y: Array) -> Array:
    r""":math:`\tfrac12(s_y - 2\hat w^\top u + \hat w^\top\Omega\hat w)` for one or more readouts.

    Parameters
    ----------
    w_hat : array, shape ``(..., k)``
        Readouts fitted on :math:`\phi/\sqrt k` (leading axes batch).
    Omega : array, shape ``(..., k, k)``
        :math:`\mathbb E[\phi\phi^\top]/k` (broadcast against ``w_hat``'s leading axes).
    u : array, shape ``(..., k)``
        :math:`\mathbb E[\phi y]/\sqrt k`.
    s_y : array
        :math:`\mathbb E y^2`.

    Returns
    -------
    array, shape ``w_hat.shape[:-1]``
        The generalisation error in the ½ convention, float64.
    """
    w_hat = jnp.asarray(w_hat, jnp.float64)
    quad = jnp.einsum("...i,...ij,...j->...", w_hat, Omega, w_hat)
    return 0.5 * (s_y - 2.0 * jnp.sum(w_hat * u, axis=-1) + quad)


def _normalised_hermite(t: Array, count: int) -> Array:
    r""":math:`p_j(t) = \mathrm{He}_j(t)/\sqrt{j!}` for :math:`j < ` ``count``, stacked on a new last axis."""
    out = [jnp.ones_like(t), t][:count]
    prev, cur = out[0], t
    for j in range(1, count - 1):
        prev, cur = cur, hermite_step(t, prev, cur, j)
        out.append(cur)
    return jnp.stack(out, axis=-1)


def polynomial_projections(mean: Array, std: Array, h: Array, b: Array, orders: tuple[int, ...]) -> Array:
    r"""Normalised Hermite coefficients :math:`c_q(i)` of :math:`p_l(\mu_i + s_iz)` for each order.

    :math:`c_q(i) = \mathbb E[p_l(\mu_i+s_iz)\,\mathrm{He}_q(z)]/\sqrt{q!}`, by the Gauss–Hermite
    rule with :math:`L = \max(\text{orders})` nodes, exact for the degree-:math:`(l-1+q)\le 2L-2`
    integrands.

    Parameters
    ----------
    mean : array, shape ``(k,)``
        :math:`\mu_i`, the pre-activations' means.
    std : array, shape ``(k,)``
        :math:`s_i`, the pre-activations' standard deviations.
    h : array, shape ``(L,)``
        :math:`h_0..h_{L-1}` (not divided by :math:`j!`).
    b : float
        The bulk scale in :math:`\mathrm{He}_j(a/b)`.
    orders : tuple of int
        The orders :math:`l` (each :math:`\le L`).

    Returns
    -------
    array, shape ``(len(orders), L, k)``
        :math:`c_q(i)` for :math:`q < L` (zero up to rounding for :math:`q \ge l`).
    """
    L = h.shape[0]
    z, w = gauss_hermite_rule(L)
    z, w = jnp.asarray(z), jnp.asarray(w)
    basis = _normalised_hermite((mean[:, None] + std[:, None] * z[None, :]) / b, L)  # (k, N, L)
    scaled = h / jnp.sqrt(jnp.asarray([math.factorial(j) for j in range(L)], jnp.float64))
    terms = basis * scaled  # p_j(x/b) h_j/sqrt(j!)
    project = w[:, None] * _normalised_hermite(z, L)  # (N, L)
    out = []
    for l in orders:
        values = jnp.sum(terms[..., :l], axis=-1)  # p_l at the nodes, (k, N)
        out.append((values @ project).T)
    return jnp.stack(out)


def _horner(rho: Array, coefs: Array, order: int) -> Array:
    r""":math:`\sum_{q<l}\rho^q\,c_q\otimes c_q` (``coefs`` is ``(L, k)``)."""
    total = coefs[order - 1][:, None] * coefs[order - 1][None, :]
    for q in range(order - 2, -1, -1):
        total = coefs[q][:, None] * coefs[q][None, :] + rho * total
    return total


@functools.partial(jax.jit, static_argnames=("orders",))
def hermite_population_moments(
    F_hat: Array, mixture, h: Array, h_star: Array, b: Array, *, orders: tuple[int, ...],
    laws: list[ComponentLaw] | None = None,
) -> tuple[Array, Array, Array]:  # fmt: skip
    r"""Exact :math:`(\Omega, u, s_y)` of the Hermite model's features at every order in ``orders``.

    The formulas are in the module docstring.  One pass over the mixture's components serves all
    orders (their :math:`h_j` are prefixes of ``h``).

    Parameters
    ----------
    F_hat : array, shape ``(k, n)``
        The network's trained first layer (the Hermite model shares it).
    mixture : Mixture
        The data.
    h : array, shape ``(L,)``
        :math:`h_0..h_{L-1}` at ``b``, :math:`L\ge\max(\text{orders})`.
    h_star : array, shape ``(len(orders),)``
        :math:`h_l^\ast` per order.
    b : float
        Bulk scale.
    orders : tuple of int
        Hermite orders :math:`l \ge 1` (static).
    laws : list of ComponentLaw, optional
        :func:`~onestep_gm.numerics.population.component_laws` of ``(F_hat, mixture)``, if the
        caller has them (shared with the network's moments).

    Returns
    -------
    Omega : array, shape ``(len(orders), k, k)``
        :math:`\mathbb E[\hat\sigma_l(a)\hat\sigma_l(a)^\top]/k`.
    u : array, shape ``(len(orders), k)``
        :math:`\mathbb E[\hat\sigma_l(a)\,y]/\sqrt k`.
    s_y : array, shape ``()``
        :math:`\mathbb E y^2`.
    """
    F_hat = jnp.asarray(F_hat, jnp.float64)
    k = F_hat.shape[0]
    L = max(orders)
    h = jnp.asarray(h, jnp.float64)[:L]
    h_star = jnp.asarray(h_star, jnp.float64)
    weights = mixture.weights
    Omega = jnp.zeros((len(orders), k, k))
    u = jnp.zeros((len(orders), k))
    s_y = jnp.asarray(0.0)
    laws = component_laws(F_hat, mixture) if laws is None else laws
    for c, law in enumerate(laws):
        std = jnp.sqrt(jnp.diag(law.cov))
        rho = jnp.clip(law.cov / (std[:, None] * std[None, :]), -1.0, 1.0)
        coefs = polynomial_projections(law.mean, std, h, b, orders)
        teacher = []  # per teacher direction: (c_r, d_q, r_i)
        for index in teacher_indices(law, mixture.teacher):
            t_std = jnp.sqrt(index.t_var)
            d = hermite_coefficients(index.activation, jnp.reshape(index.t_mean, (1,)), jnp.reshape(t_std, (1,)), L - 1)[:, 0]
            r = jnp.clip(index.t_cov / (std * jnp.maximum(t_std, 1e-300)), -1.0, 1.0)
            teacher.append((index.weight, d, r))
        label = jnp.where(c == 0, 1.0, -1.0)
        for o, l in enumerate(orders):
            Omega = Omega.at[o].add(weights[c] * _horner(rho, coefs[o], l))
            cross = None
            for weight, d, r in teacher:
                term = jnp.sum((r[None, :] ** jnp.arange(l, dtype=jnp.float64)[:, None]) * coefs[o][:l] * d[:l, None], axis=0)
                term = term if weight == 1.0 else weight * term
                cross = term if cross is None else cross + term
            u = u.at[o].add(weights[c] * jnp.where(mixture.classification, label * coefs[o][0], cross))
        s_y = s_y + weights[c] * jnp.where(mixture.classification, 1.0, teacher_second_moment(law, mixture.teacher))
    s_y = s_y + jnp.where(mixture.classification, 0.0, jnp.asarray(mixture.noise, jnp.float64) ** 2)
    Omega = Omega + (h_star**2)[:, None, None] * jnp.eye(k)
    Omega = (Omega + jnp.swapaxes(Omega, 1, 2)) / (2 * k)
    return Omega, u / math.sqrt(k), s_y
