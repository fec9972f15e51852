r"""The feature models and the theory predictor: one table that every other module reads.

A feature model turns the trained layer's pre-activations :math:`\hat F x` into readout features
:math:`\phi = \bar\phi + s\odot g` (a mean and, for the equivalent models, a per-entry noise scale
with :math:`g\sim\mathcal N(0,1)` fresh per entry).  Each :class:`FeatureModel` knows

* how to build its features on one block of samples (:attr:`FeatureModel.parts`);
* which of a trial's model keys draws its noise (:attr:`FeatureModel.noise_stream`);
* whether its test error is exact from population moments (:attr:`FeatureModel.exact_error`);
* its label in figures and reports (:attr:`FeatureModel.label`).

The theory line is not a feature model (it fits no readout): it is a :class:`Predictor` of the
ridge readout's errors from the exact population moments (:func:`onestep_gm.predict`); so is the
sampling-free theory (``"limit"``: :mod:`onestep_gm.numerics.limit` in the isotropic corner,
:mod:`onestep_gm.numerics.limit_mixture` for mixtures).

Adding a feature model: write its ``parts`` (and, if it has exact population moments, its
``exact_error``) and add one row to :data:`FEATURE_MODELS`; the trial, the exact test errors,
validation and the figures' labels read the table.

References: Demir & Dogan, ICLR 2025 (arXiv 2503.00856): the network (Sec. 2), the Hermite model
(Theorem 3.2) and the conditional Gaussian model (Theorem 3.1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
from onestep_gm.numerics.equivalents import conditional_parts, hermite_parts
from onestep_gm.numerics.exact import generalisation_error, hermite_population_moments
from onestep_gm.numerics.limit import check_limit_config, limit_prediction

Array = jax.Array
Parts = tuple[Array, Array | None]
"""Mean features (laid out like the pre-activations) and the per-entry noise scale (``None``:
no noise)."""


class ModelContext(NamedTuple):
    """What one activation's models need on every block of samples (inside the jitted trial).

    ``h`` (slots,) and ``h_star`` () are the Hermite coefficients, ``b`` the bulk scale, ``keys``
    (3, 2) the model keys (:func:`onestep_gm.numerics.trial.model_keys`), ``F_hat`` (k, n) the
    trained layer, ``basis`` (n, r) the conditional model's subspace and ``moments`` its
    :math:`(M_0, M_1, M_2)` (both ``None`` unless a model needs them).
    """

    sigma: Callable[[Array], Array]
    h: Array
    h_star: Array
    b: Array
    keys: Array
    F_hat: Array
    basis: Array | None
    moments: Callable | None


class ExactInputs(NamedTuple):
    r"""The arrays the exact test errors of one trial need (a pytree, traced).

    ``mixture`` the trial's Gaussian mixture; ``laws`` per activation the component laws of
    :math:`\hat Fx` (:func:`onestep_gm.numerics.population.component_laws`); ``F_hats`` (A, k, n);
    ``w_hats`` (A, models, k) the readouts fitted on :math:`\phi/\sqrt k`; ``h`` (A, slots),
    ``h_star`` (A,), ``b`` () the Hermite model's parameters.
    """

    mixture: object
    laws: list
    F_hats: Array
    w_hats: Array
    h: Array
    h_star: Array
    b: Array


ExactError = Callable[[int, Array, tuple, ExactInputs, int | None], Array]
"""``(i, w_hat (k,), network moments (Omega, u, s_y), inputs, order) -> error ()`` of activation ``i``."""


def network_parts(pre: Array, X_block: Array, ctx: ModelContext, rows: bool) -> Parts:
    r"""The network's features :math:`\sigma(\hat Fx)`, in the compute dtype, without noise."""
    return ctx.sigma(pre), None


def hermite_model_parts(pre: Array, X_block: Array, ctx: ModelContext, rows: bool) -> Parts:
    r"""The Hermite model's :math:`p_l(\hat Fx)` and noise scale :math:`h_l^\ast` (float64:
    high orders would overflow float32)."""
    return hermite_parts(pre.astype(jnp.float64), ctx.h, ctx.h_star, ctx.b)


def conditional_model_parts(pre: Array, X_block: Array, ctx: ModelContext, rows: bool) -> Parts:
    r"""The conditional Gaussian model's :math:`M_0(a, s)` and noise scale (float64).

    ``pre`` is (k, M), or (M, k) with ``rows``; the result has the same layout.
    """
    pre, X_block = pre.astype(jnp.float64), X_block.astype(jnp.float64)
    if rows:
        mean, scale = conditional_parts(pre.T, ctx.F_hat, X_block, ctx.basis, ctx.moments)
        return mean.T, scale.T
    return conditional_parts(pre, ctx.F_hat, X_block, ctx.basis, ctx.moments)


def network_exact_error(i: int, w_hat: Array, moments: tuple, inputs: ExactInputs, order) -> Array:
    """The network's exact test error from its population moments (:mod:`~onestep_gm.numerics.exact`)."""
    return generalisation_error(w_hat, *moments)


def hermite_exact_error(i: int, w_hat: Array, moments: tuple, inputs: ExactInputs, order) -> Array:
    """The Hermite model's exact test error (:func:`~onestep_gm.numerics.exact.hermite_population_moments`)."""
    Omega, u, s_y = hermite_population_moments(
        inputs.F_hats[i], inputs.mixture, inputs.h[i], inputs.h_star[i : i + 1], inputs.b,
        orders=(order,), laws=inputs.laws[i],
    )  # fmt: skip
    return generalisation_error(w_hat, Omega[0], u[0], s_y)


