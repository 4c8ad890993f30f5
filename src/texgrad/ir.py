"""The typed intermediate representation.

Every node is a frozen, slotted dataclass with a ``shape``: a pair ``(rows, cols)`` of
dimensions.  A dimension is the integer ``1`` or a name such as ``"n"``; a Kronecker product
has a product dimension, a tuple of names.  A column vector is ``(n, 1)``, a row vector
``(1, n)``, a scalar ``(1, 1)``.  Values in the numeric layer are 2-D arrays of that shape.

Nodes are built by the canonicalising constructors of :mod:`texgrad.simplify`; the raw
constructors here do no simplification and only compute the shape.  Equality is structural
(``Add`` and ``Mul`` are compared as multisets); hashes are computed once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Tuple, Union

Dim = Union[int, str, tuple]
Shape = Tuple[Dim, Dim]
SCALAR: Shape = (1, 1)

_FIELDS: dict = {}


def _field_getter(cls):
    """A fast getter of a node type's compared fields, as a tuple."""
    get = _FIELDS.get(cls)
    if get is None:
        from operator import attrgetter
        names = tuple(f.name for f in fields(cls) if f.compare)
        one = attrgetter(*names)
        get = (lambda self: (one(self),)) if len(names) == 1 else one
        _FIELDS[cls] = get
    return get


class Expr:
    """Base of all IR nodes.  Besides its shape and hash, a node caches, when first asked,
    three counts over its tree: transposes (``ntrans``), nodes (``size``) and whether a
    complex symbol occurs (``cplx``), which the simplifier consults often."""

    __slots__ = ("shape", "children", "_hash", "_nt", "_sz", "_cx")
    _kids: tuple = ()          # the fields holding child nodes; "*name" is a tuple of them

    def __post_init__(self):
        sa = object.__setattr__
        kids = self._kids
        if kids and kids[0][0] == "*":
            sa(self, "children", getattr(self, kids[0][1:]))
        else:
            sa(self, "children", tuple(getattr(self, k) for k in kids))
        sa(self, "shape", self._shape())
        sa(self, "_hash", hash((self.__class__, self._key())))

    def _key(self):
        return _field_getter(self.__class__)(self)

    @property
    def ntrans(self) -> int:
        try:
            return self._nt
        except AttributeError:
            n = sum(c.ntrans for c in self.children) + isinstance(self, Transpose)
            object.__setattr__(self, "_nt", n)
            return n

    @property
    def size(self) -> int:
        try:
            return self._sz
        except AttributeError:
            n = 1 + sum(c.size for c in self.children)
            object.__setattr__(self, "_sz", n)
            return n

    @property
    def cplx(self) -> bool:
        try:
            return self._cx
        except AttributeError:
            n = any(c.cplx for c in self.children) or (
                isinstance(self, Sym) and "complex" in self.assume)
            object.__setattr__(self, "_cx", n)
            return n

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        if self is other:
            return True
        return (type(self) is type(other) and self._hash == other._hash
                and self._key() == other._key())

    def __ne__(self, other):
        return not self.__eq__(other)

    @property
    def is_scalar(self) -> bool:
        return self.shape == SCALAR

    def _shape(self) -> Shape:  # pragma: no cover - every node overrides
        raise NotImplementedError


def node(cls):
    """Decorator: a frozen slotted dataclass with a computed shape and a cached hash."""
    cls = dataclass(frozen=True, slots=True, eq=False)(cls)
    return cls


# ---------------------------------------------------------------------------------- leaves

@node
class Sym(Expr):
    """A named symbol.  ``latex`` is how it is printed, ``assume`` its declared properties."""
    name: str
    dims: Shape
    latex: str = field(default="", compare=False)
    assume: frozenset = frozenset()

    def _shape(self):
        return self.dims


@node
class Const(Expr):
    """A rational number (a scalar)."""
    value: Fraction

    def _shape(self):
        return SCALAR


@node
class Identity(Expr):
    n: Dim

    def _shape(self):
        return (self.n, self.n)


@node
class Ones(Expr):
    """All-ones array: ``\\mathbf{1}`` (a column of ones when ``dims`` is ``(n, 1)``)."""
    dims: Shape

    def _shape(self):
        return self.dims


@node
class Zero(Expr):
    """The symbolic zero of a shape; rules never build ``0 + ...``."""
    dims: Shape

    def _shape(self):
        return self.dims


# ------------------------------------------------------------------------------- operators

@node
class Add(Expr):
    terms: tuple

    def _key(self):
        return frozenset(Counter(self.terms).items())

    _kids = ("*terms",)

    def _shape(self):
        return self.terms[0].shape


@node
class Mul(Expr):
    """Product by scalars: every factor is a scalar but possibly the last one."""
    factors: tuple

    def _key(self):
        last = self.factors[-1]
        if last.shape != SCALAR:
            return (frozenset(Counter(self.factors[:-1]).items()), last)
        return (frozenset(Counter(self.factors).items()), None)

    _kids = ("*factors",)

    def _shape(self):
        return self.factors[-1].shape


@node
class MatMul(Expr):
    factors: tuple

    _kids = ("*factors",)

    def _shape(self):
        return (self.factors[0].shape[0], self.factors[-1].shape[1])


@node
class Hadamard(Expr):
    factors: tuple

    def _key(self):
        return frozenset(Counter(self.factors).items())

    _kids = ("*factors",)

    def _shape(self):
        return self.factors[0].shape


