"""Every script in examples/ runs (small sizes), and the marimo explorer runs headless.

The scripts are executed as ``__main__`` with their command-line arguments (``runpy``, in
this process so JAX compiles once); the explorer is exported by ``marimo export html``
(which exits non-zero when a cell fails) in a subprocess.  Expected values come from
closed forms and independent quadrature, not from the code under test.
"""

from __future__ import annotations

import html
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_script(name: str, *argv: str, monkeypatch) -> dict:
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name), *argv])
    monkeypatch.setenv("ONESTEP_EXAMPLE_SMALL", "1")
    namespace = runpy.run_path(str(EXAMPLES / name), run_name="__not_main__")
    return namespace["main"](list(argv))


def test_every_example_is_tested():
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert scripts == {
        "which_order.py", "compare_models.py", "theory_curve.py", "my_activation.py", "explore.py",
        "cui_et_al.py",
    }


def test_cui_et_al(monkeypatch, tmp_path):
    """Cui et al.'s setting at d = 80: their conventions from ours (test MSE = 2 gen_error, train
    MSE below 2 train_error by the penalty), the files, and their published rows beside ours."""
    frame = run_script("cui_et_al.py", "--d", "80", "--seeds", "2", "--alphas", "3", "--out",
                       str(tmp_path), monkeypatch=monkeypatch)
    assert set(frame.model) == {"nn", "hermite", "limit"} and sorted(set(frame.m_over_d)) == [3.0]
    np.testing.assert_array_equal(frame.test_mse, 2 * frame.gen_error)
    assert np.all(frame.train_mse <= 2 * frame.train_error)
    assert set(frame.m) == {240} and set(frame.k) == {80} and set(frame["lambda"]) == {0.01 / 240}
    table = (tmp_path / "cui_setting.md").read_text()
    assert table.count("Cui et al. (their notebook)") == 1 and (tmp_path / "cui_setting.png").stat().st_size > 0


def test_which_order(monkeypatch, capsys):
    rows = run_script("which_order.py", "--beta", "0.3", "0.74", "0.75", "1.0", "--n", "1000",
                      monkeypatch=monkeypatch)
    assert [r["order"] for r in rows] == [2, 4, 5, None]  # 0.75 is a boundary: the higher one
    assert rows[2]["boundary"] is True
    for row in rows[:3]:
        theta = 1000 ** (row["beta"] * 0.5)
        b2 = 1000 / (1000 + theta)
        assert row["second_moment"] == pytest.approx(b2 / 2, rel=1e-12)  # ReLU: E[σ(bz)²] = b²/2
    # ReLU at order 2 keeps h0, h1: h2* ² = b²/2 − b²/(2π) − b²/4 (DESIGN.md closed forms).
    b2 = 1000 / (1000 + 1000 ** 0.15)
    assert rows[0]["h_star"] ** 2 == pytest.approx(b2 / 2 - b2 / (2 * math.pi) - b2 / 4, rel=1e-10)
    assert "no finite order" in capsys.readouterr().out


def test_my_activation(monkeypatch):
    out = run_script("my_activation.py", "--activation", "tanh(x) + 0.1*x**2", "--n", "100",
                     "--trials", "1", monkeypatch=monkeypatch)
    hc = out["hermite"]
    # Independent check: 200-node Gauss-Hermite (probabilists') quadrature of a smooth σ.
    z, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / math.sqrt(2 * math.pi)
    sigma = np.tanh(hc.b * z) + 0.1 * (hc.b * z) ** 2
    for j, h in enumerate(hc.h):
        basis = np.polynomial.hermite_e.hermeval(z, [0] * j + [1])
        assert float(h) == pytest.approx(float(np.sum(w * sigma * basis)), abs=1e-10)
    assert set(out["errors"]) == {"nn", "hermite", "conditional"}
    for errors in out["errors"].values():
        assert 0 < errors["gen_error"]["mean"] < 1


def test_compare_models(monkeypatch, capsys):
    errors = run_script("compare_models.py", "--n", "100", "--trials", "2", monkeypatch=monkeypatch)
    assert set(errors) == {"nn", "hermite", "conditional", "theory"}
    nn = errors["nn"]["gen_error"]["mean"]
    for model in ("hermite", "conditional", "theory"):
        # At n = 100 the equivalents agree with the network to tens of per cent, not to 2x.
        assert 0.5 * nn < errors[model]["gen_error"]["mean"] < 2 * nn, model
    assert "theory" in capsys.readouterr().out


def test_theory_curve(monkeypatch, tmp_path):
    out = run_script("theory_curve.py", "--n", "120", "--points", "12", "--markers", "2",
                     "--trials", "1", "--out", str(tmp_path), monkeypatch=monkeypatch)
    curve = out["curve"]
    assert np.all(np.isfinite(curve["gen_error"])) and np.all(curve["gen_error"] > 0)
    # More readout samples at fixed k never help the train error (interpolation → ridge).
    assert curve["train_error"][-1] > curve["train_error"][0]
    theory_at = np.interp(list(out["simulated"]), curve["values"], curve["gen_error"])
    for predicted, (m, sim) in zip(theory_at, out["simulated"].items(), strict=True):
        assert 0.5 * sim["nn"] < predicted < 2 * sim["nn"], m
    assert (tmp_path / "theory_curve.png").stat().st_size > 10_000


# Slow: the same cells, the simulated overlay's included, run in the default suite through
# ``python examples/explore.py`` (tests/test_docs_explorer.py: both data settings), and the
# committed export is checked there too; this adds marimo's HTML export itself.
@pytest.mark.slow
@pytest.mark.parametrize("data", ["paper", "isotropic"])
def test_explorer_exports_headless(tmp_path, data):
    target = tmp_path / "explore.html"
    env = dict(os.environ, ONESTEP_EXPLORE_N="100", ONESTEP_EXPLORE_SIMULATE="1",
               ONESTEP_EXPLORE_DATA=data, JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-m", "marimo", "export", "html", str(EXAMPLES / "explore.py"),
         "-o", str(target)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    page = html.unescape(target.read_text(encoding="utf-8").encode().decode("unicode_escape",
                                                                            errors="ignore"))
    assert "data:image/png" in page  # the curve cell drew the figure
    if data == "paper":
        assert "Hermite order: order l = 4 (β in" in page  # the order cell ran (β = 0.74 by default)
        assert "Theory update (trained layer, moments, curve): <strong>" in page  # the curve cell ran
    else:
        assert "Hermite order: not used (isotropic data" in page
        assert "conditional on one trained layer: gen " in page  # both curves' values at the point
        assert "limit (no sampling): gen " in page and " ms</strong> for the whole curve" in page
        assert "the limit refuses the paper's Gaussian readout" in page
