"""Sums over samples in matrix form, for generated code (issue 12).

``-\\sum_i y_i \\sigma(-y_i \\mathbf{w}^T\\mathbf{x}_i)\\mathbf{x}_i`` is computed by code as
``-X^T (y \\odot \\sigma(-y \\odot Xw))``, one matrix product over the stacked data, not a
Python loop over the samples.  :func:`vectorized` rewrites every :class:`~texgrad.ir.Sum` of an
expression so: a member ``\\mathbf{x}_i`` of shape (d, 1) becomes the symbol of the same name
holding the members in its rows, shape (N, d); a scalar member ``y_i`` an (N, 1) column.
The rewrite works on *rows*: :func:`rows` gives, for a scalar or vector that varies with the
index, the matrix whose row i is its value for member i.  What has no such form here (a
matrix-valued member, a trace or an inverse of something that varies, a nested sum, part of
a range) is refused with :class:`~texgrad.errors.Unsupported`, never computed wrong.
"""

from __future__ import annotations

from fractions import Fraction

from . import construct as C
from .errors import Unsupported
from .families import member_letters, varies
from .ir import (SCALAR, Add, Conj, Expr, Func, Hadamard, MatMul, Mul, Norm, Ones, Pow, Sum,
                 Sym, Transpose, replace, walk)


def _refuse(what: str):
    raise Unsupported(f"{what} has no vectorised code here yet",
                      hint="print the LaTeX, or write the sum in matrix form (\\|XW - Y\\|_F^2)")


def _t(e: Expr) -> Expr:
    """The transpose of a row form, kept whole (X W^T - Y, not W X^T - Y^T), so that code
    computes the rows once for f and for the gradient."""
    return Transpose(e) if isinstance(e, Add) else C.transpose(e)


def stacked(s: Sym, hi) -> Sym:
    """The symbol holding the members of ``s``'s family in its rows."""
    r, c = s.dims
    return Sym(s.name, (hi, c if r == 1 else r), s.latex, s.assume)


