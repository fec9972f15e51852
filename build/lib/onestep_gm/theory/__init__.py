"""Exact layer: SymPy and mpmath, no JAX at import.

The public surface: activations (:func:`get_activation`), Hermite coefficients
(:func:`hermite_coefficients`), orders and scalings (:func:`hermite_order`,
:func:`scalings`), conditional moments (:func:`conditional_moments`).  Code
generation for JAX lives in :mod:`theory.codegen`, which imports JAX lazily.
"""

from onestep_gm.theory.activations import REGISTRY, Activation, ActivationError, get_activation
from onestep_gm.theory.hermite import HermiteCoefficients, hermite_coefficients, hermite_symbolic
from onestep_gm.theory.moments import ConditionalMoments, conditional_moments, moments_mpmath
from onestep_gm.theory.order import (
    OrderInfo,
    Scalings,
    bulk_scale,
    hermite_order,
    scalings,
    simulation_order,
)

__all__ = [
    "REGISTRY",
    "Activation",
    "ActivationError",
    "ConditionalMoments",
    "HermiteCoefficients",
    "OrderInfo",
    "Scalings",
    "bulk_scale",
    "conditional_moments",
    "get_activation",
    "hermite_coefficients",
    "hermite_order",
    "hermite_symbolic",
    "moments_mpmath",
    "scalings",
    "simulation_order",
]
