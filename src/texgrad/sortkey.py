"""Sort keys: a deterministic order of IR nodes, independent of hash randomisation.

The constructors order the terms of a sum and the factors of a product by :func:`skey`, so
one expression prints one way on every run.
"""

from __future__ import annotations

from .dims import DimVar
from .ir import Const, Expr, Sym, walk


SKEY_EXACT = 4000      # tree size up to which a sort key spells the tree out


_OTHER_FIELDS: dict = {}


def _field_text(v) -> str:
    """A field in a key; an unknown dimension is "?" (its repr would depend on its id)."""
    if isinstance(v, DimVar):
        return "?" + v.label
    if isinstance(v, tuple):
        return "(" + ",".join(_field_text(x) for x in v) + ")"
    return str(v)


def _other_fields(cls) -> tuple:
    """The compared fields of a node type that are neither children nor k, p, name (which
    the key spells first): nodes that differ only there must not share a key."""
    try:
        return _OTHER_FIELDS[cls]
    except KeyError:
        kids = {k.lstrip("*") for k in cls._kids}
        out = tuple(f for f in cls._fields if f not in kids and f not in
                    ("k", "p", "name", "spec") and f not in cls._uncompared)
        _OTHER_FIELDS[cls] = out
        return out


def skey(e: Expr) -> str:
    """A deterministic sort key (independent of hash randomisation), remembered on the node.
    Up to :data:`SKEY_EXACT` tree nodes it spells the tree out; a larger tree (a DAG whose
    shared parts would make the spelling exponential: nested functions) is keyed by its type
    and a digest of its children's keys, so computing it is linear in the distinct nodes."""
    try:
        return e._sk
    except AttributeError:
        pass
    order = walk(e) if e.children else (e,)
    known: dict = {}         # walk() visits one of equal nodes; the others share its key
    for n in order:
        try:
            known[n] = n._sk
            continue
        except AttributeError:
            pass
        if isinstance(n, Sym):
            k = n.name
        elif isinstance(n, Const):
            k = str(n.value)
        else:
            extra = ""
            for attr in ("k", "p", "name"):
                if hasattr(n, attr):
                    extra += str(getattr(n, attr))
            for attr in _other_fields(type(n)):    # Identity(n), Commutation(m, n), ...
                extra += f"[{_field_text(getattr(n, attr))}]"
            kids = [known[c] for c in n.children]
            if n.size <= SKEY_EXACT:
                k = f"{type(n).__name__}{extra}({','.join(kids)})"
            else:
                import hashlib
                digest = hashlib.sha1("\x00".join(kids).encode("utf-8", "surrogatepass"))
                k = f"{type(n).__name__}{extra}#{digest.hexdigest()}"
        object.__setattr__(n, "_sk", k)
        known[n] = k
    return known[e]
