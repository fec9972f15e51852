"""Issue 16, kinds 2-6, through the CLI: bounded resources, strict and whole outputs, Ctrl-C,
data files and messages.  Refusals are one line on stderr, exit 2, within seconds."""

import dataclasses
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from onestep_gm.experiments.cli import main
from onestep_gm.numerics.fashion import FashionSpec, fashion_from_images, read_idx
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig, simulate

ONESTEP = [sys.executable, "-m", "onestep_gm.experiments.cli"]
SMALL = ["--n", "40", "--k", "30", "--m", "30", "--trials", "1", "--activation", "relu"]
HUGE = "1000000000"


QUICK_CONVERGENCE = Path(__file__).resolve().parents[1] / "docs" / "figures" / "theorem" / "convergence-quick.json"


def refused(argv, capsys, *, seconds=5.0) -> str:
    """Run ``argv`` in-process; assert exit 2, one stderr line, no output, within ``seconds``."""
    t0 = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusals
        code = exc.code
    elapsed = time.perf_counter() - t0
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, captured
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert captured.out == ""
    assert elapsed < seconds, f"refused after {elapsed:.1f} s"
    return err


# --- 2. resources are bounded ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "option"),
    [(["simulate", *SMALL, "--n", HUGE], "--n"), (["simulate", *SMALL, "--k", HUGE], "--k"),
     (["simulate", *SMALL, "--m", HUGE], "--m"), (["simulate", *SMALL, "--test-factor", HUGE], "--test-factor"),
     (["curve", "--vary", "m", "--points", HUGE], "--points"), (["curve", "--vary", "m", "--n", HUGE], "--n"),
     (["curve", "--vary", "m", "--m", HUGE], "--m"), (["curve", "--vary", "m", "--k", HUGE], "--k"),
     (["curve", "--vary", "lambda", "--points", HUGE], "--points"),
     (["bench", "--n", HUGE], "--n"), (["bench", "--k", HUGE], "--k"), (["bench", "--wide", "1e9"], "--wide")],
)  # fmt: skip
def test_sizes_that_cannot_fit_are_refused_at_once(argv, option, capsys):
    err = refused(argv, capsys)
    assert f"{option} " in err and "too large" in err and "available" in err
    assert any(unit in err for unit in ("GB", "TB", "PB", "EB"))


def test_huge_component_count_is_refused_before_building_weights(capsys):
    err = refused(["simulate", *SMALL, "--components", HUGE], capsys)
    assert "--components 1000000000" in err and "--n 40" in err
    err = refused(["figure", "fig1a", "--quick", "--components", HUGE], capsys)
    assert "--components 1000000000" in err


# --- 3. outputs are strict and whole ---------------------------------------------------------


def _strict(text: str):
    def no_constant(token):
        raise AssertionError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=no_constant)


def test_curve_at_the_interpolation_threshold(tmp_path, capsys):
    base = ["curve", "--vary", "m", "--lambda", "0", "--n", "60", "--k", "10", "--m", "10",
            "--points", "40", "--trials", "1"]  # fmt: skip
    assert main([*base, "--json", "--out", str(tmp_path / "j")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    out = _strict(captured.out)
    at = out["values"].index(10.0)
    assert out["mean"]["gen_error"][at] is None and out["mean"]["train_error"][at] == 0.0
    assert all(v is not None and v > 0 for i, v in enumerate(out["mean"]["gen_error"]) if i != at)
    assert len(out["notes"]) == 1 and "interpolation threshold" in out["notes"][0]
    assert "m = 10" in out["notes"][0]
    assert main([*base, "--out", str(tmp_path / "t")]) == 0  # text mode: the same outcome
    captured = capsys.readouterr()
    assert captured.err == "" and "note: gen_error is infinite (null) at m = 10" in captured.out
    for folder in ("j", "t"):
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["curve.csv", "curve.png"]


def test_curve_refuses_an_unwritable_target_before_computing(tmp_path, capsys):
    (tmp_path / "curve.png").mkdir()
    err = refused(["curve", "--vary", "m", "--n", "40", "--k", "10", "--m", "10", "--points", "5",
                   "--trials", "1", "--out", str(tmp_path)], capsys)  # fmt: skip
    assert "curve.png" in err and "folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]  # no csv, no tmp


def test_figure_refuses_an_unwritable_target_before_simulating(tmp_path, capsys):
    (tmp_path / "fig1a.pdf").mkdir()
    for ext in ("json", "csv", "md", "png"):
        (tmp_path / f"fig1a.{ext}").write_text("previous")
    err = refused(["figure", "fig1a", "--quick", "--out", str(tmp_path)], capsys)
    assert "fig1a.pdf" in err
    assert all((tmp_path / f"fig1a.{ext}").read_text() == "previous" for ext in ("json", "csv", "md", "png"))
    assert not (tmp_path / ".cache").exists()


def test_report_is_all_or_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "fig1a.md").write_text("## fig1a\n\n![fig1a](fig1a.png)\n")
    (out / "fig1a.png").write_bytes(b"\x89PNG fake")
    docs = tmp_path / "docs"
    (docs / "results.md").mkdir(parents=True)  # the page's path is a folder
    err = refused(["report", "--out", str(out), "--docs", str(docs / "results.md")], capsys)
    assert "results.md" in err
    assert sorted(p.name for p in docs.iterdir()) == ["results.md"]  # no figures/, no tmp
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["report", "--out", "out", "--docs", "page/results.md"]) == 0
    finally:
        os.chdir(cwd)
    assert (tmp_path / "page" / "figures" / "fig1a.png").read_bytes() == b"\x89PNG fake"
    assert "](figures/fig1a.png)" in (tmp_path / "page" / "results.md").read_text()
    assert sorted(p.name for p in (tmp_path / "page").iterdir()) == ["figures", "results.md"]


