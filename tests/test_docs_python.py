"""The Python guide (docs/python.md) runs: every ```python block, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "python.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    return _BLOCK.findall(text)


def test_block_extraction_finds_every_fence():
    text = "intro\n```python\na = 1\n```\ntext\n```console\n$ x\n```\n```python\nb = a + 1\n```\n"
    assert python_blocks(text) == ["a = 1\n", "b = a + 1\n"]


def test_guide_blocks_run_in_order(capsys):
    text = GUIDE.read_text(encoding="utf-8")
    blocks = python_blocks(text)
    # One block at least per layer the guide covers; a fence typo would drop blocks silently.
    assert len(blocks) >= 12, len(blocks)
    assert text.count("```python") == len(blocks)
    namespace: dict = {"__name__": "__guide__"}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{GUIDE.name}[block {number}]", "exec")
        exec(code, namespace)  # an exception fails the test, naming the block
    out = capsys.readouterr().out
    # What the guide's comments promise the reader.
    assert namespace["info"].order == 4
    assert namespace["edge"].boundary and tuple(namespace["edge"].neighbours) == (4, 5)
    assert namespace["hc"].method == "exact"
    assert abs(float(namespace["hc"].h[1]) - namespace["b"] / 2) < 1e-12  # ReLU: h_1 = b/2
    assert namespace["hm"].method == "numeric"
    assert {p.model for p in namespace["result"].gen} == {"nn", "hermite", "conditional", "theory"}
    assert len(namespace["run"].results) == 2
    assert list(namespace["curve"].values) == [50, 150, 450, 1350]
    assert "gen" in out and "h_star" in out
