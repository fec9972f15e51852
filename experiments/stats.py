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
* the slope of :math:`\log|g|` on :math:`\log n` (:func:`fit_slope`);
* the regression (control-variate) estimate of a mean from few draws (:func:`control_variate_mean`).

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


def control_variate_mean(values: Sequence[float], control: Sequence[float], control_mean: float,
                         control_mean_se: float = 0.0) -> tuple[float, float]:  # fmt: skip
    r"""The regression estimate of :math:`\mathbb E y` from :math:`T` draws :math:`y_t` that come
    with a control :math:`g_t` of known mean :math:`\mu_g`, and its standard error.

    .. math::

        \hat{\mathbb E} y = \bar y - b\,(\bar g - \mu_g),\qquad
        b = \frac{\sum_t (g_t-\bar g)(y_t-\bar y)}{\sum_t (g_t-\bar g)^2},\qquad
        \mathrm{s.e.}^2 = s^2\Big(\frac1T + \frac{(\bar g-\mu_g)^2}{\sum_t (g_t-\bar g)^2}\Big)
        + b^2\,\mathrm{s.e.}(\mu_g)^2,

    :math:`s^2` the residual variance with :math:`T-2` degrees of freedom: the least-squares
    line of :math:`y` on :math:`g` read at :math:`g=\mu_g` (Glasserman, *Monte Carlo Methods
    in Financial Engineering*, 2003, Sec. 4.1).  When :math:`g` explains a fraction
    :math:`R^2` of the variance of :math:`y`, the standard error is that of the plain mean times
    about :math:`\sqrt{1-R^2}`.  The bias is :math:`O(1/T)` (``b`` is fitted on the same
    draws).

    Parameters
    ----------
    values : sequence of float, length T >= 3
        The draws :math:`y_t` (finite).
    control : sequence of float, length T
        The control :math:`g_t` of each draw; not all equal.
    control_mean : float
        :math:`\mu_g = \mathbb E g`.
    control_mean_se : float
        Standard error of ``control_mean`` when it is itself estimated (0 when exact).

    Returns
    -------
    (mean, se) : tuple of float

    Raises
    ------
    ValueError
        For fewer than 3 draws, lengths that differ, or a constant control.

    Examples
    --------
    >>> control_variate_mean([1.0, 3.0, 2.0], [0.0, 2.0, 1.0], 1.0)
    (2.0, 0.0)
    """
    y, g = np.asarray(values, float), np.asarray(control, float)
    if y.shape != g.shape or y.ndim != 1 or y.size < 3:
        raise ValueError(f"control_variate_mean needs T >= 3 draws and as many controls (got {y.size}, {g.size})")
    dg = g - g.mean()
    sxx = float(dg @ dg)
    if not sxx > 0:
        raise ValueError("control_variate_mean: the control is the same on every draw")
    b = float(dg @ (y - y.mean())) / sxx
    mean = float(y.mean() - b * (g.mean() - control_mean))
    residual = y - y.mean() - b * dg
    s2 = float(residual @ residual) / (y.size - 2)
    var = s2 * (1.0 / y.size + (g.mean() - control_mean) ** 2 / sxx) + b * b * control_mean_se**2
    return mean, math.sqrt(var)


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
