"""Code generation: f and its derivative as Python source (NumPy, JAX, PyTorch) or as SymPy
matrix expressions.

``emit(result, target)`` turns a :class:`texgrad.api.Result` into source text.  The IR is a
DAG in which identical subtrees are one node, so every non-trivial node is computed once into
a temporary ``t0``, ``t1``, ... that f and its derivative share.  Each target has one table,
node type -> rule; a rule gets the node, the code of its operands (names, literals and other
atoms) and the generator (kinds, sizes, fresh temporaries) and returns a Python expression.

The array targets generate 1-D-aware code in the API's value convention: a value of shape
(1, 1) is a scalar, (n, 1) and (n, 1)^T are 1-D arrays (transposing a vector costs nothing),
anything else is 2-D.  A matrix chain is multiplied in the cheapest order (``A @ (B @ x)``).
log(1^T exp(v)) is computed stably as max(v) + log(sum(exp(v - max(v)))), sharing exp(v -
max(v)) and its sum with a softmax of v.

NumPy code allocates sparingly: a sum, a scaling, a Hadamard product, an elementwise function
or a power is written into an operand when that operand is a temporary holding a new real
array that nothing reads afterwards (``t0 -= Y``, ``np.exp(t0, out=t0)``); a diag(v) or I term
of such a sum goes onto the diagonal (``t5.flat[::n + 1] += v``) and a product read only
negated takes the sign on a vector (``np.outer(-s, s)``).  Arguments are never written into:
they are converted to float64 (those not declared complex), so updates keep the dtype.

Before lowering, :func:`stabilise` rewrites the forms that overflow in float64, for every array
target at once: log(1 + exp(v)) is ``logaddexp(0, v)``, log sigma(v) is -softplus(-v), 1 -
sigma(v) is sigma(-v), e^v / (1 + e^v) is sigma(v), log det X is computed from ``slogdet``;
sigma itself is computed from exp(-|x|).  SymPy output is symbolic and left as written.

Nothing here evaluates user text, and no text becomes code: symbol and dimension names are
turned into identifiers (``_identifier``), a numeric size is written only when it is ASCII
digits, and every other piece of text (the formula, the convention, dimension names in the
docstring, a stamp) goes through one sanitiser, ``_one_line`` (one printable line, no quotes;
:func:`comment_line` makes a ``# ...`` line of it); string literals are ``repr``.  ``emit``
parses what it made and refuses a module that is not one import and ``f_and_grad`` with the
intended docstring.  This module imports neither NumPy nor SymPy: the generated source does.
"""

from __future__ import annotations

import ast
import keyword
import re
from fractions import Fraction

from .functions import BY_NAME, EXP, SIGMA, SIGN, SOFTPLUS
from .ir import (SCALAR, Add, Commutation, Conj, Const, Det, Diag, Expr, Func, Hadamard,
                 Identity, Kron, MatMul, MatPow, Mul, Norm, Ones, Pow, PowSum, SingleEntry,
                 Softmax, Sym, Trace, Transpose, Vec, Zero, node, walk)

TARGETS = ("numpy", "jax", "torch", "sympy")

# a value's kind, from its shape: scalar, column (1-D), row (1-D), matrix (2-D)
S, C, R, M = "scalar", "column", "row", "matrix"


def kind_of(shape) -> str:
    rows, cols = shape
    if rows == 1 and cols == 1:
        return S
    if cols == 1:
        return C
    if rows == 1:
        return R
    return M


def _neg(x: str) -> str:
    """``-x`` for an operand (a double minus cancels)."""
    return x[1:] if x.startswith("-") else "-" + x


def _base(x: str) -> str:
    """An operand as the base of ``**`` (a unary minus binds looser than ``**``)."""
    return f"({x})" if x.startswith("-") else x


def _is_negation(e: Expr) -> bool:
    return (isinstance(e, Mul) and len(e.factors) == 2 and isinstance(e.factors[0], Const)
            and e.factors[0].value == -1)


def _sum(terms) -> str:
    out = terms[0]
    for t in terms[1:]:
        out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
    return out


def _product(e: Mul, a: list) -> str:
    """Scalar factors times the last one; a leading -1 is a minus sign."""
    if isinstance(e.factors[0], Const) and e.factors[0].value == -1 and len(a) > 1:
        rest = " * ".join(a[1:])
        return _neg(rest) if len(a) == 2 else "-" + rest
    return " * ".join(a)


def _add_rule(e, a, g) -> str:        # the same in every target's table
    return _sum(a)


def _mul_rule(e, a, g) -> str:
    return _product(e, a)


def _float_literal(v: Fraction) -> str:
    if v.denominator == 1:
        return f"{v.numerator}.0"
    if float(v) * v.denominator == v.numerator and len(repr(float(v))) <= 8:
        return repr(float(v))                   # 0.5, 0.25, -0.125
    return f"({v.numerator} / {v.denominator})"


def _unsupported(what: str, target: str):
    def rule(e, a, g):
        raise NotImplementedError(f"{type(e).__name__}: {what} has no {target} code rule")
    return rule


# ----------------------------------------------------- numerically stable forms (array targets)

@node
class LogDet(Expr):
    """log det X (``absolute``: log |det X|) of a square matrix, computed from slogdet: a
    determinant that under- or overflows (det 1e-400, 1e400) still has a finite log.  Made
    only by :func:`stabilise` for the array targets; not a node of the IR proper."""
    __slots__ = ("arg", "absolute")
    _kids = ("arg",)

    def _shape(self):
        return SCALAR


_ONE = Const(Fraction(1))
_MINUS_ONE = Const(Fraction(-1))


def _negated(v: Expr) -> Expr:
    """-v, with a double minus cancelled (so -(-v) is the node v itself)."""
    if isinstance(v, Mul) and isinstance(v.factors[0], Const):
        c = -v.factors[0].value
        rest = v.factors[1:]
        if c == 1:
            return rest[0] if len(rest) == 1 else Mul(rest)
        return Mul((Const(c),) + rest)
    if isinstance(v, Const):
        return Const(-v.value)
    return Mul((_MINUS_ONE, v))


def _is_one(e: Expr, shape) -> bool:
    return (isinstance(e, Const) and e.value == 1 and shape == SCALAR) or \
        (isinstance(e, Ones) and e.shape == shape)


def _one_plus_exp(e: Expr):
    """v when ``e`` is 1 + exp(v) (1 a number or an all-ones array of e's shape), else None."""
    if not isinstance(e, Add) or len(e.terms) != 2 or e.cplx:
        return None
    for one, ex in (e.terms, e.terms[::-1]):
        if _is_one(one, e.shape) and isinstance(ex, Func) and ex.name == "exp":
            return ex.arg
    return None


def _one_minus_sigma(e: Expr):
    """v when ``e`` is 1 - sigma(v), else None."""
    if not isinstance(e, Add) or len(e.terms) != 2 or e.cplx:
        return None
    for one, t in (e.terms, e.terms[::-1]):
        if _is_one(one, e.shape) and _is_negation(t) and isinstance(t.factors[1], Func) \
                and t.factors[1].name == "sigma":
            return t.factors[1].arg
    return None


def _softplus(v: Expr) -> Expr:
    """log(1 + exp(v))."""
    return Func(SOFTPLUS, v)


