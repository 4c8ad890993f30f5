"""The LALR runtime (texgrad.lalr) against Lark itself on the same grammar and transformer.

texgrad parses with Lark's tables but without importing Lark (start-up time); these tests
hold the two to the same trees, positions and errors, on the corpus, the notation tests'
inputs, generated formulas, mutated formulas and token soup.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from corpus import load
from strategies import cases, latexish_text, mutated
from texgrad import lalr, parse as P
from texgrad.errors import TexgradError


def shape(v):
    """A comparable picture of a transformer result, positions included."""
    if isinstance(v, P.N):
        return (v.op, tuple(shape(a) for a in v.args), v.start, v.end)
    if isinstance(v, tuple):
        return tuple(shape(a) for a in v)
    if isinstance(v, str):
        return (type(v).__name__ == "Token", getattr(v, "type", None), str(v),
                getattr(v, "start_pos", None), getattr(v, "end_pos", None))
    return v


def outcome(run, text):
    try:
        return "ok", shape(run(text))
    except lalr.SyntaxFailure:
        return "syntax", None
    except TexgradError as e:
        return "error", (type(e).__name__, e.message, e.column)
    except Exception as e:  # noqa: BLE001 - Lark's syntax errors, by class
        if type(e).__module__.startswith("lark"):
            return "syntax", None
        raise


def both(text):
    ours, _, _ = P.parser()
    with P.parsing(text):
        got = outcome(ours.parse, text)
        want = outcome(P.lark_parser().parse, text)
    return got, want


CORPUS = [c["latex"] for c in load()]
MORE = [
    r"\mathbf{x}^\top B\,\mathbf{x}", r"\|XW - Y\|_F^2", r"|a - x^H b|^2", r"|A||B|",
    r"\frac12 x^{12}", r"\frac{\partial}{\partial X}\operatorname{tr}(X^\top A X)",
    r"\sum_{i=1}^{n} x_i^2", r"\left\lVert A\mathbf{x} - \mathbf{b} \right\rVert_2",
    r"x \pm y", r"\sqrt[3]{x}", "a\n+\nb", r"\{x\}", "x^{\\circ 2}", "X^\\dagger", "x'",
    r"\det X^{-1} A", "f = g = h", r"\mathrm{d}x", "((((x))))", "",
]


@pytest.mark.parametrize("text", CORPUS + MORE)
def test_same_trees_as_lark(text):
    got, want = both(text)
    assert got == want


@settings(max_examples=60)
@given(cases())
def test_same_trees_on_generated_formulas(case):
    got, want = both(case.latex)
    assert got == want


@settings(max_examples=150)
@given(st.one_of(mutated().map(lambda p: p[1]), latexish_text()))
def test_same_verdicts_on_broken_text(text):
    got, want = both(text)
    assert got == want


def _tokens_by_one_alternation(text):
    """Lark's scanner as one regex (every terminal an alternative, in order): the reference
    for the runtime's lexer, which compiles and tries only the terminals that can start
    where it is."""
    import re
    ours, _, _ = P.parser()
    rx = re.compile("|".join(f"(?P<{n}>{r})" for n, r in ours.terminals), ours.flags)
    out, pos = [], 0
    while pos < len(text):
        m = rx.match(text, pos)
        if m is None:
            return out, pos
        out.append((m.lastgroup, m.group(), pos))
        pos = m.end()
    return out, None


def _tokens_by_dispatch(text):
    ours, _, _ = P.parser()
    out, pos = [], 0
    while pos < len(text):
        typ, m = ours._match(text, pos)
        if m is None:
            return out, pos
        out.append((typ, m.group(), pos))
        pos = m.end()
    return out, None


@pytest.mark.parametrize("text", CORPUS + MORE + ["\\", "a\\", "\\\\", "\\,\\;\\!",
                                                  "\\{x\\}", "\\|x\\|", "∂∇∑ᵀ−"])
def test_the_lexer_matches_one_alternation_of_all_terminals(text):
    assert _tokens_by_dispatch(text) == _tokens_by_one_alternation(text)


@settings(max_examples=400)
@given(st.one_of(mutated().map(lambda p: p[1]), latexish_text(),
                 st.text(alphabet="\\{}[]()^_|.,;:!~'*&=+-/0123456789 abfmtxAXΣ∂∇−ᵀ\n",
                         max_size=40)))
def test_the_lexer_matches_one_alternation_on_any_text(text):
    assert _tokens_by_dispatch(text) == _tokens_by_one_alternation(text)


def test_the_starts_of_terminals_are_a_superset():
    """Every terminal's ``starts`` admits the text each of its regex's matches begins with,
    on the corpus's tokens."""
    ours, _, _ = P.parser()
    names = [n for n, _ in ours.terminals]
    for text in CORPUS + MORE:
        for typ, value, _pos in _tokens_by_one_alternation(text)[0]:
            first, after = ours.starts[names.index(typ)]
            assert first is None or value[0] in first, (typ, value)
            if value[0] == "\\" and first is not None:
                assert after is None or value[1:2] in after, (typ, value)


def test_tables_are_cached_and_rebuilt_when_the_grammar_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))   # no fallback cache
    with open(P.grammar_path(), encoding="utf-8") as fh:
        source = fh.read()
    t1 = lalr.load_tables(source, P.Bars())
    files = list((tmp_path / "texgrad").iterdir())
    assert len(files) == 1 and marshal.loads(files[0].read_bytes()) == t1
    assert files[0].name.endswith("-py%d%d.marshal" % sys.version_info[:2])
    changed = source + "\n// a comment changes the key\n"
    lalr.load_tables(changed, P.Bars())
    assert len(list((tmp_path / "texgrad").iterdir())) == 2


def test_unwritable_cache_falls_back_to_the_temporary_directory(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    with open(P.grammar_path(), encoding="utf-8") as fh:
        lalr.load_tables(fh.read(), P.Bars())
    (folder,) = (tmp_path / "tmp").iterdir()
    assert folder.name.startswith("texgrad-cache-") and len(list(folder.iterdir())) == 1


def test_unwritable_cache_still_parses(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setenv("TMPDIR", str(blocker))
    with open(P.grammar_path(), encoding="utf-8") as fh:
        tables = lalr.load_tables(fh.read(), P.Bars())
    with P.parsing("x + y"):
        assert lalr.Parser(tables, P.Build(), P.Bars()).parse("x + y").op == "add"


def test_a_corrupt_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))   # no fallback cache
    with open(P.grammar_path(), encoding="utf-8") as fh:
        source = fh.read()
    lalr.load_tables(source, P.Bars())
    (f,) = (tmp_path / "texgrad").iterdir()
    for junk in (b"{truncated", b"", b"\x00\xff" * 10, marshal.dumps([1, 2])):
        f.write_bytes(junk)
        assert lalr.load_tables(source, P.Bars())["states"]


RUN = r"""
import sys, texgrad
texgrad.differentiate(sys.argv[1], wrt="x")
print("lark" in sys.modules)
"""


def _imports_lark(text):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    code = subprocess.run([sys.executable, "-c", RUN + "", text], capture_output=True,
                          text=True, env=env)
    return code.stdout.strip()


def test_valid_input_does_not_import_lark():
    assert _imports_lark(r"\mathbf{x}^\top B\,\mathbf{x}") == "False"
