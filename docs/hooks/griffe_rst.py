"""Griffe extension: make the reST bits of our docstrings render in the Markdown site.

The docstrings follow SymPy/NumPy conventions (``:math:`...```, ``.. math::``,
``:func:`...```, doctest lines ``>>>``), which Markdown would show raw or, worse,
read as link references (``['0.5']`` after a ``[...]`` output).  Before rendering,
each docstring is rewritten:

* ``:math:`x``` → ``$x$``; a ``.. math::`` block → ``$$ ... $$`` (typeset to MathML by offline_math.py);
* ``:func:`~a.b``` (and ``:class:``, ``:mod:``, ``:data:``, ``:attr:``, ``:meth:``,
  ``:obj:``, ``:exc:``) → ```a.b``` ;
* a run of doctest lines (``>>>``/``...`` and their output, up to a blank line)
  outside a code fence → a ``pycon`` code fence.

The source files are not touched; the rewrite never raises.
"""

from __future__ import annotations

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


def rewrite(text: str) -> str:
    """The Markdown form of one docstring (see the module docstring)."""
    lines = _doctest_fences(_math_blocks(text.splitlines()))
    text = "\n".join(lines)
    text = _MATH.sub(lambda m: f"${m.group(1)}$", text)
    return _ROLE.sub(lambda m: f"`{m.group(1)}`", text)


class RestToMarkdown(griffe.Extension):
    def on_object(self, *, obj, **kwargs) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is None or not docstring.value:
            return
        try:
            docstring.value = rewrite(docstring.value)
        except Exception:  # noqa: BLE001 - a docstring we cannot rewrite is shown as written
            return
