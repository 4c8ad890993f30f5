"""The typed intermediate representation.

Every node is an immutable, slotted object with a ``shape``: a pair ``(rows, cols)`` of
dimensions.  A dimension is the integer ``1`` or a name such as ``"n"``; a Kronecker product
has a product dimension, a tuple of names.  A column vector is ``(n, 1)``, a row vector
``(1, n)``, a scalar ``(1, 1)``.  Values in the numeric layer are 2-D arrays of that shape.

Nodes are built by the canonicalising constructors of :mod:`texgrad.construct`; the raw
constructors here do no simplification and only compute the shape.  Equality is structural
(``Add`` and ``Mul`` are compared as multisets); hashes are computed once.
"""

from __future__ import annotations

from collections import Counter
from operator import attrgetter
from typing import Callable, NamedTuple, Tuple, Union

Dim = Union[int, str, tuple]
Shape = Tuple[Dim, Dim]
SCALAR: Shape = (1, 1)

_set = object.__setattr__


class Expr:
    """Base of all IR nodes.  Besides its shape and hash, a node caches, when first asked,
    three counts over its tree: transposes (``ntrans``), nodes (``size``) and whether a
    complex symbol occurs (``cplx``), which the simplifier consults often.

    Nodes are immutable: assignment raises.  Each node type declares its fields in
    ``__slots__`` (with ``_defaults`` for the trailing ones, ``_uncompared`` for fields left
    out of equality), names in ``_kids`` the fields holding child nodes ("*name" for a tuple
    of them) and computes its shape in ``_shape``; :func:`node` supplies the rest.
    """

    __slots__ = ("shape", "children", "_hash", "_nt", "_sz", "_cx", "_sk")
    _kids: tuple = ()
    _defaults: tuple = ()
    _uncompared: tuple = ()
    _fields: tuple = ()

    def _finish(self):
        kids = self._kids
        if kids and kids[0][0] == "*":
            _set(self, "children", getattr(self, kids[0][1:]))
        else:
            _set(self, "children", tuple(getattr(self, k) for k in kids))
        _set(self, "shape", self._shape())
        _set(self, "_hash", hash((self.__class__, self._hashkey())))

    def _key(self):  # replaced by node(): the compared fields, as a tuple
        raise NotImplementedError

    def _hashkey(self):
        """What the hash is computed from: the key, or something cheaper that equal nodes
        share (the n-ary nodes compared as multisets hash the sum of their parts' hashes)."""
        return self._key()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} nodes are immutable")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} nodes are immutable")

    def __reduce__(self):
        return (self.__class__, tuple(getattr(self, f) for f in self._fields))

    def __repr__(self):
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({args})"

    @property
    def ntrans(self) -> int:
        try:
            return self._nt
        except AttributeError:
            n = sum(c.ntrans for c in self.children) + isinstance(self, Transpose)
            _set(self, "_nt", n)
            return n

    @property
    def size(self) -> int:
        try:
            return self._sz
        except AttributeError:
            n = 1 + sum(c.size for c in self.children)
            _set(self, "_sz", n)
            return n

    @property
    def cplx(self) -> bool:
        try:
            return self._cx
        except AttributeError:
            n = any(c.cplx for c in self.children) or isinstance(self, ImagUnit) or (
                isinstance(self, Sym) and "complex" in self.assume)
            _set(self, "_cx", n)
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


def _initializer(fields: tuple):
    """An ``__init__`` storing ``fields`` positionally, then computing shape and hash.
    Written out per arity (no generated source), so construction stays one call."""
    if len(fields) == 1:
        (a,) = fields

        def __init__(self, x):
            _set(self, a, x)
            self._finish()
    elif len(fields) == 2:
        a, b = fields

        def __init__(self, x, y):
            _set(self, a, x)
            _set(self, b, y)
            self._finish()
    else:
        def __init__(self, *values):
            if len(values) != len(fields):
                values = values + self._defaults[len(values) - len(fields):]
            for f, v in zip(fields, values):
                _set(self, f, v)
            self._finish()
    return __init__


class Unary(Expr):
    """A node of one child, ``arg``, of its shape unless the node says otherwise."""
    __slots__ = ()
    _kids = ("arg",)

    def _shape(self):
        return self.arg.shape


class ScalarOf(Unary):
    """A unary node whose value is a scalar (a trace, a determinant, a norm)."""
    __slots__ = ()

    def _shape(self):
        return SCALAR


def node(cls):
    """Class decorator of an IR node type: positional ``__init__`` over its ``__slots__``
    (trailing ``_defaults`` optional), and ``_key``, the fields equality compares."""
    fields = cls.__slots__
    cls._fields = fields
    cls.__init__ = _initializer(fields)
    if cls._defaults and len(fields) <= 2:
        cls.__init__.__defaults__ = cls._defaults
    if "_key" not in cls.__dict__:
        compared = tuple(f for f in fields if f not in cls._uncompared)
        get = attrgetter(*compared) if compared else (lambda self: ())
        cls._key = (lambda self: (get(self),)) if len(compared) == 1 else (lambda self: get(self))
    return cls


