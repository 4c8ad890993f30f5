"""Complex conjugation for differentiation (Wirtinger calculus, Cookbook sec. 4.1).

Before a complex function is differentiated, :func:`push_conj` moves every conjugate down
to the symbols, so that x and conj(x) are independent variables of the rules; after, the
answer is folded back to the user's grouping by :func:`fold_conj`.  The canonical conjugate
itself is the constructor :func:`texgrad.construct.conj`.
"""

from __future__ import annotations

from fractions import Fraction

from .construct import add, conj, matmul, mul, neg, power, rebuild, trace, transpose
from .ir import Add, Conj, Expr, Func, Norm, walk


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
    table = {c: u for u, c in ((u, conj(u, push=True)) for u in originals if isinstance(u, Add))
             if c != u and c != add(*map(neg, u.terms))}   # z +- conj z: left alone
    if not table:
        return e
    memo = {}
    for n in walk(e):
        m = rebuild(n, tuple(memo[c] for c in n.children)) if n.children else n
        if m in table:
            m = Conj(table[m])
        memo[n] = m
    return memo[e]
