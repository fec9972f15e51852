"""The import contracts of the layers, read from the source (no import is executed).

* ``theory`` imports neither ``numerics``, ``experiments`` nor JAX at module level;
* ``numerics`` imports neither ``experiments`` nor matplotlib (anywhere);
* the module-level import graph of ``onestep_gm`` has no cycle;
* an import inside a function names a heavy or optional module and gives its reason in a
  comment on the same line (or is a lazy import of the package's own heavier layers, which
  keeps ``onestep --help`` and ``onestep order`` fast, and says so).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"theory": "onestep_gm.theory", "numerics": "onestep_gm.numerics",
           "experiments": "onestep_gm.experiments", "onestep_gm": "onestep_gm"}  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


MODULES = _modules()


class _Imports(ast.NodeVisitor):
    def __init__(self):
        self.top: list[tuple[str, int]] = []
        self.nested: list[tuple[str, int]] = []
        self._depth = 0
        self._type_checking = 0

    def _record(self, name: str, line: int):
        (self.nested if self._depth else self.top).append((name, line))

    def visit_FunctionDef(self, node):
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return  # names for type checkers only, never imported at run time
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            self._record(alias.name, node.lineno)

    def visit_ImportFrom(self, node):
        if node.module and node.level == 0:
            self._record(node.module, node.lineno)


def _imports(path: Path) -> _Imports:
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return visitor


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("onestep_gm.theory")])
def test_theory_imports_no_jax_numerics_or_experiments_at_module_level(module):
    bad = [(n, line) for n, line in _imports(MODULES[module]).top
           if any(_under(n, p) for p in ("jax", "jaxlib", "onestep_gm.numerics", "onestep_gm.experiments"))]
    assert not bad, f"{module} imports {bad} at module level"
    nested = [(n, line) for n, line in _imports(MODULES[module]).nested
              if any(_under(n, p) for p in ("onestep_gm.numerics", "onestep_gm.experiments"))]
    assert not nested, f"{module} reaches up into {nested}"


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("onestep_gm.numerics")])
def test_numerics_imports_no_experiments_or_matplotlib(module):
    found = _imports(MODULES[module])
    bad = [(n, line) for n, line in found.top + found.nested
           if _under(n, "onestep_gm.experiments") or _under(n, "matplotlib")]
    assert not bad, f"{module} imports {bad}"


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        targets = set()
        for name, _ in _imports(path).top:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                targets.add(name)
        graph[module] = targets
    return graph


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)


HEAVY_OR_OPTIONAL = ("jax", "jaxlib", "matplotlib", "scipy", "sympy", "mpmath", "tqdm", "threadpoolctl",
                     "dask", "distributed", "marimo", "latex2mathml", "torch", "torchvision",
                     "importlib.metadata", "scienceplots", "platformdirs", "pandas", "onestep_gm")  # fmt: skip


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_inside_functions_are_heavy_or_optional_and_say_why(module):
    path = MODULES[module]
    lines = path.read_text().splitlines()
    problems = []
    for name, line in _imports(path).nested:
        if not any(_under(name, p) for p in HEAVY_OR_OPTIONAL):
            problems.append(f"line {line}: {name} is neither heavy nor optional: import it at the top")
        elif "#" not in lines[line - 1] and not _reason_above(lines, line):
            problems.append(f"line {line}: lazy import of {name} without a reason")
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


def _reason_above(lines: list[str], line: int) -> bool:
    """A comment in the import block that holds ``line`` (consecutive import statements,
    their continuation lines, comment lines and blank lines between import groups), or on
    the line just above it."""

    def in_block(text: str) -> bool:
        t = text.strip()
        return not t or t.startswith(("import ", "from ", "#", ")")) or (t.endswith(",") and " " not in t.rstrip(","))

    for step in (-1, 1):
        i = line - 1 + step
        while 0 <= i < len(lines) and in_block(lines[i]):
            if "#" in lines[i]:
                return True
            i += step
    return False