# ---------------------------------------------------------------------------------- leaves

@node
class Sym(Expr):
    """A named symbol.  ``latex`` is how it is printed, ``assume`` its declared properties."""
    __slots__ = ('name', 'dims', 'latex', 'assume')
    _defaults = ("", frozenset())
    _uncompared = ('latex',)

    def _shape(self):
        return self.dims


@node
class Const(Expr):
    """A rational number (a scalar)."""
    __slots__ = ('value',)

    def _shape(self):
        return SCALAR


@node
class ImagUnit(Expr):
    """The imaginary unit i, a scalar (``Im(z) = (z - conj z) / 2i``; ``conj(i) = -i``)."""
    __slots__ = ()

    def _shape(self):
        return SCALAR


@node
class Identity(Expr):
    __slots__ = ('n',)

    def _shape(self):
        return (self.n, self.n)


@node
class Ones(Expr):
    """All-ones array: ``\\mathbf{1}`` (a column of ones when ``dims`` is ``(n, 1)``)."""
    __slots__ = ('dims',)

    def _shape(self):
        return self.dims


@node
class Zero(Expr):
    """The symbolic zero of a shape; rules never build ``0 + ...``."""
    __slots__ = ('dims',)

    def _shape(self):
        return self.dims


# ------------------------------------------------------------------------------- operators

@node
class Add(Expr):
    __slots__ = ('terms',)

    def _key(self):
        return frozenset(Counter(self.terms).items())

    _kids = ("*terms",)

    def _hashkey(self):
        return sum(map(hash, self.terms)), len(self.terms)

    def _shape(self):
        return self.terms[0].shape


@node
class Mul(Expr):
    """Product by scalars: every factor is a scalar but possibly the last one."""
    __slots__ = ('factors',)

    def _key(self):
        last = self.factors[-1]
        if last.shape != SCALAR:
            return (frozenset(Counter(self.factors[:-1]).items()), last)
        return (frozenset(Counter(self.factors).items()), None)

    def _hashkey(self):
        last = self.factors[-1]
        if last.shape != SCALAR:
            return sum(map(hash, self.factors[:-1])), len(self.factors), last
        return sum(map(hash, self.factors)), len(self.factors), None

    _kids = ("*factors",)

    def _shape(self):
        return self.factors[-1].shape


@node
class MatMul(Expr):
    __slots__ = ('factors',)

    _kids = ("*factors",)

    def _shape(self):
        return (self.factors[0].shape[0], self.factors[-1].shape[1])


@node
class Hadamard(Expr):
    __slots__ = ('factors',)

    def _key(self):
        return frozenset(Counter(self.factors).items())

    _kids = ("*factors",)

    def _hashkey(self):
        return sum(map(hash, self.factors)), len(self.factors)

    def _shape(self):
        return self.factors[0].shape


@node
class Kron(Expr):
    __slots__ = ('left', 'right')

    _kids = ("left", "right")

    def _shape(self):
        return (dim_mul(self.left.shape[0], self.right.shape[0]),
                dim_mul(self.left.shape[1], self.right.shape[1]))


@node
class Transpose(Unary):
    __slots__ = ('arg',)

    def _shape(self):
        return (self.arg.shape[1], self.arg.shape[0])


@node
class MatPow(Expr):
    """Integer matrix power; ``k == -1`` is the inverse."""
    __slots__ = ('arg', 'k')

    _kids = ("arg",)

    def _shape(self):
        return self.arg.shape


@node
class MatExp(Unary):
    """The matrix exponential ``e^{X}`` of a square matrix: the power series, not the
    exponential of each entry (that is ``Func`` of ``exp``)."""
    __slots__ = ('arg',)


@node
class PowSum(Expr):
    """``sum_{r=0}^{k-1} A^r G B^{k-1-r}`` (the adjoint of a matrix power, Cookbook eq. 91)."""
    __slots__ = ('a', 'g', 'b', 'k', 'index')
    _defaults = ("r",)

    _kids = ("a", "g", "b")

    def _shape(self):
        return self.g.shape


@node
class Sum(Expr):
    """``\\sum_{index=lo}^{hi} body``: a sum over the members of indexed families (the
    samples ``\\mathbf{x}_i`` of a data set).  A member is a symbol named ``base_letters``
    (``x_i``, ``r_ik``) inside the body of a sum over one of its letters; ``hi`` is the range's
    size, a dimension name (``N``), and ``lo`` its first value.  :mod:`texgrad.families` owns
    the families, the canonical constructor and the sums' rules of equality."""
    __slots__ = ('body', 'index', 'hi', 'lo')
    _defaults = (1,)

    _kids = ("body",)

    def _shape(self):
        return self.body.shape


