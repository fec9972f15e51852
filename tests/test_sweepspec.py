"""TOML sweep specs: parsing into a FigureSpec, one-line errors, a paper figure as a spec, and
``onestep sweep`` end to end."""

import json
from pathlib import Path

import pytest
from onestep_gm.experiments.cli import main
from onestep_gm.experiments.figures.catalogue import FIGURES
from onestep_gm.experiments.figures.grid import point_config, point_grid
from onestep_gm.experiments.figures.sweepspec import load_sweep, spec_from_dict

SWEEPS = Path(__file__).resolve().parents[1] / "examples" / "sweeps"

TINY = """
name = "tiny-sweep"
kind = "heatmap"
[x]
field = "beta"
values = [0.3, 0.4]
[y]
field = "lam"
logspace = [-3, -2, 2]
[fixed]
n = 40
k = 30
m = 30
alpha = 0.5
components = 3
activations = ["gelu"]
trials = 2
"""


def test_paper_figure_as_a_spec_has_the_same_points():
    spec, paper = load_sweep(SWEEPS / "fig5a.toml"), FIGURES["fig5a"]
    for quick in (False, True):
        coords = point_grid(spec, quick)
        assert coords == point_grid(paper, quick)
        assert [point_config(spec, c, quick) for c in coords] == [
            point_config(paper, c, quick) for c in coords
        ]
    assert (spec.title, spec.xlabel, spec.notes) == (paper.title, paper.xlabel, paper.notes)


def test_spec_fields_map_onto_the_config():
    spec = load_sweep(SWEEPS / "gelu-beta-lambda.toml")
    assert (spec.kind, spec.vary, spec.vary_y) == ("heatmap", "beta", "lam")
    assert spec.grid_y == pytest.approx((1e-4, 1e-3, 1e-2, 1e-1))
    assert spec.base.data.weights == pytest.approx((1 / 3,) * 3)
    assert spec.base.activations == ("gelu",) and spec.base.trials == 10
    config = point_config(spec, {"beta": 0.4, "lam": 1e-3})
    assert (config.data.beta, config.lam, config.data.n, config.k) == (0.4, 1e-3, 400, 400)
    quick = point_config(spec, {"beta": 0.2, "lam": 1e-2}, quick=True)
    assert (quick.data.n, quick.m, quick.k, quick.trials) == (100, 100, 100, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "a b"}, "name must be a file-name-safe"),
        ({"x": {"field": "gamma", "values": [1]}}, "field must be one of"),
        ({"x": {"field": "beta"}}, "exactly one of values"),
        ({"x": {"field": "beta", "linspace": [0, 1]}}, "linspace must be"),
        ({"x": {"field": "beta", "values": [0.1, 0.1]}}, "repeats a value"),
        ({"fixed": {"colour": 1}}, "unknown key 'colour' in [fixed]"),
        ({"kind": "line"}, "needs a [y] table"),
        ({"metric": "loss"}, "metric must be one of"),
        ({"fixed": {"models": ["hermite"]}}, "must include 'nn'"),
        ({"fixed": {"components": 0}}, "components must be a whole number"),
        ({"extra": 1}, "unknown key 'extra' in the spec"),
    ],
)
def test_invalid_specs_name_the_problem(change, message):
    import tomllib

    obj = tomllib.loads(TINY) | change
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        spec_from_dict(obj, "s.toml")


