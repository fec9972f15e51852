"""The explorer: its offline page (docs/explorer/explore.html) and its plain-Python run.

``make docs-check`` opens the page in Chromium with no network and requires the notebook's
outputs to be drawn; here, without a browser: the committed page loads nothing from a CDN,
was exported with the installed marimo (whose front end the build copies next to it), and
holds the notebook's outputs; ``python examples/explore.py`` prints what it computed, in the
paper's mixture (the default) and in the isotropic setting (``ONESTEP_EXPLORE_DATA=isotropic``),
where its limit value is checked against :func:`onestep_gm.limit_point` computed here.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "explorer" / "explore.html"

_spec = importlib.util.spec_from_file_location("marimo_offline", ROOT / "docs" / "hooks" / "marimo_offline.py")
marimo_offline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(marimo_offline)


def test_page_loads_nothing_from_outside():
    html = PAGE.read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" not in html and "https://cdn" not in html
    assert f"{marimo_offline.FRONTEND}/assets/" in html


def test_page_was_exported_with_the_installed_marimo():
    import marimo

    mark = marimo_offline._VERSION_MARK.search(PAGE.read_text(encoding="utf-8"))
    assert mark is not None and mark["version"] == marimo.__version__, "run `make explorer`"
    _, static = marimo_offline._marimo()
    assert (static / "assets").is_dir()


def test_localise_rewrites_the_cdn_and_marks_the_version():
    html = ('<html><head><script src="https://cdn.jsdelivr.net/npm/@marimo-team/frontend@1.2.3'
            '/dist/assets/index.js"></script></head></html>')
    out = marimo_offline.localise(html)
    assert 'src="marimo-frontend/assets/index.js"' in out and "<!-- marimo-frontend 1.2.3 -->" in out


def test_explorer_script_prints_what_it_computed():
    """Every cell runs (marimo's ``app.run``), the simulated overlay's included; the HTML export
    of the same cells is tests/test_examples.py::test_explorer_exports_headless (slow)."""
    env = dict(os.environ, ONESTEP_EXPLORE_N="100", ONESTEP_EXPLORE_SIMULATE="1", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "explore.py")],
                          capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "Hermite order: order l = 4 (β in (0.6667, 0.7500))" in out
    assert "h_0 = " in out and "h_L* = " in out
    assert "theory at this point: gen_error" in out and "theory curve along m" in out
    assert "simulated (2 trials): nn gen " in out and ", hermite gen " in out
    assert "limit (no sampling)" not in out  # the paper's mixture is outside the limit's corner
    # the finite-size sampling-free theory at the same point (n = k = m = 100, lambda = 1e-4, relu)
    free = re.search(r"^sampling-free theory at this point: gen_error (\S+), train_error (\S+) ", out, re.M)
    import onestep_gm as og

    expected = og.sampling_free_point(og.SimulationConfig(data=og.MixtureSpec(n=100), k=100, m=100, lam=1e-4),
                                      "relu")  # fmt: skip
    assert float(free.group(1)) == pytest.approx(expected.gen_error, rel=1e-8)
    assert float(free.group(2)) == pytest.approx(expected.train_error, rel=1e-8)


def test_explorer_isotropic_setting_prints_the_limit():
    """ONESTEP_EXPLORE_DATA=isotropic at n = 400 (defaults: k = m = n, lambda = 1e-4, relu student
    and teacher, eta_tilde = 1, m_step = n/2): the printed limit is limit_point on the ratios
    written out here (not through the explorer's mapping), and the conditional theory on one
    trained layer lands near it."""
    env = dict(os.environ, ONESTEP_EXPLORE_N="400", ONESTEP_EXPLORE_DATA="isotropic", JAX_PLATFORMS="cpu")
    env.pop("ONESTEP_EXPLORE_SIMULATE", None)
    run = subprocess.Popen([sys.executable, str(ROOT / "examples" / "explore.py")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        import onestep_gm as og  # while the notebook runs: compiling here overlaps with it

        # alpha = m/n, alpha_0 = m_step/n, q = k/n, eta_tilde = eta/k, lambda_c = lambda*m
        expected = og.limit_point(og.IsotropicLimit(
            alpha=1.0, alpha_step=0.5, width=1.0, eta_tilde=1.0, penalty=1e-4 * 400,
            activation="relu", teacher="relu", noise=0.0, readout_init="constant"))
        out, err = run.communicate(timeout=900)
    finally:
        run.kill()
    assert run.returncode == 0, err[-2000:]
    assert "readout constant at initialisation (Cui et al.)" in out
    limit = re.search(r"^limit \(no sampling\) at this point: gen_error (\S+), train_error (\S+)$", out, re.M)
    conditional = re.search(r"^conditional on one trained layer at this point: gen_error (\S+),", out, re.M)
    assert limit and conditional, out
    gen, train, cond = float(limit[1]), float(limit[2]), float(conditional[1])
    assert gen == pytest.approx(expected.gen_error, rel=1e-8)
    assert train == pytest.approx(expected.train_error, rel=1e-8)
    assert math.isfinite(cond) and math.isfinite(gen) and abs(cond / gen - 1) < 0.2
    assert "limit curve along m (gen error): m/k = 0.2: " in out and ", limit curve " in out
