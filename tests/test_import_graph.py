"""The import contracts of the layers, read from the source (no import is executed).

* ``theory`` imports neither ``numerics``, ``experiments`` nor JAX, anywhere (SymPy and mpmath only);
* ``numerics`` imports neither ``experiments`` nor matplotlib (anywhere);
* imports flow experiments → numerics → theory: no layer imports one above it, anywhere;
* no module imports another module's private (underscore) name;
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
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            found[".".join([package, *(p for p in parts if p != "__init__")])] = path
    return found


MODULES = _modules()


class _Imports(ast.NodeVisitor):
    def __init__(self):
        self.top: list[tuple[str, int]] = []
        self.nested: list[tuple[str, int]] = []
        self.names: list[tuple[str, str, int]] = []  # (module, imported name, line), anywhere
        self.aliases: set[str] = set()  # names bound to the package's modules (from pkg import mod)
        self.private_attributes: list[tuple[str, str, int]] = []  # mod._name
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
            for alias in node.names:
                self.names.append((node.module, alias.name, node.lineno))
                if f"{node.module}.{alias.name}" in MODULES:
                    self.aliases.add(alias.asname or alias.name)

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id in self.aliases:
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                self.private_attributes.append((node.value.id, node.attr, node.lineno))
        self.generic_visit(node)


def _imports(path: Path) -> _Imports:
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return visitor


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("onestep_gm.theory")])
def test_theory_imports_no_jax_anywhere(module):
    found = _imports(MODULES[module])
    bad = [(n, line) for n, line in found.top + found.nested if _under(n, "jax") or _under(n, "jaxlib")]
    assert not bad, f"{module} imports JAX: {bad} (theory/ is SymPy and mpmath only)"


LAYERS = ("onestep_gm.theory", "onestep_gm.numerics", "onestep_gm.experiments")
"""Lowest first: a module may import its own layer and those below it."""


def _layer(name: str) -> int | None:
    return next((i for i, p in enumerate(LAYERS) if _under(name, p)), None)


@pytest.mark.parametrize("module", [m for m in MODULES if _layer(m) is not None])
def test_imports_flow_experiments_numerics_theory(module):
    own = _layer(module)
    found = _imports(MODULES[module])
    up = [(n, line) for n, line in found.top + found.nested if (_layer(n) or 0) > own]
    assert not up, f"{module} reaches up into {up}"


def _private_imports(path: Path) -> list[str]:
    found = _imports(path)
    bad = [f"line {line}: from {m} import {name}" for m, name, line in found.names
           if _under(m, "onestep_gm") and name.startswith("_") and not name.startswith("__")]  # fmt: skip
    bad += [f"line {line}: {n}" for n, line in found.top + found.nested
            if _under(n, "onestep_gm") and any(p.startswith("_") for p in n.split(".")[1:])]  # fmt: skip
    bad += [f"line {line}: {mod}.{name}" for mod, name, line in found.private_attributes]
    return bad


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_is_imported_across_modules(module):
    bad = _private_imports(MODULES[module])
    assert not bad, f"{module} imports private names: {bad}"


def test_the_private_import_check_sees_one(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("from onestep_gm.theory import kernels\n\ndef f():\n    from onestep_gm.theory.kernels import _tidy\n"
                    "    return kernels._tidy\n")
    assert _private_imports(path) == ["line 4: from onestep_gm.theory.kernels import _tidy", "line 5: kernels._tidy"]


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
