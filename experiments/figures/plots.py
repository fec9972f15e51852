r"""Figures as pictures, in one style for every figure (the published panels' style).

:func:`draw` takes the JSON-able figure data of :func:`onestep_gm.experiments.figures.grid.figure_data`
(so a saved ``<name>.json`` is redrawn without simulating, :func:`onestep_gm.experiments.figures.outputs.redraw`)
and returns a matplotlib figure, saved at :data:`DPI` (every picture at least 1000 px wide).

Line figures follow the published Figures 1-3 (Demir & Dogan, ICLR 2025): one colour and one
line style per activation, the paper's (:data:`ACTIVATION_COLOURS`, :data:`ACTIVATION_LINESTYLES`);
the **network as markers** (filled circles) with error bars of ± one standard error of the
mean over trials; the **equivalent models as lines**: the Hermite model in the activation's
line style, the conditional Gaussian model thinner with open squares, the deterministic-equivalent
``theory`` as a thin line inside a shaded band of ± one standard error over its own draws.  The
legend sits outside the axes, to the right: one block for the models, one for the activations.
For the paper's Figures 1-3 the axes span the published panel's ranges
(:func:`onestep_gm.experiments.figures.paper.axis_ranges`), widened only where our data leave them.

Heatmaps (Fig 4): the network's error (beside the theory's on the same grid and colour scale
when present), or the relative gap :math:`|E_{NN} - E_{Herm}|/E_{NN}` on a logarithmic colour scale.
Trials recorded as NaN (a diverged solve) are left out of the mean and the standard error.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from onestep_gm.experiments.figures.control import controlled_estimate
from onestep_gm.experiments.figures.paper import axis_ranges
from onestep_gm.experiments.results import decode_pairs
from onestep_gm.experiments.stats import relative_gap

with warnings.catch_warnings():  # scienceplots 2.1 calls helpers deprecated in matplotlib 3.11
    warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
    import scienceplots  # noqa: F401  (registers the "science" styles)

STYLE = ["science", "no-latex"]
DPI = 220
"""Resolution of the png: a line figure (5.0 in of axes plus the legend) is about 1500 px wide."""
LINE_SIZE = (5.0, 3.4)
"""Inches of a line figure's axes area (the legend outside adds its width)."""
FONT = {"font.size": 12, "axes.titlesize": 12, "axes.labelsize": 13, "legend.fontsize": 11,
        "legend.title_fontsize": 11, "xtick.labelsize": 11, "ytick.labelsize": 11}  # fmt: skip
