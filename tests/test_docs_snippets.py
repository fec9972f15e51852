"""Every Python snippet on the site runs from the installed package, outside the repository.

Each ```python block of ``docs/*.md`` is parsed; its imports must resolve in a fresh
interpreter started in an empty folder (``python -I``: no repository on ``sys.path``, so
``from theory.order import ...`` fails as it would for a user), and every ``og.NAME`` /
``onestep_gm.NAME`` it uses must be public.  The fast blocks are also executed there:
``order.md`` (exact theory only).  ``python.md`` is executed block by block by
``tests/test_docs_python.py`` (and on the page by ``docs/hooks/exec_python.py``); the
blocks of ``theory-curves.md`` (n = 1000, tens of seconds) and ``distributed.md`` (a SLURM
cluster) are only import-checked.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
# Third-party modules a page tells the reader to install for that snippet only.
OPTIONAL = {"dask_jobqueue": "distributed.md (SLURM clusters)"}
EXECUTED = {"order.md"}


def snippets() -> list[tuple[str, int, str]]:
    out = []
    for page in sorted(DOCS.glob("*.md")):
        for number, block in enumerate(_BLOCK.findall(page.read_text(encoding="utf-8")), 1):
            out.append((page.name, number, block))
    return out


def _imports(code: str) -> list[tuple[str, list[str]]]:
    """``(module, [names])`` of every import statement (names empty for ``import m``)."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", [alias.name for alias in node.names]))
    return found


def _public_uses(code: str) -> set[str]:
    """``NAME`` of every ``og.NAME`` where ``og`` is ``onestep_gm`` (or an alias of it)."""
    tree = ast.parse(code)
    aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
               for a in n.names if a.name == "onestep_gm"}
    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id in aliases}


_PROBE = r"""
import importlib, json, sys
wanted = json.loads(sys.argv[1])
problems = []
for module, names in wanted:
    try:
        imported = importlib.import_module(module)
    except Exception as error:
        problems.append(f"import {module}: {type(error).__name__}: {error}")
        continue
    for name in names:
        if not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except Exception:
                problems.append(f"from {module} import {name}: no such name")
print(json.dumps(problems))
"""


def _outside(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})


def test_the_site_has_snippets():
    pages = {page for page, _, _ in snippets()}
    assert {"python.md", "order.md", "theory-curves.md"} <= pages


def test_snippets_use_only_the_installed_package(tmp_path):
    wanted, problems = [], []
    for page, number, code in snippets():
        for module, names in _imports(code):
            top = module.split(".")[0]
            if top in ("theory", "numerics", "experiments"):
                problems.append(f"{page} block {number}: imports {module} (use onestep_gm)")
            if top not in OPTIONAL:
                wanted.append((module, names))
    probe = _outside(tmp_path, "-c", _PROBE, json.dumps(sorted(set(map(
        lambda w: (w[0], tuple(w[1])), wanted)))))
    assert probe.returncode == 0, probe.stderr[-2000:]
    problems += json.loads(probe.stdout.strip().splitlines()[-1])
    assert problems == []


def test_snippets_use_only_public_names():
    import onestep_gm

    problems = [f"{page} block {number}: og.{name} is not in onestep_gm.__all__"
                for page, number, code in snippets() for name in sorted(_public_uses(code))
                if name not in onestep_gm.__all__]
    assert problems == []


@pytest.mark.parametrize("page", sorted(EXECUTED))
def test_fast_pages_run_outside_the_repository(tmp_path, page):
    code = "\n".join(block for name, _, block in snippets() if name == page)
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    run = _outside(tmp_path, str(script))
    assert run.returncode == 0, run.stderr[-2000:]
    if page == "order.md":
        assert run.stdout.splitlines()[:2] == ["4", "(2, 3)"]
        assert run.stdout.splitlines()[2].startswith("12.88")