@node
class Kron(Expr):
    left: Expr
    right: Expr

    _kids = ("left", "right")

    def _shape(self):
        return (dim_mul(self.left.shape[0], self.right.shape[0]),
                dim_mul(self.left.shape[1], self.right.shape[1]))


@node
class Transpose(Expr):
    arg: Expr

    _kids = ("arg",)

    def _shape(self):
        return (self.arg.shape[1], self.arg.shape[0])


@node
class MatPow(Expr):
    """Integer matrix power; ``k == -1`` is the inverse."""
    arg: Expr
    k: int

    _kids = ("arg",)

    def _shape(self):
        return self.arg.shape


@node
class PowSum(Expr):
    """``sum_{r=0}^{k-1} A^r G B^{k-1-r}`` (the adjoint of a matrix power, Cookbook eq. 91)."""
    a: Expr
    g: Expr
    b: Expr
    k: int
    index: str = "r"

    _kids = ("a", "g", "b")

    def _shape(self):
        return self.g.shape


@node
class Pow(Expr):
    """Elementwise power with a rational exponent (the ordinary power of a scalar)."""
    arg: Expr
    p: Fraction

    _kids = ("arg",)

    def _shape(self):
        return self.arg.shape


@node
class Func(Expr):
    """An elementwise function (``exp``, ``log``, ``sin``, ``cos``, ``tanh``, ``sigma``...)."""
    name: str
    arg: Expr

    _kids = ("arg",)

    def _shape(self):
        return self.arg.shape


@node
class Trace(Expr):
    arg: Expr

    _kids = ("arg",)

    def _shape(self):
        return SCALAR


@node
class Det(Expr):
    arg: Expr

    _kids = ("arg",)

    def _shape(self):
        return SCALAR


@node
class Norm(Expr):
    """The 2-norm of a vector (``p == "2"``) or the Frobenius norm of a matrix (``"F"``)."""
    arg: Expr
    p: str

    _kids = ("arg",)

    def _shape(self):
        return SCALAR


@node
class Diag(Expr):
    """``diag``: a vector to the diagonal matrix, or a square matrix to its diagonal vector."""
    arg: Expr

    _kids = ("arg",)

    def _shape(self):
        r, c = self.arg.shape
        return (r, r) if c == 1 else (r, 1)


@node
class Softmax(Expr):
    """``softmax(x) = exp(x) / (1^T exp(x))`` of a column vector."""
    arg: Expr

    _kids = ("arg",)

    def _shape(self):
        return self.arg.shape


@node
class Conj(Expr):
    """Elementwise complex conjugate (``x^*``, ``\\overline{x}``; ``x^H`` is its transpose)."""
    arg: Expr

    _kids = ("arg",)

    def _shape(self):
        return self.arg.shape


@node
class Vec(Expr):
    """``vec(X)``: the columns of X stacked (column-major), a column of rows*cols entries."""
    arg: Expr

    _kids = ("arg",)

    def _shape(self):
        return (dim_mul(self.arg.shape[0], self.arg.shape[1]), 1)


@node
class Commutation(Expr):
    """The commutation matrix K_{mn}: vec(X^T) = K_{mn} vec(X) for an m x n matrix X."""
    m: Dim
    n: Dim

    def _shape(self):
        d = dim_mul(self.m, self.n)
        return (d, d)


@node
class SingleEntry(Expr):
    """J^{ij}: the matrix of the shape ``dims`` with a one at (i, j) and zeros elsewhere."""
    dims: Shape
    i: str
    j: str

    def _shape(self):
        return self.dims


NODES = (Sym, Const, Identity, Ones, Zero, Add, Mul, MatMul, Hadamard, Kron, Transpose,
         MatPow, PowSum, Pow, Func, Trace, Det, Norm, Diag, Softmax, Conj, Vec, Commutation,
         SingleEntry)


def is_complex(e: Expr) -> bool:
    """Whether a complex symbol occurs in ``e``."""
    return e.cplx

ELEMENTWISE = ("exp", "log", "sin", "cos", "tan", "tanh", "sigma", "abs", "sign")


def dim_mul(a: Dim, b: Dim) -> Dim:
    """The product of two dimensions (for Kronecker products)."""
    if a == 1:
        return b
    if b == 1:
        return a
    ta = a if isinstance(a, tuple) else (a,)
    tb = b if isinstance(b, tuple) else (b,)
    return ta + tb


def walk(expr: Expr):
    """Every distinct node of the DAG below ``expr``, children before parents."""
    seen = set()
    order = []
    stack = [(expr, False)]
    while stack:
        e, done = stack.pop()
        if done:
            order.append(e)
            continue
        if e in seen:
            continue
        seen.add(e)
        stack.append((e, True))
        for c in reversed(e.children):
            if c not in seen:
                stack.append((c, False))
    return order


def symbols(expr: Expr) -> dict:
    """name -> Sym for every symbol in ``expr``."""
    return {e.name: e for e in walk(expr) if isinstance(e, Sym)}


def replace(expr: Expr, mapping: dict, rebuild) -> Expr:
    """Substitute nodes (keys of ``mapping``) bottom-up; ``rebuild(node, children)``."""
    memo = {}
    for e in walk(expr):
        if e in mapping:
            memo[e] = mapping[e]
        elif e.children:
            kids = tuple(memo[c] for c in e.children)
            memo[e] = e if all(a is b for a, b in zip(kids, e.children)) else rebuild(e, kids)
        else:
            memo[e] = e
    return memo[expr]