def _sigma_power(u: Expr, p: Fraction) -> Expr:
    s = Func(SIGMA, u)
    return s if p == 1 else Pow(s, p)


def _stable_log(e: Func):
    """A stable form of log(arg), or None."""
    a = e.arg
    v = _one_plus_exp(a)
    if v is not None:                          # log(1 + exp(v)) = softplus(v)
        return _softplus(v)
    if isinstance(a, Pow) and _one_plus_exp(a.arg) is not None:   # log((1 + e^v)^p)
        sp = _softplus(_one_plus_exp(a.arg))
        return sp if a.p == 1 else _negated(sp) if a.p == -1 else Mul((Const(a.p), sp))
    if isinstance(a, Func) and a.name == "sigma" and not a.cplx:   # log sigma(v) = -softplus(-v)
        return _negated(_softplus(_negated(a.arg)))
    # log(1 - sigma(v)) arrives as log sigma(-v): 1 - sigma(v) is rewritten first
    if isinstance(a, Det) and a.arg.shape[0] != 1:                 # log det X
        return LogDet(a.arg, False)
    if isinstance(a, Func) and a.name == "abs" and isinstance(a.arg, Det) and \
            a.arg.arg.shape[0] != 1:                                # log |det X|
        return LogDet(a.arg.arg, True)
    return None


def _factor_power(f: Expr):
    return (f.arg, f.p) if isinstance(f, Pow) else (f, Fraction(1))


def _pair_exp_sigma(factors: tuple):
    """In a product, exp(v)^j sigma(-v)^k -> sigma(v)^m sigma(-v)^(k-m) exp(v)^(j-m), m =
    min(j, k) (exp(v) sigma(-v) = e^v / (1 + e^v) = sigma(v): no inf / inf), and x^j |x|^-k
    -> sign(x)^m |x|^-(k-m) x^(j-m) for whole j, k (sign(x)^2 = 1 where |x|^-1 is finite).
    The new factors, or None when nothing pairs.  Linear in the number of factors."""
    parts = [list(_factor_power(f)) for f in factors]

    def by_arg(name, keep):
        out: dict = {}
        for q in parts:
            if isinstance(q[0], Func) and q[0].name == name and keep(q[1]):
                out.setdefault(q[0].arg, q)
        return out
    changed = False
    sigmas = by_arg("sigma", lambda k: k > 0)
    if sigmas:
        for i in range(len(parts)):
            b, j = parts[i]
            if not (isinstance(b, Func) and b.name == "exp" and j > 0 and not b.cplx):
                continue
            other = sigmas.get(_negated(b.arg))
            if other is None or other[1] <= 0:
                continue
            m = min(j, other[1])
            other[1] -= m
            if j == m:
                parts[i] = [Func(SIGMA, b.arg), m]
            else:                              # exp(v)^(j-m) stays; sigma(v)^m is new
                parts[i] = [b, j - m]
                parts.append([Func(SIGMA, b.arg), m])
            changed = True
    whole = lambda k: k.denominator == 1       # noqa: E731
    absolutes = by_arg("abs", lambda k: k < 0 and whole(k))
    if absolutes:
        signs = by_arg("sign", whole)
        for i in range(len(parts)):
            b, j = parts[i]
            if j <= 0 or not whole(j) or b.shape != SCALAR or b.cplx or isinstance(b, Const):
                continue
            other = absolutes.get(b)
            if other is None or other[1] >= 0:
                continue
            m = min(j, -other[1])
            parts[i] = [b, j - m]
            other[1] += m
            sign = signs.get(b)
            if sign is None:
                signs[b] = sign = [Func(SIGN, b), Fraction(0)]
                parts.append(sign)
            sign[1] = (sign[1] + m) % 2
            changed = True
    if not changed:
        return None
    out = tuple(base if p == 1 else Pow(base, p) for base, p in parts if p != 0)
    return out or (_ONE,)


def _stable_node(e: Expr):
    """A numerically stable replacement of node ``e`` (whose children are stable already),
    or None."""
    if isinstance(e, Func) and e.name == "log" and not e.cplx:
        return _stable_log(e)
    if isinstance(e, Add):                       # 1 - sigma(v) = sigma(-v), to the last bit
        v = _one_minus_sigma(e)                  # (1 - sigma(40) is 0, sigma(-40) 4.2e-18)
        if v is not None:
            return Func(SIGMA, _negated(v))
    if isinstance(e, Pow) and e.p < 0:          # (1 + e^v)^p = sigma(-v)^(-p)
        v = _one_plus_exp(e.arg)
        if v is not None:
            return _sigma_power(_negated(v), -e.p)
    if isinstance(e, Hadamard):
        fs = _pair_exp_sigma(e.factors)
        if fs is not None:
            return fs[0] if len(fs) == 1 else Hadamard(fs)
    if isinstance(e, Mul):
        scalars = e.factors if e.factors[-1].shape == SCALAR else e.factors[:-1]
        rest = e.factors[len(scalars):]
        fs = _pair_exp_sigma(scalars)
        if fs is not None:
            fs = tuple(f for f in fs if f != _ONE) + rest
            if not fs:
                return _ONE
            consts = [f for f in fs if isinstance(f, Const)]
            others = [f for f in fs if not isinstance(f, Const)]
            fs = tuple(consts + others)          # a constant first (a leading -1 is a sign)
            return fs[0] if len(fs) == 1 else Mul(fs)
    return None


def _rebuilt(e: Expr, kids: list) -> Expr:
    """``e`` with its children replaced (the same node when none changed)."""
    if all(a is b for a, b in zip(e.children, kids)):
        return e
    cls = type(e)
    spec = cls._kids
    if spec[0].startswith("*"):
        values = [tuple(kids) if f == spec[0][1:] else getattr(e, f) for f in cls._fields]
    else:
        new = dict(zip(spec, kids))
        values = [new.get(f, getattr(e, f)) for f in cls._fields]
    return cls(*values)


def stabilise(roots: list) -> list:
    """The expressions with their overflowing forms replaced by stable ones, the one place
    this is decided for every array target (however the formula spelled them):

    - log(1 + exp(v)) -> softplus(v) (``logaddexp(0, v)``); log((1 + e^v)^p) -> p softplus(v);
    - log sigma(v) -> -softplus(-v); 1 - sigma(v) -> sigma(-v), so log(1 - sigma(v)) ->
      -softplus(v);
    - (1 + e^v)^p, p < 0 -> sigma(-v)^(-p), and exp(v) sigma(-v) -> sigma(v) in a product
      (the derivative e^v / (1 + e^v) of softplus is sigma(v), not inf / inf);
    - log det X, log |det X| -> slogdet (LogDet).

    sigma itself and log(1^T exp(v)) have stable rules of their own.  Complex values are left
    alone.  Shared subtrees stay shared (the rewrite is memoised over the DAG)."""
    memo: dict = {}
    for root in roots:
        for e in walk(root):
            if e in memo:
                continue
            new = _rebuilt(e, [memo[c] for c in e.children])
            for _ in range(4):                   # a replacement may match again (log sigma)
                better = _stable_node(new)
                if better is None or better == new:
                    break
                new = better
            memo[e] = new
    return [memo[r] for r in roots]


# ----------------------------------------------------------------- array targets (tables)

