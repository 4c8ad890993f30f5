"""Checking papers: find the derivative claims a text prints and verify each.

``texgrad check paper.tex`` reads .tex, .md and .txt files (``-`` for stdin; at most 50 MB of
UTF-8), finds the math with real parsers (:mod:`texgrad.claimscan`: pylatexenc for LaTeX,
its macros expanded, markdown-it for Markdown, code and verbatim never math), cuts each
display into statements (:mod:`texgrad.claimrows`), keeps the definitions
(:mod:`texgrad.claimsdefs`) and decides every claim ``\\frac{\\partial f}{\\partial X} = G``
(the request forms of :mod:`texgrad.claimsrequest`, differentials ``dF = G``, chains
``= G_1 = G_2``, every member of which must be right; rules and update steps are set apart,
:mod:`texgrad.claimsrules`).  Shapes and assumptions come from the text where it states them
(``X \\in \\mathbb{R}^{m \\times n}``, "``W`` symmetric", "if ``B`` is symmetric",
``\\succ 0``) and from ``--shape``/``--assume``; the layout from ``--layout``, the prose or the
majority of the claims (:mod:`texgrad.claimslayout`).

How a claim is decided.  texgrad differentiates the left side (its derivative is itself
verified against finite differences; a claim whose derivative texgrad cannot verify is
skipped).  A member of the chain that is itself a derivative request
(``= \\nabla_x(x^T x)``, ``= \\frac{\\partial}{\\partial y} 2x``) is differentiated too, never
read as its operand.  Both closed forms are then evaluated exactly (no finite differences)
at random points:

- **sizes**: at least two size sets (the sizes where texgrad's own check found f defined,
  then every dimension raised by 2 and by 4: all distinct, none left at 3), so an answer
  right only for 3x3 matrices is caught;
- **points**: drawn honouring the assumptions; a point where texgrad's derivative or f is not
  finite, or a matrix it inverts is near-singular, is redrawn (positive entries, spd
  matrices); a point where both sides are 0 or below 1e-250 proves nothing and is redrawn at
  rescaled points (x/10 ... x/10^4, 10x, 100x);
- **tolerance**: the relative distance ``||G - P|| / max(||G||, ||P||)`` must be at most
  ``1e-9`` at every point compared, a bound raised only where the evaluation itself is that
  sensitive to rounding: to 100 times the relative change of either side when every input is
  perturbed by 16 units in the last place.  So a factor ``1 + 1e-6`` (or ``1 + 1e-7``) is
  ``wrong``;
- **verdict**: ``ok`` needs at least 3 points compared at 2 or more size sets; a single
  point where the two differ makes the claim ``wrong``; otherwise the claim is ``skipped``,
  "not verified", with the reason (the printed answer is not finite wherever the derivative
  is, both sides vanish, ...).
- **unstated assumptions**: a member that differs, but agrees at points where a square
  matrix of the claim is symmetric, is ``conditional`` ("right if A is symmetric", not a
  plain error) when nothing states what that matrix is; when the text or the caller declares
  it (its shape, or ``assume=`` with an empty list: a general matrix) it is ``wrong`` with
  that hint.

Layouts (``texgrad.claimslayout``): texgrad lays a gradient out like its variable and a
Jacobian like its function; a transposed answer (``b a^T`` for ``d a^T X b / dX``) is right
in the other layout.  A document's layout comes from ``--layout`` (API ``layout=``), else its
prose ("we use the numerator layout", "Jacobian formulation"), else the majority of its claims
whose two orientations differ; in it a transposed answer is ``ok`` (the layout named), one
transposed against it ``wrong``; with no evidence (one such claim, a tie) it is
``transposed``, verdict None.  A request ``\\partial f / \\partial \\mathbf{x}^T`` asks for
the row in every layout.  Rules, update steps and definitions of the derivative are
``not-a-claim`` (``texgrad.claimsrules``).  By a symmetric matrix,
``--symmetric G|sym|cookbook`` (API: ``symmetric=``) chooses texgrad's answer, and a printed
answer matching another of these documented conventions is ``ok`` with the convention named.
For a complex variable an answer matching the Wirtinger ``df/dx`` (half the conjugate of
texgrad's complex gradient) is ``wrong`` with a hint that the convention differs.

Limits: each claim has a time limit (20 s by default, ``--time-limit``); a claim over it, or
one that fails in any other way, is ``skipped`` with the reason and the run goes on.  The
report reads like a compiler's:
``paper.tex:142:5: wrong: df/dW is 2X^{T}(XW - Y), the text prints X^T(XW-Y)``.
"""

from __future__ import annotations

import json
import math
import sys

import click

