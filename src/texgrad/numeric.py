"""NumPy evaluation of the IR (one evaluator per node, :data:`EVAL`) and the random draws.

Sizes are drawn distinct per dimension (so a transposition slip cannot hide behind a square
shape) and values honour assumptions (symmetric, spd, positive, orthogonal, diagonal,
invertible).  :mod:`texgrad.check` compares derivatives with central differences at them.
"""

from __future__ import annotations

import math
from math import prod

import numpy as np

from .dims import Fixed
from .errors import LimitError, ShapeError
from .ir import (SCALAR, Add, Commutation, Conj, Const, SingleEntry, Vec, Det, Diag, Expr, Func,
                 Hadamard, Identity, ImagUnit, Kron, MatExp, MatMul, MatPow, Mul, Norm, Ones, Pow, PowSum, Softmax, Sum, Index, Sym, Trace, Transpose, Zero,
                 walk)

from .matexp import expm

TOLERANCE = 1e-6


def exponent(k, n) -> int:
    """The value of a matrix power's exponent: a number, or an expression of a letter (a
    positive integer, drawn so) evaluated at the draw."""
    if isinstance(k, int):
        return k
    return int(round(float(np.real(evaluate(k, n.env, n.size, n.entry, n.bound)[0, 0]))))


def _powsum(e, v, n):
    a, g, b = v
    k = exponent(e.k, n)
    total = np.zeros_like(g, dtype=np.result_type(a, g, b))
    for r in range(k):
        total = total + np.linalg.matrix_power(a, r) @ g @ np.linalg.matrix_power(b, k - 1 - r)
    return total


def _elementwise_pow(x, p):
    if p.denominator == 1:
        return np.power(x, int(p)) if p >= 0 else 1.0 / np.power(x, -int(p))
    return np.power(x, float(p))


def _scalar(x):
    return x.reshape(1, 1)


# one NumPy evaluation per IR node: (node, child values, sizes) -> 2-D array
EVAL = {
    Const: lambda e, v, n: np.array([[float(e.value)]]),
    Identity: lambda e, v, n: np.eye(n(e.n)),
    Ones: lambda e, v, n: np.ones((n(e.shape[0]), n(e.shape[1]))),
    Zero: lambda e, v, n: np.zeros((n(e.shape[0]), n(e.shape[1]))),
    Add: lambda e, v, n: sum(v[1:], v[0]),
    Mul: lambda e, v, n: _mul(v),
    MatMul: lambda e, v, n: _matmul(v),
    Hadamard: lambda e, v, n: _hadamard(v),
    Kron: lambda e, v, n: np.kron(v[0], v[1]),
    Transpose: lambda e, v, n: v[0].T,
    MatPow: lambda e, v, n: np.linalg.matrix_power(v[0], exponent(e.k, n)),
    MatExp: lambda e, v, n: expm(np, v[0]),
    ImagUnit: lambda e, v, n: np.array([[1j]]),
    PowSum: lambda e, v, n: _powsum(e, v, n),
    Pow: lambda e, v, n: _elementwise_pow(v[0], e.p),
    Func: lambda e, v, n: e.spec.numpy(np, v[0]),        # from the function's record
    Trace: lambda e, v, n: _scalar(np.trace(v[0])),
    Det: lambda e, v, n: _scalar(np.linalg.det(v[0])),
    Norm: lambda e, v, n: np.array([[norm2(v[0])]]),
    Diag: lambda e, v, n: (np.diag(v[0][:, 0]) if e.arg.shape[1] == 1
                           else np.diag(v[0]).reshape(-1, 1).copy()),
    Softmax: lambda e, v, n: _softmax(v[0]),
    Conj: lambda e, v, n: np.conj(v[0]),
    Vec: lambda e, v, n: v[0].reshape(-1, 1, order="F"),
    Commutation: lambda e, v, n: _commutation(n(e.m), n(e.n)),
    SingleEntry: lambda e, v, n: _single_entry(e, n),
    Sum: lambda e, v, n: _sum(e, n),
    Index: lambda e, v, n: np.array([[float(n.bound.get(e.letter, n.fixed(e.letter)))]]),
}

FAMILIES = "#families"   # the key of a draw's families: member name -> array of members
FIXED = 1                # the value of an index no sum binds (k of mu_k, the variable)

