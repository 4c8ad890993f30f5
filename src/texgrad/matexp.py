"""The matrix exponential ``e^{X}`` (issue 12): its canonical constructor, its value, and
where its derivative has a closed form.

``e^{X} = \\sum_k X^k / k!`` of a square matrix (``\\exp(X)`` is the exponential of each entry,
a :class:`~texgrad.ir.Func`).  Its differential is the integral
``d e^{X} = \\int_0^1 e^{sX}\\, dX\\, e^{(1-s)X} ds``, which has no closed matrix form; inside a
trace, and against an adjoint that commutes with X, it has one:
``d \\operatorname{tr}(G^T e^{X}) = \\operatorname{tr}(G^T e^{X} dX)`` when G^T X = X G^T
(the rules of :mod:`texgrad.rules` use :func:`commutes`).  So ``\\operatorname{tr}(e^{X})``
by X is ``(e^{X})^T``, ``\\operatorname{tr}(X e^{X})`` is ``(e^{X})^T(I + X^T)``, and
``\\operatorname{tr}(A e^{X})`` is refused with the reason.
"""

from __future__ import annotations

from . import construct as C
from .functions import EXP
from .ir import SCALAR, Add, Diag, Expr, Identity, MatExp, MatMul, MatPow, Mul, Transpose, Zero


def matexp(e: Expr) -> Expr:
    """``e^{e}``: the exponential of a number for a scalar, ``e^{0} = I``,
    ``e^{X^T} = (e^{X})^T``, ``e^{diag(x)} = diag(e^{x})``."""
    if e.shape == SCALAR:
        return C.func(EXP, e)
    if isinstance(e, Zero):
        return Identity(e.shape[0])
    if isinstance(e, Transpose):
        return C.transpose(matexp(e.arg))
    if isinstance(e, Diag) and e.arg.shape[1] == 1:
        return C.diag(C.func(EXP, e.arg))
    return MatExp(e)


def det_of(e: MatExp) -> Expr:
    """det(e^{X}) = e^{tr X} (Jacobi's formula)."""
    return C.func(EXP, C.trace(e.arg))


def commutes(g: Expr, a: Expr) -> bool:
    """Whether ``g`` is built from ``a`` alone (powers, exponentials, sums and products of
    it, the identity, scalars), so that it commutes with ``a``: a sufficient test."""
    if isinstance(g, Identity) or g == a or g.shape == SCALAR:
        return True
    if isinstance(g, Transpose) and isinstance(a, Transpose):
        return commutes(g.arg, a.arg)
    if isinstance(g, (MatPow, MatExp)):
        return commutes(g.arg, a)
    if isinstance(g, (Add, MatMul, Mul)):
        return all(commutes(c, a) for c in g.children)
    return False


def expm(np, a):
    """e^{a} of a square 2-D array: scaling and squaring with a Taylor series (the scaled
    matrix has 1-norm at most 1/2, where 18 terms are exact to rounding)."""
    norm = float(np.abs(a).sum(axis=0).max()) if a.size else 0.0
    if not np.isfinite(norm):
        return np.full(a.shape, np.nan, dtype=a.dtype)
    s = max(0, int(np.ceil(np.log2(norm))) + 1) if norm > 0.5 else 0
    a = a / 2.0 ** s
    term = np.eye(a.shape[0], dtype=a.dtype)
    out = term.copy()
    for k in range(1, 19):
        term = term @ a / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


C.REBUILD[MatExp] = lambda e, k: matexp(k[0])        # the hooks of construct
C.DET[MatExp] = det_of
C.TRANSPOSE[MatExp] = lambda e: e if C.transpose(e.arg) == e.arg else Transpose(e)