from .claimsdefs import collect
from .claimsdiff import is_differential
from .claimrows import statements
from .claimscan import declarations, document, pieces_of, split_top
from .claimsdecide import CLAIM_TIME_LIMIT, decide
from .claimslayout import LAYOUTS, document_layout, settle, transposed_claim
from .claimsrequest import DERIVATIVE
from .claimsrules import UPDATE, not_a_claim, update_step
from .claimsverdict import ClaimResult
from .clickopts import shape_options
from .errors import TexgradError

MAX_BYTES = 50 * 1024 * 1024       # the most `texgrad check` reads of one file


def _check_layout(layout) -> str:
    if layout is None:
        return "auto"
    if layout not in LAYOUTS:
        raise TexgradError(f"unknown layout {layout!r}", hint="layouts: " + ", ".join(LAYOUTS))
    return layout


def check_claim(latex: str, shapes: dict | None = None, assume: dict | None = None,
                definitions: dict | None = None, seed: int = 0, symmetric: str = "G",
                time_limit: float | None = CLAIM_TIME_LIMIT,
                layout: str | None = None) -> ClaimResult:
    """Decide a printed claim ``\\frac{\\partial f}{\\partial X} = G`` (definitions of f may
    precede it on lines of their own, ``f(W) = ...``).  Returns a ClaimResult whatever the
    claim (``verdict`` None with the reason when it cannot be decided, "limit exceeded" past
    ``time_limit`` seconds); raises TexgradError only for a bad argument.  ``layout``
    (numerator | denominator | mixed; None or "auto": what the text says, if anything): the
    layout the claim is read in; without one, an answer right only transposed has the
    status ``transposed`` (verdict None).  A rule, an update step or a definition of the
    derivative has the status ``not-a-claim``."""
    from .api import SYMMETRIC_CONVENTIONS
    if not isinstance(latex, str):
        raise TexgradError("the claim must be a string")
    if symmetric not in SYMMETRIC_CONVENTIONS:
        raise TexgradError(f"unknown symmetric convention {symmetric!r}",
                           hint="conventions: " + ", ".join(SYMMETRIC_CONVENTIONS))
    layout = _check_layout(layout)
    try:
        defs = dict(definitions or {})
        shapes, assume = dict(shapes or {}), dict(assume or {})
    except (TypeError, ValueError):
        raise TexgradError("definitions, shapes and assume must be dictionaries") from None
    decl_shapes, decl_assume = declarations(latex)      # the prose: "a, b \in R^n"
    shapes = {**decl_shapes, **shapes}
    for k, v in decl_assume.items():
        assume.setdefault(k, v)
    claim_line = None
    for piece in statements(latex):
        ln = piece.text
        if DERIVATIVE.search(ln) or is_differential(ln):
            claim_line = ln
        else:
            collect(defs, ln)
    if claim_line is None:
        return ClaimResult(None, None, None, "no derivative claim found", latex)
    res = _decided(claim_line.strip(), shapes, assume, defs, seed, symmetric, time_limit)
    how = document_layout([res], latex, layout)
    settle([res], *how, redecide=_redecider(shapes, assume, defs, seed, symmetric, time_limit))
    return res


def _decided(line: str, shapes: dict, assume: dict, defs: dict, seed: int, symmetric: str,
             time_limit) -> ClaimResult:
    """A statement decided, or set aside as no claim (a rule, an update step, ...)."""
    if len(split_top(line)) < 2:
        if update_step(line):
            return ClaimResult(None, None, None, UPDATE, line, statement=UPDATE)
        return ClaimResult(None, None, None, "no '=' after the derivative", line)
    res = decide(line, shapes, assume, defs, seed, symmetric, time_limit)
    if res.verdict is None and not res.condition and res.convention != "transposed":
        kind = not_a_claim(line, res.reason, defs)
        if kind:
            return ClaimResult(None, None, None, kind, line, statement=kind)
    return res


def _redecider(shapes, assume, defs, seed, symmetric, time_limit):
    """The claim of a result decided again with its printed answers transposed."""
    def redecide(r: ClaimResult):
        members = [p for p, _ in split_top(r.claim)]
        if len(members) < 2:
            return None
        return decide(transposed_claim(r.claim, members), shapes, assume, defs, seed,
                      symmetric, time_limit)
    return redecide


# ------------------------------------------------------------------- documents