@node
class Index(Expr):
    """The index of a sum used as a number (``\\gamma^t`` in ``\\sum_{t=1}^{T} \\gamma^t r_t``):
    its value in each term of the sum around it."""
    __slots__ = ('letter',)

    def _shape(self):
        return SCALAR


@node
class Pow(Unary):
    """Elementwise power with a rational exponent (the ordinary power of a scalar)."""
    __slots__ = ('arg', 'p')


class FunctionSpec(NamedTuple):
    """What texgrad knows of one elementwise function; the records are in
    :mod:`texgrad.functions` (data only here, so every stage reads ``e.spec`` without
    importing the registry).  Compared by identity: one record per function.

    ``derivative(c, x, fx)`` builds f'(x) from the constructors ``c``; ``numpy(np, v)``
    evaluates it; ``code`` maps an ``--emit`` target to a template in ``{x}`` (``None``: the
    target has no form for it); ``ufunc``: ``np.<name>`` is a ufunc that can write in place;
    ``real``: f(conj z) = conj f(z) (real-analytic); ``real_valued``: f(z) is real, its own
    conjugate (|z|); ``exact(v)``: f at an exact rational, or ``None`` when irrational;
    ``matrix_function``: f(X) of a square matrix also has a standard matrix meaning (e^{X},
    log X), so reading it entrywise is said in the stamp.
    Immutable (a changed copy is ``spec._replace(...)``).  A NamedTuple, not a dataclass:
    the class is defined at import, where a dataclass costs about a millisecond and a half
    (the CLI's start-up time is a feature).
    """
    name: str
    spellings: tuple
    latex: str
    derivative: Callable
    numpy: Callable
    code: dict
    ufunc: bool = False
    real: bool = True
    real_valued: bool = False
    exact: Callable | None = None
    matrix_function: bool = False

    def __repr__(self):
        return f"FunctionSpec({self.name!r})"

    __eq__ = object.__eq__          # one record per function: compared by identity
    __ne__ = object.__ne__
    __hash__ = object.__hash__


@node
class Func(Unary):
    """An elementwise function ``spec(arg)`` (``exp``, ``log``, ``sigma``...): the
    :class:`FunctionSpec` record itself, not a name, so a stage never looks a name up."""
    __slots__ = ('spec', 'arg')

    @property
    def name(self) -> str:
        return self.spec.name


@node
class Trace(ScalarOf):
    __slots__ = ('arg',)


@node
class Det(ScalarOf):
    __slots__ = ('arg',)


@node
class Norm(ScalarOf):
    """The 2-norm of a vector (``p == "2"``) or the Frobenius norm of a matrix (``"F"``)."""
    __slots__ = ('arg', 'p')


@node
class Diag(Unary):
    """``diag``: a vector to the diagonal matrix, or a square matrix to its diagonal vector."""
    __slots__ = ('arg',)

    def _shape(self):
        r, c = self.arg.shape
        return (r, r) if c == 1 else (r, 1)


@node
class Softmax(Unary):
    """``softmax(x) = exp(x) / (1^T exp(x))`` of a column vector."""
    __slots__ = ('arg',)


@node
class Conj(Unary):
    """Elementwise complex conjugate (``x^*``, ``\\overline{x}``; ``x^H`` is its transpose)."""
    __slots__ = ('arg',)


@node
class Vec(Unary):
    """``vec(X)``: the columns of X stacked (column-major), a column of rows*cols entries."""
    __slots__ = ('arg',)

    def _shape(self):
        return (dim_mul(self.arg.shape[0], self.arg.shape[1]), 1)


@node
class Commutation(Expr):
    """The commutation matrix K_{mn}: vec(X^T) = K_{mn} vec(X) for an m x n matrix X."""
    __slots__ = ('m', 'n')

    def _shape(self):
        d = dim_mul(self.m, self.n)
        return (d, d)


@node
class SingleEntry(Expr):
    """J^{ij}: the matrix of the shape ``dims`` with a one at (i, j) and zeros elsewhere."""
    __slots__ = ('dims', 'i', 'j')

    def _shape(self):
        return self.dims


NODES = (Sym, Const, ImagUnit, Identity, Ones, Zero, Add, Mul, MatMul, Hadamard, Kron, Transpose,
         MatPow, MatExp, PowSum, Sum, Index, Pow, Func, Trace, Det, Norm, Diag, Softmax, Conj, Vec,
         Commutation, SingleEntry)


def is_complex(e: Expr) -> bool:
    """Whether a complex symbol occurs in ``e``."""
    return e.cplx


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
