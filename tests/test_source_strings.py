"""No string literal in the sources holds a control character other than the newline.

A LaTeX command in a docstring that is not raw loses its backslash to a Python escape:
``\\rho`` becomes a carriage return, ``\\text`` a tab, ``\\ast`` a bell (three such docstrings
were found this way).  Sources that need one write it as an escape (``"\\t"``) and list it here.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("theory", "numerics", "experiments", "onestep_gm", "benchmarks", "examples", "tools", "tests")


def test_no_string_literal_holds_a_control_character():
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    bad = sorted({hex(ord(c)) for c in node.value if ord(c) < 32 and c != "\n"})
                    if bad:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {bad}")
    assert not found, found
