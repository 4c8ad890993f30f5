"""texgrad.flow: the derivative along a flow, <grad f, x'> (--along), each answer against an
independent NumPy reference and against central differences of f along the velocity."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import texgrad
from texgrad.errors import ShapeError, TexgradError, Unsupported

RNG = np.random.default_rng(14)


def _fd_along(f, x, v, h=1e-6):
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def _sym(n):
    a = RNG.standard_normal((n, n))
    return a + a.T


def test_the_seeds_lyapunov_example():
    """V = x^T P x along x' = Ax, P symmetric: x^T(PA + A^TP)x, as the seed prints it."""
    r = texgrad.differentiate(r"\mathbf{x}^T P\mathbf{x}", wrt=r"\mathbf{x}",
                              along=r"\dot{\mathbf{x}} = A\mathbf{x}",
                              assume={"P": ("symmetric",)})
    assert r.latex == r"\mathbf{x}^{T}\left(PA + A^{T}P\right)\mathbf{x}"
    assert r.verified and r.kind == "along" and "along the flow" in r.stamp
    P, A, x = _sym(4), RNG.standard_normal((4, 4)), RNG.standard_normal(4)
    want = x @ (P @ A + A.T @ P) @ x
    assert np.isclose(r.evaluate({"x": x, "P": P, "A": A}), want)
    assert np.isclose(want, _fd_along(lambda y: y @ P @ y, x, A @ x))


def test_a_general_p_gives_the_symmetric_part():
    r = texgrad.differentiate(r"\mathbf{x}^T P\mathbf{x}", wrt=r"\mathbf{x}",
                              along=r"\dot{\mathbf{x}} = A\mathbf{x}")
    assert r.verified and r.latex.startswith(r"\frac{1}{2}\mathbf{x}^{T}")
    P, A, x = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3)), RNG.standard_normal(3)
    want = _fd_along(lambda y: y @ P @ y, x, A @ x)
    assert np.isclose(r.evaluate({"x": x, "P": P, "A": A}), want)
    assert np.isclose(want, x @ (P + P.T) @ A @ x)


@pytest.mark.parametrize("f, wrt, flow, latex", [
    (r"\log\det X", "X", r"\dot X = AX", r"\operatorname{tr}(A)"),
    (r"\log\det X", "X", r"\dot X = XA", r"\operatorname{tr}(A)"),
    (r"\operatorname{tr}(X^T X)", "X", r"\dot X = B - X",
     r"2\operatorname{tr}\left(X^{T}\left(B - X\right)\right)"),
    (r"\|\mathbf{x}\|^2", r"\mathbf{x}", r"\frac{d\mathbf{x}}{dt} = -\mathbf{x}",
     r"-2\mathbf{x}^{T}\mathbf{x}"),
    (r"x^3", "x", r"\dot x = -x", r"-3x^{3}"),
    (r"\mathbf{x}^T P\mathbf{x} + \mathbf{b}^T\mathbf{x}", r"\mathbf{x}",
     r"A\mathbf{x} + \mathbf{c}", None),
    (r"\|A\mathbf{x} - \mathbf{b}\|^2", r"\mathbf{x}",
     r"\dot{\mathbf{x}} = -A^T(A\mathbf{x} - \mathbf{b})", None),
])
def test_flows_against_numpy(f, wrt, flow, latex):
    r = texgrad.differentiate(f, wrt=wrt, along=flow)
    assert r.verified, r.stamp
    if latex:
        assert r.latex == latex
    n, m = 3, 5
    X = RNG.standard_normal((n, n)) + 3 * np.eye(n)
    A, B = RNG.standard_normal((n, n)), RNG.standard_normal((n, n))
    x, b, c = RNG.standard_normal(n), RNG.standard_normal(n), RNG.standard_normal(n)
    P = RNG.standard_normal((n, n))
    refs = {
        r"\dot X = AX": (lambda: np.trace(A), {"X": X, "A": A}),
        r"\dot X = XA": (lambda: np.trace(A), {"X": X, "A": A}),
        r"\dot X = B - X": (lambda: _fd_along(lambda Y: np.trace(Y.T @ Y), X, B - X),
                            {"X": X, "B": B}),
        r"\frac{d\mathbf{x}}{dt} = -\mathbf{x}": (lambda: -2 * x @ x, {"x": x}),
        r"\dot x = -x": (lambda: -3 * 1.7 ** 3, {"x": 1.7}),
        r"A\mathbf{x} + \mathbf{c}": (lambda: (A @ x + c) @ ((P + P.T) @ x + b),
                                      {"x": x, "P": P, "A": A, "b": b, "c": c}),
    }
    if flow.startswith(r"\dot{\mathbf{x}} = -A^T"):
        A2 = RNG.standard_normal((m, n))
        b2 = RNG.standard_normal(m)
        g = A2.T @ (A2 @ x - b2)
        want, values = -2 * g @ g, {"x": x, "A": A2, "b": b2}
        assert np.isclose(want, _fd_along(lambda y: np.sum((A2 @ y - b2) ** 2), x, -g))
    else:
        ref, values = refs[flow]
        want = ref()
    assert np.isclose(r.evaluate(values), want, rtol=1e-6)


