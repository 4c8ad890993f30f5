"""The Python API: :func:`differentiate` and :func:`evaluate`.

This module wires the stages together: parse -> the request (:mod:`texgrad.request`) ->
names and shapes -> :func:`texgrad.derive.derive` (rules, simplify, print, numeric check) ->
a frozen :class:`~texgrad.result.Result`.  It imports NumPy only when a value is computed.
"""

from __future__ import annotations

from dataclasses import replace

from .derive import LAYOUTS, SYMMETRIC_CONVENTIONS, derive
from .errors import TexgradError, Unsupported, guarded
from .options import norm_assume, norm_shapes
from .parse import parse
from .request import guess_variable, parse_wrt, split_request, wrt_name
from .result import Result, bind_values
from .typeloop import typed

__all__ = ["KINDS", "Result", "differentiate", "evaluate", "prepare", "unused_names"]

KINDS = ("gradient", "jacobian", "hessian", "laplacian", "derivative")


# --------------------------------------------------------------------- pipeline

def prepare(latex: str, shapes, assume, wrt: str | None = None, lets=()):
    """Parse and type a formula: (the request, the name to differentiate by, the Typer,
    the raw IR), shared by :func:`differentiate` and the paper checker; ``lets``: names
    for subexpressions (``"e = d - w^H x"``, :mod:`texgrad.lets`)."""
    if not isinstance(latex, str):
        raise TexgradError("the formula must be a string")
    ast = parse(latex)
    given = parse_wrt(wrt) if wrt is not None else None
    req = split_request(ast, latex, given)
    name = None
    if req.wrt is not None:
        name = wrt_name(req.wrt, latex)
    if wrt is not None:
        if name is not None and given != name:
            raise TexgradError(f"the formula differentiates by {name} but wrt={wrt!r} was given",
                               hint="drop one of them")
        name = given
    if lets:
        from .lets import in_spec, parse_lets, typed_with_lets
        joined, items = parse_lets(lets, latex)
        try:
            typer, raw = typed_with_lets(joined, req.f, items, norm_shapes(shapes),
                                         norm_assume(assume))
        except TexgradError as e:
            raise in_spec(e, latex, list(lets)) from None
    else:
        typer, raw = typed(latex, req.f, norm_shapes(shapes), norm_assume(assume))
    return req, name, typer, raw


@guarded
def differentiate(latex: str, wrt: str | None = None, shapes: dict | None = None,
                  assume: dict | None = None, kind: str | None = None,
                  verify: bool = True, seed: int = 0, layout: str = "numerator",
                  symmetric: str = "G", time_limit: float | None = None,
                  along: str | None = None, let=()) -> Result:
    """Differentiate a LaTeX formula.  See the README for the kinds and conventions.

    ``time_limit`` (seconds, default None: no limit) bounds the whole call: past it a
    :class:`LimitError` is raised.  It uses a POSIX interval timer (SIGALRM), so it works only
    in the main thread of the main interpreter; called from another thread (a web server's
    worker, a thread pool) the call runs without a limit, so bound it there with a process
    (as ``texgrad batch`` does).  The CLI's ``--time-limit`` is this limit.

    ``along`` (``"\\dot{x} = A x"``, or the velocity alone) asks for the derivative of f
    along that flow, ``<\\nabla f, \\dot x>`` (:mod:`texgrad.flow`; kind ``"along"``).

    ``let`` (``["e = d - \\mathbf{w}^H\\mathbf{x}"]``) names subexpressions: a name the
    formula uses stands for its definition, and the printed derivative writes the name
    wherever the definition appears (:mod:`texgrad.lets`).

    ``Result.warnings`` lists the options that had no effect (a shape or an assumption given
    for a name the formula does not have); the stamp ends with them as notes.
    """
    from .limits import time_limited
    with time_limited(time_limit):
        return _differentiate_call(latex, wrt, shapes, assume, kind, verify, seed, layout,
                                   symmetric, along, let)


def located(err: Unsupported, latex: str) -> Unsupported:
    """A refusal from the rules, placed in the text: at the first place one of its
    ``spellings`` (regular expressions of the refused notation) matches, else the whole
    formula."""
    if err.line is None:
        import re
        hit = next((m for s in getattr(err, "spellings", ()) for m in [re.search(s, latex)]
                    if m), None)
        err.at(latex, hit.start() if hit else 0, (hit.end() - hit.start()) if hit else
               len(latex))
    return err


