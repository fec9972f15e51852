r"""The exact test errors of one trial (``test="exact"``): :mod:`onestep_gm.numerics.exact` applied
to every feature model of the table that has population moments.

:math:`E = \tfrac12(s_y - 2\hat w^\top u + \hat w^\top\Omega\hat w)` with the network's moments from
:func:`onestep_gm.numerics.population.planned_moments` and each model's own
(:attr:`onestep_gm.numerics.models.FeatureModel.exact_error`).  The rules are chosen on the
host from one transfer of the laws' summaries (:class:`ExactPlan`, static); the moments and
errors of every activation then run as one compiled program (:data:`exact_errors_program`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.models import FEATURE_MODELS, ExactInputs
from onestep_gm.numerics.population import component_laws, moment_plans, planned_moments, summarise
from onestep_gm.numerics.trial import TrialErrors, TrialShape, mixture_of
from onestep_gm.theory.activations import get_activation

Array = jax.Array
Moments = tuple[Array, Array, Array]
"""The network's population moments ``(Omega (k, k), u (k,), s_y ())`` of one activation."""


class ExactPlan(NamedTuple):
    """The static part of the exact errors (hashable: one compilation per plan).

    ``activations`` the :class:`~onestep_gm.Activation` objects (A); ``plans`` per activation
    the rules of :func:`~onestep_gm.numerics.population.moment_plans`; ``models`` the trial's
    feature models; ``order`` the Hermite order (or ``None``).
    """

    activations: tuple
    plans: tuple
    classification: bool
    models: tuple[str, ...]
    order: int | None


def exact_errors(plan: ExactPlan, inputs: ExactInputs) -> tuple[Array, list[Moments]]:
    """Per activation the network's moments and the exact errors of the models whose table row
    has an ``exact_error`` (NaN for the others).

    Returns
    -------
    errors : jax.Array, shape (A, models)
    moments : list of (Omega, u, s_y), one per activation
    """
    rows, moments = [], []
    for i, act in enumerate(plan.activations):
        network = planned_moments(act, plan.plans[i], plan.classification, inputs.mixture, inputs.laws[i])
        moments.append(network)
        row = []
        for j, name in enumerate(plan.models):
            exact_error = FEATURE_MODELS[name].exact_error
            row.append(jnp.asarray(jnp.nan) if exact_error is None else
                       exact_error(i, inputs.w_hats[i, j], network, inputs, plan.order))  # fmt: skip
        rows.append(jnp.stack(row))
    return jnp.stack(rows), moments


exact_errors_program = jax.jit(exact_errors, static_argnums=0)
""":func:`exact_errors`, jitted with the plan static."""


def exact_test_errors(out: TrialErrors, setup, shape: TrialShape) -> tuple[TrialErrors, list[Moments]]:
    r"""Fill in the exact generalisation errors of the models with population moments.

    Parameters
    ----------
    out : TrialErrors
        The trial's errors with ``F_hat`` (A, k, n) and ``w_hat`` (A, models, k).
    setup : TrialSetup
        The trial's realised data (its ``surrogate`` mixture) and traced parameters ``params``
        (:func:`onestep_gm.numerics.simulation.setup_trial`).
    shape : TrialShape
        The trial's shape (its activations, models and order).

    Returns
    -------
    TrialErrors
        ``out`` with ``gen`` filled in for the models with an exact test error.
    list of (Omega, u, s_y)
        The network's moments per activation (shared with the theory prediction).
    """
    mixture, params = mixture_of(setup.data), setup.params
    classification = bool(mixture.classification)
    activations = tuple(get_activation(a) for a in shape.activations)
    laws = [component_laws(F_hat, mixture) for F_hat in out.F_hat]
    components = len(laws[0])
    summaries = summarise([law for per_activation in laws for law in per_activation])
    plans = tuple(
        moment_plans(act, summaries[i * components : (i + 1) * components], classification, teacher=mixture.teacher)
        for i, act in enumerate(activations)
    )  # fmt: skip
    plan = ExactPlan(activations, plans, classification, shape.models, shape.order)
    inputs = ExactInputs(mixture, laws, out.F_hat, out.w_hat, params.h, params.h_star, params.b)
    exact, moments = exact_errors_program(plan, inputs)
    gen, exact = np.array(out.gen), np.asarray(exact)
    for j, name in enumerate(shape.models):
        if FEATURE_MODELS[name].exact_test:
            gen[:, j] = exact[:, j]
    return out._replace(gen=gen), moments