class Sizes:
    """What an evaluator may ask besides its children's values: the size of a dimension
    (``sizes(d)``) and, for a derivative by an entry X_{ij}, the value of each index
    (``sizes.entry``, index name -> 0-based value; an index not given is 0).  Passed per
    call, so evaluations in several threads never share it."""

    __slots__ = ("size", "entry", "env", "bound")

    def __init__(self, sizes, entry=None, env=None, bound=None):
        self.size = sizes if callable(sizes) else (lambda d: dim_size(d, sizes))
        self.entry = entry or {}
        self.env = env              # the symbols' values, for the body of a sum
        self.bound = bound or {}    # the indices of the sums around (letter -> 0-based)

    def fixed(self, letter: str) -> int:
        return self.entry.get(letter, FIXED)

    def member(self, name: str):
        """The value of a member (``x_i``) at the current indices: the drawn value itself
        at the fixed indices (where the variable of a derivative by a member is moved),
        the family's array elsewhere."""
        from .families import member_letters
        letters = member_letters(name)
        if not any(c in self.bound for c in letters):
            return self.env[name]               # a free use (mu_k, the variable)
        fixed = tuple(self.fixed(c) for c in letters)
        at = tuple(self.bound.get(c, f) for c, f in zip(letters, fixed))
        base = name.rpartition("_")[0]
        for other in self.env:                  # mu_j at j = k is the free mu_k
            mine = member_letters(other) if isinstance(other, str) else ""
            if other != name and mine and len(mine) == len(letters) and \
                    other.rpartition("_")[0] == base and \
                    not any(c in self.bound for c in mine) and \
                    tuple(self.fixed(c) for c in mine) == at:
                return self.env[other]
        if at == fixed:
            return self.env[name]
        return self.env[FAMILIES][name][at]

    def __call__(self, d) -> int:
        return self.size(d)



def _sum(e: Sum, n: Sizes) -> np.ndarray:
    lo = 1 if e.lo is None else e.lo
    total = None
    for v in range(lo, n(e.hi) + 1):           # the index's values, lo..hi
        val = evaluate(e.body, n.env, n.size, n.entry, {**n.bound, e.index: v})
        total = val if total is None else total + val
    return total if total is not None else np.zeros((n(e.shape[0]), n(e.shape[1])))


def _commutation(m: int, n: int) -> np.ndarray:
    k = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            k[i * n + j, j * m + i] = 1.0     # vec(X^T)[i n + j] = X[i, j] = vec(X)[j m + i]
    return k


def _single_entry(e, n) -> np.ndarray:
    out = np.zeros((n(e.dims[0]), n(e.dims[1])))
    out[n.entry.get(e.i, 0), n.entry.get(e.j, 0)] = 1.0
    return out



def _mul(vals):
    out = vals[0]
    for x in vals[1:]:
        out = out * x   # scalars are 1x1 and broadcast
    return out


def _matmul(vals):
    out = vals[0]
    for x in vals[1:]:
        out = out @ x
    return out


def _hadamard(vals):
    out = vals[0]
    for x in vals[1:]:
        out = out * x
    return out


def _softmax(x):
    z = np.exp(x - x.max())
    return z / z.sum()


def safe_evaluate(expr: Expr, env: dict, sizes, entry: dict | None = None):
    """``evaluate``, or None where linear algebra fails (a singular matrix)."""
    try:
        return evaluate(expr, env, sizes, entry)
    except np.linalg.LinAlgError:
        return None


_ORDER: dict = {}       # id -> (expression, its nodes children first, uses): a check evaluates f often


def evaluation_order(expr: Expr) -> tuple:
    """walk(expr), and for each node the children whose last use it is, remembered for this
    very object (by identity: comparing an equal expression of another derivation
    structurally would cost more than walking it)."""
    hit = _ORDER.get(id(expr))
    if hit is not None and hit[0] is expr:
        return hit[1], hit[2]
    if len(_ORDER) > 256:
        _ORDER.clear()
    order = _walk_outside_sums(expr) if _has_sum(expr) else walk(expr)
    last: dict = {}
    for i, e in enumerate(order):
        if isinstance(e, Sum):
            continue
        for c in e.children:
            last[c] = i
    frees = [[] for _ in order]
    for c, i in last.items():
        frees[i].append(c)
    frees = [tuple(f) for f in frees]
    _ORDER[id(expr)] = (expr, order, frees)
    return order, frees


def _has_sum(expr: Expr) -> bool:
    return any(isinstance(e, Sum) for e in walk(expr))


def _walk_outside_sums(expr: Expr) -> list:
    """walk(expr) without the bodies of sums, which a sum evaluates once per index."""
    seen: set = set()
    order: list = []
    stack = [(expr, False)]
    while stack:
        e, done = stack.pop()
        if done:
            order.append(e)
        elif e not in seen:
            seen.add(e)
            stack.append((e, True))
            if not isinstance(e, Sum):
                stack.extend((c, False) for c in reversed(e.children) if c not in seen)
    return order


