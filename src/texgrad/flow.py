"""The derivative along a flow (issue 14, item 2): ``\\dot f = <\\nabla f, \\dot{x}>``.

``texgrad 'x^T P x' --wrt x --along '\\dot{x} = Ax'`` differentiates f by x, then takes the
inner product of the gradient with the velocity the flow gives (the chain rule
``d/dt f(x(t)) = <\\nabla f(x), \\dot x>``), in compact form:

- a vector variable: ``\\nabla f^T \\dot x``; a quadratic result ``x^T M x`` is written with
  the symmetric part of M, as texts print it (``x^T(PA + A^TP)x`` for a symmetric P);
- a matrix variable: ``tr(\\nabla f^T \\dot X)`` (``d/dt log det X`` along ``\\dot X = AX``
  is ``tr(A)``); a scalar: the product.

The flow is ``\\dot{x} = F``, ``\\frac{dx}{dt} = F`` or F alone, F read with the formula's
shapes (its new symbols by the notation's conventions).  The answer is checked against
central differences of f along F(x) at random points: ``(f(x + hF) - f(x - hF)) / 2h``.
A variable declared symmetric, spd, diagonal or orthogonal is refused (a flow would have to
stay on those matrices), and so is a complex one.
"""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction

from . import construct as S
from .dims import shape_kind
from .errors import ShapeError, TexgradError, Unsupported
from .ir import SCALAR, Add, MatMul, is_complex

_D = r"(?:d|\\mathrm\s*\{\s*d\s*\}|\\mathrm\s+d|\\operatorname\s*\{\s*d\s*\})"
# \frac{dx}{dt}, \frac{d}{dt}x: the variable's time derivative written as a fraction
_DDT = re.compile(r"\\[dt]?frac\s*\{\s*" + _D + r"\s*(?P<v>[^{}]*(?:\{[^{}]*\}[^{}]*)*?)\s*\}"
                  r"\s*\{\s*" + _D + r"\s*t\s*\}\s*(?P<after>.*)$", re.S)
STRUCTURED = ("symmetric", "spd", "diagonal", "orthogonal")


def split_flow(flow: str, name: str, latex_name: str = "") -> int:
    """Where the velocity begins in ``flow`` (``\\dot{x} = F``, ``\\frac{dx}{dt} = F``, or F
    alone: 0), checking that the left side is the time derivative of the variable."""
    from .parse import parse
    from .request import parse_wrt
    try:
        ast = parse(flow)
    except TexgradError as e:
        raise _in_flow(e, flow) from None
    if ast.op != "chain":
        return 0
    if len(ast.args) != 2:
        raise TexgradError("the flow has more than one '='", hint="write it as "
                           "\\dot{x} = F(x)", line=1, column=1, source=flow)
    lhs, rhs = ast.args
    left = flow[lhs.start:lhs.end]
    m = _DDT.match(left.strip())
    try:
        got = parse_wrt(m.group("v") or m.group("after")) if m else parse_wrt(left)
    except TexgradError:
        got = None
    if got != name and got != f"{name}_dot":
        raise TexgradError(f"the left side of the flow, {left.strip()}, is not the time "
                           f"derivative of the variable {name}",
                           hint=f"write \\dot{{{latex_name}}} = ..., or give the velocity "
                                "alone",
                           line=1, column=lhs.start + 1, source=flow)
    return rhs.start


def _in_flow(e: TexgradError, flow: str) -> TexgradError:
    if not e.message.startswith("in --along"):
        e.message = f"in --along: {e.message}"
    return e


