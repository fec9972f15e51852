r"""onestep-gm: two-layer networks after one large gradient step on Gaussian mixtures.

Demir & Dogan, "Asymptotic analysis of two-layer neural networks after one gradient step
under Gaussian mixtures data with structure", ICLR 2025 (arXiv:2503.00856): after one
step of strength β the network is equivalent, in training and test error, to a conditional
Gaussian model and to a Hermite polynomial model of order l(β).

The public API, one entry per concept:

* activations: :func:`get_activation`, :class:`Activation`, :class:`ActivationError`; your own
  names: :func:`register_activation` (an expression), :func:`numeric_activation` (a JAX
  callable), :func:`unregister_activation`, :func:`activation_scope`;
* the exact layer: :func:`hermite_order`, :func:`scalings`, :func:`bulk_scale`,
  :func:`hermite_coefficients`, :func:`conditional_moments`;
* data sources behind one protocol (:class:`DataSpec`, :data:`DATA_SOURCES`):
  :class:`MixtureSpec`, :class:`FashionSpec`, :class:`ArraySpec` (your own arrays, ``.npz``),
  :class:`TorchvisionSpec` (a local torchvision root);
* feature models in one table (:data:`FEATURE_MODELS` of :class:`FeatureModel`; the theory line
  is a predictor beside them), :data:`MODELS`;
* simulations: :class:`SimulationConfig`, :func:`simulate` (returns a :class:`SimulationResult`
  keyed by :class:`Pair`, with typed :class:`PairSummary` summaries and ``to_frame()``);
* theory curves: :func:`trained_layer` (the :math:`\hat F` a simulation trains),
  :func:`population_moments`, :func:`ridge_equivalent` (a :class:`RidgeEquivalent`),
  :func:`predict` (a :class:`Prediction`), :func:`learning_curve` (a :class:`LearningCurve`);
* the sampling-free limit in the isotropic corner: :class:`IsotropicLimit`, :func:`limit_point`
  (a :class:`LimitPoint`), :func:`limit_curve` (a :class:`LimitCurve`); for Gaussian mixtures at
  finite size: :func:`sampling_free_point` (a :class:`SamplingFreePoint`, node counts in
  :class:`MixtureQuadrature`) and :func:`sampling_free_curve` (a :class:`SamplingFreeCurve`);
* figures and results on disk: :data:`FIGURES`, :func:`run_figure`, :func:`save_figure`, :func:`save_result`,
  :func:`load_result`;
* user sweeps: :func:`load_sweep` reads a TOML sweep spec into a :class:`FigureSpec`;
* :func:`enable_x64` switches JAX to 64-bit for the process (only needed for the lower-level
  modules: the entry points scope it themselves); :func:`enable_compile_cache` /
  :func:`disable_compile_cache` control JAX's persistent compilation cache, which the library
  switches on only when asked (the ``onestep`` command line does by default).

Importing the package changes no global state and imports neither JAX nor SymPy: each name
is loaded on first use.  Calling it leaves the process as it found it: ``simulate``,
``learning_curve``, ``predict`` and the other entry points run in 64-bit JAX inside a scope
(:func:`jax.enable_x64`) and return float64 results, with ``jax_enable_x64``, the compile
cache, the environment and the umask unchanged.

Examples
--------
>>> import onestep_gm as og
>>> og.hermite_order(0.74).order
4
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"

if TYPE_CHECKING:  # the same names, for type checkers and IDEs; loaded lazily at run time
    from onestep_gm.experiments.figures.catalogue import FIGURES as FIGURES
    from onestep_gm.experiments.figures.catalogue import FigureSpec as FigureSpec
    from onestep_gm.experiments.figures.outputs import save_figure as save_figure
    from onestep_gm.experiments.figures.runner import run_figure as run_figure
    from onestep_gm.experiments.figures.sweepspec import load_sweep as load_sweep
    from onestep_gm.experiments.results import load_result as load_result
    from onestep_gm.experiments.results import save_result as save_result
    from onestep_gm.numerics.activations import NumericActivation as NumericActivation
    from onestep_gm.numerics.activations import numeric_activation as numeric_activation
    from onestep_gm.numerics.arrays import ArraySpec as ArraySpec
    from onestep_gm.numerics.compile_cache import disable_compile_cache as disable_compile_cache
    from onestep_gm.numerics.compile_cache import enable_compile_cache as enable_compile_cache
    from onestep_gm.numerics.config import SimulationConfig as SimulationConfig
    from onestep_gm.numerics.data import DATA_SOURCES as DATA_SOURCES
    from onestep_gm.numerics.data import DataSpec as DataSpec
    from onestep_gm.numerics.datasets import TorchvisionSpec as TorchvisionSpec
    from onestep_gm.numerics.fashion import FashionSpec as FashionSpec
    from onestep_gm.numerics.learning import LearningCurve as LearningCurve
    from onestep_gm.numerics.learning import learning_curve as learning_curve
    from onestep_gm.numerics.limit import IsotropicLimit as IsotropicLimit
    from onestep_gm.numerics.limit import LimitCurve as LimitCurve
    from onestep_gm.numerics.limit import LimitPoint as LimitPoint
    from onestep_gm.numerics.limit import limit_curve as limit_curve
    from onestep_gm.numerics.limit import limit_point as limit_point
    from onestep_gm.numerics.limit_mixture import MixtureQuadrature as MixtureQuadrature
    from onestep_gm.numerics.limit_mixture import SamplingFreeCurve as SamplingFreeCurve
    from onestep_gm.numerics.limit_mixture import SamplingFreePoint as SamplingFreePoint
    from onestep_gm.numerics.limit_mixture import sampling_free_curve as sampling_free_curve
    from onestep_gm.numerics.limit_mixture import sampling_free_point as sampling_free_point
    from onestep_gm.numerics.mixture import MixtureSpec as MixtureSpec
    from onestep_gm.numerics.models import FEATURE_MODELS as FEATURE_MODELS
    from onestep_gm.numerics.models import MODELS as MODELS
    from onestep_gm.numerics.models import FeatureModel as FeatureModel
    from onestep_gm.numerics.population import PopulationMoments as PopulationMoments
    from onestep_gm.numerics.population import population_moments as population_moments
    from onestep_gm.numerics.precision import enable_x64 as enable_x64
    from onestep_gm.numerics.prediction import Prediction as Prediction
    from onestep_gm.numerics.prediction import predict as predict
    from onestep_gm.numerics.result import Pair as Pair
    from onestep_gm.numerics.result import PairSummary as PairSummary
    from onestep_gm.numerics.result import SimulationResult as SimulationResult
    from onestep_gm.numerics.result import Spread as Spread
    from onestep_gm.numerics.ridge import RidgeEquivalent as RidgeEquivalent
    from onestep_gm.numerics.ridge import ridge_equivalent as ridge_equivalent
    from onestep_gm.numerics.simulation import simulate as simulate
    from onestep_gm.numerics.simulation import trained_layer as trained_layer
    from onestep_gm.theory.activations import Activation as Activation
    from onestep_gm.theory.activations import activation_scope as activation_scope
    from onestep_gm.theory.activations import get_activation as get_activation
    from onestep_gm.theory.activations import register_activation as register_activation
    from onestep_gm.theory.activations import unregister_activation as unregister_activation
    from onestep_gm.theory.expressions import ActivationError as ActivationError
    from onestep_gm.theory.hermite import HermiteCoefficients as HermiteCoefficients
    from onestep_gm.theory.hermite import hermite_coefficients as hermite_coefficients
    from onestep_gm.theory.moments import ConditionalMoments as ConditionalMoments
    from onestep_gm.theory.moments import conditional_moments as conditional_moments
    from onestep_gm.theory.order import OrderInfo as OrderInfo
    from onestep_gm.theory.order import Scalings as Scalings
    from onestep_gm.theory.order import bulk_scale as bulk_scale
    from onestep_gm.theory.order import hermite_order as hermite_order
    from onestep_gm.theory.order import scalings as scalings

_HOME = {
    "FIGURES": "onestep_gm.experiments.figures.catalogue",
    "FigureSpec": "onestep_gm.experiments.figures.catalogue",
    "run_figure": "onestep_gm.experiments.figures.runner",
    "load_sweep": "onestep_gm.experiments.figures.sweepspec",
    "enable_compile_cache": "onestep_gm.numerics.compile_cache",
    "disable_compile_cache": "onestep_gm.numerics.compile_cache",
    "save_figure": "onestep_gm.experiments.figures.outputs",
    "load_result": "onestep_gm.experiments.results",
    "save_result": "onestep_gm.experiments.results",
    "LearningCurve": "onestep_gm.numerics.learning",
    "Prediction": "onestep_gm.numerics.prediction",
    "learning_curve": "onestep_gm.numerics.learning",
    "PopulationMoments": "onestep_gm.numerics.population",
    "population_moments": "onestep_gm.numerics.population",
    "predict": "onestep_gm.numerics.prediction",
    "ridge_equivalent": "onestep_gm.numerics.ridge",
    "RidgeEquivalent": "onestep_gm.numerics.ridge",
    "DATA_SOURCES": "onestep_gm.numerics.data",
    "DataSpec": "onestep_gm.numerics.data",
    "FEATURE_MODELS": "onestep_gm.numerics.models",
    "FeatureModel": "onestep_gm.numerics.models",
    "MODELS": "onestep_gm.numerics.models",
    "PairSummary": "onestep_gm.numerics.result",
    "Spread": "onestep_gm.numerics.result",
    "trained_layer": "onestep_gm.numerics.simulation",
    "IsotropicLimit": "onestep_gm.numerics.limit",
    "LimitCurve": "onestep_gm.numerics.limit",
    "LimitPoint": "onestep_gm.numerics.limit",
    "limit_curve": "onestep_gm.numerics.limit",
    "limit_point": "onestep_gm.numerics.limit",
    "MixtureQuadrature": "onestep_gm.numerics.limit_mixture",
    "SamplingFreeCurve": "onestep_gm.numerics.limit_mixture",
    "SamplingFreePoint": "onestep_gm.numerics.limit_mixture",
    "sampling_free_curve": "onestep_gm.numerics.limit_mixture",
    "sampling_free_point": "onestep_gm.numerics.limit_mixture",
    "FashionSpec": "onestep_gm.numerics.fashion",
    "ArraySpec": "onestep_gm.numerics.arrays",
    "TorchvisionSpec": "onestep_gm.numerics.datasets",
    "MixtureSpec": "onestep_gm.numerics.mixture",
    "enable_x64": "onestep_gm.numerics.precision",
    "Pair": "onestep_gm.numerics.result",
    "SimulationConfig": "onestep_gm.numerics.config",
    "SimulationResult": "onestep_gm.numerics.result",
    "simulate": "onestep_gm.numerics.simulation",
    "Activation": "onestep_gm.theory.activations",
    "ActivationError": "onestep_gm.theory.expressions",
    "get_activation": "onestep_gm.theory.activations",
    "register_activation": "onestep_gm.theory.activations",
    "unregister_activation": "onestep_gm.theory.activations",
    "activation_scope": "onestep_gm.theory.activations",
    "NumericActivation": "onestep_gm.numerics.activations",
    "numeric_activation": "onestep_gm.numerics.activations",
    "HermiteCoefficients": "onestep_gm.theory.hermite",
    "hermite_coefficients": "onestep_gm.theory.hermite",
    "ConditionalMoments": "onestep_gm.theory.moments",
    "conditional_moments": "onestep_gm.theory.moments",
    "OrderInfo": "onestep_gm.theory.order",
    "Scalings": "onestep_gm.theory.order",
    "bulk_scale": "onestep_gm.theory.order",
    "hermite_order": "onestep_gm.theory.order",
    "scalings": "onestep_gm.theory.order",
}

__all__ = [
    "DATA_SOURCES",
    "FEATURE_MODELS",
    "FIGURES",
    "MODELS",
    "Activation",
    "ActivationError",
    "ArraySpec",
    "ConditionalMoments",
    "DataSpec",
    "FashionSpec",
    "FeatureModel",
    "FigureSpec",
    "HermiteCoefficients",
    "IsotropicLimit",
    "LearningCurve",
    "LimitCurve",
    "LimitPoint",
    "MixtureQuadrature",
    "MixtureSpec",
    "NumericActivation",
    "OrderInfo",
    "Pair",
    "PairSummary",
    "PopulationMoments",
    "Prediction",
    "RidgeEquivalent",
    "SamplingFreeCurve",
    "SamplingFreePoint",
    "Scalings",
    "SimulationConfig",
    "SimulationResult",
    "Spread",
    "TorchvisionSpec",
    "__version__",
    "activation_scope",
    "bulk_scale",
    "conditional_moments",
    "disable_compile_cache",
    "enable_compile_cache",
    "enable_x64",
    "get_activation",
    "hermite_coefficients",
    "hermite_order",
    "limit_curve",
    "limit_point",
    "learning_curve",
    "load_result",
    "load_sweep",
    "numeric_activation",
    "population_moments",
    "predict",
    "register_activation",
    "ridge_equivalent",
    "run_figure",
    "sampling_free_curve",
    "sampling_free_point",
    "save_figure",
    "save_result",
    "scalings",
    "simulate",
    "trained_layer",
    "unregister_activation",
]


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'onestep_gm' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
