"""texgrad.servework: the playground's answer to one request, as a function of a dict.

Answers are checked against independent NumPy references (the generated code is run at
random non-square inputs and compared with the hand-written gradient)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from texgrad.servework import MAX_FORMULA, answer


def _run(source: str) -> dict:
    ns: dict = {}
    exec(compile(source, "<generated>", "exec"), ns)     # texgrad's own generated code
    return ns


def test_least_squares_answer_and_its_code_against_numpy():
    out = answer({"latex": r"\|XW-Y\|_F^2", "wrt": "W"})
    json.dumps(out)                                        # plain data only
    assert out["ok"] and out["status"] == "verified" and out["verified"]
    assert out["derivative"] == r"2X^{T}\left(XW - Y\right)"
    assert out["equation"].endswith("= " + out["derivative"])
    assert out["shapes"] == {"X": ["n", "m"], "W": ["m", "p"], "Y": ["n", "p"]}
    assert any(c.startswith("layout: ") for c in out["conventions"])
    assert "shapes: X n×m, W m×p, Y n×p" in out["conventions"]
    rng = np.random.default_rng(1)
    W, X, Y = rng.standard_normal((4, 2)), rng.standard_normal((5, 4)), \
        rng.standard_normal((5, 2))
    f, g = _run(out["code"]["numpy"])["f_and_grad"](W, X, Y)
    assert np.isclose(f, np.sum((X @ W - Y) ** 2))
    assert np.allclose(g, 2 * X.T @ (X @ W - Y))
    for target in ("jax", "torch"):
        assert "def f_and_grad" in out["code"][target]


def test_quadratic_form_with_shapes_and_assumptions():
    out = answer({"latex": r"\mathbf{x}^\top W\mathbf{x}", "wrt": r"\mathbf{x}",
                  "shapes": "x=n; W=n,n", "assume": "W=symmetric"})
    assert out["ok"] and out["derivative"] == r"2W\mathbf{x}"
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 3))
    W, x = a + a.T, rng.standard_normal(3)
    _f, g = _run(out["code"]["numpy"])["f_and_grad"](W, x)
    assert np.allclose(g, 2 * W @ x)


def test_a_syntax_error_has_the_line_column_and_a_caret():
    out = answer({"latex": "\\mathbf{x}^\\top B\\,+", "wrt": "\\mathbf{x}"})
    assert not out["ok"]
    e = out["error"]
    assert e["kind"] == "syntax error" and (e["line"], e["column"]) == (1, 21)
    lines = out["report"].splitlines()
    assert lines[1] == "1 | \\mathbf{x}^\\top B\\,+"
    assert lines[2].index("^") == lines[1].index("+") + 1 and "hint:" in out["report"]


def test_a_shape_error_is_an_answer_not_an_exception():
    out = answer({"latex": r"A\mathbf{x}", "wrt": r"\mathbf{x}", "shapes": "A=m,n x=p"})
    assert not out["ok"] and out["error"]["kind"] == "shape error"


@pytest.mark.parametrize("req, words", [
    ([], "JSON object"),
    ({}, "no formula"),
    ({"latex": "   "}, "no formula"),
    ({"latex": 3}, "must be a string"),
    ({"latex": "x", "code": "import os"}, "unknown field"),
    ({"latex": "x" * (MAX_FORMULA + 1)}, "longer than"),
    ({"latex": "x^2", "shapes": "X"}, "--shape"),
    ({"latex": "x^2", "assume": "=symmetric"}, "no name"),
])
def test_bad_requests_are_answers_with_a_hint_or_reason(req, words):
    out = answer(req)
    assert not out["ok"] and words in out["report"]
    json.dumps(out)


def test_request_text_is_never_evaluated(tmp_path):
    marker = tmp_path / "ran"
    out = answer({"latex": f"__import__('pathlib').Path({str(marker)!r}).touch()"})
    assert not out["ok"] and not marker.exists()


def test_a_derivative_with_no_code_for_a_target_says_why():
    out = answer({"latex": r"\operatorname{tr}(e^{X})", "wrt": "X"})
    assert out["ok"] and out["derivative"]
    assert out["code"]["numpy"] is None and out["code_errors"]["numpy"]
    assert out["code"]["torch"] and "torch" not in out["code_errors"]
