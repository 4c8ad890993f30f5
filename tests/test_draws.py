"""The numeric check's random inputs come from ``texgrad.numeric.Draws`` (the standard library's
Mersenne Twister), not ``numpy.random``: importing ``numpy.random`` costs 15-20 ms of a cold
start.  Pinned here: the draws are deterministic per seed, have numpy's shapes and dtype, keep
the check's inputs generic (non-square, non-symmetric unless assumed), and no path through the
API, the CLI or ``texgrad check`` imports ``numpy.random`` (decided in a fresh interpreter, so
other tests' imports cannot hide it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import texgrad
from texgrad.ir import Sym
from texgrad.numeric import Draws, assign_sizes, draw_env, draw_value


def test_same_seed_same_draws():
    a, b = Draws(11), Draws(11)
    for _ in range(3):
        np.testing.assert_array_equal(a.standard_normal((3, 4)), b.standard_normal((3, 4)))
        np.testing.assert_array_equal(a.uniform(0.5, 1.5, 5), b.uniform(0.5, 1.5, 5))
    assert not np.array_equal(Draws(11).standard_normal(6), Draws(12).standard_normal(6))
    s = Draws(11)
    assert not np.array_equal(s.standard_normal(6), s.standard_normal(6))


@pytest.mark.parametrize("size, shape", [(4, (4,)), ((3, 5), (3, 5)), ((2, 1), (2, 1)),
                                         ((1, 1), (1, 1)), ((0, 3), (0, 3)), ((), ()),
                                         (np.int64(3), (3,)), (np.empty((2, 3)).shape, (2, 3))])
def test_shapes_and_dtype_like_numpy(size, shape):
    d = Draws(0)
    for v in (d.standard_normal(size), d.uniform(0.5, 1.5, size)):
        assert isinstance(v, np.ndarray) and v.dtype == np.float64 and v.shape == shape
        assert v.shape == np.random.default_rng(0).standard_normal(size).shape


def test_size_none_is_a_float():
    d = Draws(0)
    assert type(d.standard_normal()) is float
    u = d.uniform(2.0, 3.0)
    assert type(u) is float and 2.0 <= u < 3.0


def test_distributions():
    d = Draws(5)
    z = d.standard_normal((200, 100))
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert len(np.unique(z)) == z.size
    u = d.uniform(0.5, 1.5, 20000)
    assert u.min() >= 0.5 and u.max() < 1.5 and abs(u.mean() - 1.0) < 0.01
    assert abs(u.std() - 1 / np.sqrt(12)) < 0.01


def test_drawn_inputs_stay_generic():
    """Distinct sizes per dimension, so a matrix is non-square and a square one non-symmetric
    unless an assumption says otherwise; assumptions are honoured."""
    syms = {"A": Sym("A", ("m", "n"), "A"), "B": Sym("B", ("n", "n"), "B"),
            "x": Sym("x", ("n", 1), "x"),
            "S": Sym("S", ("n", "n"), "S", frozenset({"symmetric"})),
            "P": Sym("P", ("n", "n"), "P", frozenset({"spd"})),
            "Q": Sym("Q", ("n", "n"), "Q", frozenset({"orthogonal"})),
            "D": Sym("D", ("n", "n"), "D", frozenset({"diagonal", "positive"}))}
    sizes = assign_sizes(syms)
    env = draw_env(syms, sizes, Draws(0), 0)
    assert env["A"].shape[0] != env["A"].shape[1]
    assert not np.allclose(env["B"], env["B"].T)
    assert env["x"].shape == (sizes["n"], 1)
    np.testing.assert_array_equal(env["S"], env["S"].T)
    assert np.all(np.linalg.eigvalsh(env["P"]) > 0)
    np.testing.assert_allclose(env["Q"].T @ env["Q"], np.eye(sizes["n"]), atol=1e-12)
    assert np.all(np.diag(env["D"]) > 0) and np.count_nonzero(env["D"]) == sizes["n"]
    z = draw_value(Sym("z", ("n", 1), "z", frozenset({"complex"})), sizes, Draws(0), 0)
    assert np.iscomplexobj(z) and np.all(z.imag != 0)


def test_check_is_deterministic():
    quad = r"\mathbf{x}^T B \mathbf{x}"
    a = texgrad.differentiate(quad, wrt="x").check
    b = texgrad.differentiate(quad, wrt="x").check
    assert a.passed and a.trials == 3 and a.directions == 6
    assert a.max_rel_error == b.max_rel_error


PROBE = textwrap.dedent(r"""
    import sys

    def clean(step):
        assert "numpy.random" not in sys.modules, "numpy.random imported by " + step

    import texgrad
    clean("import texgrad")
    r = texgrad.differentiate(r"\mathbf{x}^\top B\mathbf{x}", wrt=r"\mathbf{x}")
    assert r.check is not None and r.check.passed, r.check
    clean("differentiate (gradient, verified)")
    r = texgrad.differentiate(r"\left|a - \mathbf{x}^H\mathbf{b}\right|^2", wrt="x",
                              shapes={"x": ("n",), "b": ("n",), "a": ()},
                              assume={"a": ("complex",), "x": ("complex",),
                                      "b": ("complex",)})
    assert r.check.passed
    clean("differentiate (complex variable)")
    r = texgrad.differentiate(r"\nabla^2 (\mathbf{x}^T B \mathbf{x})", wrt="x",
                              shapes={"x": ("n",), "B": ("n", "n")})
    assert r.kind == "laplacian" and r.check.passed
    clean("differentiate (Laplacian)")
    r = texgrad.differentiate(r"\log\det(X)", wrt="X", assume={"X": ("spd",)},
                              kind="hessian")
    assert r.check.passed
    clean("differentiate (Hessian)")
    c = texgrad.check_claim(r"\frac{\partial}{\partial W}\|XW - Y\|_F^2 = 2X^T(XW - Y)")
    assert c.verdict is True
    clean("check_claim")
    from texgrad.cli import main
    try:
        main([r"\mathbf{x}^T B \mathbf{x}", "--wrt", "x"], standalone_mode=False)
    except SystemExit as e:
        assert not e.code, e.code
    clean("the CLI")
    print("CLEAN")
""")


def test_no_numpy_random_on_the_api_and_cli_paths():
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(texgrad.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("CLEAN"), proc.stdout
