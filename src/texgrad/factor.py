"""The Cookbook form: a finished answer as a textbook prints it.

:func:`factor` takes common left and right factors out of sums (``Bx + B^T x =
(B + B^T) x``), common scalar coefficients and Kronecker factors, and orders the terms;
:func:`resimplify` rebuilds an expression through the constructors after a substitution.
"""

from __future__ import annotations

from fractions import Fraction

from . import patterns as P
from .construct import ONE, add, kron, matmul, mul, rebuild, split_coef, with_coef
from .ir import SCALAR, Add, Const, Expr, Kron, MatMul, Mul, Transpose, walk
from .sortkey import skey


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
    inner_terms.sort(key=P.count_transposes)
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
    keyed = [((split_coef(t)[0] < 0), group(t), P.count_transposes(t), i, t)
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
