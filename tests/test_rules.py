"""Tests for `texgrad.rules`: each node's rule pair, by itself (autograd's `check_vjp`).

For every node type of `ir.NODES` (and every elementwise function record) a small instance
is built on symbols of non-square sizes; for each child C_i, with a random direction D and
a random cotangent G (of the node's shape), three numbers must agree:

* <VJP(G)_i, D>: the reverse rule's contribution to child i, paired with D;
* <G, JVP(D)>: the forward rule's differential with only child i moving;
* <G, (u(C_i + hD) - u(C_i - hD)) / 2h>: a central difference in NumPy.

A failure names the node and prints the numbers ("VJP of Det disagrees with its JVP:
analytic ..., numeric ..."), so a broken rule fails the test named after it.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from texgrad import functions, ir, numeric, rules
from texgrad.errors import Unsupported
from texgrad.ir import (Add, Conj, Det, Diag, Func, Hadamard, Kron, MatExp, MatMul, MatPow, Mul,
                        Norm, Pow, PowSum, Softmax, Sum, Sym, Trace, Transpose, Vec)

SIZES = {"n": 3, "m": 4, "p": 2}
# nodes whose reverse rule is refused (Unsupported) today: their forward rule is checked
# (gradients through them are refused with a message, never computed wrong).  Conj is
# pushed down to the symbols before the reverse pass, so its VJP is never asked for.
NO_VJP = {Kron, PowSum, Conj, Vec, MatExp}
# (node, child) pairs whose forward rule is refused too: a PowSum is only ever
# differentiated in its middle factor G (second derivatives through X^k are refused)
NO_JVP = {(PowSum, 0), (PowSum, 2), (MatExp, 0)}
H = 1e-6


def _sym(name, rows, cols):
    return Sym(name, (rows, cols))


A, A2 = _sym("A", "n", "m"), _sym("A2", "n", "m")
B = _sym("B", "m", "p")
X, Y = _sym("X", "n", "n"), _sym("Y", "n", "n")
x = _sym("x", "n", 1)
a, b = _sym("a", 1, 1), _sym("b", 1, 1)

# one instance per node type that has rules; (id, node)
INSTANCES = [
    ("Add", Add((A, A2))),
    ("Mul", Mul((a, A))),
    ("Mul-scalars", Mul((a, b))),
    ("MatMul", MatMul((A, B))),
    ("Hadamard", Hadamard((A, A2))),
    ("Kron", Kron(A, B)),
    ("Transpose", Transpose(A)),
    ("MatPow", MatPow(X, 3)),
    ("MatPow-inverse", MatPow(X, -1)),
    ("MatExp", MatExp(X)),                      # rules only against a commuting adjoint
    ("PowSum", PowSum(X, A, _sym("C", "m", "m"), 3)),
    ("Sum", Sum(A, "i", "p")),                 # a body free of the index: p A
    ("Pow", Pow(A, Fraction(3))),
    ("Pow-root", Pow(A, Fraction(1, 2))),
    ("Trace", Trace(X)),
    ("Det", Det(X)),
    ("Norm", Norm(x, "2")),
    ("Norm-F", Norm(A, "F")),
    ("Diag", Diag(x)),
    ("Diag-matrix", Diag(X)),
    ("Softmax", Softmax(x)),
    ("Conj", Conj(A)),
    ("Vec", Vec(A)),
]
FUNCTIONS = [(f"Func-{name}", Func(spec, A)) for name, spec in sorted(functions.BY_NAME.items())]


def _draw(rng, e: ir.Expr) -> np.ndarray:
    """A value for a symbol: positive entries (logs, roots and powers are defined; no kink
    of abs, relu or step is near), square ones well conditioned."""
    r, c = (numeric.dim_size(d, SIZES) for d in e.shape)
    v = rng.uniform(0.5, 1.5, size=(r, c))
    if r == c and r > 1:
        v = v + r * np.eye(r)
    return v


def _value(e, env):
    return numeric.evaluate(e, env, dict(SIZES))


def _pair(u, v) -> float:
    return float(np.sum(np.asarray(u) * np.asarray(v)))


def rule_numbers(e: ir.Expr, i: int, seed: int = 0):
    """(<VJP(G)_i, D>, <G, JVP(D)>, central difference) for child ``i`` of ``e``; the first
    is None when the node has no reverse rule (its VJP raises Unsupported)."""
    rng = np.random.default_rng(seed)
    child = e.children[i]
    env = {s.name: _draw(rng, s) for s in ir.walk(e) if isinstance(s, Sym)}
    G = Sym("G__", e.shape)
    D = Sym("D__", child.shape)
    env["G__"] = rng.normal(size=_draw(rng, G).shape)
    env["D__"] = rng.normal(size=_draw(rng, D).shape)
    try:
        vjp = rules.VJP[type(e)](e, G, i)
    except Unsupported:                  # a node without a reverse rule yet (NO_VJP)
        analytic = None
    else:
        analytic = _pair(_value(vjp, env), env["D__"])
    dcs = tuple(D if j == i else None for j in range(len(e.children)))
    jvp = rules.JVP[type(e)](e, dcs)
    forward = _pair(env["G__"], _value(jvp, env))
    assert isinstance(child, Sym), "instances are built on symbols"
    plus, minus = dict(env), dict(env)
    plus[child.name] = env[child.name] + H * env["D__"]
    minus[child.name] = env[child.name] - H * env["D__"]
    numeric_ = _pair(env["G__"], (_value(e, plus) - _value(e, minus)) / (2 * H))
    return analytic, forward, numeric_


def check_rule(name: str, e: ir.Expr) -> None:
    """Fail with the node's name and the numbers when its rules disagree."""
    for i, child in enumerate(e.children):
        if i > 0 and child in e.children[:i]:
            continue
        if (type(e), i) in NO_JVP:
            with pytest.raises(Unsupported):
                rule_numbers(e, i)
            continue
        vjp, jvp, fd = rule_numbers(e, i)
        scale = max(1.0, abs(jvp), abs(fd), abs(vjp or 0.0))
        if abs(jvp - fd) > 1e-6 * scale:
            raise AssertionError(f"JVP of {name} disagrees with a central difference "
                                 f"(child {i}): analytic {jvp!r}, numeric {fd!r}")
        if vjp is None:
            assert type(e) in NO_VJP, f"the VJP of {name} raised Unsupported"
            continue
        if abs(vjp - jvp) > 1e-9 * scale:
            raise AssertionError(f"VJP of {name} disagrees with its JVP (child {i}): "
                                 f"analytic {vjp!r}, forward {jvp!r}")


