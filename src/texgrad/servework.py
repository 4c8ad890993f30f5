"""The work behind ``texgrad serve`` (issue 13): one request of the playground page, as a
plain function from a dict to a dict.

:mod:`texgrad.serve` runs :func:`answer` in a worker process (:mod:`texgrad.workers`), so
the time limit of :mod:`texgrad.limits` applies and a formula that runs away is ended with
its process.  The request's text is parsed with texgrad's grammar and option parsers, never
evaluated.

Request (JSON): ``latex`` (required), ``wrt``, ``shapes`` (``"X=m,n x=n"``, as the CLI's
``--shape``), ``assume`` (``"W=symmetric"``, as ``--assume``), ``kind``, ``layout``, ``let``
(definitions, one a line, or a list, as ``--let``).

Answer: ``{"ok": true, "equation", "derivative", "stamp", "status", "verified", "wrt",
"kind", "shapes", "conventions", "code": {"numpy", "jax", "torch"}, "code_errors"}``; or
``{"ok": false, "error": {"kind", "message", "hint", "line", "column"}, "report"}`` with the
report as the CLI prints it (the line and a caret under the spot).
"""

from __future__ import annotations

import os
import re

from .errors import TexgradError

TIME_LIMIT = float(os.environ.get("TEXGRAD_SERVE_TIME_LIMIT") or 5.0)   # s per formula
MAX_FORMULA = 20_000            # characters of LaTeX in one request
FIELDS = {"latex", "wrt", "shapes", "assume", "kind", "layout", "let"}
TARGETS = ("numpy", "jax", "torch")


class BadRequest(TexgradError):
    kind = "bad request"


def _text(req: dict, name: str, limit: int = 2_000) -> str | None:
    v = req.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise BadRequest(f'"{name}" must be a string')
    if len(v) > limit:
        raise BadRequest(f'"{name}" is longer than {limit:,} characters')
    return v


def _specs(text: str | None) -> list:
    """``"X=m,n; x=n"`` -> ``["X=m,n", "x=n"]`` (specs apart by spaces or semicolons)."""
    return [s for s in re.split(r"[;\s]+", text or "") if s]


def _request(req) -> dict:
    from .options import parse_assume_specs, parse_shape_specs
    if not isinstance(req, dict):
        raise BadRequest("the request must be a JSON object",
                         hint='e.g. {"latex": "\\\\mathbf{x}^T A \\\\mathbf{x}"}')
    unknown = sorted(set(req) - FIELDS)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}",
                         hint="the fields are " + ", ".join(sorted(FIELDS)))
    latex = _text(req, "latex", MAX_FORMULA)
    if latex is None or not latex.strip():
        raise BadRequest("no formula", hint="type a formula, e.g. \\mathbf{x}^T A \\mathbf{x}")
    out = {"latex": latex, "wrt": _text(req, "wrt"), "kind": _text(req, "kind"),
           "shapes": parse_shape_specs(_specs(_text(req, "shapes"))),
           "assume": parse_assume_specs(_specs(_text(req, "assume")))}
    lets = req.get("let")
    if isinstance(lets, str):                     # one definition a line
        lets = [x for x in lets.split("\n") if x.strip()]
    if lets is not None and not (isinstance(lets, list) and len(lets) <= 20 and
                                 all(isinstance(x, str) and len(x) <= 2_000 for x in lets)):
        raise BadRequest('"let" must be definitions, one a line: "e = d - w^H x"')
    if lets:
        out["let"] = tuple(lets)
    layout = _text(req, "layout")
    if layout is not None:
        out["layout"] = layout
    return out


def _code(r) -> tuple:
    from .codegen import emit
    code, errors = {}, {}
    for target in TARGETS:
        try:
            code[target] = emit(r, target)
        except (NotImplementedError, ValueError, TexgradError) as e:
            code[target], errors[target] = None, str(e)
    return code, errors


def _dims(dims) -> str:
    """``("m", "n")`` -> ``m×n``; a scalar is ``scalar``, a vector ``n``-vector."""
    dims = [str(d) for d in dims]
    return "scalar" if not dims else f"{dims[0]}-vector" if len(dims) == 1 else "×".join(dims)


def failure(e: TexgradError) -> dict:
    """The answer for an error: its fields, and the report as the CLI prints it (the line
    and a caret under the spot, the hint)."""
    return {"ok": False, "error": {"kind": e.kind, "message": e.message, "hint": e.hint,
                                   "line": e.line, "column": e.column},
            "report": e.render()}


def refusal(kind: str, message: str, hint: str) -> dict:
    """The answer for a request the server itself refuses (busy, too large, not found)."""
    e = TexgradError(message, hint=hint)
    e.kind = kind
    return failure(e)


def answer(req) -> dict:
    """The page's answer to one request (never raises for bad input).  The formula is run
    as ``texgrad EXPR`` runs a selection: ``$...$`` and the like set aside."""
    import texgrad
    from .clidiff import replacement, run_selection
    try:
        kw = _request(req)
        latex = kw.pop("latex")
        r = run_selection(latex, TIME_LIMIT,
                          lambda formula: texgrad.differentiate(formula, **kw))
    except TexgradError as e:
        return failure(e)
    code, errors = _code(r)
    conventions = [f"layout: {r.convention}" if r.convention else "",
                   "shapes: " + ", ".join(f"{k} {_dims(v)}" for k, v in r.shapes.items())]
    conventions += list(r.readings) + list(r.warnings)
    return {"ok": True, "equation": replacement(latex, r), "derivative": r.latex,
            "stamp": r.stamp.lstrip("% "),
            "status": None if r.check is None else r.check.status,
            "verified": r.verified, "wrt": r.wrt, "kind": r.kind,
            "shapes": {k: list(v) for k, v in r.shapes.items()},
            "conventions": [c for c in conventions if c],
            "code": code, "code_errors": errors}
