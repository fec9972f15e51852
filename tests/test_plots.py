"""Pictures from hand-made figure data: what is drawn, in which style, with which numbers."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import LogNorm, to_hex
from onestep_gm.experiments import stats
from onestep_gm.experiments.figures import paper, plots


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


def _artists(ax):
    """Label → drawn artist: lines, and the network's error-bar containers."""
    found = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    found.update({c.get_label(): c for c in ax.containers})
    return found


def test_network_markers_with_standard_errors_and_model_lines():
    fig = plots.draw(line_data())
    ax = fig.axes[0]
    drawn = _artists(ax)
    assert set(drawn) == {"relu NN", "relu Hermite", "tanh NN", "tanh Hermite"}
    relu_nn = drawn["relu NN"]
    marker_line = relu_nn.lines[0]
    assert marker_line.get_linestyle() == "None" and marker_line.get_marker() == "o"
    # error bar of relu NN at x = 1: mean 1 ± s.e. of [0.9, 1, 1.1] = 0.1/sqrt(3)
    segments = relu_nn.lines[2][0].get_segments()
    low, high = segments[1][:, 1]
    assert (high - low) / 2 == pytest.approx(np.std([0.9, 1.0, 1.1], ddof=1) / np.sqrt(3))
    # the Hermite model: a line in the paper's style per activation (relu solid, tanh dashed)
    assert drawn["relu Hermite"].get_linestyle() == "-" and drawn["tanh Hermite"].get_linestyle() == "--"
    assert drawn["tanh Hermite"].get_ydata().tolist() == pytest.approx([11.5, 12.0, 13.0])
    assert to_hex(marker_line.get_color()) == to_hex(drawn["relu Hermite"].get_color()) == "#0072b2"
    assert to_hex(drawn["tanh Hermite"].get_color()) == "#e69f00"
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)  # no bands without theory
    assert ax.get_xlabel() == "$k/m$" and ax.get_ylabel() == "Generalization error"


def test_legends_sit_outside_the_axes():
    fig = plots.draw(line_data(models=("nn", "hermite", "theory")))
    ax = fig.axes[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    legends = [a for a in ax.get_children() if a.__class__.__name__ == "Legend"]
    assert len(legends) == 2
    frame = ax.get_window_extent(renderer)
    for legend in legends:
        assert legend.get_window_extent(renderer).x0 >= frame.x1  # right of the data
    texts = [t.get_text() for lg in legends for t in lg.get_texts()]
    assert "network (mean ± s.e.)" in texts and "relu" in texts and "theory (± s.e. band)" in texts


def test_png_is_at_least_1000_px_wide(tmp_path):
    from PIL import Image

    for data in (line_data(), heat_data("gap"), heat_data("gen")):
        plots.save(plots.draw(data), tmp_path / "f.png", fmt="png")
        assert Image.open(tmp_path / "f.png").width >= 1000


def test_conditional_squares_and_theory_band():
    fig = plots.draw(line_data(models=("nn", "hermite", "conditional")))
    drawn = _artists(fig.axes[0])
    assert drawn["relu conditional"].get_marker() == "s"
    fig = plots.draw(line_data(models=("nn", "hermite", "theory")))
    ax = fig.axes[0]
    theory = [ln for ln in ax.get_lines() if ln.get_label().endswith("theory")]
    assert len(theory) == 2 and all(ln.get_linewidth() < 1 for ln in theory)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # ± s.e. of the theory, one per activation
    verts = bands[0].get_paths()[0].vertices
    # relu theory at x = 2: values 22 ± 0.1 → mean 22, s.e. 0.1/sqrt(3)
    assert verts[:, 1].max() == pytest.approx(22.0 + 0.1 / np.sqrt(3))


def test_paper_panels_get_the_published_axis_ranges():
    data = {**line_data(), "figure": "fig1a"}
    for point in data["points"]:  # values on the published panel's scale
        point["gen"] = {k: [v / 1000 + 0.02 for v in vals] for k, vals in point["gen"].items()}
    ax = plots.draw(data).axes[0]
    assert ax.get_xlim() == pytest.approx(paper.PAPER_AXES["fig1a"][0])
    assert ax.get_ylim() == pytest.approx(paper.PAPER_AXES["fig1a"][1])
    assert not paper.axis_ranges(data).widened
    high = {**line_data(), "figure": "fig1a"}  # values up to 13: the range widens to hold them
    ranges = paper.axis_ranges(high)
    assert ranges.widened and ranges.y[1] > 13 and ranges.x == paper.PAPER_AXES["fig1a"][0]


def test_diverged_trials_are_left_out_of_mean_and_se():
    mean, se = plots.mean_se(np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [2.0, np.nan, np.nan]]))
    assert mean[0] == pytest.approx(2.0) and se[0] == pytest.approx(np.std([1, 3], ddof=1) / np.sqrt(2))
    assert np.isnan(mean[1]) and np.isnan(se[1])
    assert mean[2] == 2.0 and se[2] == 0.0


def test_log_scale_when_asked():
    data = line_data()
    fig = plots.draw(data)
    assert fig.axes[0].get_yscale() == "linear"
    fig = plots.draw({**data, "yscale": "log"})
    assert fig.axes[0].get_yscale() == "log"


def test_training_error_metric():
    fig = plots.draw(line_data(metric="train"))
    relu = _artists(fig.axes[0])["relu NN"].lines[0]
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


def test_series_pads_points_with_fewer_draws():
    """A theory line with more draws at some points: the shorter rows are padded with NaN, which
    mean_se leaves out (mean and s.e. of each point over its own draws)."""
    data = line_data()
    data["points"][0]["gen"]["relu|theory"] = [1.0, 2.0, 3.0, 4.0, 5.0]
    for point in data["points"][1:]:
        point["gen"]["relu|theory"] = [2.0, 4.0]
    rows = plots.series(data)[("relu", "theory")]
    assert rows.shape == (3, 5) and np.isnan(rows[1, 2:]).all()
    mean, se = plots.mean_se(rows)
    assert mean.tolist() == [3.0, 3.0, 3.0]
    assert se.tolist() == pytest.approx([np.std([1, 2, 3, 4, 5], ddof=1) / np.sqrt(5), 1.0, 1.0])
