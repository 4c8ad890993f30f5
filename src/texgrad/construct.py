"""Canonical constructors: every node is born simplified.

Rules and elaboration build every node through the constructors here (``add``, ``mul``,
``matmul``, ``transpose``...), so expressions are born canonical: zeros vanish, like terms
are combined, scalars are pulled out of matrix products, transposes are pushed to the leaves
(``(AB)^T = B^T A^T``), assumptions are used (a symmetric ``W`` has ``W^T = W``), a scalar
``a^T b`` is kept in one orientation, elementwise powers of one base combine
(``s o (y o s^{-1}) = y``, ``(y o s^{-1})^T s = 1^T y``).  The recognised patterns are named
functions of :mod:`texgrad.patterns`; terms are ordered by :func:`texgrad.sortkey.skey`;
:mod:`texgrad.factor` brings a finished answer to the Cookbook's form (raw nodes: no rules).
"""

from __future__ import annotations

import sys
from fractions import Fraction

from .dims import Fixed
from . import patterns as P
from .functions import ABS
from .ir import (SCALAR, Add, Commutation, Conj, Const, Det, Diag, Expr, Func, Hadamard,
                 Identity, ImagUnit, Kron, MatMul, MatPow, Mul, Norm, Ones, Pow, PowSum,
                 SingleEntry, Softmax, Sym, Trace, Transpose, Vec, Zero)

ONE = Const(Fraction(1))
_C = sys.modules[__name__]      # the constructors, as the patterns receive them
SYMMETRIC_ASSUMPTIONS = {"symmetric", "spd", "diagonal"}


def const(v) -> Expr:
    v = Fraction(v)
    return Zero(SCALAR) if v == 0 else Const(v)


def zero_like(e: Expr) -> Expr:
    return Zero(e.shape)


# ------------------------------------------------------------------------------ sums

def split_coef(e: Expr) -> tuple[Fraction, Expr | None]:
    """``2 A x`` -> (2, A x); a number -> (n, None)."""
    if isinstance(e, Const):
        return e.value, None
    if isinstance(e, Mul) and isinstance(e.factors[0], Const):
        rest = e.factors[1:]
        return e.factors[0].value, (rest[0] if len(rest) == 1 else Mul(rest))
    return Fraction(1), e


def with_coef(c: Fraction, rest: Expr | None) -> Expr:
    if rest is None:
        return const(c)
    if c == 1:
        return rest
    if c == 0:
        return zero_like(rest)
    if isinstance(rest, Mul):
        return Mul((Const(c),) + rest.factors)
    return Mul((Const(c), rest))


def add(*terms: Expr) -> Expr:
    shape = terms[0].shape
    flat = []
    for t in terms:
        if isinstance(t, Add):
            flat.extend(t.terms)
        elif not isinstance(t, Zero):
            flat.append(t)
    coefs: dict = {}
    order = []
    number = Fraction(0)
    for t in flat:
        c, rest = split_coef(t)
        if rest is None:
            number += c
            continue
        if rest in coefs:
            coefs[rest] += c
        else:
            coefs[rest] = c
            order.append(rest)
    out = [with_coef(coefs[r], r) for r in order if coefs[r] != 0]
    if number != 0:
        out.insert(0, Const(number))      # 1 - sigma(x), as printed
    if not out:
        return Zero(shape)
    if len(out) == 1:
        return out[0]
    return Add(tuple(out))


def neg(e: Expr) -> Expr:
    return mul(Const(Fraction(-1)), e)


def sub(a: Expr, b: Expr) -> Expr:
    return add(a, neg(b))


# -------------------------------------------------------------------------- products