class _Lib:
    """What differs between NumPy, JAX and PyTorch in the array rules."""

    def __init__(self, target, mod, imports, dtype, inplace=False):
        self.target = target
        self.mod = mod                  # np / jnp / torch
        self.imports = imports
        self.dtype = dtype              # ", dtype=torch.float64" for constructors
        self.inplace = inplace          # may update a dead temporary in place (NumPy only:
        #                                 JAX arrays are immutable, torch autograd forbids it)


NUMPY_LIB = _Lib("numpy", "np", "import numpy as np", "",
                 inplace=True)
JAX_LIB = _Lib("jax", "jnp", "import jax.numpy as jnp", "")
TORCH_LIB = _Lib("torch", "torch", "import torch", ", dtype=torch.float64")


# the table key of the fused log(1^T exp(v)) rule (not a node type; array targets only)
_LOGSUMEXP = "logsumexp"


def _array_table(lib: _Lib) -> dict:
    """The rules of one array target: node type -> (node, operand code, generator) -> code."""
    mod, dt = lib.mod, lib.dtype

    def lift(x: str, k: str) -> str:
        """A value as a 2-D array."""
        if k == C:
            return f"{x}[:, None]"
        if k == R:
            return f"{x}[None, :]"
        if k == S:
            if mod == "torch":
                return f"torch.as_tensor({x}{dt}).reshape(1, 1)"
            return f"{mod}.reshape({x}, (1, 1))"
        return x

    def unlift(x: str, k: str) -> str:
        """A 2-D array back to the value's kind."""
        return {S: f"{x}[0, 0]", C: f"{x}[:, 0]", R: f"{x}[0, :]"}.get(k, x)

    def const(e, a, g):
        return _float_literal(e.value)

    def identity(e, a, g):
        return "1.0" if e.n == 1 else f"{mod}.eye({g.size(e.n)}{dt})"

    def filled(fill, literal):
        def rule(e, a, g):
            k = kind_of(e.shape)
            if k == S:
                return literal
            if k in (C, R):
                n = e.shape[0] if k == C else e.shape[1]
                return f"{mod}.{fill}({g.size(n)}{dt})"
            return f"{mod}.{fill}(({g.size(e.shape[0])}, {g.size(e.shape[1])}){dt})"
        return rule

    def matmul(e, a, g):
        fs = e.factors
        if len(fs) == 2 and g.kind(e) == S:    # 1^T v and v^T 1 are sums
            for i, j in ((0, 1), (1, 0)):
                one = fs[i].arg if isinstance(fs[i], Transpose) else fs[i]
                if isinstance(one, Ones) and g.kind(fs[j]) in (C, R):
                    return f"{mod}.sum({a[j]})"

        def times(x, y, kx, ky):          # -> (code, whether it is a binary operation)
            if S in (kx, ky):
                return f"{x} * {y}", True
            if kx == C and ky == R:
                return f"{mod}.outer({x}, {y})", False
            return f"{x} @ {y}", True
        return g.chain(list(e.factors), a, times)

    def hadamard(e, a, g):
        return " * ".join(a)

    def kron(e, a, g):
        (x, y), (kx, ky) = a, (g.kind(e.left), g.kind(e.right))
        if S in (kx, ky):
            return f"{x} * {y}"
        if mod == "torch":               # torch.kron fails on some strided inputs (B.T)
            x, y = f"{x}.contiguous()", f"{y}.contiguous()"
        if kx == ky and kx in (C, R):
            return f"{mod}.kron({x}, {y})"
        if (kx, ky) == (C, R):
            return f"{mod}.outer({x}, {y})"
        if (kx, ky) == (R, C):
            return f"{mod}.outer({y}, {x})"
        return f"{mod}.kron({lift(x, kx)}, {lift(y, ky)})"

    def transpose(e, a, g):
        return f"{a[0]}.T" if g.kind(e) == M else a[0]

    def matpow(e, a, g):
        x, k = a[0], e.k
        if g.kind(e) == S:
            return f"{_base(x)} ** {k}" if k >= 0 else f"1.0 / {_base(x)} ** {-k}"
        if k == -1:
            return f"{mod}.linalg.inv({x})"
        if k == 0:
            return f"{mod}.eye({g.size(e.shape[0])}{dt})"
        if k == 1:
            return x
        if k == 2:
            return f"{x} @ {x}"
        return f"{mod}.linalg.matrix_power({x}, {k})"

    def powsum(e, a, g):
        ka, kg, kb = (g.kind(c) for c in e.children)
        am, gm, bm = lift(a[0], ka), lift(a[1], kg), lift(a[2], kb)
        mp = f"{mod}.linalg.matrix_power"
        total = (f"sum({mp}({am}, r) @ {gm} @ {mp}({bm}, {e.k - 1} - r) "
                 f"for r in range({e.k}))")
        return unlift(f"({total})", kg) if kg != M else total

    def power(e, a, g):
        x, p = a[0], e.p
        if p.denominator == 1:
            k = int(p)
            return f"{_base(x)} ** {k}" if k >= 0 else \
                f"1.0 / {_base(x)}" if k == -1 else f"1.0 / {_base(x)} ** {-k}"
        if p == Fraction(1, 2):
            return f"{mod}.sqrt({x})"
        fn = "torch.pow" if mod == "torch" else f"{mod}.power"
        return f"{fn}({x}, {_float_literal(p)})"

    def func(e, a, g):
        if e.name == "sigma" and mod != "torch" and not e.cplx and hasattr(g, "temp"):
            # 1 / (1 + e^{-x}) for x >= 0, e^x / (1 + e^x) for x < 0, from t = e^{-|x|}:
            # nothing overflows and the relative error is an ulp or two everywhere (the
            # tanh form loses every digit of sigma(-40) = 4.2e-18); torch.sigmoid is so already
            t = g.temp(f"{mod}.exp(-{mod}.abs({a[0]}))")
            return f"{mod}.where({a[0]} >= 0, 1.0, {t}) / (1.0 + {t})"
        tpl = e.spec.code.get(lib.target)       # the template of the function's record
        if tpl is None:
            raise NotImplementedError(f"Func: the elementwise function {e.name!r} has no "
                                      f"{lib.target} code rule")
        return tpl.format(x=a[0])

    def trace(e, a, g):
        return a[0] if g.kind(e.arg) == S else f"{mod}.trace({a[0]})"

    def det(e, a, g):
        return a[0] if g.kind(e.arg) == S else f"{mod}.linalg.det({a[0]})"

    def logdet(e, a, g):
        """log det X = log(sign) + log|det X| from slogdet: finite where det itself under-
        or overflows; log(sign) is 0 for a positive determinant, nan for a negative one
        and -inf for a singular X, as log(det X) is (the phase for a complex X)."""
        t = g.temp(f"{mod}.linalg.slogdet({a[0]})")
        return f"{t}[1]" if e.absolute else f"{t}[1] + {mod}.log({t}[0])"

    def norm(e, a, g):
        return f"{mod}.abs({a[0]})" if g.kind(e.arg) == S else f"{mod}.linalg.norm({a[0]})"

    def diag(e, a, g):
        k = g.kind(e.arg)
        if k == S:
            return a[0]
        if k == R:
            return f"{a[0]}[0]"
        return f"{mod}.diag({a[0]})"

    def shifted_exp(v, g):
        """max(v), exp(v - max(v)) and its sum: temporaries that a softmax and a log-sum-exp
        of the same v share."""
        m = g.shared(f"{mod}.max({v})")
        z = g.shared(f"{mod}.exp({v} - {m})")
        return m, z, g.shared(f"{mod}.sum({z})")

    def softmax(e, a, g):
        if g.kind(e) == S:
            return "1.0"
        _, z, total = shifted_exp(a[0], g)
        return f"{z} / {total}"

    def logsumexp(e, a, g):
        """log(1^T exp(v)) (a = [the code of v]) computed stably as
        m + log(sum(exp(v - m))), m = max(v)."""
        m, _, total = shifted_exp(a[0], g)
        return f"{m} + {mod}.log({total})"

    def conj(e, a, g):
        if mod == "torch":               # torch.conj is a lazy view that .numpy() refuses
            return f"torch.conj_physical({a[0]})"
        return f"{mod}.conj({a[0]})"

    def vec(e, a, g):
        return f"{a[0]}.T.reshape(-1)" if g.kind(e.arg) == M else a[0]

    def commutation(e, a, g):
        m, n = g.size(e.m), g.size(e.n)
        if g.kind(e) == S:
            return "1.0"
        d = f"{m} * {n}"
        return f"{mod}.eye({d}{dt})[{mod}.arange({d}).reshape({n}, {m}).T.reshape(-1)]"

    return {
        Const: const, Identity: identity, Ones: filled("ones", "1.0"),
        Zero: filled("zeros", "0.0"), Add: _add_rule, Mul: _mul_rule, MatMul: matmul,
        Hadamard: hadamard,
        Kron: kron, Transpose: transpose, MatPow: matpow, PowSum: powsum, Pow: power,
        Func: func, Trace: trace, Det: det, Norm: norm, Diag: diag, Softmax: softmax,
        Conj: conj, Vec: vec, Commutation: commutation,
        SingleEntry: _unsupported("the single-entry matrix J^{ij} (a derivative by an entry)",
                                  lib.target),
        _LOGSUMEXP: logsumexp, LogDet: logdet,
    }


