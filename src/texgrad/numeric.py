"""Numeric check: compile the IR to NumPy and compare against central differences.

Sizes are drawn distinct per dimension (so a transposition slip cannot hide behind a square
shape) and values honour assumptions (symmetric, spd, positive, orthogonal, diagonal,
invertible) and domains (if f is not finite at a draw — a log of a negative number, a log det
of an indefinite matrix — the draw is repeated with positive entries and spd square
matrices).  The check compares the directional derivative <G, V> with a Richardson-extrapolated
central difference of f along random directions V, over several draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np

from .errors import LimitError, ShapeError, TexgradError
from .ir import (SCALAR, Add, Commutation, Conj, Const, SingleEntry, Vec, Det, Diag, Expr, Func, Hadamard, Identity, Kron, MatMul,
                 MatPow, Mul, Norm, Ones, Pow, PowSum, Softmax, Sym, Trace, Transpose, Zero,
                 walk)

TOLERANCE = 1e-6


def _powsum(e, v):
    a, g, b = v
    k = e.k
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
    MatPow: lambda e, v, n: np.linalg.matrix_power(v[0], e.k),
    PowSum: lambda e, v, n: _powsum(e, v),
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
}

class Sizes:
    """What an evaluator may ask besides its children's values: the size of a dimension
    (``sizes(d)``) and, for a derivative by an entry X_{ij}, the value of each index
    (``sizes.entry``, index name -> 0-based value; an index not given is 0).  Passed per
    call, so evaluations in several threads never share it."""

    __slots__ = ("size", "entry")

    def __init__(self, sizes, entry=None):
        self.size = sizes if callable(sizes) else (lambda d: dim_size(d, sizes))
        self.entry = entry or {}

    def __call__(self, d) -> int:
        return self.size(d)



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


def _order(expr: Expr) -> tuple:
    """walk(expr), and for each node the children whose last use it is, remembered for this
    very object (by identity: comparing an equal expression of another derivation
    structurally would cost more than walking it)."""
    hit = _ORDER.get(id(expr))
    if hit is not None and hit[0] is expr:
        return hit[1], hit[2]
    if len(_ORDER) > 256:
        _ORDER.clear()
    order = walk(expr)
    last: dict = {}
    for i, e in enumerate(order):
        for c in e.children:
            last[c] = i
    frees = [[] for _ in order]
    for c, i in last.items():
        frees[i].append(c)
    frees = [tuple(f) for f in frees]
    _ORDER[id(expr)] = (expr, order, frees)
    return order, frees


def evaluate(expr: Expr, env: dict, sizes, entry: dict | None = None) -> np.ndarray:
    """The value of ``expr`` (a 2-D array) with symbols bound in ``env`` (name -> 2-D),
    dimensions sized by ``sizes`` (a dict or a function) and the indices of a derivative by
    an entry valued by ``entry`` (name -> 0-based int).  A node's value is dropped once its
    last parent has used it, so a long chain of large temporaries holds only the ones still
    needed."""
    memo = {}
    size = Sizes(sizes, entry)
    order, frees = _order(expr)
    for e, done in zip(order, frees):
        if isinstance(e, Sym):
            memo[e] = env[e.name]
            continue
        memo[e] = EVAL[type(e)](e, [memo[c] for c in e.children], size)
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
        if isinstance(d, str) and d.startswith("#"):
            sizes[d] = int(d[1:])
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
            # Box-Muller on uniforms made in bulk: one call per entry costs a second per
            # million entries
            m = (n + 1) // 2
            u = self._bulk_uniform(2 * m)
            r = np.sqrt(-2.0 * np.log1p(-u[:m]))     # 1 - u in (0, 1]: the log is finite
            t = 2.0 * np.pi * u[m:]
            return np.concatenate((r * np.cos(t), r * np.sin(t)))[:n].reshape(shape)
        gauss = self._random.gauss
        return self._fill(size, lambda: gauss(0.0, 1.0))

    def uniform(self, low: float = 0.0, high: float = 1.0, size=None):
        """Uniform on [low, high), like numpy's."""
        n, shape = self._count(size)
        if n is not None and n > BULK:
            out = low + (high - low) * self._bulk_uniform(n)
            return np.minimum(out, np.nextafter(high, low)).reshape(shape)
        u, width = self._random.random, high - low
        return self._fill(size, lambda: low + width * u())

    def _bulk_uniform(self, n: int) -> np.ndarray:
        """n uniforms on [0, 1) from the seeded generator's bytes (53 bits each, as
        ``random.random``)."""
        words = np.frombuffer(self._random.randbytes(8 * n), dtype="<u8")
        return (words >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)

    @staticmethod
    def _count(size):
        if size is None:
            return None, None
        shape = (int(size),) if np.ndim(size) == 0 else tuple(int(k) for k in size)
        n = prod(shape)
        if n > MAX_DRAWN:
            raise _draw_limit(n, "for one value")
        return n, shape

    @classmethod
    def _fill(cls, size, one):
        if size is None:
            return one()
        n, shape = cls._count(size)
        return np.fromiter((one() for _ in range(n)), dtype=np.float64, count=n).reshape(shape)