def velocity(flow: str, start: int, x, syms: dict, shapes: dict, assume: dict):
    """(the velocity F as IR, the symbols of F): F typed with the formula's shapes and
    assumptions, its own new symbols by the conventions."""
    from .options import norm_assume, norm_shapes
    from .parse import parse
    from .request import split_request
    from .result import dims_out
    from .typeloop import typed
    padded = re.sub(r"[^\n]", " ", flow[:start]) + flow[start:]
    known = {n: tuple(dims_out(s)) for n, s in syms.items()}
    given = {**known, **(shapes or {})}
    props = {n: tuple(s.assume) for n, s in syms.items() if s.assume}
    props.update(assume or {})
    try:
        req = split_request(parse(padded), padded, None)
        if req.wrt is not None:
            raise TexgradError("the velocity is a derivative itself",
                               hint="give the velocity of the flow: \\dot{x} = A x",
                               line=1, column=start + 1, source=padded)
        typer, raw = typed(padded, req.f, norm_shapes(given), norm_assume(props))
        try:
            for have, want in zip(raw.shape, x.dims):    # the velocity has x's shape
                typer.dims.unify(have, want, "")
        except ShapeError:
            from .derive import shape_words
            raise ShapeError(f"the velocity is {shape_kind(raw.shape)}, but the "
                             f"variable {x.name} is {shape_words(x.dims)}",
                             hint="the velocity has the variable's shape (declare shapes "
                                  "with --shape if the notation misleads)",
                             line=1, column=start + 1, source=padded) from None
        F, _fd, fsyms = typer.finish(raw)
    except TexgradError as e:
        if e.source == padded:
            e.source = flow
        raise _in_flow(e, flow) from None
    return F, fsyms


def inner(g, F, x):
    """<g, F> in the variable's shape: g F (scalar), g^T F (vector), tr(g^T F) (matrix)."""
    if x.dims == SCALAR:
        return S.mul(g, F)
    if x.dims[1] == 1:
        return S.matmul(S.transpose(g), F)
    return S.trace(S.matmul(S.transpose(g), F))


def symmetric_quadratic(e, x):
    """``x^T M x`` terms of ``e`` (a vector variable) gathered into ``x^T M_s x`` with M_s the
    symmetric part of their sum; the other terms kept."""
    if x.dims == SCALAR or x.dims[1] != 1:
        return e
    xt = S.transpose(x)
    middles, others = [], []
    for t in (e.terms if isinstance(e, Add) else (e,)):
        c, rest = S.split_coef(t)
        fs = rest.factors if isinstance(rest, MatMul) else ()
        if len(fs) >= 3 and fs[0] == xt and fs[-1] == x:
            middles.append(S.mul(S.const(c), S.matmul(*fs[1:-1])))
        else:
            others.append(t)
    if not middles:
        return e
    m = S.add(*middles)
    ms = m if S.transpose(m) == m else \
        S.mul(S.const(Fraction(1, 2)), S.add(m, S.transpose(m)))
    return S.add(S.matmul(xt, ms, x), *others)


def along(latex: str, flow: str, r, shapes: dict, assume: dict, verify: bool, seed: int):
    """The Result for ``--along``: ``r`` is the gradient's Result (unchecked) of the
    formula, printed in its notation (``r.style``)."""
    from .check import check_along
    from .factor import factor
    from .printer import count_terms, latex as to_latex
    x = r.symbols[r.wrt]
    structured = [a for a in STRUCTURED if a in x.assume]
    if structured:
        raise Unsupported(f"--along with {x.name} declared {', '.join(structured)}: a "
                          "flow would have to keep it so", hint="drop the assumption on the "
                          "variable (the flow's matrices may keep theirs)",
                          line=1, column=1, source=latex)
    if is_complex(r.f) or "complex" in x.assume:
        raise Unsupported("--along for complex variables is not supported",
                          line=1, column=1, source=latex)
    start = split_flow(flow, x.name, x.latex or x.name)
    F, fsyms = velocity(flow, start, x, r.symbols, shapes, assume)
    syms = {**fsyms, **r.symbols}
    e = factor(symmetric_quadratic(factor(inner(r.expr, F, x)), x))
    conv = f"along the flow {' '.join(flow.split())}"
    check = check_along(r.f, e, r.expr, F, x, syms, seed=seed, convention=conv) \
        if verify else None
    out = to_latex(e, r.style)
    return replace(r, kind="along", expr=e, latex=out, terms=count_terms(e), check=check,
                   symbols=syms, convention=conv, form="gradient", target=F)
