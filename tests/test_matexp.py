"""The matrix exponential e^{X} (texgrad.matexp): its value, its canonical forms, and the
derivatives of its traces, each against an independent NumPy reference (e^{X} from an
eigendecomposition, gradients by central differences)."""

from __future__ import annotations

import numpy as np
import pytest

import texgrad
from refs import grad_fd
from texgrad import construct as C, ir, matexp

RNG = np.random.default_rng(12)


def expm_eig(a):
    """e^{a} from an eigendecomposition (independent of texgrad's Taylor series)."""
    w, v = np.linalg.eig(a)
    return (v @ np.diag(np.exp(w)) @ np.linalg.inv(v)).real


def _x(n=3, scale=0.7):
    return scale * RNG.standard_normal((n, n))


@pytest.mark.parametrize("scale", [0.1, 1.0, 6.0])
def test_the_value_agrees_with_an_eigendecomposition(scale):
    a = _x(4, scale)
    assert np.allclose(matexp.expm(np, a), expm_eig(a), rtol=1e-10, atol=1e-12)
    assert np.allclose(matexp.expm(np, np.zeros((2, 2))), np.eye(2))


def test_canonical_forms():
    X = ir.Sym("X", ("n", "n"))
    s = ir.Sym("s", (1, 1))
    assert matexp.matexp(ir.Zero(("n", "n"))) == ir.Identity("n")
    assert matexp.matexp(s) == C.func(texgrad.functions.EXP, s)
    assert matexp.matexp(C.transpose(X)) == C.transpose(ir.MatExp(X))
    assert C.det(ir.MatExp(X)) == C.func(texgrad.functions.EXP, C.trace(X))
    S = C.matmul(C.transpose(X), X)                      # e^{X^T X} is symmetric
    assert C.transpose(ir.MatExp(S)) == ir.MatExp(S)


def test_commutes_is_a_sufficient_test():
    X = ir.Sym("X", ("n", "n"))
    A = ir.Sym("A", ("n", "n"))
    assert matexp.commutes(ir.Identity("n"), X)
    assert matexp.commutes(C.add(X, C.matpow(X, 2), ir.MatExp(X)), X)
    assert not matexp.commutes(A, X)
    assert not matexp.commutes(C.transpose(X), X)


A3, B4 = RNG.standard_normal((3, 3)), RNG.standard_normal((4, 3))


CASES = [
    (r"\operatorname{tr}(e^{X})", lambda X: np.trace(expm_eig(X)), (3, 3), r"(e^{X})^{T}"),
    (r"\operatorname{tr}(e^{-X})", lambda X: np.trace(expm_eig(-X)), (3, 3),
     r"-(e^{-X})^{T}"),
    (r"\operatorname{tr}(X e^{X})", lambda X: np.trace(X @ expm_eig(X)), (3, 3), None),
    (r"\operatorname{tr}(X^2 e^{X})", lambda X: np.trace(X @ X @ expm_eig(X)), (3, 3), None),
    (r"\operatorname{tr}(e^{X^T X})", lambda X: np.trace(expm_eig(X.T @ X)), (4, 3),
     r"2Xe^{X^{T}X}"),
    (r"\operatorname{tr}(e^{A X B})", lambda X: np.trace(expm_eig(A3 @ X @ B4)), (3, 4),
     r"A^{T}(e^{AXB})^{T}B^{T}"),
    (r"\det(e^{X})", lambda X: np.linalg.det(expm_eig(X)), (3, 3), None),
    (r"\operatorname{tr}(\operatorname{expm}(2X))", lambda X: np.trace(expm_eig(2 * X)),
     (3, 3), r"2(e^{2X})^{T}"),
    (r"\log\operatorname{tr}(e^{X})", lambda X: np.log(np.trace(expm_eig(X))), (3, 3), None),
]


@pytest.mark.parametrize("text, f, shape, latex", CASES, ids=[c[0] for c in CASES])
def test_the_gradient_of_a_trace_of_an_exponential(text, f, shape, latex):
    x = 0.5 * RNG.standard_normal(shape)
    r = texgrad.differentiate(text, wrt="X")
    assert r.verified, r.stamp
    env = {"X": x, "A": A3, "B": B4}
    assert np.allclose(r.evaluate(env), grad_fd(f, x), rtol=1e-5, atol=1e-7), r.latex
    assert r.terms <= 2
    if latex is not None:
        assert r.latex == latex


@pytest.mark.parametrize("text, kind", [
    (r"\operatorname{tr}(A e^{X})", None),
    (r"\mathbf{a}^T e^{X}\mathbf{b}", None),
    (r"e^{X}", "jacobian"),
])
def test_no_closed_form_is_refused_with_the_reason_and_a_caret(text, kind):
    with pytest.raises(texgrad.TexgradError) as info:
        texgrad.differentiate(text, wrt="X", kind=kind)
    e = info.value
    assert e.kind == "unsupported" and "matrix exponential" in e.message
    assert "no closed form" in e.hint
    assert text[e.column - 1:e.column + 1] == "e^"


def test_exp_of_a_matrix_is_entrywise_and_said():
    r = texgrad.differentiate(r"\operatorname{tr}(\exp(X))", wrt="X")
    assert any("entrywise" in s for s in r.readings), r.readings
    x = _x()
    assert np.allclose(r.evaluate({"X": x}), np.eye(3) * np.exp(x))


def test_emit_torch_writes_matrix_exp_and_numpy_refuses():
    from texgrad.codegen import emit
    r = texgrad.differentiate(r"\operatorname{tr}(e^{X})", wrt="X")
    assert "torch.linalg.matrix_exp(X)" in emit(r, "torch")
    with pytest.raises(NotImplementedError, match="matrix exponential"):
        emit(r, "numpy")