@pytest.mark.slow  # repeats test_cli_simulate.py::test_simulate_json_contract, which parses strictly too
def test_simulate_json_is_strict(capsys):
    assert main(["simulate", *SMALL, "--model", "nn,hermite", "--json"]) == 0
    out = _strict(capsys.readouterr().out)
    assert out["activations"]["relu"]["nn"]["gen_error"]["mean"] > 0


def test_simulate_json_at_the_threshold_has_null_and_the_reason(capsys):
    argv = ["simulate", *SMALL, "--model", "nn,theory", "--lambda", "0", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = _strict(captured.out)
    theory = out["activations"]["relu"]["theory"]
    assert theory["gen_error"]["mean"] is None and theory["train_error"]["mean"] == 0.0
    assert out["activations"]["relu"]["nn"]["gen_error"]["mean"] > 0
    (note,) = [n for n in out["parameters"]["notes"] if n.startswith("relu/theory")]
    assert "interpolation threshold" in note and "null" in note
    assert captured.err == ""


# --- 5. Ctrl-C -------------------------------------------------------------------------------


# From 0.25 s: before ~0.05-0.15 s (more on a loaded machine) the interpreter is still in its own
# start-up (site, the editable-install finder), where no program code can catch an interrupt.
@pytest.mark.parametrize("delay", [0.25, 0.5, 1.0, 2.0, 4.0])
def test_sigint_at_any_moment_is_one_line_and_130(delay, tmp_path):
    argv = [*ONESTEP, "simulate", "--n", "40", "--k", "30", "--m", "30", "--trials", "100000",
            "--activation", "relu", "--json", "--cache-dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.perf_counter() - sent < 5
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err, err
    assert out == ""
    assert list(tmp_path.iterdir()) == []  # nothing partial: no entry, no temporary


def test_sigint_message_mentions_a_cache_only_where_there_is_one():
    proc = subprocess.Popen([*ONESTEP, "simulate", *SMALL, "--trials", "100000", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip() == "onestep simulate: interrupted"


# --- 6. data files ---------------------------------------------------------------------------


def _idx(array: np.ndarray, magic: int) -> bytes:
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic.to_bytes(4, "big") + dims + array.astype(np.uint8).tobytes()


def _dataset(folder: Path, train_side=28, test_side=28, n_train=6, n_test=4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, side, count in (("train", train_side, n_train), ("t10k", test_side, n_test)):
        images = rng.integers(0, 256, (count, side, side))
        (folder / f"{stem}-images-idx3-ubyte").write_bytes(_idx(images, 0x803))
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(_idx(np.arange(count) % 2, 0x801))
    return folder


def _figure_with_data(folder: Path, capsys) -> str:
    return refused(["figure", "fig3a", "--quick", "--data-dir", str(folder), "--out",
                    str(folder / "out")], capsys, seconds=15)  # fmt: skip


def test_images_not_28_by_28_are_named(tmp_path, capsys):
    err = _figure_with_data(_dataset(tmp_path / "d", train_side=20, test_side=20), capsys)
    assert "train-images-idx3-ubyte" in err and "(20, 20)" in err and "(N, 28, 28)" in err


def test_train_and_test_of_different_shapes_are_named(tmp_path, capsys):
    err = _figure_with_data(_dataset(tmp_path / "d", test_side=32), capsys)
    assert "t10k-images-idx3-ubyte" in err and "(32, 32)" in err and "(N, 28, 28)" in err


def test_zero_item_file_is_named(tmp_path, capsys):
    err = _figure_with_data(_dataset(tmp_path / "d", n_test=0), capsys)
    assert "t10k-images-idx3-ubyte" in err and "no items" in err and "(N, 28, 28)" in err


def test_gzip_bomb_is_stopped_at_the_header_size(tmp_path):
    header_and_data = _idx(np.zeros((10, 28, 28)), 0x803)
    path = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(header_and_data)
        for _ in range(200):  # 200 MB of zeros after the announced data: ~200 kB compressed
            fh.write(bytes(1 << 20))
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="trailing bytes") as info:
        read_idx(path, (28, 28))
    assert time.perf_counter() - t0 < 2.0 and str(path) in str(info.value)


def test_identical_images_are_not_passed_by_rounding():
    rng = np.random.default_rng(0)
    same = np.full((50, 784), 0.1 + 0.2)  # 0.30000000000000004: rounding in the class mean
    with pytest.raises(ValueError, match="class 2 of the pair has identical images"):
        fashion_from_images(rng.uniform(size=(50, 784)), same)


def test_pool_smaller_than_one_trial_is_refused(tmp_path):
    folder = _dataset(tmp_path / "d", n_train=40, n_test=20)
    config = SimulationConfig(data=FashionSpec(data_dir=str(folder)), k=20, m=20, trials=1,
                              activations=("relu",), order=5)  # fmt: skip
    with pytest.raises(ValueError, match="each class has 30 images but one trial draws about 70"):
        simulate(config)


# --- 6. messages -----------------------------------------------------------------------------


def test_x_alone_is_the_identity(capsys):
    assert main(["hermite", "--activation", "x", "--b", "2", "--order", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [float(h) for h in out["h"]] == [0.0, 2.0, 0.0]  # E[bz He_j(z)]: only h_1 = b


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["hermite", "--activation", "x**(-3)", "--b", "1", "--order", "3"], ["σ", "x = 0", "= ∞"]),
     (["simulate", *SMALL, "--eta", "1e300"], ["eta = 1e+300", "overflow"]),
     (["simulate", *SMALL, "--noise", "1e300"], ["noise = 1e+300", "overflow"]),
     (["simulate", *SMALL, "--activation", "sqrt(x)"], ["sqrt(x)", "not real"]),
     (["simulate", *SMALL, "--activation", "exp(x**2)"], ["σ grows too fast", "exp(1.0 x²)"]),
     (["simulate", *SMALL, "--seed", "99999999999999999999"], ["--seed", "2**32 - 1"]),
     (["curve", "--vary", "m", "--seed", "-1"], ["--seed", "outside"]),
     (["figure", "fig1a", "--sizes", "500", "--out", "never"], ["--sizes", "order and convergence", "fig1a"]),
     (["figure", "order", "--sizes", "4", "--out", "never"], ["--sizes", "below 8"]),
     (["figure", "convergence", "--sizes", "250,250", "--out", "never"], ["--sizes", "repeats"]),
     (["figure", "convergence", "--sizes", "250,x", "--out", "never"], ["--sizes", "'x'"]),
     (["figure", "fig1a", "--reuse", "old.json", "--out", "never"], ["--reuse", "order and convergence", "fig1a"]),
     (["figure", "order", "--reuse", "no/such.json", "--out", "never"], ["--reuse no/such.json", "cannot read"]),
     (["figure", "convergence", "--reuse", str(QUICK_CONVERGENCE), "--out", "never"],
      ["trials = 2, this run with 8", "cannot be reused"]),
     (["figure", "order", "--reuse", str(QUICK_CONVERGENCE), "--out", "never"], ["holds no order figure"])],
)  # fmt: skip
def test_messages_name_the_input_and_the_reason(argv, words, capsys):
    err = refused(argv, capsys, seconds=15)
    assert "use lambda > 0" not in err and "Python int too large" not in err
    for word in words:
        assert word in err, err


def test_library_refuses_bad_seed_and_overflowing_eta():
    with pytest.raises(ValueError, match="seed must be an integer in 0 .. 2"):
        simulate(SimulationConfig(data=MixtureSpec(n=30), k=20, m=20, seed=2**40))
    with pytest.raises(ValueError, match="eta = 1e\\+300 would overflow"):
        simulate(SimulationConfig(data=MixtureSpec(n=30), k=20, m=20, eta=1e300))


# Polynomial products used to stall the exact route: above MAX_EXACT_DEGREE it is skipped.
STALLS = [["hermite", "--b", "1", "--order", "3"], ["moments"], ["simulate", *SMALL[:-2], "--json"]]


@pytest.mark.parametrize("expr", ["(x+1)**64", "Abs(x-1)**63*Abs(x+1)**63"])
@pytest.mark.parametrize("argv", [STALLS[0]] + [pytest.param(a, marks=pytest.mark.slow) for a in STALLS[1:]])
def test_polynomial_products_come_back_within_seconds(argv, expr):
    try:
        proc = subprocess.run([*ONESTEP, *argv, "--activation", expr], capture_output=True,
                              text=True, timeout=15)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"onestep {argv[0]} --activation {expr} ran past 15 s")
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr


# --- issue 28 ---------------------------------------------------------------------------------


def test_sigterm_is_ctrl_c(tmp_path):
    """SIGTERM (kill, a batch system's stop) ends like Ctrl-C: one line, exit 130, nothing partial."""
    argv = [*ONESTEP, "simulate", *SMALL, "--trials", "100000", "--json", "--cache-dir", str(tmp_path)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.perf_counter() - sent < 5
    lines = err.strip().splitlines()
    assert proc.returncode == 130 and len(lines) == 1 and lines[0].startswith("onestep simulate: interrupted"), err
    assert out == "" and list(tmp_path.iterdir()) == []


def test_the_theory_model_alone_is_the_theory_line_of_a_full_run(capsys):
    config = SimulationConfig(data=MixtureSpec(n=24), k=20, m=20, trials=2, activations=("relu",),
                              models=("nn", "theory"))  # fmt: skip
    both = simulate(config)
    alone = simulate(dataclasses.replace(config, models=("theory",)))
    assert set(alone.gen) == {("relu", "theory")}
    np.testing.assert_allclose(alone.gen[("relu", "theory")], both.gen[("relu", "theory")], rtol=1e-12)
    np.testing.assert_allclose(alone.train[("relu", "theory")], both.train[("relu", "theory")], rtol=1e-12)
    assert main(["simulate", "--n", "24", "--k", "20", "--m", "20", "--trials", "1", "--activation", "relu",
                 "--model", "theory", "--json"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert list(data["activations"]["relu"]) == ["theory"] and data["parameters"]["models"] == ["theory"]
    assert data["activations"]["relu"]["theory"]["gen_error"]["mean"] > 0


def test_huge_noise_is_refused_where_the_spread_would_overflow(capsys):
    err = refused(["simulate", *SMALL, "--noise", "1e150"], capsys)
    assert "noise = 1e+150" in err and "noise <= 1e+75" in err


def test_an_unusable_cache_folder_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    from onestep_gm.experiments import results

    (tmp_path / "file").write_text("")
    monkeypatch.setattr("onestep_gm.numerics.simulation.simulate",
                        lambda *a, **k: pytest.fail("simulated before checking the cache folder"))  # fmt: skip
    config = SimulationConfig(data=MixtureSpec(n=24), k=20, m=20, trials=1, activations=("relu",))
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        results.simulate_cached(config, cache_dir=tmp_path / "file")
    err = refused(["simulate", *SMALL, "--cache-dir", str(tmp_path / "file")], capsys)
    assert "is not a folder" in err


def test_a_tiny_memory_limit_is_named(capsys, monkeypatch):
    monkeypatch.setenv("ONESTEP_MEMORY_LIMIT", "1K")
    err = refused(["simulate", *SMALL, "--model", "nn,hermite"], capsys)
    assert "ONESTEP_MEMORY_LIMIT=1K" in err and "--models" not in err


def test_reuse_reads_are_bounded(tmp_path, capsys):
    err = refused(["figure", "order", "--quick", "--reuse", "/dev/zero", "--out", str(tmp_path / "o")], capsys)
    assert "not a regular file" in err
    assert not (tmp_path / "o").exists()
