"""The typing loop: a formula typed with the notation's soft defaults, and typed again
where its uses contradict them.

A plain letter read as a scalar that meets a use only a vector has is promoted to a vector
(:class:`~texgrad.infer.Promote`); an upper-case letter read as a matrix by convention that
meets a size 1 (``\\frac{N}{2}\\log|\\Sigma|``) is read as a scalar.  Each round changes one
more letter, so the loop ends, and the letters flipped are named (``typer.flipped``) for the
stamp.  :func:`typed_together` types several formulas of one text with one symbol table (a
claim's function and its printed answer).
"""

from __future__ import annotations

from .elaborate import Typer
from .errors import ShapeError
from .infer import Promote
from .syntax import N


def typed(text: str, root: N, shapes: dict | None, assume: dict | None):
    """(typer, raw IR) of ``root``: typed with the notation's defaults, then again with
    plain letters promoted to vectors as long as their uses ask for it (each round
    promotes at least one more letter, so this ends), and with a letter read as a matrix
    by convention read as a scalar when its uses say so (``\\frac{N}{2}\\log|\\Sigma|``:
    the fewest letters flipped, one per round, each named in ``typer.flipped``)."""
    typer, raws = typed_together(text, (root,), shapes, assume)
    return typer, raws[0]


def typed_together(text: str, roots, shapes: dict | None, assume: dict | None):
    """(typer, [raw IR of each root]): several formulas of one text typed with one symbol
    table (a claim's function and its printed answer), as :func:`typed` types one."""
    forced: set = set()
    scalars: set = set()
    flipped: list = []
    declared = set(shapes or {})
    while True:
        typer = Typer(text, shapes, assume, forced, scalars)
        typer.flipped = tuple(flipped)
        typer.root = roots[0]
        for root in roots:
            typer.survey(root)
        try:
            return typer, [typer.build(root) for root in roots]
        except Promote as p:
            done = scalars if p.scalar else forced
            if p.names <= done:        # pragma: no cover - each raise names a new letter
                raise
            done |= p.names
        except ShapeError as e:
            name = (getattr(e, "unit_label", None) or "").rsplit(".", 1)[0]
            sym = typer.symtab.get(name)
            if not name or name in declared or name in scalars or sym is None or \
                    typer.hints.get(name, {}).get("hints", set()) - {"upper"}:
                raise
            scalars.add(name)           # a matrix by convention whose uses make it a number
            flipped.append(name)
