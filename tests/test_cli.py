"""The command line through click's CliRunner, plus one real subprocess run.

Stamp wording is not pinned (it is prose); what is pinned: the first line is the derivative's
LaTeX, the second a ``%`` comment, exit status 0, an empty standard error.  The printed LaTeX
is read back with texgrad.evaluate and compared with a NumPy reference, so a wrong answer
cannot pass just because the CLI and the API agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import texgrad
from clirun import invoke, stderr_of

QUAD = r"\mathbf{x}^T B \mathbf{x}"
X = r"\mathbf{x}"


def check_quad_gradient(latex: str, n: int = 4):
    """The printed gradient of x^T B x, read back and compared with (B + B^T) x."""
    rng = np.random.default_rng(3)
    x, B = rng.standard_normal(n), rng.standard_normal((n, n))
    got = texgrad.evaluate(latex, {"x": x, "B": B}, shapes={"x": ("n",), "B": ("n", "n")})
    np.testing.assert_allclose(np.ravel(got), (B + B.T) @ x, rtol=1e-10, atol=1e-12)


def test_basic_gradient():
    r = invoke([QUAD, "--wrt", X])
    assert r.exit_code == 0, r.output
    assert stderr_of(r) == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 2, lines
    assert not lines[0].startswith("%")
    assert lines[1].startswith("%") and "verified" in lines[1]
    assert "not verified" not in lines[1]
    check_quad_gradient(lines[0])


def test_no_stamp():
    r = invoke([QUAD, "--wrt", X, "--no-stamp"])
    assert r.exit_code == 0
    assert stderr_of(r) == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and not lines[0].startswith("%"), lines
    check_quad_gradient(lines[0])


def test_no_verify_stamp_says_not_verified():
    r = invoke([QUAD, "--wrt", X, "--no-verify"])
    assert r.exit_code == 0
    assert stderr_of(r) == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("%") and "not verified" in lines[1], lines[1]
    check_quad_gradient(lines[0])


def test_json():
    r = invoke([QUAD, "--wrt", X, "--format", "json"])
    assert r.exit_code == 0
    assert stderr_of(r) == ""
    doc = json.loads(r.stdout)
    for key in ("input", "wrt", "derivative", "terms", "shapes", "verified", "max_rel_error",
                "trials"):
        assert key in doc, key
    assert doc["input"] == QUAD
    assert doc["wrt"] == "x"
    assert doc["verified"] is True
    assert doc["terms"] == 1
    assert doc["trials"] >= 1
    assert 0 <= doc["max_rel_error"] < 1e-6
    assert set(doc["shapes"]) == {"x", "B"}
    assert len(doc["shapes"]["x"]) == 1 and len(doc["shapes"]["B"]) == 2
    assert doc["shapes"]["B"] == [doc["shapes"]["x"][0]] * 2
    check_quad_gradient(doc["derivative"])


def test_json_no_verify():
    r = invoke([QUAD, "--wrt", X, "--format", "json", "--no-verify"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["verified"] is False
    assert doc["trials"] == 0 and doc["max_rel_error"] is None


def test_text():
    r = invoke([QUAD, "--wrt", X, "--format", "text"])
    assert r.exit_code == 0
    assert stderr_of(r) == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 3, lines
    assert "x" in lines[0] and QUAD in lines[0]
    assert lines[1].lstrip().startswith("=")
    check_quad_gradient(lines[1].split("=", 1)[1].strip())
    assert "terms: 1" in lines[2] and "verified" in lines[2]


def test_assume_symmetric_gives_one_term():
    r = invoke([r"\mathbf{x}^T W \mathbf{x}", "--wrt", X, "--assume", "W=symmetric",
                "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["terms"] == 1
    assert "2W" in doc["derivative"].replace(" ", ""), doc["derivative"]
    assert doc["verified"] is True
    rng = np.random.default_rng(5)
    a = rng.standard_normal((4, 4))
    W, x = a + a.T, rng.standard_normal(4)
    got = texgrad.evaluate(doc["derivative"], {"W": W, "x": x})
    np.testing.assert_allclose(np.ravel(got), 2 * W @ x, rtol=1e-10)


def test_assume_symmetric_latex_line():
    r = invoke([r"\mathbf{x}^T W \mathbf{x}", "--wrt", X, "--assume", "W=symmetric"])
    assert r.exit_code == 0
    first = r.stdout.splitlines()[0]
    assert "2W" in first.replace(" ", "") and "+" not in first, first


def test_shape_declarations():
    r = invoke([r"\mathbf{a}^T X \mathbf{b}", "--wrt", "X", "--shape", "X=m,n", "--shape",
                "a=m", "--shape", "b=n", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["shapes"] == {"a": ["m"], "X": ["m", "n"], "b": ["n"]}
    assert doc["verified"] is True
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal(3), rng.standard_normal(5)
    got = texgrad.evaluate(doc["derivative"], {"a": a, "b": b, "X": np.zeros((3, 5))},
                           shapes={"a": ("m",), "b": ("n",), "X": ("m", "n")})
    np.testing.assert_allclose(got, np.outer(a, b), rtol=1e-12)


def test_shape_and_assume_together():
    r = invoke([r"\mathbf{x}^T W \mathbf{x}", "--wrt", X, "--shape", "W=n,n", "--shape", "x=n",
                "--assume", "W=spd"])
    assert r.exit_code == 0, r.output
    assert "2W" in r.stdout.splitlines()[0].replace(" ", "")


def test_stdin_when_expr_absent():
    r = invoke(["--wrt", X], input=QUAD)
    assert r.exit_code == 0, r.output
    assert stderr_of(r) == ""
    check_quad_gradient(r.stdout.splitlines()[0])


def test_stdin_with_dash():
    r = invoke(["-", "--wrt", X], input=QUAD + "\n")
    assert r.exit_code == 0, r.output
    assert stderr_of(r) == ""
    check_quad_gradient(r.stdout.splitlines()[0])


def test_stdin_and_argument_agree():
    a = invoke([QUAD, "--wrt", X, "--no-stamp"]).stdout
    b = invoke(["-", "--wrt", X, "--no-stamp"], input=QUAD).stdout
    assert a == b


def test_wrt_from_the_formula():
    r = invoke([r"\frac{\partial}{\partial X} \operatorname{tr}(A X)", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["wrt"] == "X" and doc["verified"] is True


def test_version():
    r = invoke(["--version"])
    assert r.exit_code == 0
    assert texgrad.__version__ in r.stdout
    assert "texgrad" in r.stdout


def test_help():
    r = invoke(["--help"])
    assert r.exit_code == 0
    for opt in ("--wrt", "--shape", "--assume", "--format", "--no-verify", "--no-stamp"):
        assert opt in r.stdout, opt


def test_bad_input_exit_2_in_runner():
    r = invoke([r"\frac{x", "--wrt", "x"])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "^" in stderr_of(r)


def test_subprocess_real_command():
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(texgrad.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", "texgrad", QUAD, "--wrt", X],
                          capture_output=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    out = proc.stdout.decode("utf-8")
    lines = out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("%"), lines
    assert lines[0] == invoke([QUAD, "--wrt", X]).stdout.splitlines()[0]
    check_quad_gradient(lines[0])


def test_editor_filter_contract_replace_and_no_stamp():
    """Selection in on stdin, LaTeX out, stderr empty, exit 0 (what Vim's :'<,'>! needs)."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "texgrad", "--wrt", "W", "--replace",
                          "--no-stamp"], input="\\|XW - Y\\|_F^2\n", capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.strip() == ("\\frac{\\partial}{\\partial W} \\left(\\|XW - Y\\|_F^2\\right)"
                                  " = 2X^{T}\\left(XW - Y\\right)")
    bad = subprocess.run([sys.executable, "-m", "texgrad", "--wrt", "W"], input="\\frac{x",
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == "" and "^" in bad.stderr


@pytest.mark.parametrize("args", [
    [r"-\mathbf{x}^T B \mathbf{x}", "--wrt", X],
    ["--wrt", X, r"-\mathbf{x}^T B \mathbf{x}"],
    ["--wrt=" + X, "--", r"-\mathbf{x}^T B \mathbf{x}"],
])
def test_formula_starting_with_minus_is_not_an_option(args):
    r = invoke(args)
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    rng = np.random.default_rng(4)
    x, B = rng.standard_normal(4), rng.standard_normal((4, 4))
    got = texgrad.evaluate(first, {"x": x, "B": B}, shapes={"x": ("n",), "B": ("n", "n")})
    np.testing.assert_allclose(np.ravel(got), -(B + B.T) @ x, rtol=1e-10, atol=1e-12)


def test_misspelled_option_is_still_an_option_error():
    r = invoke(["--wtr", "x", "x^2"])
    assert r.exit_code == 2 and "--wtr" in r.output


def test_error_caret_in_a_formula_starting_with_minus():
    r = invoke(["-x^2 +", "--wrt", "x"])
    assert r.exit_code == 2
    assert "column 7" in r.output and "\n1 | -x^2 +\n" in r.output


def test_a_derivative_that_cannot_be_verified_says_so_not_failed():
    """F13's third verdict through the CLI: exit 1, the stamp says NOT VERIFIED and stderr
    says 'could not be verified' (exp(800 + x) overflows a float at every draw)."""
    from clirun import invoke, stderr_of
    r = invoke([r"\exp(800 + x)", "--wrt", "x"])
    assert r.exit_code == 1
    assert "% NOT VERIFIED" in r.stdout and "CHECK FAILED" not in r.stdout
    err = stderr_of(r)
    assert "could not be verified" in err and "FAILED" not in err
    j = invoke([r"\exp(800 + x)", "--wrt", "x", "--format", "json"])
    import json
    d = json.loads(j.stdout)
    assert d["status"] == "not verified" and d["max_rel_error"] is None


@pytest.mark.parametrize("formula, wrt", [(r"(X-X)^{-1}", "X"), (r"\log 0 + x", "x"),
                                          (r"\log(x - x)", "x")])
def test_a_formula_undefined_everywhere_is_bad_input(formula, wrt):
    """L6: exit 2 with the reason, not NOT VERIFIED."""
    from clirun import invoke, stderr_of
    r = invoke([formula, "--wrt", wrt])
    assert r.exit_code == 2, (r.stdout, stderr_of(r))
    assert "undefined at every point tried" in stderr_of(r)
