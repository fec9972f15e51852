"""Figure specs, their configs, the runner's outputs, the agreement report and the CLI.

Structure is tested against a fake ``simulate`` (deterministic numbers chosen here); the
claims of the paper against the real engine (one cheap run by default, the rest ``slow``).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import onestep_gm.numerics.simulation as sweep_module
import pytest
from onestep_gm.experiments.cli import main
from onestep_gm.experiments.figures import catalogue, grid, report, results_page
from onestep_gm.experiments.figures.catalogue import FIGURES, ORDER_AT_BETA_ONE, Overrides
from onestep_gm.experiments.figures.grid import point_config, point_grid
from onestep_gm.experiments.figures.outputs import save_figure as write_outputs
from onestep_gm.experiments.figures.runner import run_figure
from onestep_gm.numerics.fashion import FashionSpec
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationResult

PAPER_FIGURES = [
    "fig1a", "fig1b", "fig1c", "fig2a", "fig2b", "fig2c", "fig3a", "fig3b", "fig4a", "fig4b",
    "fig5a", "fig5b", "fig5c", "fig6", "fig7a", "fig7b", "fig8a", "fig8b",
]  # fmt: skip
OUTPUTS = ("png", "pdf", "json", "csv", "md")


def fake_simulate(calls: list | None = None, fail_at: int | None = None):
    """A stand-in for ``onestep_gm.numerics.simulation.simulate``: gen = 0.1 + 0.01·k/m + 0.001·trial (+0.002 Hermite)."""
    counter = {"n": 0}

    def simulate(config, *, progress=False, cache_dir=None):
        if calls is not None:
            calls.append((config, cache_dir))
        counter["n"] += 1
        if fail_at is not None and counter["n"] == fail_at:
            raise ValueError("simulated failure in the middle of a figure")
        trials = np.arange(config.trials, dtype=float)
        gen, train = {}, {}
        for act in config.activations:
            for model in config.models:
                shift = 0.002 if model == "hermite" else 0.0
                gen[(act, model)] = 0.1 + 0.01 * config.k / config.m + 0.001 * trials + shift
                train[(act, model)] = gen[(act, model)] / 2
        info = {"n": getattr(config.data, "n", 784), "convention": "fake convention", "seed": 0}
        return SimulationResult(config=config, train=train, gen=gen, seconds=0.01, info=info)

    return simulate


# --- specs against DESIGN.md -------------------------------------------------------------


def test_every_paper_figure_has_a_spec():
    assert list(FIGURES) == PAPER_FIGURES
    for name, spec in FIGURES.items():
        assert spec.name == name
        assert spec.kind in catalogue.KINDS and spec.metric in catalogue.METRICS
        assert spec.vary in catalogue.VARIABLES
        assert spec.xlabel and spec.ylabel and spec.title


def test_grids_match_design():
    lin = lambda a, b, n: pytest.approx(list(np.linspace(a, b, n)))  # noqa: E731
    # the paper code's k/m grids, typed from DESIGN.md (Figs 1a and 6; Figs 3, 7a, 8)
    k_over_m = (0.1, 0.3, 0.4, 0.5, 0.7, 0.9, 1, 1.1, 1.5, 2, 3, 4, 5)
    k_over_m_fashion = (0.01, 0.1, 0.3, 0.4, 0.5, 0.7, 0.9, 1, 1.1, 1.5, 2, 3, 4, 5)
    for name in ("fig1a", "fig6"):
        assert FIGURES[name].grid == k_over_m
    for name in ("fig3a", "fig3b", "fig7a", "fig8a", "fig8b"):
        assert FIGURES[name].grid == k_over_m_fashion
    assert list(FIGURES["fig1b"].grid) == lin(0, 1, 20)
    assert list(FIGURES["fig1c"].grid) == lin(0, 1, 10)
    assert list(FIGURES["fig2a"].grid) == lin(0, 1, 10)  # published 2(a): mixture ratio
    assert list(FIGURES["fig2b"].grid) == lin(-1, 1, 20)  # published 2(b): alignment
    assert list(FIGURES["fig2c"].grid) == list(range(1, 11))
    assert list(FIGURES["fig7b"].grid) == lin(0, 1, 10)
    for name in ("fig4a", "fig4b"):
        assert list(FIGURES[name].grid) == lin(0, 1, 30)
        assert list(FIGURES[name].grid_y) == lin(0, 1, 30)
        assert len(point_grid(FIGURES[name])) == 900


def test_fixed_parameters_match_design():
    f = FIGURES
    assert (f["fig1a"].base.data.beta, f["fig1a"].base.data.alpha) == (0.74, 0.5)
    assert f["fig1a"].base.k == f["fig1a"].base.m == 1000 and f["fig1a"].trials == 20
    assert [f[n].base.data.alpha for n in ("fig5a", "fig5b", "fig5c", "fig1c")] == [0, 0.5, 1, 0.5]
    assert (f["fig2a"].vary, f["fig2a"].base.data.task) == ("rho", "classification")
    assert (f["fig2b"].vary, f["fig2b"].base.data.task) == ("alignment", "regression")
    assert f["fig2c"].base.data.spike_sizes == "uniform" and f["fig2c"].trials == 100
    heat = f["fig4a"].base
    assert heat == f["fig4b"].base  # one set of simulations serves both panels
    assert (heat.data.n, heat.m, heat.data.teacher_direction) == (400, 500, "spikes")
    assert heat.activations == ("relu",) and heat.order == 2
    assert (f["fig4a"].metric, f["fig4b"].metric) == ("gen", "gap")
    assert (f["fig6"].metric, f["fig7a"].metric) == ("train", "train")
    assert f["fig6"].grid == f["fig1a"].grid and f["fig6"].base == f["fig1a"].base
    for name, classes in [("fig3a", (0, 1)), ("fig3b", (5, 9)), ("fig7a", (0, 1)),
                          ("fig7b", (0, 1)), ("fig8a", (0, 1)), ("fig8b", (5, 9))]:  # fmt: skip
        base = f[name].base
        assert isinstance(base.data, FashionSpec) and base.data.classes == classes
        assert (base.data.beta, base.data.alpha, base.m) == (1.0, 0.0, 500)
        assert base.order == (7 if name == "fig7b" else 5)
        assert base.data.keep_means == name.startswith("fig8")
        assert base.lam == (1e-5 if name.startswith("fig8") else 1e-4)
        assert base.trials == (50 if name.startswith("fig8") else 20)
    for spec in f.values():
        assert spec.base.activations == (
            ("relu",) if spec.kind == "heatmap" else ("relu", "tanh", "sigmoid")
        )
        assert spec.base.models == ("nn", "hermite", "theory")  # a theory line on every panel


@pytest.mark.parametrize("name", PAPER_FIGURES)
def test_quick_version_is_small(name):
    spec = FIGURES[name]
    full = point_grid(spec)
    quick = point_grid(spec, quick=True)
    assert 3 <= len(quick) <= 25
    assert all(point in full for point in quick)
    for coords in quick:
        config = point_config(spec, coords, quick=True)
        assert 2 <= config.trials <= 5 and config.m <= 300
        assert config.k <= 4 * config.m
        if isinstance(config.data, MixtureSpec):
            assert config.data.n <= 300


# --- grid point -> config ------------------------------------------------------------------


def test_k_over_m_sets_k():
    spec = FIGURES["fig1a"]
    for x in spec.grid:
        config = point_config(spec, {"k_over_m": x})
        assert config.k == round(x * 1000) and config.m == 1000
    quick = point_config(spec, {"k_over_m": 2.0}, quick=True)
    assert quick.k == 2 * quick.m


def test_beta_alpha_alignment_rho_spikes_eta():
    c = point_config(FIGURES["fig1b"], {"alpha": 0.25})
    assert (c.data.alpha, c.data.beta) == (0.25, 0.74)
    c = point_config(FIGURES["fig2b"], {"alignment": -0.5})
    assert c.data.alignment == -0.5
    c = point_config(FIGURES["fig2a"], {"rho": 0.3})
    assert c.data.weights == pytest.approx((0.3, 0.7)) and sum(c.data.weights) == pytest.approx(1)
    c = point_config(FIGURES["fig2c"], {"spikes": 7.0})
    assert c.data.spikes == 7 and isinstance(c.data.spikes, int)
    c = point_config(FIGURES["fig7b"], {"log_eta": 0.5})
    assert c.eta == pytest.approx(28.0)  # 784 ** 0.5
    c = point_config(FIGURES["fig4a"], {"alpha": 0.2, "beta": 0.9})
    assert (c.data.alpha, c.data.beta, c.order) == (0.2, 0.9, 2)


def test_order_at_beta_one_and_below():
    spec = FIGURES["fig1c"]
    assert point_config(spec, {"beta": 1.0}).order == ORDER_AT_BETA_ONE
    assert point_config(spec, {"beta": 0.5}).order is None  # the engine applies the theorem
    fixed = point_config(spec, {"beta": 1.0}, overrides=Overrides(order=3))
    assert fixed.order == 3


def test_overrides():
    ov = Overrides(activations=("erf",), models=("nn", "hermite", "conditional"),
                   components=3, trials=4, seed=7, data_dir="/data")  # fmt: skip
    c = point_config(FIGURES["fig1a"], {"k_over_m": 1.0}, overrides=ov)
    assert c.activations == ("erf",) and c.models == ("nn", "hermite", "conditional")
    assert c.data.weights == pytest.approx((1 / 3,) * 3) and (c.trials, c.seed) == (4, 7)
    c = point_config(FIGURES["fig3a"], {"k_over_m": 1.0}, overrides=ov)
    assert c.data.data_dir == "/data" and c.trials == 4
    c = point_config(FIGURES["fig2a"], {"rho": 0.3}, overrides=ov)
    assert c.data.weights == pytest.approx((0.3, 0.7))  # rho wins over --components
    assert any("ignored" in n for n in grid.figure_notes(FIGURES["fig3a"], ov))


def test_descriptive_aliases_and_protocol_override():
    assert catalogue.get_figure("fig2-ratio") is FIGURES["fig2a"]
    assert catalogue.get_figure("fig2-alignment") is FIGURES["fig2b"]
    ov = Overrides(protocol="paper")
    assert point_config(FIGURES["fig1a"], {"k_over_m": 1.0}, overrides=ov).protocol == "paper"
    assert point_config(FIGURES["fig1a"], {"k_over_m": 1.0}).protocol == "fresh"
    assert any("protocol paper" in n for n in grid.figure_notes(FIGURES["fig1a"], ov))


def test_unknown_figure_lists_valid_names():
    with pytest.raises(ValueError, match="fig1a.*fig8b"):
        catalogue.get_figure("fig9z")


# --- runner and outputs ---------------------------------------------------------------------


def test_run_figure_passes_every_point_and_cache(tmp_path):
    calls = []
    spec = FIGURES["fig1a"]
    run = run_figure(spec, quick=True, simulate_fn=fake_simulate(calls), cache_dir=tmp_path)
    assert [c for c, _ in calls] == run.configs
    assert all(cache == tmp_path for _, cache in calls)
    assert [c.k for c in run.configs] == [round(x * 300) for x in spec.quick_grid]


def test_outputs_hold_every_trial(tmp_path):
    spec = FIGURES["fig2c"]
    run = run_figure(spec, quick=True, simulate_fn=fake_simulate(),
                     overrides=Overrides(models=("nn", "hermite", "conditional")))  # fmt: skip
    paths = write_outputs(run, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"fig2c.{e}" for e in OUTPUTS)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    data = json.loads(paths["json"].read_text())
    assert data["figure"] == "fig2c" and data["quick"] is True
    assert set(data["versions"]) >= {"numpy", "jax", "sympy", "mpmath", "matplotlib", "onestep-gm"}
    assert len(data["points"]) == 3
    trials = spec.quick.trials
    for point, d in zip(data["points"], (1, 5, 10), strict=True):
        assert point["coords"] == {"spikes": d} and point["config"]["data"]["spikes"] == d
        assert len(point["gen"]) == 9  # 3 activations x 3 models
        for key, values in point["gen"].items():
            assert len(values) == trials == len(point["train"][key])
        assert point["gen"]["tanh|conditional"][1] == pytest.approx(0.1 + 0.01 + 0.001)
    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(rows) == 3 * 9 * trials
    assert {r["model"] for r in rows} == {"nn", "hermite", "conditional"}
    assert float(rows[0]["spikes"]) == 1 and rows[0]["trial"] == "0"
    assert "fake convention" in paths["md"].read_text()


def test_failure_midway_leaves_no_file(tmp_path):
    spec = FIGURES["fig1b"]
    with pytest.raises(ValueError, match="simulated failure"):
        run = run_figure(spec, quick=True, simulate_fn=fake_simulate(fail_at=3))
        write_outputs(run, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failure_while_drawing_leaves_no_file(tmp_path, monkeypatch):
    from onestep_gm.experiments.figures import plots

    run = run_figure(FIGURES["fig1b"], quick=True, simulate_fn=fake_simulate())

    def broken(fig, path, fmt):
        if fmt == "pdf":
            raise OSError("disk full")
        fig.savefig(path, format=fmt)

    monkeypatch.setattr(plots, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(run, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_earlier_outputs_survive_a_failed_rerun(tmp_path, monkeypatch):
    from onestep_gm.experiments.figures import plots

    run = run_figure(FIGURES["fig1b"], quick=True, simulate_fn=fake_simulate())
    write_outputs(run, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(plots, "draw", lambda data: (_ for _ in ()).throw(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"):
        write_outputs(run, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# --- the agreement report -------------------------------------------------------------------


def test_gap_in_standard_errors():
    # (1.0 - 0.9) / sqrt(0.1²/4 + 0.1²/4) = 0.1 / 0.0707... = sqrt(2)
    assert report.gap_in_se(1.0, 0.1, 0.9, 0.1, 4) == pytest.approx(math.sqrt(2))
    assert report.gap_in_se(1.0, 0.3, 1.6, 0.4, 25) == pytest.approx(-0.6 / 0.1)
    assert report.gap_in_se(0.5, 0.0, 0.5, 0.0, 3) == 0.0
    assert report.gap_in_se(0.5, 0.0, 0.4, 0.0, 3) == math.inf
    # theory on 3 trials beside a network on 100: (1.0 - 0.9) / sqrt(0.1²/100 + 0.1²/3)
    assert report.gap_in_se(1.0, 0.1, 0.9, 0.1, 100, 3) == pytest.approx(0.1 / math.sqrt(0.01 / 100 + 0.01 / 3))
    assert report.agrees(2.0) and report.agrees(-1.99) and not report.agrees(2.01)


def test_verdict_counts():
    gaps = [{"relu": 0.5, "tanh": 3.0}, {"relu": -2.5, "tanh": 1.0}, {"relu": 0.0, "tanh": -0.1}]
    line = report.verdict(gaps, "hermite")
    assert line == (
        "NN and Hermite agree within 2 s.e. at 4/6 (point, activation) pairs (relu 2/3, tanh 2/3)."
    )
    assert report.verdict([{"relu": 0.1}, {"relu": 9.0}], "conditional") == (
        "NN and conditional agree within 2 s.e. at 1/2 points."
    )


def test_point_gaps_from_trials():
    # NN trials mean 1, sample std 1 (ddof=1); Hermite mean 2, std 1; T = 3: z = -1/sqrt(2/3)
    point = {"gen": {"relu|nn": [0.0, 1.0, 2.0], "relu|hermite": [1.0, 2.0, 3.0]}}
    assert report.point_gaps(point, "gen", "hermite") == {"relu": pytest.approx(-math.sqrt(1.5))}
    # the theory line on its own 2 trials: its standard error is 1/sqrt(2), not 1/sqrt(3)
    point["gen"]["relu|theory"] = [1.5, 2.5]
    expected = (1.0 - 2.0) / math.sqrt(1.0 / 3 + 0.5 / 2)
    assert report.point_gaps(point, "gen", "theory") == {"relu": pytest.approx(expected)}


def test_figure_report_table_and_verdict(tmp_path):
    run = run_figure(FIGURES["fig1a"], quick=True, simulate_fn=fake_simulate(),
                     overrides=Overrides(activations=("relu",)))  # fmt: skip
    text = report.figure_report(grid.figure_data(run), image="fig1a.png")
    # fake: Hermite = NN + 0.002 with per-trial spread 0.001 (T = 3): z = -0.002/0.000816 = -2.45
    assert "NN and Hermite agree within 2 s.e. at 0/4 points." in text
    assert text.count("-2.45 ✗") == 4
    assert "![fig1a](fig1a.png)" in text and "(quick run)" in text
    assert (
        "Parameters: n = 300, k = 90–1200, m = 300, λ = 0.0001, seed = 0, activations relu." in text
    )
    assert len([ln for ln in text.splitlines() if ln.startswith("| 0.") or ln.startswith("| 1")
                or ln.startswith("| 2") or ln.startswith("| 4")]) == 4  # fmt: skip


def test_heatmap_report_and_gather(tmp_path):
    out = tmp_path / "out"
    for name in ("fig4b", "fig1b"):
        write_outputs(run_figure(FIGURES[name], quick=True, simulate_fn=fake_simulate()), out)
    md = (out / "fig4b.md").read_text()
    assert md.count("| 0/5 |") == 5  # five beta rows, Hermite off by 2.45 s.e. everywhere
    page = results_page.gather(out, tmp_path / "docs" / "results.md")
    text = page.read_text()
    assert text.index("## fig1b") < text.index("## fig4b")
    assert "](figures/fig1b.png)" in text and "](figures/fig4b.png)" in text
    assert (tmp_path / "docs" / "figures" / "fig4b.png").read_bytes()[:4] == b"\x89PNG"


def test_gather_without_reports_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no figure reports"):
        results_page.gather(tmp_path, tmp_path / "results.md")


# --- CLI ------------------------------------------------------------------------------------


def _one_line_exit_2(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_cli_unknown_figure(capsys, tmp_path):
    err = _one_line_exit_2(capsys, ["figure", "fig9z", "--out", str(tmp_path)])
    assert "fig1a" in err and "fig8b" in err and "all" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_model_and_activation(capsys, tmp_path):
    err = _one_line_exit_2(
        capsys, ["figure", "fig1a", "--models", "nn,magic", "--out", str(tmp_path)]
    )
    assert "magic" in err
    _one_line_exit_2(
        capsys, ["figure", "fig1a", "--activation", "__import__('os')", "--out", str(tmp_path)]
    )
    _one_line_exit_2(capsys, ["figure", "fig4a", "--models", "nn", "--out", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []


def test_cli_report_without_figures(capsys, tmp_path):
    err = _one_line_exit_2(
        capsys, ["report", "--out", str(tmp_path), "--docs", str(tmp_path / "r.md")]
    )
    assert "no figure reports" in err


def test_cli_figure_with_fake_engine(capsys, tmp_path, monkeypatch):

    monkeypatch.setattr(sweep_module, "simulate", fake_simulate())
    assert main(["figure", "fig2a", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "fig2a" in captured.out
    assert "fig2a is the mixture ratio" in captured.err  # the renaming is announced
    assert json.loads((tmp_path / "fig2a.json").read_text())["vary"] == "rho"
    assert {p.name for p in tmp_path.iterdir()} == {f"fig2a.{e}" for e in OUTPUTS} | {".cache"}
    docs = tmp_path / "docs" / "results.md"
    assert main(["report", "--out", str(tmp_path), "--docs", str(docs)]) == 0
    assert "## fig2a" in docs.read_text()


def test_cli_all_writes_every_figure_and_goes_on_past_a_failing_one(capsys, tmp_path, monkeypatch):
    """One run of ``figure all``: every figure but the failing fig7b is drawn, printed and
    written, and the failure is one line with exit status 2.  Each figure is drawn, but its
    PNG and PDF are not rendered (36 renderings cost ~20 s): rendering and the files' formats
    are checked in test_outputs_hold_every_trial and test_plots.test_save_png_and_pdf."""
    from onestep_gm.experiments.figures import plots

    drawn = []

    def placeholder(fig, path, fmt):
        drawn.append(fig)
        Path(path).write_bytes(f"{fmt} not rendered".encode())

    monkeypatch.setattr(plots, "save", placeholder)
    # The Fashion-MNIST pools are loaded and preprocessed (eigendecompositions) for the first
    # Fashion figure only; the five other pairs/variants cost ~10 s and add no check here.
    checked, real_check = [], grid.check_data

    def check_first_fashion_only(spec, overrides):
        if not spec.base.data.has_population_law:
            checked.append(spec.name)
            if len(checked) > 1:
                return None
        return real_check(spec, overrides)

    monkeypatch.setattr(grid, "check_data", check_first_fashion_only)
    honest = fake_simulate()

    def simulate(config, **kw):
        if config.eta is not None:  # only fig7b sets eta
            raise ValueError("non-finite errors")
        return honest(config, **kw)

    monkeypatch.setattr(sweep_module, "simulate", simulate)
    assert main(["figure", "all", "--quick", "--out", str(tmp_path), "--no-progress"]) == 2
    captured = capsys.readouterr()
    others = [name for name in PAPER_FIGURES if name != "fig7b"]
    assert [line.split(":")[0] for line in captured.out.splitlines()] == others
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert "1 of 18 figures failed: fig7b (non-finite errors)" in captured.err
    written = {p.name for p in tmp_path.iterdir()}
    assert written == {f"{name}.{e}" for name in others for e in OUTPUTS} | {".cache"}
    assert len(drawn) == 2 * len(others) and all(fig.axes for fig in drawn)
    assert checked == ["fig3a", "fig3b", "fig7a", "fig7b", "fig8a", "fig8b"]


# --- the real engine ------------------------------------------------------------------------


def _real_run(name: str, tmp_path: Path, *extra: str) -> dict:
    argv = ["figure", name, "--quick", "--out", str(tmp_path), "--no-progress", *extra]
    assert main(argv) == 0
    return json.loads((tmp_path / f"{name}.json").read_text())


def _z_scores(data: dict) -> list[float]:
    return [z for p in data["points"] for z in report.point_gaps(p, "gen", "hermite").values()]


def test_real_engine_quick_fig1a_relu(tmp_path):
    """The network and Hermite lines on the real engine (the theory line's k = 1200 moments
    and eigenvalues cost more than both; the theory line against simulated networks:
    test_curves.test_prediction_matches_simulated_network_relu, test_examples'
    test_compare_models and test_theory_curve).  Two trials per point (~5 s each at k = 1200):
    the two lines' means differ by at most 2% there, against the 25% allowed."""
    data = _real_run("fig1a", tmp_path, "--activation", "relu", "--trials", "2", "--models", "nn,hermite")
    assert {p.name for p in tmp_path.iterdir()} >= {f"fig1a.{e}" for e in OUTPUTS}
    assert (tmp_path / ".cache").is_dir()
    for point in data["points"]:
        assert len(point["gen"]["relu|nn"]) == 2
        assert point["info"]["order"] == 4  # beta = 0.74 lies in (2/3, 3/4): l = 4
    nn = np.array([np.mean(p["gen"]["relu|nn"]) for p in data["points"]])
    herm = np.array([np.mean(p["gen"]["relu|hermite"]) for p in data["points"]])
    assert np.all(np.isfinite(nn)) and np.all(nn > 0)
    assert np.all(np.abs(nn - herm) <= 0.25 * nn)


