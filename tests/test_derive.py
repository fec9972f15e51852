"""Tests of ``experiments/derive.py`` and ``onestep derive``.

Expected values are the closed forms of DESIGN.md (ReLU: h_0 = h_2 = b/√(2π),
h_1 = b/2, h_4 = −b/√(2π), E σ(bz)² = b²/2) and independent mpmath quadratures,
never numbers produced by the code under test.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import mpmath as mp
import pytest
import sympy as sp
from onestep_gm.experiments.cli import main
from onestep_gm.experiments.derive import (
    GENERATED_NOTE,
    DeriveSettings,
    default_b,
    h_star,
    latex,
    render_all,
    render_index,
    stale_pages,
    write_pages,
)
from onestep_gm.theory.activations import REGISTRY, X
from onestep_gm.theory.hermite import B, hermite_coefficients
from onestep_gm.theory.order import scalings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return render_all()


def _row(page: str, first_cell: str) -> list[str]:
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row starting with {first_cell!r}")


def _hermite_row(page: str, j: int) -> list[str]:
    section = page.split("## Hermite coefficients", 1)[1].split("## Second moment", 1)[0]
    return _row(section, str(j))


def test_one_page_per_activation_plus_index_and_orders(pages):
    assert set(pages) == {"index.md", "orders.md"} | {f"{name}.md" for name in REGISTRY}
    links = re.findall(r"\]\(([^)]+\.md)\)", pages["index.md"])
    assert sorted(links) == sorted(set(pages) - {"index.md"})


def test_pages_of_this_process_are_the_committed_ones(pages):
    """The pages rendered here, after whatever ran earlier in this process, are the committed
    ``derivations/``; ``make test`` runs ``onestep derive --check`` (a fresh process against
    the same files) before pytest, so a fresh process and this one agree."""
    assert stale_pages(ROOT / "derivations", pages) == [], "run `onestep derive`"
    for text in pages.values():
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "a date makes --check meaningless"


@pytest.mark.slow  # a fresh process against this one: make test's `onestep derive --check` + the test above
def test_output_is_identical_in_a_fresh_process(pages, tmp_path):
    out = tmp_path / "derivations"
    subprocess.run(
        [sys.executable, "-m", "experiments.cli", "derive", "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    written = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.md")}
    assert written == pages


@pytest.fixture
def rendered_once(pages, monkeypatch):
    """``onestep derive`` in this test renders nothing: it gets the module's pages (the
    rendering is what the other tests check; here the command's writing and checking)."""
    import onestep_gm.experiments.derive as derive

    monkeypatch.setattr(derive, "render_all", lambda *a, **k: dict(pages))
    return pages