BULK = 4096              # entries above which draws are made in bulk
MAX_DRAWN = 2_000_000    # entries of one drawn value


def _draw_limit(n: int, where: str) -> LimitError:
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
        if isinstance(x, str) and x.startswith("#"):
            sizes[x] = int(x[1:])
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


def draw_env(syms: dict, sizes: dict, rng, profile: int) -> dict:
    return {name: draw_value(s, sizes, rng, profile) for name, s in syms.items()}


def norm2(a) -> float:
    """The 2-norm (Frobenius norm) computed scaled by the largest magnitude, so values above
    1e154, whose squares overflow, have a finite norm: ``np.linalg.norm`` of [1e200] is inf."""
    a = np.asarray(a)
    if a.size == 0:
        return 0.0
    m = float(np.max(np.abs(a)))
    if m == 0.0 or not np.isfinite(m):
        return m
    return m * float(np.linalg.norm(a / m))


VERIFIED, FAILED, NOT_VERIFIED = "verified", "failed", "not verified"
TINY = float(np.finfo(np.float64).tiny)     # the smallest normal float: below it, denormal

# the check's draws are retried scaled by these factors where a comparison at the plain
# draws proves nothing (every value 0 or denormal, f flat at the float level) or cannot be
# made (finite differences overflow): exp(-10^6 x^2) needs small x, tr(X^{1000}) a small
# X, x^{o -1000} a large x
SCALES = (1.0, 0.1, 10.0, 0.5, 2.0, 1e-3, 1e3, 1e-6)


