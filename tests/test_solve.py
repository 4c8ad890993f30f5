"""texgrad.solve (texgrad solve): the stationary point in closed form.  Each solution is
evaluated at random non-square inputs and compared with an independent NumPy solution
(np.linalg.solve / lstsq) of the same problem, and its gradient checked to vanish there."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from texgrad.solve import solve

RNG = np.random.default_rng(141)
N, M, P = 3, 5, 2


def _sym(n):
    a = RNG.standard_normal((n, n))
    return a + a.T + 2 * n * np.eye(n)


A, b = RNG.standard_normal((M, N)), RNG.standard_normal(M)
X, y = RNG.standard_normal((M, N)), RNG.standard_normal(M)
W = _sym(M)
Q, Qs = RNG.standard_normal((N, N)) + 3 * np.eye(N), _sym(N)
Y = RNG.standard_normal((M, P))
lam, mu = 0.7, 1.3
c = RNG.standard_normal(N)
C = RNG.standard_normal((N, P))
As = _sym(N)
B2, C2 = RNG.standard_normal((P, 4)), RNG.standard_normal((M, 4))     # X: (N, P)
Bs, C3 = _sym(P), RNG.standard_normal((N, P))

# (formula, variable, assumptions, the printed condition and solution, values, reference)
CASES = [
    (r"\|A\mathbf{x} - \mathbf{b}\|^2", r"\mathbf{x}", {},
     r"A^{T}A\mathbf{x} = A^{T}\mathbf{b}", r"\mathbf{x} = (A^{T}A)^{-1}A^{T}\mathbf{b}",
     {"A": A, "b": b}, lambda: np.linalg.lstsq(A, b, rcond=None)[0]),
    (r"\|X\mathbf{w} - \mathbf{y}\|^2 + \lambda\|\mathbf{w}\|^2", r"\mathbf{w}", {},
     r"\left(X^{T}X + \lambda I\right)\mathbf{w} = X^{T}\mathbf{y}",
     r"\mathbf{w} = \left(X^{T}X + \lambda I\right)^{-1}X^{T}\mathbf{y}",
     {"X": X, "y": y, "lambda": lam},
     lambda: np.linalg.solve(X.T @ X + lam * np.eye(N), X.T @ y)),
    (r"(\mathbf{x} - A\mathbf{s})^T W (\mathbf{x} - A\mathbf{s})", r"\mathbf{s}",
     {"W": ("symmetric",)}, r"A^{T}WA\mathbf{s} = A^{T}W\mathbf{x}",
     r"\mathbf{s} = (A^{T}WA)^{-1}A^{T}W\mathbf{x}", {"A": A, "W": W, "x": b},
     lambda: np.linalg.solve(A.T @ W @ A, A.T @ W @ b)),
    (r"\frac12\mathbf{x}^TQ\mathbf{x} - \mathbf{b}^T\mathbf{x}", r"\mathbf{x}",
     {"Q": ("symmetric",)}, r"Q\mathbf{x} = \mathbf{b}", r"\mathbf{x} = Q^{-1}\mathbf{b}",
     {"Q": Qs, "b": c}, lambda: np.linalg.solve(Qs, c)),
    (r"\frac12\mathbf{x}^TQ\mathbf{x} - \mathbf{b}^T\mathbf{x}", r"\mathbf{x}", {},
     r"\left(Q + Q^{T}\right)\mathbf{x} = 2\mathbf{b}",
     r"\mathbf{x} = 2\left(Q + Q^{T}\right)^{-1}\mathbf{b}", {"Q": Q, "b": c},
     lambda: np.linalg.solve(Q + Q.T, 2 * c)),
    (r"\|XW - Y\|_F^2", "W", {}, r"X^{T}XW = X^{T}Y", r"W = (X^{T}X)^{-1}X^{T}Y",
     {"X": X, "Y": Y}, lambda: np.linalg.lstsq(X, Y, rcond=None)[0]),
    (r"\|XW - Y\|_F^2 + \lambda\|W\|_F^2", "W", {},
     r"\left(X^{T}X + \lambda I\right)W = X^{T}Y",
     r"W = \left(X^{T}X + \lambda I\right)^{-1}X^{T}Y", {"X": X, "Y": Y, "lambda": lam},
     lambda: np.linalg.solve(X.T @ X + lam * np.eye(N), X.T @ Y)),
    (r"\|WX - Y\|_F^2", "W", {}, r"WXX^{T} = YX^{T}", r"W = YX^{T}(XX^{T})^{-1}",
     {"X": X.T, "Y": Y.T}, lambda: np.linalg.lstsq(X, Y, rcond=None)[0].T),
    (r"\|A\mathbf{x} - \mathbf{b}\|^2 + \mu\|\mathbf{x} - \mathbf{c}\|^2", r"\mathbf{x}", {},
     r"\left(A^{T}A + \mu I\right)\mathbf{x} = A^{T}\mathbf{b} + \mu\mathbf{c}", None,
     {"A": A, "b": b, "c": c, "mu": mu},
     lambda: np.linalg.solve(A.T @ A + mu * np.eye(N), A.T @ b + mu * c)),
    (r"\operatorname{tr}(X^TAX) - 2\operatorname{tr}(C^TX)", "X", {"A": ("symmetric",)},
     r"AX = C", r"X = A^{-1}C", {"A": As, "C": C}, lambda: np.linalg.solve(As, C)),
    (r"a x^2 - 2bx", "x", {}, r"ax = b", r"x = \frac{b}{a}", {"a": 2.5, "b": -0.8},
     lambda: -0.8 / 2.5),
    (r"\|AXB - C\|_F^2", "X", {}, r"A^{T}AXBB^{T} = A^{T}CB^{T}",
     r"X = (A^{T}A)^{-1}A^{T}CB^{T}(BB^{T})^{-1}", {"A": A, "B": B2, "C": C2},
     lambda: np.linalg.pinv(A) @ C2 @ np.linalg.pinv(B2)),
    (r"\operatorname{tr}(X^TAXB) - 2\operatorname{tr}(C^TX)", "X",
     {"A": ("symmetric",), "B": ("symmetric",)}, r"AXB = C", r"X = A^{-1}CB^{-1}",
     {"A": As, "B": Bs, "C": C3}, lambda: np.linalg.solve(As, C3) @ np.linalg.inv(Bs)),
    (r"\mathbf{x}^T\mathbf{x} - 2\mathbf{c}^T\mathbf{x}", r"\mathbf{x}", {},
     r"\mathbf{x} = \mathbf{c}", r"\mathbf{x} = \mathbf{c}", {"c": c}, lambda: c),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0][:40] for c in CASES])
def test_affine_gradients_are_solved_and_checked(case):
    f, wrt, assume, cond, sol, values, ref = case
    s = solve(f, wrt=wrt, assume=assume)
    assert s.condition == cond
    if sol is not None:
        assert s.solution == sol
    assert s.verified is True and s.stamp.startswith("solution verified")
    assert s.gradient.verified
    got = s.evaluate(values)
    assert np.allclose(got, ref(), rtol=1e-8, atol=1e-10), (got, ref())


def test_the_assumptions_are_said():
    s = solve(r"\|A\mathbf{x} - \mathbf{b}\|^2", wrt=r"\mathbf{x}")
    assert s.assumptions == ("A^{T}A invertible",)
    assert solve(r"\mathbf{x}^T\mathbf{x}", wrt=r"\mathbf{x}").assumptions == ()


def test_a_gradient_not_affine_gives_the_condition_and_says_why():
    s = solve(r"\sum_{i=1}^{n}\log(1+\exp(-y_i\mathbf{w}^T\mathbf{x}_i))", wrt=r"\mathbf{w}")
    assert s.solution is None and s.condition.endswith(r" = \mathbf{0}")
    assert "not affine" in s.reason and s.verified is None


def test_a_sylvester_condition_is_stated_not_solved():
    s = solve(r"\frac12\operatorname{tr}(X^TAX) + \frac12\operatorname{tr}(X^TXB) - "
              r"\operatorname{tr}(C^TX)", wrt="X",
              assume={"A": ("symmetric",), "B": ("symmetric",)})
    assert s.condition == "AX + XB = C" and s.solution is None and "Sylvester" in s.reason


def test_a_wrong_solution_would_be_caught():
    """The residual check itself: the normal equations' solution with A^T in the wrong
    place does not make the gradient vanish."""
    from texgrad import construct as S
    from texgrad.solve import check_solution
    s = solve(r"\|A\mathbf{x} - \mathbf{b}\|^2", wrt=r"\mathbf{x}")
    g = s.gradient
    x, Am, bm = g.symbols["x"], g.symbols["A"], g.symbols["b"]
    ata = S.matmul(S.transpose(Am), Am)
    wrong = S.matmul(S.inverse(ata), S.transpose(Am), S.mul(S.const(2), bm))
    ok, stamp = check_solution(g.expr, x, wrong, (ata,), g.symbols)
    assert ok is False and "FAILED" in stamp


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "texgrad", "solve", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_command_line():
    out = _cli(r"\|A\mathbf{x} - \mathbf{b}\|^2", "--wrt", r"\mathbf{x}")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == [r"A^{T}A\mathbf{x} = A^{T}\mathbf{b}",
                         r"\mathbf{x} = (A^{T}A)^{-1}A^{T}\mathbf{b}"]
    assert lines[2].startswith("% solution verified") and "assumes A^{T}A invertible" in lines[2]
    out = _cli(r"\|A\mathbf{x} - \mathbf{b}\|^2", "--wrt", r"\mathbf{x}", "--format", "json")
    d = json.loads(out.stdout)
    assert d["condition"] == r"A^{T}A\mathbf{x} = A^{T}\mathbf{b}" and d["verified"] is True
    assert d["assumptions"] == ["A^{T}A invertible"]
    out = _cli(r"\|A\mathbf{x} - ", "--wrt", r"\mathbf{x}")
    assert out.returncode == 2 and "^" in out.stderr and "Traceback" not in out.stderr
    out = _cli(r"\sum_{i=1}^{n}\log(1+\exp(-y_i\mathbf{w}^T\mathbf{x}_i))", "--wrt",
               r"\mathbf{w}")
    assert out.returncode == 0 and "not affine" in out.stdout
    assert len(out.stdout.splitlines()) == 2


@pytest.mark.parametrize("f, cond, sol", [
    ("x^2", "x = 0", "x = 0"),
    ("3x^2 - 6x", "x = 1", "x = 1"),
])
def test_scalar_conditions_are_divided_out(f, cond, sol):
    s = solve(f)
    assert (s.condition, s.solution, s.assumptions) == (cond, sol, ()) and s.verified


def test_a_linear_f_has_a_constant_gradient_and_says_so():
    s = solve(r"\mathbf{a}^T\mathbf{x}", wrt=r"\mathbf{x}")
    assert s.condition == r"\mathbf{a} = \mathbf{0}" and s.solution is None
    assert "does not depend on" in s.reason