@pytest.mark.parametrize("name, e", INSTANCES + FUNCTIONS, ids=[n for n, _ in INSTANCES + FUNCTIONS])
def test_rule(name, e):
    """The node's VJP, its JVP and a central difference agree."""
    check_rule(name, e)


@pytest.mark.parametrize("node", ir.NODES, ids=lambda n: n.__name__)
def test_every_node_with_rules_has_an_instance_here(node):
    """A new node type gets its rule checked: a leaf has no rule, any other an instance."""
    if node in rules.LEAVES:
        pytest.skip(f"{node.__name__} is a leaf: no derivative rule")
    have = {type(e) for _, e in INSTANCES + FUNCTIONS}
    assert node in have, f"no instance of {node.__name__} in tests/test_rules.py INSTANCES"


def test_a_broken_rule_fails_the_test_named_after_it(monkeypatch):
    """Issue 10's acceptance: drop the transpose in the Det adjoint (G det(X) X^{-1} instead
    of G det(X) X^{-T}) and the Det check names Det; the other nodes still pass."""
    from texgrad import construct as S

    def broken(e, g, i):
        return S.mul(g, e, S.inverse(e.arg))
    monkeypatch.setitem(rules.VJP, Det, broken)
    with pytest.raises(AssertionError, match="VJP of Det disagrees"):
        check_rule("Det", Det(X))          # X is drawn non-symmetric: X^{-1} != X^{-T}
    check_rule("Trace", Trace(X))
    check_rule("MatMul", MatMul((A, B)))


LINEAR = (Mul, MatMul, Hadamard, Kron, Transpose, Trace, Diag, Vec, Conj)


@pytest.mark.parametrize("node", LINEAR, ids=lambda n: n.__name__)
def test_a_linear_node_is_declared_once(node):
    """deflinear fills the JVP from the node's own constructor; the adjoint is the only
    rule written by hand (JAX's ad.deflinear)."""
    assert rules.JVP[node].__qualname__.startswith("linear."), rules.JVP[node]


def test_identify_is_a_table():
    """The vec identification has one rule per node type a differential is made of."""
    assert set(rules.IDENTIFY) == {Add, Mul, MatMul, Hadamard, Transpose, Trace, Vec, Sum}


def test_sort_keys_tell_nodes_apart_by_every_compared_field():
    """skey spells every compared field: K_{mn} and K_{nm}, E^{ij} and E^{ji} differ."""
    from texgrad import sortkey as S
    assert S.skey(ir.Commutation("m", "n")) != S.skey(ir.Commutation("n", "m"))
    assert S.skey(ir.SingleEntry(("n", "m"), "i", "j")) != \
        S.skey(ir.SingleEntry(("n", "m"), "j", "i"))
    assert S.skey(ir.Identity("n")) != S.skey(ir.Identity("m"))
    d = ir.Identity(__import__("texgrad.dims", fromlist=["DimVar"]).DimVar("I"))
    assert S.skey(d) == "Identity[?I]()"      # no id() in a key: runs sort alike
