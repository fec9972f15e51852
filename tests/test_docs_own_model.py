"""The "Your own model" page (docs/your-own-model.md) runs: every ```python block, in order.

The blocks run through the docs hook's cached runner (``docs/hooks/exec_python.py``: a fresh
``python -I`` in an empty folder, the installed package), as when the site is built; here the
outputs are checked against what the page says they show.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "your-own-model.md"

_spec = importlib.util.spec_from_file_location("exec_python", ROOT / "docs" / "hooks" / "exec_python.py")
exec_python = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("exec_python", exec_python)
_spec.loader.exec_module(exec_python)


def _errors(line: str) -> tuple[float, float]:
    found = re.search(r"gen ([0-9.]+)\s+train ([0-9.]+)", line)
    return float(found.group(1)), float(found.group(2))


def test_page_blocks_run_and_show_what_they_say():
    text = PAGE.read_text(encoding="utf-8")
    assert text.startswith("---\nexecute: true\n---\n")
    blocks = exec_python.BLOCK.findall(text)
    assert len(blocks) == 9 and text.count("```python") == len(blocks)
    _, results = exec_python.execute(text, "your-own-model.md")
    for number, result in enumerate(results, 1):
        assert result["error"] is None, f"block {number}: {result['error']}"
    out = [r["stdout"] for r in results]
    # teachers: three teachers, network and theory line each; the theory within 15 % at toy sizes
    teachers = out[1].split("teacher ")[1:]
    assert len(teachers) == 3
    for chunk in teachers:
        nn, theory = (_errors(line)[0] for line in chunk.splitlines()[1:3])
        assert abs(theory / nn - 1) < 0.15, chunk
    # initialisations: four models, the sampling-free limit within 25 % of the network at n = 100
    models = {line.split()[1]: _errors(line)[0] for line in out[2].splitlines()}
    assert set(models) == {"nn", "hermite", "theory", "limit"}
    assert abs(models["limit"] / models["nn"] - 1) < 0.25
    # covariances, your arrays, a torchvision root: each ran its models
    assert len(out[3].splitlines()) == 2 and len(out[4].splitlines()) == 2
    assert out[5].splitlines()[0] == "n = 784"
    assert out[6].splitlines()[0] == "numeric"
    # Cui et al., quick: test and train MSE per model at two alphas
    assert out[7].count("alpha =") == 2 and "'limit'" in out[7]
    # refusals: four one-line errors, each naming what is wrong
    refusals = out[8].splitlines()
    assert len(refusals) == 4, refusals
    assert "classification" in refusals[0]
    assert "not positive semi-definite" in refusals[1]
    assert "/nonexistent" in refusals[2] and "limit" in refusals[3]