NUMPY = _array_table(NUMPY_LIB)
JAX = _array_table(JAX_LIB)
TORCH = _array_table(TORCH_LIB)


# --------------------------------------------------------------------------- sympy table

def _sympy_table() -> dict:
    def const(e, a, g):
        v = e.value
        if v.denominator == 1:
            return str(v.numerator)
        g.use("Rational")
        return f"Rational({v.numerator}, {v.denominator})"

    def identity(e, a, g):
        if e.n == 1:
            return "1"
        g.use("Identity")
        return f"Identity({g.size(e.n)})"

    def filled(name, literal):
        def rule(e, a, g):
            if g.kind(e) == S:
                return literal
            g.use(name)
            return f"{name}({g.size(e.shape[0])}, {g.size(e.shape[1])})"
        return rule

    def matmul(e, a, g):
        text = " * ".join(a)
        if g.kind(e) == S and any(g.kind(c) != S for c in e.factors):
            g.use("Trace")               # a 1 x 1 matrix as a scalar
            g.scalar_products = True
            return f"Trace({text})"
        return text

    def hadamard(e, a, g):
        scalars = [x for x, c in zip(a, e.factors) if g.kind(c) == S]
        arrays = [x for x, c in zip(a, e.factors) if g.kind(c) != S]
        if len(arrays) > 1:
            g.use("HadamardProduct")
            arrays = [f"HadamardProduct({', '.join(arrays)})"]
        return " * ".join(scalars + arrays)

    def kron(e, a, g):
        if S in (g.kind(e.left), g.kind(e.right)):
            return f"{a[0]} * {a[1]}"
        g.use("KroneckerProduct")
        return f"KroneckerProduct({a[0]}, {a[1]})"

    def transpose(e, a, g):
        return a[0] if g.kind(e) == S else f"{a[0]}.T"

    def matpow(e, a, g):
        if e.k == -1 and g.kind(e) != S:
            g.use("Inverse")
            return f"Inverse({a[0]})"
        return f"{_base(a[0])}**{e.k}" if e.k >= 0 else f"{_base(a[0])}**({e.k})"

    def powsum(e, a, g):
        x, gg, y = a
        add_ = "Add" if g.kind(e) == S else "MatAdd"
        g.use(add_)
        return (f"{add_}(*[{_base(x)}**r * {gg} * {_base(y)}**({e.k - 1} - r) "
                f"for r in range({e.k})])")

    def rational(p: Fraction, g) -> str:
        if p.denominator == 1:
            return str(p.numerator) if p >= 0 else f"({p.numerator})"
        g.use("Rational")
        return f"Rational({p.numerator}, {p.denominator})"

    def power(e, a, g):
        if g.kind(e) == S:
            return f"{_base(a[0])}**{rational(e.p, g)}"
        g.use("HadamardPower")
        return f"HadamardPower({a[0]}, {rational(e.p, g).strip('()')})"

    def func(e, a, g):
        scalar = g.kind(e) == S
        if e.name == "sigma":
            g.use("exp")
            return f"1 / (1 + exp({_neg(a[0])}))" if scalar else \
                f"{a[0]}.applyfunc(lambda z: 1 / (1 + exp(-z)))"
        name = e.spec.code.get("sympy")         # a SymPy function's name, from the record
        if name is None:
            raise NotImplementedError(f"Func: the elementwise function {e.name!r} has no "
                                      "sympy code rule")
        g.use(name)
        return f"{name}({a[0]})" if scalar else f"{a[0]}.applyfunc({name})"

    def trace(e, a, g):
        if g.kind(e.arg) == S:
            return a[0]
        g.use("Trace")
        return f"Trace({a[0]})"

    def det(e, a, g):
        if g.kind(e.arg) == S:
            return a[0]
        g.use("Determinant")
        return f"Determinant({a[0]})"

    def norm(e, a, g):
        if g.kind(e.arg) == S:
            g.use("Abs")
            return f"Abs({a[0]})"
        g.use("sqrt", "Trace")
        if e.arg.cplx:
            g.use("Adjoint")
            return f"sqrt(Trace(Adjoint({a[0]}) * {a[0]}))"
        return f"sqrt(Trace({a[0]}.T * {a[0]}))"

    def diag(e, a, g):
        k = g.kind(e.arg)
        if k == S:
            return a[0]
        if k == R:
            return f"{a[0]}[0, 0]"
        name = "DiagMatrix" if k == C else "DiagonalOf"
        g.use(name)
        return f"{name}({a[0]})"

    def softmax(e, a, g):
        if g.kind(e) == S:
            return "1"
        g.use("exp", "OneMatrix", "Trace")
        z = g.computed(Func(EXP, e.arg)) or g.temp(f"{a[0]}.applyfunc(exp)")
        return f"{z} / Trace(OneMatrix(1, {g.size(e.shape[0])}) * {z})"

    def conj(e, a, g):
        g.use("conjugate")
        return f"conjugate({a[0]})"

    def vec(e, a, g):
        k = g.kind(e.arg)
        if k == M:
            raise NotImplementedError("Vec: vec of a matrix has no SymPy matrix-expression "
                                      "equivalent")
        return f"{a[0]}.T" if k == R else a[0]

    return {
        Const: const, Identity: identity, Ones: filled("OneMatrix", "1"),
        Zero: filled("ZeroMatrix", "0"), Add: _add_rule, Mul: _mul_rule, MatMul: matmul,
        Hadamard: hadamard, Kron: kron, Transpose: transpose, MatPow: matpow, PowSum: powsum,
        Pow: power, Func: func, Trace: trace, Det: det, Norm: norm, Diag: diag,
        Softmax: softmax, Conj: conj, Vec: vec,
        Commutation: _unsupported("the commutation matrix K_{mn} (no SymPy matrix-expression "
                                  "equivalent)", "sympy"),
        SingleEntry: _unsupported("the single-entry matrix J^{ij} (a derivative by an entry)",
                                  "sympy"),
    }


