r"""The deterministic equivalent of ridge regression, from population moments.

Conditional on the trained first layer, the readout is ridge regression on
:math:`\phi(x) = \sigma(\hat Fx)/\sqrt k` with :math:`m` samples,
:math:`\hat w = (\Phi\Phi^\top + \lambda m I)^{-1}\Phi y`.  Its errors follow from
:math:`\Omega = \mathbb E[\phi\phi^\top]`, :math:`u = \mathbb E[\phi\,y]`, :math:`s_y = \mathbb E[y^2]`
(:mod:`onestep_gm.numerics.population`).

With :math:`w_* = \Omega^+u`,
:math:`\sigma_\varepsilon^2 = s_y - u^\top\Omega^+u`, the effective regularisation :math:`\kappa` solves
:math:`\lambda = \kappa\,(1 - \mathrm{df}_1(\kappa)/m)`, :math:`\mathrm{df}_1 = \operatorname{tr}\Omega(\Omega+\kappa)^{-1}`,
:math:`\mathrm{df}_2 = \operatorname{tr}\Omega^2(\Omega+\kappa)^{-2}`, and

.. math::
    \mathcal B = \frac{\kappa^2 w_*^\top\Omega(\Omega+\kappa)^{-2}w_*}{1-\mathrm{df}_2/m},\quad
    \mathcal V = \sigma_\varepsilon^2\frac{\mathrm{df}_2/m}{1-\mathrm{df}_2/m},\quad
    \text{test MSE} = \mathcal B + \mathcal V + \sigma_\varepsilon^2,\quad
    \text{train MSE} = (\lambda/\kappa)^2\,\text{test MSE}.

The norm of the readout follows from :math:`\lambda(\hat\Sigma+\lambda)^{-1}\simeq\kappa(\Omega+\kappa)^{-1}`
differentiated in :math:`\lambda` (:math:`d\kappa/d\lambda = 1/(1-\mathrm{df}_2/m)`):

.. math::
    \|\hat w\|^2 \simeq w_*^\top\Omega(\Omega+\kappa)^{-1}w_*
      - \frac{\lambda\,w_*^\top\Omega(\Omega+\kappa)^{-2}w_*}{1-\mathrm{df}_2/m}
      + \sigma_\varepsilon^2\,\frac{\operatorname{tr}\Omega(\Omega+\kappa)^{-2}}{m\,(1-\mathrm{df}_2/m)}.

Errors in the figures' convention: ``gen_error`` :math:`=\tfrac12` test MSE, ``train_error``
:math:`=\tfrac12` train MSE :math:`+\tfrac12\lambda\|\hat w\|^2`.  A curve is computed in the
eigenbasis of :math:`\Omega`, decomposed once per :math:`\hat F` and reused across :math:`m` and
:math:`\lambda`; a single point takes the eigenvalues and two Cholesky solves instead
(:func:`ridge_equivalent`).  A non-finite :math:`\Omega` or :math:`u` (a diverged layer) gives
NaN errors.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.precision import require_x64, scoped_x64
from onestep_gm.numerics.validation import FieldTypeError, FieldValueError, check_real, is_real

Array = jax.Array

CONVENTION = (
    "gen_error = 1/2*test MSE; train_error = 1/2*train MSE + 1/2*lambda*||w_hat||^2 "
    "(deterministic equivalent of ridge on exact population moments)"
)


class RidgeEquivalent(NamedTuple):
    r"""The deterministic equivalent of ridge at one point, or along a grid (arrays of one shape).

    ``gen_error`` :math:`=\tfrac12` test MSE and ``train_error`` :math:`=\tfrac12` train MSE
    :math:`+\tfrac12\lambda\|\hat w\|^2` (the figures' convention, :data:`CONVENTION`);
    ``kappa`` the effective regularisation, ``bias``, ``variance``, ``df1``, ``df2``,
    ``sigma_eps2`` and ``w_norm2`` as in the module notes.  All float64.
    """

    gen_error: Array
    train_error: Array
    test_mse: Array
    train_mse: Array
    kappa: Array
    bias: Array
    variance: Array
    df1: Array
    df2: Array
    sigma_eps2: Array
    w_norm2: Array


class Spectrum(NamedTuple):
    r""":math:`\Omega` in its eigenbasis: eigenvalues, :math:`a_i = (V^\top u)_i^2/\omega_i`, :math:`s_y`."""

    omega: Array
    a: Array
    s_y: Array

    @property
    def sigma_eps2(self) -> Array:
        return self.s_y - jnp.sum(self.a)


def spectrum(Omega: Array, u: Array, s_y) -> Spectrum:
    r"""Eigendecomposition of :math:`\Omega` (once) and :math:`a_i = (V^\top u)_i^2/\omega_i`.

    LAPACK's divide-and-conquer ``syevd`` through SciPy (far faster than JAX's CPU ``eigh``;
    the numbers are on the Performance page of the docs).  Eigenvalues below
    :math:`10^{-12}\,\omega_{\max}` are treated as zero
    (the pseudo-inverse in :math:`w_* = \Omega^+u`).  A non-finite :math:`\Omega` or :math:`u`
    gives a spectrum of NaN (LAPACK would fail or return garbage), hence NaN errors.
    """
    import scipy.linalg  # 0.1-0.3 s to import; only theory predictions need it

    u = np.asarray(u, np.float64)
    if not (np.all(np.isfinite(np.asarray(Omega))) and np.all(np.isfinite(u))):
        nan = jnp.full(u.shape, jnp.nan)
        return Spectrum(omega=nan, a=nan, s_y=jnp.asarray(s_y, jnp.float64))
    # a writable copy overwritten in place (eigh on a read-only view of the JAX buffer copies it
    # again); Omega is symmetric, so the transposed view is the Fortran-ordered matrix LAPACK
    # takes, where order="F" cost a transposing copy (18 ms at k = 1000)
    A = np.array(Omega, dtype=np.float64)
    omega, V = scipy.linalg.eigh(A.T, driver="evd", overwrite_a=True, check_finite=False)
    _check_psd(omega)
    v = V.T @ u
    keep = omega > 1e-12 * omega.max()
    omega = np.where(keep, omega, 0.0)
    a = np.where(keep, v**2 / np.where(keep, omega, 1.0), 0.0)
    return Spectrum(omega=jnp.asarray(omega), a=jnp.asarray(a), s_y=jnp.asarray(s_y, jnp.float64))


@jax.jit
def _kappa(omega: Array, lam: Array, m: Array) -> Array:
    r""":func:`effective_regularisation` on the eigenvalues :math:`\omega` of :math:`\Omega`."""
    return effective_regularisation(lambda kappa: jnp.sum(omega / (omega + kappa)), lam, m, jnp.sum(omega))


def effective_regularisation(df1, lam, m, trace, steps: int = 200, newton: int = 0):
    r"""Root of :math:`\kappa(1-\mathrm{df}_1(\kappa)/m) = \lambda` by bisection in :math:`\log\kappa`
    (traceable; ``df1`` a function of :math:`\kappa`, ``trace`` :math:`= \operatorname{tr}\Omega`),
    optionally finished by Newton's method.

    :math:`g(\kappa) = \kappa - \frac\kappa m\mathrm{df}_1(\kappa)` is below :math:`\lambda` left of
    the root and above it right of it; :math:`\lambda \le \kappa \le \lambda + \operatorname{tr}\Omega/m`
    brackets it, and ``steps`` halvings of the bracket in :math:`\log\kappa` narrow it.  With
    ``newton`` > 0, that many Newton steps follow from the bracket's upper end: :math:`g` is convex
    (:math:`\frac\kappa m\mathrm{df}_1 = \frac1m\sum_i\frac{\omega_i\kappa}{\omega_i+\kappa}` is concave)
    and increasing there, so the steps descend monotonically onto the root and stay in the bracket.
    """
    hi = lam + trace / m
    lo = jnp.maximum(lam, hi * 1e-30)

    def g(kappa):
        return kappa * (1.0 - df1(kappa) / m)

    def body(_, bounds):
        lo, hi = bounds
        mid = jnp.sqrt(lo * hi)
        below = g(mid) < lam
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, steps, body, (lo, hi))
    if not newton:
        return jnp.sqrt(lo * hi)

    def step(_, kappa):
        value, slope = jax.jvp(g, (kappa,), (jnp.ones_like(kappa),))
        return jnp.clip(kappa - (value - lam) / slope, lo, kappa)

    return jax.lax.fori_loop(0, newton, step, hi)


@jax.jit
def _equivalent(spec: Spectrum, lam: Array, m: Array) -> RidgeEquivalent:
    omega, a = spec.omega, spec.a
    kappa = _kappa(omega, lam, m)
    forms = [jnp.sum(a / (omega + kappa) ** p) for p in (0, 1, 2)]  # a = 0 where omega = 0
    return _errors(omega, kappa, lam, m, spec.s_y, *forms)


@jax.jit
def _errors(omega, kappa, lam, m, s_y, a_0, a_1, a_2) -> RidgeEquivalent:
    r"""The errors from the eigenvalues, :math:`\kappa` and the quadratic forms
    :math:`a_p = w_*^\top\Omega(\Omega+\kappa)^{-p}w_* = u^\top\Omega^+(\Omega+\kappa)^{-p}u`
    (:math:`p = 0, 1, 2`), all float64."""
    ratio = omega / (omega + kappa)
    return errors_from_traces(kappa, lam, m, s_y, jnp.sum(ratio), jnp.sum(ratio**2),
                              jnp.sum(omega / (omega + kappa) ** 2), a_0, a_1, a_2)


def errors_from_traces(kappa, lam, m, s_y, df1, df2, tr_shift2, a_0, a_1, a_2) -> RidgeEquivalent:
    r"""The module's error formulas from :math:`\kappa`, :math:`\mathrm{df}_1`, :math:`\mathrm{df}_2`,
    :math:`\operatorname{tr}\Omega(\Omega+\kappa)^{-2}` (``tr_shift2``) and the quadratic forms
    :math:`a_p` (traceable; also the free equivalent of
    :mod:`onestep_gm.numerics.limit_mixture`, which has these traces without the eigenvalues)."""
    shrink = 1.0 - df2 / m
    sigma_eps2 = jnp.maximum(s_y - a_0, 0.0)
    bias = kappa**2 * a_2 / shrink
    variance = sigma_eps2 * (df2 / m) / shrink
    test_mse = bias + variance + sigma_eps2
    # lambda = 0 at the interpolation threshold (m = rank Omega): the test error diverges while
    # the readout still interpolates, so the train error's limit is 0 (not 0 * inf = NaN)
    threshold = (lam == 0) & (shrink <= 1e-12)
    test_mse = jnp.where(threshold, jnp.inf, test_mse)
    train_mse = jnp.where(threshold, 0.0, (1.0 - df1 / m) ** 2 * test_mse)
    w_norm2 = a_1 - lam * a_2 / shrink + sigma_eps2 * tr_shift2 / (m * shrink)
    penalty = jnp.where(lam == 0, 0.0, lam * w_norm2)
    return RidgeEquivalent(
        gen_error=test_mse / 2, train_error=train_mse / 2 + penalty / 2, test_mse=test_mse,
        train_mse=train_mse, kappa=kappa, bias=bias, variance=variance, df1=df1, df2=df2,
        sigma_eps2=sigma_eps2, w_norm2=w_norm2,
    )


def equivalent_from_spectrum(spec: Spectrum, lam, m) -> RidgeEquivalent:
    """:func:`ridge_equivalent` for one decomposition; ``lam`` and ``m`` may be arrays (broadcast)."""
    lam = jnp.asarray(lam, jnp.float64)
    m = jnp.asarray(m, jnp.float64)
    lam, m = jnp.broadcast_arrays(lam, m)
    if not (np.all(np.asarray(lam) >= 0) and np.all(np.asarray(m) > 0)):
        raise ValueError("lambda must be >= 0 and m > 0")
    out = jax.vmap(_equivalent, in_axes=(None, 0, 0))(spec, lam.reshape(-1), m.reshape(-1))
    return RidgeEquivalent(*(v.reshape(lam.shape) for v in out))


SYMMETRY_TOLERANCE = 1e-8
"""Relative asymmetry :math:`\\max|\\Omega-\\Omega^\\top| / \\max|\\Omega|` that
:func:`ridge_equivalent` accepts (rounding); also the relative size of a negative eigenvalue."""


def check_moments(Omega, u, s_y) -> None:
    """Shapes and symmetry of the population moments (:func:`ridge_equivalent`); positive
    semi-definiteness is checked where the eigenvalues are computed (:func:`spectrum`)."""
    for field, value in (("Omega", Omega), ("u", u)):
        arr = np.asarray(value) if not isinstance(value, str | bytes | type(None)) else None
        if arr is None or arr.dtype == bool or arr.dtype.kind not in "iuf":
            raise FieldTypeError(field, f"{field} must be an array of real numbers (got {type(value).__name__})")
    A, b = np.asarray(Omega, np.float64), np.asarray(u, np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise FieldValueError("Omega", f"Omega must be a square (k, k) matrix with k >= 1 (got shape {A.shape})")
    if b.shape != (A.shape[0],):
        raise FieldValueError("u", f"u must have shape ({A.shape[0]},) like Omega's side (got {b.shape})")
    if not is_real(s_y) and not (np.ndim(s_y) == 0 and np.asarray(s_y).dtype.kind in "iuf"):
        raise FieldTypeError("s_y", f"s_y must be a real number (got {s_y!r})")
    if float(s_y) < 0:
        raise FieldValueError("s_y", f"s_y = E y^2 must be >= 0 (got {float(s_y)})")
    if np.all(np.isfinite(A)):
        scale = np.abs(A).max()
        if np.abs(A - A.T).max() > SYMMETRY_TOLERANCE * scale:
            raise FieldValueError("Omega", "Omega must be symmetric (it is E[phi phi^T])")


def _check_psd(omega: np.ndarray) -> None:
    if omega.size and omega[0] < -SYMMETRY_TOLERANCE * max(np.abs(omega).max(), np.finfo(float).tiny):
        raise FieldValueError("Omega", f"Omega must be positive semi-definite (smallest eigenvalue {omega[0]:.3g})")


@scoped_x64
def ridge_equivalent(Omega: Array, u: Array, s_y, lam: float, m: int) -> RidgeEquivalent:
    r"""Deterministic-equivalent errors of ridge with penalty ``lam`` on ``m`` samples (module notes).

    Parameters
    ----------
    Omega : array, shape (k, k)
        :math:`\mathbb E[\phi\phi^\top]` (cast to float64).
    u : array, shape (k,)
        :math:`\mathbb E[\phi y]`.
    s_y : float
        :math:`\mathbb E y^2`.
    lam : float or array
        Ridge penalty :math:`\lambda \ge 0`.
    m : int or array
        Samples (broadcast with ``lam``).

    Returns
    -------
    RidgeEquivalent
        Fields of the shape of ``lam`` and ``m`` broadcast (scalars for one point), float64.
        Runs in 64-bit JAX and leaves the process's setting as it was.

    Raises
    ------
    FieldTypeError
        (a ``TypeError``) for inputs that are not real numbers or arrays.
    FieldValueError
        (a ``ValueError``) for ``Omega`` not square, ``u`` not of length ``k``, ``s_y`` not a
        number ``>= 0``, ``Omega`` not symmetric or not positive semi-definite (an eigenvalue
        below :math:`-10^{-8}\,\max|\omega|`), ``lam < 0`` or infinite, ``m <= 0``.
        A non-finite ``Omega`` or ``u`` (a diverged layer) is not refused: it gives NaN errors.
    """
    require_x64("ridge_equivalent")
    check_moments(Omega, u, s_y)
    Omega, u, s_y = (jnp.asarray(v, jnp.float64) for v in (Omega, u, s_y))
    if np.ndim(lam) == 0 and np.ndim(m) == 0:
        check_real("lam", lam, 0)
        check_real("m", m, 0, lo_open=True)
        out = _equivalent_by_solves(Omega, u, s_y, float(lam), float(m))
        if out is not None:
            return out
    return equivalent_from_spectrum(spectrum(Omega, u, s_y), lam, m)


WELL_CONDITIONED = 1e-10
r"""The solve route of :func:`ridge_equivalent` needs :math:`\omega_{\min} > 10^{-10}\omega_{\max}`, so that
no eigenvalue falls under the pseudo-inverse's cut (:math:`10^{-12}\omega_{\max}`) and both routes
mean the same :math:`\Omega^+`."""


def _equivalent_by_solves(Omega: Array, u: Array, s_y, lam: float, m: float) -> RidgeEquivalent | None:
    r"""One :math:`(\lambda, m)` without eigenvectors: the eigenvalues alone (``syevd`` without
    vectors) give :math:`\kappa`, :math:`\mathrm{df}_1`, :math:`\mathrm{df}_2`, and two Cholesky
    factorisations give the quadratic forms, :math:`w_* = \Omega^{-1}u`,
    :math:`z = (\Omega+\kappa)^{-1}u`: :math:`a_0 = u^\top w_*`, :math:`a_1 = w_*^\top z`,
    :math:`a_2 = z^\top\Omega^{-1}z` (about half the time of the eigenvectors; see the
    Performance page of the docs).
    ``None`` when :math:`\Omega` is not well conditioned (:data:`WELL_CONDITIONED`): the caller
    then takes the eigenbasis, whose pseudo-inverse drops the null directions.  Float64.
    """
    import scipy.linalg  # 0.1-0.3 s to import; only theory predictions need it

    A = np.array(Omega, dtype=np.float64)  # symmetric: A.T is the Fortran-ordered matrix LAPACK takes
    u = np.asarray(u, np.float64)
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(u))):
        return None  # the eigenbasis route answers NaN
    omega = scipy.linalg.eigh(A.T, eigvals_only=True, driver="evd", overwrite_a=True, check_finite=False)
    _check_psd(omega)
    if not omega[0] > WELL_CONDITIONED * omega[-1]:
        return None
    omega = jnp.asarray(omega)
    kappa = _kappa(omega, jnp.float64(lam), jnp.float64(m))
    try:
        plain = scipy.linalg.cho_factor(np.array(Omega, dtype=np.float64).T, overwrite_a=True, check_finite=False)
        shifted = np.array(Omega, dtype=np.float64)
        shifted[np.diag_indices_from(shifted)] += float(kappa)
        shifted = scipy.linalg.cho_factor(shifted.T, overwrite_a=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    w_star = scipy.linalg.cho_solve(plain, u, check_finite=False)
    z = scipy.linalg.cho_solve(shifted, u, check_finite=False)
    forms = (u @ w_star, w_star @ z, z @ scipy.linalg.cho_solve(plain, z, check_finite=False))
    return _errors(omega, kappa, jnp.float64(lam), jnp.float64(m), jnp.asarray(s_y, jnp.float64), *map(jnp.float64, forms))
