"""`texgrad lsp` over stdio with a real client (tests/lspclient.py, JSON-RPC to a
subprocess, as an editor speaks it): diagnostics on open and on change, hover, both code
actions, bad input, a time limit, and 1,000 random edits that never stop the server."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from lspclient import Client  # noqa: E402
from texgrad.claims import check_text  # noqa: E402
from texgrad.lsp import Lines  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
if not (SAMPLES / "paper.tex").is_file():
    pytest.skip("samples/ is not beside the tests (not a checkout)", allow_module_level=True)
PAPER = (SAMPLES / "paper.tex").read_text(encoding="utf-8")
URI = "file:///tmp/texgrad-test/paper.tex"


def _apply(text: str, edit: dict) -> str:
    lines = Lines(text)
    r = edit["range"]
    a = lines.offset(r["start"]["line"], r["start"]["character"])
    b = lines.offset(r["end"]["line"], r["end"]["character"])
    return text[:a] + edit["newText"] + text[b:]


@pytest.fixture(scope="module")
def client():
    c = Client([sys.executable, "-m", "texgrad", "lsp"])
    caps = c.initialize()["capabilities"]
    assert caps["hoverProvider"] and caps["codeActionProvider"]
    yield c
    assert c.close() == 0


def test_lines_convert_offsets_and_utf16_positions():
    text = "a\n\U0001d400b = x\n"
    lines = Lines(text)
    assert lines.position(text.index("b")) == (1, 2)      # the bold A is two UTF-16 units
    assert lines.offset(1, 2) == text.index("b")
    assert lines.offset(9, 0) == len(text)


def test_a_session_on_the_sample_paper(client):
    wrong = [r for r in check_text(PAPER, "paper.tex") if r.verdict is False]
    client.open(URI, PAPER)
    found = client.diagnostics(URI, 1)
    errors = [d for d in found if d["severity"] == 1]
    # exactly the wrong claims `texgrad check` reports, each on its range
    assert [(d["range"]["start"]["line"] + 1, d["range"]["start"]["character"] + 1)
            for d in errors] == [(r.line, r.column) for r in wrong]
    for d, r in zip(errors, wrong):
        lines = Lines(PAPER)
        s, e = d["range"]["start"], d["range"]["end"]
        covered = PAPER[lines.offset(s["line"], s["character"]):
                        lines.offset(e["line"], e["character"])]
        assert " ".join(covered.split()) == r.claim
        assert r.derivative_latex in d["message"] and d["source"] == "texgrad"

    # hover on the first wrong claim: texgrad's derivative
    pos = errors[0]["range"]["start"]
    hov = client.request("textDocument/hover", {"textDocument": {"uri": URI},
                                                "position": pos})
    assert wrong[0].derivative_latex in hov["contents"]["value"]

    # both code actions on the first claim's line
    k = PAPER.index(r"\frac{\partial}{\partial \mathbf{x}} \mathbf{x}^\top A \mathbf{x}")
    line, col = Lines(PAPER).position(k)
    end = Lines(PAPER).position(PAPER.index("\n", k))
    acts = client.request("textDocument/codeAction", {
        "textDocument": {"uri": URI}, "context": {"diagnostics": []},
        "range": {"start": {"line": line, "character": col},
                  "end": {"line": end[0], "character": end[1]}}})
    titles = [a["title"] for a in acts]
    assert "Differentiate by x" in titles, titles
    assert any(t.startswith("Insert NumPy code") for t in titles), titles
    diff = next(a for a in acts if a["title"] == "Differentiate by x")
    edited = _apply(PAPER, diff["edit"]["changes"][URI][0])
    assert r"\mathbf{x}^\top A \mathbf{x} = \left(A + A^{\top}\right)\mathbf{x}" in edited
    code = next(a for a in acts if a["title"].startswith("Insert NumPy code"))
    assert "def f_and_grad" in _apply(PAPER, code["edit"]["changes"][URI][0])

    # edit: fix one wrong claim; the diagnostics follow
    fixed = PAPER.replace(r"= \Sigma \mathbf{x}.", r"= 2\Sigma \mathbf{x}.")
    assert fixed != PAPER
    client.change(URI, fixed, 2)
    again = [d for d in client.diagnostics(URI, 2) if d["severity"] == 1]
    assert len(again) == len(errors) - 1


def test_markdown_documents_and_bad_requests(client):
    uri = "file:///tmp/texgrad-test/notes.md"
    md = "Here $$\\frac{\\partial}{\\partial \\mathbf{x}} \\mathbf{x}^T\\mathbf{x} = " \
         "\\mathbf{x}$$ and $\\frac{( }{$ junk.\n"
    client.open(uri, md, "markdown")
    errors = [d for d in client.diagnostics(uri, 1) if d["severity"] == 1]
    assert len(errors) == 1 and "2\\mathbf{x}" in errors[0]["message"]
    for pos in ({"line": 99, "character": 0}, {"line": 0, "character": 9999},
                {"line": 0, "character": 0}):
        client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": pos})
    assert client.request("textDocument/hover", {"textDocument": {"uri": "file:///nope.md"},
                                                 "position": {"line": 0, "character": 0}}) \
        is None
    assert client.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "context": {"diagnostics": []},
        "range": {"start": {"line": 0, "character": 40},
                  "end": {"line": 0, "character": 52}}}) == []


def test_a_claim_over_the_time_limit_is_cancelled_and_said():
    c = Client([sys.executable, "-m", "texgrad", "lsp"],
               env={"TEXGRAD_LSP_TIME_LIMIT": "0.000001"})
    try:
        c.initialize()
        c.open(URI, PAPER)
        found = c.diagnostics(URI, 1)
        assert found and all(d["severity"] == 4 for d in found), found
        assert any("limit" in d["message"] for d in found)
        assert c.request("textDocument/hover", {"textDocument": {"uri": URI},
                                                "position": {"line": 0, "character": 0}}) \
            is None
    finally:
        assert c.close() == 0


ALPHABET = st.sampled_from(list("x^_{}()[]\\$&=+- \n") + ["\\frac", "\\partial", "\\mathbf",
                                                          "\\begin{equation}", "\\]", "$$"])


@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.integers(0, len(PAPER)), st.integers(0, 12), st.lists(ALPHABET, max_size=6))
def test_random_edits_never_stop_the_server(fuzz_client, at, cut, insert):
    c, state = fuzz_client
    text = state["text"]
    at = min(at, len(text))
    text = text[:at] + "".join(insert) + text[at + cut:]
    state["text"], state["version"] = text, state["version"] + 1
    c.change(URI, text, state["version"])
    if state["version"] % 50 == 0:          # every 50th version is checked to the end
        assert isinstance(c.diagnostics(URI, state["version"]), list), c.log[-2000:]
    if state["version"] % 37 == 0:
        line = random.Random(at).randrange(0, text.count("\n") + 1)
        c.request("textDocument/hover", {"textDocument": {"uri": URI},
                                         "position": {"line": line, "character": 2}})
    assert c.proc.poll() is None


@pytest.fixture(scope="module")
def fuzz_client():
    c = Client([sys.executable, "-m", "texgrad", "lsp"])
    c.initialize()
    c.open(URI, PAPER)
    c.diagnostics(URI, 1)
    state = {"text": PAPER, "version": 1}
    yield c, state
    # after the edits: the last version's diagnostics arrive, and requests are answered
    c.diagnostics(URI, state["version"])
    c.request("textDocument/hover", {"textDocument": {"uri": URI},
                                     "position": {"line": 0, "character": 0}})
    assert c.close() == 0