def check_text(text: str, filename: str = "-", shapes: dict | None = None,
               assume: dict | None = None, seed: int = 0, symmetric: str = "G",
               time_limit: float | None = CLAIM_TIME_LIMIT,
               layout: str | None = "auto", cache: dict | None = None) -> list[ClaimResult]:
    """Every claim of a document, decided (each within ``time_limit`` seconds), in the
    document's layout (``layout``: numerator | denominator | mixed, or "auto": what its
    prose says, else the majority of its claims; each result's ``layout`` and
    ``layout_source`` say which and why).  Rules, update steps and definitions of the
    derivative are in the list with the status ``not-a-claim``.  ``cache`` (a dict the
    caller keeps between calls, as the language server does) holds each claim's decision
    by its text and everything it was decided with, so an edited document re-decides only
    the claims that changed."""
    return _check_document(text, filename, shapes, assume, seed, symmetric, time_limit,
                           layout, cache)[0]


MAX_CACHED = 4096        # claims a cache keeps (the oldest half is dropped past it)


def _cached_decision(cache, line, shapes, assume, defs, seed, symmetric, time_limit):
    """_decided through ``cache``: a fresh copy of the result each time (callers set its
    place and the layout settles it)."""
    from dataclasses import replace
    if cache is None:
        return _decided(line, shapes, assume, defs, seed, symmetric, time_limit)
    key = (line, repr(sorted(shapes.items())), repr(sorted(assume.items())),
           repr(sorted(defs.items(), key=lambda kv: str(kv[0]))), seed, symmetric)
    hit = cache.get(key)
    if hit is None:
        hit = _decided(line, shapes, assume, defs, seed, symmetric, time_limit)
        if "limit exceeded" in hit.reason or internal_error(hit):
            return hit                       # not kept: a later try may decide it
        if len(cache) >= MAX_CACHED:
            for k in list(cache)[:MAX_CACHED // 2]:
                del cache[k]
        cache[key] = hit
    return replace(hit, sizes=list(hit.sizes), shapes=dict(hit.shapes))


def _check_document(text, filename, shapes, assume, seed, symmetric, time_limit, layout,
                    cache=None):
    """(the results, (layout, source, note)) of a document."""
    from .errors import position
    layout = _check_layout(layout)
    kind = "md" if filename.endswith(".md") else ("txt" if filename.endswith(".txt")
                                                 else "tex")
    doc = document(text, kind)
    decl_shapes, decl_assume = declarations(doc.prose)
    decl_shapes.update(shapes or {})
    for k, v in (assume or {}).items():
        decl_assume[k] = tuple(sorted(set(decl_assume.get(k, ())) | set(v)))
    defs: dict = {}
    results = []
    for piece in pieces_of(doc):
        if not (DERIVATIVE.search(piece.text) or is_differential(piece.text)):
            collect(defs, piece.text)       # a definition a later claim may lean on
            continue
        parts = split_top(piece.text)
        if len(parts) < 2 and not update_step(piece.text):
            continue
        lead = len(piece.text) - len(piece.text.lstrip())
        line, col = position(text, piece.offset + lead)
        res = _cached_decision(cache, piece.text.strip(), decl_shapes, decl_assume, defs,
                               seed, symmetric, time_limit)
        res.line, res.column, res.file, res.claim = line, col, filename, " ".join(
            piece.text.split())
        res.offset = piece.offset + lead
        res.end = piece.end if piece.end >= 0 else piece.offset + len(piece.text.rstrip())
        results.append(res)
    how = document_layout(results, doc.prose, layout)
    settle(results, *how, redecide=_redecider(decl_shapes, decl_assume, defs, seed,
                                              symmetric, time_limit))
    return results, how


def _short(latex: str | None) -> str:
    return " ".join((latex or "").split())


def report_line(r: ClaimResult) -> str:
    where = f"{r.file}:{r.line}:{r.column}"
    if r.verdict is True:
        extra = f" ({r.reason})" if r.reason else ""
        return f"{where}: ok: {_short(r.claim)}{extra}"
    if r.verdict is False:
        lhs = split_top(r.claim)[0][0].strip()
        printed = _short(r.printed).rstrip(".,; ")      # the sentence's punctuation
        return (f"{where}: wrong: {_short(lhs)} is {r.derivative_latex}, the text prints "
                f"{printed}" + (f": {r.reason}" if r.reason else ""))
    if r.status == "transposed":
        lhs = split_top(r.claim)[0][0].strip()
        printed = _short(r.printed).rstrip(".,; ")
        return (f"{where}: transposed: {_short(lhs)} is {r.derivative_latex}, the text prints "
                f"{printed}: {r.reason}")
    if r.status == "not-a-claim":
        return f"{where}: not a claim: {r.statement}: {_short(r.claim)}"
    if r.status == "conditional":
        return f"{where}: conditional: {r.reason}"
    return f"{where}: skipped: {r.reason}"


def summary(counts: dict) -> str:
    """The last line: the claims by status, then the statements that are no claims."""
    total = sum(v for k, v in counts.items() if k != "not-a-claim")
    out = (f"texgrad check: {total} claims: {counts['ok']} ok, {counts['wrong']} wrong, "
           f"{counts['skipped']} skipped")
    if counts["conditional"]:
        out += f", {counts['conditional']} right only under an unstated assumption"
    if counts["transposed"]:
        out += f", {counts['transposed']} right only in the transposed layout"
    if counts["not-a-claim"]:
        n = counts["not-a-claim"]
        out += (f"; {n} " + ("statement that is not a claim" if n == 1 else
                             "statements that are not claims")
                + " (rules, update steps, definitions)")
    return out


def internal_error(r: ClaimResult) -> bool:
    """A claim undecided by a failure of texgrad itself (decide: "internal error (...)")."""
    return "internal error (" in r.reason


def read_document(name: str, limit: int = MAX_BYTES) -> str:
    """The text of a file (``-``: standard input), strict UTF-8, at most ``limit`` bytes;
    TexgradError otherwise."""
    try:
        if name == "-":
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:          # a text stream without bytes underneath
                text = sys.stdin.read(limit + 1)
                if len(text) > limit:
                    raise TexgradError(f"cannot read {name}: larger than {limit // 2**20} MB")
                return text
            data = stream.read(limit + 1)
        else:
            with open(name, "rb") as fh:
                data = fh.read(limit + 1)
    except OSError as e:
        raise TexgradError(f"cannot read {name}: {e}") from None
    if len(data) > limit:
        raise TexgradError(f"cannot read {name}: larger than {limit // 2**20} MB",
                           hint="texgrad check reads documents of at most "
                                f"{limit // 2**20} MB; split the file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TexgradError(f"cannot read {name}: not UTF-8 text ({e})",
                           hint="convert the file to UTF-8") from None


@click.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True)
@shape_options
@click.option("--symmetric", "symmetric", type=click.Choice(["G", "sym", "cookbook"]),
              default="G", show_default=True,
              help="Derivative by a symmetric matrix: texgrad's answer in this convention "
                   "(a printed answer in another documented convention is ok, named).")
