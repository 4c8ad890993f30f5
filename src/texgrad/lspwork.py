"""The work behind ``texgrad lsp`` (issue 13), as plain functions of a document's text.

The language server (:mod:`texgrad.lsp`) runs these in a worker process: there the time
limits of :mod:`texgrad.limits` work (they need a main thread), a formula that runs away
can be stopped by ending the process, and the server's own loop never waits on a
derivation.  Everything here takes and returns plain data (str, int, dict, list), with
places as character offsets into the text; :mod:`texgrad.lsp` converts them to the
protocol's lines and UTF-16 columns.

- :func:`diagnostics`: every claim ``texgrad check`` finds wrong (an error, with texgrad's
  derivative in the message) or cannot decide (a hint, with the reason), decided through a
  cache of claims by their text, so an edit re-decides only the claims it changed;
- :func:`hover`: a claim's verdict, or the derivative of the formula under the cursor, with
  its stamp;
- :func:`actions`: "Differentiate by X" (the selection with ``= derivative`` added, as
  ``--replace`` writes it) and "Insert NumPy code" (``--emit numpy``) for a selection.
"""

from __future__ import annotations

import os

from .claims import check_text, report_line
from .claimscan import document, pieces_of
from .errors import TexgradError

CACHE: dict = {}                 # the claims decided, by their text (see claims.check_text)
HOVERS: dict = {}                # a formula's hover text, by the formula (a hover is repeated
MAX_HOVERS = 1024                # each time the pointer rests on it)
TIME_LIMIT = float(os.environ.get("TEXGRAD_LSP_TIME_LIMIT") or 5.0)  # s per claim or formula
MAX_SYMBOLS = 6                  # "Differentiate by X" actions offered, at most
ERROR, HINT = 1, 4               # LSP DiagnosticSeverity


def kind_of(uri_or_name: str, language: str = "") -> str:
    """The document's kind for the claim scanner: md, txt or tex."""
    if language == "markdown" or uri_or_name.endswith((".md", ".markdown")):
        return "md"
    if uri_or_name.endswith(".txt") or language == "plaintext":
        return "txt"
    return "tex"


def _name(kind: str) -> str:
    return {"md": "doc.md", "txt": "doc.txt"}.get(kind, "doc.tex")


def _message(r) -> str:
    """The report line without its place (the diagnostic's range says it)."""
    line = report_line(r)
    where = f"{r.file}:{r.line}:{r.column}: "
    return line[len(where):] if line.startswith(where) else line


def diagnostics(text: str, kind: str = "tex", time_limit: float = TIME_LIMIT) -> list:
    """[{"start", "end" (offsets), "severity", "code", "message"}] for a document."""
    out = []
    for r in check_text(text, _name(kind), time_limit=time_limit, cache=CACHE):
        if r.verdict is True or r.status == "not-a-claim" or r.offset < 0:
            continue
        out.append({"start": r.offset, "end": max(r.end, r.offset + 1),
                    "severity": ERROR if r.verdict is False else HINT,
                    "code": r.status, "message": _message(r)})
    return out


def _piece_at(text: str, kind: str, offset: int):
    """(the formula around ``offset``, its start, its end) or None."""
    for p in pieces_of(document(text, kind)):
        body = p.text.strip()
        if not body:
            continue
        start = p.offset + len(p.text) - len(p.text.lstrip())
        end = p.end if p.end >= 0 else start + len(body)
        if start <= offset <= end:
            return body, start, end
    return None


def _symbols(core: str) -> list:
    from .api import prepare
    _req, name, typer, _raw = prepare(core, None, None, None)
    if name is not None:
        return [name]
    return sorted(typer.symtab)[:MAX_SYMBOLS]


def hover(text: str, kind: str, offset: int, time_limit: float = TIME_LIMIT):
    """Markdown for the formula at ``offset``, or None where there is none."""
    found = _piece_at(text, kind, offset)
    if found is None:
        return None
    body, start, end = found
    for r in check_text(text, _name(kind), time_limit=time_limit, cache=CACHE):
        if r.offset <= offset <= max(r.end, r.offset) and r.status != "not-a-claim":
            head = {"ok": "**texgrad: right**", "wrong": "**texgrad: wrong**"}.get(
                r.status, f"**texgrad: {r.status}**")
            deriv = f"\n\n$${r.derivative_latex}$$" if r.derivative_latex else ""
            return f"{head}{deriv}\n\n{_message(r)}"
    if body in HOVERS:
        return HOVERS[body]
    import texgrad
    from .errors import LimitError
    try:
        res = texgrad.differentiate(body, time_limit=time_limit)
        out = f"$${res.latex}$$\n\n{res.stamp.lstrip('% ')}"
    except LimitError as e:         # not kept: the next hover may have the time
        return f"texgrad: {e.kind}: {e.message}" + (f"\n\nhint: {e.hint}" if e.hint else "")
    except TexgradError as e:
        out = f"texgrad: {e.kind}: {e.message}" + (f"\n\nhint: {e.hint}" if e.hint else "")
    if len(HOVERS) >= MAX_HOVERS:
        HOVERS.clear()
    HOVERS[body] = out
    return out


def actions(text: str, kind: str, start: int, end: int, time_limit: float = TIME_LIMIT):
    """[{"title", "start", "end", "new_text"}]: the edits offered for the selection
    ``text[start:end]`` (the formula at the cursor when the selection is empty)."""
    from .clidiff import replacement, split_selection
    if start >= end:
        found = _piece_at(text, kind, start)
        if found is None:
            return []
        _body, start, end = found
    sel = text[start:end]
    core = split_selection(sel).core
    import texgrad
    out = []
    try:
        names = _symbols(core)
    except TexgradError:
        return []
    first = None
    for name in names:
        try:
            r = texgrad.differentiate(core, wrt=name, time_limit=time_limit)
        except TexgradError:
            continue
        first = first or r
        out.append({"title": f"Differentiate by {name}", "start": start, "end": end,
                    "new_text": replacement(sel, r)})
    if first is not None:
        code = _code(first)
        if code is not None:
            at = _after_line(text, end)
            out.append({"title": f"Insert NumPy code (by {first.wrt})", "start": at,
                        "end": at, "new_text": _block(code, kind)})
    return out


def _code(r):
    from .codegen import emit
    try:
        return emit(r, "numpy")
    except (NotImplementedError, TexgradError):
        return None


DISPLAYS = (r"\$\$.*?\$\$", r"\\\[.*?\\\]",
            r"\\begin\{(equation|align|gather|multline|eqnarray)\*?\}.*?\\end\{\1\*?\}")


def _after_line(text: str, offset: int) -> int:
    """The end of the line holding ``offset``, or of the display around it (so inserted
    code lands outside the math)."""
    import re
    for pattern in DISPLAYS:
        for m in re.finditer(pattern, text, re.S):
            if m.start() <= offset <= m.end():
                offset = m.end()
                break
    nl = text.find("\n", offset)
    return len(text) if nl < 0 else nl


def _block(code: str, kind: str) -> str:
    """The generated code as a block of the document's kind, on lines of its own."""
    code = code.rstrip("\n")
    if kind == "md":
        return f"\n\n```python\n{code}\n```\n"
    return "\n" + "\n".join("% " + line if line else "%" for line in code.split("\n"))