SYMPY = _sympy_table()

TABLES = {"numpy": NUMPY, "jax": JAX, "torch": TORCH, "sympy": SYMPY}
LIBS = {"numpy": NUMPY_LIB, "jax": JAX_LIB, "torch": TORCH_LIB}


# -------------------------------------------------------------------------- the generator

_TEMP = re.compile(r"t\d+")
_RESERVED = set(keyword.kwlist) | {
    "np", "jnp", "jax", "torch", "sympy", "r", "z", "f", "derivative", "f_and_grad", "sum",
    "range", "None", "True", "False",
    # names the SymPy source may import
    "MatrixSymbol", "symbols", "Rational", "Identity", "OneMatrix", "ZeroMatrix", "Trace",
    "HadamardProduct", "KroneckerProduct", "Inverse", "Add", "MatAdd", "HadamardPower", "exp",
    "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "atan", "Abs", "sign", "Determinant",
    "sqrt", "Adjoint", "DiagMatrix", "DiagonalOf", "conjugate", "Integer"}

# how sizes are guessed when ordering a matrix chain (only the order of magnitude matters)
_CHAIN_SIZE = 64

_TEMP_REF = re.compile(r"\bt\d+\b")        # user names never look like a temporary

# NumPy calls that return a new array (a temporary holding one may be updated in place)
_NEW_ARRAY = frozenset({
    "np.outer", "np.kron", "np.linalg.inv", "np.eye", "np.ones", "np.zeros", "np.sqrt",
    "np.power", "np.conj", "np.logaddexp"})


def _temps_in(text: str) -> list:
    """The temporaries a piece of code mentions, once per mention."""
    return _TEMP_REF.findall(text)


def _new_array(text: str, kind: str) -> bool:
    """Whether NumPy code surely makes a new array: an operator or a call making one at its
    top (not a possible view such as ``t0[:, 0]``, ``X.T.reshape(-1)`` or a diagonal)."""
    if kind == S:
        return False
    top = ast.parse(text, mode="eval").body
    if isinstance(top, ast.BinOp) or isinstance(top, ast.UnaryOp) and \
            isinstance(top.op, ast.USub):
        return True
    if isinstance(top, ast.Call):
        name = ast.unparse(top.func)
        return name in _NEW_ARRAY or name == "np.diag" and kind == M or (
            name.startswith("np.") and getattr(BY_NAME.get(name[3:]), "ufunc", False))
    return False


def _identifier(name: str, taken: set, prefix: str) -> str:
    """A Python identifier for a user-given name, distinct from ``taken``."""
    base = re.sub(r"\W", "_", name, flags=re.ASCII) or prefix
    if not base.isidentifier() or base[0].isdigit():
        base = prefix + base
    if base in _RESERVED or _TEMP.fullmatch(base) or base in taken:
        base = prefix + base if prefix not in ("", "_") else base + "_"
    out, i = base, 1
    while out in taken or out in _RESERVED or _TEMP.fullmatch(out):
        out = f"{base}_{i}"
        i += 1
    taken.add(out)
    return out


def _one_line(text) -> str:
    """The one sanitiser of text spliced into generated code outside a name: any text (a
    formula, a convention, a dimension name, a stamp) as one line of printable characters
    without quotes or backslash-newlines, safe inside a raw triple-quoted docstring and in a
    ``#`` comment.  Every whitespace run (newlines, U+2028, U+0085, form feeds...) becomes
    one space; control, format, surrogate and other unprintable characters and both quote
    characters are dropped."""
    text = " ".join(str(text).split())
    return "".join(ch for ch in text if ch.isprintable() and ch not in "\"'") or "?"


def comment_line(text) -> str:
    """Any text (a stamp, a warning) as exactly one safe Python comment line ``# ...``:
    nothing in it can end the comment, whatever the text holds."""
    return "# " + _one_line(text)


_SIZE = re.compile(r"#[0-9]+\Z")


def _numeric_dim(d) -> bool:
    """Whether ``d`` is a numeric size (``"#3"``, ASCII digits only): the only dimension
    text written into code as it is."""
    return isinstance(d, str) and _SIZE.match(d) is not None


def _dim_text(d) -> str:
    """A dimension for a docstring, comment or message (sanitised: a dimension name may come
    from a Result built by hand)."""
    if isinstance(d, tuple):
        return "*".join(_dim_text(x) for x in d)
    if isinstance(d, int):
        return str(d)
    return _one_line(d[1:] if _numeric_dim(d) else d)


def _user_dims(shape) -> list:
    """The dimensions of a value in the API's convention (vectors 1-D, scalars none)."""
    k = kind_of(shape)
    return [] if k == S else [shape[0]] if k == C else [shape[1]] if k == R else list(shape)


