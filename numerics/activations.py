r"""Numeric activations: a JAX callable (a fitted spline, a network's own nonlinearity) as an activation.

:func:`numeric_activation` registers a JAX function under a name, beside the built-in and the
:func:`~onestep_gm.theory.activations.register_activation` names, and every model of
:func:`~onestep_gm.simulate` uses it: the network and the gradient step call it (and its
derivative, :func:`jax.grad` of it by default), and the quantities the exact layer derives
from a SymPy expression come from float64 quadrature instead:

* Hermite coefficients :math:`h_j = \mathbb E[\sigma(bz)\mathrm{He}_j(z)]`, :math:`\mathbb E\sigma(bz)^2`
  and :math:`h_l^\ast` (:meth:`NumericActivation.hermite_coefficients`, ``method="numeric"``):
  the panel rule of :mod:`onestep_gm.numerics.quadrature` (Gauss–Legendre on :math:`[-12, 12]`,
  cut at the declared kinks) with the normalised Hermite recurrence, the same rule as the Mehler
  coefficients of :func:`onestep_gm.numerics.population.hermite_coefficients`;
* moments :math:`\mathbb E\sigma(a+sg)^p` (:meth:`NumericActivation.moment`) by the same rule,
  and the conditional moments :math:`M_0, M_1, M_2` (:func:`~onestep_gm.numerics.codegen.jax_moments`);
* bivariate kernels :math:`\mathbb E[\sigma(u)\sigma(v)]` (:meth:`NumericActivation.kernel`,
  and inside :func:`~onestep_gm.population_moments`): the Mehler series with the nested pair
  rule (``rule="mehler"``; ``"auto"`` picks it, ``"closed"`` refuses).

What needs SymPy (derivation pages, closed forms, :func:`~onestep_gm.theory.moments.conditional_moments`,
``moments_mpmath``, the exact Hermite route) is refused with one line naming the activation and
the alternative (:class:`~onestep_gm.theory.activations.ExternalActivation`).  A numeric
activation lives in the Python process that registered it: the command line cannot name one.

The accuracy is that of float64 quadrature (about 1e-14 relative for smooth functions at
:math:`b \le 3`); a function with kinks or jumps must declare them (``kinks=``), or the rule
converges only like :math:`h^2` across them.  :math:`M_1` then uses Stein's form
:math:`\mathbb E[z\sigma(a+sz)]/s`, right for jumps too.

Examples
--------
>>> import jax.numpy as jnp
>>> from onestep_gm.theory.activations import activation_scope
>>> with activation_scope():
...     act = numeric_activation("my_tanh", jnp.tanh)
...     c = act.hermite_coefficients(1.0, 3)
>>> c.method, round(float(c.h[1]), 12)
('numeric', 0.605705509602)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
from onestep_gm.numerics import population
from onestep_gm.theory.activations import ActivationError, ExternalActivation, add_activation
from onestep_gm.theory.hermite import HermiteCoefficients

__all__ = ["NumericActivation", "numeric_activation"]

Array = jax.Array
Elementwise = Callable[[Array], Array]

_PROBE = np.linspace(-8.0, 8.0, 33)
"""Where :func:`numeric_activation` checks that the function is elementwise, real and finite."""


def _as_float(x) -> Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


@dataclass(frozen=True, eq=False)
class NumericActivation(ExternalActivation):
    r"""An activation given by an elementwise JAX function (see the module notes).

    Attributes
    ----------
    name : str
        Its registry name.
    fn : callable
        :math:`\sigma`, elementwise on arrays of any shape (``jnp.tanh``, a spline, ...).
    derivative : callable or None
        :math:`\sigma'`, elementwise; ``None``: forward-mode :func:`jax.jvp` of ``fn`` (what
        :func:`jax.grad` gives pointwise).
    kinks : tuple of float
        Points where ``fn`` or its derivative is not smooth (quadrature panels are cut there).

    Compared and hashed by identity: it is a static argument of compiled programs.
    """

    name: str
    fn: Callable
    derivative: Callable | None = None
    kinks: tuple[float, ...] = ()

    @property
    def definition(self) -> tuple:
        return (self.fn, self.derivative, self.kinks)

    def functions(self) -> tuple[Elementwise, Elementwise]:
        """``(sigma, sigma_prime)``, each returning its argument's shape and floating dtype."""
        fn, derivative = self.fn, self.derivative

        def sigma(x):
            x = _as_float(x)
            return jnp.asarray(fn(x)).astype(x.dtype)

        def sigma_prime(x):
            x = _as_float(x)
            if derivative is not None:
                return jnp.asarray(derivative(x)).astype(x.dtype)
            return jax.jvp(sigma, (x,), (jnp.ones_like(x),))[1]

        return sigma, sigma_prime

    def hermite_coefficients(self, b: float, order: int) -> HermiteCoefficients:
        r""":math:`h_0..h_{L-1}`, :math:`\mathbb E\sigma(bz)^2` and :math:`h_L^\ast` at scale ``b``
        by float64 quadrature (``method="numeric"``).

        Raises
        ------
        ValueError
            When the quadrature is not finite (the function overflows or is not real at scale ``b``).
        """
        with jax.enable_x64(True):
            mean, std = jnp.zeros(1), jnp.full(1, float(b))
            normalised = np.asarray(population.hermite_coefficients(self, mean, std, order - 1))[:, 0]
            second = float(population.one_d_expectation(self, 2, mean, std)[0])
        if not (np.all(np.isfinite(normalised)) and math.isfinite(second)):
            raise ActivationError(
                f"the Hermite coefficients of {self.name} at b = {b:g} are not finite by quadrature "
                "(the function overflows or is not real on |x| <= 12 b)"
            )
        h = [float(c) * math.sqrt(math.factorial(j)) for j, c in enumerate(normalised)]
        star_sq = second - sum(float(c) ** 2 for c in normalised)
        return HermiteCoefficients(
            self.name, float(b), order, tuple(mpmath.mpf(v) for v in h), mpmath.mpf(second),
            mpmath.mpf(math.sqrt(max(star_sq, 0.0))), "numeric", None,
        )  # fmt: skip

    def moment(self, a, s, power: int = 2) -> Array:
        r""":math:`\mathbb E\sigma(a+sg)^{\text{power}}`, :math:`g\sim\mathcal N(0,1)`, per entry
        (``a`` and ``s > 0`` broadcast), float64, by the kink-cut panel rule."""
        with jax.enable_x64(True):
            a, s = jnp.broadcast_arrays(jnp.asarray(a, jnp.float64), jnp.asarray(s, jnp.float64))
            return population.one_d_expectation(self, int(power), a, s)

    def kernel(self, mean, cov) -> Array:
        r""":math:`K_{ij} = \mathbb E[\sigma(u_i)\sigma(u_j)]`, :math:`u\sim\mathcal N(\text{mean}, \text{cov})`
        (shapes ``(k,)`` and ``(k, k)``), float64, by :func:`onestep_gm.numerics.population.numeric_kernel`."""
        with jax.enable_x64(True):
            return population.numeric_kernel(
                self, jnp.asarray(mean, jnp.float64), jnp.asarray(cov, jnp.float64)
            )

    def moment_divergence(self, scale, power: int) -> str | None:
        r"""One line when :math:`\mathbb E|\sigma(sg)|^{\text{power}}` is not finite by quadrature
        at ``scale`` (1 when ``None``), else ``None``."""
        s = 1.0 if scale is None else float(scale)
        value = float(self.moment(0.0, s, power))
        if math.isfinite(value):
            return None
        return f"E|σ(a + s g)|^{power} of {self.name} is not finite by quadrature at s = {s:g} (got {value})"


