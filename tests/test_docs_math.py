"""The offline typesetter (docs/hooks/offline_math.py) and the browser check's text scan."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


math_hook = _load("offline_math", ROOT / "docs" / "hooks" / "offline_math.py")
docs_check = _load("docs_check", ROOT / "tools" / "docs_check.py")


def test_inline_and_display_spans_become_mathml():
    page = ('<p>a <span class="arithmatex">\\(h_j(b) = \\frac{b}{2}\\)</span></p>'
            '<div class="arithmatex">\\[\\mathbb{E}\\left[\\sigma(bz)^2\\right]\\]</div>')
    out = math_hook.typeset(page, "page.md")
    assert "arithmatex" not in out and "\\(" not in out and "\\[" not in out
    assert out.count("<math ") == 2
    assert 'display="inline"' in out and 'display="block"' in out
    assert "<mfrac>" in out and "&#x1D53C;" in out  # the fraction and the blackboard E
    assert 'stretchy="true" fence="true" form="prefix">[' in out  # \left[ grows


def test_aligned_becomes_a_table_with_aligned_columns():
    out = math_hook.to_mathml(r"\begin{aligned} a &= b \\ c &= d \end{aligned}", display=True)
    assert out.count("<mtr>") == 2 and out.count("<mtd") == 4
    assert 'columnalign="right"' in out and 'columnalign="left"' in out


def test_gathered_and_matrices_and_operatorname():
    assert math_hook.to_mathml(r"\begin{gathered} a \\ b \end{gathered}", display=True).count("<mtr>") == 2
    out = math_hook.to_mathml(r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}", display=True)
    assert out.count("<mtd>") == 4
    assert "<mo>erf</mo>" in math_hook.to_mathml(r"\operatorname{erf}(x)", display=False)


def test_sized_command_delimiters_and_bare_norms():
    out = math_hook.to_mathml(r"\Big\lfloor \frac{1}{1-\beta} \Big\rfloor", display=True)
    assert "\\lfloor" not in out and "⌊" in out and "⌋" in out
    # \lVert without \left is not stretchy in TeX; MathML would stretch it to the row.
    out = math_hook.to_mathml(r"\lVert \hat w \rVert^2", display=False)
    assert out.count('<mo stretchy="false">&#x02016;</mo>') == 2


def test_a_formula_that_cannot_be_typeset_fails_the_build():
    with pytest.raises(math_hook.MathError, match=r"page\.md.*\\notacommand"):
        math_hook.typeset('<span class="arithmatex">\\(\\notacommand{x}\\)</span>', "page.md")


def test_text_scan_flags_tex_but_not_code_or_mathml():
    parser = docs_check._Text()
    parser.feed('<p>ok <code>\\(x\\) $HOME</code> <math><mi>\\alpha</mi></math> price $5</p>'
                '<pre>$ onestep order</pre>')
    text = " ".join(parser.text)
    assert not docs_check._TEX.search(text), text
    for raw in ("\\(h_j\\)", "\\[x\\]", "$$x$$", "$x_1$", "\\frac{a}{b}", "$\\beta$"):
        assert docs_check._TEX.search(f"the {raw} here"), raw


def test_pages_hold_no_control_characters():
    """A LaTeX command written through a Python string without ``r`` loses its backslash to an
    escape (``\\tfrac`` became a tab and ``frac``, ``\\beta`` a backspace and ``eta``): no page
    may hold a tab or any other control character but the newline."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    bad = {p.relative_to(ROOT).as_posix(): ch for p in pages for ch in p.read_text()
           if ord(ch) < 32 and ch != "\n"}  # fmt: skip
    assert not bad, bad
