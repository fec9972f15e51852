"""MkDocs hook: typeset every formula at build time as MathML, so the site needs no network.

``pymdownx.arithmatex`` (generic mode) leaves inline math as
``<span class="arithmatex">\\(...\\)</span>`` and display math as
``<div class="arithmatex">\\[...\\]</div>``.  This hook replaces each of them, in the page
body and in the table of contents, by MathML from ``latex2mathml``; Chromium, Firefox and
Safari draw MathML themselves, so no script, font or style is fetched from anywhere.

What ``latex2mathml`` does not cover is rewritten first (``_prepare``):

* ``aligned``/``align`` → ``align*`` (the same right/left column pairs), ``gathered``/
  ``gather``/``gather*`` → a centred one-column ``array`` (MathML Core has no line breaks);
* ``\\big``-family sizes before a command delimiter (``\\Big\\lfloor``) → the delimiter's
  character, which ``latex2mathml`` sizes.

MathML Core ignores ``columnalign`` and ``columnspacing``; ``docs/stylesheets/math.css``
turns them into CSS.  ``_finish`` marks a bare delimiter (``\\lVert``, ``|``, ``(``: an ``<mo>``
without ``stretchy``) ``stretchy="false"``, as in TeX, where only ``\\left``/``\\right``
and ``\\big`` grow; browsers would otherwise stretch it to the height of the whole row.

The build fails (``mkdocs build --strict`` or not) on a formula that does not convert or
whose MathML still shows a TeX command in its text, naming the page and the formula, so
coverage is checked on every build rather than discovered in a browser.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

_ARITHMATEX = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">(?P<body>.*?)</(?P=tag)>', re.DOTALL
)
_DELIMS = {"span": (r"\(", r"\)"), "div": (r"\[", r"\]")}

_ENV_ALIASES = (
    (re.compile(r"\\(begin|end)\{(?:aligned|align)\}"), r"\\\1{align*}"),
    (re.compile(r"\\begin\{(?:gathered|gather\*?)\}"), r"\\begin{array}{c}"),
    (re.compile(r"\\end\{(?:gathered|gather\*?)\}"), r"\\end{array}"),
)
_SIZED_DELIM = re.compile(
    r"\\(?P<size>[bB]igg?[lrm]?)\s*\\(?P<name>lfloor|rfloor|lceil|rceil|langle|rangle|"
    r"lVert|rVert|lvert|rvert|Vert|vert|\{|\}|\|)"
)
_DELIM_CHAR = {
    "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "langle": "⟨",
    "rangle": "⟩", "lVert": "‖", "rVert": "‖", "Vert": "‖", "lvert": "|", "rvert": "|",
    "vert": "|", "{": "{", "}": "}", "|": "‖",
}
_TEX_LEFT = re.compile(r"\\[A-Za-z]+")
_BARE_MO = re.compile(r"<mo>(?P<body>[^<]*)</mo>")
_FENCES = set("()[]{}|‖⌊⌋⌈⌉⟨⟩")


class MathError(ValueError):
    """A formula that the offline typesetter cannot render."""


def _prepare(tex: str) -> str:
    for pattern, replacement in _ENV_ALIASES:
        tex = pattern.sub(replacement, tex)
    return _SIZED_DELIM.sub(lambda m: f"\\{m['size']}{_DELIM_CHAR[m['name']]}", tex)


def _finish(mathml: str) -> str:
    return _BARE_MO.sub(
        lambda m: f'<mo stretchy="false">{m["body"]}</mo>'
        if html.unescape(m["body"]) in _FENCES
        else m.group(),
        mathml,
    )


def to_mathml(tex: str, *, display: bool) -> str:
    """MathML for one formula (without its ``\\(``/``\\[`` delimiters).

    Raises :class:`MathError` when the converter fails or leaves a TeX command in the text.

    >>> to_mathml(r"\\frac{b}{2}", display=False).startswith('<math xmlns=')
    True
    """
    try:
        mathml = convert(_prepare(tex), display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises many kinds; all mean "cannot render"
        raise MathError(f"cannot convert {tex!r}: {type(error).__name__}: {error}") from error
    text = html.unescape(re.sub(r"<[^>]+>", " ", mathml))
    if left := _TEX_LEFT.findall(text):
        raise MathError(f"{tex!r} leaves {sorted(set(left))} as text")
    return _finish(mathml)


def _strip_delimiters(tag: str, body: str) -> str:
    tex = html.unescape(body).strip()
    opening, closing = _DELIMS[tag]
    if not (tex.startswith(opening) and tex.endswith(closing)):
        raise MathError(f"unexpected arithmatex content {tex!r}")
    return tex[len(opening) : -len(closing)].strip()


def typeset(text: str, where: str = "") -> str:
    """Replace every arithmatex span/div in ``text`` by MathML (in a ``math-offline`` wrapper)."""

    def one(match: re.Match) -> str:
        tag = match["tag"]
        tex = _strip_delimiters(tag, match["body"])
        try:
            mathml = to_mathml(tex, display=tag == "div")
        except MathError as error:
            raise MathError(f"{where}: {error}") from None
        return f'<{tag} class="math-offline">{mathml}</{tag}>'

    return _ARITHMATEX.sub(one, text)


def _typeset_toc(items, where: str) -> None:
    for item in items:
        if "arithmatex" in item.title or r"\(" in item.title:
            title = item.title
            if "arithmatex" not in title:  # the toc extension keeps the text, not the span
                title = re.sub(
                    r"\\\((.*?)\\\)",
                    lambda m: f'<span class="arithmatex">\\({m[1]}\\)</span>',
                    title,
                )
            item.title = typeset(title, where)
        _typeset_toc(item.children, where)


def on_page_content(html_text, page, config, files, **kwargs):
    where = page.file.src_uri
    _typeset_toc(page.toc, where)
    return typeset(html_text, where)
