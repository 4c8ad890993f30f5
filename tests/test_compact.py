"""Compact forms from elementwise algebra: softmax cross-entropy, binary cross-entropy and their
relatives print as a textbook does, (softmax(Wx) 1^T y - y) x^T and X^T(sigma(Xw) - y), not
with y / softmax(Wx) left in.

Each case: the printed derivative is read back with ``texgrad.evaluate`` and compared with an
independent NumPy reference written here (and with ``Result.evaluate``), at random values of
non-square shapes (m=3, n=4: a transposed or mis-multiplied operand cannot pass by accident);
the numeric check must say verified; the printed form must be compact (no elementwise quotient
left where it cancels, the textbook's number of terms).  Then the simplifier's constructors
themselves: the rules are general, and products where nothing cancels stay as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np
import pytest

import texgrad
from refs import sigmoid, softmax
from texgrad import construct as S
from texgrad.ir import Add, Hadamard, MatMul, Ones, Pow, Sym, Trace, Transpose
from corpus import explain

SIZES = {"m": 3, "n": 4}


@dataclass
class Case:
    id: str
    latex: str
    wrt: str
    symbols: dict                  # name -> tuple of dimension names; () is a scalar
    d: Callable                    # NumPy reference for the derivative
    terms: int                     # terms of the printed sum (the outermost one)
    kind: str | None = None
    draw: dict = field(default_factory=dict)    # name -> "positive" | "unit"
    absent: tuple = (r"\frac", r"\odot")        # what the compact form has no need of
    present: tuple = ()
    once: tuple = ()               # printed exactly once (no repeated subexpression)


def draw(case: Case, rng: np.random.Generator) -> dict:
    out = {}
    for name, dims in case.symbols.items():
        shape = tuple(SIZES[d] for d in dims)
        how = case.draw.get(name)
        if how == "positive":
            v = rng.uniform(0.5, 2.0, shape)
        elif how == "unit":                 # labels of binary cross-entropy, in (0, 1)
            v = rng.uniform(0.05, 0.95, shape)
        else:
            v = rng.standard_normal(shape)
        out[name] = v
    return out


def _ce_W(v):
    s = softmax(v["W"] @ v["x"])
    return np.outer(s * v["y"].sum() - v["y"], v["x"])


def _bce(v):
    return v["X"].T @ (sigmoid(v["X"] @ v["w"]) - v["y"])


CE = {"W": ("m", "n"), "x": ("n",), "y": ("m",)}
BCE = {"X": ("m", "n"), "w": ("n",), "y": ("m",)}

CASES = [
    # the softmax cross-entropy and its relatives: s 1^T y - y, s = softmax(.)
    Case("softmax-ce-W", r"-y^T \log(\operatorname{softmax}(Wx))", "W", CE, _ce_W, 1,
         present=(r"\mathbf{1}^{T}y",), once=(r"\operatorname{softmax}",)),
    Case("softmax-ce-x", r"-y^T \log(\operatorname{softmax}(Wx))", "x", CE,
         lambda v: v["W"].T @ (softmax(v["W"] @ v["x"]) * v["y"].sum() - v["y"]), 1,
         present=(r"\mathbf{1}^{T}y",), once=(r"\operatorname{softmax}",)),
    Case("softmax-ce-bias", r"-\mathbf{y}^T \log(\operatorname{softmax}(W\mathbf{x} + \mathbf{b}))",
         r"\mathbf{b}", {"W": ("m", "n"), "x": ("n",), "b": ("m",), "y": ("m",)},
         lambda v: softmax(v["W"] @ v["x"] + v["b"]) * v["y"].sum() - v["y"], 2,
         once=(r"\operatorname{softmax}",)),
    Case("softmax-ce-z", r"-y^T \log(\operatorname{softmax}(z))", "z",
         {"z": ("n",), "y": ("n",)}, lambda v: softmax(v["z"]) * v["y"].sum() - v["y"], 2,
         once=(r"\operatorname{softmax}",)),
    Case("softmax-ce-regularised", r"-y^T \log(\operatorname{softmax}(Wx)) + \lambda \|W\|_F^2",
         "W", {**CE, "lambda": ()}, lambda v: _ce_W(v) + 2 * v["lambda"] * v["W"], 2,
         once=(r"\operatorname{softmax}",)),
    Case("ones-log-softmax", r"\mathbf{1}^T \log(\operatorname{softmax}(z))", "z", {"z": ("n",)},
         lambda v: 1 - SIZES["n"] * softmax(v["z"]), 2, once=(r"\operatorname{softmax}",)),
    Case("neg-ones-log-softmax", r"-\mathbf{1}^T \log(\operatorname{softmax}(z))", "z",
         {"z": ("n",)}, lambda v: SIZES["n"] * softmax(v["z"]) - 1, 2,
         once=(r"\operatorname{softmax}",)),
    Case("jacobian-log-softmax", r"\log(\operatorname{softmax}(z))", "z", {"z": ("n",)},
         lambda v: np.eye(SIZES["n"]) - np.outer(np.ones(SIZES["n"]), softmax(v["z"])), 2,
         kind="jacobian", once=(r"\operatorname{softmax}",)),
    Case("hessian-softmax-ce", r"-y^T \log(\operatorname{softmax}(z))", "z",
         {"z": ("n",), "y": ("n",)},
         lambda v: v["y"].sum() * (np.diag(softmax(v["z"]))
                                   - np.outer(softmax(v["z"]), softmax(v["z"]))), 1,
         kind="hessian"),
    # binary cross-entropy: X^T (sigma(Xw) - y)
    Case("bce-w", r"-y^T \log(\sigma(Xw)) - (\mathbf{1} - y)^T \log(\mathbf{1} - \sigma(Xw))",
         "w", BCE, _bce, 1, draw={"y": "unit"}, once=(r"\sigma",)),
    Case("bce-w-bold", r"-\mathbf{y}^T \log(\sigma(X\mathbf{w})) - (\mathbf{1} - \mathbf{y})^T "
         r"\log(1 - \sigma(X\mathbf{w}))", r"\mathbf{w}", BCE, _bce, 1, draw={"y": "unit"},
         once=(r"\sigma",)),
    Case("bce-z", r"-y^T \log(\sigma(z)) - (\mathbf{1} - y)^T \log(\mathbf{1} - \sigma(z))", "z",
         {"z": ("n",), "y": ("n",)}, lambda v: sigmoid(v["z"]) - v["y"], 2,
         draw={"y": "unit"}, once=(r"\sigma",)),
    Case("hessian-bce", r"-y^T \log(\sigma(Xw)) - (\mathbf{1} - y)^T \log(\mathbf{1} - \sigma(Xw))",
         "w", BCE,
         lambda v: (lambda s: v["X"].T @ np.diag(s * (1 - s)) @ v["X"])(sigmoid(v["X"] @ v["w"])),
         1, kind="hessian", draw={"y": "unit"}, absent=(r"\frac",)),
    Case("log-sigma-margin", r"-\mathbf{1}^T \log(\sigma(\mathbf{y} \odot X\mathbf{w}))",
         r"\mathbf{w}", BCE,
         lambda v: -v["X"].T @ (v["y"] * (1 - sigmoid(v["y"] * (v["X"] @ v["w"])))), 1,
         absent=(r"\frac",)),
    # x log x: the entropy's gradient log(x) + 1, its Hessian diag(1 / x)
    Case("entropy", r"x^T \log(x)", "x", {"x": ("n",)}, lambda v: np.log(v["x"]) + 1, 2,
         draw={"x": "positive"}),
    Case("hessian-entropy", r"x^T \log(x)", "x", {"x": ("n",)}, lambda v: np.diag(1 / v["x"]),
         1, kind="hessian", draw={"x": "positive"}, absent=(r"\odot",)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_compact_and_right(case: Case):
    shapes = dict(case.symbols)
    r = texgrad.differentiate(case.latex, wrt=case.wrt, shapes=shapes, kind=case.kind)
    assert r.check is not None and r.check.passed, explain(r)
    assert "verified" in r.stamp and "not verified" not in r.stamp, r.stamp
    assert r.terms == case.terms, r.latex
    for s in case.absent:
        assert s not in r.latex, r.latex
    for s in case.present:
        assert s in r.latex, r.latex
    for s in case.once:
        assert len(re.findall(re.escape(s) + r"(?![a-zA-Z])", r.latex)) == 1, r.latex
    rng = np.random.default_rng(2024)
    for _ in range(3):
        values = draw(case, rng)
        want = case.d(values)
        back = texgrad.evaluate(r.latex, values, shapes=shapes)     # the printed derivative
        assert np.shape(back) == np.shape(want), (np.shape(back), np.shape(want), r.latex)
        np.testing.assert_allclose(back, want, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(r.evaluate(values), want, rtol=1e-9, atol=1e-10)


def test_headline_form():
    """The gradient of the softmax cross-entropy, as printed."""
    r = texgrad.differentiate(r"-y^T \log(\operatorname{softmax}(Wx))", wrt="W",
                              shapes=dict(CE))
    assert r.latex == (r"\left(\left(\mathbf{1}^{T}y\right)\operatorname{softmax}(Wx) - y\right)"
                       r"x^{T}"), r.latex
    r = texgrad.differentiate(r"-y^T \log(\sigma(Xw)) - (\mathbf{1} - y)^T "
                              r"\log(\mathbf{1} - \sigma(Xw))", wrt="w", shapes=dict(BCE))
    assert r.latex == r"X^{T}\left(\sigma(Xw) - y\right)", r.latex


# ------------------------------------------------------------------ the constructors

n = ("n", 1)
a, b, y, s = (Sym(k, n, k) for k in "abys")
sm = S.softmax(b)


def test_hadamard_power_and_its_inverse_cancel():
    assert S.hadamard(a, S.power(a, -1)) == Ones(n)
    assert S.hadamard(y, a, S.power(a, -1)) == y
    assert S.hadamard(sm, S.hadamard(y, S.power(sm, -1))) == y


def test_hadamard_powers_add():
    assert S.hadamard(a, S.power(a, 2), S.power(a, -1)) == S.power(a, 2)
    assert S.hadamard(S.power(a, -1), S.power(a, -1)) == S.power(a, -2)
    assert S.hadamard(S.power(a, Fraction(1, 2)), S.power(a, Fraction(1, 2))) == a
    assert S.hadamard(y, S.power(a, 3), S.power(a, -1)) == S.hadamard(y, S.power(a, 2))


def test_hadamard_without_a_power_is_kept():
    # a o a is written as a textbook does (1 - tanh(x) o tanh(x)); only powers combine
    e = S.hadamard(a, a)
    assert isinstance(e, Hadamard) and e.factors == (a, a)


def test_hadamard_flattens_a_product_under_a_scalar():
    # s o (-(y o s^{-1})) = -y: the inner product is flattened although negated
    assert S.hadamard(sm, S.neg(S.hadamard(y, S.power(sm, -1)))) == S.neg(y)


def test_hadamard_of_numbers_is_their_product():
    t = Sym("t", (1, 1), "t")
    assert S.hadamard(S.const(2), t) == S.mul(S.const(2), t)


def test_inner_product_through_an_elementwise_quotient():
    # (y o s^{-1})^T s = 1^T y
    e = S.matmul(S.transpose(S.hadamard(y, S.power(sm, -1))), sm)
    assert e == S.matmul(S.transpose(Ones(n)), y)
    # (s^{-1})^T s = 1^T 1 = n, printed as tr(I_n) so that it reads back as n
    e = S.matmul(S.transpose(S.power(sm, -1)), sm)
    assert isinstance(e, Trace)


def test_other_inner_products_stay():
    for row, col in ((a, b), (a, S.hadamard(a, b)), (S.hadamard(a, y), b),
                     (a, S.power(b, -1))):
        e = S.matmul(S.transpose(row), col)
        assert isinstance(e, MatMul), e
        assert not any(isinstance(f, Transpose) and isinstance(f.arg, Ones) for f in e.factors)


def test_distribution_only_when_it_cancels():
    # s o (1 - s) o ((1 - y) o (1 - s)^{-1} - y o s^{-1}) = s - y
    one = Ones(n)
    q = S.sub(one, sm)
    g = S.sub(S.hadamard(S.sub(one, y), S.power(q, -1)), S.hadamard(y, S.power(sm, -1)))
    assert S.hadamard(sm, q, g) == S.sub(sm, y)
    # a^{-1} o (a + b) stays: 1 + b o a^{-1} is no shorter
    e = S.hadamard(S.power(a, -1), S.add(a, b))
    assert isinstance(e, Hadamard) and any(isinstance(f, Add) for f in e.factors)
    # a o (b + y) stays: nothing cancels
    e = S.hadamard(a, S.add(b, y))
    assert isinstance(e, Hadamard)
    assert not any(isinstance(f, Pow) for f in e.factors)
