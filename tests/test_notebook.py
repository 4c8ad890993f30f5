"""Results display in Jupyter; the %texgrad / %%texgrad magics."""

from __future__ import annotations

import numpy as np
import pytest

import texgrad
from texgrad.notebook import texgrad_magic


def test_result_renders_as_latex_and_markdown():
    r = texgrad.differentiate(r"\mathbf{x}^\top B\mathbf{x}", wrt=r"\mathbf{x}")
    assert r._repr_latex_() == f"$${r.latex}$$"
    md = r._repr_markdown_()
    assert r.latex in md and "verified numerically" in md


def test_claim_result_renders():
    c = texgrad.check_claim(r"\frac{\partial}{\partial W}\|XW - Y\|_F^2 = X^T(XW - Y)")
    assert "**wrong**" in c._repr_markdown_()


def test_line_and_cell_magics():
    r = texgrad_magic(r"\mathbf{x}^\top W \mathbf{x} --wrt \mathbf{x} --assume W=symmetric")
    x, w = np.arange(3.0), np.eye(3)
    np.testing.assert_allclose(r.evaluate({"x": x, "W": w}), 2 * x)
    r2 = texgrad_magic("--wrt X --assume X=spd", r"\log\det X")
    assert r2.latex == "X^{-1}" and r2.check.passed


def test_magic_reports_bad_input_without_raising(capsys):
    assert texgrad_magic(r"\frac{x --wrt x") is None
    err = capsys.readouterr().err
    assert "syntax error" in err and "1 | \\frac{x\n" in err and "^" in err


def test_extension_registers_the_magic():
    registered = {}

    class Shell:
        def register_magic_function(self, fn, magic_kind, magic_name):
            registered[magic_name] = (fn, magic_kind)

    texgrad.load_ipython_extension(Shell())
    assert registered["texgrad"][1] == "line_cell"


def test_with_a_real_ipython_shell():
    IPython = pytest.importorskip("IPython")
    from IPython.testing.globalipapp import get_ipython
    ip = get_ipython()
    ip.run_line_magic("load_ext", "texgrad")
    r = ip.run_line_magic("texgrad", r"\operatorname{tr}(AX) --wrt X")
    assert r.latex == "A^{T}"
    assert IPython
