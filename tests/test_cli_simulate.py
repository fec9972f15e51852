"""`onestep simulate` and `onestep bench` through the CLI: JSON contract and bad input."""

import functools
import json

import pytest
from onestep_gm.experiments.cli import main

SMALL = ["--n", "40", "--k", "30", "--m", "30", "--trials", "2", "--activation", "relu,tanh"]


def _no_constant(token):
    raise AssertionError(f"non-strict JSON token {token}")


def test_simulate_json_contract(capsys):
    assert main(["simulate", *SMALL, "--model", "nn,hermite,conditional", "--json"]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=_no_constant)  # strict: no NaN/Infinity
    assert set(out["activations"]) == {"relu", "tanh"}
    for models in out["activations"].values():
        assert set(models) == {"nn", "hermite", "conditional"}
        for err in models.values():
            assert err["gen_error"]["mean"] > 0 and err["train_error"]["std"] >= 0
    params = out["parameters"]
    assert params["n"] == 40 and params["k"] == 30 and params["seed"] == 0 and params["order"] == 4
    assert "1/2" in out["convention"] and out["seconds"] > 0


def test_simulate_accepts_an_expression_and_explicit_order(capsys):
    assert main(["simulate", *SMALL[:-2], "--activation", "x**2 - tanh(x)", "--order", "7", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["parameters"]["order"] == 7 and "x**2 - tanh(x)" in out["activations"]


@pytest.mark.parametrize(
    "bad",
    [["--k", "0"], ["--beta", "1.5"], ["--lambda", "-1"], ["--activation", "foo"],
     ["--activation", "__import__('os')"], ["--model", "nn,bogus"], ["--alignment", "2"]],
)
def test_simulate_bad_input_one_line_exit_2(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        code = main(["simulate", *SMALL, *bad])
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_beta_one_without_order_is_a_clear_error(capsys):
    assert main(["simulate", *SMALL, "--beta", "1"]) == 2
    assert "order" in capsys.readouterr().err


BENCH = ["bench", "--n", "60", "--k", "40", "--m", "40", "--trials", "1", "--json"]


def test_bench_runs_at_tiny_size(capsys, monkeypatch):
    """Without the wide (dual-solve) and theory timings: each timing compiles trials of its
    own (11 programs in all, ~70 s of XLA compilation on 2 cores); those two run in the slow
    test below, and the dual-solve and theory engines themselves are checked in test_sweep
    and test_curves.  The peak is timed on 200×200 products here, not 2000×2000 (12 of
    them, seconds on 2 cores): the test checks that it is measured, not the machine."""
    from onestep_gm.experiments import bench

    monkeypatch.setattr(bench, "matmul_peak", functools.partial(bench.matmul_peak, size=200))
    # one activation instead of three: each timed program compiles a third of the code; the
    # three-activation engine is what test_sweep checks.  The float32 timings run the float64
    # programs again (already compiled: 3 compilations instead of 6); the float32 engine is
    # test_sweep's (test_float32_products_agree_with_float64_on_the_same_draws,
    # test_float32_engine_samples_the_same_distribution), its timing the slow test's below.
    time_engine = bench._time_engine

    def float64_engine(n, k, m, trials, dtype, **options):
        return time_engine(n, k, m, trials, "float64", **{"activations": ("relu",), **options})

    monkeypatch.setattr(bench, "_time_engine", float64_engine)
    assert main([*BENCH, "--wide", "0", "--no-theory"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["naive_seconds"] > 0 and out["engine_seconds_float64"] > 0
    assert out["matmul_peak_gflops_float64"] > 0 and "wide" not in out and "theory_seconds" not in out
    assert "limit" not in out  # --no-theory skips the limit's timing too


@pytest.mark.slow
def test_bench_with_wide_and_theory_timings(capsys):
    assert main([*BENCH, "--wide", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["naive_seconds"] > 0 and out["engine_seconds_float64"] > 0
    assert out["matmul_peak_gflops_float64"] > 0 and out["wide"]["k"] == 80
    assert set(out["theory_seconds"]) == {"relu", "tanh", "sigmoid"} and min(out["theory_seconds"].values()) > 0
    assert out["limit_mixture"]["heatmap_points"] == 900 and out["limit_mixture"]["point_ms_best"] > 0
    assert 0 < out["limit"]["point_ms_best"] <= out["limit"]["point_ms_median"] and out["limit"]["curve_ms_per_point"] > 0
