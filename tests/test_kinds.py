"""Every kind of derivative (Jacobian, Hessian, Laplacian, full derivative, by an entry), the
layouts and the symmetric-variable conventions, against independent NumPy references.

Each reference is written here: a NumPy version of f, differentiated by this file's own central
differences (``fd_jac``, ``fd_hess``) or given in closed form (often both, the closed form then
checked against the differences too).  Sizes are distinct and non-square, declared by name
through ``shapes=``.  Nothing compares texgrad with itself.  ``r.evaluate`` returns the full
array D[f-index..., variable-index...] whatever the layout, so the references use that layout.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import texgrad
from texgrad import TexgradError
from corpus import explain

# distinct sizes, so a transposition slip cannot hide behind a square shape
M, N, P, Q = 3, 4, 5, 2


# --------------------------------------------------------------------- references

def fd_jac(f, x, h=1e-6):
    """Central-difference derivative of f at x: D[f-index..., x-index...]."""
    x = np.asarray(x, dtype=float)
    f0 = np.asarray(f(x), dtype=float)
    out = np.empty(f0.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        out[(Ellipsis,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
    return out


def fd_scalar(f, t, h=1e-6):
    """Central difference of f by the scalar t (the shape of f)."""
    return (np.asarray(f(t + h)) - np.asarray(f(t - h))) / (2 * h)


def fd_hess(f, x, h=1e-4):
    """Second mixed central differences of a scalar f: H[x-index..., x-index...]."""
    x = np.asarray(x, dtype=float)
    idxs = list(np.ndindex(*x.shape))
    H = np.empty(x.shape + x.shape)
    for a in idxs:
        for b in idxs:
            ea = np.zeros_like(x)
            eb = np.zeros_like(x)
            ea[a] = h
            eb[b] = h
            H[a + b] = (f(x + ea + eb) - f(x + ea - eb) - f(x - ea + eb)
                        + f(x - ea - eb)) / (4 * h * h)
    return H


def close(got, want, rtol=1e-6, atol=1e-7):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale)


def rng_of(seed):
    return np.random.default_rng(seed)


def spd(rng, n):
    a = rng.standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------- 1. Jacobians

def _jacobian_cases():
    """(id, latex, wrt, shapes, values(rng) -> dict, numpy f of the variable's value)."""
    cases = []

    def add(cid, latex, wrt, shapes, make, f):
        cases.append(pytest.param(latex, wrt, shapes, make, f, id=cid))

    add("Ax", r"A\mathbf{x}", "x", {"A": ("m", "n"), "x": ("n",)},
        lambda r: {"A": r.standard_normal((M, N)), "x": r.standard_normal(N)},
        lambda v: lambda x: v["A"] @ x)
    add("exp(x)", r"\exp(\mathbf{x})", "x", {"x": ("n",)},
        lambda r: {"x": r.standard_normal(N)},
        lambda v: lambda x: np.exp(x))
    add("sigma(Wx)", r"\sigma(W\mathbf{x})", "x", {"W": ("m", "n"), "x": ("n",)},
        lambda r: {"W": r.standard_normal((M, N)), "x": r.standard_normal(N)},
        lambda v: lambda x: sigmoid(v["W"] @ x))
    add("xx^Ta", r"\mathbf{x}\mathbf{x}^T\mathbf{a}", "x", {"x": ("n",), "a": ("n",)},
        lambda r: {"x": r.standard_normal(N), "a": r.standard_normal(N)},
        lambda v: lambda x: x * (x @ v["a"]))
    add("x.x", r"\mathbf{x} \odot \mathbf{x}", "x", {"x": ("n",)},
        lambda r: {"x": r.standard_normal(N)},
        lambda v: lambda x: x * x)
    add("Xb", r"X\mathbf{b}", "X", {"X": ("m", "n"), "b": ("n",)},
        lambda r: {"X": r.standard_normal((M, N)), "b": r.standard_normal(N)},
        lambda v: lambda X: X @ v["b"])
    add("xa^T", r"\mathbf{x}\mathbf{a}^T", "x", {"x": ("m",), "a": ("n",)},
        lambda r: {"x": r.standard_normal(M), "a": r.standard_normal(N)},
        lambda v: lambda x: np.outer(x, v["a"]))
    add("AXB", r"AXB", "X", {"A": ("m", "n"), "X": ("n", "p"), "B": ("p", "q")},
        lambda r: {"A": r.standard_normal((M, N)), "X": r.standard_normal((N, P)),
                   "B": r.standard_normal((P, Q))},
        lambda v: lambda X: v["A"] @ X @ v["B"])
    add("AX^TB", r"AX^TB", "X", {"A": ("m", "n"), "X": ("p", "n"), "B": ("p", "q")},
        lambda r: {"A": r.standard_normal((M, N)), "X": r.standard_normal((P, N)),
                   "B": r.standard_normal((P, Q))},
        lambda v: lambda X: v["A"] @ X.T @ v["B"])
    add("X^-1", r"X^{-1}", "X", {"X": ("n", "n")},
        lambda r: {"X": r.standard_normal((N, N)) + N * np.eye(N)},
        lambda v: lambda X: np.linalg.inv(X))
    add("X^2", r"X^2", "X", {"X": ("n", "n")},
        lambda r: {"X": r.standard_normal((N, N))},
        lambda v: lambda X: X @ X)
    return cases


@pytest.mark.parametrize("latex, wrt, shapes, make, f", _jacobian_cases())
def test_jacobian_against_finite_differences(latex, wrt, shapes, make, f):
    rng = rng_of(11)
    r = texgrad.differentiate(latex, wrt=wrt, shapes=shapes)
    assert r.check.passed, explain(r)
    assert r.kind in ("jacobian", "derivative")
    for _ in range(2):
        v = make(rng)
        close(r.evaluate(v), fd_jac(f(v), v[wrt]))


def test_jacobian_closed_forms():
    """Closed forms next to the differences: J(Ax) = A, J(x o x) = 2 diag(x),
    d vec(AXB) = B^T kron A, d vec(AX^TB) = (B^T kron A) K, d X^{-1} = -X^{-1}_{ik} X^{-1}_{lj}."""
    rng = rng_of(12)
    A, x = rng.standard_normal((M, N)), rng.standard_normal(N)
    r = texgrad.differentiate(r"A\mathbf{x}", wrt="x", shapes={"A": ("m", "n"), "x": ("n",)})
    close(r.evaluate({"A": A, "x": x}), A)
    r = texgrad.differentiate(r"\mathbf{x} \odot \mathbf{x}", wrt="x", shapes={"x": ("n",)})
    close(r.evaluate({"x": x}), 2 * np.diag(x))

    A, X, B = (rng.standard_normal((M, N)), rng.standard_normal((P, N)),
               rng.standard_normal((P, Q)))
    r = texgrad.differentiate(r"AX^TB", wrt="X",
                              shapes={"A": ("m", "n"), "X": ("p", "n"), "B": ("p", "q")})
    # F_ab = sum_cd A_ac X_dc B_db, so dF_ab/dX_kl = A_al B_kb
    close(r.evaluate({"A": A, "X": X, "B": B}), np.einsum("al,kb->abkl", A, B))

    X = rng.standard_normal((N, N)) + N * np.eye(N)
    Xi = np.linalg.inv(X)
    r = texgrad.differentiate(r"X^{-1}", wrt="X", shapes={"X": ("n", "n")})
    close(r.evaluate({"X": X}), -np.einsum("ik,lj->ijkl", Xi, Xi))


def test_vector_by_scalar():
    rng = rng_of(13)
    latex = r"\mathbf{a}\cos t + \mathbf{b}\sin t"
    r = texgrad.differentiate(latex, wrt="t", shapes={"a": ("m",), "b": ("m",)})
    assert r.check.passed, explain(r)
    assert r.kind == "jacobian"
    a, b, t = rng.standard_normal(M), rng.standard_normal(M), 0.7
    got = r.evaluate({"a": a, "b": b, "t": t})
    close(got, fd_scalar(lambda s: a * np.cos(s) + b * np.sin(s), t))
    close(got, -a * np.sin(t) + b * np.cos(t))


def test_matrix_by_scalar():
    rng = rng_of(14)
    r = texgrad.differentiate(r"\sin(t) AB + t^2 C", wrt="t",
                              shapes={"A": ("m", "n"), "B": ("n", "p"), "C": ("m", "p")})
    assert r.check.passed, explain(r)
    A, B, C, t = (rng.standard_normal((M, N)), rng.standard_normal((N, P)),
                  rng.standard_normal((M, P)), -0.4)
    got = r.evaluate({"A": A, "B": B, "C": C, "t": t})
    close(got, fd_scalar(lambda s: np.sin(s) * A @ B + s * s * C, t))
    close(got, np.cos(t) * A @ B + 2 * t * C)


def test_exp_of_scalar_times_matrix():
    """``\\exp`` of a matrix is elementwise (README, "Functions"), so d/dt exp(tA) = A o exp(tA).
    If that ever becomes unsupported it must be a TexgradError, not a crash."""
    rng = rng_of(15)
    try:
        r = texgrad.differentiate(r"\exp(t A)", wrt="t", shapes={"A": ("m", "n")})
    except TexgradError:
        return
    assert r.check.passed, explain(r)
    A, t = rng.standard_normal((M, N)), 0.3
    got = r.evaluate({"A": A, "t": t})
    close(got, fd_scalar(lambda s: np.exp(s * A), t))
    close(got, A * np.exp(t * A))


# --------------------------------------------------------------------- 2. Hessians

def test_hessian_quadratic_form():
    rng = rng_of(21)
    B, x = rng.standard_normal((N, N)), rng.standard_normal(N)
    r = texgrad.differentiate(r"\mathbf{x}^T B \mathbf{x}", wrt="x", kind="hessian",
                              shapes={"x": ("n",), "B": ("n", "n")})
    assert r.kind == "hessian" and r.check.passed, explain(r)
    got = r.evaluate({"B": B, "x": x})
    close(got, fd_hess(lambda y: y @ B @ y, x), rtol=1e-5, atol=1e-6)
    close(got, B + B.T)


def test_hessian_least_squares():
    rng = rng_of(22)
    A, b, x = rng.standard_normal((M, N)), rng.standard_normal(M), rng.standard_normal(N)
    r = texgrad.differentiate(r"\|A\mathbf{x}-\mathbf{b}\|_2^2", wrt="x", kind="hessian",
                              shapes={"A": ("m", "n"), "x": ("n",), "b": ("m",)})
    assert r.check.passed, explain(r)
    got = r.evaluate({"A": A, "b": b, "x": x})
    close(got, fd_hess(lambda y: np.sum((A @ y - b) ** 2), x), rtol=1e-5, atol=1e-6)
    close(got, 2 * A.T @ A)


def test_hessian_logsumexp():
    rng = rng_of(23)
    x = rng.standard_normal(N)
    r = texgrad.differentiate(r"\log(\mathbf{1}^T\exp(\mathbf{x}))", wrt="x", kind="hessian",
                              shapes={"x": ("n",)})
    assert r.check.passed, explain(r)
    got = r.evaluate({"x": x})
    s = np.exp(x) / np.exp(x).sum()
    close(got, fd_hess(lambda y: np.log(np.exp(y).sum()), x), rtol=1e-5, atol=1e-6)
    close(got, np.diag(s) - np.outer(s, s))


def test_hessian_trace_quadratic_matrix():
    """H[i,j,k,l] = d^2 tr(X^T A X) / dX_ij dX_kl = (A + A^T)_ik delta_jl."""
    rng = rng_of(24)
    A, X = rng.standard_normal((M, M)), rng.standard_normal((M, N))
    r = texgrad.differentiate(r"\operatorname{tr}(X^T A X)", wrt="X", kind="hessian",
                              shapes={"A": ("m", "m"), "X": ("m", "n")})
    assert r.check.passed, explain(r)
    got = r.evaluate({"A": A, "X": X})
    assert got.shape == (M, N, M, N)
    close(got, fd_hess(lambda Y: np.trace(Y.T @ A @ Y), X), rtol=1e-5, atol=1e-6)
    close(got, np.einsum("ik,jl->ijkl", A + A.T, np.eye(N)))


def test_hessian_logdet_spd():
    """The gradient of log det X is X^{-T}: G_ij = Xi_ji, and d Xi_ji / dX_kl = -Xi_jk Xi_li."""
    rng = rng_of(25)
    X = spd(rng, N)
    Xi = np.linalg.inv(X)
    r = texgrad.differentiate(r"\log\det X", wrt="X", kind="hessian",
                              assume={"X": ("spd",)}, shapes={"X": ("n", "n")})
    assert r.check.passed, explain(r)
    got = r.evaluate({"X": X})
    assert got.shape == (N, N, N, N)
    closed = -np.einsum("jk,li->ijkl", Xi, Xi)
    close(got, closed)
    # the closed form against differences of the gradient X^{-T}
    close(closed, fd_jac(lambda Y: np.linalg.inv(Y).T, X))
    close(got, fd_hess(lambda Y: np.linalg.slogdet(Y)[1], X), rtol=1e-4, atol=1e-6)


def test_hessian_bilinear_in_X():
    """f = a^T X^T X b; grad = X S with S = a b^T + b a^T; H[i,j,k,l] = delta_ik S_lj."""
    rng = rng_of(26)
    a, b, X = rng.standard_normal(N), rng.standard_normal(N), rng.standard_normal((M, N))
    r = texgrad.differentiate(r"\mathbf{a}^T X^T X \mathbf{b}", wrt="X", kind="hessian",
                              shapes={"X": ("m", "n"), "a": ("n",), "b": ("n",)})
    assert r.check.passed, explain(r)
    got = r.evaluate({"a": a, "b": b, "X": X})
    S = np.outer(a, b) + np.outer(b, a)
    close(got, fd_hess(lambda Y: a @ Y.T @ Y @ b, X), rtol=1e-5, atol=1e-6)
    close(got, np.einsum("ik,lj->ijkl", np.eye(M), S))


def test_hessian_scalar():
    r = texgrad.differentiate(r"t^3", wrt="t", kind="hessian")
    assert r.check.passed, explain(r)
    t = 1.3
    close(r.evaluate({"t": t}), fd_hess(lambda s: s[0] ** 3, np.array([t]), h=1e-4)[0, 0],
          rtol=1e-5)
    close(r.evaluate({"t": t}), 6 * t)


@pytest.mark.parametrize("latex", [
    r"\frac{\partial^2 \log(\mathbf{1}^T\exp(\mathbf{x}))}{\partial \mathbf{x}\,\partial \mathbf{x}^\top}",
    r"\frac{\partial^2}{\partial \mathbf{x}\,\partial \mathbf{x}^\top} \log\left(\mathbf{1}^\top \exp(\mathbf{x})\right)",
    r"\nabla^2_{\mathbf{x}} \left(\log(\mathbf{1}^T\exp(\mathbf{x}))\right)",
], ids=["frac-f-inline", "frac-operator", "nabla2-sub"])
def test_hessian_requests_infer_kind(latex):
    rng = rng_of(27)
    r = texgrad.differentiate(latex, shapes={"x": ("n",)})
    assert r.kind == "hessian"
    assert r.check.passed, explain(r)
    x = rng.standard_normal(N)
    close(r.evaluate({"x": x}), fd_hess(lambda y: np.log(np.exp(y).sum()), x),
          rtol=1e-5, atol=1e-6)


def test_hessian_request_quadratic_inline():
    rng = rng_of(28)
    latex = r"\frac{\partial^2 \mathbf{x}^T B \mathbf{x}}{\partial \mathbf{x}\,\partial \mathbf{x}^\top}"
    r = texgrad.differentiate(latex, shapes={"x": ("n",), "B": ("n", "n")})
    assert r.kind == "hessian" and r.check.passed, explain(r)
    B, x = rng.standard_normal((N, N)), rng.standard_normal(N)
    close(r.evaluate({"B": B, "x": x}), B + B.T)
    r = texgrad.differentiate(r"\nabla^2_{\mathbf{x}} (\|A\mathbf{x}-\mathbf{b}\|_2^2)",
                              shapes={"A": ("m", "n"), "x": ("n",), "b": ("m",)})
    assert r.kind == "hessian" and r.check.passed, explain(r)
    A, b = rng.standard_normal((M, N)), rng.standard_normal(M)
    close(r.evaluate({"A": A, "b": b, "x": x}),
          fd_hess(lambda y: np.sum((A @ y - b) ** 2), x), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- 3. Laplacians

def test_laplacian_quadratic_form():
    rng = rng_of(31)
    B, x = rng.standard_normal((N, N)), rng.standard_normal(N)
    r = texgrad.differentiate(r"\nabla^2 (\mathbf{x}^T B \mathbf{x})", wrt="x",
                              shapes={"x": ("n",), "B": ("n", "n")})
    assert r.kind == "laplacian" and r.check.passed, explain(r)
    got = float(np.asarray(r.evaluate({"B": B, "x": x})))
    close(got, np.trace(fd_hess(lambda y: y @ B @ y, x)), rtol=1e-5, atol=1e-6)
    close(got, 2 * np.trace(B))


def test_laplacian_frobenius():
    rng = rng_of(32)
    X = rng.standard_normal((M, N))
    r = texgrad.differentiate(r"\Delta (\|X\|_F^2)", shapes={"X": ("m", "n")})
    assert r.kind == "laplacian" and r.check.passed, explain(r)
    got = float(np.asarray(r.evaluate({"X": X})))
    H = fd_hess(lambda Y: np.sum(Y * Y), X).reshape(M * N, M * N)
    close(got, np.trace(H), rtol=1e-5, atol=1e-6)
    close(got, 2 * M * N)


def test_laplacian_trace_quadratic_matrix():
    rng = rng_of(33)
    A, X = rng.standard_normal((M, M)), rng.standard_normal((M, N))
    r = texgrad.differentiate(r"\Delta \operatorname{tr}(X^T A X)", wrt="X",
                              shapes={"A": ("m", "m"), "X": ("m", "n")})
    assert r.kind == "laplacian" and r.check.passed, explain(r)
    got = float(np.asarray(r.evaluate({"A": A, "X": X})))
    close(got, 2 * N * np.trace(A))


# --------------------------------------------------------------------- 4. Layouts

LAYOUTS = ("numerator", "denominator", "mixed")


def test_layout_Ax_printing_and_values():
    rng = rng_of(41)
    shapes = {"A": ("m", "n"), "x": ("n",)}
    v = {"A": rng.standard_normal((M, N)), "x": rng.standard_normal(N)}
    res = {L: texgrad.differentiate(r"A\mathbf{x}", wrt="x", shapes=shapes, layout=L)
           for L in LAYOUTS}
    for L, r in res.items():
        assert r.check.passed, L
        assert "A" in r.latex, (L, r.latex)
    assert "^{T}" not in res["numerator"].latex
    assert "^{T}" in res["denominator"].latex
    assert "^{T}" not in res["mixed"].latex
    base = res["numerator"].evaluate(v)
    close(base, v["A"])
    for L in LAYOUTS:
        np.testing.assert_array_equal(res[L].evaluate(v), base)


def test_layout_scalar_gradient_keeps_shape():
    rng = rng_of(42)
    v = {"a": rng.standard_normal(N), "x": rng.standard_normal(N)}
    for L in LAYOUTS:
        r = texgrad.differentiate(r"\mathbf{a}^T\mathbf{x}", wrt="x", layout=L,
                                  shapes={"a": ("n",), "x": ("n",)})
        assert r.kind == "gradient" and r.check.passed, explain(r)
        assert "^{T}" not in r.latex and "\\top" not in r.latex, (L, r.latex)
        got = r.evaluate(v)
        assert np.shape(got) == (N,)
        close(got, v["a"])


@pytest.mark.parametrize("latex, wrt, shapes, make, f", [
    pytest.param(r"\mathbf{a}t", "t", {"a": ("m",)},
                 lambda r: {"a": r.standard_normal(M), "t": 0.5},
                 lambda v: lambda t: v["a"] * t, id="at"),
    pytest.param(r"\mathbf{x}\mathbf{a}^T", "x", {"x": ("m",), "a": ("n",)},
                 lambda r: {"x": r.standard_normal(M), "a": r.standard_normal(N)},
                 lambda v: lambda x: np.outer(x, v["a"]), id="xa^T"),
    pytest.param(r"X\mathbf{b}", "X", {"X": ("m", "n"), "b": ("n",)},
                 lambda r: {"X": r.standard_normal((M, N)), "b": r.standard_normal(N)},
                 lambda v: lambda X: X @ v["b"], id="Xb"),
    pytest.param(r"AXB", "X", {"A": ("m", "n"), "X": ("n", "p"), "B": ("p", "q")},
                 lambda r: {"A": r.standard_normal((M, N)), "X": r.standard_normal((N, P)),
                            "B": r.standard_normal((P, Q))},
                 lambda v: lambda X: v["A"] @ X @ v["B"], id="AXB"),
])
def test_layout_table_values_do_not_depend_on_layout(latex, wrt, shapes, make, f):
    rng = rng_of(43)
    v = make(rng)
    x0 = v[wrt]
    want = fd_scalar(f(v), x0) if np.ndim(x0) == 0 else fd_jac(f(v), x0)
    for L in LAYOUTS:
        r = texgrad.differentiate(latex, wrt=wrt, shapes=shapes, layout=L)
        assert r.check.passed, L
        close(r.evaluate(v), want)


def test_layout_scalar_jacobian_row():
    """kind='jacobian' of a scalar: a^T in numerator layout, a in denominator and mixed."""
    rng = rng_of(44)
    v = {"a": rng.standard_normal(N), "x": rng.standard_normal(N)}
    for L in LAYOUTS:
        r = texgrad.differentiate(r"\mathbf{a}^T\mathbf{x}", wrt="x", kind="jacobian",
                                  layout=L, shapes={"a": ("n",), "x": ("n",)})
        assert r.check.passed, explain(r)
        assert ("^{T}" in r.latex) == (L == "numerator"), (L, r.latex)
        close(np.ravel(r.evaluate(v)), v["a"])


def test_unknown_layout_api():
    with pytest.raises(TexgradError):
        texgrad.differentiate(r"A\mathbf{x}", wrt="x", layout="sideways")


# --------------------------------------------------------------------- 5. symmetric variables

def _sym_cases():
    return [
        pytest.param(r"\operatorname{tr}(AW)", {"A": ("n", "n"), "W": ("n", "n")},
                     lambda r: {"A": r.standard_normal((N, N))},
                     lambda v: lambda W: np.trace(v["A"] @ W), id="tr(AW)"),
        pytest.param(r"\mathbf{x}^T W \mathbf{x}", {"x": ("n",), "W": ("n", "n")},
                     lambda r: {"x": r.standard_normal(N)},
                     lambda v: lambda W: v["x"] @ W @ v["x"], id="x^TWx"),
    ]


@pytest.mark.parametrize("latex, shapes, make, f", _sym_cases())
def test_symmetric_conventions(latex, shapes, make, f):
    rng = rng_of(51)
    v = make(rng)
    S = rng.standard_normal((N, N))
    W = S + S.T
    v["W"] = W
    fw = f(v)
    G = fd_jac(fw, W)            # this file's own unconstrained gradient at a symmetric W

    res = {c: texgrad.differentiate(latex, wrt="W", shapes=shapes,
                                    assume={"W": ("symmetric",)}, symmetric=c)
           for c in ("G", "sym", "cookbook")}
    for c, r in res.items():
        assert r.check.passed, (c, r.check.max_rel_error)

    g = res["G"].evaluate(v)
    close(g, G)
    # <G, V> against a central difference along arbitrary (non-symmetric) directions V
    for _ in range(3):
        V = rng.standard_normal((N, N))
        h = 1e-6
        dd = (fw(W + h * V) - fw(W - h * V)) / (2 * h)
        close(np.sum(g * V), dd)

    s = res["sym"].evaluate(v)
    close(s, (G + G.T) / 2)
    np.testing.assert_allclose(s, s.T, rtol=1e-12, atol=1e-12)

    cb = res["cookbook"].evaluate(v)
    close(cb, G + G.T - np.diag(np.diag(G)))


def test_symmetric_sym_is_the_gradient_on_symmetric_matrices():
    """Along symmetric directions V, <sym, V> is the directional derivative; and the
    cookbook answer gives the derivative by each independent entry W_ij = W_ji (i <= j)."""
    rng = rng_of(52)
    A = rng.standard_normal((N, N))
    S = rng.standard_normal((N, N))
    W = S + S.T
    f = lambda Y: np.trace(A @ Y)   # noqa: E731
    kw = dict(wrt="W", shapes={"A": ("n", "n"), "W": ("n", "n")},
              assume={"W": ("symmetric",)})
    s = texgrad.differentiate(r"\operatorname{tr}(AW)", symmetric="sym", **kw).evaluate(
        {"A": A, "W": W})
    for _ in range(3):
        U = rng.standard_normal((N, N))
        V = U + U.T
        close(np.sum(s * V), (f(W + 1e-6 * V) - f(W - 1e-6 * V)) / 2e-6)
    cb = texgrad.differentiate(r"\operatorname{tr}(AW)", symmetric="cookbook", **kw).evaluate(
        {"A": A, "W": W})
    for i in range(N):
        for j in range(i, N):
            E = np.zeros((N, N))
            E[i, j] = E[j, i] = 1.0
            close(cb[i, j], (f(W + 1e-6 * E) - f(W - 1e-6 * E)) / 2e-6)


# --------------------------------------------------------------------- 6. by an entry

def _eq79_reference(X, B):
    """d(X^T B X)_kl / dX_ij = delta_jk (BX)_il + (X^T B)_ki delta_jl, as D[k, l, i, j]."""
    n = X.shape[1]
    I = np.eye(n)
    return (np.einsum("jk,il->klij", I, B @ X) + np.einsum("ki,jl->klij", X.T @ B, I))


def test_entry_eq79_index_form():
    rng = rng_of(61)
    X, B = rng.standard_normal((M, N)), rng.standard_normal((M, M))
    r = texgrad.differentiate(r"\frac{\partial}{\partial X_{ij}} (X^\top B X)_{kl}",
                              shapes={"X": ("m", "n"), "B": ("m", "m")})
    assert r.check.passed, explain(r)
    ref = _eq79_reference(X, B)
    close(ref, fd_jac(lambda Y: Y.T @ B @ Y, X))          # the reference itself
    got = r.evaluate({"X": X, "B": B})
    assert got.shape == (N, N, M, N)
    close(got, ref)


def test_entry_eq80_matrix_form():
    rng = rng_of(62)
    X, B = rng.standard_normal((M, N)), rng.standard_normal((M, M))
    r = texgrad.differentiate(r"X^T B X", wrt="X_{ij}", shapes={"X": ("m", "n"), "B": ("m", "m")})
    assert r.check.passed, explain(r)
    assert "J^{ij}" in r.latex and "J^{ji}" in r.latex, r.latex
    close(r.evaluate({"X": X, "B": B}), _eq79_reference(X, B))


def test_entry_eq90_cube():
    """d(X^3)_kl / dX_ij = sum_{r=0}^{2} (X^r)_ki (X^{2-r})_jl."""
    rng = rng_of(63)
    X = rng.standard_normal((N, N))
    r = texgrad.differentiate(r"\frac{\partial}{\partial X_{ij}} (X^3)_{kl}",
                              shapes={"X": ("n", "n")})
    assert r.check.passed, explain(r)
    pw = [np.linalg.matrix_power(X, k) for k in range(3)]
    ref = sum(np.einsum("ki,jl->klij", pw[k], pw[2 - k]) for k in range(3))
    close(ref, fd_jac(lambda Y: Y @ Y @ Y, X))
    close(r.evaluate({"X": X}), ref)


def test_entry_eq76_double_sum():
    rng = rng_of(64)
    X = rng.standard_normal((M, N))
    r = texgrad.differentiate(r"\frac{\partial}{\partial X_{ij}} \sum_{klmn} X_{kl} X_{mn}",
                              shapes={"X": ("m", "n")})
    assert r.check.passed, explain(r)
    assert r.latex.replace(" ", "") == r"2\sum_{kl}X_{kl}", r.latex
    ref = np.full((M, N), 2 * X.sum())
    close(ref, fd_jac(lambda Y: np.einsum("kl,mn->", Y, Y), X))
    close(r.evaluate({"X": X}), ref)


# --------------------------------------------------------------------- 7. bad requests

SRC = os.path.dirname(os.path.dirname(os.path.abspath(texgrad.__file__)))


def run_cli(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TEXGRAD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "texgrad", *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.parametrize("args", [
    pytest.param((r"A\mathbf{x}", "--wrt", "x", "--kind", "hessian"), id="hessian-of-vector"),
    pytest.param((r"\sum_{i} x_i y_i z_i", "--wrt", "x"), id="index-three-times"),
    pytest.param((r"A\mathbf{x}", "--wrt", "x", "--layout", "sideways"), id="unknown-layout"),
    pytest.param((r"A\mathbf{x}", "--wrt", "x", "--kind", "curl"), id="unknown-kind"),
    pytest.param((r"\operatorname{tr}(AW)", "--wrt", "W", "--assume", "W=symmetric",
                  "--symmetric", "upper"), id="unknown-symmetric"),
    pytest.param((r"\mathbf{x}^H A \mathbf{x}", "--wrt", "x", "--assume", "x=complex",
                  "--assume", "A=complex"), id="complex-valued-gradient"),
])
def test_cli_bad_requests_exit_2(args):
    p = run_cli(*args, "--no-stamp")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    assert p.stderr.strip(), "a bad request explains itself on stderr"


def test_api_bad_requests_raise_texgrad_error():
    with pytest.raises(TexgradError):
        texgrad.differentiate(r"A\mathbf{x}", wrt="x", kind="hessian")
    with pytest.raises(TexgradError):
        texgrad.differentiate(r"A\mathbf{x}", wrt="x", kind="laplacian")
    with pytest.raises(TexgradError):
        texgrad.differentiate(r"\sum_{i} x_i y_i z_i", wrt="x")
    with pytest.raises(TexgradError):
        texgrad.differentiate(r"A\mathbf{x}", wrt="x", kind="curl")
    with pytest.raises(TexgradError):
        texgrad.differentiate(r"\operatorname{tr}(AW)", wrt="W", symmetric="upper",
                              assume={"W": ("symmetric",)})


def test_complex_value_for_real_symbol():
    with pytest.raises(TexgradError):
        texgrad.evaluate(r"\mathbf{x}^T\mathbf{x}", {"x": np.array([1 + 1j, 2])})


def test_complex_valued_function_has_no_gradient():
    with pytest.raises(TexgradError):
        texgrad.differentiate(r"\mathbf{x}^H A \mathbf{x}", wrt="x",
                              assume={"x": ("complex",), "A": ("complex",)})


def test_real_valued_complex_function_has_a_gradient():
    """The contrast to the previous test: |a - x^H b|^2 is real, so it has a gradient,
    df/dRe(x) + i df/dIm(x) (README, Cookbook eq. 89), checked by this file's differences."""
    rng = rng_of(71)
    b = rng.standard_normal(N) + 1j * rng.standard_normal(N)
    x = rng.standard_normal(N) + 1j * rng.standard_normal(N)
    a = 0.3 - 0.8j
    r = texgrad.differentiate(r"\left|a - \mathbf{x}^H\mathbf{b}\right|^2", wrt="x",
                              shapes={"x": ("n",), "b": ("n",), "a": ()},
                              assume={"a": ("complex",), "x": ("complex",),
                                      "b": ("complex",)})
    assert r.check.passed, explain(r)
    f = lambda y: abs(a - np.conj(y) @ b) ** 2    # noqa: E731
    h = 1e-6
    want = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h)
                     + 1j * (f(x + 1j * h * e) - f(x - 1j * h * e)) / (2 * h)
                     for e in np.eye(N)])
    got = np.asarray(r.evaluate({"x": x, "b": b, "a": a}))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
