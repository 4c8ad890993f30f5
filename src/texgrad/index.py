"""Index notation (Ricci calculus) to matrix form, for the shape stage.

A sum over indices of products of entries, ``\\sum_{klmn} X_{kl} X_{mn}``, is rewritten as
matrix algebra, ``(1^T X 1)(1^T X 1)``: every factor is a matrix (a vector is a matrix with a
unit column, ``\\delta_{ij}`` the identity); an index that occurs once is summed against a
vector of ones; an index that occurs twice joins two factors.  Each connected group of factors
is then a path between two unit ends (a scalar ``u^T A B v``) or a cycle (a trace).  An index
that occurs three times or more has no matrix form here and is reported.
"""

from __future__ import annotations

from .dims import DimVar
from .errors import ShapeError, Unsupported
from .ir import SCALAR, Expr, Identity, MatMul, Mul, Ones, Trace, Transpose


class Indexed:
    """A factor with its indices: ``expr`` is (rows, cols); ``idx`` names (row, col) indices,
    ``None`` for a unit dimension."""

    __slots__ = ("expr", "row", "col", "node")

    def __init__(self, expr: Expr, row, col, node):
        self.expr, self.row, self.col, self.node = expr, row, col, node

    def flipped(self) -> "Indexed":
        return Indexed(Transpose(self.expr), self.col, self.row, self.node)


def contract(factors: list, scalars: list, free: set, typer, where) -> Expr:
    """The matrix form of  sum over all non-free indices of  prod(factors) * prod(scalars)."""
    if free:
        raise Unsupported("free indices in index notation are not supported yet "
                          f"({', '.join(sorted(free))})",
                          hint="sum over every index, or differentiate the matrix form"
                          ).at(typer.text, where.start, where.end - where.start)
    count: dict = {}
    dims: dict = {}
    for f in factors:
        for pos, i in ((0, f.row), (1, f.col)):
            if i is None:
                continue
            count[i] = count.get(i, 0) + 1
            d = f.expr.shape[pos]
            if i in dims:
                typer.dims.unify(dims[i][0], d, f"index {i} ranges over one dimension",
                                 dims[i][1], f.node)
            else:
                dims[i] = (d, f.node)
    for i, c in count.items():
        if c > 2:
            raise Unsupported(f"the index {i} appears {c} times in one product",
                              hint="an index may appear at most twice (once to be summed "
                                   "against ones)").at(typer.text, where.start,
                                                       where.end - where.start)
    items = list(factors)
    for i, c in count.items():
        if c == 1:   # summed against a vector of ones
            ones = Ones((DimVar("1", unit_ok=True), 1))
            typer.dims.unify(ones.shape[0], dims[i][0], f"index {i}", where, where)
            items.append(Indexed(ones, i, None, where))
    out = list(scalars)
    remaining = items
    while remaining:
        chain, remaining = _component(remaining)
        out.append(chain)
    if not out:
        return Ones((1, 1))  # pragma: no cover - an empty product
    acc = out[0]
    for e in out[1:]:
        acc = Mul((acc, e)) if acc.shape == SCALAR else Mul((e, acc))
    return acc


def _component(items: list):
    """One path (a scalar u^T ... v) or cycle (a trace) of the factor graph, and the rest."""
    # start at a unit end if there is one: a path
    start = next((k for k, f in enumerate(items) if f.row is None or f.col is None), None)
    cycle = start is None
    k = 0 if cycle else start
    first = items[k]
    if not cycle and first.row is not None:
        first = first.flipped()          # the unit end first: (None, i)
    rest = items[:k] + items[k + 1:]
    chain = [first]
    open_idx = first.col
    while open_idx is not None:
        j = next((m for m, f in enumerate(rest) if open_idx in (f.row, f.col)), None)
        if j is None:
            break                         # a cycle closed on itself
        f = rest.pop(j)
        if f.row != open_idx:
            f = f.flipped()
        chain.append(f)
        open_idx = f.col
        if cycle and open_idx == first.row:
            break
    exprs = [f.expr for f in chain if not (isinstance(f.expr, Identity) and len(chain) > 1)]
    if not exprs:
        exprs = [chain[0].expr]
    prod = exprs[0] if len(exprs) == 1 else MatMul(tuple(exprs))
    if cycle:
        prod = Trace(prod)
    return prod, rest


def check_indices(expr: Expr, row, col, node, typer) -> Indexed:
    """An entry: a matrix needs two indices, a vector one, a scalar none."""
    r, c = typer.shape_of(expr)
    n_idx = sum(1 for i in (row, col) if i is not None)
    need = (r != 1) + (c != 1)
    if n_idx != need:
        what = {0: "a scalar", 1: "a vector", 2: "a matrix"}[need]
        raise ShapeError(f"`{typer.src(node)}` is {what} but has {n_idx} "
                         f"ind{'ex' if n_idx == 1 else 'ices'}",
                         hint="write X_{ij} for a matrix entry, x_i for a vector entry"
                         ).at(typer.text, node.start, node.end - node.start)
    if need == 1 and r == 1:        # a row vector x^T_i
        return Indexed(expr, None, row, node)
    return Indexed(expr, row, col, node)