def _differentiate_call(latex, wrt, shapes, assume, kind, verify, seed, layout, symmetric,
                        along=None, let=()):
    if kind is not None and kind not in KINDS:
        raise TexgradError(f"unknown kind {kind!r}", hint="kinds: " + ", ".join(KINDS))
    if layout not in LAYOUTS:
        raise TexgradError(f"unknown layout {layout!r}", hint="layouts: " + ", ".join(LAYOUTS))
    if symmetric not in SYMMETRIC_CONVENTIONS:
        raise TexgradError(f"unknown symmetric convention {symmetric!r}",
                           hint="conventions: " + ", ".join(SYMMETRIC_CONVENTIONS))
    req, name, typer, raw = prepare(latex, shapes, assume, wrt, tuple(let or ()))
    guessed = False
    if name is None:
        found = sorted(typer.symtab)
        name = found[0] if len(found) == 1 else guess_variable(typer.symtab)
        if name is None:
            raise TexgradError("say which variable to differentiate by",
                               hint="pass --wrt (API: wrt=...), or write "
                                    "\\frac{\\partial}{\\partial X} in front; symbols: "
                                    + ", ".join(found), line=1, column=1, source=latex)
        guessed = len(found) > 1
    try:
        if along is None:
            res = derive(latex, name, req, typer, raw, kind, verify, seed, layout, symmetric)
        else:
            res = _along(latex, along, name, req, typer, raw, kind, shapes, assume, verify,
                         seed)
    except Unsupported as err:
        raise located(err, latex) from None
    notes = []
    if guessed:
        notes.append(f"by {name}, the variable taken by convention (--wrt chooses another)")
    if req.note:
        notes.append(req.note)
    notes += [f"{' '.join(spec.split())} (--let)" for spec in let or ()]
    for letter in getattr(typer, "flipped", ()):
        notes.append(f"{letter} read as a scalar, as its uses say (the letter suggests a "
                     f"matrix; --shape {letter}= declares it)")
    readings = tuple(notes[len(notes) - len(getattr(typer, "flipped", ())):]) + \
        tuple(typer.readings)
    notes += typer.readings
    convention, check = res.convention, res.check
    if notes:
        convention = "; ".join(notes + [convention])
        if check is not None:
            check = replace(check, convention=convention)
    return replace(res, convention=convention, check=check,
                   warnings=unused_names({**typer.symtab, **res.symbols}, shapes, assume),
                   readings=readings)


def _along(latex, flow, name, req, typer, raw, kind, shapes, assume, verify, seed):
    """The derivative along a flow: the gradient (unchecked), then :func:`flow.along`."""
    from .flow import along
    if not isinstance(flow, str) or not flow.strip():
        raise TexgradError("the flow (along) must be a formula: \\dot{x} = F, or F",
                           hint="e.g. --along '\\dot{\\mathbf{x}} = A\\mathbf{x}'")
    if kind not in (None, "gradient") or req.order > 1:
        raise TexgradError(f"--along takes the derivative of f along the flow, not a "
                           f"{kind or 'derivative of order %d' % req.order}",
                           hint="drop --kind", line=1, column=1, source=latex)
    g = derive(latex, name, req, typer, raw, "gradient", False, seed, "numerator", "G")
    return along(latex, flow, g, norm_shapes(shapes), norm_assume(assume), verify, seed)


def unused_names(symtab: dict, shapes, assume) -> tuple:
    """Warnings for ``shapes`` / ``assume`` entries naming no symbol of the formula (a typo
    in --shape Q=n would otherwise be ignored without a word)."""
    out = []
    have = ", ".join(sorted(symtab)) or "none"
    for what, given in (("shape", norm_shapes(shapes)), ("assumption", norm_assume(assume))):
        for name in given or {}:
            if name not in symtab:
                from .parseerrors import did_you_mean      # a warning path: loaded when needed
                near = did_you_mean(name, symtab)
                out.append(f"{what} given for {name}, which is not in the formula "
                           f"(symbols: {have})" + (f"; did you mean {near}?" if near else ""))
    return tuple(out)


@guarded
def evaluate(latex: str, values: dict, shapes: dict | None = None,
             assume: dict | None = None):
    """The value of the formula (NumPy) at ``values`` (name -> array; vectors 1-D)."""
    from .numeric import evaluate as ev, to_user

    req, _name, typer, raw = prepare(latex, shapes, assume)
    f, _fd, syms = typer.finish(raw)
    env, sizes = bind_values(syms, values, f)
    return to_user(ev(f, env, sizes), f.shape)