def test_real_engine_missing_fashion_mnist(capsys, tmp_path):
    out = tmp_path / "out"
    argv = ["figure", "fig3a", "--quick", "--out", str(out), "--no-progress",
            "--data-dir", str(tmp_path / "nowhere")]  # fmt: skip
    err = _one_line_exit_2(capsys, argv)
    assert "Fashion-MNIST" in err and "nowhere" in err
    assert not any(p.is_file() for p in out.glob("*"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fig1a", "fig1b", "fig1c", "fig2a", "fig2b", "fig2c"])
def test_real_engine_nn_matches_hermite(tmp_path, name):
    data = _real_run(name, tmp_path)
    z = np.array(_z_scores(data))
    nn = np.array(
        [np.mean(v) for p in data["points"] for k, v in p["gen"].items() if k.endswith("|nn")]
    )
    herm = np.array(
        [np.mean(v) for p in data["points"] for k, v in p["gen"].items() if k.endswith("|hermite")]
    )
    assert np.mean(np.abs(z) <= 3) >= 0.8
    assert np.median(np.abs(nn - herm) / nn) < 0.1


@pytest.mark.slow
def test_real_engine_larger_beta_generalises_better(tmp_path):
    data = _real_run("fig1c", tmp_path, "--trials", "5")
    betas = [p["coords"]["beta"] for p in data["points"]]
    for act in ("relu", "tanh", "sigmoid"):
        gen = [np.mean(p["gen"][f"{act}|nn"]) for p in data["points"]]
        assert gen[betas.index(max(betas))] < gen[betas.index(min(betas))]


@pytest.mark.slow
def test_real_engine_linear_gap_grows_with_beta(tmp_path):
    from onestep_gm.experiments.figures.plots import heatmap_values

    data = _real_run("fig4b", tmp_path, "--trials", "3")
    _, betas, gap, _ = heatmap_values(data)
    low = np.median(gap[betas < 0.5])
    high = np.median(gap[betas >= 0.75])
    assert low < 0.05 and high > 2 * low


def test_report_names_where_a_model_fails_and_flags_beta_one():
    data = {"metric": "gen", "points": [
        {"coords": {"k_over_m": 1.0}, "gen": {"tanh|nn": [1.0, 1.1, 0.9], "tanh|theory": [1.5, 1.5, 1.5]}},
        {"coords": {"k_over_m": 2.0}, "gen": {"tanh|nn": [1.0, 1.1, 0.9], "tanh|theory": [1.0, 1.0, 1.0]}},
    ]}  # fmt: skip
    line = report.misses(data, "theory")
    assert line.startswith("NN vs theory fails at 1 (point, activation) pairs")
    assert "tanh at k_over_m = 1: +50.0%" in line
    assert report.misses(data, "hermite") == ""
    assert report.agreement(data, "theory") == (1, 2)
    run = run_figure(FIGURES["fig3a"], quick=True, simulate_fn=fake_simulate())
    assert "**Outside the theorem.** β = 1" in report.figure_report(grid.figure_data(run))
    run = run_figure(FIGURES["fig1a"], quick=True, simulate_fn=fake_simulate())
    assert "Outside the theorem" not in report.figure_report(grid.figure_data(run))


def test_theory_heat_map_beside_the_simulated_one():
    from onestep_gm.experiments.figures import plots  # matplotlib: only the drawing tests need it

    data = grid.figure_data(run_figure(FIGURES["fig4a"], quick=True, simulate_fn=fake_simulate()))
    assert plots.has_theory_heatmap(data)
    fig = plots.draw(data)
    try:
        titles = [ax.get_title() for ax in fig.axes]
        assert "NN (simulated)" in titles and "theory" in titles  # two panels and a colour bar
        grids = [ax.collections[0].get_array() for ax in fig.axes if ax.get_title() in ("NN (simulated)", "theory")]
        assert grids[0].shape == grids[1].shape == (5, 5)  # the same 5 × 5 quick grid
    finally:
        del fig  # a figure outside pyplot: nothing to close
    gap = grid.figure_data(run_figure(FIGURES["fig4b"], quick=True, simulate_fn=fake_simulate()))
    assert not plots.has_theory_heatmap(gap)


def test_gather_puts_figures_beside_the_paper(tmp_path):
    out = tmp_path / "out"
    write_outputs(run_figure(FIGURES["fig1a"], quick=True, simulate_fn=fake_simulate()), out)
    docs = tmp_path / "docs"
    (docs / "paper").mkdir(parents=True)
    (docs / "paper" / "fig1a.png").write_bytes(b"\x89PNG")
    text = results_page.gather(out, docs / "results.md").read_text()
    assert "## Agreement per figure" in text and "| fig1a | quick | 3 |" in text
    assert "![Figure 1(a)](paper/fig1a.png)" in text and "| ![fig1a](figures/fig1a.png) |" in text
    assert "Beside Figure 1(a)" in text and "| 1 | 0.0209 |" in text


def test_the_csv_beside_a_figure_is_its_tidy_frame(tmp_path):
    """``to_frame()``: one row per point × activation × model × trial, the varied and fixed
    parameters as columns; the CSV that ``save_figure`` writes is that frame."""
    from onestep_gm.experiments.figures.outputs import frame_csv

    run = run_figure(FIGURES["fig1a"], quick=True, simulate_fn=fake_simulate(),
                     overrides=Overrides(activations=("relu",)))  # fmt: skip
    frame = run.to_frame()
    assert len(frame) == sum(len(v) for r in run.results for v in r.gen.values())
    assert {"k_over_m", "activation", "model", "trial", "gen_error", "train_error", "n", "k", "m",
            "lambda", "seed", "beta", "alpha", "order"} <= set(frame.columns)  # fmt: skip
    assert frame.groupby(["k_over_m", "model"]).size().min() >= 1
    paths = write_outputs(run, tmp_path)
    assert paths["csv"].read_text() == frame_csv(frame)
    assert paths["csv"].read_text().splitlines()[0].startswith("figure,point,k_over_m,activation,model,trial,")


def test_report_redraw_draws_again_from_the_saved_json(capsys, tmp_path):
    """``onestep report --redraw``: picture and report written again from ``<name>.json`` alone
    (nothing simulated), the data files untouched, the outputs named after the JSON file; a
    JSON that is no figure's data is refused."""
    from onestep_gm.experiments.figures.outputs import redraw, saved_run

    out = tmp_path / "out"
    run = run_figure(FIGURES["fig1a"], quick=True, simulate_fn=fake_simulate(),
                     overrides=Overrides(activations=("relu",)))  # fmt: skip
    paths = write_outputs(run, out)
    saved = {ext: paths[ext].read_bytes() for ext in ("json", "csv", "md")}
    paths["png"].write_bytes(b"stale")
    paths["md"].write_text("stale")
    again = saved_run(paths["json"])
    assert again.name == "fig1a" and again.data() == json.loads(saved["json"])
    assert main(["report", "--out", str(out), "--docs", str(tmp_path / "docs" / "results.md"), "--redraw"]) == 0
    assert "redrew 1 figures" in capsys.readouterr().out
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert {ext: paths[ext].read_bytes() for ext in ("json", "csv", "md")} == saved
    assert "![fig1a](figures/fig1a.png)" in (tmp_path / "docs" / "results.md").read_text()
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not the data of a figure"):
        redraw(tmp_path / "other.json")
    (out / "fig1a.json").rename(out / "fig1a-copy.json")
    assert set(redraw(out / "fig1a-copy.json")) == {"png", "pdf", "md"}
    assert (out / "fig1a-copy.png").exists() and (out / "fig1a-copy.md").read_bytes() == saved["md"]