def numeric_activation(
    name: str, fn: Callable, derivative: Callable | None = None, *, kinks=()
) -> NumericActivation:
    r"""Register the JAX function ``fn`` as the activation ``name`` (see the module notes).

    The name then works wherever a registry name does in Python (``SimulationConfig(activations=
    (name,))`` with every model, :func:`~onestep_gm.hermite_coefficients`,
    :func:`~onestep_gm.population_moments`), until
    :func:`~onestep_gm.unregister_activation` or the end of the enclosing
    :func:`~onestep_gm.activation_scope`.  Not from the command line (the function is Python).

    Parameters
    ----------
    name : str
        A Python identifier, not built in and not a name of the expression language.
    fn : callable
        :math:`\sigma`: elementwise, real and finite (checked on 33 points of :math:`[-8, 8]`).
    derivative : callable, optional
        :math:`\sigma'`; default :func:`jax.jvp` of ``fn`` (what :func:`jax.grad` gives per entry).
    kinks : sequence of float, optional
        Points where ``fn`` or its derivative is not smooth; quadrature is cut there.

    Returns
    -------
    NumericActivation

    Raises
    ------
    TypeError
        When ``fn`` or ``derivative`` is not callable.
    ValueError
        (:class:`~onestep_gm.ActivationError`) for a bad or taken name, a function that is not
        elementwise (output shape differs from the input's), not real, or not finite on the probe,
        or kinks that are not finite numbers.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable (a JAX function), got {type(fn).__name__}")
    if derivative is not None and not callable(derivative):
        raise TypeError(f"derivative must be a callable or None, got {type(derivative).__name__}")
    try:
        kinks = tuple(sorted(float(k) for k in kinks))
    except (TypeError, ValueError):
        raise ActivationError(f"kinks must be a sequence of numbers, got {kinks!r}") from None
    if not all(math.isfinite(k) for k in kinks):
        raise ActivationError(f"kinks must be finite, got {kinks}")
    if not isinstance(name, str):
        raise ActivationError(f"an activation name must be a string, got {type(name).__name__}")
    act = NumericActivation(name, fn, derivative, kinks)
    with jax.enable_x64(True):
        probe = jnp.asarray(_PROBE)
        for label, f in (("fn", fn), ("derivative", derivative)):
            if f is None:
                continue
            out = jnp.asarray(f(probe))
            if out.shape != probe.shape:
                raise ActivationError(
                    f"{label} of {name} must be elementwise: shape {probe.shape} in gave {out.shape} out"
                )
            if not jnp.issubdtype(out.dtype, jnp.floating):
                raise ActivationError(f"{label} of {name} must return real floats, got dtype {out.dtype}")
            if not bool(jnp.all(jnp.isfinite(out))):
                raise ActivationError(f"{label} of {name} is not finite on [-8, 8]")
    return add_activation(act)
