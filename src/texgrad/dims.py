"""Dimensions and their unification.

A dimension of a shape is the integer ``1``, a name (``"n"``; a numeric size given by the
user is a :class:`Fixed`), a product of names (a tuple, for Kronecker products) or, while
shapes are inferred, a :class:`DimVar`, an unknown.  :func:`spelled` writes any of them as
the user would (every message, stamp, record and docstring goes through it).  :class:`Dims` unifies them (union-find)
and says, with the two spots of the formula, why two shapes do not conform.  The syntax
nodes it points at (``na``, ``nb``) are anything with ``start`` and ``end`` offsets into the
text.
"""

from __future__ import annotations

from .errors import ShapeError


class Fixed(str):
    """A numeric size the user gave (``--shape x=3``): a dimension that is its own size,
    ``d.n``.  Tell it by its type, never by its spelling.  It is still a ``str`` spelled
    ``"#3"`` (so it is a distinct key from the name ``"3"`` and sorts with the names)."""

    __slots__ = ()

    def __new__(cls, n):
        return super().__new__(cls, f"#{int(str(n).lstrip('#'))}")

    @property
    def n(self) -> int:
        return int(self[1:])

    def __getnewargs__(self):
        return (self.n,)

    def __repr__(self):
        return f"Fixed({self.n})"


def spelled(d, sep: str = "*") -> str:
    """A dimension as the user wrote it: a Fixed as its number, a name as itself, a product
    of dimensions joined by ``sep`` (``m*n``; ``2*3``)."""
    if isinstance(d, tuple):
        return sep.join(spelled(x, sep) for x in d)
    return str(d.n) if isinstance(d, Fixed) else str(d)


def shape_kind(shape) -> str:
    """A scalar, a vector, a row vector or a matrix: the kind of a shape, said even while
    its dimensions are still being inferred."""
    if tuple(shape) == (1, 1):
        return "a scalar"
    return "a vector" if shape[1] == 1 else "a row vector" if shape[0] == 1 else "a matrix"


class DimVar:
    """An unknown dimension.  ``unit_ok``: may turn out to be 1 (ones, zeros, identity)."""

    __slots__ = ("label", "unit_ok", "__weakref__")

    def __init__(self, label: str = "", unit_ok: bool = False):
        self.label = label
        self.unit_ok = unit_ok

    def __repr__(self):
        return f"?{self.label or id(self) % 1000}"


class Dims:
    """Union-find over dimension variables; rigid names (declared by the user) and 1."""

    def __init__(self, text: str):
        self.parent: dict = {}
        self.text = text

    def find(self, d):
        while isinstance(d, DimVar) and d in self.parent:
            nxt = self.parent[d]
            if isinstance(nxt, DimVar) and nxt in self.parent:
                self.parent[d] = self.parent[nxt]
            d = nxt
        return d

    def unify(self, a, b, why, na=None, nb=None):
        a, b = self.find(a), self.find(b)
        if a is b or (not isinstance(a, DimVar) and not isinstance(b, DimVar) and a == b):
            return
        if isinstance(b, DimVar) and not isinstance(a, DimVar):
            a, b = b, a
            na, nb = nb, na
        if isinstance(a, DimVar):
            if b == 1 and not a.unit_ok:
                self.fail(why, na, nb, "a vector or matrix cannot have a dimension of size 1 "
                                       "here", unit=a)
            if isinstance(b, DimVar):
                b.unit_ok = b.unit_ok and a.unit_ok
            self.parent[a] = b
            return
        self.fail(why, na, nb, f"dimension {spelled(a)} against {spelled(b)}")

    def fail(self, why, na, nb, detail, unit: DimVar | None = None):
        """Raise the ShapeError; ``unit``: the unknown that met a size 1 (its label names
        the symbol whose letter convention the formula contradicts, ``N.rows``)."""
        def txt(n):
            return " ".join(self.text[n.start:n.end].split()) if n is not None else "?"
        msg = why
        if na is not None and nb is not None:
            msg = f"{why}: `{txt(na)}` and `{txt(nb)}` do not conform ({detail})"
        err = ShapeError(msg, hint="declare shapes with --shape NAME=m,n (API: shapes=...) "
                                   "if the notation misleads")
        spot = nb if nb is not None else na
        if spot is not None:
            err.at(self.text, spot.start, spot.end - spot.start)
        err.unit_label = unit.label if unit is not None else None
        raise err