class _Rows:
    """Row forms of the expressions varying with one index (``letter``, range size ``hi``)."""

    def __init__(self, letter: str, hi):
        self.letter, self.hi = letter, hi
        self.memo: dict = {}

    def ones(self) -> Expr:
        return Ones((self.hi, 1))

    def rows(self, e: Expr) -> Expr:
        hit = self.memo.get(e)
        if hit is None:
            hit = self.memo[e] = self._rows(e)
        return hit

    def _rows(self, e: Expr) -> Expr:
        r, c = e.shape
        if r != 1 and c != 1:
            _refuse("a matrix that varies with the index of a sum")
        if not varies(e, self.letter):               # the same in every row
            return C.mul(e, self.ones()) if e.shape == SCALAR else \
                C.matmul(self.ones(), e if r == 1 else C.transpose(e))
        if isinstance(e, Sym):
            if member_letters(e.name) != self.letter:
                _refuse(f"the member {e.name} of a family with several indices")
            return stacked(e, self.hi)
        if isinstance(e, (Transpose, Conj)):
            inner = self.rows(e.arg)
            return inner if isinstance(e, Transpose) else C.conj(inner)
        if isinstance(e, Add):
            return C.add(*[self.rows(t) for t in e.terms])
        if isinstance(e, Hadamard):
            return C.hadamard(*[self.rows(t) for t in e.factors])
        if isinstance(e, Mul):
            return self._mul(e)
        if isinstance(e, MatMul):
            return self._matmul(e)
        if isinstance(e, Func):
            return C.func(e.spec, self.rows(e.arg))
        if isinstance(e, Pow):
            return C.power(self.rows(e.arg), e.p)
        if isinstance(e, Norm) and e.p == "2":
            sq = C.hadamard(self.rows(e.arg), self.rows(C.conj(e.arg)))
            width = e.arg.shape[0] if e.arg.shape[1] == 1 else e.arg.shape[1]
            return C.power(C.matmul(sq, Ones((width, 1))), Fraction(1, 2))
        _refuse(f"{type(e).__name__} of something that varies with the index of a sum")

    def _mul(self, e: Mul) -> Expr:
        fixed = [f for f in e.factors if not varies(f, self.letter)]
        moving = [f for f in e.factors if varies(f, self.letter)]
        scalars = [f for f in moving if f.shape == SCALAR]
        rest = [f for f in moving if f.shape != SCALAR]
        if not rest:                                  # products of numbers, row by row
            core = C.hadamard(*[self.rows(f) for f in scalars])
        else:
            core = self.rows(rest[0])
            if scalars:                               # s_i v_i: each row scaled
                weight = C.hadamard(*[self.rows(f) for f in scalars])
                core = self.scaled(weight, core)
        return C.mul(*fixed, core) if fixed else core

    def scaled(self, weight: Expr, m: Expr) -> Expr:
        """diag(weight) m, as an elementwise product with the weights spread over the row."""
        if m.shape[1] == 1:
            return C.hadamard(weight, m)
        return C.hadamard(C.matmul(weight, C.transpose(Ones((m.shape[1], 1)))), m)

    def _matmul(self, e: MatMul) -> Expr:
        fs = e.factors
        moving = [k for k, f in enumerate(fs) if varies(f, self.letter)]
        if len(moving) == 1:
            j = moving[0]
            left = C.matmul(*fs[:j]) if j else None
            right = C.matmul(*fs[j + 1:]) if j + 1 < len(fs) else None
            f = fs[j]
            if f.shape[1] == 1 and right is None:      # P v_i: rows v_i^T P^T
                return C.matmul(self.rows(f), C.transpose(left)) if left is not None \
                    else self.rows(f)
            if f.shape[0] == 1 and left is None:       # v_i^T P: rows v_i^T P
                return C.matmul(self.rows(f), right) if right is not None else self.rows(f)
            _refuse("an outer product that varies with the index of a sum, inside it")
        if e.shape == SCALAR:                          # u_i^T P v_i: rows (u_i^T P) o v_i^T
            for m in range(1, len(fs)):
                a, b = C.matmul(*fs[:m]), C.matmul(*fs[m:])
                if a.shape[0] == 1 and varies(a, self.letter) and varies(b, self.letter):
                    width = a.shape[1]
                    return C.matmul(C.hadamard(self.rows(a), self.rows(b)),
                                    Ones((width, 1)))
        _refuse("a product of several factors that vary with the index of a sum")

    def total(self, body: Expr) -> Expr:
        """sum_i body_i, in matrix form."""
        if isinstance(body, Add):
            return C.add(*[self.total(t) for t in body.terms])
        r, c = body.shape
        if r == 1 and c == 1:
            return C.matmul(C.transpose(self.ones()), self.rows(body))
        if c == 1 or r == 1:
            weight, core = self._weight(body)
            summed = C.matmul(_t(self.rows(core)),
                              self.rows(weight) if weight is not None else self.ones())
            return summed if c == 1 else C.transpose(summed)
        return self._outer_total(body)

    def _weight(self, body: Expr):
        """(the scalars, the vector) of a product s_i v_i: summed as V^T s (one product)."""
        if isinstance(body, Mul) and body.factors[-1].shape != SCALAR:
            scalars = body.factors[:-1]
            return (C.mul(*scalars) if scalars else None), body.factors[-1]
        return None, body

    def _outer_total(self, body: Expr) -> Expr:
        """sum_i s_i P u_i v_i^T Q = P U^T diag(s) V Q: a matrix-valued body, an outer product
        of two vectors that vary (the fixed ends pulled out by sum_over already)."""
        weight, core = self._weight(body)
        if isinstance(core, MatMul):
            fs = core.factors
            for m in range(1, len(fs)):
                a, b = C.matmul(*fs[:m]), C.matmul(*fs[m:])
                if a.shape[1] == 1 and b.shape[0] == 1:
                    left = _t(self.rows(a))
                    right = self.rows(b)
                    if weight is not None:
                        right = self.scaled(self.rows(weight), right)
                    return C.matmul(left, right)
        _refuse("a matrix-valued sum that is not a sum of outer products")


def vectorized(e: Expr) -> tuple:
    """(``e`` with every sum in matrix form, member name -> its stacked symbol)."""
    members: dict = {}
    if not any(isinstance(n, Sum) for n in walk(e)):
        return e, members
    mapping = {}
    for n in walk(e):
        if isinstance(n, Sum):
            if n.lo not in (None, 1):
                _refuse(f"a sum from {n.lo} (part of a range)")
            if any(isinstance(m, Sum) for m in walk(n.body)):
                _refuse("a nested sum")
            rows = _Rows(n.index, n.hi)
            mapping[n] = rows.total(n.body)
            for m in walk(n.body):
                if isinstance(m, Sym) and n.index in member_letters(m.name):
                    members[m.name] = stacked(m, n.hi)
    return replace(e, mapping, C.rebuild), members


def as_entries(f: Expr, name: str, symbols: dict):
    """``\\sum_i x_i \\log x_i`` by the vector x: a family of numbers read as the entries of
    the vector named by its letter, f rewritten in matrix form (1^T (x o log x)), or None
    where that reading does not apply (no such family, a family of vectors, or a sum with no
    matrix form here).  Returns (f, the new symbols by name)."""
    if not any(n.rpartition("_")[0] == name and member_letters(n) for n in symbols):
        return None
    try:
        g, stacked = vectorized(f)
    except Unsupported:
        return None
    mapping, new = {}, {}
    for member, s in stacked.items():
        base = member.rpartition("_")[0]
        if s.dims[1] != 1 or base in symbols or base in new or len(member_letters(member)) != 1:
            return None
        new[base] = Sym(base, s.dims, (s.latex or member).rpartition("_")[0], s.assume)
        mapping[s] = new[base]
    if name not in new:
        return None
    return replace(g, mapping, C.rebuild), new
