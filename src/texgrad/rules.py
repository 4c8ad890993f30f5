"""Rules stage: the derivative rules, one pair per operator, in two tables.

Gradients of scalars are reverse accumulation of adjoints, as autograd's VJPs, but symbolic:
for a node u = op(c_1, ..., c_k), a rule of :data:`VJP` maps the adjoint G = df/du (the shape
of u) to the contribution of u to df/dc_i.  Jacobians, Hessians and matrix-by-matrix
derivatives use the differential instead (Magnus & Neudecker, and the Cookbook's own proofs): a
rule of :data:`JVP` maps the differentials of the children to d op(c_1, ..., c_k), and
:func:`identify` reads the derivative off the differential, vec(dF) = J vec(dX).  Both rules
of a node stand together, registered with :func:`defvjp` and :func:`defjvp`; each is a line
or two and cites the Matrix Cookbook (Petersen & Pedersen, 2012) where it prints the identity.

Adjoints are accumulated over the expression DAG (identical subexpressions are one node), so a
quadratic form's two occurrences of x combine before they are propagated further.
"""

from __future__ import annotations

from fractions import Fraction

from .errors import LimitError, Unsupported
from .ir import (SCALAR, Add, Commutation, Conj, Const, SingleEntry, Vec, dim_mul, Det, Diag,
                 Expr, Func, Hadamard, Identity, ImagUnit, Kron, MatExp, MatMul, MatPow, Mul,
                 Norm, Ones, Pow, PowSum, Softmax, Sum, Index, Sym, Trace, Transpose, Zero, walk)
from . import construct, families, matexp
from .construct import (ONE, peel, add, commutation, conj, diag, hadamard, inverse,
                       kron, matmul, matpow, mul, neg, power, powsum, trace, transpose, vec)

VJP: dict = {}
JVP: dict = {}
LEAVES = (Sym, Const, ImagUnit, Identity, Ones, Zero, Commutation, SingleEntry, Index)


def defvjp(node_type):
    """Register ``rule(node, G, i) -> contribution to child i``."""
    def register(rule):
        VJP[node_type] = rule
        return rule
    return register


def defjvp(node_type):
    """Register ``rule(node, dcs) -> d node``; ``dcs[i]`` is None where child i is constant."""
    def register(rule):
        JVP[node_type] = rule
        return rule
    return register


def _sum(parts) -> Expr | None:
    parts = [p for p in parts if p is not None]
    return add(*parts) if parts else None


def linear(build):
    """The differential of a node linear in each child: the node rebuilt on each one."""
    def rule(e, dcs):
        return _sum(build(e, [d if j == i else c for j, c in enumerate(e.children)])
                    for i, d in enumerate(dcs) if d is not None)
    return rule


def deflinear(node_type, build):
    """Register a node linear in each child separately (the unary Transpose, Trace, Diag,
    Vec, Conj; the products Mul, MatMul, Hadamard, Kron), as JAX's ``ad.deflinear`` and
    ``defbilinear``: its JVP is the node rebuilt with one child replaced by that child's
    differential, summed over the children (``build(e, children)`` rebuilds it), and the
    decorated function is its adjoint (the transpose rule), the VJP.  The node is stated
    once, its two rules cannot drift apart, and tests/test_rules.py checks each adjoint
    against the JVP."""
    JVP[node_type] = linear(build)

    def register(adjoint):
        VJP[node_type] = adjoint
        return adjoint
    return register


def inner(g: Expr, m: Expr) -> Expr:
    """<G, M> = tr(G^T M), written as a textbook does for scalars, vectors and matrices."""
    if g.shape == SCALAR:
        return mul(g, m)
    if g.shape[1] == 1:
        return matmul(transpose(g), m)
    if g.shape[0] == 1:
        return matmul(g, transpose(m))
    return trace(matmul(transpose(g), m))


def scale(g: Expr, d: Expr) -> Expr:
    """G times an elementwise derivative d (a Hadamard product; a product for scalars)."""
    if g.shape == SCALAR:
        return mul(g, d)
    return hadamard(g, d)


def _ones(e: Expr) -> Expr:
    return ONE if e.shape == SCALAR else Ones(e.shape)


# ------------------------------------------------------------------------- the table

