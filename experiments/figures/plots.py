r"""Figures as pictures: mean ± std over trials per activation and model (scienceplots style).

:func:`draw` takes the JSON-able figure data of :func:`onestep_gm.experiments.figures.outputs.figure_data`
(so a saved ``<name>.json`` can be redrawn without simulating) and returns a matplotlib
figure.  Line figures: one colour per activation; the network solid, the Hermite model
dashed, the conditional Gaussian model dotted, each with a band of ± one standard deviation
over trials.  When the deterministic-equivalent ``theory`` is present it is drawn as a thin
line and the simulations as markers with error bars.  Heatmaps (Fig 4): the network's
error (beside the theory's on the same grid and colour scale when present), or the relative
gap :math:`|E_{NN} - E_{Herm}|/E_{NN}` on a logarithmic colour scale.
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
from onestep_gm.experiments.results import decode_pairs
from onestep_gm.experiments.stats import relative_gap

with warnings.catch_warnings():  # scienceplots 2.1 calls helpers deprecated in matplotlib 3.11
    warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
    import scienceplots  # noqa: F401  (registers the "science" styles)

STYLE = ["science", "no-latex"]
DPI = 150
LINESTYLES = {"nn": "-", "hermite": "--", "conditional": ":", "theory": "-"}
MARKERS = {"nn": "o", "hermite": "s", "conditional": "^"}
MODEL_LABELS = {"nn": "NN", "hermite": "Hermite", "conditional": "conditional", "theory": "theory"}
ACTIVATION_COLOURS = {"relu": "#0C5DA5", "tanh": "#FF2C00", "sigmoid": "#00B945"}
_EXTRA_COLOURS = ["#FF9500", "#845B97", "#474747", "#9e9e9e", "#8c564b"]
GAP_FLOOR = 1e-6


def colour(activation: str, order: list[str]) -> str:
    """Fixed colours for the paper's activations; the rest in order of appearance."""
    if activation in ACTIVATION_COLOURS:
        return ACTIVATION_COLOURS[activation]
    others = [a for a in order if a not in ACTIVATION_COLOURS]
    return _EXTRA_COLOURS[others.index(activation) % len(_EXTRA_COLOURS)]


def new_figure(**kw: Any) -> Figure:
    """A matplotlib figure outside pyplot: no backend is chosen or changed, no window opens, and
    ``savefig`` renders with Agg (png) or the pdf backend."""
    return Figure(**kw)


def series(data: Mapping[str, Any], metric: str = "gen") -> dict:
    """Per :class:`~onestep_gm.numerics.simulation.Pair` an array (points × trials) of the chosen
    error."""
    key = "train" if metric == "train" else "gen"
    out: dict = {}
    for point in data["points"]:
        for pair, values in decode_pairs(point[key]).items():
            out.setdefault(pair, []).append(np.asarray(values, dtype=float))
    return {pair: np.stack(rows) for pair, rows in out.items()}


def _xs(data: Mapping[str, Any], variable: str) -> np.ndarray:
    return np.asarray([p["coords"][variable] for p in data["points"]], dtype=float)


def _draw_lines(ax, data: Mapping[str, Any]) -> None:
    x = _xs(data, data["vary"])
    values = series(data, data["metric"])
    activations = list(dict.fromkeys(a for a, _ in values))
    with_theory = any(model == "theory" for _, model in values)
    for (act, model), arr in values.items():
        c = colour(act, activations)
        mean, std = arr.mean(axis=1), arr.std(axis=1)
        label = f"{act} {MODEL_LABELS.get(model, model)}"
        if model == "theory":
            ax.plot(x, mean, color=c, lw=0.8, ls="-", label=label)
        elif with_theory:
            ax.errorbar(x, mean, yerr=std, color=c, ls="none", marker=MARKERS.get(model, "o"),
                        ms=3, capsize=1.5, lw=0.6, mfc="none" if model != "nn" else c, label=label)  # fmt: skip
        else:
            ax.plot(x, mean, color=c, ls=LINESTYLES.get(model, "-"), lw=1.2, label=label)
            ax.fill_between(x, mean - std, mean + std, color=c, alpha=0.15, lw=0)
    ax.set_xlabel(data["xlabel"])
    ax.set_ylabel(data["ylabel"])
    ax.set_yscale(data.get("yscale", "linear"))
    ax.legend(fontsize=5, ncol=max(1, len(activations) // 2), frameon=False)


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
        ax.set_title(name, fontsize=6)
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
    """The picture of one figure's data (see :func:`onestep_gm.experiments.figures.outputs.figure_data`)."""
    title = data["title"] + (" [quick]" if data.get("quick") else "")
    with matplotlib.style.context(STYLE):
        if has_theory_heatmap(data):
            fig = new_figure(figsize=(6.2, 2.8), layout="constrained")
            axes = fig.subplots(1, 2, sharey=True)
            _draw_error_heatmaps(fig, axes, data)
            fig.suptitle(title, fontsize=6)
            return fig
        fig = new_figure(figsize=(3.5, 2.8) if data["kind"] == "heatmap" else (3.5, 2.6))
        ax = fig.subplots()
        if data["kind"] == "heatmap":
            _draw_heatmap(fig, ax, data)
        else:
            _draw_lines(ax, data)
        ax.set_title(title, fontsize=6)
        fig.tight_layout()
    return fig


def save(fig: Figure, path: str | Path, fmt: str) -> None:
    """Save ``fig`` as ``fmt`` ("png" at :data:`DPI`, or "pdf") to ``path`` (any file name)."""
    with matplotlib.style.context(STYLE):
        fig.savefig(path, format=fmt, dpi=DPI, bbox_inches="tight")


def save_pictures(fig: Figure, paths: dict[str, str | Path]) -> None:
    """Save ``fig`` once per ``{fmt: path}`` (see :func:`save`).  The figure is not registered
    with pyplot, so nothing is left open once it is dropped."""
    for fmt, path in paths.items():
        save(fig, path, fmt=fmt)
