"""Griffe extension: make the reST bits of our docstrings render in the Markdown site.

The docstrings follow SymPy/NumPy conventions (``:math:`...```, ``.. math::``,
``:func:`...```, doctest lines ``>>>``), which Markdown would show raw or, worse,
read as link references (``['0.5']`` after a ``[...]`` output).  Before rendering,
each docstring is rewritten:

* ``:math:`x``` → ``$x$``; a ``.. math::`` block → ``$$ ... $$`` (typeset to MathML by offline_math.py);
* ``:func:`~a.b``` (and ``:class:``, ``:mod:``, ``:data:``, ``:attr:``, ``:meth:``,
  ``:obj:``, ``:exc:``) → ```a.b``` ;
* a run of doctest lines (``>>>``/``...`` and their output, up to a blank line)
  outside a code fence → a ``pycon`` code fence;
* a numpydoc entry naming several parameters (``beta, alpha : float``) → one entry per
  name.  griffe's own parser would give every name the first one's default and the whole
  text; here a text with one ``;``-separated part per name is split between them
  (``k, m : int`` / "Hidden neurons; samples ..." → ``k``: "Hidden neurons.",
  ``m``: "Samples ..."), and any other text is kept whole, led by the names it covers;
* a type ``{"a", "b"} or None`` → ``"a", "b" or None`` (griffe reads the braces as choices
  with the first as default and drops "or None").

After parsing, every documented parameter that is in the signature shows the signature's
default (none when it has none), whatever the docstring's type line says (``float,
default 0.74``, ``{"exact", "sampled"}``): the rendered default cannot disagree with the
code.  ``tests/test_docs_api.py`` compares them with ``inspect.signature``.

The source files are not touched; the rewrite never raises.
"""

from __future__ import annotations

import functools
import re

import griffe

_ROLE = re.compile(r":(?:func|class|mod|data|attr|meth|obj|exc|const):`~?([^`]+)`")
_MATH = re.compile(r":math:`([^`]+)`")


def _math_blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == ".. math::":
            indent = len(line) - len(line.lstrip())
            body: list[str] = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                body.append(lines[i].strip())
                i += 1
            while body and not body[-1]:
                body.pop()
            pad = " " * indent
            out += [f"{pad}$$", *(f"{pad}{b}" for b in body if b), f"{pad}$$", ""]
            continue
        out.append(line)
        i += 1
    return out


def _doctest_fences(lines: list[str]) -> list[str]:
    out: list[str] = []
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        if not in_fence and stripped.startswith(">>>"):
            pad = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += [f"{pad}```pycon", *block, f"{pad}```"]
            continue
        out.append(line)
        i += 1
    return out


_PARAM_SECTIONS = {"parameters", "other parameters", "attributes", "keyword arguments"}
_SHARED = re.compile(r"^(?P<names>[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)+)\s*:\s*(?P<type>.*)$")
# griffe reads ``{"a", "b"} or None`` as the choices "a", "b" with default "a", dropping
# "or None": written without the braces it is a plain type.
_CHOICES_OR = re.compile(r"^(?P<head>\s*[\w, ]+ : )\{(?P<choices>[^{}]+)\}\s+or\s+(?P<rest>.+)$")
_RULE = re.compile(r"^\s*-{3,}\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _split_text(text: str, names: list[str]) -> list[str]:
    """One description per name: the ``;``-separated parts when there is one per name."""
    parts = [part.strip() for part in text.split("; ")]
    if len(parts) == len(names) and all(p and p.count("``") % 2 == 0 for p in parts):
        out = []
        for part in parts:
            part = part[0].upper() + part[1:]
            out.append(part if part.endswith((".", ")", ":")) else part + ".")
        return out
    covers = ", ".join(f"``{name}``" for name in names)
    return [f"{covers}: {text}"] * len(names)


def _split_shared_entries(lines: list[str]) -> list[str]:
    """``a, b : T`` entries of Parameters-like sections → one entry per name."""
    out: list[str] = []
    section: int | None = None  # indentation of the current parameters-like section
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and _RULE.match(lines[i + 1]):
            section = _indent(line) if line.strip().lower() in _PARAM_SECTIONS else None
            out += [line, lines[i + 1]]
            i += 2
            continue
        if section is not None and _indent(line) == section and (alt := _CHOICES_OR.match(line)):
            line = f"{alt['head']}{alt['choices']} or {alt['rest']}"
        match = _SHARED.match(line.strip()) if section is not None else None
        if match and _indent(line) == section:
            body: list[str] = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > section):
                body.append(lines[i])
                i += 1
            trailing = []
            while body and not body[-1].strip():
                trailing.append(body.pop())
            names = [name.strip() for name in match["names"].split(",")]
            pad = " " * section
            inner = " " * (min((_indent(b) for b in body if b.strip()), default=section + 4))
            text = " ".join(b.strip() for b in body if b.strip())
            for name, description in zip(names, _split_text(text, names) if text else [""] * len(names), strict=True):
                out.append(f"{pad}{name} : {match['type']}".rstrip())
                if description:
                    out.append(inner + description)
            out += trailing
            continue
        out.append(line)
        i += 1
    return out


def rewrite(text: str) -> str:
    """The Markdown form of one docstring (see the module docstring)."""
    lines = _doctest_fences(_math_blocks(_split_shared_entries(text.splitlines())))
    text = "\n".join(lines)
    text = _MATH.sub(lambda m: f"${m.group(1)}$", text)
    return _ROLE.sub(lambda m: f"`{m.group(1)}`", text)


_WITH_DEFAULTS = {griffe.DocstringSectionKind.parameters, griffe.DocstringSectionKind.other_parameters}


def signature_defaults(sections: list, parent) -> list:
    """Give each documented parameter of ``parent``'s signature the signature's default."""
    try:
        signature = parent.parameters
    except Exception:  # noqa: BLE001 - no signature (module, attribute): nothing to align
        return sections
    for section in sections:
        if section.kind not in _WITH_DEFAULTS:
            continue
        for parameter in section.value:
            if parameter.name in signature:
                parameter.value = signature[parameter.name].default
    return sections


class _SignatureDocstring(griffe.Docstring):
    """A docstring whose parsed parameters carry their signature's defaults (lazily: a
    dataclass's signature is only known once griffe's dataclasses extension has run)."""

    @functools.cached_property
    def parsed(self) -> list:
        sections = self.parse()
        try:
            return signature_defaults(sections, self.parent)
        except Exception:  # noqa: BLE001 - shown as griffe parsed it
            return sections


class RestToMarkdown(griffe.Extension):
    def on_object(self, *, obj, **kwargs) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is None or not docstring.value:
            return
        try:
            docstring.value = rewrite(docstring.value)
        except Exception:  # noqa: BLE001 - a docstring we cannot rewrite is shown as written
            return
        if type(docstring) is griffe.Docstring:
            docstring.__class__ = _SignatureDocstring