@click.option("--layout", "layout", type=click.Choice(list(LAYOUTS)), default="auto",
              show_default=True,
              help="The documents' layout: numerator (gradients printed as rows, X^T-shaped "
                   "by a matrix), denominator (gradients shaped like the variable, Jacobians "
                   "transposed), mixed (texgrad's own); auto: what each document's prose "
                   "says, else the majority of its claims.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="One line per claim, or one JSON record per claim.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--time-limit", "time_limit", type=click.FloatRange(min=0, min_open=True),
              default=CLAIM_TIME_LIMIT, show_default=True,
              help="Give up on a claim after S seconds (it is skipped: limit exceeded).")
def check_command(files, shapes, assume, symmetric, layout, fmt, seed, time_limit):
    """Verify every derivative claim printed in FILES (.tex, .md, .txt; - for stdin).

    \b
    Exit status: 0 no claim is wrong; 1 some claim is wrong; 2 a file cannot be
    read, or a bad option; 3 texgrad failed on some claim (an internal error,
    reported as skipped; please report it) and none is wrong.
    """
    from .options import parse_assume_specs, parse_shape_specs
    try:
        sh, asm = parse_shape_specs(shapes), parse_assume_specs(assume)
    except TexgradError as e:
        click.echo(e.render(), err=True)
        sys.exit(2)
    if not math.isfinite(time_limit):
        click.echo("texgrad check: --time-limit must be a finite number of seconds", err=True)
        sys.exit(2)
    counts = {"ok": 0, "wrong": 0, "skipped": 0, "conditional": 0, "transposed": 0,
              "not-a-claim": 0}
    failed = False
    for name in files:
        try:
            text = read_document(name)
        except TexgradError as e:
            click.echo(f"texgrad check: {e.message}" + (f"\nhint: {e.hint}" if e.hint else ""),
                       err=True)
            sys.exit(2)
        results, (used, source, note) = _check_document(text, name, sh, asm, seed, symmetric,
                                                        time_limit, layout)
        if used and results and source != "option":
            click.echo(f"texgrad check: {name}: read in the {used} layout ({note})", err=True)
        for res in results:
            counts[res.status] += 1
            failed = failed or internal_error(res)
            if fmt == "json":
                click.echo(json.dumps(res.to_dict(), allow_nan=False))
            else:
                click.echo(report_line(res))
    click.echo(summary(counts), err=True)
    sys.exit(1 if counts["wrong"] else (3 if failed else 0))