@defvjp(Add)
def _add_vjp(e, g, i):                   # d(A + B) = dA + dB
    return g


@defjvp(Add)
def _add_jvp(e, dcs):
    return _sum(dcs)


@deflinear(Mul, lambda e, k: mul(*k))
def _mul_vjp(e, g, i):                   # d(aB) = da B + a dB, a scalar
    others = mul(*(f for j, f in enumerate(e.factors) if j != i))
    if e.factors[i].shape == SCALAR and e.shape != SCALAR:
        return inner(g, others)
    return mul(others, g)



_TRANSPOSED: dict = {}     # id(product) -> (product, its factors transposed)


def _transposed_factors(e: MatMul) -> tuple:
    """The factors of ``e`` transposed, computed once per product: the rule is called once
    per factor, and transposing the whole left and right parts each time made a product of
    n factors cost n^2 constructor calls."""
    hit = _TRANSPOSED.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    if len(_TRANSPOSED) > 64:
        _TRANSPOSED.clear()
    out = tuple(transpose(f) for f in e.factors)
    _TRANSPOSED[id(e)] = (e, out)
    return out


@deflinear(MatMul, lambda e, k: matmul(*k))
def _matmul_vjp(e, g, i):                # Cookbook (37): d(XY) = dX Y + X dY
    # (A_1 ... A_{i-1})^T G (A_{i+1} ... A_n)^T = A_{i-1}^T ... A_1^T G A_n^T ... A_{i+1}^T
    t = _transposed_factors(e)
    return matmul(*t[i - 1::-1] if i else (), g, *t[:i:-1])



@deflinear(Hadamard, lambda e, k: hadamard(*k))
def _hadamard_vjp(e, g, i):              # Cookbook (38): d(X o Y) = dX o Y + X o dY
    return hadamard(g, *(f for j, f in enumerate(e.factors) if j != i))



@deflinear(Kron, lambda e, k: kron(*k))
def _kron_vjp(e, g, i):                  # Cookbook (39): d(X (x) Y) = dX (x) Y + X (x) dY
    raise refusal("the gradient through a Kronecker product is not supported yet",
                  "expand the Kronecker product, or differentiate vec(...) form", r"\\otimes")



@deflinear(Transpose, lambda e, k: transpose(k[0]))
def _transpose_vjp(e, g, i):             # Cookbook (34): d(X^T) = (dX)^T
    return transpose(g)


def _positive(k) -> bool:
    """A letter for the exponent of a matrix power is a positive integer."""
    return not isinstance(k, int) or k > 0


@defvjp(MatPow)
def _matpow_vjp(e, g, i):
    x = e.arg
    if e.k == -1:                        # Cookbook (59): d(X^{-1}) = -X^{-1} dX X^{-1}
        xit = transpose(inverse(x))
        return neg(matmul(xit, g, xit))
    if _positive(e.k):                   # Cookbook (91): sum_r (X^r)^T G (X^{n-1-r})^T
        xt = transpose(x)
        return powsum(xt, g, xt, e.k)
    scalars, m = peel(g)
    if isinstance(m, Identity):          # d tr(X^{-k}) = -k tr(X^{-k-1} dX)
        return mul(Const(Fraction(e.k)), *scalars, transpose(matpow(x, e.k - 1)))
    y = inverse(x)                       # X^{-k} = (X^{-1})^k, then (59)
    yt = transpose(y)
    s = powsum(yt, g, yt, -e.k)
    return neg(matmul(yt, s, yt))


@defjvp(MatPow)
def _matpow_jvp(e, dcs):
    x, dx = e.arg, dcs[0]
    if _positive(e.k):                   # Cookbook (90): sum_r X^r dX X^{n-1-r}
        return powsum(x, dx, x, e.k)
    y = inverse(x)
    dy = neg(matmul(y, dx, y))           # Cookbook (59)
    return dy if e.k == -1 else powsum(y, dy, y, -e.k)


NO_CLOSED_FORM = ("the derivative of the matrix exponential e^{X} has a closed form only in "
                  "a trace against a function of X: tr(e^{X}), tr(X^k e^{X}); tr(A e^{X}) "
                  "would need the integral of e^{sX} A e^{(1-s)X} over s from 0 to 1")


