"""No docstring of the package holds a dated measurement or a timing.

Timings depend on the machine and the day; they live on one page, ``docs/performance.md``,
with their date and machine.  A docstring says what the code does and why, and may point there.
Every docstring is read from the sources (modules, classes, functions, and the string under an
assignment that documents a constant); the lines of doctest examples are left out (an
example's output may print a configured limit such as a budget in seconds).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "numerics", "experiments", "onestep_gm")

DATE = re.compile(r"(?<!\d)20\d\d-[01]\d-[0-3]\d(?!\d)")
_NUMBER = r"(?<![\w.])\d+(?:\.\d+)?(?:\s*(?:-|–|to)\s*\d+(?:\.\d+)?)?"
TIMING = re.compile(
    rf"{_NUMBER}(?:\s*(?:ms|µs|us|ns)\b|\s+(?:s|sec|seconds?|min|minutes?|h|hours?)\b(?![.^]?\w))"
    rf"|{_NUMBER}\s*GFLOP/s"
)


def problems_in(text: str) -> list[str]:
    """The lines of one docstring that hold a date or a timing (doctest lines left out)."""
    found, in_example = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith((">>>", "...")):
            in_example = True
            continue
        if in_example and stripped:
            continue  # an example's expected output
        in_example = False
        if DATE.search(line) or TIMING.search(line):
            found.append(stripped)
    return found


def _docstrings(tree: ast.Module):
    """``(line, text)`` of every docstring of one module, attribute docstrings included."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield node.body[0].lineno, doc
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for before, after in zip(body, body[1:], strict=False):
                if (isinstance(before, (ast.Assign, ast.AnnAssign)) and isinstance(after, ast.Expr)
                        and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
                    yield after.lineno, after.value.value


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_detector_finds_dates_and_timings_and_nothing_else():
    flagged = [
        "LAPACK's syevd (0.10-0.12 s at k = 1000 on 2 cores, measured 2026-12-02)",
        "took 1.83 s instead of 2.05 s",
        "a Cholesky took 70–90 ms instead of 8",
        "the whole kernel took 21 ms",
        "each 5-9 s to compile on 2 cores",
        "measured 2026-11-30 on the shared machine",
        "the engine reached 41.5 GFLOP/s",
        "about 6 s of an 8 s cold start",
    ]
    clean = [
        "agree within 2 s.e. of each other",
        r":math:`M_2 - M_0^2 - M_1^2 s^2`",
        "would not fit in memory at k = M = 1000s",
        "M_0(a, s) = E sigma(a + s g)",
        "the seconds of the run are in ``result.seconds``",
        "Demir & Dogan, ICLR 2025, Theorem 3.2",
    ]
    assert [t for t in flagged if not problems_in(t)] == []
    assert [t for t in clean if problems_in(t)] == []
    assert problems_in(">>> budget(0.05)\nBudgetExceeded: stopped after 0.05 s\n\nText.") == []


def test_every_module_is_read():
    names = {p.relative_to(ROOT).as_posix() for p in _sources()}
    assert {"numerics/ridge.py", "theory/activations.py", "experiments/baseline.py"} <= names
    docs = [d for p in _sources() for _, d in _docstrings(ast.parse(p.read_text(encoding="utf-8")))]
    assert len(docs) > 300
    # attribute docstrings are read too
    trial = ast.parse((ROOT / "numerics" / "trial.py").read_text(encoding="utf-8"))
    assert any("Hermite coefficients a compiled trial" in d for _, d in _docstrings(trial))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_docstring_holds_a_dated_measurement_or_a_timing(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [f"{path.relative_to(ROOT)}:{line}: {hit}"
           for line, doc in _docstrings(tree) for hit in problems_in(doc)]
    assert bad == [], "move these numbers to docs/performance.md (with date and machine):\n" + "\n".join(bad)
