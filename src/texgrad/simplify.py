"""Simplify stage: canonicalising constructors and the Cookbook-form pass.

Rules and the shape stage build every node through the constructors here (``add``, ``mul``,
``matmul``, ``transpose``...), so expressions are born canonical: zeros vanish, like terms
are combined, scalars are pulled out of matrix products, transposes are pushed to the leaves
(``(AB)^T = B^T A^T``), assumptions are used (a symmetric ``W`` has ``W^T = W``), a scalar
``a^T b`` is kept in one orientation, elementwise powers of one base combine
(``s o (y o s^{-1}) = y``, ``(y o s^{-1})^T s = 1^T y``).  :func:`factor` then brings a
finished result to the form a textbook prints, taking common left and right factors out of
sums (``Bx + B^T x = (B + B^T) x``).
"""

from __future__ import annotations

from fractions import Fraction

from .dims import DimVar
from .functions import ABS, SIGMA
from .ir import (SCALAR, Add, Commutation, Conj, Const, Det, SingleEntry, Vec, Diag, Expr, Func, Hadamard, Identity, Kron,
                 MatMul, MatPow, Mul, Norm, Ones, Pow, PowSum, Softmax, Sym, Trace, Transpose,
                 Zero, walk)

ONE = Const(Fraction(1))
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

def _base_exp(f: Expr):
    """(base, exponent) of a power (elementwise for a vector or matrix), else (f, 1)."""
    if isinstance(f, Pow):
        return f.arg, f.p
    return f, Fraction(1)


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
    # collect powers of equal bases: det(X) det(X)^{-1} = 1
    exps: dict = {}
    order = []
    for f in scalars:
        b, p = _base_exp(f)
        if b in exps:
            exps[b] += p
        else:
            exps[b] = p
            order.append(b)
    out = []
    order.sort(key=_size)          # 2t exp(-t^2): simpler factors first, stably
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
    if matrix is not None:
        out, matrix = _softmax_pattern(out, matrix)
        out.append(matrix)
    if coef != 1 or not out:
        out.insert(0, Const(coef))
    if len(out) == 1:
        return out[0]
    return Mul(tuple(out))


def _softmax_pattern(scalars: list, matrix: Expr):
    """exp(x) (1^T exp(x))^{-1} = softmax(x)."""
    if isinstance(matrix, Func) and matrix.name == "exp" and matrix.shape[1] == 1:
        for i, f in enumerate(scalars):
            if isinstance(f, Pow) and f.p == -1 and isinstance(f.arg, MatMul) and \
                    len(f.arg.factors) == 2 and matrix in f.arg.factors and \
                    any(isinstance(x, Transpose) and isinstance(x.arg, Ones)
                        for x in f.arg.factors):
                return scalars[:i] + scalars[i + 1:], Softmax(matrix.arg)
    return scalars, matrix


def peel(f: Expr):
    """A factor of a matrix product: (scalars, the matrix part)."""
    if isinstance(f, Mul) and f.shape != SCALAR:
        return f.factors[:-1], f.factors[-1]
    return (), f


def _is_inverse_pair(a: Expr, b: Expr) -> bool:
    def inv_of(x):
        if isinstance(x, MatPow) and x.k == -1:
            return x.arg
        if isinstance(x, Transpose) and isinstance(x.arg, MatPow) and x.arg.k == -1:
            return Transpose(x.arg.arg)
        return None
    ia, ib = inv_of(a), inv_of(b)
    return (ia is not None and ia == b) or (ib is not None and ib == a)


def _orthogonal_pair(a: Expr, b: Expr) -> bool:
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Transpose) and isinstance(x.arg, Sym) and \
                "orthogonal" in x.arg.assume and x.arg == y:
            return True
    return False


def matmul(*factors: Expr) -> Expr:
    """Matrix product; 1x1 factors become scalar factors."""
    flat = []
    for f in factors:
        if isinstance(f, MatMul) and f.shape != SCALAR:
            flat.extend(f.factors)
        else:
            flat.append(f)
    nonscalar = [f for f in flat if f.shape != SCALAR]
    if nonscalar:
        shape = (nonscalar[0].shape[0], nonscalar[-1].shape[1])
    else:
        shape = SCALAR
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
            if chain and (_is_inverse_pair(chain[-1], m) or _orthogonal_pair(chain[-1], m)):
                chain.pop()
                continue
            chain.append(m)
    if not chain:
        core = Identity(shape[0]) if shape != SCALAR else None
    elif len(chain) == 1:
        core = chain[0]
    else:
        core = _inner_as_sum(chain) or _orient(MatMul(tuple(chain)))
    if core is None:
        return mul(*scalars) if scalars else ONE
    return mul(*scalars, core) if scalars else core