@dataclass
class Check:
    """The numeric check's verdict, one of three (``status``): ``verified`` (the derivative
    agreed with finite differences at informative draws), ``failed`` (a real disagreement
    between finite numbers) or ``not verified`` (the check could not compare anything that
    proves something: the reason says why).  ``passed`` is ``status == "verified"``."""
    passed: bool
    max_rel_error: float
    trials: int
    directions: int = 0
    sizes: dict = field(default_factory=dict)
    convention: str = ""
    reason: str = ""
    worst: tuple = ()          # (finite difference, analytic) at the worst comparison
    tolerance: float = TOLERANCE
    scale: float = 1.0         # the factor the draws were scaled by (1: plain draws; NaN:
    #                            different factors for different draws)
    note: str = ""             # how it was verified, when not by finite differences
    undefined: bool = False    # not verified because f is undefined at every draw tried
    disagreement: bool = False  # failed with a reason (a check beyond finite differences)

    @property
    def status(self) -> str:
        if self.passed:
            return VERIFIED
        return NOT_VERIFIED if self.reason and not self.disagreement else FAILED

    @property
    def verified(self) -> bool:
        return self.passed

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def stamp(self) -> str:
        size_txt = ", ".join(f"{k.lstrip('#')}={v}" for k, v in self.sizes.items()
                             if not str(k).startswith("#"))
        where = f" ({size_txt})" if size_txt else ""
        if self.passed and self.note:
            return f"% verified: {self.note}; {self.convention}"
        if self.passed:
            scaled = "" if self.scale == 1.0 else f" scaled by {self.scale:g}" \
                if np.isfinite(self.scale) else " (some rescaled)"
            return (f"% verified numerically: max rel. error {self.max_rel_error:.1e} over "
                    f"{self.trials} random draws{scaled} x "
                    f"{self.directions // max(self.trials, 1)} directions{where}; "
                    f"{self.convention}")
        if self.reason and self.disagreement:
            return f"% CHECK FAILED: {self.reason}{where}; {self.convention}"
        if self.reason:
            return f"% NOT VERIFIED: {self.reason}"
        fd, an = self.worst if self.worst else (float("nan"), float("nan"))
        return (f"% CHECK FAILED: max rel. error {self.max_rel_error:.1e} > {self.tolerance:.0e}"
                f"{where}: finite differences give {fd:.6g}, the formula gives {an:.6g}; "
                f"{self.convention}")

    def to_dict(self) -> dict:
        """Strict-JSON-safe: an error or value that is not a finite number is None."""
        err = self.max_rel_error
        return {"passed": self.passed, "status": self.status,
                "max_rel_error": err if isinstance(err, (int, float)) and np.isfinite(err)
                else None,
                "trials": self.trials, "directions": self.directions,
                "sizes": {k.lstrip("#"): v for k, v in self.sizes.items()},
                "convention": self.convention, "reason": self.reason,
                "scale": self.scale if np.isfinite(self.scale) else None}


def _finite(x) -> bool:
    return bool(np.all(np.isfinite(x)))


def check_gradient(f: Expr, grad: Expr, x: Sym, syms: dict, *, trials: int = 3,
                   directions: int = 2, seed: int = 0, convention: str = "",
                   space: str = "G") -> Check:
    """Compare <grad, V> with central differences of f along V at random points.  For a
    symmetric variable, ``space`` says in which sense the gradient is claimed: ``G`` along
    every direction, ``sym`` along symmetric directions, ``cookbook`` (a derivative by the
    independent entries) along symmetric directions counting each off-diagonal pair once."""
    def apply(env, sizes, v):
        g = evaluate(grad, env, sizes)
        if space == "cookbook":
            g = np.triu(g)
        # d f(x + hV)/dh = Re <conj(G), V>: G = df/dRe x + i df/dIm x for complex x
        gv = np.conj(g) * v
        return (np.array(float(np.real(np.sum(gv)))), float(np.sum(np.abs(gv))))
    out = check_derivative(f, x, syms, apply, [grad], trials=trials, directions=directions,
                           seed=seed, convention=convention, real_f=True,
                           symmetric_directions=space != "G")
    if out.undefined:
        raise undefined_error()
    return out


def undefined_error():
    """The TexgradError for a formula undefined at every point the check tried (bad input,
    not a derivative that cannot be verified)."""
    return TexgradError("the formula is undefined at every point tried (plain random draws, "
                        "positive entries, spd matrices, rescaled draws)",
                        hint="a logarithm of 0 or of a negative number, a power of 0, an "
                             "inverse or log det of a singular matrix such as X - X; declare "
                             "assumptions (--assume X=spd, x=positive) if the domain is narrow")


def apply_vec(jac: Expr, f_shape_of):
    """The directional derivative from a vec-form Jacobian: J vec(V), in the shape of F."""
    def apply(env, sizes, v):
        jv = evaluate(jac, env, sizes) @ v.reshape(-1, 1, order="F")
        r, c = f_shape_of(sizes)
        return jv.reshape(r, c, order="F"), norm2(jv)
    return apply


def apply_scalar(d: Expr):
    """The derivative by a scalar t, applied to a direction: D v."""
    def apply(env, sizes, v):
        out = evaluate(d, env, sizes) * v[0, 0]
        return out, norm2(out)
    return apply