def refusal(message: str, hint: str, *spellings: str) -> Unsupported:
    """A rule's refusal, with regular expressions of how the notation it refuses is written
    (``api.located`` puts the caret there)."""
    err = Unsupported(message, hint=hint)
    err.spellings = spellings
    return err


@defvjp(MatExp)
def _matexp_vjp(e, g, i):                # d tr(G^T e^X) = tr(G^T e^X dX) if G^T X = X G^T
    if matexp.commutes(g, transpose(e.arg)):
        return matmul(transpose(e), g)
    return _matexp_jvp(e, None)


@defjvp(MatExp)
def _matexp_jvp(e, dcs):                 # d e^X alone has no closed form
    raise refusal(NO_CLOSED_FORM, "no closed form exists; texgrad does not guess one",
                  r"e\^(\{[^{}]*\}|\w)", r"\\operatorname\{expm\}")


def _trace_of_exp(n: Expr, tangent: dict) -> Expr:
    """d tr(e^F) = tr(e^F dF) (the only differential through e^F with a closed form)."""
    if isinstance(n, Trace) and isinstance(n.arg, MatExp):
        return trace(matmul(n.arg, tangent[n.arg.arg]))
    return _matexp_jvp(n, None)


@defvjp(PowSum)
def _powsum_vjp(e, g, i):
    raise Unsupported("second derivatives through a sum of matrix powers are not supported yet")


@defjvp(PowSum)
def _powsum_jvp(e, dcs):
    if dcs[0] is None and dcs[2] is None:
        return powsum(e.a, dcs[1], e.b, e.k, e.index)
    return _powsum_vjp(e, None, 0)


@deflinear(Sum, lambda e, k: families.sum_over(k[0], e.index, e.hi, e.lo))
def _sum_vjp(e, g, i):                   # d sum_i F_i = sum_i dF_i
    # the adjoint of a body that does not vary with the index; a body that does is
    # differentiated inside the sum (sum_gradient), where its members are bound
    return families.sum_over(g, e.index, e.hi, e.lo)


def sum_gradient(e: Sum, g: Expr, x: Expr) -> Expr:
    """The contribution of <G, sum_i F_i> to df/dx: sum_i d<G, F_i>/dx; by a member x_k of
    a family the sum ranges over, only the term i = k (the Kronecker delta)."""
    k = families.collapsed_letter(e, x)
    if k:
        return gradient(inner(g, families.rename_index(e.body, e.index, k)), x)
    return families.sum_over(gradient(inner(g, e.body), x), e.index, e.hi, e.lo)


def sum_differential(e: Sum, x: Expr, dx: Expr, d_body) -> Expr:
    """d sum_i F_i = sum_i dF_i, and by a member x_k only the term i = k."""
    k = families.collapsed_letter(e, x)
    if k:
        return differential(families.rename_index(e.body, e.index, k), x, dx)
    return JVP[Sum](e, [d_body])


@defvjp(Pow)
def _pow_vjp(e, g, i):                   # d(x^p) = p x^{p-1} dx, elementwise
    return scale(g, mul(Const(Fraction(e.p)), power(e.arg, e.p - 1)))


@defjvp(Pow)
def _pow_jvp(e, dcs):
    return scale(dcs[0], mul(Const(Fraction(e.p)), power(e.arg, e.p - 1)))


def fprime(e: Func) -> Expr:
    """f'(x) of the elementwise ``e = f(x)``, as its :class:`~texgrad.ir.FunctionSpec` states
    it (the records are in :mod:`texgrad.functions`)."""
    return e.spec.derivative(construct, e.arg, e)


@defvjp(Func)
def _func_vjp(e, g, i):                  # elementwise f: G o f'(X), f' from its record
    return scale(g, fprime(e))


@defjvp(Func)
def _func_jvp(e, dcs):                   # elementwise f: f'(X) o dX
    return scale(dcs[0], fprime(e))


@deflinear(Trace, lambda e, k: trace(k[0]))
def _trace_vjp(e, g, i):                 # Cookbook (100): d tr(X) = tr(dX)
    return mul(g, Identity(e.arg.shape[0]))



@defvjp(Det)
def _det_vjp(e, g, i):                   # Cookbook (49): d det(X) = det(X) tr(X^{-1} dX)
    return mul(g, e, transpose(inverse(e.arg)))