"""Type sizes: the docs draw a figure at about half its pixels, where these read like body text."""
ACTIVATION_COLOURS = {"relu": "#0072B2", "tanh": "#E69F00", "sigmoid": "#CC79A7"}
"""The published panels' colours (Okabe-Ito blue, orange, pink)."""
ACTIVATION_LINESTYLES = {"relu": "-", "tanh": "--", "sigmoid": ":"}
"""The published panels' line styles of the Hermite model per activation."""
_EXTRA_COLOURS = ["#009E73", "#D55E00", "#56B4E9", "#000000", "#F0E442"]
_EXTRA_LINESTYLES = ["-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2))]
MODEL_LABELS = {
    "nn": "network (mean ± s.e.)",
    "hermite": "Hermite model",
    "conditional": "conditional Gaussian",
    "theory": "theory (± s.e. band)",
    "limit": "sampling-free theory",
}
"""Legend text per model (artists are labelled ``"<activation> <short name>"``, :data:`SHORT`)."""
SHORT = {"nn": "NN", "hermite": "Hermite", "conditional": "conditional", "theory": "theory", "limit": "limit"}
MODEL_ORDER = ("nn", "hermite", "conditional", "theory", "limit")
GAP_FLOOR = 1e-6


def colour(activation: str, order: list[str]) -> str:
    """The paper's colour for its activations; the rest in order of appearance."""
    if activation in ACTIVATION_COLOURS:
        return ACTIVATION_COLOURS[activation]
    others = [a for a in order if a not in ACTIVATION_COLOURS]
    return _EXTRA_COLOURS[others.index(activation) % len(_EXTRA_COLOURS)]


def linestyle(activation: str, order: list[str]):
    """The paper's line style for its activations; the rest in order of appearance."""
    if activation in ACTIVATION_LINESTYLES:
        return ACTIVATION_LINESTYLES[activation]
    others = [a for a in order if a not in ACTIVATION_LINESTYLES]
    return _EXTRA_LINESTYLES[others.index(activation) % len(_EXTRA_LINESTYLES)]


def new_figure(**kw: Any) -> Figure:
    """A matplotlib figure outside pyplot: no backend is chosen or changed, no window opens, and
    ``savefig`` renders with Agg (png) or the pdf backend."""
    return Figure(**kw)


def series(data: Mapping[str, Any], metric: str = "gen") -> dict:
    """Per :class:`~onestep_gm.numerics.simulation.Pair` an array (points × trials) of the chosen
    error (NaN where a trial diverged, and past a point's last trial where points have different
    counts, as a theory line with more draws at some points)."""
    key = "train" if metric == "train" else "gen"
    out: dict = {}
    for point in data["points"]:
        for pair, values in decode_pairs(point[key]).items():
            out.setdefault(pair, []).append(np.asarray([np.nan if v is None else v for v in values], dtype=float))
    stacked = {}
    for pair, rows in out.items():
        width = max(row.size for row in rows)
        stacked[pair] = np.stack([np.pad(row, (0, width - row.size), constant_values=np.nan) for row in rows])
    return stacked


def line_estimates(data: Mapping[str, Any], act: str, model: str, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point the line's value and s.e.: :func:`mean_se`, or the control-variate estimate where
    the point carries a control for ``model``
    (:func:`~onestep_gm.experiments.figures.control.controlled_estimate`)."""
    mean, se = mean_se(arr)
    for i, point in enumerate(data["points"]):
        estimate = controlled_estimate(point, act, model, data["metric"])
        if estimate is not None:
            mean[i], se[i] = estimate[0], estimate[1]
    return mean, se


def mean_se(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row the mean and the standard error of the mean (sample std, ``ddof = 1``, over
    :math:`\\sqrt T`) of the finite trials; NaN where none is finite, 0 for a single one."""
    finite = np.isfinite(arr)
    count = finite.sum(axis=1)
    safe = np.where(finite, arr, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, safe.sum(axis=1) / np.maximum(count, 1), np.nan)
        dev = np.where(finite, arr - mean[:, None], 0.0)
        var = (dev**2).sum(axis=1) / np.maximum(count - 1, 1)
        se = np.where(
            count > 1, np.sqrt(var / np.maximum(count, 1)), np.where(count == 1, 0.0, np.nan)
        )
    return mean, se


def _xs(data: Mapping[str, Any], variable: str) -> np.ndarray:
    return np.asarray([p["coords"][variable] for p in data["points"]], dtype=float)


def _ordered(values: Mapping) -> list:
    rank = {m: i for i, m in enumerate(MODEL_ORDER)}
    return sorted(values, key=lambda pair: rank.get(pair[1], len(rank)))


def _draw_lines(ax, data: Mapping[str, Any]) -> None:
    x = _xs(data, data["vary"])
    values = series(data, data["metric"])
    activations = list(dict.fromkeys(a for a, _ in values))
    for act, model in _ordered(values):
        c, ls = colour(act, activations), linestyle(act, activations)
        mean, se = line_estimates(data, act, model, values[(act, model)])
        label = f"{act} {SHORT.get(model, model)}"
        if model == "nn":
            ax.errorbar(x, mean, yerr=se, color=c, ls="none", marker="o", ms=6, mew=0,
                        elinewidth=1.2, capsize=3, capthick=1.2, label=label, zorder=4)  # fmt: skip
        elif model == "theory":
            ax.fill_between(x, mean - se, mean + se, color=c, alpha=0.18, lw=0, zorder=1)
            ax.plot(x, mean, color=c, lw=0.9, ls="-", alpha=0.9, label=label, zorder=2)
        elif model == "conditional":
            ax.plot(x, mean, color=c, lw=1.0, ls=ls, marker="s", ms=3.5, mfc="white", mew=0.9,
                    label=label, zorder=3)  # fmt: skip
        else:
            ax.plot(x, mean, color=c, lw=2.0, ls=ls, label=label, zorder=3)
    ax.set_xlabel(data["xlabel"])
    ax.set_ylabel(data["ylabel"])
    ax.set_yscale(data.get("yscale", "linear"))
    ranges = axis_ranges(data)
    if ranges is not None:
        ax.set_xlim(*ranges.x)
        ax.set_ylim(*ranges.y)
    models = [m for m in MODEL_ORDER if any(model == m for _, model in values)]
    models += sorted({m for _, m in values} - set(models))
    _legend(ax, models, activations)


def _model_handle(model: str):
    grey = "#333333"
    if model == "nn":
        return Line2D([], [], color=grey, ls="none", marker="o", ms=6, mew=0)
    if model == "theory":
        return (Patch(color=grey, alpha=0.18, lw=0), Line2D([], [], color=grey, lw=0.9))
    if model == "conditional":
        return Line2D([], [], color=grey, lw=1.0, marker="s", ms=3.5, mfc="white", mew=0.9)
    return Line2D([], [], color=grey, lw=2.0)


def _legend(ax, models: list[str], activations: list[str]) -> None:
    """Two legends outside the axes, right of them: the models (in grey), then the activations
    (colour and line style)."""
    handles = [_model_handle(m) for m in models]
    first = ax.legend(handles, [MODEL_LABELS.get(m, m) for m in models], loc="upper left",
                      bbox_to_anchor=(1.02, 1.0), frameon=False, handlelength=2.6,
                      borderaxespad=0.0)  # fmt: skip
    ax.add_artist(first)
    first.set_clip_on(False)  # an added artist is clipped to the axes: this one sits outside
    acts = [Line2D([], [], color=colour(a, activations), ls=linestyle(a, activations), lw=2.0,
                   marker="o", ms=6, mew=0) for a in activations]  # fmt: skip
    ax.legend(acts, activations, loc="lower left", bbox_to_anchor=(1.02, 0.0), frameon=False,
              handlelength=2.6, borderaxespad=0.0, title="activation")  # fmt: skip


def heatmap_values(
    data: Mapping[str, Any], model: str = "nn"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(x grid, y grid, values rows×cols, activation) of a heatmap figure (first activation):
    the mean error of ``model``, or for the ``gap`` metric the relative gap NN vs. Hermite."""
    xv, yv = data["vary"], data["vary_y"]
    xs = sorted({p["coords"][xv] for p in data["points"]})
    ys = sorted({p["coords"][yv] for p in data["points"]})
    values = series(data, "gen")
    act = next(a for a, _ in values)
    nn = values[(act, "nn")]
    if data["metric"] == "gap":
        per_point = np.maximum(relative_gap(nn, values[(act, "hermite")]), GAP_FLOOR)
    else:
        per_point = values[(act, model)].mean(axis=1)
    grid = np.full((len(ys), len(xs)), np.nan)
    for point, value in zip(data["points"], per_point, strict=True):
        grid[ys.index(point["coords"][yv]), xs.index(point["coords"][xv])] = value
    return np.asarray(xs), np.asarray(ys), grid, act


def _edges(centres: np.ndarray) -> np.ndarray:
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def has_theory_heatmap(data: Mapping[str, Any]) -> bool:
    """An error heat map (not a gap) whose points carry the theory: drawn as a second panel."""
    return (
        data["kind"] == "heatmap"
        and data["metric"] != "gap"
        and any(pair.model == "theory" for p in data["points"] for pair in decode_pairs(p["gen"]))
    )


def _draw_error_heatmaps(fig: Figure, axes, data: Mapping[str, Any]) -> None:
    """The network's error and the theory's side by side, on one colour scale and grid."""
    xs, ys, nn, act = heatmap_values(data, "nn")
    _, _, theory, _ = heatmap_values(data, "theory")
    lo, hi = np.nanmin([nn, theory]), np.nanmax([nn, theory])
    for ax, grid, name in zip(axes, (nn, theory), ("NN (simulated)", "theory"), strict=True):
        mesh = ax.pcolormesh(_edges(xs), _edges(ys), grid, vmin=lo, vmax=hi, cmap="viridis",
                             shading="flat")  # fmt: skip
        ax.set_title(name)
        ax.set_xlabel(data["xlabel"])
    axes[0].set_ylabel(data["ylabel"])
    fig.colorbar(mesh, ax=list(axes), label=f"{act} generalization error")


def _draw_heatmap(fig: Figure, ax, data: Mapping[str, Any]) -> None:
    xs, ys, grid, act = heatmap_values(data)
    gap = data["metric"] == "gap"
    norm = (
        LogNorm(vmin=np.nanmin(grid), vmax=max(np.nanmax(grid), np.nanmin(grid) * 10))
        if gap
        else None
    )
    mesh = ax.pcolormesh(_edges(xs), _edges(ys), grid, norm=norm, cmap="viridis", shading="flat")
    label = "relative gap NN vs. linear" if gap else f"{act} NN generalization error"
    fig.colorbar(mesh, ax=ax, label=label)
    ax.set_xlabel(data["xlabel"])
    ax.set_ylabel(data["ylabel"])


def draw(data: Mapping[str, Any]) -> Figure:
    """The picture of one figure's data (see :func:`onestep_gm.experiments.figures.grid.figure_data`)."""
    title = data["title"] + (" [quick]" if data.get("quick") else "")
    with matplotlib.style.context(STYLE), matplotlib.rc_context(FONT):
        if has_theory_heatmap(data):
            fig = new_figure(figsize=(7.6, 3.4), layout="constrained")
            axes = fig.subplots(1, 2, sharey=True)
            _draw_error_heatmaps(fig, axes, data)
            fig.suptitle(title)
            return fig
        if data["kind"] == "heatmap":
            fig = new_figure(figsize=(5.2, 4.0), layout="constrained")
            ax = fig.subplots()
            _draw_heatmap(fig, ax, data)
        else:
            fig = new_figure(figsize=LINE_SIZE)
            ax = fig.subplots()
            _draw_lines(ax, data)
            fig.subplots_adjust(left=0.15, right=0.97, bottom=0.16, top=0.9)
        ax.set_title(title)
    return fig


def save(fig: Figure, path: str | Path, fmt: str) -> None:
    """Save ``fig`` as ``fmt`` ("png" at :data:`DPI`, or "pdf") to ``path`` (any file name)."""
    with matplotlib.style.context(STYLE), matplotlib.rc_context(FONT):
        fig.savefig(path, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.05)


def save_pictures(fig: Figure, paths: dict[str, str | Path]) -> None:
    """Save ``fig`` once per ``{fmt: path}`` (see :func:`save`).  The figure is not registered
    with pyplot, so nothing is left open once it is dropped."""
    for fmt, path in paths.items():
        save(fig, path, fmt=fmt)