class _Gen:
    """Walks the DAG of f and its derivative once and writes one line per temporary."""

    def __init__(self, result, target: str):
        self.r = result
        self.target = target
        self.table = TABLES[target]
        self.lines: list = []
        self.ntemp = 0
        self.imports: set = set()
        self.dims_used: list = []
        self.code: dict = {}                 # node -> its code (a temporary, name or atom)
        self.scalar_products = False
        self.lib = LIBS.get(target)
        self.inplace = self.lib is not None and self.lib.inplace
        self.uses: dict = {}                 # node -> how many nodes (and roots) read it
        self.shared_temps: dict = {}         # code -> the temporary holding it (rules share)
        # planned before the walk (see _plan)
        self.skip: set = set()               # nodes a fusion computes otherwise
        self.lse: dict = {}                  # log(1^T exp(v)) -> v
        self.fold: dict = {}                 # product P -> the operand taking -(P)'s sign
        self.folded: set = set()             # the negations -(P) so folded
        # in-place bookkeeping (NumPy)
        self.owned: set = set()              # temporaries holding an array only they refer to
        self.pending: dict = {}              # temporary -> reads still to come
        taken: set = set()
        self.args = {name: _identifier(name, taken, "_") for name in sorted(result.symbols)}
        self.dimvar: dict = {}
        for s in result.symbols.values():
            for d in s.dims:
                for x in (d if isinstance(d, tuple) else (d,)):
                    if isinstance(x, str) and not _numeric_dim(x) and x not in self.dimvar:
                        self.dimvar[x] = _identifier(x, taken, "dim_")
        self.taken = taken

    # -- services for the rules
    def kind(self, e: Expr) -> str:
        return kind_of(e.shape)

    def use(self, *names):
        self.imports.update(names)

    def computed(self, e: Expr):
        """The code of a node computed already (None if it is not)."""
        return self.code.get(e)

    def temp(self, text: str) -> str:
        name = f"t{self.ntemp}"
        self.ntemp += 1
        self.lines.append(f"{name} = {text}")
        return name

    def shared(self, text: str) -> str:
        """A temporary for ``text`` that every rule asking for the same code gets (it is
        never updated in place: a later rule may read it)."""
        name = self.shared_temps.get(text)
        if name is None:
            name = self.shared_temps[text] = self.temp(text)
        return name

    def size(self, d) -> str:
        """Code for the size of a dimension (bound from the arguments' shapes)."""
        if d == 1:
            return "1"
        if isinstance(d, tuple):
            return " * ".join(self.size(x) for x in d)
        if isinstance(d, int):
            return str(int(d))
        if _numeric_dim(d):
            return d[1:]
        if d not in self.dimvar:
            self.dimvar[d] = _identifier(str(d), self.taken, "dim_")
        if d not in self.dims_used:
            self.dims_used.append(d)
        return self.dimvar[d]

    def chain(self, factors: list, code: list, times) -> str:
        """A matrix chain in the cheapest order (``A @ (B @ x)``, not ``(A @ B) @ x``).
        ``times(x, y, kind_x, kind_y)`` multiplies two operands and says whether its code
        is a binary operation; ``*`` and ``@`` associate to the left, so only a compound
        right operand needs parentheses."""
        dims = [factors[0].shape[0]] + [f.shape[1] for f in factors]

        def est(d):
            if d == 1:
                return 1
            if isinstance(d, tuple):
                out = 1
                for x in d:
                    out *= est(x)
                return out
            return int(d[1:]) if _numeric_dim(d) else _CHAIN_SIZE

        n = len(factors)
        cost = {(i, i): 0 for i in range(n)}
        split = {}
        for length in range(2, n + 1):
            for i in range(n - length + 1):
                j = i + length - 1
                best = None
                for k in range(i, j):
                    c = cost[i, k] + cost[k + 1, j] + est(dims[i]) * est(dims[k + 1]) * \
                        est(dims[j + 1])
                    if best is None or c <= best:      # ties: left to right
                        best, split[i, j] = c, k
                cost[i, j] = best

        def render(i, j):
            if i == j:
                return code[i], False
            k = split[i, j]
            (x, _), (y, compound) = render(i, k), render(k + 1, j)
            if compound:
                y = f"({y})"
            kx, ky = kind_of((dims[i], dims[k + 1])), kind_of((dims[k + 1], dims[j + 1]))
            return times(x, y, kx, ky)

        return render(0, n - 1)[0]

    # -- the walk
    def run(self, roots: list) -> list:
        if self.lib is not None:                 # the array targets compute in float64
            roots = stabilise(roots)
        order, seen = [], set()
        for root in roots:
            for e in walk(root):
                if e not in seen:
                    seen.add(e)
                    order.append(e)
        uses = self.uses
        for e in order:
            for c in e.children:
                uses[c] = uses.get(c, 0) + 1
        for root in roots:
            uses[root] = uses.get(root, 0) + 1
        self._plan(order)
        code, pending = self.code, self.pending
        for e in order:
            if e in self.skip:
                continue
            if isinstance(e, Sym):
                if e.name not in self.args:
                    raise NotImplementedError(f"Sym: {e.name} is not among the result's "
                                              "symbols")
                code[e] = self.args[e.name]
                continue
            operands = [code[self.lse[e]]] if e in self.lse else [code[c] for c in e.children]
            for x in operands:                   # these reads are done after this node
                for t in _temps_in(x):
                    pending[t] -= 1
            code[e] = self._node_code(e, operands)
            for t in _temps_in(code[e]):          # every reader of e reads these
                pending[t] = pending.get(t, 0) + uses[e]
        return [code[root] for root in roots]

    def _node_code(self, e: Expr, operands: list) -> str:
        """The code of a node: an atom or an inline expression, a new temporary, or (NumPy)
        a dead temporary operand updated in place."""
        if e in self.folded:                     # -(P) with the sign already inside P
            return operands[1]
        if e in self.lse:
            rule = self.table[_LOGSUMEXP]
        else:
            rule = self.table.get(type(e))
            if rule is None:
                raise NotImplementedError(f"{type(e).__name__}: no {self.target} code rule")
        if self.inplace and e not in self.lse:
            updated = self._in_place(e, operands)
            if updated is not None:
                return updated
        if e in self.fold:
            i = self.fold[e]
            operands = operands[:i] + [_neg(operands[i])] + operands[i + 1:]
        text = rule(e, operands, self)
        once = self.uses.get(e, 0) <= 1
        if (isinstance(e, (Const, Transpose)) or text in operands
                or (once and (_is_negation(e)
                              or isinstance(e, (Identity, Ones, Zero, Commutation))))
                or isinstance(e, (Identity, Ones, Zero)) and kind_of(e.shape) == S
                or once and self.inplace and isinstance(e, Diag) and self.kind(e) == M):
            return text                          # a diag(v) read once: see _add_in_place
        name = self.temp(text)
        if self.inplace:
            if _new_array(text, self.kind(e)):
                self.owned.add(name)
            else:                                # it may be a view of what it mentions
                self.owned.difference_update(_temps_in(text))
        return name

    # -- fusions planned before the walk
    def _plan(self, order: list):
        """log(1^T exp(v)) becomes a log-sum-exp of v (its exp and sum are not computed, and
        a softmax of v shares its temporaries); in NumPy, a product P read only by -(P)
        takes the sign on its cheapest operand (``np.outer(-s, s)``), so that an update
        in place can add P instead of subtracting it."""
        moved = set()                            # (node, child) reads a fused node takes over
        if _LOGSUMEXP in self.table:
            for e in order:
                ex = self._exp_summed_by_log(e)
                if ex is not None:
                    self.lse[e] = ex.arg
                    self.skip.update((e.arg, ex))
                    moved.add((ex, ex.arg))
        if self.skip:                            # what only skipped nodes read is not needed
            dead: dict = {}
            for e in reversed(order):            # parents before children
                if e not in self.skip:
                    continue
                for c in e.children:
                    if (e, c) not in moved:
                        dead[c] = dead.get(c, 0) + 1
                        if dead[c] == self.uses[c]:
                            self.skip.add(c)
        if self.inplace:
            for e in order:
                if _is_negation(e) and e not in self.skip:
                    p = e.factors[1]
                    if (isinstance(p, (MatMul, Kron)) and self.uses[p] == 1
                            and self.kind(p) != S):
                        kinds = [self.kind(c) for c in p.children]
                        cheap = [i for i, k in enumerate(kinds) if k != M]
                        if cheap:                # a scalar before a vector
                            self.fold[p] = min(cheap, key=lambda i: kinds[i] != S)
                            self.folded.add(e)

    def _exp_summed_by_log(self, e: Expr):
        """The exp(v) node when ``e`` is log(1^T exp(v)) (v a real vector) and nothing else
        reads the sum or the exp, else None."""
        if not (isinstance(e, Func) and e.name == "log" and isinstance(e.arg, MatMul)):
            return None
        total = e.arg
        if len(total.factors) != 2 or self.kind(total) != S or self.uses[total] != 1:
            return None
        for one, ex in (total.factors, total.factors[::-1]):
            one = one.arg if isinstance(one, Transpose) else one
            if (isinstance(one, Ones) and isinstance(ex, Func) and ex.name == "exp"
                    and self.kind(ex) in (C, R) and self.uses[ex] == 1 and not ex.cplx):
                return ex
        return None

    # -- updates in place (NumPy)
    def _reusable(self, x: str, child: Expr, e: Expr, operands: list) -> bool:
        """Whether operand code ``x`` is a temporary that node ``e`` may overwrite with its
        own value: an array this code made (not an argument, a view or a shared value), of
        e's shape, and read by nothing else, now or later."""
        return (x in self.owned and self.pending.get(x, 0) == 0
                and sum(_temps_in(y).count(x) for y in operands) == 1
                and _user_dims(child.shape) == _user_dims(e.shape))

    def _in_place(self, e: Expr, a: list):
        """Lines updating a dead temporary operand into e's value, and its name; None when
        no operand can be reused.  Only for real arrays: the arguments are float64 then, so
        every temporary is float64 and an update keeps the dtype the operator would give."""
        if self.kind(e) == S or e.cplx:
            return None
        mod, lines = self.lib.mod, self.lines
        if isinstance(e, Add):
            return self._add_in_place(e, a)
        if isinstance(e, Mul):                   # scalars times the last factor
            *scalars, last = e.factors
            x = a[-1]
            if (not scalars or any(self.kind(f) != S for f in scalars)
                    or not self._reusable(x, last, e, a)):
                return None
            factors = list(a[:-1])
            if _is_negation(e):                  # read once, -t is written into its reader
                if self.uses[e] <= 1:
                    return None
                lines.append(f"{mod}.negative({x}, out={x})")
                return x
            if isinstance(scalars[0], Const) and scalars[0].value == -1:
                factors = [_neg(factors[1])] + factors[2:]
            lines.append(f"{x} *= {' * '.join(factors)}")
            return x
        if isinstance(e, Hadamard):
            for i, (f, x) in enumerate(zip(e.factors, a)):
                if self._reusable(x, f, e, a):
                    lines.extend(f"{x} *= {y}" for j, y in enumerate(a) if j != i)
                    return x
            return None
        if isinstance(e, Func) and e.spec.ufunc and self._reusable(a[0], e.arg, e, a):
            lines.append(f"{mod}.{e.name}({a[0]}, out={a[0]})")
            return a[0]
        if isinstance(e, Pow) and self._reusable(a[0], e.arg, e, a):
            if e.p.denominator == 1 and e.p >= 2:
                lines.append(f"{a[0]} **= {int(e.p)}")
                return a[0]
            if e.p == Fraction(1, 2):
                lines.append(f"{mod}.sqrt({a[0]}, out={a[0]})")
                return a[0]
        return None

    def _add_in_place(self, e: Add, a: list):
        """A sum accumulated into a dead temporary term (a negated one is negated in place
        first); a term diag(v) or I not yet computed is added to the diagonal only, and
        1 (all ones) as a number."""
        mod, best = self.lib.mod, None
        for i, (t, x) in enumerate(zip(e.terms, a)):
            neg = x.startswith("-")
            if self._reusable(x[1:] if neg else x, t, e, a) and (best is None or best[2]
                                                                 and not neg):
                best = (i, x[1:] if neg else x, neg)
        if best is None:
            return None
        i, target, neg = best
        if neg:
            self.lines.append(f"{mod}.negative({target}, out={target})")
        diagonal = []
        for j, (t, x) in enumerate(zip(e.terms, a)):
            if j == i:
                continue
            op, body = ("-=", x[1:]) if x.startswith("-") else ("+=", x)
            inner = t.factors[1] if op == "-=" and _is_negation(t) else t
            if isinstance(inner, Diag) and body == f"{mod}.diag({self.code[inner.arg]})":
                diagonal.append((op, self.code[inner.arg]))
            elif isinstance(inner, Identity) and body == self.code[inner]:
                diagonal.append((op, "1.0"))
            elif isinstance(inner, Ones) and body == self.code[inner]:
                self.lines.append(f"{target} {op} 1.0")
            else:
                self.lines.append(f"{target} {op} {body}")
        for op, v in diagonal:                   # the diagonal of the n x n target
            self.lines.append(f"{target}.flat[::{self.size(e.shape[0])} + 1] {op} {v}")
        return target