@dataclass(frozen=True)
class FeatureModel:
    """One row of :data:`FEATURE_MODELS`.

    Parameters
    ----------
    name : str
        The key in configurations, the CLI's ``--model`` and saved results (``"nn"``).
    label : str
        Its name in figures and reports (``"NN"``).
    parts : callable
        ``(pre, X_block, ctx, rows) -> (mean, scale)`` on one block (:data:`Parts`).
    noise_stream : int or None
        Which of the trial's model keys draws the readout batch's noise; ``None``: no noise.
    exact_error : callable or None
        The exact test error (:data:`ExactError`), or ``None`` when it is sampled.
    needs_subspace : bool
        Whether ``parts`` needs the conditional subspace and moments in its context.
    needs_order : bool
        Whether it needs the Hermite order (and the coefficients :math:`h_j`).
    needs_moments : bool
        Whether it needs :math:`\\mathbb E\\sigma(a+sg)^2 < \\infty` (the equivalent models).
    """

    name: str
    label: str
    parts: Callable[..., Parts]
    noise_stream: int | None = None
    exact_error: ExactError | None = None
    needs_subspace: bool = False
    needs_order: bool = False
    needs_moments: bool = False

    @property
    def exact_test(self) -> bool:
        """Whether ``test="exact"`` computes this model's test error from population moments."""
        return self.exact_error is not None


@dataclass(frozen=True)
class Predictor:
    """One row of :data:`PREDICTORS`: a line predicted without fitting a readout.

    Parameters
    ----------
    name, label : str
        As :class:`FeatureModel`.
    needs_order, needs_moments : bool
        As :class:`FeatureModel`.
    point : callable or None
        ``(config, resolved, activation) -> (train_error, gen_error, train_mse)``: a sampling-free prediction,
        evaluated once per point (one value, no spread; runs no trial by itself).  ``None``: the
        prediction is conditional on each trial's trained layer (the theory line, evaluated on the
        first ``theory_trials`` trials).
    check : callable or None
        ``(config) -> None``, raising ``ValueError`` with one sentence when the predictor does not
        cover ``config`` (called by :func:`onestep_gm.numerics.config.validate`, before any work).
    note : str
        A note added to every result that asks for it.
    """

    name: str
    label: str
    needs_order: bool = False
    needs_moments: bool = True
    point: Callable[..., tuple[float, float, float]] | None = None
    check: Callable[..., None] | None = None
    note: str = ""


NETWORK = FeatureModel("nn", "NN", network_parts, exact_error=network_exact_error)
HERMITE = FeatureModel("hermite", "Hermite", hermite_model_parts, noise_stream=0,
                       exact_error=hermite_exact_error, needs_order=True, needs_moments=True)  # fmt: skip
CONDITIONAL = FeatureModel("conditional", "conditional", conditional_model_parts, noise_stream=2,
                           needs_subspace=True, needs_moments=True)  # fmt: skip
THEORY = Predictor("theory", "theory")
LIMIT = Predictor(
    "limit", "limit", point=limit_prediction, check=check_limit_config,
    note="limit: sampling-free, one deterministic value per point, std 0, no trials "
    "(docs/limit-theory.md): in the isotropic corner the n, k, m -> infinity limit at this point's ratios "
    "m/n, m_step/n, k/n, eta/k, lambda*m (a Gaussian readout through approximation A3), elsewhere the "
    "finite-size mixture theory (the law of one neuron's projections on the spikes, means, teacher and "
    "step noise; free deterministic equivalent of ridge)",
)  # fmt: skip

FEATURE_MODELS: dict[str, FeatureModel] = {mdl.name: mdl for mdl in (NETWORK, HERMITE, CONDITIONAL)}
"""The feature models, in the order of figures and tables."""
PREDICTORS: dict[str, Predictor] = {mdl.name: mdl for mdl in (THEORY, LIMIT)}
"""Lines predicted without a readout fit: the theory conditional on each trial's trained layer
(:func:`onestep_gm.predict`) and the sampling-free theory (:func:`onestep_gm.numerics.limit.limit_point`
in the isotropic corner, :func:`onestep_gm.numerics.limit_mixture.sampling_free_point` elsewhere)."""
MODELS: tuple[str, ...] = (*FEATURE_MODELS, *PREDICTORS)
"""Every name a configuration may ask for: ``("nn", "hermite", "conditional", "theory", "limit")``."""
EXACT_MODELS: tuple[str, ...] = tuple(name for name, mdl in FEATURE_MODELS.items() if mdl.exact_test)
"""Feature models whose test error ``test="exact"`` computes from population moments."""


def model_row(name: str) -> FeatureModel | Predictor:
    """The row of ``name`` in :data:`FEATURE_MODELS` or :data:`PREDICTORS`.

    Raises
    ------
    KeyError
        For a name in neither table.
    """
    return FEATURE_MODELS.get(name) or PREDICTORS[name]


def theory_only(models) -> bool:
    """Whether ``models`` holds predictors only (:data:`PREDICTORS`: ``theory``, ``limit``): a
    figure of the theory alone, with no network to compare against."""
    return bool(models) and all(name in PREDICTORS for name in models)


def model_label(name: str) -> str:
    """The label of a feature model or predictor in figures and reports (``"nn"`` -> ``"NN"``)."""
    return model_row(name).label


def check_models(models: tuple[str, ...]) -> None:
    """Refuse an empty or unknown list of models with one sentence.

    Raises
    ------
    ValueError
        ``unknown model(s) [...]; choose from nn, hermite, conditional, theory, limit``.
    """
    unknown = [mdl for mdl in models if mdl not in MODELS]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