@pytest.mark.parametrize("flow, error, words, column", [
    (r"\dot{\mathbf{y}} = A\mathbf{x}", TexgradError, "not the time derivative", 1),
    (r"\dot{\mathbf{x}} = A", ShapeError, "the velocity is a matrix", 20),
    (r"\dot{\mathbf{x}} = A\mathbf{x} +", TexgradError, "in --along", 33),
    (r"\dot{\mathbf{x}} = A\mathbf{x} = B\mathbf{x}", TexgradError, "more than one", 1),
    ("   ", TexgradError, "must be a formula", None),
])
def test_bad_flows_are_clear_errors_with_a_caret(flow, error, words, column):
    with pytest.raises(error) as info:
        texgrad.differentiate(r"\mathbf{x}^T P\mathbf{x}", wrt=r"\mathbf{x}", along=flow)
    e = info.value
    assert words in e.message and e.column == column
    if column:
        assert e.source == flow and "^" in e.render()


@pytest.mark.parametrize("f, kw, words", [
    (r"\log\det X", {"assume": {"X": ("spd",)}}, "declared spd"),
    (r"\mathbf{x}^H\mathbf{x}", {"assume": {"x": ("complex",)}}, "complex"),
    (r"\mathbf{x}^T\mathbf{x}", {"kind": "hessian"}, "not a hessian"),
])
def test_refusals(f, kw, words):
    with pytest.raises((Unsupported, TexgradError)) as info:
        texgrad.differentiate(f, along="A" if "X" in f else r"A\mathbf{x}", **kw)
    assert words in info.value.message


def test_a_shape_given_for_a_symbol_of_the_flow_is_used_not_warned():
    r = texgrad.differentiate(r"\mathbf{x}^T\mathbf{x}", wrt=r"\mathbf{x}",
                              along=r"A\mathbf{x}", shapes={"A": ("n", "n"), "x": ("n",)})
    assert r.verified and not r.warnings


def test_the_command_line():
    cmd = [sys.executable, "-m", "texgrad", r"\mathbf{x}^T P\mathbf{x}", "--wrt",
           r"\mathbf{x}", "--along", r"\dot{\mathbf{x}} = A\mathbf{x}", "--assume",
           "P=symmetric"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == r"\mathbf{x}^{T}\left(PA + A^{T}P\right)\mathbf{x}"
    assert lines[1].startswith("% verified numerically") and "along the flow" in lines[1]
    out = subprocess.run(cmd + ["--replace"], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith(r"\frac{d}{dt} \left(\mathbf{x}^T P\mathbf{x}\right) = ")
    out = subprocess.run(cmd[:-2] + ["--along", r"\dot{\mathbf{x}} = A"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "^" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(cmd + ["--emit", "step"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "derivative along a flow" in out.stderr


def test_generated_code_for_a_flow_against_numpy():
    from texgrad.codegen import emit
    r = texgrad.differentiate(r"\mathbf{x}^T P\mathbf{x}", wrt=r"\mathbf{x}",
                              along=r"\dot{\mathbf{x}} = A\mathbf{x}",
                              assume={"P": ("symmetric",)})
    ns: dict = {}
    exec(compile(emit(r, "numpy"), "<generated>", "exec"), ns)  # texgrad's own code
    P, A, x = _sym(4), RNG.standard_normal((4, 4)), RNG.standard_normal(4)
    f, fdot = ns["f_and_grad"](A, P, x)
    assert np.isclose(f, x @ P @ x) and np.isclose(fdot, x @ (P @ A + A.T @ P) @ x)


def test_a_named_function_is_written_v_dot():
    out = subprocess.run([sys.executable, "-m", "texgrad", r"V(\mathbf{x}) = \mathbf{x}^T P"
                          r"\mathbf{x}", "--wrt", r"\mathbf{x}", "--along",
                          r"\dot{\mathbf{x}} = A\mathbf{x}", "-a", "P=symmetric", "--replace"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.splitlines()[0].endswith(
        r"\dot{V} = \mathbf{x}^{T}\left(PA + A^{T}P\right)\mathbf{x}")
