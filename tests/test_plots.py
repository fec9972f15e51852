"""Pictures from hand-made figure data: what is drawn, in which style, with which numbers."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import LogNorm, to_hex
from onestep_gm.experiments import stats
from onestep_gm.experiments.figures import plots


def line_data(models=("nn", "hermite"), activations=("relu", "tanh"), metric="gen"):
    """Three points x = 0.5, 1, 2; trials [v-0.1, v, v+0.1] with v = x + index of model/act."""
    points = []
    for x in (0.5, 1.0, 2.0):
        gen, train = {}, {}
        for i, act in enumerate(activations):
            for j, model in enumerate(models):
                v = x + i + 10 * j
                gen[f"{act}|{model}"] = [v - 0.1, v, v + 0.1]
                train[f"{act}|{model}"] = [v / 2] * 3
        points.append({"coords": {"k_over_m": x}, "gen": gen, "train": train})
    return {"figure": "figX", "title": "t", "kind": "line", "metric": metric, "vary": "k_over_m",
            "vary_y": None, "xlabel": r"$k/m$", "ylabel": "Generalization error", "quick": False,
            "points": points}  # fmt: skip


def heat_data(metric):
    """2×3 grid; NN error 1 + β, Hermite error (1 + β)(1 + α β) with no spread."""
    points = []
    for beta in (0.2, 0.8):
        for alpha in (0.0, 0.5, 1.0):
            nn = 1 + beta
            points.append({
                "coords": {"alpha": alpha, "beta": beta},
                "gen": {"relu|nn": [nn, nn], "relu|hermite": [nn * (1 + alpha * beta)] * 2},
                "train": {"relu|nn": [0, 0], "relu|hermite": [0, 0]},
            })  # fmt: skip
    return {"figure": "figH", "title": "h", "kind": "heatmap", "metric": metric, "vary": "alpha",
            "vary_y": "beta", "xlabel": r"$\alpha$", "ylabel": r"$\beta$", "points": points}  # fmt: skip


def test_series_shape_and_values():
    values = plots.series(line_data())
    assert set(values) == {("relu", "nn"), ("relu", "hermite"), ("tanh", "nn"), ("tanh", "hermite")}
    assert values[("tanh", "hermite")].shape == (3, 3)
    assert values[("tanh", "hermite")][2].tolist() == pytest.approx([12.9, 13.0, 13.1])
    assert plots.series(line_data(), "train")[("relu", "nn")][0].tolist() == [0.25] * 3


def test_lines_styles_colours_and_bands():
    fig = plots.draw(line_data())
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"relu NN", "relu Hermite", "tanh NN", "tanh Hermite"}
    assert lines["relu NN"].get_linestyle() == "-" and lines["relu Hermite"].get_linestyle() == "--"
    assert to_hex(lines["relu NN"].get_color()) == to_hex(lines["relu Hermite"].get_color())
    assert to_hex(lines["relu NN"].get_color()) != to_hex(lines["tanh NN"].get_color())
    assert lines["tanh Hermite"].get_ydata().tolist() == pytest.approx([11.5, 12.0, 13.0])
    bands = ax.collections
    assert len(bands) == 4
    # band of relu NN at x = 1: mean 1 ± population std of [0.9, 1, 1.1] = 0.0816
    verts = bands[0].get_paths()[0].vertices
    assert verts[:, 1].max() == pytest.approx(2.0 + np.std([0.9, 1.0, 1.1]))
    assert ax.get_xlabel() == "$k/m$" and ax.get_ylabel() == "Generalization error"


def test_conditional_is_dotted_and_theory_turns_simulations_into_markers():
    fig = plots.draw(line_data(models=("nn", "hermite", "conditional")))
    styles = {ln.get_label(): ln.get_linestyle() for ln in fig.axes[0].get_lines()}
    assert styles["relu conditional"] == ":"
    fig = plots.draw(line_data(models=("nn", "hermite", "theory")))
    ax = fig.axes[0]
    theory = [ln for ln in ax.get_lines() if ln.get_label().endswith("theory")]
    assert len(theory) == 2 and all(ln.get_linewidth() < 1 for ln in theory)
    markers = [c for c in ax.containers if c.get_label() in ("relu NN", "tanh Hermite")]
    assert len(markers) == 2
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)  # no bands


def test_log_scale_when_asked():
    data = line_data()
    fig = plots.draw(data)
    assert fig.axes[0].get_yscale() == "linear"
    fig = plots.draw({**data, "yscale": "log"})
    assert fig.axes[0].get_yscale() == "log"


def test_training_error_metric():
    fig = plots.draw(line_data(metric="train"))
    relu = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "relu NN")
    assert relu.get_ydata().tolist() == pytest.approx([0.25, 0.5, 1.0])


def test_relative_gap():
    nn = np.array([[1.0, 3.0], [2.0, 2.0]])
    other = np.array([[2.5, 2.5], [1.0, 1.0]])
    assert stats.relative_gap(nn, other).tolist() == pytest.approx([0.25, 0.5])


def test_heatmap_values_and_log_scale():
    xs, ys, grid, act = plots.heatmap_values(heat_data("gap"))
    assert act == "relu" and xs.tolist() == [0, 0.5, 1] and ys.tolist() == [0.2, 0.8]
    expected = np.array([[0.0, 0.1, 0.2], [0.0, 0.4, 0.8]])
    assert grid == pytest.approx(np.maximum(expected, plots.GAP_FLOOR))
    fig = plots.draw(heat_data("gap"))
    mesh = fig.axes[0].collections[0]
    assert isinstance(mesh.norm, LogNorm)
    assert np.asarray(mesh.get_array()).reshape(2, 3) == pytest.approx(grid)
    fig = plots.draw(heat_data("gen"))
    mesh = fig.axes[0].collections[0]
    assert not isinstance(mesh.norm, LogNorm)
    assert np.asarray(mesh.get_array()).reshape(2, 3)[:, 0].tolist() == pytest.approx([1.2, 1.8])


def test_save_png_and_pdf(tmp_path):
    fig = plots.draw(line_data())
    plots.save(fig, tmp_path / "a.tmp", fmt="png")
    plots.save(fig, tmp_path / "b.tmp", fmt="pdf")
    assert (tmp_path / "a.tmp").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "b.tmp").read_bytes()[:5] == b"%PDF-"


def test_extra_activation_colours_are_distinct():
    order = ["relu", "erf", "gelu"]
    colours = {plots.colour(a, order) for a in order}
    assert len(colours) == 3 and plots.colour("relu", order) == plots.ACTIVATION_COLOURS["relu"]
