"""Issue 28, kind 1: one validation pass before any work, for the Python API.

Integers are integers (bools and 20.5 are not), every refusal is a ``TypeError`` or
``ValueError`` subclass whose message starts with the field's name, and nothing is computed
before the checks (the refusals come back within a second, before any compilation)."""

import os
import re
import time

import jax
import numpy as np
import pytest
from onestep_gm.experiments.figures.runner import run_figure
from onestep_gm.numerics.config import validate
from onestep_gm.numerics.learning import learning_curve
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.prediction import predict
from onestep_gm.numerics.ridge import ridge_equivalent
from onestep_gm.numerics.simulation import SimulationConfig, trained_layer
from onestep_gm.numerics.validation import (
    FieldTypeError,
    check_array,
    check_int,
    check_real,
    escape_markdown,
    read_text_bounded,
)

SMALL = dict(data=MixtureSpec(n=20), k=20, m=20, trials=1, activations=("relu",))


def _refused(call, kind, field):
    """``call()`` raises ``kind`` naming ``field`` first, quickly."""
    t0 = time.perf_counter()
    with pytest.raises(kind) as info:
        call()
    assert time.perf_counter() - t0 < 5
    assert str(info.value).startswith(field), str(info.value)
    return str(info.value)


def test_integers_are_integers_and_bools_are_not():
    assert check_int("k", 20) == 20 and check_int("k", np.int64(3)) == 3
    for bad in (True, 20.5, 20.0, "20", None, 1 + 0j):
        _refused(lambda bad=bad: check_int("k", bad), TypeError, "k")
    _refused(lambda: check_int("k", 0, 1), ValueError, "k must be >= 1")
    assert check_real("lam", 0) == 0.0
    for bad in (float("nan"), float("inf"), 10**400):
        _refused(lambda bad=bad: check_real("lam", bad), ValueError, "lam")
    _refused(lambda: check_real("lam", "1e-3"), TypeError, "lam")
    _refused(lambda: check_real("eta", 0.0, 0, lo_open=True), ValueError, "eta must be > 0")
    # the type errors are also ValueErrors: callers that catch ValueError for bad input still do
    assert issubclass(FieldTypeError, TypeError) and issubclass(FieldTypeError, ValueError)


def test_arrays_are_real_finite_and_of_their_shape():
    assert check_array("F_hat", [[1, 2]], shape=(None, 2)).dtype == np.float64
    _refused(lambda: check_array("F_hat", np.ones((2, 2)) + 0j), TypeError, "F_hat")
    _refused(lambda: check_array("F_hat", [["a"]]), TypeError, "F_hat")
    _refused(lambda: check_array("F_hat", np.ones((2, 3)), shape=(None, 2)), ValueError, "F_hat must have shape")
    _refused(lambda: check_array("F_hat", np.zeros((0, 2)), shape=(None, 2)), ValueError, "F_hat is empty")
    _refused(lambda: check_array("F_hat", [[np.nan]]), ValueError, "F_hat has NaN")


@pytest.mark.parametrize(
    ("changes", "kind", "field"),
    [({"k": True}, TypeError, "k"), ({"k": 20.5}, TypeError, "k"), ({"k": "20"}, TypeError, "k"),
     ({"m": 20.5}, TypeError, "m"), ({"conditional_rank": 1.5}, TypeError, "conditional_rank"),
     ({"test_factor": 2.5}, TypeError, "test_factor"), ({"trials": True}, TypeError, "trials"),
     ({"seed": 1.5}, TypeError, "seed"), ({"order": 3.0}, TypeError, "order"),
     ({"data": None}, TypeError, "data"), ({"activations": "relu"}, TypeError, "activations"),
     ({"eta": -5.0}, ValueError, "eta"), ({"eta": 0.0}, ValueError, "eta"), ({"eta": float("nan")}, ValueError, "eta"),
     ({"lam": float("inf")}, ValueError, "lam"), ({"lam": -1.0}, ValueError, "lam"),
     ({"trials": 10**12}, ValueError, "trials"), ({"k": 0}, ValueError, "k"),
     ({"data": MixtureSpec(n=20, noise=1e150)}, ValueError, "noise"),
     ({"data": MixtureSpec(n=True)}, TypeError, "n"), ({"data": MixtureSpec(n=20, spikes=1.5)}, TypeError, "spikes"),
     ({"data": MixtureSpec(n=20, alignment=1.01)}, ValueError, "alignment"),
     ({"data": MixtureSpec(n=20, theta=-1.0)}, ValueError, "theta"),
     ({"data": MixtureSpec(n=20, spikes=-1)}, ValueError, "spikes"),
     ({"data": MixtureSpec(n=20, task="foo")}, ValueError, "task"),
     ({"data": MixtureSpec(n=20, weights=(0.3, 0.3))}, ValueError, "weights"),
     ({"data": MixtureSpec(n=20, equal_trace=1)}, TypeError, "equal_trace"),
     ({"data": MixtureSpec(n=20, noise=float("nan"))}, ValueError, "noise")],
)  # fmt: skip
def test_configuration_refuses_each_field_by_name(changes, kind, field):
    _refused(lambda: validate(SimulationConfig(**{**SMALL, **changes})), kind, field)


