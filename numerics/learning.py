r"""Learning curves from the theory, for the trained layers a simulation would use.

:func:`learning_curve` predicts the errors along :math:`m`, :math:`k` or :math:`\lambda` for the
trained layers of a :class:`~onestep_gm.SimulationConfig`'s first trials: the same :math:`\hat F`
that :func:`onestep_gm.simulate` trains with that seed (:func:`onestep_gm.trained_layer`), then
:func:`onestep_gm.numerics.prediction.curve_along` per layer.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from onestep_gm.numerics.precision import scoped_x64
from onestep_gm.numerics.prediction import curve_along
from onestep_gm.numerics.ridge import CONVENTION
from onestep_gm.numerics.simulation import trained_layer
from onestep_gm.numerics.validation import (
    MAX_TRIALS,
    FieldTypeError,
    check_array,
    check_int,
    require,
)

VARIES = ("m", "k", "lambda")
RANGES = {"m": (0.2, 10.0), "k": (0.1, 2.0), "lambda": (1e-6, 10.0)}
"""Default ranges of :func:`curve_grid`: m/k, k/m and λ."""


def curve_grid(vary: str, points: int, k: int, m: int) -> np.ndarray:
    """Log-spaced values of ``vary`` over :data:`RANGES` (integers for m and k, no duplicates).

    Raises
    ------
    ValueError
        For an unknown ``vary`` or ``points < 1``.
    """
    if vary not in RANGES:
        raise ValueError(f"vary must be 'm', 'k' or 'lambda' (got {vary!r})")
    if points < 1:
        raise ValueError(f"points must be >= 1 (got {points})")
    lo, hi = RANGES[vary]
    ratios = np.geomspace(lo, hi, points)
    if vary == "lambda":
        return ratios
    base = k if vary == "m" else m
    return np.unique(np.maximum(1, np.round(ratios * base))).astype(float)


def _check_curve_memory(config, vary: str, points: int) -> None:
    """Refuse a curve whose layer, moments or grid cannot fit (before the grid is built)."""
    from onestep_gm.numerics.memory import check_memory, curve_bytes  # plain module, no JAX

    if vary == "k":  # the layer is 2m wide (the top of the k/m range)

        def estimate(*, n, m, points, test_factor):
            return curve_bytes(n=n, k=max(1, round(RANGES["k"][1] * m)), m=m, points=points,
                               test_factor=test_factor)  # fmt: skip

        sizes = {"n": config.data.n, "m": config.m, "points": points, "test_factor": config.test_factor}
    else:
        estimate = curve_bytes
        sizes = {"n": config.data.n, "k": config.k, "m": config.m, "points": points,
                 "test_factor": config.test_factor}  # fmt: skip
    check_memory(estimate, sizes, what="the curve")


class LearningCurve(NamedTuple):
    """A theory curve averaged over trained layers.

    ``values`` (P,) of ``vary``; ``mean`` and ``std`` map each quantity of
    :class:`Prediction` (``gen_error``, ``train_error``, ``kappa``, ...) to (P,) arrays over the
    ``trials`` layers; ``per_trial`` to (trials, P).
    """

    vary: str
    values: np.ndarray
    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    per_trial: dict[str, np.ndarray]
    activation: str
    config: object
    trials: int
    seconds: float
    convention: str = CONVENTION


@scoped_x64
def learning_curve(
    config,
    *,
    vary: str = "m",
    values: Sequence[float] | None = None,
    points: int = 100,
    trials: int = 3,
    activation: str | None = None,
    rule: str = "auto",
) -> LearningCurve:
    r"""The deterministic-equivalent curve of ``config``'s readout along ``vary``.

    For each of the first ``trials`` trials of ``config`` (its seed), the trained layer
    :math:`\hat F` is the one :func:`onestep_gm.simulate` trains (:func:`onestep_gm.trained_layer`);
    the curve then costs one eigendecomposition of :math:`\Omega` (``m``, ``lambda``) or one per
    value (``k``, which uses the first :math:`k'` rows of a layer with ``k = max(values)``).
    Runs in 64-bit JAX and leaves the process's setting as it was.

    Parameters
    ----------
    config : SimulationConfig
        Data, sizes, λ and seed (mixture data only).
    vary : {"m", "k", "lambda"}
        The quantity along the curve: the readout samples ``m``, the width ``k`` or the ridge
        penalty :math:`\lambda`.
    values : sequence of float, optional
        The grid; default :func:`curve_grid` with ``points`` values.
    points : int
        Number of grid values when ``values`` is not given.
    trials : int
        Trained layers (the first ``trials`` trials of ``config``) whose curves are averaged;
        at least 1.
    activation : str, optional
        Default the first of ``config.activations``.
    rule : {"auto", "closed", "mehler"}
        How the population moments are computed (see :func:`population_moments`).

    Returns
    -------
    LearningCurve

    Raises
    ------
    ValueError
        For an unknown ``vary``, Fashion-MNIST data, bad values or an unusable config; a
        :class:`~onestep_gm.numerics.memory.MemoryLimitError` when the layer, its moments or
        the grid cannot fit in the available memory (checked before any work).
    """
    if vary not in VARIES:
        raise ValueError(f"vary must be 'm', 'k' or 'lambda' (got {vary!r})")
    if not callable(getattr(getattr(config, "data", None), "realise", None)):
        raise FieldTypeError("config", f"config must be a SimulationConfig (got {type(config).__name__})")
    check_int("points", points, 1)  # its size is bounded by the memory estimate below
    check_int("trials", trials, 1, MAX_TRIALS)
    if values is not None:
        values = check_array("values", values, ndim=1)
        require(bool(np.all(values >= 0)) if vary == "lambda" else bool(np.all(values > 0)),
                f"values of {vary} must be {'>= 0' if vary == 'lambda' else '> 0'}", "values")  # fmt: skip
    if not config.data.has_population_law:
        raise ValueError("learning curves take Gaussian-mixture data (MixtureSpec), "
                         f"not {config.data.title} (no population law)")
    if trials < 1:
        raise ValueError(f"trials must be >= 1 (got {trials})")
    _check_curve_memory(config, vary, points if values is None else len(values))
    grid = curve_grid(vary, points, config.k, config.m) if values is None else np.asarray(values, float)
    act = activation or config.activations[0]
    if vary == "k":
        config = dataclasses.replace(config, k=int(grid.max()))
    start = time.perf_counter()
    curves = []
    for t in range(trials):
        F_hat, mixture = trained_layer(config, act, trial=t)
        curves.append(curve_along(F_hat, mixture, act, vary=vary, values=grid, lam=config.lam,
                                  m=config.m, rule=rule))  # fmt: skip
    stacked = {key: np.stack([c[key] for c in curves]) for key in curves[0] if key != "values"}
    with np.errstate(invalid="ignore"):  # std of an infinite point (λ = 0 at the threshold) is NaN
        std = {k: v.std(axis=0) for k, v in stacked.items()}
    return LearningCurve(
        vary=vary, values=grid, mean={k: v.mean(axis=0) for k, v in stacked.items()},
        std=std, per_trial=stacked, activation=act,
        config=config, trials=trials, seconds=time.perf_counter() - start,
    )  # fmt: skip