def test_check_passes_on_fresh_output_and_fails_after_an_edit(rendered_once, tmp_path, capsys):
    out = tmp_path / "derivations"
    assert main(["derive", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["derive", "--check", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "derivations up to date"

    relu = out / "relu.md"
    relu.write_text(relu.read_text(encoding="utf-8").replace("0.5", "0.6", 1), encoding="utf-8")
    (out / "tanh.md").unlink()
    assert main(["derive", "--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "relu.md: stale" in err and "tanh.md: missing" in err
    assert "sigmoid.md" not in err

    assert main(["derive", "--out", str(out)]) == 0
    assert main(["derive", "--check", "--out", str(out)]) == 0


def test_check_flags_pages_that_are_not_generated_any_more(pages, tmp_path):
    for name, text in pages.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "old_activation.md").write_text("# old\n", encoding="utf-8")
    assert stale_pages(tmp_path, pages) == [("old_activation.md", "not generated any more")]


def test_write_removes_only_generated_pages_that_are_gone(tmp_path):
    (tmp_path / "gone.md").write_text(GENERATED_NOTE + "\n# gone\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("# hand-written\n", encoding="utf-8")
    write_pages(tmp_path, {"a.md": "# a\n"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md", "notes.md"]


def test_check_on_a_missing_directory_lists_every_page(pages, tmp_path):
    problems = stale_pages(tmp_path / "absent", pages)
    assert sorted(problems) == sorted((name, "missing") for name in pages)


def test_out_that_is_a_file_is_a_one_line_error(rendered_once, tmp_path, capsys):
    target = tmp_path / "file.md"
    target.write_text("x", encoding="utf-8")
    assert main(["derive", "--out", str(target)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_relu_page_has_the_closed_forms_of_design(pages):
    relu = pages["relu.md"]
    expected = {
        0: B / sp.sqrt(2 * sp.pi),
        1: B / 2,
        2: B / sp.sqrt(2 * sp.pi),
        3: sp.Integer(0),
        4: -B / sp.sqrt(2 * sp.pi),
    }
    for j, closed in expected.items():
        assert _hermite_row(relu, j)[1] == f"${sp.latex(closed)}$", j
    assert f"= {sp.latex(B**2 / 2)}" in relu
    with mp.workdps(30):
        h4_at_one = mp.nstr(-1 / mp.sqrt(2 * mp.pi), 15)
    assert _hermite_row(relu, 4)[2] == h4_at_one


def test_relu_h_star_closed_form_at_b_1(pages):
    # (h_2*)^2 = E σ(z)^2 - h_0^2 - h_1^2 = 1/2 - 1/(2π) - 1/4 = (π - 2)/(4π).
    row = _row(pages["relu.md"].split("## Noise level", 1)[1], "2")
    assert row[1] == f"${sp.latex(sp.sqrt(sp.pi - 2) / (2 * sp.sqrt(sp.pi)))}$"
    with mp.workdps(30):
        assert row[2] == mp.nstr(mp.sqrt(mp.mpf(1) / 4 - 1 / (2 * mp.pi)), 15)


def test_tanh_numbers_match_an_independent_quadrature(pages):
    tanh = pages["tanh.md"]
    with mp.workdps(30):
        def moment(f):
            return mp.quad(lambda z: f(z) * mp.npdf(z), [-mp.inf, 0, mp.inf])

        h1 = moment(lambda z: mp.tanh(z) * z)
        h3 = moment(lambda z: mp.tanh(z) * (z**3 - 3 * z))
        second = moment(lambda z: mp.tanh(z) ** 2)
        expected = [mp.nstr(v, 15) for v in (h1, h3, second)]
    # no closed forms: the table has no closed-form column (j, b = 1, b default)
    assert _hermite_row(tanh, 1)[1] == expected[0]
    assert _hermite_row(tanh, 3)[1] == expected[1]
    assert _row(tanh.split("## Second moment", 1)[1], r"$\mathbb{E}[\sigma(bz)^2]$")[1] == expected[2]
    for j in (0, 2, 4, 6, 8):  # tanh is odd
        assert _hermite_row(tanh, j)[:2] == [str(j), "0"]


def test_pages_without_closed_forms_have_no_empty_closed_form_column(pages):
    tanh = pages["tanh.md"]
    assert "| no closed form |" not in tanh and "(closed form)" not in tanh
    assert len(_hermite_row(tanh, 1)) == 3
    assert len(_row(tanh.split("## Noise level", 1)[1], "10")) == 3
    # one line for the three moments, not three
    assert tanh.count("no closed form; integrated numerically") == 1


def test_h_star_table_reaches_order_10(pages):
    """beta = 0.85 needs l = 7 and beta < 9/10 up to l = 10: rows L = 2..10.  ReLU's h_10* at
    b = 1 from an independent quadrature of its Hermite coefficients."""
    relu = pages["relu.md"].split("## Noise level", 1)[1].split("## Conditional moments", 1)[0]
    with mp.workdps(40):
        def h(j):  # probabilists' He_j(z) = 2^(-j/2) H_j(z/sqrt 2)
            return mp.quad(lambda z: z * mp.hermite(j, z / mp.sqrt(2)) * mp.npdf(z) / mp.mpf(2) ** (mp.mpf(j) / 2),
                           [0, mp.inf])
        star = mp.sqrt(mp.mpf(1) / 2 - sum(h(j) ** 2 / mp.factorial(j) for j in range(10)))
        expected = mp.nstr(star, 15)
    assert _row(relu, "10")[2] == expected
    for name in ("relu", "tanh", "gelu"):
        section = pages[f"{name}.md"].split("## Noise level", 1)[1].split("## Conditional", 1)[0]
        assert [_row(section, str(L))[0] for L in range(2, 11)] == [str(L) for L in range(2, 11)]


def test_kinks_read_as_places_or_none(pages):
    assert "\nKinks: $x = 0$\n" in pages["relu.md"]
    assert "\nKinks: none\n" in pages["tanh.md"]
    assert "Kinks: 0" not in "".join(pages.values())


def test_kernel_means_do_not_reuse_the_conditional_moments_symbols(pages):
    """M_1, M_2 are the conditional moments; the kernel's Gaussian means are mu_1, mu_2."""
    for name in ("relu", "gaussian", "exp", "cos"):
        kernel = pages[f"{name}.md"].split("## Bivariate kernel", 1)[1].split("## Generated JAX", 1)[0]
        assert "M_1" not in kernel and "M_{1}" not in kernel and "M_2" not in kernel
        assert "\\mu_1" in kernel or "\\mu_{1}" in kernel
    assert "\\mu_{1}" in pages["exp.md"].split("## Bivariate kernel", 1)[1]


def test_default_b_is_the_bulk_scale_of_the_scalings():
    settings = DeriveSettings()
    theta = scalings(settings.n, 0.74, 0.5).theta
    assert float(default_b(settings)) == pytest.approx((1000 / (1000 + theta)) ** 0.5, rel=1e-14)


@pytest.mark.parametrize("activation", ["relu", "tanh", "erf"])
def test_h_star_from_one_expansion_matches_hermite_coefficients(activation):
    full = hermite_coefficients(activation, "0.9", 9)
    for order in range(1, 10):
        direct = hermite_coefficients(activation, "0.9", order).h_star
        assert abs(h_star(full, order) - direct) < mp.mpf("1e-25"), order
    with pytest.raises(ValueError):
        h_star(full, 10)


def test_orders_page_rows(pages):
    orders = pages["orders.md"]
    assert re.search(r"^\| \(2/3, 3/4\) \| \(0\.6667, 0\.7500\) \| 4 \| 3 \|$", orders, re.MULTILINE)
    assert re.search(r"^\| \(0, 1/2\) \| [^|]+ \| 2 \| 1 \|$", orders, re.MULTILINE)
    assert re.search(r"^\| \(10/11, 11/12\) \| [^|]+ \| 12 \| 11 \|$", orders, re.MULTILINE)
    assert _row(orders, "3/4")[2] == "4, 5"
    assert _row(orders, "0")[1] == "2"
    assert _row(orders, "1")[1] == "none"


def test_heaviside_prints_as_an_indicator_not_theta():
    assert latex(sp.Heaviside(X)) == r"\mathbf{1}\left[x > 0\right]"
    assert latex(sp.Heaviside(-sp.Rational(99, 100) * X)) == r"\mathbf{1}\left[x < 0\right]"
    assert r"\theta" not in latex(REGISTRY["leaky_relu"].derivative)


def test_latex_is_safe_in_a_table_cell():
    assert "|" not in latex(sp.Abs(X) + 1)


def test_index_lists_pages_in_the_given_order():
    text = render_index(["b_act", "a_act"])
    assert text.index("(b_act.md)") < text.index("(a_act.md)")


def _docs_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"docs/hooks/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_navigation_follows_the_committed_index():
    nav = _docs_module("onestep_docs")._derivation_nav()
    index = (ROOT / "derivations/index.md").read_text(encoding="utf-8")
    targets = [next(iter(entry.values())) for entry in nav[1:]]
    assert nav[0] == "derivations/index.md"
    assert targets == [f"derivations/{t}" for t in re.findall(r"\]\(([^)]+\.md)\)", index)]
    assert all((ROOT / t).exists() for t in targets)


def test_docstring_rewrite_for_the_docs_site():
    rewrite = _docs_module("griffe_rst").rewrite
    text = "\n".join([
        "Uses :math:`h_j/j!` and :func:`~theory.hermite.hermite_coefficients`.",
        "",
        ".. math::",
        "",
        "    a = b",
        "",
        ">>> f([1])",
        "['0.5', '1']",
        "",
        "```python",
        ">>> inside_a_fence",
        "```",
    ])  # fmt: skip
    assert rewrite(text).splitlines() == [
        "Uses $h_j/j!$ and `theory.hermite.hermite_coefficients`.",
        "",
        "$$",
        "a = b",
        "$$",
        "",
        "```pycon",
        ">>> f([1])",
        "['0.5', '1']",
        "```",
        "",
        "```python",
        ">>> inside_a_fence",
        "```",
    ]
