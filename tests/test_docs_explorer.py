"""The explorer: its offline page (docs/explorer/explore.html) and its plain-Python run.

``make docs-check`` opens the page in Chromium with no network and requires the notebook's
outputs to be drawn; here, without a browser: the committed page loads nothing from a CDN,
was exported with the installed marimo (whose front end the build copies next to it), and
holds the notebook's outputs; ``python examples/explore.py`` prints what it computed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

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