def evaluate(expr: Expr, env: dict, sizes, entry: dict | None = None,
             bound: dict | None = None) -> np.ndarray:
    """The value of ``expr`` (a 2-D array) with symbols bound in ``env`` (name -> 2-D),
    dimensions sized by ``sizes`` (a dict or a function) and the indices of a derivative by
    an entry valued by ``entry`` (name -> 0-based int).  A node's value is dropped once its
    last parent has used it, so a long chain of large temporaries holds only the ones still
    needed."""
    memo = {}
    size = Sizes(sizes, entry, env, bound)
    members = env.get(FAMILIES, ())
    order, frees = evaluation_order(expr)
    for e, done in zip(order, frees):
        if isinstance(e, Sym):
            memo[e] = size.member(e.name) if e.name in members else env[e.name]
            continue
        memo[e] = EVAL[type(e)](e, () if isinstance(e, Sum) else
                                [memo[c] for c in e.children], size)
        for c in done:
            del memo[c]
    return memo[expr]


def dim_size(d, sizes: dict) -> int:
    if d == 1:
        return 1
    if isinstance(d, tuple):
        return prod(dim_size(x, sizes) for x in d)
    try:
        return sizes[d]
    except KeyError:
        # a size no symbol carries (I_3, or I_n alone): its number, else the next free size
        if isinstance(d, Fixed):
            sizes[d] = d.n
        else:
            sizes[d] = max([v for v in sizes.values() if isinstance(v, int)] + [2]) + 1
        return sizes[d]


# ------------------------------------------------------------------------- drawing

class Draws:
    """The random test inputs of the numeric check: a seeded stand-in for the two methods of
    ``numpy.random.Generator`` texgrad uses (``standard_normal``, ``uniform``), built on the
    standard library's Mersenne Twister.  ``numpy.random`` costs 15-20 ms to import, a
    large part of a cold start, for a few dozen numbers per check.  The same seed gives the
    same draws; a ``size`` of None gives a float, an int or a tuple a float64 array of that
    shape."""

    __slots__ = ("_random",)

    def __init__(self, seed: int | None = None):
        import random
        self._random = random.Random(seed)

    def standard_normal(self, size=None):
        n, shape = self._count(size)
        if n is not None and n > BULK:
            return self.bulk_normal(size)
        gauss = self._random.gauss
        if n is None:
            return gauss(0.0, 1.0)
        return np.array([gauss(0.0, 1.0) for _ in range(n)], dtype=np.float64).reshape(shape)

    def uniform(self, low: float = 0.0, high: float = 1.0, size=None):
        """Uniform on [low, high), like numpy's."""
        n, shape = self._count(size)
        if n is not None and n > BULK:
            out = low + (high - low) * self._bulk_uniform(n)
            return np.minimum(out, np.nextafter(high, low)).reshape(shape)
        u, width = self._random.random, high - low
        if n is None:
            return low + width * u()
        return np.array([low + width * u() for _ in range(n)],
                        dtype=np.float64).reshape(shape)

    def bulk_normal(self, size) -> np.ndarray:
        """Standard normal draws of shape ``size`` made in bulk (Box-Muller on the seeded
        generator's bytes): one call per entry costs a second per million entries.  Other
        values than :meth:`standard_normal` for the same seed at small sizes; for noise
        (the rounding estimate of a claim), where no draw is compared with another run."""
        n, shape = self._count(size)
        m = (n + 1) // 2
        u = self._bulk_uniform(2 * m)
        r = np.sqrt(-2.0 * np.log1p(-u[:m]))     # 1 - u in (0, 1]: the log is finite
        t = 2.0 * np.pi * u[m:]
        return np.concatenate((r * np.cos(t), r * np.sin(t)))[:n].reshape(shape)

    def _bulk_uniform(self, n: int) -> np.ndarray:
        """n uniforms on [0, 1) from the seeded generator's bytes (53 bits each, as
        ``random.random``)."""
        words = np.frombuffer(self._random.randbytes(8 * n), dtype="<u8")
        return (words >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)

    @staticmethod
    def _count(size):
        if size is None:
            return None, None
        if isinstance(size, tuple):
            shape = tuple(int(k) for k in size)
        else:
            shape = (int(size),) if np.ndim(size) == 0 else tuple(int(k) for k in size)
        n = prod(shape)
        if n > MAX_DRAWN:
            raise draw_limit(n, "for one value")
        return n, shape


BULK = 4096              # entries above which draws are made in bulk
MAX_DRAWN = 2_000_000    # entries of one drawn value


def draw_limit(n: int, where: str) -> LimitError:
    return LimitError(f"the numeric check would draw {n:,} random entries {where}; the "
                      f"limit is {MAX_DRAWN:,}",
                      hint="declare smaller sizes (--shape), or skip the check "
                           "(--no-verify; API: verify=False)")


