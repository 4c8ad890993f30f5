"""texgrad.steps (--emit step, numpy-step, jax-step, torch-step): one step of gradient
descent, in LaTeX and as code, against independent NumPy updates."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import texgrad
from texgrad.errors import TexgradError
from texgrad.steps import step_code, step_latex

RNG = np.random.default_rng(143)
LMS = r"|d - \mathbf{w}^H\mathbf{x}|^2"
LMS_ASSUME = {"w": ("complex",), "x": ("complex",), "d": ("complex",)}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "texgrad", *args], capture_output=True,
                          text=True, timeout=120)


def _run(source: str) -> dict:
    ns: dict = {}
    exec(compile(source, "<generated>", "exec"), ns)     # texgrad's own generated code
    return ns


def test_the_seeds_complex_lms_step():
    out = _cli(LMS, "--wrt", r"\mathbf{w}", "-a", "w=complex", "-a", "x=complex",
               "-a", "d=complex", "--emit", "step")
    assert out.returncode == 0, out.stderr
    line, stamp = out.stdout.splitlines()
    assert line == (r"\mathbf{w} \leftarrow \mathbf{w} + 2\mu\left(d - \mathbf{w}^{H}"
                    r"\mathbf{x}\right)^{*}\mathbf{x}")
    assert stamp.startswith("% verified numerically")


def test_the_lms_step_in_numpy_updates_in_place():
    r = texgrad.differentiate(LMS, wrt=r"\mathbf{w}", assume=LMS_ASSUME)
    ns = _run(step_code(r, "numpy-step"))
    n = 4
    w = RNG.standard_normal(n) + 1j * RNG.standard_normal(n)
    x = RNG.standard_normal(n) + 1j * RNG.standard_normal(n)
    d = complex(RNG.standard_normal(), RNG.standard_normal())
    mu = 0.05
    e = d - np.vdot(w, x)                       # d - w^H x
    want = w + 2 * mu * np.conj(e) * x          # the seed's update
    same = w
    got = ns["step"](d, w, x, mu)
    assert got is same and np.allclose(w, want)


def test_least_squares_step_latex_and_code():
    r = texgrad.differentiate(r"\|X\mathbf{w} - \mathbf{y}\|^2", wrt=r"\mathbf{w}")
    assert step_latex(r) == (r"\mathbf{w} \leftarrow \mathbf{w} - 2\mu X^{T}"
                                      r"\left(X\mathbf{w} - \mathbf{y}\right)")
    X, y, w = RNG.standard_normal((6, 3)), RNG.standard_normal(6), RNG.standard_normal(3)
    want = w - 0.1 * 2 * X.T @ (X @ w - y)
    w0 = w.copy()
    ns = _run(step_code(r, "numpy-step"))
    ns["step"](X, w, y, 0.1)
    assert np.allclose(w, want) and not np.allclose(w, w0)


def test_a_letter_the_formula_has_is_not_the_step_size():
    r = texgrad.differentiate(r"\|\mathbf{x} - \boldsymbol\mu\|^2", wrt=r"\mathbf{x}")
    assert r"\eta" in step_latex(r) and "\\mu" in step_latex(r)
    assert "def step(mu, x, eta):" in step_code(r, "numpy-step")


def test_torch_step_in_place():
    torch = pytest.importorskip("torch")
    r = texgrad.differentiate(r"\|X\mathbf{w} - \mathbf{y}\|^2", wrt=r"\mathbf{w}")
    ns = _run(step_code(r, "torch-step"))
    X, y, w = RNG.standard_normal((6, 3)), RNG.standard_normal(6), RNG.standard_normal(3)
    want = w - 0.1 * 2 * X.T @ (X @ w - y)
    wt = torch.tensor(w, dtype=torch.float64)
    assert ns["step"](torch.tensor(X), wt, torch.tensor(y), 0.1) is wt
    assert np.allclose(wt.numpy(), want)


def test_jax_step_returns_the_new_value():
    jnp = pytest.importorskip("jax.numpy")
    import jax
    jax.config.update("jax_enable_x64", True)
    r = texgrad.differentiate(r"\|X\mathbf{w} - \mathbf{y}\|^2", wrt=r"\mathbf{w}")
    ns = _run(step_code(r, "jax-step"))
    X, y, w = RNG.standard_normal((6, 3)), RNG.standard_normal(6), RNG.standard_normal(3)
    want = w - 0.1 * 2 * X.T @ (X @ w - y)
    assert np.allclose(np.asarray(ns["step"](jnp.asarray(X), jnp.asarray(w),
                                             jnp.asarray(y), 0.1)), want)


def test_a_step_needs_a_gradient():
    r = texgrad.differentiate(r"A\mathbf{x}", wrt=r"\mathbf{x}")
    with pytest.raises(TexgradError):
        step_code(r, "numpy-step")
    out = _cli(r"A\mathbf{x}", "--wrt", r"\mathbf{x}", "--emit", "step")
    assert out.returncode == 2 and "gradient descent" in out.stderr
