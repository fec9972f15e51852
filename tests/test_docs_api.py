"""The API reference shows each public parameter's real default.

The reference is rendered by mkdocstrings from what griffe parses, rewritten by our griffe
extension (``docs/hooks/griffe_rst.py``).  Here griffe reads the sources exactly as the
site build does (same extension, same parser), and for every class and function in
``onestep_gm.__all__`` each documented parameter's rendered default is compared with
``inspect.signature`` of the imported object.  One test also builds the site and reads the
defaults out of the public API page's HTML tables.

``python tests/test_docs_api.py`` prints what the docstrings' own text gets wrong (a
``default`` in a type line that disagrees with the signature, a documented parameter that is
not in the signature, a parameter of the signature without an entry): the renderer shows
the signature's defaults regardless, but these are for the docstrings' authors to fix.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "docs" / "hooks" / "griffe_rst.py"
_MISSING = object()


def _load_hook(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


griffe_rst = _load_hook("griffe_rst_under_test", EXTENSION)
docs_hook = _load_hook("onestep_docs_under_test", ROOT / "docs" / "hooks" / "onestep_docs.py")


def _public_objects() -> list[tuple[str, str]]:
    """``(source module, name)`` of every public class and function (not data)."""
    import onestep_gm

    out = []
    for module, names in docs_hook.public_api().items():
        for name in names:
            value = getattr(onestep_gm, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                out.append((module, name))
    return out


@pytest.fixture(scope="module")
def loaded():
    """griffe's view of every module that holds a public name, as the site build sees it."""
    extensions = griffe.load_extensions(f"{EXTENSION}:RestToMarkdown")
    loader = griffe.GriffeLoader(
        search_paths=[str(ROOT)], extensions=extensions,
        docstring_parser=griffe.Parser.numpy, docstring_options={"warnings": False},
    )
    for package in sorted({module.split(".")[0] for module, _ in _public_objects()}):
        loader.load(package)
    loader.resolve_aliases(implicit=False, external=False)
    return loader


def _rendered(loader, module: str, name: str) -> dict[str, object]:
    """``{parameter: rendered default or None}`` of the object's Parameters sections."""
    obj = loader.modules_collection[f"{module}.{name}"]
    rows = {}
    for section in obj.docstring.parsed if obj.docstring else []:
        if section.kind in (griffe.DocstringSectionKind.parameters,
                            griffe.DocstringSectionKind.other_parameters):
            for parameter in section.value:
                rows[parameter.name] = (None if parameter.default is None
                                        else str(parameter.default))
    return rows


def _signature(module: str, name: str) -> dict[str, object]:
    """``{parameter: default or _MISSING}``; a dataclass field's factory counts as ``F()``."""
    value = getattr(importlib.import_module("onestep_gm"), name)
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return {}
    factories = {}
    if dataclasses.is_dataclass(value):
        factories = {f.name: f.default_factory for f in dataclasses.fields(value)
                     if f.default_factory is not dataclasses.MISSING}
    out = {}
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in factories:
            out[parameter.name] = factories[parameter.name]()
        elif parameter.default is inspect.Parameter.empty:
            out[parameter.name] = _MISSING
        else:
            out[parameter.name] = parameter.default
    return out


def _value(rendered: str, module: str):
    """The Python value a rendered default stands for (a literal, or a name of its module)."""
    try:
        return ast.literal_eval(rendered)
    except (ValueError, SyntaxError):
        namespace = vars(importlib.import_module(f"onestep_gm.{module}"))
        return eval(rendered, dict(namespace))  # our own source's default expression


def _mismatches(rendered: dict, signature: dict, module: str) -> list[str]:
    problems = []
    for parameter, shown in rendered.items():
        if parameter not in signature:
            continue  # documented but not in the signature: a docstring text error (see main)
        expected = signature[parameter]
        if expected is _MISSING:
            if shown is not None:
                problems.append(f"{parameter}: shows default {shown}, the signature has none")
            continue
        if shown is None:
            problems.append(f"{parameter}: shows no default, the signature has {expected!r}")
            continue
        try:
            same = _value(shown, module) == expected
        except Exception as error:  # noqa: BLE001
            problems.append(f"{parameter}: rendered default {shown!r} does not evaluate ({error})")
            continue
        if not same:
            problems.append(f"{parameter}: shows {shown}, the signature has {expected!r}")
    return problems


def test_there_are_public_classes_and_functions():
    names = [name for _, name in _public_objects()]
    assert {"SimulationConfig", "MixtureSpec", "hermite_order", "simulate"} <= set(names)
    assert len(names) >= 30


@pytest.mark.parametrize(("module", "name"), _public_objects(), ids=lambda v: str(v))
def test_rendered_defaults_are_the_signature_defaults(loaded, module, name):
    rendered = _rendered(loaded, module, name)
    assert _mismatches(rendered, _signature(module, name), module) == []


