"""Numerically stable forms for the array targets of code generation.

:func:`stabilise` rewrites the forms that overflow in float64, for every array target at once:
log(1 + exp(v)) is ``logaddexp(0, v)``, log sigma(v) is -softplus(-v), 1 - sigma(v) is
sigma(-v), e^v / (1 + e^v) is sigma(v), log det X is computed from ``slogdet`` (the node
:class:`LogDet`, which only generated code knows).
"""

from __future__ import annotations

from fractions import Fraction

from .functions import SIGMA, SIGN, SOFTPLUS
from .ir import SCALAR, Add, Const, Det, Expr, Func, Hadamard, Mul, Ones, Pow, node, walk


def is_negation(e: Expr) -> bool:
    return (isinstance(e, Mul) and len(e.factors) == 2 and isinstance(e.factors[0], Const)
            and e.factors[0].value == -1)


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
        if _is_one(one, e.shape) and is_negation(t) and isinstance(t.factors[1], Func) \
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
