"""MkDocs hook: run a page's Python blocks at build time and show what each printed and drew.

A page opts in with front matter ``execute: true``.  Its ```python blocks run in order, in
one namespace, in a fresh interpreter started in an empty folder with ``python -I`` (the
repository is not on ``sys.path``: what runs is the installed ``onestep_gm``, as for a
reader).  After each block the page gets

* what the block printed, in a block titled "Output";
* every matplotlib figure still open at its end, as a PNG (150 dpi) embedded in the page
  (a ``data:`` URL: the site stays one folder and works offline), then closed.

A block that raises fails the build, naming the page and block.  Outputs are cached in
``.onestep-cache/docs-exec/`` (gitignored) under a hash of the blocks, the Python version and
every source file of the package, so a rebuild with nothing changed costs nothing and any
change to the code or the page runs it again.  ``tests/test_docs_python.py`` runs the same
runner and checks the outputs; ``tests/test_docs_api.py``'s build checks they are on the page.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".onestep-cache" / "docs-exec"
SOURCES = ("onestep_gm", "theory", "numerics", "experiments")
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)

# Runs in the child: blocks from stdin (JSON), one result per block on stdout (JSON).
_RUNNER = r"""
import base64, contextlib, io, json, sys, traceback
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

blocks = json.load(sys.stdin)
namespace = {"__name__": "__main__"}
results = []
for number, code in enumerate(blocks, 1):
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, f"block {number}", "exec"), namespace)
    except BaseException:
        results.append({"stdout": buffer.getvalue(), "images": [],
                        "error": traceback.format_exc(limit=-3)})
        break
    images = []
    for num in plt.get_fignums():
        figure = plt.figure(num)
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=150, bbox_inches="tight")
        images.append(base64.b64encode(png.getvalue()).decode("ascii"))
        plt.close(figure)
    results.append({"stdout": buffer.getvalue(), "images": images, "error": None})
sys.__stdout__.write("\n@@RESULTS@@" + json.dumps(results))
"""


class ExecError(RuntimeError):
    pass


def _fingerprint(blocks: list[str]) -> str:
    digest = hashlib.sha256(json.dumps(blocks).encode())
    digest.update(sys.version.encode())
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def run_blocks(blocks: list[str], *, timeout: float = 1800) -> list[dict]:
    """Run ``blocks`` in order in one fresh interpreter; ``[{stdout, images, error}]``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["MPLBACKEND"] = "Agg"
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run([sys.executable, "-I", "-c", _RUNNER], input=json.dumps(blocks),
                              capture_output=True, text=True, cwd=folder, env=env,
                              timeout=timeout)
    marker = done.stdout.rfind("@@RESULTS@@")
    if done.returncode != 0 or marker < 0:
        raise ExecError(f"the runner failed (rc {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout[marker + len("@@RESULTS@@"):])


def execute(markdown: str, name: str) -> tuple[list[str], list[dict]]:
    """The blocks of a page and their results (cached; raises ExecError on a failing block)."""
    blocks = BLOCK.findall(markdown)
    key = _fingerprint(blocks)
    cached = CACHE / f"{key}.json"
    if cached.exists():
        return blocks, json.loads(cached.read_text(encoding="utf-8"))
    results = run_blocks(blocks)
    for number, result in enumerate(results, 1):
        if result["error"]:
            raise ExecError(f"{name}: block {number} raised:\n{result['error']}")
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(results), encoding="utf-8")
    return blocks, results


def _output(result: dict) -> str:
    parts = []
    text = result["stdout"].rstrip("\n")
    if text:
        fence = "````" if "```" in text else "```"
        parts.append(f'{fence}text title="Output"\n{text}\n{fence}')
    for image in result["images"]:
        parts.append(f'<img class="exec-figure" alt="figure drawn by the block above" '
                     f'src="data:image/png;base64,{image}">')
    return "\n\n".join(parts)


def render(markdown: str, name: str) -> str:
    """``markdown`` with each Python block followed by its output."""
    blocks, results = execute(markdown, name)
    outputs = iter(results)

    def after(match: re.Match) -> str:
        output = _output(next(outputs))
        return match.group(0) + ("\n\n" + output + "\n" if output else "")

    return BLOCK.sub(after, markdown)


def on_page_markdown(markdown, page, config, files, **kwargs):
    if not (page.meta or {}).get("execute"):
        return markdown
    return render(markdown, page.file.src_uri)
