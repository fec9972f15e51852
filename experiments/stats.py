r"""Gap statistics: how far an equivalent model's error is from the network's, over trials.

Every figure compares the network's errors :math:`E_{NN}` with a model's :math:`E_X` over the
same trials.  The gaps are

* the relative gap of the trial means, :math:`|\bar E_{NN} - \bar E_X|/\bar E_{NN}`
  (:func:`relative_gap`), with its standard error from the paired differences
  (:func:`relative_gap_se`);
* the signed per-trial gaps :math:`d_t = (E_{NN,t} - E_{X,t})/E_{NN,t}`
  (:func:`per_trial_gaps`), their mean ± s.e. (:func:`gap_stats`) and their root mean square
  with a delta-method s.e. (:func:`rms_stats`);
* the gap in standard errors of the difference of two means (:func:`gap_in_se`), which the
  agreement reports count;
* the slope of :math:`\log|g|` on :math:`\log n` (:func:`fit_slope`).

Arrays carry trials on their last axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

THRESHOLD = 2.0
"""A model agrees with the network at a point when :math:`|z| \\le 2` (:func:`agrees`)."""


class Slope(NamedTuple):
    """A weighted least-squares slope of :math:`\\log|g|` on :math:`\\log n`."""

    slope: float
    ci: float
    """Half width of the 95% interval."""
    points: int
    """Resolved points used in the fit."""


def relative_gap(nn: np.ndarray, other: np.ndarray) -> np.ndarray:
    r""":math:`|\bar E_{NN} - \bar E_X| / |\bar E_{NN}|` of the trial means (last axis).

    Examples
    --------
    >>> float(relative_gap(np.array([1.0, 1.0]), np.array([0.75, 0.75])))
    0.25
    """
    mean_nn = np.mean(nn, axis=-1)
    return np.abs(mean_nn - np.mean(other, axis=-1)) / np.abs(mean_nn)


def relative_gap_se(nn: np.ndarray, other: np.ndarray) -> np.ndarray:
    r"""Standard error of :func:`relative_gap`: the paired difference's
    :math:`\mathrm{sd}/\sqrt T` over :math:`\bar E_{NN}` (NaN for one trial)."""
    diff = nn - other
    T = diff.shape[-1]
    sd = np.std(diff, axis=-1, ddof=1) if T > 1 else np.full(diff.shape[:-1], np.nan)
    return sd / math.sqrt(T) / np.mean(nn, axis=-1)


def per_trial_gaps(nn: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The finite per-trial gaps :math:`(E_{NN} - E_X)/E_{NN}` over the trials both ran."""
    t = min(len(nn), len(other))
    d = (nn[:t] - other[:t]) / nn[:t]
    return d[np.isfinite(d)]


def gap_stats(nn: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Mean and standard error over trials of :math:`(E_{NN} - E_X)/E_{NN}`.

    Examples
    --------
    >>> gap_stats(np.array([1.0, 2.0]), np.array([0.75, 1.5]))
    (0.25, 0.0)
    """
    d = per_trial_gaps(nn, other)
    if d.size == 0:
        return float("nan"), float("nan")
    se = float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    return float(np.mean(d)), se


def rms_stats(nn: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    r"""Root mean square over trials of the per-trial gap :math:`d_t`, and its standard error.

    The theorem states :math:`E_{NN} - E_X \to 0` for each realisation (in probability), so
    the typical size of one trial's gap, :math:`\sqrt{\overline{d^2}}`, is what must shrink
    with :math:`n`; unlike the mean gap it stays resolved when the gap's sign varies between
    trials.  Standard error by the delta method,
    :math:`\mathrm{SE}(\overline{d^2}) / (2\sqrt{\overline{d^2}})`.
    """
    d2 = per_trial_gaps(nn, other) ** 2
    if d2.size < 2:
        return float("nan"), float("nan")
    rms = float(np.sqrt(np.mean(d2)))
    return rms, float(np.std(d2, ddof=1) / np.sqrt(d2.size) / (2 * rms)) if rms > 0 else float("nan")


def fit_slope(ns: Sequence[float], gaps: Sequence[float], ses: Sequence[float]) -> Slope:
    r"""Weighted least squares of :math:`\log|g|` on :math:`\log n` over the resolved points.

    A point counts when :math:`|g| > 2\,\mathrm{SE}`; its weight is :math:`(|g|/\mathrm{SE})^2`
    (the delta-method variance of :math:`\log|g|`).  The 95% interval is
    :math:`\pm 1.96` times the slope's standard error with the standard errors taken as known.

    Returns
    -------
    Slope
        ``slope``, ``ci`` (half width), ``points`` used; ``slope`` is NaN with fewer than 2.
    """
    ns, g, se = (np.asarray(v, float) for v in (ns, gaps, ses))
    ok = np.isfinite(g) & np.isfinite(se) & (np.abs(g) > 2 * se) & (se > 0)
    if ok.sum() < 2:
        return Slope(float("nan"), float("nan"), int(ok.sum()))
    x, y, w = np.log(ns[ok]), np.log(np.abs(g[ok])), (np.abs(g[ok]) / se[ok]) ** 2
    A = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    coef = cov @ (A.T @ (w * y))
    return Slope(float(coef[1]), float(1.96 * math.sqrt(cov[1, 1])), int(ok.sum()))


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (``ddof = 1``; 0 for one value) and count."""
    arr = np.asarray(values, dtype=float)
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else 0.0
    return float(np.mean(arr)), std, int(arr.size)


def gap_in_se(mean_a: float, std_a: float, mean_b: float, std_b: float, trials: int,
              trials_b: int | None = None) -> float:  # fmt: skip
    r""":math:`(\bar a - \bar b)/\sqrt{s_a^2/T_a + s_b^2/T_b}`; ±inf if the means differ with no spread.

    ``trials`` is :math:`T_a`, ``trials_b`` :math:`T_b` (default :math:`T_a`): the theory line
    runs on fewer trials than the network, and its standard error is over its own trials.
    Two deterministic values that are equal give 0.

    Examples
    --------
    >>> gap_in_se(1.0, 0.0, 1.0, 0.0, 3)
    0.0
    """
    trials_b = trials if trials_b is None else trials_b
    se = math.sqrt(std_a**2 / trials + std_b**2 / trials_b)
    diff = mean_a - mean_b
    if se == 0.0:
        return 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    return diff / se


def agrees(z: float, threshold: float = THRESHOLD) -> bool:
    """Whether a gap of ``z`` standard errors is within ``threshold``."""
    return abs(z) <= threshold
