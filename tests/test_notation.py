"""One test per accepted notation: the value of f (texgrad.evaluate) and, where it makes
sense, its gradient (texgrad.differentiate(...).evaluate) against an independent NumPy
computation written here, at random values of non-square shapes.

Sizes: m=3, n=4, p=5 (all distinct, so a transposed or mis-multiplied operand cannot pass
by accident).  Each case lists its symbols with their shapes; the shapes are passed to texgrad
only when the case says ``declare=True`` (otherwise texgrad must infer them from notation).
A notation texgrad does not handle yet stays here as a strict xfail with the error it gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import texgrad
from refs import sigmoid
from corpus import explain

SIZES = {"m": 3, "n": 4, "p": 5}

inv = np.linalg.inv
det = np.linalg.det


@dataclass
class Case:
    id: str
    latex: str
    symbols: dict                       # name -> tuple of dimension names; () is a scalar
    f: Callable                         # NumPy reference for the value
    wrt: str | None = None              # LaTeX of the variable (None: the formula names it)
    g: Callable | None = None           # NumPy reference for the gradient by wrt
    draw: dict = field(default_factory=dict)   # name -> spd | positive | invertible | symmetric
    declare: bool = False               # pass shapes= to texgrad
    assume: dict | None = None
    shapes: dict | None = None          # shapes= to pass instead of the symbols' (declare)


def draw(case: Case, rng: np.random.Generator) -> dict:
    out = {}
    for name, dims in case.symbols.items():
        shape = tuple(SIZES[d] for d in dims)
        how = case.draw.get(name, "normal")
        if how == "spd":
            a = rng.standard_normal(shape)
            v = a @ a.T / shape[0] + 0.5 * np.eye(shape[0])
        elif how == "positive":
            v = rng.uniform(0.5, 2.0, shape)
        elif how == "invertible":
            v = rng.standard_normal(shape) + 2.0 * np.sqrt(shape[0]) * np.eye(shape[0])
        elif how == "symmetric":
            a = rng.standard_normal(shape)
            v = (a + a.T) / 2
        elif how == "nonzero":          # scalars away from 0 (|a|, division)
            v = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)
        else:
            v = rng.standard_normal(shape)
        out[name] = float(v) if shape == () else v
    return out


def C(id, latex, symbols, f, wrt=None, g=None, **kw):
    return Case(id, latex, symbols, f, wrt, g, **kw)


X_MN = {"X": ("m", "n"), "A": ("m", "n")}
TR_AX = {"A": ("n", "m"), "X": ("m", "n")}
QUAD = {"x": ("n",), "A": ("n", "n")}


def quad_f(v):
    return v["x"] @ v["A"] @ v["x"]


def quad_g(v):
    return (v["A"] + v["A"].T) @ v["x"]


def tr_ax_f(v):
    return np.trace(v["A"] @ v["X"])


def tr_ax_g(v):
    return v["A"].T


CASES = [
    # ------------------------------------------------------------------ symbols
    C("latin-scalars", r"a b + c", {"a": (), "b": (), "c": ()},
      lambda v: v["a"] * v["b"] + v["c"], "a", lambda v: v["b"]),
    C("greek-alpha", r"\alpha \mathbf{x}^T \mathbf{x}", {"alpha": (), "x": ("n",)},
      lambda v: v["alpha"] * v["x"] @ v["x"], r"\mathbf{x}", lambda v: 2 * v["alpha"] * v["x"]),
    C("greek-alpha-wrt", r"\alpha \mathbf{x}^T \mathbf{x}", {"alpha": (), "x": ("n",)},
      lambda v: v["alpha"] * v["x"] @ v["x"], r"\alpha", lambda v: v["x"] @ v["x"]),
    C("greek-Sigma", r"\mathbf{x}^T \Sigma \mathbf{x}", {"x": ("n",), "Sigma": ("n", "n")},
      lambda v: v["x"] @ v["Sigma"] @ v["x"], r"\Sigma",
      lambda v: np.outer(v["x"], v["x"])),
    # -------------------------------------------------------------------- fonts
    C("font-mathbf", r"\mathbf{x}^T A \mathbf{y}", {"x": ("m",), "A": ("m", "p"), "y": ("p",)},
      lambda v: v["x"] @ v["A"] @ v["y"], r"\mathbf{y}", lambda v: v["A"].T @ v["x"]),
    C("font-boldsymbol", r"\boldsymbol{\beta}^T X^T \mathbf{y}",
      {"beta": ("n",), "X": ("m", "n"), "y": ("m",)},
      lambda v: v["beta"] @ v["X"].T @ v["y"], r"\boldsymbol{\beta}",
      lambda v: v["X"].T @ v["y"]),
    C("font-bm", r"\bm{x}^T A \bm{x}", QUAD, quad_f, r"\bm{x}", quad_g),
    C("font-mathrm-matrix", r"\mathbf{x}^T \mathrm{A} \mathbf{y}",
      {"x": ("m",), "A": ("m", "p"), "y": ("p",)},
      lambda v: v["x"] @ v["A"] @ v["y"], r"\mathrm{A}", lambda v: np.outer(v["x"], v["y"])),
    C("font-mathrm-scalar", r"\mathrm{c} \, \mathbf{x}^T \mathbf{x}", {"c": (), "x": ("n",)},
      lambda v: v["c"] * v["x"] @ v["x"], r"\mathbf{x}", lambda v: 2 * v["c"] * v["x"]),
    C("font-mathit", r"\operatorname{tr}(\mathit{W}^T A)", {"W": ("m", "n"), "A": ("m", "n")},
      lambda v: np.sum(v["W"] * v["A"]), r"\mathit{W}", lambda v: v["A"]),
    # ------------------------------------------------------------------ accents
    C("accent-hat-scalar", r"(\hat{y} - y)^2", {"y_hat": (), "y": ()},
      lambda v: (v["y_hat"] - v["y"]) ** 2, r"\hat{y}",
      lambda v: 2 * (v["y_hat"] - v["y"])),
    C("accent-hat-vector", r"\|\hat{\mathbf{y}} - \mathbf{y}\|_2^2",
      {"y_hat": ("n",), "y": ("n",)},
      lambda v: np.sum((v["y_hat"] - v["y"]) ** 2), r"\hat{\mathbf{y}}",
      lambda v: 2 * (v["y_hat"] - v["y"])),
    C("accent-tilde", r"\operatorname{tr}(\tilde{X}^T A)", {"X_tilde": ("m", "n"), "A": ("m", "n")},
      lambda v: np.sum(v["X_tilde"] * v["A"]), r"\tilde{X}", lambda v: v["A"]),
    C("accent-bar", r"\|\mathbf{x} - \bar{\mathbf{x}}\|^2", {"x": ("n",), "x_bar": ("n",)},
      lambda v: np.sum((v["x"] - v["x_bar"]) ** 2), r"\bar{\mathbf{x}}",
      lambda v: -2 * (v["x"] - v["x_bar"])),
    # --------------------------------------------------------------- subscripts
    C("subscript-W_1", r"\operatorname{tr}(W_1^T W_2)", {"W_1": ("m", "n"), "W_2": ("m", "n")},
      lambda v: np.sum(v["W_1"] * v["W_2"]), "W_1", lambda v: v["W_2"]),
    C("subscript-W_{12}", r"\mathbf{a}^T W_{12} \mathbf{b}",
      {"a": ("m",), "W_12": ("m", "p"), "b": ("p",)},
      lambda v: v["a"] @ v["W_12"] @ v["b"], "W_{12}", lambda v: np.outer(v["a"], v["b"])),
    C("subscript-text-scalar", r"w x_{\text{in}}^2", {"w": (), "x_in": ()},
      lambda v: v["w"] * v["x_in"] ** 2, r"x_{\text{in}}",
      lambda v: 2 * v["w"] * v["x_in"]),
    C("subscript-text-vector", r"\mathbf{w}^T \mathbf{x}_{\text{in}}",
      {"w": ("n",), "x_in": ("n",)},
      lambda v: v["w"] @ v["x_in"], r"\mathbf{w}", lambda v: v["x_in"]),
    C("subscript-text-vector-wrt", r"\mathbf{w}^T \mathbf{x}_{\text{in}}",
      {"w": ("n",), "x_in": ("n",)},
      lambda v: v["w"] @ v["x_in"], r"\mathbf{x}_{\text{in}}", lambda v: v["w"]),
    # ------------------------------------------------------------ juxtaposition
    C("juxt-no-spaces", r"\mathbf{x}^TA\mathbf{x}", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("juxt-spaces", r"\mathbf{x}^T   A   \mathbf{x}", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("juxt-thin-space", r"\mathbf{x}^\top\,A\,\mathbf{x}", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("juxt-thick-space", r"\mathbf{x}^\top\;A\;\mathbf{x}", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("juxt-neg-space", r"\mathbf{x}^\top\!A\!\mathbf{x}", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("juxt-quad", r"\mathbf{x}^\top \quad A \quad \mathbf{x}", QUAD, quad_f, r"\mathbf{x}",
      quad_g),
    C("juxt-tilde", r"\mathbf{x}^\top~A~\mathbf{x}", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("juxt-scalar-letters", r"abc", {"a": (), "b": (), "c": ()},
      lambda v: v["a"] * v["b"] * v["c"], "b", lambda v: v["a"] * v["c"]),
    C("cdot-scalars", r"a \cdot b", {"a": (), "b": ()},
      lambda v: v["a"] * v["b"], "a", lambda v: v["b"]),
    C("times-scalars", r"a \times b", {"a": (), "b": ()},
      lambda v: v["a"] * v["b"], "b", lambda v: v["a"]),
    C("cdot-scalar-vector", r"2 \cdot \mathbf{x}^T \mathbf{x}", {"x": ("n",)},
      lambda v: 2 * v["x"] @ v["x"], r"\mathbf{x}", lambda v: 4 * v["x"]),
    # ------------------------------------------------- Hadamard and Kronecker
    C("hadamard-odot", r"\mathbf{x}^T (\mathbf{a} \odot \mathbf{x})", {"x": ("n",), "a": ("n",)},
      lambda v: v["x"] @ (v["a"] * v["x"]), r"\mathbf{x}", lambda v: 2 * v["a"] * v["x"]),
    C("hadamard-binds-loosely", r"\mathbf{1}^T (\mathbf{y} \odot X\mathbf{w})",
      {"y": ("m",), "X": ("m", "n"), "w": ("n",)},
      lambda v: np.sum(v["y"] * (v["X"] @ v["w"])), r"\mathbf{w}",
      lambda v: v["X"].T @ v["y"]),
    C("hadamard-circ", r"\operatorname{tr}(A^T (X \circ B))",
      {"A": ("m", "n"), "X": ("m", "n"), "B": ("m", "n")},
      lambda v: np.sum(v["A"] * v["X"] * v["B"]), "X", lambda v: v["A"] * v["B"]),
    C("kron-frobenius", r"\|A \otimes B\|_F^2", {"A": ("m", "n"), "B": ("p", "m")},
      lambda v: np.sum(np.kron(v["A"], v["B"]) ** 2)),
    C("kron-trace", r"\operatorname{tr}(A \otimes B)", {"A": ("m", "m"), "B": ("n", "n")},
      lambda v: np.trace(np.kron(v["A"], v["B"])), declare=True),
    C("kron-vector", r"\|\mathbf{a} \otimes \mathbf{b}\|^2", {"a": ("m",), "b": ("p",)},
      lambda v: np.sum(np.kron(v["a"], v["b"]) ** 2)),
    # ------------------------------------------------------- sums and numbers
    C("plus-minus", r"a + b - c", {"a": (), "b": (), "c": ()},
      lambda v: v["a"] + v["b"] - v["c"], "c", lambda v: -1.0),
    C("unary-minus", r"-\mathbf{x}^T A \mathbf{x}", QUAD,
      lambda v: -quad_f(v), r"\mathbf{x}", lambda v: -quad_g(v)),
    C("unary-minus-inner", r"\mathbf{a}^T (-\mathbf{x})", {"a": ("n",), "x": ("n",)},
      lambda v: -v["a"] @ v["x"], r"\mathbf{x}", lambda v: -v["a"]),
    C("numbers", r"2 \mathbf{x}^T \mathbf{x} + 0.5 \mathbf{a}^T \mathbf{x}",
      {"x": ("n",), "a": ("n",)},
      lambda v: 2 * v["x"] @ v["x"] + 0.5 * v["a"] @ v["x"], r"\mathbf{x}",
      lambda v: 4 * v["x"] + 0.5 * v["a"]),
    C("frac", r"\frac{\mathbf{x}^T \mathbf{x}}{c}", {"x": ("n",), "c": ()},
      lambda v: v["x"] @ v["x"] / v["c"], r"\mathbf{x}", lambda v: 2 * v["x"] / v["c"],
      draw={"c": "positive"}),
    C("frac-wrt-denominator", r"\frac{\mathbf{a}^T \mathbf{x}}{c}", {"x": ("n",), "a": ("n",),
                                                                    "c": ()},
      lambda v: v["a"] @ v["x"] / v["c"], "c", lambda v: -(v["a"] @ v["x"]) / v["c"] ** 2,
      draw={"c": "positive"}),
    C("tfrac", r"\tfrac{1}{2} \|\mathbf{x}\|^2", {"x": ("n",)},
      lambda v: 0.5 * v["x"] @ v["x"], r"\mathbf{x}", lambda v: v["x"]),
    C("dfrac", r"\dfrac{a}{b}", {"a": (), "b": ()},
      lambda v: v["a"] / v["b"], "b", lambda v: -v["a"] / v["b"] ** 2,
      draw={"b": "positive"}),
    C("frac12", r"\frac12 \mathbf{x}^T A \mathbf{x}", QUAD,
      lambda v: 0.5 * quad_f(v), r"\mathbf{x}", lambda v: 0.5 * quad_g(v)),
    C("star-scalars", r"a * b", {"a": (), "b": ()},
      lambda v: v["a"] * v["b"], "a", lambda v: v["b"]),
    C("slash", r"\mathbf{x}^T \mathbf{x} / c", {"x": ("n",), "c": ()},
      lambda v: v["x"] @ v["x"] / v["c"], r"\mathbf{x}", lambda v: 2 * v["x"] / v["c"],
      draw={"c": "positive"}),
]

# the transpose in each spelling: tr(A^T X), gradient A (A and X are m x n)
TRANSPOSES = {
    "T": "^T", "{T}": "^{T}", "top": r"^\top", "{top}": r"^{\top}",
    "mathsf": r"^{\mathsf{T}}", "mathrm": r"^{\mathrm{T}}", "intercal": r"^\intercal",
    "prime": "'",
}
for key, mark in TRANSPOSES.items():
    CASES.append(C(f"transpose-{key}", rf"\operatorname{{tr}}(A{mark} X)", X_MN,
                   lambda v: np.sum(v["A"] * v["X"]), "X", lambda v: v["A"]))
    CASES.append(C(f"transpose-vector-{key}", rf"\mathbf{{a}}{mark} X \mathbf{{b}}",
                   {"a": ("m",), "X": ("m", "n"), "b": ("n",)},
                   lambda v: v["a"] @ v["X"] @ v["b"], "X",
                   lambda v: np.outer(v["a"], v["b"])))

CASES += [
    # ----------------------------------------------------------- inverse, powers
    C("inverse", r"\mathbf{a}^T X^{-1} \mathbf{b}", {"a": ("n",), "X": ("n", "n"), "b": ("n",)},
      lambda v: v["a"] @ inv(v["X"]) @ v["b"], "X",
      lambda v: -inv(v["X"]).T @ np.outer(v["a"], v["b"]) @ inv(v["X"]).T,
      draw={"X": "invertible"}),
    C("inverse-T", r"\mathbf{a}^T X^{-T} \mathbf{b}", {"a": ("n",), "X": ("n", "n"), "b": ("n",)},
      lambda v: v["a"] @ inv(v["X"]).T @ v["b"], "X",
      lambda v: -inv(v["X"]).T @ np.outer(v["b"], v["a"]) @ inv(v["X"]).T,
      draw={"X": "invertible"}),
    C("inverse-top", r"\mathbf{a}^T X^{-\top} \mathbf{b}",
      {"a": ("n",), "X": ("n", "n"), "b": ("n",)},
      lambda v: v["a"] @ inv(v["X"]).T @ v["b"], "X",
      lambda v: -inv(v["X"]).T @ np.outer(v["b"], v["a"]) @ inv(v["X"]).T,
      draw={"X": "invertible"}),
    C("matrix-square", r"\operatorname{tr}(X^2)", {"X": ("n", "n")},
      lambda v: np.trace(v["X"] @ v["X"]), "X", lambda v: 2 * v["X"].T),
    C("matrix-cube-braced", r"\operatorname{tr}(X^{3})", {"X": ("n", "n")},
      lambda v: np.trace(v["X"] @ v["X"] @ v["X"]), "X", lambda v: 3 * (v["X"] @ v["X"]).T),
    C("matrix-square-product", r"\mathbf{a}^T X^2 \mathbf{b}",
      {"a": ("n",), "X": ("n", "n"), "b": ("n",)},
      lambda v: v["a"] @ v["X"] @ v["X"] @ v["b"], "X",
      lambda v: np.outer(v["a"], v["X"] @ v["b"]) + np.outer(v["X"].T @ v["a"], v["b"])),
    C("scalar-square", r"x^2", {"x": ()}, lambda v: v["x"] ** 2, "x", lambda v: 2 * v["x"]),
    C("scalar-cube-braced", r"a x^{3}", {"a": (), "x": ()},
      lambda v: v["a"] * v["x"] ** 3, "x", lambda v: 3 * v["a"] * v["x"] ** 2),
    C("scalar-power-of-sum", r"(a + b)^2", {"a": (), "b": ()},
      lambda v: (v["a"] + v["b"]) ** 2, "a", lambda v: 2 * (v["a"] + v["b"])),
    C("scalar-sqrt-power", r"x^{1/2}", {"x": ()}, lambda v: v["x"] ** 0.5, "x",
      lambda v: 0.5 * v["x"] ** -0.5, draw={"x": "positive"}),
    C("elementwise-power", r"\mathbf{a}^T \mathbf{x}^{\circ 2}", {"a": ("n",), "x": ("n",)},
      lambda v: v["a"] @ v["x"] ** 2, r"\mathbf{x}", lambda v: 2 * v["a"] * v["x"]),
    C("scalar-fractional-power", r"x^{1.5}", {"x": ()}, lambda v: v["x"] ** 1.5, "x",
      lambda v: 1.5 * v["x"] ** 0.5, draw={"x": "positive"}),
    # ----------------------------------------------------------------- grouping
    C("group-paren", r"(\mathbf{x} + \mathbf{y})^T A (\mathbf{x} + \mathbf{y})",
      {"x": ("n",), "y": ("n",), "A": ("n", "n")},
      lambda v: (v["x"] + v["y"]) @ v["A"] @ (v["x"] + v["y"]), r"\mathbf{x}",
      lambda v: (v["A"] + v["A"].T) @ (v["x"] + v["y"])),
    C("group-bracket", r"[\mathbf{x} + \mathbf{y}]^T A [\mathbf{x} + \mathbf{y}]",
      {"x": ("n",), "y": ("n",), "A": ("n", "n")},
      lambda v: (v["x"] + v["y"]) @ v["A"] @ (v["x"] + v["y"]), r"\mathbf{x}",
      lambda v: (v["A"] + v["A"].T) @ (v["x"] + v["y"])),
    C("group-brace", r"{\mathbf{x} + \mathbf{y}}^T A {\mathbf{x} + \mathbf{y}}",
      {"x": ("n",), "y": ("n",), "A": ("n", "n")},
      lambda v: (v["x"] + v["y"]) @ v["A"] @ (v["x"] + v["y"]), r"\mathbf{x}",
      lambda v: (v["A"] + v["A"].T) @ (v["x"] + v["y"])),
    C("group-brace-scalar", r"{a + b} c", {"a": (), "b": (), "c": ()},
      lambda v: (v["a"] + v["b"]) * v["c"], "c", lambda v: v["a"] + v["b"]),
    C("group-left-right", r"\left(\mathbf{x} + \mathbf{y}\right)^T A \left(\mathbf{x} + "
                          r"\mathbf{y}\right)",
      {"x": ("n",), "y": ("n",), "A": ("n", "n")},
      lambda v: (v["x"] + v["y"]) @ v["A"] @ (v["x"] + v["y"]), r"\mathbf{y}",
      lambda v: (v["A"] + v["A"].T) @ (v["x"] + v["y"])),
    C("group-bigl-bigr", r"\bigl(\mathbf{x} - \mathbf{y}\bigr)^T A \bigl(\mathbf{x} - "
                         r"\mathbf{y}\bigr)",
      {"x": ("n",), "y": ("n",), "A": ("n", "n")},
      lambda v: (v["x"] - v["y"]) @ v["A"] @ (v["x"] - v["y"]), r"\mathbf{x}",
      lambda v: (v["A"] + v["A"].T) @ (v["x"] - v["y"])),
    C("group-Big", r"\Big(\mathbf{x} - \mathbf{y}\Big)^T A \Big(\mathbf{x} - \mathbf{y}\Big)",
      {"x": ("n",), "y": ("n",), "A": ("n", "n")},
      lambda v: (v["x"] - v["y"]) @ v["A"] @ (v["x"] - v["y"]), r"\mathbf{x}",
      lambda v: (v["A"] + v["A"].T) @ (v["x"] - v["y"])),
    C("group-escaped-braces", r"\{a + b\} c", {"a": (), "b": (), "c": ()},
      lambda v: (v["a"] + v["b"]) * v["c"], "a", lambda v: v["c"]),
    C("group-nested-mixed", r"\left[ (a + b) \{ c - a \} \right]^2", {"a": (), "b": (), "c": ()},
      lambda v: ((v["a"] + v["b"]) * (v["c"] - v["a"])) ** 2, "b",
      lambda v: 2 * ((v["a"] + v["b"]) * (v["c"] - v["a"])) * (v["c"] - v["a"])),
]

# the trace in each spelling: tr(AX), A n x m, X m x n, gradient A^T
TRACES = {
    "operatorname-tr": r"\operatorname{tr}", "mathrm-tr": r"\mathrm{tr}",
    "mathrm-Tr": r"\mathrm{Tr}", "text-tr": r"\text{tr}", "operatorname-Tr": r"\operatorname{Tr}",
    "tr-command": r"\tr",
}
for key, head in TRACES.items():
    CASES.append(C(f"trace-{key}", rf"{head}(A X)", TR_AX, tr_ax_f, "X", tr_ax_g))
CASES.append(C("trace-postfix-after-parens", r"\operatorname{tr}(X)^2", {"X": ("n", "n")},
               lambda v: np.trace(v["X"]) ** 2, "X",
               lambda v: 2 * np.trace(v["X"]) * np.eye(SIZES["n"])))
CASES.append(C("trace-no-parens", r"\operatorname{tr} X^T B X", {"X": ("m", "n"), "B": ("m", "m")},
               lambda v: np.trace(v["X"].T @ v["B"] @ v["X"]), "X",
               lambda v: (v["B"] + v["B"].T) @ v["X"]))

DET = {"X": ("n", "n")}
CASES += [
    # ---------------------------------------------------------- determinants
    C("det", r"\det(X)", DET, lambda v: det(v["X"]), "X",
      lambda v: det(v["X"]) * inv(v["X"]).T, draw={"X": "invertible"}),
    C("det-no-parens", r"\det X", DET, lambda v: det(v["X"]), "X",
      lambda v: det(v["X"]) * inv(v["X"]).T, draw={"X": "invertible"}),
    C("det-bars", r"|X|", DET, lambda v: det(v["X"]), "X",
      lambda v: det(v["X"]) * inv(v["X"]).T, draw={"X": "invertible"}),
    C("det-left-right-bars", r"\left|X\right|", DET, lambda v: det(v["X"]), "X",
      lambda v: det(v["X"]) * inv(v["X"]).T, draw={"X": "invertible"}),
    C("det-product", r"\det(A^T X A)", {"A": ("n", "m"), "X": ("n", "n")},
      lambda v: det(v["A"].T @ v["X"] @ v["A"]), "X",
      lambda v: det(v["A"].T @ v["X"] @ v["A"]) *
      (v["A"] @ inv(v["A"].T @ v["X"] @ v["A"]) @ v["A"].T).T,
      draw={"X": "spd"}),
    C("det-product-sized", r"\det(A^T X A)", {"A": ("n", "m"), "X": ("n", "n")},
      lambda v: det(v["A"].T @ v["X"] @ v["A"]), "X",
      lambda v: det(v["A"].T @ v["X"] @ v["A"]) *
      (v["A"] @ inv(v["A"].T @ v["X"] @ v["A"]) @ v["A"].T).T,
      draw={"X": "spd"}, shapes={"A": (SIZES["n"], SIZES["m"]), "X": (SIZES["n"], SIZES["n"])}),
    # ------------------------------------------------------ scalar functions
    C("log", r"\log(a)", {"a": ()}, lambda v: np.log(v["a"]), "a", lambda v: 1 / v["a"],
      draw={"a": "positive"}),
    C("ln", r"\ln a", {"a": ()}, lambda v: np.log(v["a"]), "a", lambda v: 1 / v["a"],
      draw={"a": "positive"}),
    C("exp", r"\exp(2a)", {"a": ()}, lambda v: np.exp(2 * v["a"]), "a",
      lambda v: 2 * np.exp(2 * v["a"])),
    C("sqrt", r"\sqrt{a}", {"a": ()}, lambda v: np.sqrt(v["a"]), "a",
      lambda v: 0.5 / np.sqrt(v["a"]), draw={"a": "positive"}),
    C("sqrt-quadratic", r"\sqrt{\mathbf{x}^T S \mathbf{x}}", {"x": ("n",), "S": ("n", "n")},
      lambda v: np.sqrt(v["x"] @ v["S"] @ v["x"]), r"\mathbf{x}",
      lambda v: (v["S"] + v["S"].T) @ v["x"] / (2 * np.sqrt(v["x"] @ v["S"] @ v["x"])),
      draw={"S": "spd"}),
    C("exp-of-quadratic", r"\exp(-\tfrac{1}{2}\mathbf{x}^T \mathbf{x})", {"x": ("n",)},
      lambda v: np.exp(-0.5 * v["x"] @ v["x"]), r"\mathbf{x}",
      lambda v: -np.exp(-0.5 * v["x"] @ v["x"]) * v["x"]),
    C("log-det", r"\log\det(X)", DET, lambda v: np.log(det(v["X"])), "X",
      lambda v: inv(v["X"]).T, draw={"X": "spd"}),
    C("log-det-no-parens", r"\log\det X", DET, lambda v: np.log(det(v["X"])), "X",
      lambda v: inv(v["X"]).T, draw={"X": "spd"}),
    C("log-det-no-parens-product", r"\log\det X^T X", {"X": ("p", "n")},
      lambda v: np.log(det(v["X"].T @ v["X"])), "X",
      lambda v: 2 * v["X"] @ inv(v["X"].T @ v["X"]),
      shapes={"X": (SIZES["p"], SIZES["n"])}),
    C("log-det-gram-inferred", r"\log\det(X^T X)", {"X": ("p", "n")},
      lambda v: np.log(det(v["X"].T @ v["X"])), "X",
      lambda v: 2 * v["X"] @ inv(v["X"].T @ v["X"])),
    C("log-bars", r"\log|X|", DET, lambda v: np.log(det(v["X"])), "X",
      lambda v: inv(v["X"]).T, draw={"X": "spd"}),
    C("operatorname-logdet", r"\operatorname{logdet}(X)", DET, lambda v: np.log(det(v["X"])),
      "X", lambda v: inv(v["X"]).T, draw={"X": "spd"}),
    C("ln-det-nonsymmetric", r"\ln\det(X)", DET, lambda v: np.log(det(v["X"])), "X",
      lambda v: inv(v["X"]).T, draw={"X": "invertible"}),
]

# elementwise functions of a vector: a^T f(x), gradient a * f'(x)
ELEMENTWISE = {
    "exp": (r"\exp", np.exp, np.exp, None),
    "log": (r"\log", np.log, lambda z: 1 / z, "positive"),
    "sin": (r"\sin", np.sin, np.cos, None),
    "cos": (r"\cos", np.cos, lambda z: -np.sin(z), None),
    "tanh": (r"\tanh", np.tanh, lambda z: 1 - np.tanh(z) ** 2, None),
    "tan": (r"\tan", np.tan, lambda z: 1 / np.cos(z) ** 2, None),
    "sigma": (r"\sigma", sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z)), None),
}
for key, (cmd, fn, dfn, how) in ELEMENTWISE.items():
    CASES.append(C(f"elementwise-{key}", rf"\mathbf{{a}}^T {cmd}(\mathbf{{x}})",
                   {"a": ("n",), "x": ("n",)},
                   (lambda fn: lambda v: v["a"] @ fn(v["x"]))(fn), r"\mathbf{x}",
                   (lambda dfn: lambda v: v["a"] * dfn(v["x"]))(dfn),
                   draw={"x": how} if how else {}))
CASES += [
    C("elementwise-ones-exp", r"\mathbf{1}^T \exp(W\mathbf{x})", {"W": ("m", "n"), "x": ("n",)},
      lambda v: np.sum(np.exp(v["W"] @ v["x"])), "W",
      lambda v: np.outer(np.exp(v["W"] @ v["x"]), v["x"])),
    C("elementwise-on-matrix", r"\operatorname{tr}(A^T \sin(X))", X_MN,
      lambda v: np.sum(v["A"] * np.sin(v["X"])), "X", lambda v: v["A"] * np.cos(v["X"])),
    C("softmax", r"\mathbf{a}^T \operatorname{softmax}(\mathbf{x})", {"a": ("n",), "x": ("n",)},
      lambda v: v["a"] @ (np.exp(v["x"]) / np.sum(np.exp(v["x"]))), r"\mathbf{x}",
      lambda v: (lambda s: s * (v["a"] - v["a"] @ s))(np.exp(v["x"]) / np.sum(np.exp(v["x"])))),
    C("elementwise-sigma-affine", r"\mathbf{y}^T \sigma(W\mathbf{x} + \mathbf{b})",
      {"y": ("m",), "W": ("m", "n"), "x": ("n",), "b": ("m",)},
      lambda v: v["y"] @ sigmoid(v["W"] @ v["x"] + v["b"]), r"\mathbf{b}",
      lambda v: v["y"] * sigmoid(v["W"] @ v["x"] + v["b"]) *
      (1 - sigmoid(v["W"] @ v["x"] + v["b"]))),
    # -------------------------------------------------- diag, ones, identity
    C("diag-of-vector", r"\operatorname{tr}(\operatorname{diag}(\mathbf{x}) A)",
      {"x": ("n",), "A": ("n", "n")},
      lambda v: np.trace(np.diag(v["x"]) @ v["A"]), r"\mathbf{x}", lambda v: np.diag(v["A"])),
    C("diag-quadratic", r"\mathbf{a}^T \operatorname{diag}(\mathbf{x}) \mathbf{b}",
      {"a": ("n",), "x": ("n",), "b": ("n",)},
      lambda v: v["a"] @ np.diag(v["x"]) @ v["b"], r"\mathbf{x}", lambda v: v["a"] * v["b"]),
    C("diag-of-matrix", r"\mathbf{a}^T \operatorname{diag}(X)", {"a": ("n",), "X": ("n", "n")},
      lambda v: v["a"] @ np.diag(v["X"]), "X", lambda v: np.diag(v["a"])),
    C("ones-vector", r"\mathbf{1}^T \mathbf{x}", {"x": ("n",)},
      lambda v: np.sum(v["x"]), r"\mathbf{x}", lambda v: np.ones(SIZES["n"])),
    C("ones-matrix-sum", r"\mathbf{1}^T X \mathbf{1}", {"X": ("m", "n")},
      lambda v: np.sum(v["X"]), "X", lambda v: np.ones((SIZES["m"], SIZES["n"]))),
    C("identity-I", r"\mathbf{x}^T (A + I) \mathbf{x}", QUAD,
      lambda v: v["x"] @ (v["A"] + np.eye(SIZES["n"])) @ v["x"], r"\mathbf{x}",
      lambda v: (v["A"] + v["A"].T + 2 * np.eye(SIZES["n"])) @ v["x"]),
    C("identity-bold-I", r"\operatorname{tr}((X - \mathbf{I})^T (X - \mathbf{I}))",
      {"X": ("n", "n")},
      lambda v: np.sum((v["X"] - np.eye(SIZES["n"])) ** 2), "X",
      lambda v: 2 * (v["X"] - np.eye(SIZES["n"]))),
    C("zero-vector", r"\|\mathbf{x} - \mathbf{0}\|^2", {"x": ("n",)},
      lambda v: v["x"] @ v["x"], r"\mathbf{x}", lambda v: 2 * v["x"]),
    C("identity-ridge", r"\mathbf{y}^T (X^T X + \lambda I)^{-1} \mathbf{y}",
      {"y": ("n",), "X": ("m", "n"), "lambda": ()},
      lambda v: v["y"] @ inv(v["X"].T @ v["X"] + v["lambda"] * np.eye(SIZES["n"])) @ v["y"],
      r"\lambda",
      lambda v: -v["y"] @ np.linalg.matrix_power(
          inv(v["X"].T @ v["X"] + v["lambda"] * np.eye(SIZES["n"])), 2) @ v["y"],
      draw={"lambda": "positive"}),
    # ---------------------------------------------------------------- norms
    C("norm", r"\|\mathbf{x}\|", {"x": ("n",)}, lambda v: np.linalg.norm(v["x"]), r"\mathbf{x}",
      lambda v: v["x"] / np.linalg.norm(v["x"])),
    C("norm-2", r"\|\mathbf{x}\|_2", {"x": ("n",)}, lambda v: np.linalg.norm(v["x"]),
      r"\mathbf{x}", lambda v: v["x"] / np.linalg.norm(v["x"])),
    C("norm-squared", r"\|\mathbf{x}\|^2", {"x": ("n",)}, lambda v: v["x"] @ v["x"],
      r"\mathbf{x}", lambda v: 2 * v["x"]),
    C("norm-2-squared", r"\|A\mathbf{x} - \mathbf{b}\|_2^2",
      {"A": ("m", "n"), "x": ("n",), "b": ("m",)},
      lambda v: np.sum((v["A"] @ v["x"] - v["b"]) ** 2), r"\mathbf{x}",
      lambda v: 2 * v["A"].T @ (v["A"] @ v["x"] - v["b"])),
    C("norm-frobenius-squared", r"\|X - A\|_F^2", X_MN,
      lambda v: np.sum((v["X"] - v["A"]) ** 2), "X", lambda v: 2 * (v["X"] - v["A"])),
    C("norm-frobenius", r"\|X\|_F", {"X": ("m", "n")}, lambda v: np.linalg.norm(v["X"]), "X",
      lambda v: v["X"] / np.linalg.norm(v["X"])),
    C("norm-of-matrix-is-frobenius", r"\|X\|^2", {"X": ("m", "n")},
      lambda v: np.sum(v["X"] ** 2), "X", lambda v: 2 * v["X"]),
    C("norm-double-bars", r"||\mathbf{x}||^2", {"x": ("n",)},
      lambda v: v["x"] @ v["x"], r"\mathbf{x}", lambda v: 2 * v["x"]),
    C("norm-lVert-rVert", r"\lVert \mathbf{x} \rVert^2", {"x": ("n",)},
      lambda v: v["x"] @ v["x"], r"\mathbf{x}", lambda v: 2 * v["x"]),
    C("norm-Vert", r"\Vert \mathbf{x} - \mathbf{y} \Vert_2", {"x": ("n",), "y": ("n",)},
      lambda v: np.linalg.norm(v["x"] - v["y"]), r"\mathbf{x}",
      lambda v: (v["x"] - v["y"]) / np.linalg.norm(v["x"] - v["y"])),
    C("norm-left-right", r"\left\| \mathbf{x} \right\|^2", {"x": ("n",)},
      lambda v: v["x"] @ v["x"], r"\mathbf{x}", lambda v: 2 * v["x"]),
    C("norm-plain-letter-is-vector", r"\|x\|^2", {"x": ("n",)},
      lambda v: v["x"] @ v["x"], "x", lambda v: 2 * v["x"]),
    C("abs-scalar", r"|a|", {"a": ()}, lambda v: abs(v["a"]), "a", lambda v: np.sign(v["a"]),
      draw={"a": "nonzero"}),
    C("abs-scalar-product", r"|a b|", {"a": (), "b": ()}, lambda v: abs(v["a"] * v["b"]), "a",
      lambda v: np.sign(v["a"] * v["b"]) * v["b"], draw={"a": "nonzero", "b": "nonzero"}),
    # ---------------------------------------------------- derivative requests
    C("request-partial-operator", r"\frac{\partial}{\partial X} \operatorname{tr}(A X)", TR_AX,
      tr_ax_f, None, tr_ax_g),
    C("request-partial-operator-sum",
      r"\frac{\partial}{\partial X} \left(\operatorname{tr}(A X) + \|X\|_F^2\right)", TR_AX,
      lambda v: tr_ax_f(v) + np.sum(v["X"] ** 2), None, lambda v: v["A"].T + 2 * v["X"]),
    C("request-partial-operator-dots", r"\frac{\partial}{\partial X} (\mathbf{a}^T X \mathbf{b})",
      {"a": ("m",), "X": ("m", "n"), "b": ("n",)},
      lambda v: v["a"] @ v["X"] @ v["b"], None, lambda v: np.outer(v["a"], v["b"])),
    C("request-operator-applies-to-sum",
      r"\frac{\partial}{\partial X} \operatorname{tr}(A X) + \|X\|_F^2", TR_AX,
      lambda v: tr_ax_f(v) + np.sum(v["X"] ** 2), None, lambda v: v["A"].T + 2 * v["X"]),
    C("request-partial-inline", r"\frac{\partial \operatorname{tr}(AX)}{\partial X}", TR_AX,
      tr_ax_f, None, tr_ax_g),
    C("request-partial-inline-vector", r"\frac{\partial \mathbf{x}^T A \mathbf{x}}"
                                       r"{\partial \mathbf{x}}", QUAD, quad_f, None, quad_g),
    C("request-d-mathrm", r"\frac{\mathrm{d}}{\mathrm{d}t} (t^3 + a t)", {"t": (), "a": ()},
      lambda v: v["t"] ** 3 + v["a"] * v["t"], None, lambda v: 3 * v["t"] ** 2 + v["a"]),
    C("request-d-mathrm-x", r"\frac{\mathrm{d}}{\mathrm{d}x} x^3", {"x": ()},
      lambda v: v["x"] ** 3, None, lambda v: 3 * v["x"] ** 2),
    C("request-d-plain", r"\frac{d}{dt} \sin(t)", {"t": ()},
      lambda v: np.sin(v["t"]), None, lambda v: np.cos(v["t"])),
    C("request-nabla", r"\nabla_{\mathbf{x}} (\mathbf{x}^T A \mathbf{x})", QUAD, quad_f, None,
      quad_g),
    C("request-nabla-unbraced", r"\nabla_X \operatorname{tr}(A X)", TR_AX, tr_ax_f, None,
      tr_ax_g),
    C("request-with-matching-wrt", r"\frac{\partial}{\partial X} \operatorname{tr}(A X)", TR_AX,
      tr_ax_f, "X", tr_ax_g),
    C("label-f-of-x", r"f(\mathbf{x}) = \mathbf{x}^T A \mathbf{x}", QUAD, quad_f, r"\mathbf{x}",
      quad_g),
    C("label-L-of-W", r"L(W) = \|W\mathbf{x} - \mathbf{y}\|^2",
      {"W": ("m", "n"), "x": ("n",), "y": ("m",)},
      lambda v: np.sum((v["W"] @ v["x"] - v["y"]) ** 2), "W",
      lambda v: 2 * np.outer(v["W"] @ v["x"] - v["y"], v["x"])),
    C("label-then-request", r"f(X) = \frac{\partial}{\partial X} \operatorname{tr}(A X)", TR_AX,
      tr_ax_f, None, tr_ax_g),
    # ------------------------------------------------------------- delimiters
    C("delim-dollar", r"$\mathbf{x}^T A \mathbf{x}$", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("delim-double-dollar", r"$$\mathbf{x}^T A \mathbf{x}$$", QUAD, quad_f, r"\mathbf{x}",
      quad_g),
    C("delim-bracket", r"\[ \mathbf{x}^T A \mathbf{x} \]", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("delim-paren", r"\(\mathbf{x}^T A \mathbf{x}\)", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("trailing-period", r"\mathbf{x}^T A \mathbf{x}.", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("trailing-comma", r"\mathbf{x}^T A \mathbf{x},", QUAD, quad_f, r"\mathbf{x}", quad_g),
    C("delim-bracket-period", "\\[\n  \\mathbf{x}^T A \\mathbf{x} .\n\\]", QUAD, quad_f,
      r"\mathbf{x}", quad_g),
    C("multiline-input", "\\mathbf{x}^T\n A\n \\mathbf{x}", QUAD, quad_f, r"\mathbf{x}", quad_g),
    # plain letters are scalars by default, vectors where their use says so: right of a
    # matrix or a row vector (A x, x^T b), summed with a vector (A x - b), transposed or
    # normed as a group ((x - b)^T, \|x - b\|)
    C("plain-least-squares", r"\|Ax - b\|^2", {"A": ("m", "n"), "x": ("n",), "b": ("m",)},
      lambda v: np.sum((v["A"] @ v["x"] - v["b"]) ** 2), "x",
      lambda v: 2 * v["A"].T @ (v["A"] @ v["x"] - v["b"])),
    C("plain-least-squares-transposed", r"(Ax - b)^T(Ax - b)",
      {"A": ("m", "n"), "x": ("n",), "b": ("m",)},
      lambda v: np.sum((v["A"] @ v["x"] - v["b"]) ** 2), "x",
      lambda v: 2 * v["A"].T @ (v["A"] @ v["x"] - v["b"])),
    C("plain-transposed-group", r"(x - b)^T W (x - b)", {"x": ("n",), "b": ("n",),
                                                        "W": ("n", "n")},
      lambda v: (v["x"] - v["b"]) @ v["W"] @ (v["x"] - v["b"]), "x",
      lambda v: (v["W"] + v["W"].T) @ (v["x"] - v["b"])),
    C("plain-inner-product", r"x^T b", {"x": ("n",), "b": ("n",)},
      lambda v: v["x"] @ v["b"], "x", lambda v: v["b"]),
    C("plain-normed-group", r"\|W(x - b)\|^2", {"W": ("m", "n"), "x": ("n",), "b": ("n",)},
      lambda v: np.sum((v["W"] @ (v["x"] - v["b"])) ** 2), "x",
      lambda v: 2 * v["W"].T @ v["W"] @ (v["x"] - v["b"])),
    C("plain-ridge", r"\frac{1}{2}\|y - X\beta\|^2 + \frac{\lambda}{2}\|\beta\|^2",
      {"y": ("m",), "X": ("m", "n"), "beta": ("n",), "lambda": ()},
      lambda v: 0.5 * np.sum((v["y"] - v["X"] @ v["beta"]) ** 2)
      + 0.5 * v["lambda"] * v["beta"] @ v["beta"], r"\beta",
      lambda v: v["X"].T @ (v["X"] @ v["beta"] - v["y"]) + v["lambda"] * v["beta"]),
    # I_n, \mathbf{I}_3, \mathbf{1}_n: the identity and the ones vector of a named size
    C("identity-sized", r"\mathbf{x}^T (A + \lambda I_n) \mathbf{x}",
      {"x": ("n",), "A": ("n", "n"), "lambda": ()},
      lambda v: v["x"] @ (v["A"] + v["lambda"] * np.eye(SIZES["n"])) @ v["x"], r"\mathbf{x}",
      lambda v: (v["A"] + v["A"].T + 2 * v["lambda"] * np.eye(SIZES["n"])) @ v["x"],
      declare=True),
    C("identity-bold-numeric", r"t\,\operatorname{tr}(\mathbf{I}_3)", {"t": ()},
      lambda v: 3 * v["t"], "t", lambda v: 3.0),
    C("ones-sized", r"\mathbf{1}_n^T \mathbf{x}", {"x": ("n",)},
      lambda v: np.sum(v["x"]), r"\mathbf{x}", lambda v: np.ones(SIZES["n"]), declare=True),
    C("plain-hadamard-logistic", r"\mathbf{1}^T \log(1 + \exp(-y \odot Xw))",
      {"y": ("m",), "X": ("m", "n"), "w": ("n",)},
      lambda v: np.sum(np.log1p(np.exp(-v["y"] * (v["X"] @ v["w"])))), "w",
      lambda v: -v["X"].T @ (v["y"] * sigmoid(-v["y"] * (v["X"] @ v["w"])))),
    C("number-plus-vector", r"\mathbf{1}^T (2 - \mathbf{x})^{\circ 2}", {"x": ("n",)},
      lambda v: np.sum((2 - v["x"]) ** 2), r"\mathbf{x}", lambda v: -2 * (2 - v["x"])),
    # inner products, the 1-norm
    C("inner-frobenius", r"\langle A, X \rangle", X_MN, lambda v: np.sum(v["A"] * v["X"]), "X",
      lambda v: v["A"]),
    C("inner-quadratic", r"\langle AX, X \rangle", {"A": ("m", "m"), "X": ("m", "n")},
      lambda v: np.sum((v["A"] @ v["X"]) * v["X"]), "X",
      lambda v: (v["A"] + v["A"].T) @ v["X"]),
    C("inner-plain-vectors", r"\langle x, y \rangle", {"x": ("n",), "y": ("n",)},
      lambda v: v["x"] @ v["y"], "x", lambda v: v["y"]),
    C("norm-1", r"\|A\mathbf{x} - \mathbf{b}\|_1", {"A": ("m", "n"), "x": ("n",), "b": ("m",)},
      lambda v: np.sum(np.abs(v["A"] @ v["x"] - v["b"])), r"\mathbf{x}",
      lambda v: v["A"].T @ np.sign(v["A"] @ v["x"] - v["b"])),
    # sums over the whole range of an index, squares of sums of entries
    C("range-sum", r"\sum_{i=1}^{n} x_i^2", {"x": ("n",)}, lambda v: v["x"] @ v["x"], "x",
      lambda v: 2 * v["x"]),
    C("range-sum-squared-difference", r"\frac{1}{N}\sum_{i=1}^{N} (y_i - x_i)^2",
      {"y": ("n",), "x": ("n",), "N": ()},
      lambda v: np.sum((v["y"] - v["x"]) ** 2) / v["N"], "x",
      lambda v: 2 * (v["x"] - v["y"]) / v["N"], draw={"N": "positive"}),
    C("range-sum-double-from-zero", r"\sum_{i=0}^{m-1}\sum_{j=0}^{n-1} (A_{ij} - X_{ij})^2",
      X_MN, lambda v: np.sum((v["A"] - v["X"]) ** 2), "X", lambda v: 2 * (v["X"] - v["A"])),
    C("logdet-gram", r"\ln\det(X^T X)", {"X": ("n", "m")},
      lambda v: np.linalg.slogdet(v["X"].T @ v["X"])[1], "X",
      lambda v: 2 * v["X"] @ inv(v["X"].T @ v["X"]), declare=True),
    C("softmax-plain-argument", r"-y^T\log(\operatorname{softmax}(z))", {"y": ("n",), "z": ("n",)},
      lambda v: -v["y"] @ (v["z"] - np.log(np.sum(np.exp(v["z"])))), "z",
      lambda v: np.sum(v["y"]) * np.exp(v["z"]) / np.sum(np.exp(v["z"])) - v["y"]),
    C("plain-scalar-stays-scalar", r"t\,x^T x + c", {"t": (), "x": ("n",), "c": ()},
      lambda v: v["t"] * v["x"] @ v["x"] + v["c"], "x", lambda v: 2 * v["t"] * v["x"]),
]

# ------------------------------------------------------- real text (issue 11)
XA = {"X": ("m", "n"), "A": ("n", "m")}
CASES += [
    C("rm-group-trace", r"{\rm Tr}(XA)", XA, tr_ax_f, "X", tr_ax_g),
    C("rm-switch-trace", r"\rm tr(XA)", XA, tr_ax_f, "X", tr_ax_g),
    C("mbox-trace", r"\mbox{tr}(XA)", XA, tr_ax_f, "X", tr_ax_g),
    C("bare-Tr-parens", r"Tr(XA)", XA, tr_ax_f, "X", tr_ax_g),
    C("bare-tr-left-right", r"tr\left(XA\right)", XA, tr_ax_f, "X", tr_ax_g),
    C("bare-Tr-braces", r"Tr\{\mathbf{X}\mathbf{A}\}", XA, tr_ax_f, r"\mathbf{X}", tr_ax_g),
    C("bare-det-parens", r"det(X)", {"X": ("n", "n")}, lambda v: det(v["X"]), "X",
      lambda v: det(v["X"]) * inv(v["X"]).T),
    C("mathrm-unbraced", r"\operatorname{tr}(\mathrm W^{\top} \mathrm X)",
      {"W": ("m", "n"), "X": ("m", "n")}, lambda v: np.trace(v["W"].T @ v["X"]),
      r"\mathrm W", lambda v: v["X"]),
    C("textbf-vector", r"\textbf{x}^T A \textbf{x}", {"x": ("n",), "A": ("n", "n")},
      lambda v: v["x"] @ v["A"] @ v["x"], r"\textbf{x}", lambda v: (v["A"] + v["A"].T) @ v["x"]),
    C("bf-group-vector", r"{\bf x}^T A {\bf x}", {"x": ("n",), "A": ("n", "n")},
      lambda v: v["x"] @ v["A"] @ v["x"], "x", lambda v: (v["A"] + v["A"].T) @ v["x"]),
    C("bold-around-transpose", r"\operatorname{tr}(\mathbf{A^T}\mathbf{X})",
      {"A": ("m", "n"), "X": ("m", "n")}, lambda v: np.trace(v["A"].T @ v["X"]),
      r"\mathbf{X}", lambda v: v["A"]),
    C("bold-product-run", r"\|\mathbf{Ax} - \mathbf{b}\|^2",
      {"A": ("m", "n"), "x": ("n",), "b": ("m",)},
      lambda v: np.sum((v["A"] @ v["x"] - v["b"]) ** 2), r"\mathbf{x}",
      lambda v: 2 * v["A"].T @ (v["A"] @ v["x"] - v["b"])),
    C("bold-whole-expression", r"\operatorname{tr}\mathbf{X^TAX}",
      {"X": ("n", "m"), "A": ("n", "n")}, lambda v: np.trace(v["X"].T @ v["A"] @ v["X"]),
      r"\mathbf{X}", lambda v: (v["A"] + v["A"].T) @ v["X"]),
    C("sup-frac-unbraced", r"\det(\Sigma)^\frac{-1}{2}", {"Sigma": ("n", "n")},
      lambda v: det(v["Sigma"]) ** -0.5, r"\Sigma",
      lambda v: -0.5 * det(v["Sigma"]) ** -0.5 * inv(v["Sigma"]).T, draw={"Sigma": "spd"}),
    C("lower-t-transpose", r"a^tX^{-t}b", {"a": ("n",), "X": ("n", "n"), "b": ("n",)},
      lambda v: v["a"] @ inv(v["X"]).T @ v["b"], "X",
      lambda v: -inv(v["X"]).T @ np.outer(v["b"], v["a"]) @ inv(v["X"]).T,
      draw={"X": "invertible"}),
    C("unicode-marks", "xᵀAx − 2 ∑_i x_i", {"x": ("n",), "A": ("n", "n")},
      lambda v: v["x"] @ v["A"] @ v["x"] - 2 * np.sum(v["x"]), "x",
      lambda v: (v["A"] + v["A"].T) @ v["x"] - 2),
    C("delta-derivative", r"\frac{\delta}{\delta X} {\rm Tr}(XA)", XA, tr_ax_f, None, tr_ax_g),
]

CASES += [
    C("max-zero-relu", r"\mathbf{1}^T\max(0, W\mathbf{x})", {"W": ("m", "n"), "x": ("n",)},
      lambda v: np.sum(np.maximum(0, v["W"] @ v["x"])), "W",
      lambda v: np.outer((v["W"] @ v["x"] > 0).astype(float), v["x"])),
    C("min-two", r"\mathbf{1}^T\min(\mathbf{x}, \mathbf{y})", {"x": ("n",), "y": ("n",)},
      lambda v: np.sum(np.minimum(v["x"], v["y"])), r"\mathbf{x}",
      lambda v: (v["x"] < v["y"]).astype(float)),
    C("abs-command", r"\abs{x - 2}", {"x": ()}, lambda v: abs(v["x"] - 2), "x",
      lambda v: np.sign(v["x"] - 2)),
    C("norm-command", r"\norm{A\mathbf{x}}^2", {"A": ("m", "n"), "x": ("n",)},
      lambda v: np.sum((v["A"] @ v["x"]) ** 2), r"\mathbf{x}",
      lambda v: 2 * v["A"].T @ v["A"] @ v["x"]),
]

CASES += [
    C("frobenius-colon", r"(AX) : B", {"A": ("m", "n"), "X": ("n", "p"), "B": ("m", "p")},
      lambda v: np.sum((v["A"] @ v["X"]) * v["B"]), "X", lambda v: v["A"].T @ v["B"]),
    C("single-bars-vector-norm", r"|\mathbf{x} - \mathbf{a}|^2", {"x": ("n",), "a": ("n",)},
      lambda v: np.sum((v["x"] - v["a"]) ** 2), r"\mathbf{x}",
      lambda v: 2 * (v["x"] - v["a"])),
    C("ast-conjugate-transpose-real", r"\operatorname{tr}(A^\ast X)",
      {"A": ("m", "n"), "X": ("m", "n")}, lambda v: np.trace(v["A"].T @ v["X"]), "X",
      lambda v: v["A"]),
]

CASES += [
    C("function-before-transposed-factor", r"\log \mathbf{1}^T e^{\mathbf{z}}", {"z": ("n",)},
      lambda v: np.log(np.sum(np.exp(v["z"]))), r"\mathbf{z}",
      lambda v: np.exp(v["z"]) / np.sum(np.exp(v["z"]))),
    C("exp-before-transposed-factor", r"\exp \mathbf{a}^T\mathbf{x}", {"a": ("n",), "x": ("n",)},
      lambda v: np.exp(v["a"] @ v["x"]), r"\mathbf{x}",
      lambda v: np.exp(v["a"] @ v["x"]) * v["a"]),
    C("power-transposed", r"\operatorname{tr}(A X^{-2T})", {"A": ("n", "n"), "X": ("n", "n")},
      lambda v: np.trace(v["A"] @ inv(v["X"] @ v["X"]).T), "X",
      # d tr(X^{-2} A^T) = -tr(X^{-2}A^TX^{-1} dX) - tr(X^{-1}A^TX^{-2} dX)
      lambda v: -(inv(v["X"]) @ inv(v["X"]) @ v["A"].T @ inv(v["X"])).T
      - (inv(v["X"]) @ v["A"].T @ inv(v["X"]) @ inv(v["X"])).T,
      draw={"X": "invertible"}),
]

CASES += [          # issue 12, item 3 (first steps)
    C("trace-of-kronecker", r"\operatorname{tr}(A \otimes X)", {"A": ("m", "m"), "X": ("n", "n")},
      lambda v: np.trace(np.kron(v["A"], v["X"])), "X",
      lambda v: np.trace(v["A"]) * np.eye(v["X"].shape[0])),
    C("vec-inner-product", r"\operatorname{vec}(A)^T\operatorname{vec}(X)",
      {"A": ("m", "n"), "X": ("m", "n")},
      lambda v: v["A"].flatten(order="F") @ v["X"].flatten(order="F"), "X", lambda v: v["A"]),
]

CASES += [
    C("diag-vector-times-product", r"\mathbf{1}^T\operatorname{diag}(\mathbf{x}) A \mathbf{x}",
      {"x": ("n",), "A": ("n", "n")}, lambda v: np.sum(v["x"] * (v["A"] @ v["x"])),
      r"\mathbf{x}", lambda v: v["A"] @ v["x"] + v["A"].T @ v["x"]),
    C("diag-quadratic-form", r"\mathbf{x}^T\operatorname{diag}(\mathbf{w})\mathbf{x}",
      {"x": ("n",), "w": ("n",)}, lambda v: np.sum(v["w"] * v["x"] ** 2), r"\mathbf{x}",
      lambda v: 2 * v["w"] * v["x"]),
]

CASES += [
    C("diagonal-entries-squared", r"\sum_k X_{kk}^2", {"X": ("n", "n")},
      lambda v: np.sum(np.diag(v["X"]) ** 2), "X", lambda v: 2 * np.diag(np.diag(v["X"]))),
    C("diagonal-entries-product", r"\sum_k X_{kk} Y_{kk}", {"X": ("n", "n"), "Y": ("n", "n")},
      lambda v: np.sum(np.diag(v["X"]) * np.diag(v["Y"])), "X",
      lambda v: np.diag(np.diag(v["Y"]))),
    C("diagonal-entries-sum", r"\sum_i X_{ii}", {"X": ("n", "n")},
      lambda v: np.trace(v["X"]), "X", lambda v: np.eye(v["X"].shape[0])),
    C("vec-norm-squared", r"\operatorname{vec}(X)^T\operatorname{vec}(X)", {"X": ("m", "n")},
      lambda v: np.sum(v["X"] ** 2), "X", lambda v: 2 * v["X"]),
]

# Notation texgrad does not handle yet: case id -> the error it gives today.  These are strict
# xfails, so a fix shows up as XPASS (a failure): then delete the entry.
VALUE_FAILURES: dict[str, str] = {}
GRADIENT_FAILURES: dict[str, str] = {}


def _params(cases, with_gradient: bool, failures: dict):
    out = []
    for c in cases:
        if with_gradient and c.g is None:
            continue
        reason = failures.get(c.id)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


def _shapes(c: Case):
    if c.shapes is not None:
        return c.shapes
    return dict(c.symbols) if c.declare else None


def test_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("case", _params(CASES, with_gradient=False, failures=VALUE_FAILURES))
def test_value(case: Case):
    rng = np.random.default_rng(12345)
    for _ in range(2):
        values = draw(case, rng)
        got = texgrad.evaluate(case.latex, values, shapes=_shapes(case), assume=case.assume)
        want = case.f(values)
        assert np.shape(got) == np.shape(want), (np.shape(got), np.shape(want))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("case", _params(CASES, with_gradient=True, failures=GRADIENT_FAILURES))
def test_gradient(case: Case):
    r = texgrad.differentiate(case.latex, wrt=case.wrt, shapes=_shapes(case),
                              assume=case.assume, verify=True)
    assert r.check is not None and r.check.passed, explain(r)
    rng = np.random.default_rng(54321)
    for _ in range(2):
        values = draw(case, rng)
        got = r.evaluate(values)
        want = np.asarray(case.g(values), dtype=float)
        assert np.shape(got) == np.shape(want), (r.latex, np.shape(got), np.shape(want))
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10, err_msg=r.latex)


@pytest.mark.parametrize("case", _params([c for c in CASES if c.declare is False
                                          and c.id.startswith(("font-", "accent-",
                                                               "subscript-", "greek-"))],
                                         with_gradient=False, failures={}))
def test_value_with_declared_shapes(case: Case):
    """Declaring the shapes the notation already implies changes nothing."""
    rng = np.random.default_rng(7)
    values = draw(case, rng)
    got = texgrad.evaluate(case.latex, values, shapes=dict(case.symbols), assume=case.assume)
    np.testing.assert_allclose(got, case.f(values), rtol=1e-9, atol=1e-10)


def test_a_matrix_letter_its_uses_make_a_scalar_is_flipped_and_said():
    # N: upper case, so a matrix by convention; \frac{N}{2}\log|\Sigma| makes it a number
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 4))
    sigma, s, n = a @ a.T + np.eye(4), rng.standard_normal((4, 4)), 7.0
    f = r"-\frac{N}{2}\log|\Sigma| - \frac12\operatorname{tr}(\Sigma^{-1}S)"
    r = texgrad.differentiate(f, wrt=r"\Sigma")
    assert r.verified and "N read as a scalar" in r.stamp
    want = -n / 2 * inv(sigma).T + 0.5 * (inv(sigma) @ s @ inv(sigma)).T
    got = r.evaluate({"Sigma": sigma, "S": s, "N": n})
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12)


def test_adjugate_is_det_times_inverse():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 4)) + 3 * np.eye(4)
    a, b = rng.standard_normal(4), rng.standard_normal(4)
    f = r"\mathbf{a}^T\operatorname{adj}(X)\mathbf{b}"
    val = texgrad.evaluate(f, {"X": x, "a": a, "b": b})
    assert np.isclose(val, det(x) * a @ inv(x) @ b, rtol=1e-10)
    g = texgrad.differentiate(f, wrt="X")
    # d/dX det(X) a^T X^{-1} b = det(X) ((a^T X^{-1} b) X^{-T} - X^{-T} a b^T X^{-T})
    xi = inv(x)
    want = det(x) * ((a @ xi @ b) * xi.T - xi.T @ np.outer(a, b) @ xi.T)
    assert g.verified and np.allclose(g.evaluate({"X": x, "a": a, "b": b}), want, rtol=1e-9)


def test_a_sum_with_numeric_bounds_over_an_exponent():
    rng = np.random.default_rng(2)
    x, a = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    f = r"\operatorname{tr}\Big(\sum_{k=0}^2 X^k A X^{2-k}\Big)"
    want = sum(np.trace(np.linalg.matrix_power(x, k) @ a @ np.linalg.matrix_power(x, 2 - k))
               for k in range(3))
    assert np.isclose(texgrad.evaluate(f, {"X": x, "A": a}), want, rtol=1e-10)
    assert np.isclose(texgrad.evaluate(r"\sum_{k=1}^{3} k x^k", {"x": 0.5}),
                      0.5 + 2 * 0.25 + 3 * 0.125)


def test_an_unknown_function_is_applied_elementwise_and_said():
    # f(Wx) with f unnamed: the gradient of 1^T f(Wx) by W is f'(Wx) x^T; checked against
    # the chain rule with f' taken by central differences of the f texgrad evaluates
    rng = np.random.default_rng(4)
    w, x = rng.standard_normal((3, 4)), rng.standard_normal(4)
    text = r"\mathbf{1}^T f(W\mathbf{x})"
    r = texgrad.differentiate(text, wrt="W")
    assert r.verified and "f(\\cdot) read as a scalar function" in r.stamp
    assert r.readings and r.to_dict()["reading"] == list(r.readings)
    assert "f'" in r.latex

    def f(z):
        return np.array([texgrad.evaluate(r"f(t)", {"t": float(t)}) for t in z])
    h = 1e-5
    fprime = (f(w @ x + h) - f(w @ x - h)) / (2 * h)
    assert np.allclose(r.evaluate({"W": w, "x": x}), np.outer(fprime, x), rtol=1e-6)
    # declared a symbol, f is a factor again, and the stamp says so
    r = texgrad.differentiate(r"f(x + 1)", wrt="x", shapes={"f": ()})
    assert r.latex == "f" and "read as the product" in r.stamp


def test_a_parenthesised_superscript_is_a_label():
    rng = np.random.default_rng(6)
    w, a = rng.standard_normal((3, 4)), rng.standard_normal(4)
    f = r"\|W^{(2)} \mathbf{a}^{(1)}\|^2"
    vals = {"W^(2)": w, "a^(1)": a}
    assert np.isclose(texgrad.evaluate(f, vals), np.sum((w @ a) ** 2))
    r = texgrad.differentiate(f, wrt=r"W^{(2)}")
    assert r.latex == r"2W^{(2)}\mathbf{a}^{(1)}(\mathbf{a}^{(1)})^{T}"
    assert np.allclose(r.evaluate(vals), 2 * np.outer(w @ a, a))


def test_a_letter_before_parentheses_is_a_product_and_said():
    r = texgrad.differentiate(r"A(\mathbf{x}+\mathbf{y})", wrt=r"\mathbf{x}")
    assert "read as the product of A and" in r.stamp and r.readings
    rng = np.random.default_rng(7)
    a = rng.standard_normal((3, 4))
    assert np.allclose(r.evaluate({"A": a, "x": np.ones(4), "y": np.ones(4)}), a)


def test_t_is_a_transpose_mark_only_among_matrices():
    # 2^t and x^t are powers; a^t X^{-t} b (a matrix in the formula, t nowhere else) transposes
    assert np.isclose(texgrad.evaluate("2^{t}", {"t": 1.5}), 2 ** 1.5)
    assert np.isclose(texgrad.evaluate("x^t", {"x": 2.0, "t": 3.0}), 8.0)
    rng = np.random.default_rng(8)
    a, b, x = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal((3, 3))
    x += 3 * np.eye(3)
    assert np.isclose(texgrad.evaluate(r"a^tX^{-t}b", {"a": a, "b": b, "X": x}),
                      a @ np.linalg.inv(x).T @ b)


def test_real_part_of_a_complex_scalar():
    # f = x^H B^H B x - 2 Re(c^H x), complex x: the Cookbook's complex gradient
    # df/dRe x + i df/dIm x = 2(B^H B x - c); checked against central differences in NumPy
    rng = np.random.default_rng(9)
    b = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
    c = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    x = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    text = r"\mathbf{x}^H B^H B\mathbf{x} - 2\operatorname{Re}(\mathbf{c}^H\mathbf{x})"
    assume = {"x": ("complex",), "c": ("complex",), "B": ("complex",)}
    r = texgrad.differentiate(text, wrt=r"\mathbf{x}", assume=assume)

    def f(z):
        return (np.conj(z) @ b.conj().T @ b @ z - 2 * np.real(np.conj(c) @ z)).real
    h = 1e-6
    fd = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) + 1j *
                   (f(x + 1j * h * e) - f(x - 1j * h * e)) / (2 * h) for e in np.eye(3)])
    got = r.evaluate({"x": x, "c": c, "B": b})
    assert r.verified and np.allclose(got, fd, rtol=1e-6)
    assert np.allclose(got, 2 * (b.conj().T @ b @ x - c))


def _complex_gradient_fd(f, x, h=1e-6):
    """df/dRe x + i df/dIm x of a real f at a complex vector x (central differences)."""
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) + 1j *
                     (f(x + 1j * h * e) - f(x - 1j * h * e)) / (2 * h) for e in np.eye(len(x))])


@pytest.mark.parametrize("text, f, grad, latex", [
    (r"\mathbf{x}^H B^H B\mathbf{x} - 2\operatorname{Im}(\mathbf{c}^H\mathbf{x})",
     lambda x, b, c: (np.conj(x) @ b.conj().T @ b @ x - 2 * np.imag(np.conj(c) @ x)).real,
     lambda x, b, c: 2 * (b.conj().T @ b @ x - 1j * c),
     r"2\left(B^{H}B\mathbf{x} - i\mathbf{c}\right)"),
    (r"\operatorname{Im}(\mathbf{c}^H\mathbf{x})",
     lambda x, b, c: np.imag(np.conj(c) @ x), lambda x, b, c: 1j * c, r"i\mathbf{c}"),
    (r"|\operatorname{Re}(\mathbf{c}^H\mathbf{x})|^2",
     lambda x, b, c: np.real(np.conj(c) @ x) ** 2,
     lambda x, b, c: 2 * np.real(np.conj(c) @ x) * c,
     r"2\operatorname{Re}(\mathbf{c}^{H}\mathbf{x})\mathbf{c}"),
    (r"\operatorname{Im}(\mathbf{c}^H\mathbf{x})^2",
     lambda x, b, c: np.imag(np.conj(c) @ x) ** 2,
     lambda x, b, c: 2j * np.imag(np.conj(c) @ x) * c, None),
])
def test_imaginary_part_of_a_complex_scalar(text, f, grad, latex):
    """Im(z) = (z - conj z) / 2i: the complex gradient against central differences in
    NumPy and a hand-derived reference; u + conj u prints as 2 Re(u), u - conj u as
    2i Im(u)."""
    rng = np.random.default_rng(10)
    b = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
    c = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    x = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    assume = {"x": ("complex",), "c": ("complex",), "B": ("complex",)}
    r = texgrad.differentiate(text, wrt=r"\mathbf{x}", assume=assume)
    fd = _complex_gradient_fd(lambda z: f(z, b, c), x)
    assert np.allclose(fd, grad(x, b, c), rtol=1e-6, atol=1e-8)      # the reference itself
    got = r.evaluate({"x": x, "c": c, "B": b})
    assert r.verified and np.allclose(got, fd, rtol=1e-6, atol=1e-8), r.latex
    if latex is not None:
        assert r.latex == latex


@pytest.mark.parametrize("text", [r"\lambda_{\max}(X)", r"\lambda_{max}(X^TX)",
                                  r"\sigma_{\min}(A)", r"\lambda_{\text{min}}(X)"])
def test_extreme_eigenvalues_are_refused_by_name(text):
    with pytest.raises(texgrad.TexgradError) as info:
        texgrad.differentiate(text, wrt="X" if "X" in text else "A")
    e = info.value
    assert e.kind == "unsupported" and "eigenvalue" in e.message and e.column == 1
    assert "^" in e.render()


def test_a_subscripted_lambda_before_parentheses_is_read_as_a_product_and_said():
    r = texgrad.differentiate(r"\lambda_1(X)", wrt="X")
    assert any("read as the product" in s for s in r.readings), r.readings
    assert texgrad.differentiate(r"\lambda_{\max} x^2", wrt="x").latex == \
        r"2\lambda_{\max}x"


def test_diag_of_a_vector_times_a_product_has_the_cookbook_jacobian():
    """d(diag(x) A x) = diag(dx) A x + diag(x) A dx: J = diag(Ax) + diag(x) A, against
    central differences of the NumPy function."""
    rng = np.random.default_rng(11)
    a, x = rng.standard_normal((3, 3)), rng.standard_normal(3)
    r = texgrad.differentiate(r"\operatorname{diag}(\mathbf{x}) A \mathbf{x}", wrt="x")
    h = 1e-6
    fd = np.stack([(np.diag(x + h * e) @ a @ (x + h * e) - np.diag(x - h * e) @ a @
                    (x - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
    assert np.allclose(fd, np.diag(a @ x) + np.diag(x) @ a, atol=1e-7)
    assert r.verified and r.kind == "jacobian"
    assert np.allclose(r.evaluate({"x": x, "A": a}), fd, atol=1e-7)
    assert r.latex == r"\operatorname{diag}(A\mathbf{x}) + \operatorname{diag}(\mathbf{x})A"