def mul(*factors: Expr) -> Expr:
    """Product with scalars: at most one factor may be a vector or matrix."""
    coef = Fraction(1)
    scalars = []
    matrix = None
    stack = list(reversed(factors))
    while stack:
        f = stack.pop()
        if isinstance(f, Mul):
            stack.extend(reversed(f.factors))
        elif isinstance(f, Const):
            coef *= f.value
        elif isinstance(f, (Identity, Ones)) and f.shape == SCALAR:
            continue                       # the 1 x 1 identity is the number 1
        elif f.shape == SCALAR:
            if isinstance(f, Zero):
                coef = Fraction(0)
            else:
                scalars.append(f)
        else:
            if matrix is not None:
                raise ValueError("mul() of two non-scalars")  # an internal error
            matrix = f
    shape = matrix.shape if matrix is not None else SCALAR
    if coef == 0 or isinstance(matrix, Zero):
        return Zero(shape)
    exps: dict = {}     # powers of equal bases collected: det(X) det(X)^{-1} = 1
    order = []
    for f in P.symbolic_powers(_C, scalars) if len(scalars) > 1 else scalars:
        b, p = P.base_exp(f)
        if b in exps:
            exps[b] += p
        else:
            exps[b] = p
            order.append(b)
    out = []
    order.sort(key=P.tree_size)          # 2t exp(-t^2): simpler factors first, stably
    for b in order:
        p = exps[b]
        if p == 0:
            continue
        f = b if p == 1 else power(b, p)
        if isinstance(f, Const):
            coef *= f.value
        elif isinstance(f, Mul):
            c, rest = split_coef(f)
            coef *= c
            out.extend(rest.factors if isinstance(rest, Mul) else (rest,))
        else:
            out.append(f)
    out = P.sigmoid_pattern(out)        # exp(u) / (1 + exp(u)) = sigma(u)
    if matrix is not None:
        out, matrix = P.softmax_pattern(_C, out, matrix)
        out.append(matrix)
    if coef != 1 or not out:
        out.insert(0, Const(coef))
    if len(out) == 1:
        return out[0]
    return Mul(tuple(out))


def peel(f: Expr):
    """A factor of a matrix product: (scalars, the matrix part)."""
    if isinstance(f, Mul) and f.shape != SCALAR:
        return f.factors[:-1], f.factors[-1]
    return (), f


def matmul(*factors: Expr) -> Expr:
    """Matrix product; 1x1 factors become scalar factors."""
    flat = []
    for f in factors:
        if isinstance(f, MatMul) and f.shape != SCALAR:
            flat.extend(f.factors)
        else:
            flat.append(f)
    nonscalar = [f for f in flat if f.shape != SCALAR]
    shape = (nonscalar[0].shape[0], nonscalar[-1].shape[1]) if nonscalar else SCALAR
    scalars = []
    chain = []
    for f in flat:
        if f.shape == SCALAR:
            scalars.append(f)
            continue
        s, m = peel(f)
        scalars.extend(s)
        if isinstance(m, Zero):
            return Zero(shape)
        for m in (m.factors if isinstance(m, MatMul) and m.shape != SCALAR else (m,)):
            if isinstance(m, Identity):
                continue
            # cancel X^{-1} X and Q^T Q as they meet
            if chain and (P.is_inverse_pair(chain[-1], m) or P.orthogonal_pair(chain[-1], m)):
                chain.pop()
                continue
            chain.append(m)
    if not chain:
        core = Identity(shape[0]) if shape != SCALAR else None
    elif len(chain) == 1:
        core = chain[0]
    else:
        core = P.inner_as_sum(_C, chain) or P.orient(_C, MatMul(tuple(chain)))
    if core is None:
        return mul(*scalars) if scalars else ONE
    return mul(*scalars, core) if scalars else core


def hadamard(*factors: Expr) -> Expr:
    return hadamard_of(factors, True)


def hadamard_of(factors, spread: bool) -> Expr:
    """The elementwise product; ``spread``: it may be distributed over a sum in it (off in
    the products that distribution itself builds, so it goes one level deep)."""
    if all(f.shape == SCALAR for f in factors):
        return mul(*factors)               # the elementwise product of numbers is their product
    shape = next(f.shape for f in factors if f.shape != SCALAR)
    scalars = []
    core = []
    stack = list(reversed(factors))
    while stack:
        f = stack.pop()
        s, m = peel(f)
        scalars.extend(s)
        if isinstance(m, Hadamard):        # also one under a scalar: s o (-(y o s^{-1}))
            stack.extend(reversed(m.factors))
            continue
        if isinstance(m, Zero):
            return Zero(shape)
        if isinstance(m, Ones) and m.shape == shape:
            continue
        core.append(m)
    core = P.hadamard_powers(_C, core, scalars)
    out = P.distribute(_C, core) if spread else None
    if out is not None:
        return mul(*scalars, out) if scalars else out
    core = sorted(P.sigmoid_pattern(core), key=P.tree_size)
    if len(core) == 2 and any(isinstance(c, Identity) for c in core):
        # I o M keeps the diagonal, which M^T shares: I o A^T = I o A
        core = [c.arg if isinstance(c, Transpose) else c for c in core]
    if not core:
        body = Ones(shape)
    elif len(core) == 1:
        body = core[0]
    else:
        body = Hadamard(tuple(core))
    return mul(*scalars, body) if scalars else body


