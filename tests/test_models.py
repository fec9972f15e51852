"""The feature-model table: one row per model, read by the trial, validation and the figures."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from onestep_gm.numerics import models
from onestep_gm.numerics.models import (
    EXACT_MODELS,
    FEATURE_MODELS,
    MODELS,
    PREDICTORS,
    ModelContext,
)


def test_the_table_names_every_model_once_with_its_properties():
    assert MODELS == ("nn", "hermite", "conditional", "theory", "limit")
    assert tuple(PREDICTORS) == ("theory", "limit")
    assert EXACT_MODELS == ("nn", "hermite")
    assert {name: row.noise_stream for name, row in FEATURE_MODELS.items()} == {
        "nn": None, "hermite": 0, "conditional": 2}
    assert [models.model_label(name) for name in MODELS] == ["NN", "Hermite", "conditional", "theory", "limit"]
    assert [name for name, row in FEATURE_MODELS.items() if row.needs_order] == ["hermite"]


def test_unknown_or_no_models_are_refused_with_one_sentence():
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['ntk'\]; choose from nn, hermite"):
        models.check_models(("nn", "ntk"))
    with pytest.raises(ValueError, match="unknown model"):
        models.check_models(())


def test_network_and_hermite_parts_build_their_features():
    pre = jnp.linspace(-2.0, 2.0, 12).reshape(3, 4)
    ctx = ModelContext(sigma=jnp.tanh, h=jnp.asarray([0.1, 0.5, 0.2]), h_star=jnp.asarray(0.3),
                       b=jnp.asarray(1.0), keys=None, F_hat=None, basis=None, moments=None)  # fmt: skip
    mean, scale = FEATURE_MODELS["nn"].parts(pre, None, ctx, False)
    assert scale is None and np.allclose(mean, np.tanh(np.asarray(pre)))
    mean, scale = FEATURE_MODELS["hermite"].parts(pre, None, ctx, False)
    u = np.asarray(pre)  # b = 1: p(u) = h0 + h1 u + h2 (u^2 - 1) / 2
    assert np.allclose(mean, 0.1 + 0.5 * u + 0.2 * (u**2 - 1) / 2) and float(scale) == pytest.approx(0.3)
