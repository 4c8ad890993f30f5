"""The patterns the canonical constructors recognise, as small named rewrites.

Each is a function of the constructors ``ops`` (the module :mod:`texgrad.construct`, passed
in by it, as :mod:`texgrad.functions` receives them: so this module imports nothing above
the IR) and the parts of a node being built: ``exp(u) / (1 + exp(u))`` is ``sigma(u)``
(:func:`sigmoid_pattern`), a sum of entries written as products of ones is an inner product
(:func:`inner_as_sum`), elementwise powers of one base combine (:func:`hadamard_powers`), a
Hadamard product is distributed over a sum when that is smaller (:func:`distribute`), a
scalar ``a^T b`` is kept in one orientation (:func:`orient`), softmax's exp(z)/1^T exp(z)
is ``softmax(z)`` (:func:`softmax_pattern`).
"""

from __future__ import annotations

from fractions import Fraction

from .functions import EXP, LOG, SIGMA
from .ir import (SCALAR, Add, Conj, Const, Expr, Func, Hadamard, Identity, MatMul, MatPow, Mul,
                 Ones, Pow, Softmax, Sym, Transpose, walk)
from .sortkey import skey


def base_exp(f: Expr):
    """(base, exponent) of a power (elementwise for a vector or matrix), else (f, 1)."""
    if isinstance(f, Pow):
        return f.arg, f.p
    return f, Fraction(1)


def real_imag(ops, e: Add):
    """``c (u + conj u) = 2c Re(u)``, ``c (u - conj u) = 2ic Im(u)`` of a scalar sum of two
    terms: ("Re" or "Im", 2c, u), u the term with fewer conjugates; else None."""
    if len(e.terms) != 2 or e.shape != SCALAR or not e.cplx:
        return None
    (ca, a), (cb, b) = (ops.split_coef(t) for t in e.terms)
    if a is None or b is None or abs(ca) != abs(cb) or ops.conj(a, push=True) != b:
        return None
    if sum(isinstance(n, Conj) for n in walk(b)) < sum(isinstance(n, Conj) for n in walk(a)):
        ca, a = cb, b
    return ("Re" if ca == cb else "Im"), 2 * ca, a


def symbolic_power(f: Expr):
    """(a, p) of a scalar ``exp(p log a)`` with p no number (how ``a^p`` with a letter for
    the exponent is built), else None."""
    if not (isinstance(f, Func) and f.name == "exp" and f.shape == SCALAR and
            isinstance(f.arg, Mul)):
        return None
    logs = [g for g in f.arg.factors if isinstance(g, Func) and g.name == "log"]
    rest = tuple(g for g in f.arg.factors if g is not (logs[0] if logs else None))
    if len(logs) != 1 or not rest or all(isinstance(g, Const) for g in rest):
        return None
    return logs[0].arg, (rest[0] if len(rest) == 1 else Mul(rest))


def symbolic_powers(ops, scalars: list) -> list:
    """a^p a^q = a^{p+q} for a letter p and a number q: ``p x^{p} / x`` is ``p x^{p-1}``,
    ``p \\|x\\|^{p} / \\|x\\|^{2}`` is ``p \\|x\\|^{p-2}``."""
    for i, f in enumerate(scalars):
        power = symbolic_power(f)
        if power is None:
            continue
        a, p = power
        for j, g in enumerate(scalars):
            b, q = base_exp(g)
            if j != i and b == a:
                merged = ops.func(EXP, ops.mul(ops.add(p, ops.const(q)), ops.func(LOG, a)))
                rest = [h for k, h in enumerate(scalars) if k not in (i, j)]
                return symbolic_powers(ops, rest + [merged])
    return scalars