@defjvp(Det)
def _det_jvp(e, dcs):
    return mul(e, trace(matmul(inverse(e.arg), dcs[0])))


@defvjp(Norm)
def _norm_vjp(e, g, i):                  # Cookbook (129), (131): x / ||x||_2, X / ||X||_F
    return mul(g, power(e, -1), e.arg)


@defjvp(Norm)
def _norm_jvp(e, dcs):
    return mul(power(e, -1), inner(e.arg, dcs[0]))


@deflinear(Diag, lambda e, k: diag(k[0]))
def _diag_vjp(e, g, i):                  # diag is linear; its adjoint is diag again
    return diag(g)



def _softmax_jacobian_times(s, t):       # (diag(s) - s s^T) t, s = softmax(x)
    return add(hadamard(s, t), neg(mul(matmul(transpose(s), t), s)))


@defvjp(Softmax)
def _softmax_vjp(e, g, i):               # d s = (diag(s) - s s^T) dx: a symmetric Jacobian,
    return _softmax_jacobian_times(e, g)  # so the adjoint is the same product


@defjvp(Softmax)
def _softmax_jvp(e, dcs):
    return _softmax_jacobian_times(e, dcs[0])


@deflinear(Conj, lambda e, k: conj(k[0]))
def _conj_vjp(e, g, i):
    # conjugates are pushed down to the symbols before differentiating (conj.push_conj);
    # with x and conj(x) independent (Wirtinger), conj(x) is then a variable of its own
    raise Unsupported("internal: a conjugate of a compound expression reached the rules")


@deflinear(Vec, lambda e, k: vec(k[0]))
def _vec_vjp(e, g, i):
    raise Unsupported("the gradient through vec(...) is not supported yet")



# ---------------------------------------------------------------------- the driver

def depends_on(expr: Expr, x: Sym) -> set:
    """The nodes of ``expr`` that contain ``x``."""
    deps = set()
    for n in walk(expr):
        if n == x or any(c in deps for c in n.children) or \
                isinstance(n, Sum) and families.collapsed_letter(n, x):   # mu_j, by mu_k
            deps.add(n)
    return deps


MAX_PARTS = 2_000_000    # children of the adjoints and differentials built, in total


class _Budget:
    """Counts the parts (children) of every adjoint or differential a derivation builds, so
    a derivative whose terms repeat long products (the trace of a product of 5,000 factors:
    5,000 terms of 5,000 factors) is refused before it fills the memory; the distinct-node
    limit alone does not see the length of each node's tuple of children."""

    __slots__ = ("used",)

    def __init__(self):
        self.used = 0

    def spend(self, e: Expr) -> Expr:
        self.used += 1 + len(e.children)
        if self.used > MAX_PARTS:
            raise LimitError(f"the derivative is too large: more than {MAX_PARTS:,} parts "
                             "(its terms repeat long products)",
                             hint="differentiate a smaller part, or introduce names for "
                                  "repeated subexpressions")
        return e


def gradient(f: Expr, x: Expr) -> Expr:
    """df/dx for a scalar f: an expression of the shape of x."""
    if f.shape != SCALAR:
        raise Unsupported("the gradient needs a scalar function",
                          hint="for a vector or matrix function ask for kind='jacobian'")
    deps = depends_on(f, x)
    if f not in deps:
        return Zero(x.shape)
    budget = _Budget()
    pending: dict = {f: [ONE]}
    result = None
    for n in reversed(walk(f)):
        contribs = pending.pop(n, None)
        if not contribs:
            continue
        g = add(*reversed(contribs))     # parents were visited right to left
        if n == x:
            result = g
            continue
        if isinstance(g, Zero):
            continue
        if isinstance(n, Sum) and families.varies(n.body, n.index):
            pending.setdefault(x, []).append(budget.spend(sum_gradient(n, g, x)))
            continue
        rule = VJP[type(n)]
        for i, c in enumerate(n.children):
            if c in deps:
                pending.setdefault(c, []).append(budget.spend(rule(n, g, i)))
    if x in pending:                     # mu_k, only in sums over mu_j: never visited
        return add(*reversed(pending[x]))
    return result if result is not None else Zero(x.shape)