def test_shared_entries_get_their_own_default_and_text(loaded):
    """The entries the issue named: ``k, m``, ``trials, seed`` and ``beta, alpha``."""
    config = {p.name: p for s in loaded.modules_collection["numerics.config.SimulationConfig"]
              .docstring.parsed if s.kind is griffe.DocstringSectionKind.parameters for p in s.value}
    assert config["k"].description == "Hidden neurons."
    assert config["m"].description.startswith("Samples of the gradient batch")
    assert config["trials"].description == "Independent trials."
    assert str(config["seed"].default) == "0" and str(config["trials"].default) == "20"
    assert str(config["test"].default) == "None" and "None" in str(config["test"].annotation)
    spec = _rendered(loaded, "numerics.mixture", "MixtureSpec")
    assert (spec["beta"], spec["alpha"]) == ("0.74", "0.5")


def test_split_keeps_shared_text_whole_when_it_cannot_be_divided():
    text = "\n".join([
        "Parameters", "----------",
        "beta, alpha : float", "    Strength and weight, each in [0, 1].",
        "k, m : int", "    Hidden neurons; samples per batch.",
        "Returns", "-------", "z, w : array", "    Nodes; weights.",
    ])
    out = griffe_rst._split_shared_entries(text.splitlines())
    assert out[2:8] == ["beta : float", "    ``beta``, ``alpha``: Strength and weight, each in [0, 1].",
                        "alpha : float", "    ``beta``, ``alpha``: Strength and weight, each in [0, 1].",
                        "k : int", "    Hidden neurons."]
    assert out[8:10] == ["m : int", "    Samples per batch."]
    assert out[-2:] == ["z, w : array", "    Nodes; weights."]  # Returns untouched


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built site (``mkdocs build --strict``, as ``make docs``)."""
    folder = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                    "--site-dir", str(folder)], cwd=ROOT, check=True, capture_output=True)
    return folder


def test_built_python_guide_shows_each_blocks_output(site):
    """docs/hooks/exec_python.py ran the guide: outputs and the figure are on the page."""
    page = (site / "python" / "index.html").read_text(encoding="utf-8")
    outputs = re.findall(r'<span class="filename">Output</span>(.*?)</code></pre>', page, re.S)
    texts = [html.unescape(re.sub(r"<[^>]+>", "", o)).strip() for o in outputs]
    assert len(texts) >= 12
    assert texts[0] == "4" and texts[1].splitlines()[0] == "4 (0.6666666666666666, 0.75)"
    assert page.count('class="exec-figure"') == 1 and "data:image/png;base64," in page


def test_built_page_shows_the_signature_defaults(site):
    """The HTML itself: read the public page's parameter tables."""
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    checked = 0
    for module, name in _public_objects():
        start = page.find(f'id="{module}.{name}"')
        assert start >= 0, f"{module}.{name} is not on the public API page"
        ends = [i for i in (page.find("<h3 ", start), page.find("<h2 ", start)) if i > 0]
        block = page[start: min(ends, default=len(page))]
        table = re.search(r"Parameters:</span></p>\s*<table>(.*?)</table>", block, re.S)
        if table is None:
            continue
        header = re.findall(r"<th>(.*?)</th>", table.group(1))
        rendered = {}
        for row in re.findall(r'<tr class="doc-section-item">(.*?)</tr>', table.group(1), re.S):
            cells = [" ".join(html.unescape(re.sub(r"<[^>]+>", "", c)).split())
                     for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            cell = dict(zip(header, cells, strict=True))
            default = cell.get("Default", "")
            rendered[cell["Name"]] = None if default in ("", "required") else default
        assert _mismatches(rendered, _signature(module, name), module) == [], name
        checked += 1
    assert checked >= 15  # the classes and functions with a Parameters section


# ------------------------------------------------------------ the docstrings' own text

_TYPE_DEFAULT = re.compile(r",\s+default(?: |: |=)(?P<default>.+)$")
_ENTRY = re.compile(r"^(?P<names>[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*:\s*(?P<type>.*)$")


def docstring_text_errors() -> list[str]:
    """What the public docstrings' text says that the signatures contradict."""
    import onestep_gm

    errors = []
    for module, name in _public_objects():
        value = getattr(onestep_gm, name)
        signature = _signature(module, name)
        doc = inspect.getdoc(value) or ""
        lines = doc.splitlines()
        documented = set()
        section = None
        for i, line in enumerate(lines):
            if i + 1 < len(lines) and re.match(r"^-{3,}$", lines[i + 1].strip()):
                section = line.strip().lower()
                continue
            if section not in ("parameters", "other parameters") or line.startswith(" "):
                continue
            if not (entry := _ENTRY.match(line)):
                continue
            names = [n.strip() for n in entry["names"].split(",")]
            documented.update(names)
            for n in names:
                if n not in signature:
                    errors.append(f"{module}.{name}: documents `{n}`, not in the signature")
            if (said := _TYPE_DEFAULT.search(entry["type"])) and names[0] in signature:
                expected = signature[names[0]]
                if str(expected) != said["default"].strip():
                    errors.append(f"{module}.{name}.{names[0]}: type line says default "
                                  f"{said['default']}, the signature has {expected!r}")
        if documented:
            for n in signature:
                if n not in documented:
                    errors.append(f"{module}.{name}: `{n}` is in the signature, not documented")
    return errors


if __name__ == "__main__":
    for error in docstring_text_errors():
        print(error)