def _inner_as_sum(chain: list) -> Expr | None:
    """u^T v = 1^T (u o v) when the elementwise product is simpler than u and v:
    (y o s^{-1})^T s = 1^T y.  Any other inner product (None) stays as it is."""
    if len(chain) != 2 or chain[0].shape[0] != 1 or chain[1].shape[1] != 1:
        return None
    r, c = chain
    if isinstance(c, Ones) or isinstance(r, Transpose) and isinstance(r.arg, Ones):
        return None
    u = transpose(r)
    if not any(isinstance(x, (Hadamard, Pow)) for x in (u, c)):
        return None                    # nothing that can combine elementwise
    h = hadamard(u, c)
    if h.size >= u.size + c.size:
        return None
    n = c.shape[0]
    if isinstance(h, Ones):
        # 1^T 1 is the length, which a printed 1^T 1 does not say (it reads back as 1):
        # tr(I_n) does, and is the number for a numeric size
        return trace(Identity(n)) if isinstance(n, (int, str)) else None
    return matmul(transpose(Ones(c.shape)), h)


def _count_transposes(e: Expr) -> int:
    return e.ntrans


def _compound_transposes(m: MatMul) -> int:
    """Transposes of compound expressions ((Ax)^T is worse than x^T; x^H counts as a leaf)."""
    def leafish(e):
        return not e.children or isinstance(e, Conj) and not e.arg.children
    return sum(1 for f in m.factors if isinstance(f, Transpose) and not leafish(f.arg))


def _size(e: Expr) -> int:
    return e.size


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


def _orient(m: MatMul) -> Expr:
    """A scalar a^T b is kept in one orientation: fewer transposes, then the smaller key."""
    if m.shape != SCALAR:
        return m
    alt = [transpose(f) for f in reversed(m.factors)]
    alt_m = MatMul(tuple(a for a in alt))
    if any(isinstance(a, (MatMul, Mul)) for a in alt):
        return m
    k1 = (_count_transposes(m), _compound_transposes(m), skey(m))
    k2 = (_count_transposes(alt_m), _compound_transposes(alt_m), skey(alt_m))
    return alt_m if k2 < k1 else m


def hadamard(*factors: Expr) -> Expr:
    return _hadamard(factors, True)


def _hadamard(factors, spread: bool) -> Expr:
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
    core = _hadamard_powers(core, scalars)
    out = _distribute(core) if spread else None
    if out is not None:
        return mul(*scalars, out) if scalars else out
    core = sorted(_sigmoid_pattern(core), key=_size)
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


def _hadamard_powers(core: list, scalars: list) -> list:
    """Elementwise powers of one base combine: a o a^{-1} = 1 (both dropped), a^p o a^q =
    a^{p+q}.  Only where a power takes part (a o a stays as written); the scalars a combined
    power brings out (a power of 2x) go to ``scalars``."""
    if not any(isinstance(c, Pow) for c in core):
        return core
    exps: dict = {}
    count: dict = {}
    for f in core:
        b, p = _base_exp(f)
        exps[b] = exps.get(b, 0) + p
        count[b] = count.get(b, 0) + 1
    if all(n == 1 for n in count.values()):
        return core
    out = []
    for f in core:                     # the first occurrence of a base stands for them all
        b = _base_exp(f)[0]
        if count[b] == 1:
            out.append(f)
            continue
        if b not in exps:
            continue                   # already combined
        p = exps.pop(b)
        if p == 0:
            continue                   # a o a^{-1}: the all-ones, dropped
        s, m = peel(power(b, p))
        scalars.extend(s)
        if isinstance(m, Hadamard):
            out.extend(m.factors)
        elif not (isinstance(m, Ones) and m.shape == b.shape):
            out.append(m)
    return out


DISTRIBUTE_LIMIT = 8     # terms of a sum an elementwise product is tried distributed over


def _distribute(core: list) -> Expr | None:
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
        if not _may_cancel(others, c.terms):
            continue
        out = _expand_if_smaller(add(*[_hadamard((*others, t), False) for t in c.terms]))
        if whole is None:
            whole = Hadamard(tuple(core)).size
        if out.size < whole:
            return out
    return None


