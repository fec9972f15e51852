"""The Python guide (docs/python.md) runs: every ```python block, in order, in one session.

The blocks run through the same runner that puts their output on the page at build time
(``docs/hooks/exec_python.py``: a fresh ``python -I`` in an empty folder, so the installed
package, not the repository, is what runs), and the outputs say what the guide promises.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "python.md"

_spec = importlib.util.spec_from_file_location("exec_python", ROOT / "docs" / "hooks" / "exec_python.py")
exec_python = importlib.util.module_from_spec(_spec)
sys.modules["exec_python"] = exec_python
_spec.loader.exec_module(exec_python)


def python_blocks(text: str) -> list[str]:
    return exec_python.BLOCK.findall(text)


def test_block_extraction_finds_every_fence():
    text = "intro\n```python\na = 1\n```\ntext\n```console\n$ x\n```\n```python\nb = a + 1\n```\n"
    assert python_blocks(text) == ["a = 1\n", "b = a + 1\n"]


def test_render_puts_output_and_figures_under_their_block():
    text = ("```python\nprint('hello')\n```\n\nprose\n\n```python\nimport matplotlib.pyplot as plt\n"
            "plt.plot([0, 1])\nx = 2\n```\n\n```python\nprint(x + 1)\n```\n")
    blocks = python_blocks(text)
    results = exec_python.run_blocks(blocks)
    assert [r["stdout"] for r in results] == ["hello\n", "", "3\n"]
    assert [len(r["images"]) for r in results] == [0, 1, 0]
    each = iter(results)
    rendered = exec_python.BLOCK.sub(
        lambda m: m.group(0) + "\n\n" + exec_python._output(next(each)), text)
    assert rendered.count('title="Output"') == 2 and rendered.count("data:image/png;base64,") == 1


def test_a_failing_block_is_reported():
    results = exec_python.run_blocks(["a = 1\n", "raise ValueError('boom')\n", "print(a)\n"])
    assert len(results) == 2 and "ValueError: boom" in results[1]["error"]


def test_guide_blocks_run_in_order():
    text = GUIDE.read_text(encoding="utf-8")
    blocks = python_blocks(text)
    # One block at least per layer the guide covers; a fence typo would drop blocks silently.
    assert len(blocks) >= 13, len(blocks)
    assert text.count("```python") == len(blocks)
    assert text.startswith("---\nexecute: true\n---\n")  # the build shows the outputs
    # The hook's own runner and cache: the site build (``make test`` builds it first, and
    # test_docs_api's ``site`` fixture) and this test share one execution of the guide per
    # state of the sources; ``execute`` raises on a failing block and caches only clean runs.
    _, results = exec_python.execute(text, "python.md")
    for number, result in enumerate(results, 1):
        assert result["error"] is None, f"block {number}: {result['error']}"
    assert len(results) == len(blocks)
    out = [r["stdout"] for r in results]
    # What the guide's comments promise the reader.
    assert out[0] == "4\n"
    assert out[2].splitlines() == ["4 (0.6666666666666666, 0.75)", "True (4, 5)", "None"]
    assert out[4].splitlines()[0] == "exact"
    relu = dict(line.split(" ", 1) for line in out[4].splitlines()[1:5])
    b = float(re.search(r"b = ([0-9.]+)", out[3]).group(1))
    assert abs(float(relu["1"].split()[0]) - b / 2) < 1e-6  # ReLU: h_1 = b/2
    assert out[5].splitlines()[1].startswith("numeric")
    assert {line.split()[0] for line in out[7].splitlines()[:4]} == {
        "nn", "hermite", "conditional", "theory"}
    assert [len(r["images"]) for r in results].count(1) == 1  # the custom plot
    assert "m =     50:" in "".join(out) and "h_star" in "".join(out)
    # Your own activations (the last two blocks): the closed form of x**3 - 2x at b = 1/2, the
    # scope's end, a JAX tanh equal to the built-in one in every model, one line of refusal
    assert out[-2].splitlines() == ["exact [0.0, -0.625, 0.0, 0.75]", "cubic is unknown again after the block"]
    numeric = out[-1].splitlines()
    assert numeric[0].startswith("numeric") and float(numeric[0].split()[1]) < 1e-12
    for line in numeric[3:6]:
        _, built_in, mine = line.split()
        assert abs(float(built_in) - float(mine)) < 1e-9 * abs(float(built_in))
    assert "'my_tanh' is numeric" in numeric[6]