def _write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = [", "not valid TOML"),
        (TINY.replace("alpha = 0.5", "alpha = 1.5"), "alpha"),
        (TINY.replace('["gelu"]', '["nope"]'), "unknown activation"),
        (TINY.replace("logspace = [-3, -2, 2]", 'values = ["a"]'), "must be a finite number"),
    ],
)
def test_cli_invalid_spec_is_one_line_exit_2(tmp_path, capsys, text, message):
    code = main(["sweep", _write(tmp_path, text), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_missing_spec_is_exit_2(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_sweep_end_to_end(tmp_path, capsys):
    spec = _write(tmp_path, TINY)
    assert main(["sweep", spec, "--check"]) == 0
    assert "valid sweep 'tiny-sweep' (heatmap, 4 points)" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(["sweep", spec, "--out", str(out), "--no-progress"]) == 0
    for suffix in ("png", "pdf", "json", "csv", "md"):
        assert (out / f"tiny-sweep.{suffix}").stat().st_size > 0
    data = json.loads((out / "tiny-sweep.json").read_text())
    assert data["kind"] == "heatmap" and (data["vary"], data["vary_y"]) == ("beta", "lam")
    assert sorted((p["coords"]["beta"], p["coords"]["lam"]) for p in data["points"]) == [
        (0.3, 0.001), (0.3, 0.01), (0.4, 0.001), (0.4, 0.01)
    ]
    for point in data["points"]:
        assert point["config"]["data"]["weights"] == pytest.approx([1 / 3] * 3)
        assert len(point["gen"]["gelu|nn"]) == 2 and all(v > 0 for v in point["gen"]["gelu|nn"])


def test_figure_accepts_a_sweep_spec_and_matches_sweep(tmp_path, capsys):
    spec = _write(tmp_path, TINY.replace("values = [0.3, 0.4]", "values = [0.3]").replace(
        "logspace = [-3, -2, 2]", "values = [0.001]"))  # fmt: skip
    assert main(["sweep", spec, "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    assert main(["figure", spec, "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    a, b = (json.loads((tmp_path / d / "tiny-sweep.json").read_text()) for d in ("a", "b"))
    assert [p["gen"] for p in a["points"]] == [p["gen"] for p in b["points"]]
    assert main(["figure", spec, "--activation", "relu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--activation" in err and "sweep spec" in err


def test_figure_all_refuses_workers_with_a_scheduler(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["figure", "all", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1",
              "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "not allowed with" in err
    assert not (tmp_path / "o").exists()


# --- issue 28: `sweep --check` is the whole validation pass, before any point runs -----------

LINE = """
name = "t"
[x]
field = "beta"
values = [0.2, 0.4]
[fixed]
n = 40
k = 30
m = 30
trials = 2
activations = ["relu"]
"""


def _check(tmp_path, capsys, text, name="s.toml"):
    """``onestep sweep SPEC --check``: exit status and the one stderr line."""
    code = main(["sweep", _write(tmp_path, text, name), "--check"])
    err = capsys.readouterr().err
    assert err.count("\n") == (code != 0) and "Traceback" not in err, err
    return code, err


@pytest.mark.parametrize(
    ("fixed", "message"),
    [("alignment = 1.01", "alignment must lie in [-1, 1]"), ("rho = 1.5", "unknown key 'rho'"),
     ("theta = -1", "theta must be >= 0"), ("spikes = -1", "spikes must be >= 0"),
     ("task = 'foo'", "task must be one of"), ("weights = [0.3, 0.3]", "weights must sum to 1"),
     ("k = 40.5", "k must be an integer"), ("k = true", "k must be an integer"),
     ("trials = 2.5", "trials must be an integer"), ("conditional_rank = 1.5", "conditional_rank must be an integer"),
     ("spikes = 1.5", "spikes must be an integer"), ("eta = -5", "eta must be > 0"), ("eta = 0", "eta must be > 0"),
     ("trials = 1000000000000", "exceeds the bound of 200000 point-trials")],
)  # fmt: skip
def test_check_covers_the_data_model_and_types(tmp_path, capsys, fixed, message):
    key = fixed.split(" ")[0]
    text = "\n".join(line for line in LINE.splitlines() if not line.startswith(f"{key} =")) + f"\n{fixed}\n"
    code, err = _check(tmp_path, capsys, text)
    assert code == 2 and message in err, err


@pytest.mark.parametrize(
    ("axis", "message"),
    [('field = "spikes"\nvalues = [1.5, 2.5]', "spikes takes whole numbers"),
     ('field = "k_over_m"\nvalues = [-2, 1]', "k_over_m must be > 0"),
     ('field = "rho"\nvalues = [0.5, 1.5]', "weights must be finite and >= 0"),
     ('field = "beta"\nlinspace = [0, 1, 100000000000000000]', "the bound is 10000 per axis"),
     ('field = "beta"\nvalues = [0.2, 0.3]\nquick = [0.2, 0.2]', "quick repeats a value"),
     ('field = "beta"\nvalues = [0.2]\nlabel = "$\\\\frac{$"', "is not TeX that matplotlib can draw")],
)  # fmt: skip
def test_check_covers_the_grid(tmp_path, capsys, axis, message):
    text = LINE.replace('field = "beta"\nvalues = [0.2, 0.4]', axis)
    code, err = _check(tmp_path, capsys, text)
    assert code == 2 and message in err, err


def test_grid_points_times_trials_are_bounded_before_any_point_is_resolved(tmp_path, capsys):
    import time

    text = LINE.replace('values = [0.2, 0.4]', "linspace = [0, 1, 1000]") + '[y]\nfield = "alpha"\nlinspace = [0, 1, 1000]\n'
    t0 = time.perf_counter()
    code, err = _check(tmp_path, capsys, text.replace('name = "t"', 'name = "t"\nkind = "heatmap"'))
    assert code == 2 and "1000000 points x 2 trials" in err and "bound of 200000" in err
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize(
    ("top", "message"),
    [(f'name = "{"a" * 250}"', "name has 250 characters; at most 100"),
     ("title = '$\\frac{$'", "title '$\\\\frac{$' is not TeX"),
     (f'title = "{"x" * 400}"', "title has 400 characters"), ('title = "a\\nb"', "one line")],
)  # fmt: skip
def test_names_and_titles_are_checked_before_any_point_runs(tmp_path, capsys, top, message):
    text = LINE.replace('name = "t"', top if top.startswith("name") else f'name = "t"\n{top}')
    code, err = _check(tmp_path, capsys, text)
    assert code == 2 and message in err, err


def test_spec_reads_are_bounded(tmp_path, capsys):
    import os
    import time

    os.symlink("/dev/zero", tmp_path / "zero.toml")
    t0 = time.perf_counter()
    assert main(["sweep", str(tmp_path / "zero.toml"), "--check"]) == 2
    assert "not a regular file" in capsys.readouterr().err and time.perf_counter() - t0 < 5
    (tmp_path / "big.toml").write_text("# " + "x" * (2 << 20))
    assert main(["sweep", str(tmp_path / "big.toml"), "--check"]) == 2
    assert "larger than the 1048576-byte limit" in capsys.readouterr().err


def test_a_title_is_escaped_in_the_report():
    from onestep_gm.experiments.figures.report import figure_report

    title = "a_b <i>x</i> $\\alpha_1$"
    spec = spec_from_dict({**__import__("tomllib").loads(LINE), "title": title}, "s.toml")
    assert spec.title == title  # the spec keeps it; the Markdown report escapes it
    saved = Path(__file__).resolve().parents[1] / "docs" / "paper-full" / "fig1a.json"
    data = {**json.loads(saved.read_text()), "title": title}
    assert figure_report(data).splitlines()[0].startswith("## fig1a: a\\_b \\<i\\>x\\</i\\> $\\alpha_1$")