def assign_sizes(syms: dict, reverse: bool = False) -> dict:
    """Distinct sizes per dimension name: 3, 4, 5, ... in order of appearance, or in the
    reverse order (declared numeric sizes kept)."""
    names = []
    for s in syms.values():
        for d in s.dims:
            for x in (d if isinstance(d, tuple) else (d,)):
                if x != 1 and x not in names:
                    names.append(x)
    sizes = {}
    nxt = 3
    if reverse:
        names = names[::-1]
    for x in names:
        if isinstance(x, Fixed):
            sizes[x] = x.n
        else:
            sizes[x] = nxt
            nxt += 1
    return sizes


def draw_value(sym: Sym, sizes: dict, rng, profile: int) -> np.ndarray:
    if "complex" in sym.assume:
        real = Sym(sym.name, sym.dims, sym.latex, sym.assume - {"complex"})
        return (draw_value(real, sizes, rng, profile) +
                1j * draw_value(real, sizes, rng, profile))
    r, c = (dim_size(d, sizes) for d in sym.dims)
    a = sym.assume
    if "integer" in a and r == c == 1:      # 2, 3 or 4 (the exponent of a matrix power)
        return np.array([[float(2 + int(rng.uniform(0.0, 3.0)))]])
    square = r == c and r > 1
    positive = "positive" in a or (profile >= 1 and (c == 1 or r == 1 or profile >= 3))
    if "spd" in a or (profile >= 2 and square and not a & {"orthogonal", "diagonal"}):
        m = rng.standard_normal((r, r))
        return m @ m.T / r + np.eye(r) * 0.5
    if "orthogonal" in a:
        q, rr = np.linalg.qr(rng.standard_normal((r, r)))
        return q * np.sign(np.diag(rr))
    if "diagonal" in a:
        d = rng.uniform(0.5, 1.5, r) if positive or "invertible" in a else rng.standard_normal(r)
        return np.diag(d)
    if positive:
        m = rng.uniform(0.5, 1.5, (r, c))
    else:
        m = rng.standard_normal((r, c))
    if "symmetric" in a:
        m = (m + m.T) / 2
    if "invertible" in a and square:
        m = m + np.eye(r) * np.sqrt(r)
    return m


def draw_env(syms: dict, sizes: dict, rng, profile: int, fams: dict | None = None) -> dict:
    """A value per symbol; with ``fams`` (:func:`texgrad.families.axes`) also an array of
    members per family, indexed by the indices' values (0..size), whose member at the fixed
    values (:data:`FIXED`) is the symbol's own value."""
    env = {name: draw_value(s, sizes, rng, profile) for name, s in syms.items()}
    if fams:
        env[FAMILIES] = {}
        for name, dims in fams.items():
            counts = tuple(dim_size(d, sizes) + 1 for d in dims)
            if prod(counts) * env[name].size > MAX_DRAWN:
                raise draw_limit(prod(counts) * env[name].size, "for one family")
            members = [draw_value(syms[name], sizes, rng, profile)
                       for _ in range(prod(counts))]
            fam = np.stack(members).reshape(counts + env[name].shape)
            fam[tuple(min(FIXED, c - 1) for c in counts)] = env[name]
            env[FAMILIES][name] = fam
    return env


def norm2(a) -> float:
    """The 2-norm (Frobenius norm) computed scaled by the largest magnitude, so values above
    1e154, whose squares overflow, have a finite norm: ``np.linalg.norm`` of [1e200] is inf."""
    a = np.asarray(a)
    if a.size == 0:
        return 0.0
    m = float(np.abs(a).max())
    if m == 0.0 or not np.isfinite(m):
        return m
    b = (a / m).ravel()
    return m * math.sqrt(float(np.vdot(b, b).real))


def to_user(x: np.ndarray, shape) -> np.ndarray | float:
    """Internal 2-D arrays to the API's convention: a vector 1-D, a scalar a float."""
    if shape == SCALAR:
        return float(x[0, 0]) if np.isrealobj(x) else complex(x[0, 0])
    if shape[1] == 1:
        return x[:, 0].copy()
    return x


def from_user(name: str, value, sym: Sym) -> np.ndarray:
    try:
        a = np.asarray(value)
        a = a.astype(complex if np.iscomplexobj(a) else float)
    except (TypeError, ValueError):
        raise ShapeError(f"the value of {name} is not an array of numbers") from None
    if sym.shape == SCALAR:
        if a.size != 1:
            raise ShapeError(f"{name} is a scalar, but its value has shape {a.shape}")
        return a.reshape(1, 1)
    if sym.shape[1] == 1:
        if a.ndim != 1 and not (a.ndim == 2 and 1 in a.shape):
            raise ShapeError(f"{name} is a vector, but its value has shape {a.shape}",
                             hint="give a vector as a 1-D array")
        return a.reshape(-1, 1)
    if a.ndim != 2:
        raise ShapeError(f"{name} is a matrix, but its value has shape {a.shape}",
                         hint="give a matrix as a 2-D array")
    return a
