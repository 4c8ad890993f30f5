"""Indexed families and the sums over them (issue 12).

``\\sum_{i=1}^{N} \\|W\\mathbf{x}_i - \\mathbf{y}_i\\|^2`` sums over the members of two
families, the samples ``\\mathbf{x}_i`` and ``\\mathbf{y}_i``.  A *member* is a symbol named
``base_letters`` (``x_i``, ``r_ik``, ``mu_k``) inside the body of a :class:`~texgrad.ir.Sum`
over one of its letters; every member of a family has one shape.  Outside every sum over its
letter (``\\boldsymbol\\mu_k`` as the variable of a derivative) a member is one fixed member.

This module owns what a member is (:func:`member_letters`), whether an expression varies with
an index (:func:`varies`), renaming an index (:func:`rename_index`: the Kronecker delta of a
derivative by a member, d/d mu_k sum_j g(mu_j) = g'(mu_k)), the families' axes that the
numeric check draws (:func:`axes`) and the canonical constructor :func:`sum_over`, which
pulls out of the sum what does not vary with its index.
"""

from __future__ import annotations

from . import construct as C
from .ir import Expr, Index, MatMul, Mul, Sum, Sym, Zero, walk


def member_letters(name: str) -> str:
    """The index letters of a member's name (``"ik"`` of ``r_ik``), or ``""``."""
    base, sep, sub = name.rpartition("_")
    sub = sub.replace(",", "")
    if sep and base and sub.isascii() and sub.isalpha() and len(sub) <= 3:
        return sub
    return ""


def renamed(s: Sym, old: str, new: str) -> Sym:
    """The member ``s`` with the index letter ``old`` replaced by ``new`` (name and LaTeX)."""
    letters = member_letters(s.name)
    if old not in letters or old == new:
        return s
    base = s.name.rpartition("_")[0]
    sub = letters.replace(old, new)
    tex = s.latex or s.name
    head, _, tail = tex.rpartition("_")
    if head and tail.strip("{} ").replace(",", "") == letters:
        tex = f"{head}_{{{sub}}}"
    return Sym(f"{base}_{sub}", s.dims, tex, s.assume)


def sibling(name: str, symbols: dict):
    """``mu_k`` asked for where the formula has ``mu_j`` (a sum over j): the member of that
    family named ``name``, or None."""
    letters = member_letters(name)
    base = name.rpartition("_")[0]
    for s in symbols.values():
        mine = member_letters(s.name)
        if letters and s.name.rpartition("_")[0] == base and len(mine) == len(letters):
            for old, new in zip(mine, letters):
                s = renamed(s, old, new)
            return s if s.name == name else None
    return None


def varies(e: Expr, letter: str) -> bool:
    """Whether ``e`` holds a member with the index ``letter``."""
    return any(isinstance(n, Sym) and letter in member_letters(n.name) or
               isinstance(n, Index) and n.letter == letter for n in walk(e))


def rename_index(e: Expr, old: str, new: str) -> Expr:
    """``e`` with every member's index ``old`` renamed ``new``."""
    from .ir import replace
    mapping = {n: renamed(n, old, new) if isinstance(n, Sym) else Index(new) for n in walk(e)
               if isinstance(n, Sym) and old in member_letters(n.name) or
               isinstance(n, Index) and n.letter == old}
    return replace(e, mapping, C.rebuild) if mapping else e


def collapsed_letter(e: Sum, x: Expr) -> str:
    """For a derivative by the member ``x`` (``mu_k``) of a family that ``e``'s body indexes
    by the sum's own letter (``mu_j`` in a sum over j): the letter of ``x`` that the sum's
    index meets (``k``), else ``""``: only the term j = k depends on x."""
    if not isinstance(x, Sym):
        return ""
    letters = member_letters(x.name)
    if not letters:
        return ""
    base = x.name.rpartition("_")[0]
    for n in walk(e.body):
        if isinstance(n, Sym) and n.name.rpartition("_")[0] == base:
            mine = member_letters(n.name)
            if len(mine) == len(letters) and e.index in mine:
                return letters[mine.index(e.index)]
    return ""


def axes(f: Expr) -> dict:
    """member name -> the dimension (range size) of each of its letters, for the numeric
    check: the family ``r_ik`` summed over i to N and over k to K is drawn as an (N, K)
    array of members; a letter no sum ranges over has one value."""
    out: dict = {}
    for n in walk(f):
        if not isinstance(n, Sum):
            continue
        for s in walk(n.body):
            if isinstance(s, Sym):
                letters = member_letters(s.name)
                if n.index in letters:
                    dims = out.setdefault(s.name, [1] * len(letters))
                    dims[letters.index(n.index)] = n.hi
    return {k: tuple(v) for k, v in out.items()}


def sum_over(body: Expr, index: str, hi, lo=1) -> Expr:
    """``\\sum_{index} body``, with what does not vary with the index pulled out: scalar
    factors (``-2\\sum_i r_{ik}(\\mathbf{x}_i - \\boldsymbol\\mu_k)``) and the matrices at
    either end of a product (``\\Sigma^{-1}(\\sum_i \\mathbf{d}_i \\mathbf{d}_i^T)
    \\Sigma^{-1}``).  A body that does not vary at all stays a sum (its count is the range's
    size, which has no symbol of its own)."""
    if isinstance(body, Zero):
        return body
    if isinstance(body, Mul):
        fixed = [f for f in body.factors if not varies(f, index)]
        if fixed and len(fixed) < len(body.factors):
            rest = [f for f in body.factors if varies(f, index)]
            return C.mul(*fixed, sum_over(C.mul(*rest), index, hi, lo))
    if isinstance(body, MatMul):
        fs = body.factors
        a = next((k for k, f in enumerate(fs) if varies(f, index)), None)
        if a is not None:
            b = max(k for k, f in enumerate(fs) if varies(f, index)) + 1
            if a > 0 or b < len(fs):
                inner = fs[a:b]
                core = sum_over(inner[0] if len(inner) == 1 else C.matmul(*inner),
                                index, hi, lo)
                return C.matmul(*fs[:a], core, *fs[b:])
    return Sum(body, index, hi, lo)


def transpose_sum(e: Sum) -> Expr:
    """(sum_i G_i)^T = sum_i G_i^T."""
    return sum_over(C.transpose(e.body), e.index, e.hi, e.lo)


C.REBUILD[Sum] = lambda e, k: sum_over(k[0], e.index, e.hi, e.lo)
C.TRANSPOSE[Sum] = transpose_sum