# ------------------------------------------------------------------------------- emit

def emit(result, target: str) -> str:
    """Python source computing f and the derivative of ``result`` (a texgrad Result).

    ``target`` is ``numpy``, ``jax`` or ``torch`` (a function ``f_and_grad(<symbols in
    sorted order>)`` returning ``(f, derivative)`` in the layout of ``result.evaluate``), or
    ``sympy`` (a script that builds ``f`` and ``derivative`` as SymPy matrix expressions).
    Raises ValueError for an unknown target and NotImplementedError for a node or form the
    target has no rule for (a derivative by an entry X_{ij}; K_{mn} or vec in SymPy)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    if getattr(result, "form", "gradient") == "entry":
        raise NotImplementedError("a derivative by an entry X_{ij} (the single-entry matrix "
                                  f"J^{{ij}}) has no {target} code generation yet")
    if target == "sympy":
        return _emit_sympy(result)
    return _emit_array(result, LIBS[target])


def _what(result) -> str:
    kind = result.kind
    return {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian",
            "laplacian": "Laplacian"}.get(kind, "derivative")


def _out_dims(result) -> list:
    """The dimensions of the derivative's value, as ``result.evaluate`` returns it."""
    if result.form == "gradient" or result.kind == "laplacian":
        return _user_dims(result.expr.shape)
    if result.form == "scalar":
        return _user_dims(result.target.shape)
    fr, fc = result.target.shape
    xr, xc = result.symbols[result.wrt].dims
    return [d for d in (fr, fc, xr, xc) if d != 1]