def softmax_pattern(ops, scalars: list, matrix: Expr):
    """exp(x) (1^T exp(x))^{-1} = ops.softmax(x)."""
    if isinstance(matrix, Func) and matrix.name == "exp" and matrix.shape[1] == 1:
        for i, f in enumerate(scalars):
            if isinstance(f, Pow) and f.p == -1 and isinstance(f.arg, MatMul) and \
                    len(f.arg.factors) == 2 and matrix in f.arg.factors and \
                    any(isinstance(x, Transpose) and isinstance(x.arg, Ones)
                        for x in f.arg.factors):
                return scalars[:i] + scalars[i + 1:], Softmax(matrix.arg)
    return scalars, matrix


def is_inverse_pair(a: Expr, b: Expr) -> bool:
    def inv_of(x):
        if isinstance(x, MatPow) and x.k == -1:
            return x.arg
        if isinstance(x, Transpose) and isinstance(x.arg, MatPow) and x.arg.k == -1:
            return Transpose(x.arg.arg)
        return None
    ia, ib = inv_of(a), inv_of(b)
    return (ia is not None and ia == b) or (ib is not None and ib == a)


def orthogonal_pair(a: Expr, b: Expr) -> bool:
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Transpose) and isinstance(x.arg, Sym) and \
                "orthogonal" in x.arg.assume and x.arg == y:
            return True
    return False


def inner_as_sum(ops, chain: list) -> Expr | None:
    """u^T v = 1^T (u o v) when the elementwise product is simpler than u and v:
    (y o s^{-1})^T s = 1^T y.  Any other inner product (None) stays as it is."""
    if len(chain) != 2 or chain[0].shape[0] != 1 or chain[1].shape[1] != 1:
        return None
    r, c = chain
    if isinstance(c, Ones) or isinstance(r, Transpose) and isinstance(r.arg, Ones):
        return None
    u = ops.transpose(r)
    if not any(isinstance(x, (Hadamard, Pow)) for x in (u, c)):
        return None                    # nothing that can combine elementwise
    h = ops.hadamard(u, c)
    if h.size >= u.size + c.size:
        return None
    n = c.shape[0]
    if isinstance(h, Ones):
        # 1^T 1 is the length, which a printed 1^T 1 does not say (it reads back as 1):
        # tr(I_n) does, and is the number for a numeric size
        return ops.trace(Identity(n)) if isinstance(n, (int, str)) else None
    return ops.matmul(ops.transpose(Ones(c.shape)), h)


def count_transposes(e: Expr) -> int:
    return e.ntrans


def compound_transposes(m: MatMul) -> int:
    """Transposes of compound expressions ((Ax)^T is worse than x^T; x^H counts as a leaf)."""
    def leafish(e):
        return not e.children or isinstance(e, Conj) and not e.arg.children
    return sum(1 for f in m.factors if isinstance(f, Transpose) and not leafish(f.arg))


def tree_size(e: Expr) -> int:
    return e.size


def orient(ops, m: MatMul) -> Expr:
    """A scalar a^T b is kept in one orientation: fewer transposes, then the smaller key."""
    if m.shape != SCALAR:
        return m
    alt = [ops.transpose(f) for f in reversed(m.factors)]
    alt_m = MatMul(tuple(a for a in alt))
    if any(isinstance(a, (MatMul, Mul)) for a in alt):
        return m
    k1 = (count_transposes(m), compound_transposes(m), skey(m))
    k2 = (count_transposes(alt_m), compound_transposes(alt_m), skey(alt_m))
    return alt_m if k2 < k1 else m


def hadamard_powers(ops, core: list, scalars: list) -> list:
    """Elementwise powers of one base combine: a o a^{-1} = 1 (both dropped), a^p o a^q =
    a^{p+q}.  Only where a power takes part (a o a stays as written); the scalars a combined
    power brings out (a power of 2x) go to ``scalars``."""
    if not any(isinstance(c, Pow) for c in core):
        return core
    exps: dict = {}
    count: dict = {}
    for f in core:
        b, p = base_exp(f)
        exps[b] = exps.get(b, 0) + p
        count[b] = count.get(b, 0) + 1
    if all(n == 1 for n in count.values()):
        return core
    out = []
    for f in core:                     # the first occurrence of a base stands for them all
        b = base_exp(f)[0]
        if count[b] == 1:
            out.append(f)
            continue
        if b not in exps:
            continue                   # already combined
        p = exps.pop(b)
        if p == 0:
            continue                   # a o a^{-1}: the all-ones, dropped
        s, m = ops.peel(ops.power(b, p))
        scalars.extend(s)
        if isinstance(m, Hadamard):
            out.extend(m.factors)
        elif not (isinstance(m, Ones) and m.shape == b.shape):
            out.append(m)
    return out


