"""The language server's work as plain functions (texgrad.lspwork): diagnostics with their
places, hover and code actions on the samples, against `texgrad check` and the API."""

from __future__ import annotations

from pathlib import Path

import texgrad
from texgrad import lspwork
from texgrad.claims import check_text

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
PAPER = (SAMPLES / "paper.tex").read_text(encoding="utf-8") if SAMPLES.is_dir() else \
    "\\[\n  \\frac{\\partial\\, \\mathbf{x}^\\top \\mathbf{x}}{\\partial \\mathbf{x}} = " \
    "\\mathbf{x}.\n\\]\n"


def test_kinds():
    assert lspwork.kind_of("file:///a/b.md") == "md"
    assert lspwork.kind_of("untitled:1", "markdown") == "md"
    assert lspwork.kind_of("file:///a/b.tex") == "tex"
    assert lspwork.kind_of("file:///a/b", "latex") == "tex"


def test_diagnostics_are_the_wrong_claims_of_check_with_their_places():
    wrong = [r for r in check_text(PAPER, "paper.tex") if r.verdict is False]
    found = lspwork.diagnostics(PAPER, "tex")
    errors = [d for d in found if d["severity"] == lspwork.ERROR]
    assert len(errors) == len(wrong) >= 1
    for d, r in zip(errors, wrong):
        assert PAPER[d["start"]:d["end"]].strip() == PAPER[d["start"]:d["end"]]
        assert " ".join(PAPER[d["start"]:d["end"]].split()) == r.claim
        assert texgrad.__name__ and r.derivative_latex in d["message"]


def test_an_edit_redecides_only_the_claims_it_changed(monkeypatch):
    from texgrad import claims
    lspwork.diagnostics(PAPER, "tex")
    calls = []
    real = claims._decided

    def counting(line, *a, **k):
        calls.append(line)
        return real(line, *a, **k)
    monkeypatch.setattr(claims, "_decided", counting)
    lspwork.diagnostics(PAPER + "\n% an edit outside the math\n", "tex")
    assert calls == []
    edited = PAPER.replace(r"= \Sigma \mathbf{x}", r"= 2\Sigma \mathbf{x}")
    if edited != PAPER:
        lspwork.diagnostics(edited, "tex")
        assert len(calls) == 1


def test_hover_on_a_claim_and_on_a_formula():
    md = "Take $\\mathbf{x}^T A\\mathbf{x}$ here.\n"
    out = lspwork.hover(md, "md", md.index("A"))
    assert "\\left(A + A^{T}\\right)\\mathbf{x}" in out and out.count("verified") == 1
    assert "%" not in out
    assert lspwork.hover(md, "md", 1) is None             # prose, no formula
    wrong = next(d for d in lspwork.diagnostics(PAPER, "tex")
                 if d["severity"] == lspwork.ERROR)
    assert "wrong" in lspwork.hover(PAPER, "tex", wrong["start"] + 3)


def test_code_actions_differentiate_and_insert_code():
    md = "Take\n$$\n\\mathbf{x}^T A\\mathbf{x}\n$$\nmore prose.\n"
    start = md.index("\\mathbf")
    end = md.index("\n$$", start)
    acts = lspwork.actions(md, "md", start, end)
    titles = [a["title"] for a in acts]
    assert "Differentiate by x" in titles and "Differentiate by A" in titles
    by_x = next(a for a in acts if a["title"] == "Differentiate by x")
    assert by_x["new_text"].endswith("= \\left(A + A^{T}\\right)\\mathbf{x}")
    code = next(a for a in acts if a["title"].startswith("Insert NumPy code"))
    assert code["start"] == code["end"] == md.index("\nmore")      # after the display
    assert "```python" in code["new_text"] and "def f_and_grad" in code["new_text"]
    assert lspwork.actions(md, "md", 0, 0) == []                     # no formula there


def test_bad_input_gives_nothing_rather_than_an_exception():
    junk = "\\[ \\frac{\\partial}{\\partial x} ( = \\]\n$$ \\begin{ $$ \x00 \\frac{"
    assert isinstance(lspwork.diagnostics(junk, "tex"), list)
    lspwork.hover(junk, "tex", 5)
    assert isinstance(lspwork.actions(junk, "tex", 0, len(junk)), list)


def test_a_repeated_hover_is_not_derived_again_but_a_timed_out_one_is(monkeypatch):
    calls = []
    real = texgrad.differentiate

    def counting(*a, **k):
        calls.append(a[0])
        return real(*a, **k)
    monkeypatch.setattr(texgrad, "differentiate", counting)
    monkeypatch.setattr(lspwork, "HOVERS", {})
    md = "Take $\\operatorname{tr}(X^T B X)$ here.\n"
    first = lspwork.hover(md, "md", md.index("B"))
    assert lspwork.hover(md + "More prose.\n", "md", md.index("B")) == first
    assert len(calls) == 1 and "verified" in first
    slow = "$\\operatorname{tr}(X^{30} B)$\n"
    for _ in range(2):
        assert "limit" in lspwork.hover(slow, "md", 3, time_limit=1e-6)
    assert len(calls) == 3