def _hadamard_bases(e: Expr) -> list:
    """The factors of an elementwise product as (base, is a power)."""
    _, m = peel(e)
    fs = m.factors if isinstance(m, Hadamard) else (m,)
    return [(_base_exp(f)[0], isinstance(f, Pow)) for f in fs]


def _may_cancel(others: list, terms) -> bool:
    bases: dict = {}
    for f in others:
        for b, is_pow in _hadamard_bases(f):
            bases[b] = bases.get(b, False) or is_pow
    for t in terms:
        for b, is_pow in _hadamard_bases(t):
            if b in bases and (is_pow or bases[b]):
                return True
    return False


def _expand_if_smaller(e: Expr, limit: int = 2 * DISTRIBUTE_LIMIT) -> Expr:
    """A sum whose terms are elementwise products with a sum in them, multiplied out when
    that is smaller (like terms cancel): s o (1 - y) - (1 - s) o y = s - y."""
    if not isinstance(e, Add):
        return e
    out = []
    changed = False
    for t in e.terms:
        c, rest = split_coef(t)
        if isinstance(rest, Hadamard):
            idx = [k for k, f in enumerate(rest.factors) if isinstance(f, Add)]
            if len(idx) == 1 and len(out) + len(rest.factors[idx[0]].terms) <= limit:
                k = idx[0]
                others = rest.factors[:k] + rest.factors[k + 1:]
                out.extend(mul(Const(c), _hadamard((*others, u), False))
                           for u in rest.factors[k].terms)
                changed = True
                continue
        out.append(t)
    if not changed:
        return e
    expanded = add(*out)
    return expanded if expanded.size < e.size else e


def _sigmoid_pattern(core: list) -> list:
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
    if isinstance(e, Identity):
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
        if _count_transposes(pushed) <= 1 + _count_transposes(e):
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
    if isinstance(e, Diag) and e.arg.shape[1] == 1:
        return e
    if isinstance(e, PowSum):
        return PowSum(transpose(e.b), transpose(e.g), transpose(e.a), e.k, e.index)
    if isinstance(e, SingleEntry):
        return SingleEntry((e.dims[1], e.dims[0]), e.j, e.i)
    if isinstance(e, Commutation):
        return Commutation(e.n, e.m)
    return Transpose(e)


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
    if isinstance(e, Pow) and (p.denominator == 1 or e.p.denominator == 1 and e.p > 0
                               and p > 0 and "positive" in _assumed(e.arg)):
        return power(e.arg, e.p * p)
    if isinstance(e, Mul) and p.denominator == 1:
        return mul(*[power(f, p) for f in e.factors])
    return Pow(e, p)


def _assumed(e: Expr) -> frozenset:
    return e.assume if isinstance(e, Sym) else frozenset()


def matpow(e: Expr, k: int) -> Expr:
    """Integer matrix power; ``k = -1`` is the inverse."""
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
    if k == -1 and isinstance(e, Sym) and "orthogonal" in e.assume:
        return Transpose(e)
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
        # sum_r A^r I A^{k-1-r} = k A^{k-1}: the gradient of tr(X^k) is k (X^{k-1})^T
        # (Cookbook eq. 106)
        return mul(Const(Fraction(k)), *scalars, matpow(a, k - 1))
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
    if isinstance(e, Identity) and isinstance(e.n, int):
        return Const(Fraction(e.n))
    if isinstance(e, Identity) and isinstance(e.n, str) and e.n[:1] == "#":   # tr(I_3) = 3
        return Const(Fraction(int(e.n[1:])))
    if isinstance(e, MatMul):
        fs = e.factors
        for i in range(1, len(fs)):   # tr(x y^T) = y^T x
            if fs[i].shape[0] == 1:
                return matmul(*fs[i:], *fs[:i])
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
    return Det(e)


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
    if isinstance(e, Sym):
        return Conj(e)
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


def push_conj(e: Expr) -> Expr:
    """Conjugates down to the symbols, and |u| of a complex u as sqrt(u u^*)."""
    from .ir import is_complex
    memo = {}
    for n in walk(e):
        kids = tuple(memo[c] for c in n.children)
        if isinstance(n, Conj):
            memo[n] = conj(kids[0], push=True)
        elif isinstance(n, Func) and n.name == "abs" and is_complex(kids[0]):
            u = kids[0]
            memo[n] = power(mul(u, conj(u, push=True)), Fraction(1, 2))
        elif isinstance(n, Norm) and is_complex(kids[0]):
            u = kids[0]
            memo[n] = power(trace(matmul(transpose(conj(u, push=True)), u)), Fraction(1, 2))
        elif n.children:
            memo[n] = rebuild(n, kids)
        else:
            memo[n] = n
    return memo[e]