def kron(a: Expr, b: Expr) -> Expr:
    if a.shape == SCALAR or b.shape == SCALAR:
        return mul(a, b)
    if isinstance(a, Identity) and isinstance(b, Identity):
        return Identity(Kron(a, b).shape[0])
    # a row and a column: u^T (x) v = v u^T, v (x) u^T = v u^T
    if a.shape[0] == 1 and b.shape[1] == 1:
        return matmul(b, a)
    if a.shape[1] == 1 and b.shape[0] == 1:
        return matmul(a, b)
    sa, ma = peel(a)
    sb, mb = peel(b)
    if isinstance(ma, Zero) or isinstance(mb, Zero):
        return Zero(Kron(ma, mb).shape)
    core = Kron(ma, mb)
    return mul(*sa, *sb, core) if (sa or sb) else core


# ---------------------------------------------------------------------- transposes

def transpose(e: Expr) -> Expr:
    if e.shape == SCALAR:
        return e
    if isinstance(e, Transpose):
        return e.arg
    if isinstance(e, Sym):
        return e if SYMMETRIC_ASSUMPTIONS & e.assume else Transpose(e)
    if isinstance(e, Identity) or (isinstance(e, Diag) and e.arg.shape[1] == 1):
        return e
    if isinstance(e, Zero):
        return Zero((e.shape[1], e.shape[0]))
    if isinstance(e, MatMul):
        return matmul(*[transpose(f) for f in reversed(e.factors)])
    if isinstance(e, Mul):
        return mul(*e.factors[:-1], transpose(e.factors[-1]))
    if isinstance(e, (Add, Hadamard)):
        # pushed to the leaves unless that adds transposes: (A + \lambda I)^T = A^T + \lambda I,
        # but (x - \mu)^T stays as the Cookbook writes it (not x^T - \mu^T)
        pushed = (add if isinstance(e, Add) else hadamard)(*[transpose(t) for t in e.children])
        if P.count_transposes(pushed) <= 1 + P.count_transposes(e):
            return pushed
        return Transpose(e)
    if isinstance(e, Kron):
        return kron(transpose(e.left), transpose(e.right))
    if isinstance(e, MatPow):
        if isinstance(e.arg, Sym) and SYMMETRIC_ASSUMPTIONS & e.arg.assume:
            return e
        if not isinstance(e.arg, Sym) and transpose(e.arg) == e.arg:
            return e                # (X^T X)^{-T} = (X^T X)^{-1}: a symmetric argument
        return Transpose(e)
    if isinstance(e, PowSum):
        return PowSum(transpose(e.b), transpose(e.g), transpose(e.a), e.k, e.index)
    if isinstance(e, SingleEntry):
        return SingleEntry((e.dims[1], e.dims[0]), e.j, e.i)
    if isinstance(e, Commutation):
        return Commutation(e.n, e.m)
    return TRANSPOSE[type(e)](e) if type(e) in TRANSPOSE else Transpose(e)


TRANSPOSE: dict = {}    # node type -> its transpose, for node types declared elsewhere


# -------------------------------------------------------------------------- powers

