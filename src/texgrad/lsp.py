"""``texgrad lsp``: a Language Server Protocol server over stdio (issue 13).

Built on pygls (``pip install 'texgrad[lsp]'``): it is the well-kept Python LSP framework,
and it brings the protocol's details (initialisation, document synchronisation, incremental
edits, cancellation, UTF-16 positions negotiated with the client) that a thin loop over
lsprotocol would have to reimplement; its import cost (about 60 ms) is paid once per
editor session, not per request.

For ``.tex`` and ``.md`` documents (and the ``latex``/``markdown`` language ids):

- **diagnostics**, recomputed on open and on change (debounced by :data:`DEBOUNCE`
  seconds): every claim ``texgrad check`` finds wrong is an error on its range, with
  texgrad's derivative in the message; an undecided claim is a hint with the reason.  Claims
  are cached by their text in the worker (:func:`texgrad.claims.check_text`), so an edit
  re-decides only what it changed;
- **hover** on a formula: a claim's verdict, or the formula's derivative with its stamp;
- **code actions** on a selection: "Differentiate by X" (``= derivative`` added, as
  ``--replace`` writes it) and "Insert NumPy code" (``--emit numpy``).

The work runs in worker processes (:mod:`texgrad.lspwork`), one for diagnostics and one for
requests, so the server answers while a long document is checked; every formula has a time
limit there, and a call past :data:`DEADLINE` ends its worker, which is started again.  A
request that fails answers nothing (an empty result), never an error that stops the server.
"""

from __future__ import annotations

import bisect

import click

from . import lspwork

DEBOUNCE = 0.3          # seconds without an edit before a document is checked again
DEADLINE = {"diagnostics": 120.0, "request": 20.0}   # seconds before a worker is replaced
LANGUAGES = {"latex", "tex", "markdown", "plaintext"}


class Lines:
    """Offsets of a text to LSP positions (line, UTF-16 column) and back."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0]
        i = text.find("\n")
        while i >= 0:
            self.starts.append(i + 1)
            i = text.find("\n", i + 1)

    def position(self, offset: int) -> tuple:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        return line, len(self.text[start:offset].encode("utf-16-le")) // 2

    def offset(self, line: int, character: int) -> int:
        if line >= len(self.starts):
            return len(self.text)
        start = self.starts[max(0, line)]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        units = 0
        for k in range(start, end):
            if units >= character:
                return k
            units += 2 if ord(self.text[k]) > 0xFFFF else 1
        return end


def server():
    """The pygls LanguageServer with texgrad's features registered."""
    import asyncio
    from lsprotocol import types as T
    from pygls.lsp.server import LanguageServer
    from . import __version__

    ls_ = LanguageServer("texgrad", __version__)
    from .workers import Worker
    checker, requests = Worker(DEADLINE["diagnostics"]), Worker(DEADLINE["request"])
    pending: dict = {}

    def doc_of(ls, uri):
        doc = ls.workspace.get_text_document(uri)
        return doc, lspwork.kind_of(uri, doc.language_id or "")

    def rng(lines: Lines, start: int, end: int):
        (a, b), (c, d) = lines.position(start), lines.position(end)
        return T.Range(start=T.Position(line=a, character=b), end=T.Position(line=c, character=d))

    async def publish(ls, uri, delay):
        await asyncio.sleep(delay)
        try:
            doc, kind = doc_of(ls, uri)
            version, text = doc.version, doc.source
            found = await checker.acall(lspwork.diagnostics, text, kind)
        except asyncio.CancelledError:
            raise
        except Exception as e:          # noqa: BLE001 - a failed check publishes nothing
            ls.window_log_message(T.LogMessageParams(type=T.MessageType.Warning,
                                                     message=f"texgrad: {e!r}"))
            return
        doc, _ = doc_of(ls, uri)
        if doc.version != version:       # a newer edit is on its way: its run publishes
            return
        lines = Lines(text)
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
            uri=uri, version=version, diagnostics=[
                T.Diagnostic(range=rng(lines, d["start"], d["end"]), message=d["message"],
                             severity=T.DiagnosticSeverity(d["severity"]), code=d["code"],
                             source="texgrad") for d in found]))

    def schedule(ls, uri, delay):
        old = pending.pop(uri, None)
        if old is not None:
            old.cancel()
        pending[uri] = asyncio.ensure_future(publish(ls, uri, delay))

    @ls_.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: T.DidOpenTextDocumentParams):
        schedule(ls, params.text_document.uri, 0.0)

    @ls_.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: T.DidChangeTextDocumentParams):
        schedule(ls, params.text_document.uri, DEBOUNCE)

    @ls_.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: T.DidCloseTextDocumentParams):
        old = pending.pop(params.text_document.uri, None)
        if old is not None:
            old.cancel()
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
            uri=params.text_document.uri, diagnostics=[]))

    @ls_.feature(T.TEXT_DOCUMENT_HOVER)
    async def hover(ls, params: T.HoverParams):
        try:
            doc, kind = doc_of(ls, params.text_document.uri)
            lines = Lines(doc.source)
            at = lines.offset(params.position.line, params.position.character)
            md = await requests.acall(lspwork.hover, doc.source, kind, at)
        except Exception:               # noqa: BLE001 - no hover rather than no server
            return None
        if not md:
            return None
        return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=md))

    @ls_.feature(T.TEXT_DOCUMENT_CODE_ACTION, T.CodeActionOptions(
        code_action_kinds=[T.CodeActionKind.RefactorRewrite]))
    async def code_action(ls, params: T.CodeActionParams):
        uri = params.text_document.uri
        try:
            doc, kind = doc_of(ls, uri)
            lines = Lines(doc.source)
            r = params.range
            start = lines.offset(r.start.line, r.start.character)
            end = lines.offset(r.end.line, r.end.character)
            found = await requests.acall(lspwork.actions, doc.source, kind, start, end)
        except Exception:               # noqa: BLE001
            return []
        return [T.CodeAction(title=a["title"], kind=T.CodeActionKind.RefactorRewrite,
                             edit=T.WorkspaceEdit(changes={uri: [T.TextEdit(
                                 range=rng(lines, a["start"], a["end"]),
                                 new_text=a["new_text"])]})) for a in found]

    @ls_.feature(T.SHUTDOWN)
    def shutdown(ls, params=None):
        checker.stop()
        requests.stop()

    return ls_


@click.command("lsp", context_settings={"help_option_names": ["-h", "--help"]})
def lsp_command():
    """Run the language server on stdin/stdout (for an editor to start).

    \b
    Diagnostics for the derivative claims of .tex and .md documents, the
    derivative on hover, and the code actions "Differentiate by X" and
    "Insert NumPy code".  Needs pip install 'texgrad[lsp]' (pygls).
    """
    try:
        import pygls  # noqa: F401
    except ImportError:
        click.echo("error: texgrad lsp needs pygls\nhint: pip install 'texgrad[lsp]'",
                   err=True)
        raise SystemExit(2)
    server().start_io()