def fold_conj(e: Expr, originals) -> Expr:
    """Write a pushed-down conjugate of a sum of the input back as (sum)^*."""
    table = {conj(u, push=True): u for u in originals if isinstance(u, Add)}
    if not table:
        return e
    memo = {}
    for n in walk(e):
        m = rebuild(n, tuple(memo[c] for c in n.children)) if n.children else n
        if m in table:
            m = Conj(table[m])
        memo[n] = m
    return memo[e]


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


# ---------------------------------------------------------------- Cookbook form

def _term_parts(t: Expr):
    """A term as (scalar factors incl. coefficient, matrix chain)."""
    if isinstance(t, Mul) and t.shape != SCALAR:
        scal, m = t.factors[:-1], t.factors[-1]
    elif t.shape == SCALAR:
        return None
    else:
        scal, m = (), t
    chain = list(m.factors) if isinstance(m, MatMul) else [m]
    return scal, chain


def _factor_kron(e: Add) -> Expr:
    """I (x) A + I (x) B = I (x) (A + B), and likewise on the right."""
    terms = list(e.terms)
    for side in (0, 1):
        groups: dict = {}
        for k, t in enumerate(terms):
            c, rest = split_coef(t)
            if isinstance(rest, Kron):
                key = rest.left if side == 0 else rest.right
                groups.setdefault(key, []).append(k)
        for key, idx in groups.items():
            if len(idx) < 2:
                continue
            inner = []
            for k in idx:
                c, rest = split_coef(terms[k])
                inner.append(with_coef(c, rest.right if side == 0 else rest.left))
            s = factor_node(add(*inner))
            merged = kron(key, s) if side == 0 else kron(s, key)
            rest_terms = [t for k, t in enumerate(terms) if k not in idx]
            return factor_node(add(merged, *rest_terms)) if rest_terms else merged
    return e


def _factor_sum(e: Add) -> Expr:
    if any(isinstance(split_coef(t)[1], Kron) for t in e.terms):
        k = _factor_kron(e)
        if k is not e:
            return k
    parts = [_term_parts(t) for t in e.terms]
    if any(p is None for p in parts) or len(parts) < 2:
        return _common_coef(e)
    best = None
    for side in ("left", "right"):
        groups: dict = {}
        for i, (_, chain) in enumerate(parts):
            if len(chain) < 2:
                continue
            key = chain[0] if side == "left" else chain[-1]
            groups.setdefault(key, []).append(i)
        for key, idx in groups.items():
            if len(idx) < 2:
                continue
            # extend to the longest common prefix/suffix of the group, leaving each a rest
            chains = [parts[i][1] for i in idx]
            n = 1
            while all(len(c) > n + 1 for c in chains):
                probe = [c[n] if side == "left" else c[-1 - n] for c in chains]
                if all(p == probe[0] for p in probe):
                    n += 1
                else:
                    break
            score = (len(idx), n)
            if best is None or score > best[0]:
                best = (score, side, idx, n)
    if best is None:
        return _common_coef(e)
    _, side, idx, n = best
    chains = [parts[i][1] for i in idx]
    common = chains[0][:n] if side == "left" else chains[0][len(chains[0]) - n:]
    inner_terms = []
    for i in idx:
        scal, chain = parts[i]
        rest = chain[n:] if side == "left" else chain[:len(chain) - n]
        inner_terms.append(mul(*scal, matmul(*rest)))
    inner_terms.sort(key=_count_transposes)
    inner = factor_node(add(*inner_terms))
    grouped = matmul(*common, inner) if side == "left" else matmul(inner, *common)
    others = [t for j, t in enumerate(e.terms) if j not in idx]
    out = add(grouped, *others)
    return factor_node(out) if isinstance(out, Add) and len(out.terms) < len(e.terms) else out


def _scalar_factors(t: Expr) -> list:
    if isinstance(t, Mul):
        return [f for f in t.factors if f.shape == SCALAR and not isinstance(f, Const)]
    return [t] if t.shape == SCALAR and not isinstance(t, Const) else []


def _drop(t: Expr, common: list) -> Expr:
    fs = list(t.factors) if isinstance(t, Mul) else [t]
    for c in common:
        fs.remove(c)
    return mul(*fs) if fs else ONE