def apply_entries(d: Expr, x: Sym, i: str, j: str | None):
    """The derivative by every entry X_{ij}, applied to a direction: sum_ij D_ij V_ij."""
    def apply(env, sizes, v):
        total = 0
        for a in range(v.shape[0]):
            for b in range(v.shape[1]):
                entry = {i: a} if j is None else {i: a, j: b}
                total = total + evaluate(d, env, sizes, entry) * v[a, b]
        return total, norm2(total)
    return apply


def _bound_draws(syms: dict, sizes: dict) -> None:
    """A draw of every symbol (and a direction) holds at most :data:`MAX_DRAWN` entries in
    all: declared sizes of thousands would otherwise take minutes and gigabytes."""
    total = 0
    for s in syms.values():
        r, c = (dim_size(d, sizes) for d in s.dims)
        total += r * c * (2 if "complex" in s.assume else 1)
    if total > MAX_DRAWN:
        raise _draw_limit(total, "at each point")


def _scaled(env: dict, syms: dict, scale: float) -> dict:
    """The draw with every value multiplied by ``scale`` (orthogonal matrices kept: a
    multiple of one is not orthogonal); assumptions such as spd, symmetric, positive,
    diagonal and invertible survive a positive factor."""
    if scale == 1.0:
        return env
    return {k: (v if "orthogonal" in syms[k].assume else v * scale) for k, v in env.items()}


def _symbolically_zero(f: Expr, x: Sym, derivs: list) -> bool:
    """f does not contain x and every derivative is the symbolic 0: nothing to compare, and
    nothing to doubt."""
    return all(isinstance(d, Zero) for d in derivs) and \
        not any(isinstance(n, Sym) and n.name == x.name for n in walk(f))


def check_derivative(f: Expr, x: Sym, syms: dict, apply, derivs: list, *, trials: int = 3,
                     directions: int = 2, seed: int = 0, convention: str = "",
                     real_f: bool = False, symmetric_directions: bool = False) -> Check:
    """Compare the derivative applied to random directions V (``apply(env, sizes, V)``) with
    Richardson-extrapolated central differences of f along V, at random points.

    A comparison proves something only when the numbers compared are not all 0 or denormal
    and f varies at the float level along V; one that does not, or whose finite differences
    overflow, is retried at draws scaled by the factors of :data:`SCALES`.  A draw where no
    scale gives an informative comparison is not counted; when no draw is left the verdict
    is ``not verified`` with the reason, never ``failed`` (which needs a disagreement
    between finite numbers)."""
    rng = Draws(seed)
    sizes = assign_sizes(syms)
    _bound_draws(syms, sizes)
    zero = _symbolically_zero(f, x, derivs)
    worst = 0.0
    worst_pair = ()
    done = 0
    dirs = 0
    used: list = []            # the scale of each counted draw
    scales = list(SCALES)
    why = {"vacuous": 0, "overflow": 0, "no draw": 0, "nan": 0, "inf": 0, "tried": 0}
    with np.errstate(all="ignore"):
        for t in range(trials):
            trial_ok = False
            for scale in list(scales):
                env, sz, seen = _find_draw(f, derivs, syms, sizes, rng, x, scale,
                                           thorough=(t == 0 and scale == scales[0])
                                           or scale == 1.0)
                for k in seen:
                    why[k] += seen[k]
                if env is None:
                    why["no draw"] += 1
                    continue
                if zero:              # f is defined here, and x is not in it
                    return Check(True, 0.0, 0, 0, sz, convention,
                                 note=f"f does not depend on {x.name}, so the derivative "
                                      "is 0")
                x0 = env[x.name]
                f0 = evaluate(f, env, sz)
                if real_f and abs(np.imag(f0[0, 0])) > 1e-9 * max(1.0, abs(f0[0, 0])):
                    return Check(False, float("nan"), done, dirs, sz, convention,
                                 reason="f is complex-valued, so it has no gradient (a real "
                                        "function of complex variables has)")
                results = []
                informative = True
                for _ in range(directions):
                    v = rng.standard_normal(x0.shape)
                    if np.iscomplexobj(x0):
                        v = v + 1j * rng.standard_normal(x0.shape)
                    if symmetric_directions:
                        v = (v + v.T) / 2
                    v = v * scale if "orthogonal" not in x.assume else v
                    res = _one_direction(f, env, sz, x, x0, v, f0, apply, real_f)
                    if res[0] != "ok":
                        why[res[0]] += 1
                        informative = False
                        break
                    results.append(res[1:])
                if not informative:
                    continue          # rescale: this draw proves nothing
                sizes = sz
                for err, fd, an in results:
                    if err >= worst:
                        worst = err
                        worst_pair = (_first(fd), _first(an))
                    dirs += 1
                done += 1
                trial_ok = True
                used.append(scale)
                if scale != scales[0]:   # later draws start at the scale that worked
                    scales.remove(scale)
                    scales.insert(0, scale)
                break
            if not trial_ok and done == 0:
                break                    # no scale helped the first draw: none will
    if done == 0:
        out = Check(False, float("nan"), 0, 0, sizes, convention,
                    reason=_unverified_reason(why))
        # f itself undefined (NaN, a singular matrix) at every draw tried, never merely
        # overflowing or with only its derivative undefined
        out.undefined = why["tried"] > 0 and why["nan"] == why["tried"]
        return out
    return Check(worst <= TOLERANCE, worst, done, dirs, sizes, convention, worst=worst_pair,
                 scale=used[0] if len(set(used)) == 1 else float("nan"))


