"""Rules stage: one derivative rule per operator, in one table.

The design is reverse accumulation of adjoints, as autograd's VJPs, but symbolic: for a scalar
f and a node u = op(c_1, ..., c_k), a rule maps the adjoint G = df/du (the shape of u) to the
contribution of u to df/dc_i.  The table :data:`VJP` holds one rule function per IR node type,
registered next to it with :func:`defvjp`; each rule is a line or two and cites the Matrix
Cookbook (Petersen & Pedersen, 2012) where the identity is printed there.

Adjoints are accumulated over the expression DAG (identical subexpressions are one node), so a
quadratic form's two occurrences of x combine before they are propagated further.
"""

from __future__ import annotations

from fractions import Fraction

from .errors import Unsupported
from .ir import (SCALAR, Add, Conj, Const, Det, Diag, Expr, Func, Hadamard, Identity, Kron, MatMul,
                 MatPow, Mul, Norm, Ones, Pow, PowSum, Softmax, Sym, Trace, Transpose, Zero,
                 walk)
from .simplify import (ONE, add, det, diag, func, hadamard, inverse, matmul, mul, neg, power,
                       powsum, trace, transpose)

VJP: dict = {}
LEAVES = (Sym, Const, Identity, Ones, Zero)


def defvjp(node_type):
    """Register ``rule(node, G, i) -> contribution to child i``."""
    def register(rule):
        VJP[node_type] = rule
        return rule
    return register


def inner(g: Expr, m: Expr) -> Expr:
    """<G, M> = tr(G^T M), written as a textbook does for scalars, vectors and matrices."""
    if g.shape == SCALAR:
        return mul(g, m)
    if isinstance(g, Ones) and g.shape[1] == 1:
        return matmul(transpose(g), m)
    if g.shape[1] == 1:
        return matmul(transpose(g), m)
    if g.shape[0] == 1:
        return matmul(g, transpose(m))
    return trace(matmul(transpose(g), m))


def scale(g: Expr, d: Expr) -> Expr:
    """G times an elementwise derivative d (a Hadamard product; a product for scalars)."""
    if g.shape == SCALAR and d.shape == SCALAR:
        return mul(g, d)
    if g.shape == SCALAR:
        return mul(g, d)
    return hadamard(g, d)


def _ones(e: Expr) -> Expr:
    return ONE if e.shape == SCALAR else Ones(e.shape)


# ------------------------------------------------------------------------- the table

@defvjp(Add)
def _add(e, g, i):                       # d(A + B) = dA + dB
    return g


@defvjp(Mul)
def _mul(e, g, i):                       # d(aB) = da B + a dB, a scalar
    others = mul(*(f for j, f in enumerate(e.factors) if j != i))
    if e.factors[i].shape == SCALAR and e.shape != SCALAR:
        return inner(g, others)
    return mul(others, g)


@defvjp(MatMul)
def _matmul(e, g, i):                    # Cookbook (37): d(XY) = dX Y + X dY
    left = e.factors[:i]
    right = e.factors[i + 1:]
    parts = []
    if left:
        parts.append(transpose(matmul(*left)))
    parts.append(g)
    if right:
        parts.append(transpose(matmul(*right)))
    return matmul(*parts)


@defvjp(Hadamard)
def _hadamard(e, g, i):                  # Cookbook (38): d(X o Y) = dX o Y + X o dY
    return hadamard(g, *(f for j, f in enumerate(e.factors) if j != i))


@defvjp(Kron)
def _kron(e, g, i):                      # Cookbook (39): d(X (x) Y) = dX (x) Y + X (x) dY
    raise Unsupported("the gradient through a Kronecker product is not supported yet",
                      hint="expand the Kronecker product, or differentiate vec(...) form")


@defvjp(Transpose)
def _transpose(e, g, i):                 # Cookbook (34): d(X^T) = (dX)^T
    return transpose(g)


@defvjp(MatPow)
def _matpow(e, g, i):
    x = e.arg
    if e.k == -1:                        # Cookbook (59): d(X^{-1}) = -X^{-1} dX X^{-1}
        xit = transpose(inverse(x))
        return neg(matmul(xit, g, xit))
    if e.k > 0:                          # Cookbook (91): sum_r (X^r)^T G (X^{n-1-r})^T
        xt = transpose(x)
        return powsum(xt, g, xt, e.k)
    y = inverse(x)                       # X^{-k} = (X^{-1})^k, then (59)
    yt = transpose(y)
    s = powsum(yt, g, yt, -e.k)
    return neg(matmul(yt, s, yt))


