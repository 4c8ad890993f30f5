"""claimsdefs: the definitions a claim leans on, read from its statements and applied."""

from __future__ import annotations

import numpy as np

import texgrad
from texgrad.claimsdefs import apply_formulas, apply_symbols, collect, symbols_of


def test_collect_tells_functions_symbols_and_formulas_apart():
    defs: dict = {}
    assert collect(defs, r"f(W) = \|XW - Y\|^2") and defs["f"].strip() == r"\|XW - Y\|^2"
    assert collect(defs, r"\mathbf{L}\mathbf{L}^\top = \Sigma")
    assert defs["=Sigma"].strip() == r"\mathbf{L}\mathbf{L}^\top"
    assert collect(defs, r"Y = X^TX") and defs["=Y"].strip() == "X^TX"
    assert collect(defs, r"\log p(x \mid \mu) = -\frac12 x^Tx")
    assert r"~\logp(x\mid\mu)" in defs
    assert not collect(defs, r"\nabla f(W) = 2W")          # a claim, not a definition
    assert not collect(defs, r"x^2")


def test_a_formula_definition_is_read_where_its_left_side_is_written():
    defs = {r"~\logp(x\mid\mu)": "-x^Tx"}
    out = apply_formulas(defs, r"\frac{\partial \log p(x \mid  \mu)}{\partial x} = -2x")
    assert r"\frac{\partial {-x^Tx}}{\partial x}" in out


def test_symbols_are_substituted_only_where_the_claim_needs_them():
    defs = {"=Y": "X^TX"}
    f, ms = apply_symbols(defs, r"\operatorname{tr}(Y^2)", ["4XY"], "X")
    assert f == r"\operatorname{tr}((X^TX)^2)" and ms == ["4X(X^TX)"]
    # x held fixed: f writes A beside x, so x = A^{-1}b is not applied
    f, ms = apply_symbols({"=x": "A^{-1}b"}, "x^TAx", ["xx^T"], "A")
    assert f == "x^TAx" and ms == ["xx^T"]
    assert symbols_of(r"\mathbf{L}^T\Sigma") == {"L", "Sigma"}


def test_nested_definitions_reach_the_variable():
    text = "Y = X^TX\nf(Y) = \\operatorname{tr}(Y^2)\n\\nabla_X f(Y) = 4XX^TX"
    r = texgrad.check_claim(text)
    assert r.verdict is True, r.reason
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    # the independent reference: d tr((X^T X)^2) / dX = 4 X X^T X
    g = texgrad.differentiate(r"\operatorname{tr}((X^TX)^2)", wrt="X")
    assert np.allclose(g.evaluate({"X": x}), 4 * x @ x.T @ x)
    assert texgrad.check_claim(text.replace("4XX^TX", "2XX^TX")).verdict is False


def test_a_defined_function_is_differentiated_by_its_argument():
    defs: dict = {}
    assert collect(defs, r"L(\mathbf{w}) = \frac{1}{2}\|X\mathbf{w} - \mathbf{y}\|^2")
    assert defs["@L"] == r"\mathbf{w}"
    text = "L(\\mathbf{w}) = \\frac{1}{2}\\|X\\mathbf{w} - \\mathbf{y}\\|^2\n"
    # the gradient X^T (Xw - y) and the Hessian X^T X (NumPy: d/dw of X^T(Xw - y) is X^T X)
    assert texgrad.check_claim(text + "\\nabla L = X^T(X\\mathbf{w} - \\mathbf{y})").verdict
    assert texgrad.check_claim(text + "\\nabla^2 L = X^TX").verdict is True
    assert texgrad.check_claim(text + "\\nabla^2 L = XX^T").verdict is False