def _unverified_reason(why: dict) -> str:
    if why["vacuous"] and why["vacuous"] >= why["overflow"]:
        return ("the check proves nothing here: f and the derivative are 0 or denormal "
                "(underflow), or f is flat at the float level, at every draw tried, also at "
                "rescaled draws")
    if why["overflow"]:
        return ("finite differences of f cannot be computed (they overflow or are undefined "
                "near every draw tried, also at rescaled draws)")
    if why["inf"] and not why["nan"]:
        return ("f or its derivative overflows at every random draw tried, also at rescaled "
                "draws")
    return ("f or its derivative is not finite at any random draw (declare assumptions such "
            "as positive or spd)")


def _find_draw(f, derivs, syms, sizes, rng, x, scale, thorough):
    """A valid draw at ``scale``: plain draws, then positive entries and spd matrices; on
    the first (thorough) search also the sizes in the other order (det(A^T X A) needs A
    tall, log det(X^T X) needs X tall).  Returns (env, sizes, counts of non-finite f)."""
    seen = {"nan": 0, "inf": 0, "tried": 0}
    size_sets = (sizes, assign_sizes(syms, reverse=True)) if thorough else (sizes,)
    for sz in size_sets:
        for profile in range(4):
            for _attempt in range(3 if thorough else 1):
                cand = _scaled(draw_env(syms, sz, rng, profile), syms, scale)
                ok, kind = _valid(f, derivs, cand, sz, x)
                seen["tried"] += 1
                if ok:
                    return cand, sz, seen
                if kind:
                    seen[kind] += 1
    return None, sizes, seen