def differential(f: Expr, x: Expr, dx: Expr) -> Expr:
    """dF: the differential of ``f`` when ``x`` moves by ``dx`` (forward accumulation)."""
    deps = depends_on(f, x)
    budget = _Budget()
    tangent: dict = {}
    for n in walk(f):
        if n not in deps:
            continue
        if n == x:
            tangent[n] = dx
            continue
        kids = [tangent.get(c) if c in deps else None for c in n.children]
        if isinstance(n, MatExp):
            tangent[n] = _DEFERRED       # only a trace of it has a differential
            continue
        if any(k is _DEFERRED for k in kids):
            d = _trace_of_exp(n, tangent)
        else:
            d = sum_differential(n, x, dx, kids[0]) if isinstance(n, Sum) else \
                JVP[type(n)](n, kids)
        tangent[n] = budget.spend(d) if d is not None else Zero(n.shape)
    out = tangent.get(f, Zero(f.shape))
    return _matexp_jvp(f, None) if out is _DEFERRED else out


_DEFERRED = object()       # the differential of e^F, taken by the trace around it


# --------------------------------------------------------------- identification

def identify(e: Expr, dx: Expr) -> Expr:
    """J with vec(e) = J vec(dx), for an ``e`` linear in ``dx`` (Magnus & Neudecker's first
    identification theorem; for a vector dx and vector e, e = J dx).  The rule per node
    type is in :data:`IDENTIFY`."""
    m, n = dx.shape
    if e == dx:
        return Identity(dim_mul(m, n))
    if not _contains(e, dx):
        return Zero((dim_mul(e.shape[0], e.shape[1]), dim_mul(m, n)))
    if isinstance(e, Transpose) and e.arg == dx:
        return commutation(m, n)                        # vec(dX^T) = K vec(dX)
    rule = IDENTIFY.get(type(e))
    if rule is None:
        raise Unsupported("cannot read a derivative off a differential through "
                          f"{type(e).__name__}",
                          hint="this derivative has no matrix form here yet")
    return rule(e, dx)


def _identify_mul(e, dx):
    i = _the_one(e.factors, dx)
    others = [f for j, f in enumerate(e.factors) if j != i]
    if e.factors[i].shape != SCALAR or e.shape == SCALAR:
        return mul(*others, identify(e.factors[i], dx))
    # s(dX) M = vec(M) ds, ds = (d s / d vec(dX)^T) vec(dX)
    return matmul(vec(mul(*others)), identify(e.factors[i], dx))


def _identify_matmul(e, dx):                           # vec(PYQ) = (Q^T (x) P) vec Y
    i = _the_one(e.factors, dx)
    fi = e.factors[i]
    left, right = e.factors[:i], e.factors[i + 1:]
    p = matmul(*left) if left else Identity(fi.shape[0])
    q = matmul(*right) if right else Identity(fi.shape[1])
    return matmul(kron(transpose(q), p), identify(fi, dx))


def _identify_hadamard(e, dx):                         # vec(A o Y) = diag(vec A) vec Y
    i = _the_one(e.factors, dx)
    others = hadamard(*[f for j, f in enumerate(e.factors) if j != i])
    return matmul(diag(vec(others)), identify(e.factors[i], dx))


# node type -> J of vec(e) by vec(dx), for the node types a differential is made of
IDENTIFY = {
    Add: lambda e, dx: add(*[identify(t, dx) for t in e.terms]),
    Mul: _identify_mul,
    MatMul: _identify_matmul,
    Hadamard: _identify_hadamard,
    Transpose: lambda e, dx: matmul(commutation(*e.arg.shape), identify(e.arg, dx)),
    Trace: lambda e, dx: matmul(transpose(vec(Identity(e.arg.shape[0]))), identify(e.arg, dx)),
    Vec: lambda e, dx: identify(e.arg, dx),
    Sum: lambda e, dx: families.sum_over(identify(e.body, dx), e.index, e.hi, e.lo),
}


def _contains(e: Expr, x: Expr) -> bool:
    return any(n == x for n in walk(e))


def _the_one(factors, dx) -> int:
    idx = [i for i, f in enumerate(factors) if _contains(f, dx)]
    if len(idx) != 1:
        raise Unsupported("internal: a differential that is not linear")  # pragma: no cover
    return idx[0]