def _shape_text(dims: list) -> str:
    inner = ", ".join(_dim_text(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def _shape_words(dims: list) -> str:
    return "a scalar" if not dims else f"of shape {_shape_text(dims)}"


def _arg_words(sym: Sym) -> str:
    dims = _user_dims(sym.dims)
    what = "vector" if len(dims) == 1 else "matrix"
    text = "scalar" if not dims else f"{_shape_text(dims)} {what}"
    if sym.assume:
        text += ", " + ", ".join(sorted(sym.assume))
    return text


def _emit_array(result, lib: _Lib) -> str:
    g = _Gen(result, lib.target)
    f_code, d_code = g.run([result.f, result.expr])
    mod = lib.mod

    def user(x: str, shape) -> str:              # api.to_user: a row vector stays 2-D
        return f"{x}[None, :]" if kind_of(shape) == R else x

    f_out = user(f_code, result.f.shape)
    if result.form == "gradient" or result.kind == "laplacian":
        d_out = user(d_code, result.expr.shape)
    elif result.form == "scalar":
        d_out = user(d_code, result.target.shape)
    else:                                         # vec form: J[vec F, vec X] -> D[F..., X...]
        keep = _out_dims(result)
        jdims = [d for d in result.expr.shape if d != 1]
        fr, fc = result.target.shape
        xr, xc = result.symbols[result.wrt].dims
        if len(keep) == len(jdims) and (fr == 1 or fc == 1) and (xr == 1 or xc == 1):
            d_out = d_code
        else:
            sizes = [g.size(d) for d in keep]
            if mod == "torch":                    # a column-major reshape: reverse, permute
                rev = ", ".join(reversed(sizes))
                perm = ", ".join(str(i) for i in reversed(range(len(sizes))))
                src = f"{d_code}.permute(1, 0)" if len(jdims) == 2 else d_code
                d_out = f"{src}.reshape({rev}).permute({perm})"
            else:
                d_out = f'{d_code}.reshape(({", ".join(sizes)}), order="F")'
    if lib.target == "torch":
        f_out, d_out = (x if not _literal(x) else f"torch.tensor({x}{lib.dtype})"
                        for x in (f_out, d_out))

    syms = result.symbols
    args = [g.args[name] for name in sorted(syms)]
    head = []
    for name in sorted(syms):
        a = g.args[name]
        if lib.target == "jax":
            head.append(f"{a} = jnp.asarray({a})")
        elif lib.target == "torch":
            dtype = "torch.complex128" if "complex" in syms[name].assume else "torch.float64"
            head.append(f"{a} = torch.as_tensor({a}, dtype={dtype})")
        elif lib.inplace and "complex" not in syms[name].assume:
            # float64 (no copy when it is already), so an update in place keeps the dtype
            head.append(f"{a} = np.asarray({a}, dtype=np.float64)")
    head += _bindings(g, syms)

    what = _what(result)
    doc = [f"f = {_one_line(result.input)} and its {what} by {_one_line(result.wrt)}.", "",
           f"Convention: {_one_line(result.convention)}."]
    if result.form == "vec" and result.kind != "laplacian":
        doc.append("Layout: D[f-index..., variable-index...], the array texgrad's "
                   "Result.evaluate returns.")
    doc.append("Arguments: " + "; ".join(f"{g.args[n]}: {_one_line(_arg_words(syms[n]))}"
                                         for n in sorted(syms)) + ".")
    doc.append(f"Returns (f, {what}): f {_shape_words(_user_dims(result.f.shape))}; "
               f"the {what} {_shape_words(_out_dims(result))}.")
    if lib.target == "jax":
        doc.append('Float64 needs jax.config.update("jax_enable_x64", True).')
    if lib.target == "torch":
        doc.append("Arguments are converted to float64 tensors (complex128 where complex).")
    if lib.inplace:
        doc.append("Arguments not declared complex are converted to float64 arrays; no "
                   "argument is modified.")
    out = [lib.imports, "", "", f"def f_and_grad({', '.join(args)}):", '    r"""' + doc[0]]
    out += [("    " + line) if line else "" for line in doc[1:]]
    out.append('    """')
    out += ["    " + line for line in head + g.lines]
    out.append(f"    return {f_out}, {d_out}")
    source = "\n".join(out) + "\n"
    _check_module(source, lib.imports, args, doc)
    return source


def _check_module(source: str, imports: str, args: list, doc: list):
    """The generated module is what was meant, whatever text went into it: the one import,
    then one function ``f_and_grad(args)`` whose docstring is exactly the intended lines
    (no text closed the docstring early) and whose body only assigns, updates in place and
    returns.  Anything else is a bug here, never code to hand out."""
    def fail(what):
        raise RuntimeError(f"codegen produced a malformed module ({what}); refusing to emit it")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        fail(f"SyntaxError: {exc.msg}")
    if len(tree.body) != 2 or ast.unparse(tree.body[0]) != imports:
        fail("top-level statements")
    fn = tree.body[1]
    if not isinstance(fn, ast.FunctionDef) or fn.name != "f_and_grad" or \
            [a.arg for a in fn.args.args] != args or fn.decorator_list:
        fail("the function")
    got = ast.get_docstring(fn, clean=False)
    if got is None or [line.strip() for line in got.rstrip().split("\n")] != \
            [line.strip() for line in doc]:
        fail("the docstring")
    allowed = (ast.Assign, ast.AugAssign, ast.Expr, ast.Return)
    for stmt in fn.body[1:]:
        if not isinstance(stmt, allowed) or isinstance(stmt, ast.Expr) and \
                not isinstance(stmt.value, ast.Call):
            fail(f"a {type(stmt).__name__} statement")


def _literal(x: str) -> bool:
    return re.fullmatch(r"-?\d+\.\d*|\(-?\d+ / \d+\)", x) is not None


def _bindings(g: _Gen, syms: dict) -> list:
    """``n = X.shape[0]`` for every size the code uses, from the first argument having it."""
    lines = []
    for d in g.dims_used:
        for name in sorted(syms):
            dims = syms[name].dims
            k = kind_of(dims)
            axes = {M: (0, 1), C: (0, None), R: (None, 1), S: (None, None)}[k]
            found = None
            for axis, dd in zip(axes, dims):
                if axis is not None and dd == d:
                    found = 0 if k in (C, R) else axis
                    break
            if found is not None:
                lines.append(f"{g.dimvar[d]} = {g.args[name]}.shape[{found}]")
                break
        else:
            raise NotImplementedError(f"the size {_dim_text(d)} is not the size of any "
                                      "argument, so the code cannot compute it")
    return lines


def _emit_sympy(result) -> str:
    g = _Gen(result, "sympy")
    f_code, d_code = g.run([result.f, result.expr])
    syms = result.symbols
    g.use("MatrixSymbol", "symbols")
    for s in syms.values():                     # every symbol's dimensions
        for d in s.dims:
            g.size(d)
    decl = []
    dims = [g.dimvar[d] for d in g.dims_used]
    if dims:
        decl.append(f"{', '.join(dims)} = symbols({' '.join(dims)!r}, integer=True)")
    for name in sorted(syms):
        s, a = syms[name], g.args[name]
        if kind_of(s.dims) == S:
            assume = "complex=True" if "complex" in s.assume else "real=True"
            decl.append(f"{a} = symbols({name!r}, {assume})")
        else:
            decl.append(f"{a} = MatrixSymbol({name!r}, {g.size(s.dims[0])}, "
                        f"{g.size(s.dims[1])})")
    if _literal_int(d_code) or _literal_int(f_code):
        g.use("Integer")
    f_code = f"Integer({f_code})" if _literal_int(f_code) else f_code
    d_code = f"Integer({d_code})" if _literal_int(d_code) else d_code
    what = _what(result)
    out = [comment_line(f"f = {result.input}"),
           comment_line(f"its {what} by {result.wrt}: {result.convention}")]
    if "Trace" in g.imports and g.scalar_products:
        out.append("# a 1 x 1 matrix product is a scalar here: Trace(...) of it")
    out += [f"from sympy import {', '.join(sorted(g.imports))}", ""]
    out += decl + [""] + g.lines
    out += [f"f = {f_code}", f"derivative = {d_code}"]
    source = "\n".join(out) + "\n"
    tree = ast.parse(source)                     # only the import and assignments
    if not (isinstance(tree.body[0], ast.ImportFrom) and tree.body[0].module == "sympy"
            and all(isinstance(stmt, ast.Assign) for stmt in tree.body[1:])):
        raise RuntimeError("codegen produced a malformed SymPy script; refusing to emit it")
    return source


def _literal_int(x: str) -> bool:
    return re.fullmatch(r"-?\d+", x) is not None