def power(e: Expr, p) -> Expr:
    """Elementwise power (the ordinary power of a scalar)."""
    p = Fraction(p)
    if p == 1:
        return e
    if p == 0:
        return ONE if e.shape == SCALAR else Ones(e.shape)
    if isinstance(e, Const):
        if p.denominator == 1:
            if e.value == 0 and p < 0:
                raise ZeroDivisionError("0 to a negative power")
            return Const(e.value ** int(p))
        return Pow(e, p)
    if isinstance(e, Zero):
        if p < 0:
            raise ZeroDivisionError("0 to a negative power")
        return e
    if isinstance(e, Ones):
        return e
    if isinstance(e, ImagUnit) and p.denominator == 1:        # i^2 = -1
        return mul(Const(Fraction((-1) ** (int(p) // 2))), *(e,) * (int(p) % 2))
    if isinstance(e, Pow) and (p.denominator == 1 or e.p.denominator == 1 and e.p > 0
                               and p > 0 and "positive" in _assumed(e.arg)):
        return power(e.arg, e.p * p)
    if isinstance(e, Mul) and p.denominator == 1:
        return mul(*[power(f, p) for f in e.factors])
    return Pow(e, p)


def _assumed(e: Expr) -> frozenset:
    return e.assume if isinstance(e, Sym) else frozenset()


def matpow(e: Expr, k: int) -> Expr:
    """Integer matrix power; ``k = -1`` is the inverse; ``k`` an expression is a letter."""
    if not isinstance(k, int):           # X^n: n a positive integer (a scalar expression)
        return transpose(matpow(e.arg, k)) if isinstance(e, Transpose) else MatPow(e, k)
    if k == 1:
        return e
    if e.shape == SCALAR:
        return power(e, k)
    if k == 0:
        return Identity(e.shape[0])
    if isinstance(e, Identity):
        return e
    if isinstance(e, MatPow):
        return matpow(e.arg, e.k * k)
    if isinstance(e, Transpose):
        return transpose(matpow(e.arg, k))
    if isinstance(e, Mul):
        return mul(*[power(f, k) for f in e.factors[:-1]], matpow(e.factors[-1], k))
    if k < 0 and isinstance(e, Sym) and "orthogonal" in e.assume:
        return transpose(matpow(e, -k))
    if isinstance(e, Diag) and e.arg.shape[1] == 1:
        return Diag(power(e.arg, k))
    if k < 0 and isinstance(e, MatMul) and all(f.shape[0] == f.shape[1] for f in e.factors):
        # (AXB)^{-1} = B^{-1} X^{-1} A^{-1}: each square factor of an invertible product is
        # invertible, and the factors may then cancel against neighbours
        return matmul(*[matpow(f, k) for f in reversed(e.factors)])
    return MatPow(e, k)


def inverse(e: Expr) -> Expr:
    return matpow(e, -1)


def powsum(a: Expr, g: Expr, b: Expr, k: int, index: str = "r") -> Expr:
    """sum_{r=0}^{k-1} a^r g b^{k-1-r}, written out for k <= 2."""
    if k == 1:
        return g
    scalars, m = peel(g)
    if isinstance(m, Identity) and a == b:
        # sum_r A^r I A^{k-1-r} = k A^{k-1}, k a number or a letter (Cookbook eq. 106)
        n = Const(Fraction(k)) if isinstance(k, int) else k
        return mul(n, *scalars, matpow(a, k - 1 if isinstance(k, int) else add(k, const(-1))))
    if k == 2:
        return add(matmul(g, b), matmul(a, g))
    return PowSum(a, g, b, k, index)


# ----------------------------------------------------------------------- functions

def func(spec, e: Expr) -> Expr:
    """``spec(e)`` for an elementwise :class:`~texgrad.ir.FunctionSpec`: exp(log u) = u and
    log(exp u) = u, and the exact value at a rational constant (0 and 1 included)."""
    if isinstance(e, Func) and {spec.name, e.name} == {"exp", "log"} and (
            spec.name == "log" or e.arg.shape == e.shape):
        return e.arg
    if spec.exact is not None and isinstance(e, (Zero, Const)):
        v = spec.exact(e.value if isinstance(e, Const) else Fraction(0))
        if v is not None:
            if isinstance(e, Const):
                return Const(v)
            if v == 0:
                return e
            if v == 1:
                return ONE if e.shape == SCALAR else Ones(e.shape)
    return Func(spec, e)


def trace(e: Expr) -> Expr:
    if e.shape == SCALAR:
        return e
    if isinstance(e, Zero):
        return Zero(SCALAR)
    if isinstance(e, Transpose):
        return trace(e.arg)
    if isinstance(e, Mul):
        return mul(*e.factors[:-1], trace(e.factors[-1]))
    if isinstance(e, Kron):
        return mul(trace(e.left), trace(e.right))
    if isinstance(e, Add):
        spread = add(*[trace(t) for t in e.terms])
        if not isinstance(spread, Add) or len(spread.terms) < len(e.terms):
            return spread
    if isinstance(e, Identity) and isinstance(e.n, (int, Fixed)):           # tr(I_3) = 3
        return Const(Fraction(e.n if isinstance(e.n, int) else e.n.n))
    if isinstance(e, MatMul):
        fs = e.factors
        for i in range(1, len(fs)):   # tr(x y^T) = y^T x
            if fs[i].shape[0] == 1:
                return matmul(*fs[i:], *fs[:i])
        if P.is_inverse_pair(fs[-1], fs[0]) or P.orthogonal_pair(fs[-1], fs[0]):
            return trace(matmul(*fs[1:-1]))         # cyclic: tr(X^{-1}AX) = tr(A)
    return Trace(e)


def det(e: Expr) -> Expr:
    if e.shape == SCALAR:
        return e
    if isinstance(e, Transpose):
        return det(e.arg)
    if isinstance(e, Identity):
        return ONE
    if isinstance(e, MatPow):
        return power(det(e.arg), e.k)
    return DET[type(e)](e) if type(e) in DET else Det(e)


DET: dict = {}          # node type -> its determinant, for node types declared elsewhere


def norm(e: Expr, p: str) -> Expr:
    if e.shape == SCALAR:
        return func(ABS, e)
    if isinstance(e, Zero):
        return Zero(SCALAR)
    if isinstance(e, Mul) and isinstance(e.factors[0], Const) and len(e.factors) == 2:
        return mul(Const(abs(e.factors[0].value)), norm(e.factors[1], p))
    return Norm(e, p)


def diag(e: Expr) -> Expr:
    if isinstance(e, Ones) and e.shape[1] == 1:
        return Identity(e.shape[0])
    if isinstance(e, Zero):
        return Zero(Diag(e).shape)
    if isinstance(e, Mul):
        return mul(*e.factors[:-1], diag(e.factors[-1]))
    if isinstance(e, Diag) and e.arg.shape[1] == 1:
        return e.arg
    return Diag(e)


def softmax(e: Expr) -> Expr:
    return Softmax(e)


def vec(e: Expr) -> Expr:
    if e.shape[1] == 1:
        return e
    if isinstance(e, Zero):
        return Zero(Vec(e).shape)
    if isinstance(e, Mul):
        return mul(*e.factors[:-1], vec(e.factors[-1]))
    return Vec(e)


def commutation(m, n) -> Expr:
    """K_{mn}; the identity when X is a vector."""
    if m == 1 or n == 1:
        return Identity(Commutation(m, n).shape[0])
    return Commutation(m, n)


def single_entry(dims, i: str, j: str) -> Expr:
    return SingleEntry(dims, i, j)


def conj(e: Expr, push: bool = False) -> Expr:
    """Complex conjugate.  Real parts are their own conjugates; with ``push`` the conjugate
    goes down to the complex symbols (what differentiation needs: every occurrence of x and of
    conj(x) explicit), otherwise a conjugated sum keeps its grouping, (a - x^H b)^*."""
    from .ir import is_complex
    if not is_complex(e):
        return e
    if isinstance(e, Conj):
        return e.arg
    if isinstance(e, (Sym, ImagUnit)):
        return Conj(e) if isinstance(e, Sym) else neg(e)
    if isinstance(e, Transpose):
        return transpose(conj(e.arg, push))
    if isinstance(e, Mul):
        return mul(*[conj(f, push) for f in e.factors])
    if isinstance(e, MatMul):
        return matmul(*[conj(f, push) for f in e.factors])
    if push or not isinstance(e, (Add, Hadamard)):
        if isinstance(e, (Add, Hadamard, Kron, Trace, Det, MatPow, Pow, Func, Diag, Softmax,
                          PowSum)):
            if isinstance(e, Func) and not e.spec.real:
                return e if e.spec.real_valued else Conj(e)
            return rebuild(e, tuple(conj(c, push) for c in e.children))
        if isinstance(e, Norm):
            return e
    return Conj(e)


# ------------------------------------------------------------------------- rebuild

REBUILD = {
    Add: lambda e, k: add(*k),
    Mul: lambda e, k: mul(*k),
    MatMul: lambda e, k: matmul(*k),
    Hadamard: lambda e, k: hadamard(*k),
    Kron: lambda e, k: kron(*k),
    Transpose: lambda e, k: transpose(k[0]),
    MatPow: lambda e, k: matpow(k[0], e.k),
    PowSum: lambda e, k: powsum(k[0], k[1], k[2], e.k, e.index),
    Pow: lambda e, k: power(k[0], e.p),
    Func: lambda e, k: func(e.spec, k[0]),
    Trace: lambda e, k: trace(k[0]),
    Det: lambda e, k: det(k[0]),
    Norm: lambda e, k: norm(k[0], e.p),
    Diag: lambda e, k: diag(k[0]),
    Softmax: lambda e, k: softmax(k[0]),
    Conj: lambda e, k: conj(k[0]),
    Vec: lambda e, k: vec(k[0]),
}


def rebuild(e: Expr, kids: tuple) -> Expr:
    """The node ``e`` with new children, through the canonical constructors."""
    return REBUILD[type(e)](e, kids)