@defvjp(PowSum)
def _powsum(e, g, i):
    raise Unsupported("second derivatives through a sum of matrix powers are not supported yet")


@defvjp(Pow)
def _pow(e, g, i):                       # d(x^p) = p x^{p-1} dx, elementwise
    return scale(g, mul(Const(Fraction(e.p)), power(e.arg, e.p - 1)))


def _fprime(name: str, e: Func) -> Expr:
    a = e.arg
    if name == "exp":
        return e
    if name == "log":
        return power(a, -1)
    if name == "sin":
        return func("cos", a)
    if name == "cos":
        return neg(func("sin", a))
    if name == "tan":
        return add(_ones(a), hadamard(func("tan", a), func("tan", a))) if a.shape != SCALAR \
            else add(ONE, power(func("tan", a), 2))
    if name == "tanh":
        t = e
        return add(_ones(a), neg(hadamard(t, t) if a.shape != SCALAR else power(t, 2)))
    if name == "sigma":
        s = e
        return hadamard(s, add(_ones(a), neg(s))) if a.shape != SCALAR else \
            mul(s, add(ONE, neg(s)))
    if name == "abs":
        return func("sign", a)
    if name == "sign":
        return Zero(a.shape)
    if name == "sinh":
        return func("cosh", a)
    if name == "cosh":
        return func("sinh", a)
    if name == "arctan":
        return power(add(_ones(a), hadamard(a, a) if a.shape != SCALAR else power(a, 2)), -1)
    raise Unsupported(f"no derivative rule for the function {name}")


@defvjp(Func)
def _func(e, g, i):                      # elementwise f: G o f'(X)
    return scale(g, _fprime(e.name, e))


@defvjp(Trace)
def _trace(e, g, i):                     # Cookbook (100): d tr(X) = tr(dX)
    return mul(g, Identity(e.arg.shape[0]))


@defvjp(Det)
def _det(e, g, i):                       # Cookbook (49): d det(X) = det(X) tr(X^{-1} dX)
    return mul(g, e, transpose(inverse(e.arg)))


@defvjp(Norm)
def _norm(e, g, i):                      # Cookbook (129), (131): x / ||x||_2, X / ||X||_F
    return mul(g, power(e, -1), e.arg)


@defvjp(Diag)
def _diag(e, g, i):                      # diag is linear; its adjoint is diag again
    return diag(g)


@defvjp(Softmax)
def _softmax(e, g, i):                   # d s = (diag(s) - s s^T) dx, s = softmax(x)
    return add(hadamard(e, g), neg(mul(matmul(transpose(e), g), e)))


@defvjp(Conj)
def _conj(e, g, i):
    # conjugates are pushed down to the symbols before differentiating (simplify.push_conj);
    # with x and conj(x) independent (Wirtinger), conj(x) is then a variable of its own
    raise Unsupported("internal: a conjugate of a compound expression reached the rules")


# ---------------------------------------------------------------------- the driver

def depends_on(expr: Expr, x: Sym) -> set:
    """The nodes of ``expr`` that contain ``x``."""
    deps = set()
    for n in walk(expr):
        if n == x or any(c in deps for c in n.children):
            deps.add(n)
    return deps


def gradient(f: Expr, x: Expr) -> Expr:
    """df/dx for a scalar f: an expression of the shape of x."""
    if f.shape != SCALAR:
        raise Unsupported("the gradient needs a scalar function",
                          hint="for a vector or matrix function ask for kind='jacobian'")
    deps = depends_on(f, x)
    if f not in deps:
        return Zero(x.shape)
    pending: dict = {f: [ONE]}
    result = None
    for n in reversed(walk(f)):
        contribs = pending.pop(n, None)
        if not contribs:
            continue
        g = add(*contribs)
        if n == x:
            result = g
            continue
        if isinstance(g, Zero):
            continue
        rule = VJP[type(n)]
        for i, c in enumerate(n.children):
            if c in deps:
                pending.setdefault(c, []).append(rule(n, g, i))
    return result if result is not None else Zero(x.shape)