def _one_direction(f, env, sizes, x, x0, v, f0, apply, real_f):
    """One comparison along V: ("ok", error, finite difference, analytic), or
    ("vacuous", ...) / ("overflow", ...) when it proves nothing."""
    def phi(h):
        e2 = dict(env)
        e2[x.name] = x0 + h * v
        val = safe_evaluate(f, e2, sizes)
        if val is None:
            return np.full(f0.shape, np.nan)
        return np.real(val) if real_f else val

    an, magnitude = apply(env, sizes, v)
    if not _finite(an) or not np.isfinite(magnitude):
        return ("overflow",)
    # a floor relative to f and the step keeps an identically zero derivative
    # (sin^2 + cos^2) from dividing rounding noise by zero
    floor = 1e-6 * max(1.0, float(np.max(np.abs(f0)))) * norm2(v) / max(1.0, norm2(x0))
    base = 1e-3 * max(1.0, float(np.max(np.abs(x0))))
    err, fd = float("inf"), None
    # Richardson-extrapolated central differences; where the first step is too coarse or
    # too fine for this f (fast oscillation, cancellation), smaller and larger steps are
    # tried: a right derivative agrees at some step, a wrong one at none
    for h in (base, base / 8, base / 64, base * 4, base / 512, base / 4096):
        e1, fd1 = _compare(phi, h, an, magnitude, floor)
        if fd1 is None:
            continue                  # the differences overflow at this step
        if e1 < err or fd is None:
            err, fd = e1, fd1
        if err <= TOLERANCE:
            break
    if fd is None:
        return ("overflow",)
    an_max = float(np.max(np.abs(an))) if np.size(an) else 0.0
    fd_max = float(np.max(np.abs(fd))) if np.size(fd) else 0.0
    f_max = float(np.max(np.abs(f0))) if np.size(f0) else 0.0
    if an_max < TINY and fd_max < TINY and f_max < TINY:
        # f, its differences and the derivative all 0 or denormal (underflow): any answer
        # would have agreed
        return ("vacuous",)
    if fd_max == 0.0 and an_max >= TINY and err <= TOLERANCE:
        # f flat at the float level along V (its differences exactly 0) while the
        # derivative says it changes: the agreement is the floor's, not f's
        return ("vacuous",)
    return ("ok", err, fd, an)


def _compare(phi, h, an, magnitude, floor):
    """Relative error of ``an`` against the Richardson-extrapolated central difference of
    ``phi`` at step ``h``; returns (error, the difference), or (inf, None) when the
    difference is not finite (f overflows or is undefined near the point)."""
    d1 = (phi(h) - phi(-h)) / (2 * h)
    d2 = (phi(h / 2) - phi(-h / 2)) / h
    fd = (4 * d2 - d1) / 3
    if not _finite(fd):
        return float("inf"), None
    a = np.asarray(an).reshape(np.shape(fd)) if np.size(an) == np.size(fd) else an
    try:
        diff = norm2(fd - a)
    except ValueError:
        diff = float("inf")
    scale = max(norm2(fd), norm2(a), magnitude, floor, 1e-300)
    err = diff / scale
    return (err if np.isfinite(err) else float("inf")), fd


def _first(a) -> float:
    a = np.asarray(a)
    return float(np.real(a.flat[0])) if a.size else float("nan")


def _valid(f: Expr, derivs: list, env: dict, sizes: dict, x: Sym):
    """(whether f and the derivatives are finite and well conditioned at ``env``, and when
    f is not: "nan" where it is undefined, "inf" where it overflows, else None)."""
    fv = safe_evaluate(f, env, sizes)
    if fv is None:
        return False, "nan"
    if not _finite(fv):
        return False, _why_not_finite(f, env, sizes)
    if not all(_well_conditioned(e, env, sizes) for e in (f, *derivs)):
        return False, None
    for d in derivs:
        dv = safe_evaluate(d, env, sizes)          # an entry's indices at 0 (the default)
        if dv is None or not _finite(dv):
            return False, None
    return True, None


def _why_not_finite(f: Expr, env: dict, sizes: dict) -> str:
    """Why f is not finite at ``env``: "inf" where the first floating-point fault is an
    overflow (exp(1000): a magnitude, which a rescaled draw may avoid), else "nan" (log 0,
    0^{-1}, a NaN: undefined there)."""
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            safe_evaluate(f, env, sizes)
    except FloatingPointError as e:
        return "inf" if "overflow" in str(e) else "nan"
    except Exception:
        return "nan"
    return "nan"


def _well_conditioned(f: Expr, env: dict, sizes: dict) -> bool:
    """Inverses in f and in its derivative are evaluated at matrices that are not
    near-singular (condition number at most 1e3: at 1e4, about 0.3% of seeds gave a right
    derivative of tr(X^{-1}A) a false alarm; at 1e3 none in 3,000).  A determinant alone
    is finite even of a singular matrix (det(W - W) + t)."""
    for e in _order(f)[0]:
        if isinstance(e, MatPow) and e.k < 0:
            m = safe_evaluate(e.arg, env, sizes)
            if m is None or m.shape[0] > 1 and np.linalg.cond(m) > 1e3:
                return False
    return True


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
