"""Printing is linear in the distinct nodes of the derivative (F2: nested functions printed
their argument twice per level, 2^depth work), and so are the sort keys the simplifier
orders by.  Values are checked against NumPy written out here, never against texgrad."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from texgrad.functions import BY_NAME as FN
import texgrad
from texgrad import printer
from texgrad.ir import Func, Sym
from texgrad.sortkey import skey

REPRO = Path(__file__).parent / "data" / "repro"
X = Sym("x", (1, 1))


def _nested_sin_derivative(n: int, x: float) -> float:
    """d/dx sin^n(x) by the chain rule, in NumPy."""
    v, d = x, 1.0
    for _ in range(n):
        d *= np.cos(v)
        v = np.sin(v)
    return d


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def test_repro_sin_nested30_prints_fast():
    text = (REPRO / "diff_sin_nested30.txt").read_text().strip()
    r, dt = _timed(lambda: texgrad.differentiate(text, wrt="x", verify=False))
    assert dt < 2.0, f"{dt:.1f} s"
    assert r.latex.count("\\cos") == 30
    for x in (0.3, -1.1, 2.0):
        assert np.isclose(r.evaluate({"x": x}), _nested_sin_derivative(30, x), rtol=1e-12)


@pytest.mark.parametrize("n", [30, 60, 120])
def test_nested_sin_linear(n):
    text = "\\sin(" * n + "x" + ")" * n
    r, dt = _timed(lambda: texgrad.differentiate(text, wrt="x", verify=True))
    assert dt < 2.0, f"n={n}: {dt:.1f} s"
    assert r.verified
    assert np.isclose(r.evaluate({"x": 0.7}), _nested_sin_derivative(n, 0.7), rtol=1e-10)


@pytest.mark.parametrize("head, close, var", [
    ("\\exp(", ")", "x"),
    ("\\log ", "", "x"),
    ("\\tanh(", ")", "x"),
    ("\\log\\det(I+", ")", "X"),
])
def test_nested_heads_linear(head, close, var):
    for n in (40, 120):
        text = head * n + var + close * n
        _, dt = _timed(lambda: texgrad.differentiate(text, wrt=var, verify=False))
        assert dt < 2.0, f"{head} x{n}: {dt:.1f} s"


def test_printer_prints_each_node_once(monkeypatch):
    calls = []
    orig = printer.LatexPrinter._print_Func

    def counting(self, e):
        calls.append(e)
        return orig(self, e)
    monkeypatch.setattr(printer.LatexPrinter, "_print_Func", counting)
    e = X
    for _ in range(25):
        e = Func(FN["sin"], e)
    s = printer.latex(e)
    assert s.count("\\sin") == 25
    assert len(calls) == 25        # before: 2^25 - 1


def test_printer_memo_follows_style():
    p = printer.LatexPrinter(printer.Style(transpose="T"))
    a = Sym("A", ("n", "n"))
    from texgrad.ir import Transpose
    assert p.doprint(Transpose(a)) == "A^{T}"
    p.style.transpose = "\\top"
    assert p.doprint(Transpose(a)) == "A^{\\top}"


def test_join_spacing():
    assert printer._join(["\\alpha", "x"]) == "\\alpha x"
    assert printer._join(["2", "3"]) == "2 3"
    assert printer._join(["x", "y"]) == "xy"
    assert printer._join(["\\alpha", "", "x"]) == "\\alpha x"
    assert printer._join(["a\\", "x"]) == "a\\x"   # a lone backslash is no control word


def test_skey_linear_on_shared_dag():
    from texgrad.ir import Mul
    shared = X
    for _ in range(60):                 # each level names the one below twice
        shared = Mul((shared, Func(FN["exp"], shared)))
    k, dt = _timed(lambda: skey(shared))
    assert dt < 1.0
    assert skey(shared) == k           # deterministic and remembered
    assert len(k) < 10_000


def test_printed_length_bounded():
    from texgrad.ir import Mul
    shared = X
    for _ in range(40):                 # a DAG whose printed tree has 2^40 leaves
        shared = Mul((shared, Func(FN["exp"], shared)))
    with pytest.raises(texgrad.LimitError, match="longer than"):
        printer.latex(shared)


def test_power_tower_linear():
    """x^{x^{...}} 30 deep (F2's tower: 98 s at 20 deep; elaborate.Typer.t_sup built a
    non-constant exponent twice per level)."""
    n = 30
    text = "x^{" * n + "x" + "}" * n
    _, dt = _timed(lambda: texgrad.differentiate(text, wrt="x", verify=False, time_limit=10))
    assert dt < 2.0


@pytest.mark.parametrize("k, printed", [
    (1000, "1000(X^{999})^{T}"),
    (3, "3(X^{2})^{T}"),
    (-1000, "-1000(X^{-1001})^{T}"),
    (-3, "-3(X^{-4})^{T}"),
])
def test_trace_of_power_in_cookbook_form(k, printed):
    """d tr(X^k)/dX = k (X^{k-1})^T (Cookbook eq. 106), also for negative k; it printed
    \\sum_{r=0}^{999} (X^{r})^{T}I(X^{999-r})^{T}."""
    r = texgrad.differentiate(f"\\operatorname{{tr}}(X^{{{k}}})", wrt="X")
    assert r.latex == printed and r.verified
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    X = q @ np.diag([1.001, 0.999, -1.0005, 0.9995]) @ q.T + 0.001 * rng.standard_normal((4, 4))
    want = k * np.linalg.matrix_power(X, k - 1).T
    np.testing.assert_allclose(r.evaluate({"X": X}), want, rtol=1e-8)


def test_a_symbolic_power_prints_as_a_power():
    # exp(p log x), how x^p with a letter exponent is built, prints as x^{p}
    import numpy as np
    r = texgrad.differentiate("x^p", wrt="x")
    assert "\\exp" not in r.latex and r.latex == "px^{p - 1}"     # p x^p / x folded
    assert np.isclose(r.evaluate({"x": 2.0, "p": 3.0}), 3 * 2.0 ** 2)
    assert texgrad.differentiate("2^{t}", wrt="t").latex == "\\log(2)2^{t}"
