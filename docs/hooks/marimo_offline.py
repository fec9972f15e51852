"""The explorer (examples/explore.py, a marimo notebook) as a static page that works offline.

``marimo export html`` writes the notebook's outputs into the page but loads marimo's front
end (JavaScript, CSS, fonts) from jsDelivr, so offline the page stays blank; marimo 0.25 has
no option to inline it, and its WASM export fetches Pyodide from a CDN too.  The front end
ships inside the installed marimo package (``marimo/_static``), so:

* ``python docs/hooks/marimo_offline.py`` (``make explorer``) exports the notebook and
  rewrites the CDN address to ``marimo-frontend/`` next to the page:
  ``docs/explorer/explore.html`` (committed; ``ONESTEP_EXPLORE_N`` sets n);
* as an MkDocs hook, after the build it copies ``marimo/_static`` of the installed marimo
  into ``site/explorer/marimo-frontend/`` (the page was exported with that same version;
  a different installed version is refused, so the page never loads a mismatched front end).

``make docs-check`` opens the page with no network and fails unless the notebook's outputs
are drawn (the order, the coefficient table and the curve's figure).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "explorer" / "explore.html"
FRONTEND = "marimo-frontend"
_CDN = re.compile(r"https://cdn\.jsdelivr\.net/npm/@marimo-team/frontend@(?P<version>[^/]+)/dist")
_VERSION_MARK = re.compile(r"<!-- marimo-frontend (?P<version>\S+) -->")


def _marimo():
    import marimo

    return marimo, Path(marimo.__file__).parent / "_static"


def localise(html: str) -> str:
    """The exported page with marimo's CDN address replaced by the local copy's."""
    versions = set(_CDN.findall(html))
    if len(versions) != 1:
        raise ValueError(f"expected one marimo front-end version in the export, found {versions}")
    (version,) = versions
    html = _CDN.sub(FRONTEND, html)
    return html.replace("<head>", f"<head>\n<!-- marimo-frontend {version} -->", 1)


def export(target: Path = PAGE) -> Path:
    """Export examples/explore.py to ``target`` with the front end made local."""
    target.parent.mkdir(parents=True, exist_ok=True)
    raw = target.with_suffix(".raw.html")
    env = dict(os.environ)
    env.setdefault("ONESTEP_EXPLORE_N", "200")
    subprocess.run([sys.executable, "-m", "marimo", "export", "html",
                    str(ROOT / "examples" / "explore.py"), "-o", str(raw), "-f"],
                   check=True, env=env)
    target.write_text(localise(raw.read_text(encoding="utf-8")), encoding="utf-8")
    raw.unlink()
    return target


def on_post_build(config, **kwargs):
    site_page = Path(config["site_dir"]) / "explorer" / PAGE.name
    if not site_page.exists():
        return
    mark = _VERSION_MARK.search(site_page.read_text(encoding="utf-8"))
    marimo, static = _marimo()
    if mark is None or mark["version"] != marimo.__version__:
        raise RuntimeError(
            f"docs/explorer/{PAGE.name} was exported with marimo "
            f"{mark['version'] if mark else '?'}, the installed marimo is {marimo.__version__}: "
            "run `make explorer` to export it again")
    destination = site_page.parent / FRONTEND
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(static, destination, ignore=shutil.ignore_patterns("*.md", "index.html"))


if __name__ == "__main__":
    print(export())
