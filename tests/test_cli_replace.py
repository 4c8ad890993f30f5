"""``texgrad --replace`` (issue 9, item 2): the replacement keeps the user's delimiters,
indentation, the sentence's punctuation and a definition ``f(x) = ...``, stays multi-line, and
renders in KaTeX.

What is pinned is the text around the derivative (the user's, and the operator texgrad adds);
the derivative itself is read back with texgrad.evaluate and compared with the NumPy reference
(A + A^T) x, so a wrong answer cannot pass because the CLI and the API agree.

The KaTeX test needs node and the ``katex`` npm package: ``TEXGRAD_KATEX`` (the package folder)
or ``/tmp/node_modules/katex`` (``cd /tmp && npm install katex``); it skips without them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import texgrad
from clirun import invoke, stderr_of
from texgrad.clidiff import split_selection

QUAD = r"x^\top A x"
OP = r"\frac{\partial}{\partial x} \left(x^\top A x\right) = "


def check_quad(latex: str, var: str = "x"):
    """The printed gradient of x^T A x, compared with (A + A^T) x."""
    rng = np.random.default_rng(11)
    x, A = rng.standard_normal(4), rng.standard_normal((4, 4))
    got = texgrad.evaluate(latex, {var: x, "A": A}, shapes={var: ("n",), "A": ("n", "n")})
    np.testing.assert_allclose(np.ravel(got), (A + A.T) @ x, rtol=1e-10, atol=1e-12)


def replace(text: str, *args: str) -> str:
    r = invoke([text, "--wrt", "x", "--replace", "--no-stamp", *args])
    assert r.exit_code == 0, r.output
    assert stderr_of(r) == ""
    assert r.stdout.endswith("\n")
    return r.stdout[:-1]


# (selection, text before the derivative, text after it)
CASES = [
    ("$x^\\top A x$", "$" + OP, "$"),
    ("$$x^\\top A x$$", "$$" + OP, "$$"),
    ("\\[x^\\top A x\\]", "\\[" + OP, "\\]"),
    ("\\[ x^\\top A x \\]", "\\[ " + OP, " \\]"),
    ("\\(x^\\top A x\\)", "\\(" + OP, "\\)"),
    ("\\begin{equation} x^\\top A x \\end{equation}", "\\begin{equation} " + OP,
     " \\end{equation}"),
    ("\\begin{equation*}x^\\top A x\\end{equation*}", "\\begin{equation*}" + OP,
     "\\end{equation*}"),
    ("    $x^\\top A x$", "    $" + OP, "$"),                        # indentation
    ("\t\\[x^\\top A x\\]  ", "\t\\[" + OP, "\\]  "),
    ("$x^\\top A x$.", "$" + OP, "$."),                                # the sentence's stop
    ("$x^\\top A x$,", "$" + OP, "$,"),
    ("\\[ x^\\top A x. \\]", "\\[ " + OP, ". \\]"),
    ("\\[ x^\\top A x , \\]", "\\[ " + OP, " , \\]"),
    ("x^\\top A x", OP, ""),
    ("  x^\\top A x.", "  " + OP, "."),
    # a definition keeps its left side and names the derivative after it
    ("f(x) = x^\\top A x", "f(x) = x^\\top A x, \\quad \\frac{\\partial f}{\\partial x} = ", ""),
    ("  $f(x) = x^\\top A x$.",
     "  $f(x) = x^\\top A x, \\quad \\frac{\\partial f}{\\partial x} = ", "$."),
    ("\\[\\mathcal{L}(x) = x^\\top A x\\]",
     "\\[\\mathcal{L}(x) = x^\\top A x, \\quad \\frac{\\partial \\mathcal{L}}{\\partial x} = ",
     "\\]"),
    ("\\begin{equation}\n  f(x) = x^\\top A x\n\\end{equation}",
     "\\begin{equation}\n  f(x) = x^\\top A x, \\quad \\frac{\\partial f}{\\partial x} = ",
     "\n\\end{equation}"),
    # a request keeps its own operator
    ("$\\frac{\\partial}{\\partial x} x^\\top A x$", "$\\frac{\\partial}{\\partial x} x^\\top A x = ",
     "$"),
    ("\\[\\nabla_{x} x^\\top A x\\]", "\\[\\nabla_{x} x^\\top A x = ", "\\]"),
]


def split_derivative(out: str, before: str, after: str) -> str:
    assert out.startswith(before), (out, before)
    assert out.endswith(after), (out, after)
    assert len(out) > len(before) + len(after)
    return out[len(before):len(out) - len(after)]


@pytest.mark.parametrize("text,before,after", CASES)
def test_replacement_keeps_the_users_text(text, before, after):
    out = replace(text)
    check_quad(split_derivative(out, before, after))


@pytest.mark.parametrize("text,before,after", CASES[:6])
def test_replacement_from_stdin_keeps_the_lines(text, before, after):
    """An editor pipes whole lines (with their final newline): the lines come back one for
    one, the final newline once."""
    r = invoke(["--wrt", "x", "--replace", "--no-stamp"], input=text + "\n")
    assert r.exit_code == 0, r.output
    assert stderr_of(r) == ""
    assert r.stdout.endswith("\n") and not r.stdout.endswith("\n\n"), repr(r.stdout)
    check_quad(split_derivative(r.stdout[:-1], before, after))


def test_multiline_selection_stays_multiline():
    text = "    \\[\n      x^\\top A x\n      + b^\\top x\n    \\]\n"
    r = invoke(["--wrt", "x", "--replace", "--no-stamp"], input=text)
    assert r.exit_code == 0, r.output
    lines = r.stdout.split("\n")
    assert lines[:3] == ["    \\[", r"      \frac{\partial}{\partial x} \left(x^\top A x",
                         "      + b^\\top x\\right)"], lines
    assert lines[3].startswith("      = ")
    assert lines[4:] == ["    \\]", ""]
    rng = np.random.default_rng(2)
    x, A, b = rng.standard_normal(3), rng.standard_normal((3, 3)), rng.standard_normal(3)
    got = texgrad.evaluate(lines[3][len("      = "):], {"x": x, "A": A, "b": b},
                           shapes={"x": ("n",), "A": ("n", "n"), "b": ("n",)})
    np.testing.assert_allclose(np.ravel(got), (A + A.T) @ x + b, rtol=1e-10)


def test_replacement_with_the_stamp_is_one_comment_line_after():
    r = invoke(["  $x^\\top A x$.", "--wrt", "x", "--replace"])
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("  $\\frac") and lines[0].endswith("$.")
    assert lines[1].startswith("% verified")


def test_hessian_and_laplacian_operators():
    out = replace("$x^\\top A x$", "--kind", "hessian")
    d = split_derivative(out, "$\\frac{\\partial^2}{\\partial x\\,\\partial x^\\top} "
                              "\\left(x^\\top A x\\right) = ", "$")
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3))
    got = texgrad.evaluate(d, {"A": A, "x": np.zeros(3)},
                           shapes={"A": ("n", "n"), "x": ("n",)})
    np.testing.assert_allclose(got, A + A.T, rtol=1e-12)
    out = replace("f(x) = x^\\top A x", "--kind", "laplacian")
    d = split_derivative(out, "f(x) = x^\\top A x, \\quad \\nabla^2 f = ", "")
    got = texgrad.evaluate(d, {"A": A}, shapes={"A": ("n", "n")})
    np.testing.assert_allclose(got, 2 * np.trace(A), rtol=1e-12)


def test_errors_point_into_the_users_text():
    r = invoke(["  $x^\\top A +$.", "--wrt", "x", "--replace"])
    assert r.exit_code == 2 and r.stdout == ""
    err = stderr_of(r)
    assert "\n1 |   $x^\\top A +$.\n" in err, err       # the user's text, delimiters and all
    assert "Traceback" not in err


@pytest.mark.parametrize("text,parts", [
    ("$x$", ("", "$", "", "x", "", "", "$", "")),
    ("  $$ x. $$ ,\n", ("  ", "$$", " ", "x", ".", " ", "$$", " ,\n")),
    ("\\begin{equation}\n x\n\\end{equation}.",
     ("", "\\begin{equation}", "\n ", "x", "", "\n", "\\end{equation}", ".")),
    ("$a$ + $b$", ("", "", "", "$a$ + $b$", "", "", "", "")),   # two formulas: not split
    ("\\frac{a}{b}.", ("", "", "", "\\frac{a}{b}", ".", "", "", "")),
    ("x\\,", ("", "", "", "x\\,", "", "", "", "")),
])
def test_split_selection(text, parts):
    sel = split_selection(text)
    assert (sel.lead, sel.opener, sel.pre, sel.core, sel.punct, sel.post, sel.closer,
            sel.trail) == parts
    assert sel.rebuild(sel.core) == text
    assert len(sel.padded()) == len(text) and sel.padded().count("\n") == text.count("\n")


# --------------------------------------------------------------------- KaTeX

def katex_dir() -> str | None:
    for d in (os.environ.get("TEXGRAD_KATEX"), "/tmp/node_modules/katex",
              os.path.join(os.getcwd(), "node_modules", "katex")):
        if d and os.path.isfile(os.path.join(d, "package.json")):
            return os.path.abspath(d)
    return None


RENDER = r"""
const katex = require(process.argv[1]);
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = items.map(([tex, display]) => {
  try { katex.renderToString(tex, {throwOnError: true, displayMode: display}); return null; }
  catch (e) { return String(e.message); }
});
process.stdout.write(JSON.stringify(out));
"""


def katex_errors(items):
    """KaTeX's error (or None) for each (math, display mode)."""
    node, kdir = shutil.which("node"), katex_dir()
    if node is None or kdir is None:
        pytest.skip("node and the katex npm package are needed (TEXGRAD_KATEX or "
                    "/tmp/node_modules/katex: cd /tmp && npm install katex)")
    proc = subprocess.run([node, "-e", RENDER, kdir], input=json.dumps(items),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def math_of(replacement: str) -> tuple[str, bool]:
    """The math KaTeX is given for a replacement, as a document's renderer would: the text
    between the delimiters (an environment whole, in display mode)."""
    sel = split_selection(replacement)
    if sel.opener.startswith("\\begin"):
        return sel.opener + sel.pre + sel.core + sel.punct + sel.post + sel.closer, True
    return sel.pre + sel.core + sel.punct + sel.post, sel.display or not sel.opener


def test_replacements_render_in_katex():
    outs = [replace(text) for text, _, _ in CASES]
    outs.append(replace("$x^\\top A x$", "--kind", "hessian"))
    outs.append(replace("f(x) = x^\\top A x", "--kind", "laplacian"))
    r = invoke(["--wrt", "x", "--replace", "--no-stamp"],
               input="\\[\n  x^\\top A x\n  + b^\\top x\n\\]\n")
    outs.append(r.stdout)
    items = [math_of(o) for o in outs]
    errors = katex_errors(items)
    bad = [(o, e) for o, e in zip(outs, errors) if e is not None]
    assert not bad, bad


def test_katex_check_is_not_vacuous():
    """The KaTeX harness rejects what the old --replace printed: '$' inside \\left( ... \\right)."""
    errors = katex_errors([("\\frac{\\partial}{\\partial x} \\left($x^\\top A x$\\right) = x",
                            True), ("x^\\top", True)])
    assert errors[0] is not None and errors[1] is None


def test_subprocess_vim_filter_of_a_delimited_line():
    """The real command as Vim's :'<,'>!texgrad --wrt x --replace --no-stamp runs it."""
    proc = subprocess.run([sys.executable, "-m", "texgrad", "--wrt", "x", "--replace",
                           "--no-stamp"], input="  $x^\\top A x$.\n", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    check_quad(split_derivative(proc.stdout, "  $" + OP, "$.\n"))


def test_split_selection_round_trips_any_text():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    pieces = st.sampled_from(["$", "$$", "\\[", "\\]", "\\(", "\\)", " ", "\n", "\t", ".", ",",
                              ";", "x", "\\,", "\\begin{equation}", "\\end{equation}",
                              "\\begin{math}", "}", "{", "="])

    @hypothesis.settings(max_examples=400, deadline=None, database=None)
    @hypothesis.given(st.lists(pieces, max_size=12).map("".join) | st.text(max_size=30))
    def prop(text):
        sel = split_selection(text)
        assert sel.rebuild(sel.core) == text
        padded = sel.padded()
        assert len(padded) == len(text) and padded.count("\n") == text.count("\n")
        assert sel.core in padded
    prop()
