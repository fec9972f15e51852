"""Exact layer: SymPy and mpmath only, no JAX anywhere (``tests/test_import_graph.py``).

The public surface: activations (:func:`get_activation`), Hermite coefficients
(:func:`hermite_coefficients`), orders and scalings (:func:`hermite_order`,
:func:`scalings`), conditional moments (:func:`conditional_moments`).  Modules:
``expressions`` (the whitelist parser), ``activations`` (the registry), ``gaussian``
(the Gaussian-expectation engine), ``hermite`` with ``hermite_exact`` and
``hermite_numeric``, ``moments``, ``kernels``, ``order``, ``budget`` (time budgets for
symbolic work).  Code generation for JAX lives in :mod:`onestep_gm.numerics.codegen`.

The names load on first use (PEP 562), so ``import onestep_gm.theory.order`` (pure Python)
does not pull in SymPy through this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onestep_gm.theory.activations import REGISTRY as REGISTRY
    from onestep_gm.theory.activations import Activation as Activation
    from onestep_gm.theory.activations import ActivationError as ActivationError
    from onestep_gm.theory.activations import get_activation as get_activation
    from onestep_gm.theory.hermite import HermiteCoefficients as HermiteCoefficients
    from onestep_gm.theory.hermite import hermite_coefficients as hermite_coefficients
    from onestep_gm.theory.hermite import hermite_symbolic as hermite_symbolic
    from onestep_gm.theory.moments import ConditionalMoments as ConditionalMoments
    from onestep_gm.theory.moments import conditional_moments as conditional_moments
    from onestep_gm.theory.moments import moments_mpmath as moments_mpmath
    from onestep_gm.theory.order import OrderInfo as OrderInfo
    from onestep_gm.theory.order import Scalings as Scalings
    from onestep_gm.theory.order import bulk_scale as bulk_scale
    from onestep_gm.theory.order import hermite_order as hermite_order
    from onestep_gm.theory.order import scalings as scalings
    from onestep_gm.theory.order import simulation_order as simulation_order

_HOME = {
    **dict.fromkeys(("REGISTRY", "Activation", "ActivationError", "get_activation"), "activations"),
    **dict.fromkeys(("HermiteCoefficients", "hermite_coefficients", "hermite_symbolic"), "hermite"),
    **dict.fromkeys(("ConditionalMoments", "conditional_moments", "moments_mpmath"), "moments"),
    **dict.fromkeys(
        ("OrderInfo", "Scalings", "bulk_scale", "hermite_order", "scalings", "simulation_order"), "order"
    ),
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'onestep_gm.theory' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"onestep_gm.theory.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