DISTRIBUTE_LIMIT = 8     # terms of a sum an elementwise product is tried distributed over


def distribute(ops, core: list) -> Expr | None:
    """a o (b + c) = a o b + a o c, when a power in a term cancels against the other factors
    and the sum so written is smaller: s o (1 - s) o ((1 - y) o (1 - s)^{-1} - y o s^{-1})
    = s o (1 - y) - (1 - s) o y = s - y.  None: the product stays as it is."""
    if len(core) < 2 or not any(isinstance(c, Add) for c in core):
        return None
    whole = None
    for i, c in enumerate(core):
        if not isinstance(c, Add) or len(c.terms) > DISTRIBUTE_LIMIT:
            continue
        others = core[:i] + core[i + 1:]
        if not _may_cancel(ops, others, c.terms):
            continue
        out = _expand_if_smaller(
            ops, ops.add(*[ops.hadamard_of((*others, t), False) for t in c.terms]))
        if whole is None:
            whole = Hadamard(tuple(core)).size
        if out.size < whole:
            return out
    return None


def _hadamard_bases(ops, e: Expr) -> list:
    """The factors of an elementwise product as (base, is a power)."""
    _, m = ops.peel(e)
    fs = m.factors if isinstance(m, Hadamard) else (m,)
    return [(base_exp(f)[0], isinstance(f, Pow)) for f in fs]


def _may_cancel(ops, others: list, terms) -> bool:
    bases: dict = {}
    for f in others:
        for b, is_pow in _hadamard_bases(ops, f):
            bases[b] = bases.get(b, False) or is_pow
    for t in terms:
        for b, is_pow in _hadamard_bases(ops, t):
            if b in bases and (is_pow or bases[b]):
                return True
    return False


def _expand_if_smaller(ops, e: Expr, limit: int = 2 * DISTRIBUTE_LIMIT) -> Expr:
    """A sum whose terms are elementwise products with a sum in them, multiplied out when
    that is smaller (like terms cancel): s o (1 - y) - (1 - s) o y = s - y."""
    if not isinstance(e, Add):
        return e
    out = []
    changed = False
    for t in e.terms:
        c, rest = ops.split_coef(t)
        if isinstance(rest, Hadamard):
            idx = [k for k, f in enumerate(rest.factors) if isinstance(f, Add)]
            if len(idx) == 1 and len(out) + len(rest.factors[idx[0]].terms) <= limit:
                k = idx[0]
                others = rest.factors[:k] + rest.factors[k + 1:]
                out.extend(ops.mul(Const(c), ops.hadamard_of((*others, u), False))
                           for u in rest.factors[k].terms)
                changed = True
                continue
        out.append(t)
    if not changed:
        return e
    expanded = ops.add(*out)
    return expanded if expanded.size < e.size else e


def sigmoid_pattern(core: list) -> list:
    """exp(u) / (1 + exp(u)) = sigma(u), elementwise."""
    for i, f in enumerate(core):
        if isinstance(f, Pow) and f.p == -1 and isinstance(f.arg, Add) and len(f.arg.terms) == 2:
            t = f.arg.terms
            one = [x for x in t if isinstance(x, (Ones, Const)) and
                   (not isinstance(x, Const) or x.value == 1)]
            ex = [x for x in t if isinstance(x, Func) and x.name == "exp"]
            if one and ex and ex[0] in core:
                rest = [c for j, c in enumerate(core) if j != i]
                rest.remove(ex[0])
                return rest + [Func(SIGMA, ex[0].arg)]
    return core
