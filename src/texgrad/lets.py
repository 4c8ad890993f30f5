"""Names for subexpressions (issue 14, item 3): ``--let 'e = d - \\mathbf{w}^H\\mathbf{x}'``.

A name is used both ways:

- **in the input**: where the formula writes the name (``|e|^2``), it stands for its
  definition, which is differentiated through (e depends on w);
- **in the output**: wherever the derivative holds the definition, or its conjugate,
  negation, transpose or conjugate transpose, the printer writes the name
  (``\\mathbf{w} + 2\\mu e^{*}\\mathbf{x}``), so a text's printed forms come out as printed.

The formula and the definitions are typed together, with one symbol table (a definition's
shape is the name's).  Only the printing is changed: the derivative, its check, its value
and its code are those of the expanded formula.
"""

from __future__ import annotations

import re

from .dims import shape_kind
from .errors import ShapeError, TexgradError

MAX_LETS = 20


class Let:
    """One definition: the name (as the naming rule reads it), its LaTeX, the definition's
    text and where that text begins in the joined text the Typer sees."""

    __slots__ = ("name", "latex", "text", "offset", "root", "expr", "spec")

    def __init__(self, name, latex, text, offset, root, spec=""):
        self.name, self.latex, self.text, self.offset, self.root = name, latex, text, \
            offset, root
        self.spec = spec
        self.expr = None                # the definition's IR, once typed


def parse_lets(specs, latex: str) -> tuple:
    """(the joined text: the formula, then each definition on a line of its own at its
    column in the spec, [Let]).  A spec is ``name = definition``."""
    from .parse import parse
    from .request import parse_wrt
    specs = list(specs or ())
    if len(specs) > MAX_LETS:
        raise TexgradError(f"more than {MAX_LETS} --let definitions")
    joined, lets = latex, []
    for spec in specs:
        if not isinstance(spec, str):
            raise TexgradError("a --let definition must be a string: 'e = ...'")
        spec = spec.replace("\n", " ")
        at = _top_level_equals(spec)
        if at is None:
            raise TexgradError(f"--let {spec!r}: no '=' between the name and its definition",
                               hint="e.g. --let 'e = d - \\mathbf{w}^H\\mathbf{x}'")
        head, body = spec[:at].strip(), spec[at + 1:]
        try:
            name = parse_wrt(head) if head else None
        except TexgradError:
            name = None
        if not name:
            raise TexgradError(f"--let {spec!r}: {head or 'nothing'} is not a name",
                               hint="a letter, possibly styled or subscripted: e, "
                                    "\\mathbf{r}, e_k", line=1, column=1, source=spec)
        if any(x.name == name for x in lets):
            raise TexgradError(f"--let: {head} is defined twice")
        offset = len(joined) + 1 + at + 1
        joined = joined + "\n" + " " * (at + 1) + body
        padded = re.sub(r"[^\n]", " ", joined[:offset]) + joined[offset:]
        try:
            root = parse(padded)
        except TexgradError as e:
            raise in_spec(e, latex, specs) from None
        lets.append(Let(name, head, body, offset, root, spec))
    return joined, lets


def _top_level_equals(spec: str) -> int | None:
    depth = 0
    for i, ch in enumerate(spec):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "=" and depth == 0:
            return i
    return None


def in_spec(e: TexgradError, latex: str, specs) -> TexgradError:
    """An error found in the joined text, moved to the --let spec it is in (its column is
    the spec's: a definition sits at its own column on its line)."""
    first = latex.count("\n") + 1
    if e.line is not None and e.line > first and e.line - first <= len(specs):
        spec = specs[e.line - first - 1]
        e.message = f"in --let {spec.split('=')[0].strip()}: {e.message}"
        e.line, e.source = 1, spec.replace("\n", " ")
    return e


def typed_with_lets(text: str, root, lets: list, shapes, assume):
    """(typer, raw IR of the formula with every name replaced by its definition), typed
    together with the definitions in the joined ``text``; the definitions kept in
    ``typer.lets`` for the printer's names."""
    from .factor import resimplify
    from .ir import Sym, walk
    from .typeloop import typed_together
    typer, raws = typed_together(text, [root] + [x.root for x in lets], shapes, assume)
    raw, defs = raws[0], raws[1:]
    mapping = {}
    for let, d in zip(lets, defs):
        sym = next((s for s in walk(raw) if isinstance(s, Sym) and s.name == let.name), None)
        if sym is not None:
            try:
                for have, want in zip(sym.dims, d.shape):
                    typer.dims.unify(have, want, "")
            except ShapeError:
                raise ShapeError(f"in --let {let.latex}: the formula uses {let.latex} as "
                                 f"{shape_kind(sym.dims)}, but its definition is "
                                 f"{shape_kind(d.shape)}", hint="a name has its definition's "
                                 "shape (\\mathbf{e} is a vector, e a scalar)", line=1,
                                 column=len(let.spec) - len(let.text) + 1,
                                 source=let.spec) from None
            mapping[sym] = d
    if mapping:
        raw = resimplify(raw, mapping)
    for let, d in zip(lets, defs):
        typer.symtab.pop(let.name, None)
        let.expr = d
    typer.lets = lets
    return typer, raw


def finish_lets(typer) -> None:
    """The definitions' IR in their final form (the dimensions named), for the names."""
    for let in getattr(typer, "lets", ()):
        let.expr = typer.finish(let.expr)[0]


def renamer(lets: list):
    """A function writing each definition (and its conjugate, negation, transpose,
    conjugate transpose) as its name, for the printer; None without definitions."""
    if not lets:
        return None
    from . import construct as S
    from .ir import Sym, is_complex, replace
    mapping = {}
    for let in lets:
        d = let.expr
        e = Sym(let.name, d.shape, let.latex, frozenset({"complex"}) if is_complex(d)
                else frozenset())
        for f in (lambda v: v, S.neg, S.transpose, S.conj,
                  lambda v: S.conj(S.transpose(v)), lambda v: S.neg(S.conj(v))):
            key = f(d)
            if key not in mapping:
                mapping[key] = f(e)

    def rename(expr):
        return replace(expr, mapping, S.rebuild)
    return rename
