r"""Predictions for a trained layer, without simulating the readout.

Given a trained first layer :math:`\hat F`, :func:`predict` computes the exact population moments
(:mod:`onestep_gm.numerics.population`) and the deterministic equivalent of ridge
(:mod:`onestep_gm.numerics.ridge`) at one point; :func:`curve_along` along :math:`m`, :math:`k`
or :math:`\lambda`, sharing the moments and the eigendecomposition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.population import population_moments
from onestep_gm.numerics.precision import require_x64, scoped_x64
from onestep_gm.numerics.ridge import (
    CONVENTION,
    RidgeEquivalent,
    equivalent_from_spectrum,
    ridge_equivalent,
    spectrum,
)
from onestep_gm.numerics.validation import FieldTypeError, check_array, check_int, check_real

Array = jax.Array



class Prediction(NamedTuple):
    """Deterministic-equivalent errors of ridge at one point (floats).

    ``gen_error`` and ``train_error`` are in the paper's ½ convention (``convention``);
    the rest are the quantities of :func:`onestep_gm.ridge_equivalent`.
    """

    gen_error: float
    train_error: float
    test_mse: float
    train_mse: float
    kappa: float
    bias: float
    variance: float
    df1: float
    df2: float
    sigma_eps2: float
    w_norm2: float
    convention: str = CONVENTION

    @classmethod
    def of(cls, equivalent: RidgeEquivalent) -> Prediction:
        """The floats of one point's :class:`~onestep_gm.numerics.ridge.RidgeEquivalent`."""
        return cls(*(float(v) for v in equivalent))


def check_prediction_inputs(F_hat, mixture, lam, m) -> None:
    """The checks of :func:`predict` (shapes, finiteness, types; exceptions name the field)."""
    means = getattr(mixture, "means", None)
    if means is None:
        raise FieldTypeError("mixture", f"mixture must be a realised Mixture (got {type(mixture).__name__}); "
                             "see onestep_gm.trained_layer")  # fmt: skip
    n = np.shape(means)[-1]
    check_array("F_hat", F_hat, shape=(None, n))
    check_real("lam", lam, 0)
    check_int("m", m, 1)


@scoped_x64
def predict(F_hat: Array, mixture, activation, lam: float, m: int, *, rule: str = "auto") -> Prediction:
    r"""Predicted errors of the ridge readout on :math:`\sigma(\hat Fx)/\sqrt k` with ``m`` samples.

    Parameters
    ----------
    F_hat : array, shape ``(k, n)``
        The trained first layer.
    mixture : Mixture
        The data's Gaussian mixture.
    activation : str or Activation
        :math:`\sigma`.
    lam : float
        Ridge penalty :math:`\lambda \ge 0`.
    m : int
        Readout samples.
    rule : {"auto", "closed", "mehler"}
        How the bivariate expectations are computed (:func:`onestep_gm.population_moments`).

    Returns
    -------
    Prediction

    Runs in 64-bit JAX and leaves the process's setting as it was.

    Raises
    ------
    FieldTypeError
        (a ``TypeError``) for an ``F_hat`` that is not a real array (complex, strings), a
        ``mixture`` that is not a :class:`~onestep_gm.numerics.mixture.Mixture`, a non-integer ``m``.
    FieldValueError
        (a ``ValueError``) for an ``F_hat`` that is not ``(k, n)`` with the mixture's ``n``, is
        empty or has NaN/infinite entries, ``lam`` negative or infinite, ``m < 1``, an unknown rule.
    """
    require_x64("predict")
    check_prediction_inputs(F_hat, mixture, lam, m)
    Omega, u, s_y, _ = population_moments(F_hat, mixture, activation, rule=rule)
    return Prediction.of(ridge_equivalent(Omega, u, s_y, lam, m))


def curve_along(
    F_hat: Array,
    mixture,
    activation,
    *,
    vary: str,
    values: Sequence[float],
    lam: float,
    m: int,
    rule: str = "auto",
) -> dict[str, np.ndarray]:
    r"""The prediction for one :math:`\hat F` along ``values`` of ``vary`` ∈ {``"m"``, ``"lambda"``, ``"k"``}.

    ``m`` and ``lambda`` reuse one eigendecomposition of :math:`\Omega`.  ``k`` uses the first
    :math:`k'` rows of :math:`\hat F`: :math:`\Omega' = \frac{k}{k'}\Omega_{[:k',:k']}`,
    :math:`u' = \sqrt{k/k'}\,u_{[:k']}` (the moments are computed once; one decomposition per
    :math:`k'`).  Returns arrays keyed as :func:`onestep_gm.ridge_equivalent` plus ``"values"``.
    """
    values = np.asarray(values, np.float64)
    Omega, u, s_y, _ = population_moments(F_hat, mixture, activation, rule=rule)
    if vary == "m":
        out = equivalent_from_spectrum(spectrum(Omega, u, s_y), lam, values)
    elif vary == "lambda":
        out = equivalent_from_spectrum(spectrum(Omega, u, s_y), values, m)
    elif vary == "k":
        k = Omega.shape[0]
        if np.any(values < 1) or np.any(values > k) or np.any(values != np.round(values)):
            raise ValueError(f"k values must be integers in [1, {k}] (the rows of F_hat)")
        rows = []
        for kp in values.astype(int):
            sub = spectrum(Omega[:kp, :kp] * (k / kp), u[:kp] * math.sqrt(k / kp), s_y)
            rows.append(equivalent_from_spectrum(sub, lam, m))
        out = RidgeEquivalent(*(jnp.stack(column) for column in zip(*rows, strict=True)))
    else:
        raise ValueError(f"vary must be 'm', 'k' or 'lambda' (got {vary!r})")
    result = {key: np.asarray(v, np.float64) for key, v in out._asdict().items()}
    result["values"] = values
    return result
