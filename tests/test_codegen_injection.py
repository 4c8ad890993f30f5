"""F5: no text can become code in generated source.  Dimension names, symbol names, the
formula, the convention and the stamp are spliced into generated code only through
``codegen``'s sanitisers, so even a Result built around the validation in options.py (a
hostile dimension name) emits inert text; ``comment_line`` makes any text one comment line.
Generated modules are run in a subprocess, and the test looks for the marker the injected
statement would print."""

from __future__ import annotations

import ast
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import texgrad
import texgrad.api
from texgrad import codegen
from texgrad.codegen import TARGETS, comment_line, emit

REPRO = Path(__file__).parent / "data" / "repro" / "codegen_dim_injection.py"
MARK = "PWNED"

HOSTILE_DIMS = [
    'n"""\n    import os; os.system("echo PWNED")\n    """',          # the repro's
    "n\nimport os; os.system('echo PWNED') #",                       # the CLI's --shape one
    "n\r\nprint('PWNED')",
    "n\u2028print('PWNED')",
    "n\x85print('PWNED')",
    "n\x0cprint('PWNED')",
    "n'''\nprint('PWNED')\n'''",
    "n\\",                                                           # a trailing backslash
    '"',
    "#__import__('os').system('echo PWNED')",                        # a fake numeric size
    "#3\nprint('PWNED')",
    "\ud800",                                                        # a lone surrogate
]


def _raw_shapes(shapes):
    """The shapes as given, with no validation (what a Result built by hand could hold)."""
    return {k: tuple(v) if isinstance(v, (tuple, list)) else (v,) for k, v in shapes.items()}


@pytest.fixture
def unvalidated(monkeypatch):
    """differentiate() without options.py's dimension check, to reach codegen with hostile
    dimension names (the check closes the hole at the entry; codegen must not rely on it)."""
    monkeypatch.setattr(texgrad.api, "norm_shapes", _raw_shapes)