def _common_coef(e: Add) -> Expr:
    # a scalar factor shared by every term: (a^T x) A x + (a^T x) B x = (a^T x)(A x + B x)
    common = _scalar_factors(e.terms[0])
    for t in e.terms[1:]:
        rest = _scalar_factors(t)
        common = [c for c in common if c in rest and (rest.remove(c) or True)]
    if common and any(not isinstance(t, Mul) or len(t.factors) > len(common)
                      for t in e.terms) and len(e.terms) > 1:
        inner = add(*[_drop(t, common) for t in e.terms])
        if isinstance(inner, Add):
            inner = factor_node(inner)
            # one flat product: (1/n) 2 (x - y), not (1/n) (2 (x - y))
            return Mul(tuple(common) + (inner.factors if isinstance(inner, Mul) else (inner,)))
    coefs = [split_coef(t)[0] for t in e.terms]
    first = abs(coefs[0])
    if first != 1 and all(abs(c) == first for c in coefs):
        c = first * (-1 if all(c < 0 for c in coefs) else 1)
    elif all(c < 0 for c in coefs) and len(coefs) > 1:
        c = Fraction(-1)
    else:
        return e
    rest = [with_coef(split_coef(t)[0] / c, split_coef(t)[1]) for t in e.terms]
    return Mul((Const(c), Add(tuple(_term_order(rest)))))


def _term_order(terms) -> list:
    r"""Printing order of a sum: positive terms first; a term next to its transpose, the
    untransposed one first (A + A^T + 2\lambda I, not A + 2\lambda I + A^T); otherwise as
    they come."""
    groups: dict = {}

    def group(t):
        rest = split_coef(t)[1]
        k = "" if rest is None else skey(rest.arg if isinstance(rest, Transpose) else rest)
        return groups.setdefault(k, len(groups))
    keyed = [((split_coef(t)[0] < 0), group(t), _count_transposes(t), i, t)
             for i, t in enumerate(terms)]
    keyed.sort(key=lambda k: k[:4])
    return [k[4] for k in keyed]


def factor_node(e: Expr) -> Expr:
    if isinstance(e, Add):
        out = _factor_sum(e)
        if isinstance(out, Add):
            out = Add(tuple(_term_order(out.terms)))
        return out
    return e


def factor(e: Expr) -> Expr:
    """Cookbook form of a finished result: common factors taken out of every sum."""
    memo = {}
    for n in walk(e):
        if n.children:
            kids = tuple(memo[c] for c in n.children)
            m = n if all(a is b for a, b in zip(kids, n.children)) else rebuild(n, kids)
        else:
            m = n
        memo[n] = factor_node(m) if isinstance(m, Add) else m
    return memo[e]


def resimplify(e: Expr, mapping: dict | None = None) -> Expr:
    """Rebuild ``e`` bottom-up through the constructors (after substituting ``mapping``)."""
    mapping = mapping or {}
    order = walk(e)
    # a chain of sums or products as the parser builds it, ((a b) c) d, is rebuilt once from
    # all its parts: rebuilding every level re-collected every part below it (n^2 for a
    # product of n factors); a level is skipped when its one parent is of its own type
    parents: dict = {}
    for n in order:
        for c in n.children:
            if type(c) in _CHAINS:
                got = parents.get(c)
                parents[c] = type(n) if got is None else False
    memo = {}
    for n in order:
        if n in mapping:
            memo[n] = mapping[n]
        elif n.children:
            kind = type(n)
            if kind in _CHAINS and parents.get(n) is kind and n is not e:
                continue              # a level inside a chain: built with its top
            if kind in _CHAINS:
                memo[n] = rebuild(n, tuple(_chain_parts(n, memo)))
            else:
                memo[n] = rebuild(n, tuple(memo[c] for c in n.children))
        else:
            memo[n] = n
    return memo[e]


_CHAINS = (Add, Mul)


def _chain_parts(top: Expr, memo: dict) -> list:
    """The rebuilt parts of the chain under ``top``, in order, through its inner levels:
    walk() puts children first, so a child not yet in ``memo`` is a level resimplify
    skipped, to be read through."""
    out = []
    stack = [iter(top.children)]
    while stack:
        c = next(stack[-1], None)
        if c is None:
            stack.pop()
            continue
        if c not in memo:
            stack.append(iter(c.children))
        else:
            out.append(memo[c])
    return out
