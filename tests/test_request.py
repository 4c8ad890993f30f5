"""Tests for `texgrad.request`: what to differentiate, and the naming rule."""

from __future__ import annotations

import pytest

import texgrad
from texgrad.errors import TexgradError, Unsupported
from texgrad.parse import parse
from texgrad.request import guess_variable, has_request, parse_wrt, split_request, wrt_name


@pytest.mark.parametrize("wrt, name", [
    ("x", "x"), ("X", "X"), (r"\mathbf{x}", "x"), (r"\boldsymbol{\theta}", "theta"),
    (r"\theta", "theta"), ("W_1", "W_1"), ("W_{1}", "W_1"), ("W_{12}", "W_12"),
    (r"\mathbf{W}_1", "W_1"), ("beta", "beta"), (r"\hat{y}", "y_hat"), ("X_tilde", "X_tilde"),
    (r"\tilde{X}", "X_tilde"), (r"\mathbf{w}_{k}", "w_k"), ("Sigma", "Sigma"),
    (r"\Sigma", "Sigma"), (r"\mu", "mu"), (r"\bm{\mu}", "mu"), (r"\mathbf{x}_i", "x_i"),
    ("A", "A"),
])
def test_the_naming_rule_reads_a_variable_as_the_formula_names_it(wrt, name):
    """--wrt and the formula agree: a derivative by the spelling differentiates the symbol."""
    assert parse_wrt(wrt) == name
    if wrt not in ("beta", "X_tilde", "Sigma"):     # a name typed as a name, not LaTeX
        assert wrt_name(parse(wrt), wrt) == name
        # and the shape stage names the symbol alike (its naming rule is the same)
        from texgrad.api import prepare
        _req, _name, typer, _raw = prepare(wrt, None, None)
        assert name in typer.symtab, (wrt, sorted(typer.symtab))


@pytest.mark.parametrize("latex, var, order", [
    (r"\frac{\partial}{\partial X}\operatorname{tr}(X^\top A X)", "X", 1),
    (r"\nabla_{\mathbf{x}} \mathbf{x}^T A \mathbf{x}", "x", 1),
    (r"\nabla^2_{\mathbf{x}} \mathbf{x}^T A \mathbf{x}", "x", 2),
    (r"\frac{\partial^2}{\partial x^2} \sin(x)", "x", 2),
    (r"\frac{d}{dt} t^3", "t", 1),
])
def test_a_derivative_request_names_its_variable_and_order(latex, var, order):
    req = split_request(parse(latex), latex)
    assert wrt_name(req.wrt, latex) == var and req.order == order
    assert has_request(latex)


def test_a_label_is_dropped():
    """f(x) = ...: the left side names the function, the right side is it."""
    r = texgrad.differentiate(r"f(\mathbf{x}) = \mathbf{x}^T\mathbf{x}", wrt="x")
    assert r.latex == r"2\mathbf{x}"


def test_a_constant_side_is_not_the_function():
    req = split_request(parse(r"x^2 + 3x = 1"), r"x^2 + 3x = 1", "x")
    assert "left side" in req.note and "constant" in req.note


def test_the_laplacian_request():
    req = split_request(parse(r"\Delta \|\mathbf{x}\|^2"), r"\Delta \|\mathbf{x}\|^2")
    assert req.laplacian and req.order == 2


def test_mixed_partials_are_refused_with_a_caret():
    text = r"\frac{\partial^2}{\partial x \partial y} x y"
    with pytest.raises(Unsupported) as info:
        split_request(parse(text), text)
    assert "mixed partial" in info.value.message and info.value.column is not None


def test_not_a_variable():
    with pytest.raises(TexgradError, match="is not a variable"):
        parse_wrt("x + y")


@pytest.mark.parametrize("names, guess", [
    ({"x": 0, "A": 0}, "x"), ({"X": 0, "A": 0}, "X"), ({"w": 0, "A": 0}, "w"),
    ({"x": 0, "W": 0}, None), ({"x": 0, "X": 0}, None), ({"A": 0, "B": 0}, None),
])
def test_the_variable_taken_by_convention(names, guess):
    assert guess_variable(names) == guess