def _run(source: str, call: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Writes the module, then runs it, imports it and calls its function, in a subprocess."""
    mod = tmp_path / "gen_mod.py"
    mod.write_text(source, encoding="utf-8", errors="surrogateescape")
    script = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
              f"import runpy; runpy.run_path({str(mod)!r}, run_name='__main__')\n"
              f"import gen_mod\n{call}\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


def _assert_inert(source: str, target: str):
    """Only the expected statements: an import and the function (array targets), or an
    import and assignments (SymPy); no other import, no call at module level."""
    tree = ast.parse(source)
    if target == "sympy":
        assert isinstance(tree.body[0], ast.ImportFrom) and tree.body[0].module == "sympy"
        assert all(isinstance(s, ast.Assign) for s in tree.body[1:]), source
    else:
        assert len(tree.body) == 2, source
        assert isinstance(tree.body[0], ast.Import) and isinstance(tree.body[1], ast.FunctionDef)
        fn = tree.body[1]
        assert all(isinstance(s, (ast.Assign, ast.AugAssign, ast.Return, ast.Expr))
                   for s in fn.body), source
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"os", "print", "__import__", "exec", "eval", "system"}, source


def test_repro_does_not_run_injected_code(unvalidated, tmp_path):
    """The reproducer, with the entry validation bypassed: the module it prints is run,
    imported and its function called, and nothing prints the marker."""
    # run the repro (our own test data) to get the module it emits
    script = (f"import texgrad.api\n"
              f"texgrad.api.norm_shapes = lambda s: {{k: tuple(v) for k, v in s.items()}}\n"
              f"import runpy; runpy.run_path({str(REPRO)!r}, run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "def f_and_grad(x):" in out.stdout
    gen = tmp_path / "gen.py"
    gen.write_text(out.stdout, encoding="utf-8")
    ran = subprocess.run([sys.executable, str(gen)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert MARK not in ran.stdout + ran.stderr
    assert "14.0" in ran.stdout                    # f(1, 2, 3) = 14: the code still works


def test_repro_is_refused_at_the_entry():
    """Without the bypass the hostile name never gets past options.py."""
    with pytest.raises(texgrad.TexgradError, match="neither a size nor a name"):
        runpy.run_path(str(REPRO), run_name="__main__")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dim", HOSTILE_DIMS, ids=[ascii(d)[:24] for d in HOSTILE_DIMS])
def test_hostile_dimension_names_are_inert(unvalidated, tmp_path, target, dim):
    r = texgrad.differentiate(r"\mathbf{x}^\top\mathbf{x}", wrt="x", shapes={"x": (dim,)},
                              verify=False)
    source = emit(r, target)
    _assert_inert(source, target)
    code = source.split('"""')[-1] if target != "sympy" else \
        "\n".join(l for l in source.splitlines() if not l.startswith("#"))
    # the hostile text is left as inert text in the docstring / comments; what reaches
    # code is an identifier made of it (n_print__PWNED__), never a call
    assert "import os" not in code and "print(" not in code and "system(" not in code, source
    if target != "numpy":
        return                                      # jax/torch/sympy may be absent: parsed
    out = _run(source, "print(gen_mod.f_and_grad([1.0, 2.0, 3.0])[0])", tmp_path)
    assert out.returncode == 0, out.stderr
    assert MARK not in out.stdout + out.stderr
    assert out.stdout.strip() == "14.0"


@pytest.mark.parametrize("target", TARGETS)
def test_hostile_matrix_dimensions(unvalidated, target):
    """Two hostile names on a matrix (sizes bound from shapes, the docstring's shapes)."""
    r = texgrad.differentiate(r"\operatorname{tr}(X^T A X)", wrt="X",
                              shapes={"X": ("m\nprint(1)", 'q"""'),
                                      "A": ("m\nprint(1)", "m\nprint(1)")}, verify=False)
    source = emit(r, target)
    _assert_inert(source, target)
    if target == "numpy":
        ns: dict = {}
        exec(compile(source, "<gen>", "exec"), ns)    # our own generated code, checked inert
        rng = np.random.default_rng(0)
        a, x = rng.standard_normal((3, 3)), rng.standard_normal((3, 2))
        f, d = ns["f_and_grad"](a, x)
        np.testing.assert_allclose(f, np.trace(x.T @ a @ x))
        np.testing.assert_allclose(d, (a + a.T) @ x)


def test_fake_numeric_size_is_not_spliced(unvalidated):
    """A dimension that looks like the internal numeric form "#N" but is not digits is a
    name (an identifier), never written into code as it is."""
    r = texgrad.differentiate(r"\mathbf{1}^\top\mathbf{x}", wrt="x",
                              shapes={"x": ("#__import__('os')",)}, verify=False)
    source = emit(r, "numpy")
    code = source.split('"""')[-1]
    assert "__import__(" not in code and "#" not in code, source
    _assert_inert(source, "numpy")


def test_hostile_formula_convention_and_wrt_text():
    """Every piece of free text in a hand-built Result (formula, convention, wrt) stays in
    the docstring or comment, on one line."""
    import dataclasses
    r = texgrad.differentiate(r"\mathbf{a}^T\mathbf{x}", wrt="x", verify=False)
    hostile = 'a"""\nprint("PWNED")\n"""\\'
    evil = dataclasses.replace(r, input=hostile, convention=hostile + "\u2028print(1)",
                               wrt="x\nprint('PWNED')")
    for target in TARGETS:
        source = emit(evil, target)
        _assert_inert(source, target)


@pytest.mark.parametrize("text", ["plain stamp", "a\nimport os", "a\r\nb", "a\u2028b\u2029c",
                                  "x\x85y", "\x1b]0;title\x07", '"""', "'''", "\\", "",
                                  "\ud800", "# already a comment", "tab\there"])
def test_comment_line_is_one_safe_comment(text):
    line = comment_line(text)
    assert line.startswith("# ")
    assert len(line.splitlines()) == 1 and "\n" not in line and "\r" not in line
    assert all(ch.isprintable() for ch in line)
    tree = ast.parse(line + "\nx = 1\n")             # a comment: no statement of its own
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)
    compile(line + "\n", "<c>", "exec")
    line.encode("utf-8")                            # no surrogate survives


def test_stamp_as_comment_after_generated_code(unvalidated, tmp_path):
    """The CLI prints the stamp after the code: through comment_line, a stamp naming a
    hostile dimension cannot add a statement."""
    r = texgrad.differentiate(r"\mathbf{x}^\top\mathbf{x}", wrt="x",
                              shapes={"x": ("n\nprint('PWNED')",)}, verify=True)
    source = emit(r, "numpy") + comment_line(r.stamp) + "\n"
    assert "PWNED" in r.stamp or "n" in r.stamp
    out = _run(source, "print(gen_mod.f_and_grad([1.0, 2.0])[0])", tmp_path)
    assert out.returncode == 0, out.stderr
    assert MARK not in out.stdout


def test_malformed_module_is_refused(monkeypatch):
    """The last line of defence: if a future change let text close the docstring, emit
    raises instead of handing out the module."""
    monkeypatch.setattr(codegen, "one_line", lambda text: str(text))   # the sanitiser gone
    r = texgrad.differentiate(r"\mathbf{a}^T\mathbf{x}", wrt="x", verify=False)
    import dataclasses
    evil = dataclasses.replace(r, input='a"""\nimport os\n"""')
    with pytest.raises(RuntimeError, match="malformed"):
        emit(evil, "numpy")


def test_cli_emit_with_hostile_shape_is_refused():
    """Through the CLI the name is refused (exit 2), never emitted."""
    exe = Path(sys.executable).with_name("texgrad")
    if not exe.exists():
        pytest.skip("no texgrad command next to this Python")
    out = subprocess.run([str(exe), r"\mathbf{x}^\top\mathbf{x}", "--wrt", "x", "--shape",
                          'x=n\nimport os; os.system("echo PWNED") #', "--emit", "numpy"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "def f_and_grad" not in out.stdout and "Traceback" not in out.stderr
