"""Packaging and the README's promises: the license, the Lark pin and table format, and the
README's layouts table held to what the tool prints (and to NumPy)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import texgrad
from texgrad import lalr, parse as P

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _readme() -> str:
    if not README.is_file():
        pytest.skip("README.md is not beside the tests (not a checkout)")
    return README.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- license

def test_the_license_file_exists_and_the_readme_names_it():
    """A LICENSE file ships with the checkout, and the README says which and why."""
    text = _readme()
    lic = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert lic.startswith("MIT License"), lic[:40]
    assert re.search(r"^## License", text, re.M), "README has no License section"
    assert "MIT" in text.split("## License", 1)[1][:800]


def test_pyproject_declares_the_license_and_pins_lark_below_2():
    py = ROOT / "pyproject.toml"
    if not py.is_file():
        pytest.skip("pyproject.toml is not beside the tests")
    text = py.read_text(encoding="utf-8")
    assert 'license = "MIT"' in text
    assert re.search(r'"lark>=1\.\d+,<2"', text), "lark must be pinned below its next major"


# ----------------------------------------------------------------- Lark table format

def test_lark_is_the_major_version_lalr_py_was_written_for():
    """lalr.py reads Lark's internal LALR table objects; they may change at a major
    version, so the pin and this test move together."""
    import lark
    major = int(lark.__version__.split(".")[0])
    assert major == 1, (f"Lark {lark.__version__} is installed; texgrad.lalr.build_tables "
                        "reads Lark 1.x's table format. Check build_tables against the new "
                        "version before widening the pin in pyproject.toml.")


def test_tables_built_fresh_by_the_installed_lark_have_the_expected_format():
    """Build the tables from the grammar with the installed Lark (no cache), check every
    field the runtime reads, then parse with them: a changed format fails here, loudly,
    not as a wrong parse later."""
    source = Path(P.grammar_path()).read_text(encoding="utf-8")
    tables = lalr.build_tables(source, P.Bars())
    assert tables["format"] == lalr.FORMAT
    assert set(tables) >= {"flags", "terminals", "unless", "ignore", "newline", "rules",
                           "states", "start", "end"}, sorted(tables)
    assert all(isinstance(n, str) and isinstance(rx, str) for n, rx in tables["terminals"])
    for rx in (rx for _, rx in tables["terminals"]):
        re.compile(rx)
    n_rules = len(tables["rules"])
    for origin, size, name, expand1, plan in tables["rules"]:
        assert isinstance(origin, str) and isinstance(size, int) and isinstance(name, str)
        assert isinstance(expand1, bool)
        assert plan is None or all(isinstance(i, int) and isinstance(e, bool) for i, e in plan)
    n_states = len(tables["states"])
    for acts in tables["states"]:
        for sym, arg in acts.items():
            assert isinstance(sym, str) and isinstance(arg, int)
            # a shift names a state, a reduce (-1 - k) a rule
            assert (0 <= arg < n_states) if arg >= 0 else (0 <= -1 - arg < n_rules)
    assert 0 <= tables["start"] < n_states and 0 <= tables["end"] < n_states
    # and the fresh tables parse as Lark itself does
    _, build, _ = P.parser()
    fresh = lalr.Parser(tables, build, P.Bars())
    for text in (r"\mathbf{x}^\top B\,\mathbf{x}", r"\|XW - Y\|_F^2",
                 r"\frac{\partial}{\partial X}\operatorname{tr}(X^\top A X)"):
        with P.parsing(text):
            ours = fresh.parse(text)
            theirs = P.lark_parser().parse(text)
        assert repr(ours) == repr(theirs), text


# ------------------------------------------------------------ the README's layouts table

def _layout_rows():
    text = _readme()
    section = text.split("## Layouts", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not cells[2].startswith("`"):
            continue
        f, by, formula, num, den, mixed = cells
        rows.append((f, by, formula.strip("`"), num.strip("`"), den.strip("`"),
                     mixed.strip("`")))
    return rows


def test_the_readme_layouts_table_has_its_rows():
    assert len(_layout_rows()) == 10


@pytest.mark.parametrize("row", _layout_rows() if README.is_file() else [],
                         ids=lambda r: f"{r[0]} by {r[1]}")
def test_each_layouts_cell_is_what_the_tool_prints(row):
    """Every cell of the README's layouts table is the tool's own output."""
    f, by, formula, *cells = row
    wrt = by.split()[-1]
    kind = "jacobian" if "--kind jacobian" in f else None
    for layout, want in zip(("numerator", "denominator", "mixed"), cells):
        r = texgrad.differentiate(formula, wrt=wrt, layout=layout, kind=kind)
        assert r.check.passed, (formula, layout, r.stamp)
        assert r.latex == want, f"{formula} by {wrt}, {layout}: prints {r.latex}, README {want}"


def test_matrix_by_scalar_in_denominator_layout_is_the_transposed_tangent_matrix():
    """d(At)/dt: numerator layout lays the derivative out like F (the tangent matrix A),
    denominator layout like F^T (as it lays out a vector function by a scalar as a row):
    A^T.  Proved with NumPy: the printed answer, evaluated, against central differences of
    F(t) = A t, transposed."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((3, 4))
    t, h = 0.7, 1e-6
    tangent = (A * (t + h) - A * (t - h)) / (2 * h)
    num = texgrad.differentiate("At", wrt="t", layout="numerator")
    den = texgrad.differentiate("At", wrt="t", layout="denominator")
    got_num = texgrad.evaluate(num.latex, {"A": A, "t": t})
    got_den = texgrad.evaluate(den.latex, {"A": A, "t": t})
    np.testing.assert_allclose(got_num, tangent, rtol=1e-8)
    np.testing.assert_allclose(got_den, tangent.T, rtol=1e-8)
    assert got_den.shape == (4, 3)