def test_the_prediction_api_checks_types_shapes_and_finiteness():
    with jax.enable_x64():
        mixture = MixtureSpec(n=6).realise(0)
        F = np.ones((4, 6)) / 6
        for bad, kind, field in [
            (np.full((4, 6), np.nan), ValueError, "F_hat has NaN"), (np.full((4, 6), np.inf), ValueError, "F_hat"),
            (F + 0j, TypeError, "F_hat"), (np.zeros((4, 7)), ValueError, "F_hat must have shape"),
            (np.zeros(6), ValueError, "F_hat"), (np.zeros((0, 6)), ValueError, "F_hat is empty"),
        ]:  # fmt: skip
            _refused(lambda bad=bad: predict(bad, mixture, "relu", 1e-3, 20), kind, field)
        _refused(lambda: predict(F, mixture, "relu", float("inf"), 20), ValueError, "lam")
        _refused(lambda: predict(F, mixture, "relu", 1e-3, 2.5), TypeError, "m")
        _refused(lambda: predict(F, None, "relu", 1e-3, 20), TypeError, "mixture")
        A = np.arange(9.0).reshape(3, 3)
        _refused(lambda: ridge_equivalent(A, np.ones(3), 1.0, 1e-3, 10), ValueError, "Omega must be symmetric")
        _refused(lambda: ridge_equivalent(-np.eye(3), np.ones(3), 1.0, 1e-3, 10), ValueError, "Omega must be positive")
        _refused(lambda: ridge_equivalent(np.eye(3), np.ones(4), 1.0, 1e-3, 10), ValueError, "u must have shape (3,)")
        _refused(lambda: ridge_equivalent(np.ones(3), np.ones(3), 1.0, 1e-3, 10), ValueError, "Omega must be a square")
        _refused(lambda: ridge_equivalent(np.eye(3), np.ones(3), 1.0, float("inf"), 10), ValueError, "lam")
        # a symmetric PSD Omega passes: the closed form for Omega = I, u = c*1 (w_* = u, kappa > 0)
        out = ridge_equivalent(np.eye(3), np.full(3, 0.1), 1.0, 1e-3, 1000)
        assert np.isfinite(float(out.gen_error)) and float(out.gen_error) >= 0.5 * (1.0 - 0.03) - 1e-9
        config = SimulationConfig(**SMALL)
        _refused(lambda: learning_curve(config, values="10"), TypeError, "values")
        _refused(lambda: learning_curve(config, points=2.5), TypeError, "points")
        _refused(lambda: learning_curve(config, trials=True), TypeError, "trials")
        _refused(lambda: learning_curve(config, values=[]), ValueError, "values is empty")
        _refused(lambda: learning_curve(config, values=[-1.0, 10.0]), ValueError, "values of m must be > 0")
        _refused(lambda: trained_layer(config, trial="0"), TypeError, "trial")
        _refused(lambda: trained_layer(config, trial=1.5), TypeError, "trial")


def test_run_figure_checks_its_options_before_anything_runs():
    _refused(lambda: run_figure(123), TypeError, "figure")
    _refused(lambda: run_figure("fig1a", quick=True, workers=2.5), TypeError, "workers")
    _refused(lambda: run_figure("fig1a", quick=True, workers=10**20), ValueError, "--workers")
    _refused(lambda: run_figure("fig1a", quick=True, trials=True), TypeError, "trials")
    _refused(lambda: run_figure("fig1a", quick="yes"), TypeError, "quick")
    _refused(lambda: run_figure("order", sizes=(40.5,)), TypeError, "sizes")


def test_file_reads_are_bounded_and_regular_files_only(tmp_path):
    (tmp_path / "ok.txt").write_text("name = 'x'\n")
    assert read_text_bounded(tmp_path / "ok.txt", 100) == "name = 'x'\n"
    (tmp_path / "big.txt").write_text("x" * 101)
    with pytest.raises(ValueError, match="larger than the 100-byte limit of a spec"):
        read_text_bounded(tmp_path / "big.txt", 100, "spec")
    os.symlink("/dev/zero", tmp_path / "zero.toml")
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="not a regular file"):
        read_text_bounded(tmp_path / "zero.toml", 100)
    assert time.perf_counter() - t0 < 1
    (tmp_path / "latin.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not a UTF-8"):
        read_text_bounded(tmp_path / "latin.txt", 100)


def test_markdown_is_escaped_outside_tex():
    assert escape_markdown(r"a_b *c* [x](y) <b> $\alpha_1$") == r"a\_b \*c\* \[x\](y) \<b\> $\alpha_1$"
    assert re.sub(r"\\(.)", r"\1", escape_markdown("|`#")) == "|`#"
