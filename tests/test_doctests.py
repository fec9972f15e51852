"""The examples in the package's docstrings run and print what they say (``make test``)."""

from __future__ import annotations

import doctest
import importlib

import pytest
from test_import_graph import MODULES

SKIP = {"onestep_gm.experiments.cli.main", "onestep_gm.experiments.cli.__main__"}  # main: its docstring is the help text; __main__ runs the command


@pytest.mark.parametrize("name", sorted(set(MODULES) - SKIP))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)  # fmt: skip
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_doctests_are_found():
    """Guard against a run that passes because it found no example."""
    attempted = sum(
        doctest.testmod(importlib.import_module(name), report=False).attempted
        for name in ("onestep_gm", "onestep_gm.theory.order", "onestep_gm.numerics.codegen")
    )
    assert attempted >= 5
