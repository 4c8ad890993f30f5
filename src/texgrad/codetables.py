"""The code rules of every target: one table per target, node type -> rule.

A rule gets the node, the code of its operands (names, literals and other atoms) and the
generator (kinds, sizes, fresh temporaries; :class:`texgrad.codewriter.Gen`) and returns a
Python expression.  The array targets (NumPy, JAX, PyTorch) share one table builder and differ
in a :class:`Lib`; SymPy has its own table.
"""

from __future__ import annotations

from fractions import Fraction

from .functions import EXP
from .codestable import LogDet
from .ir import (Add, Commutation, Conj, Const, Det, Diag, Func, Hadamard, Identity, Kron,
                 ImagUnit, MatExp, MatMul, MatPow, Mul, Norm, Ones, Pow, PowSum, SingleEntry,
                 Softmax, Sum, Index, Trace, Transpose, Vec, Zero)

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


def neg(x: str) -> str:
    """``-x`` for an operand (a double minus cancels)."""
    return x[1:] if x.startswith("-") else "-" + x


def _base(x: str) -> str:
    """An operand as the base of ``**`` (a unary minus binds looser than ``**``)."""
    return f"({x})" if x.startswith("-") else x




def _sum(terms) -> str:
    out = terms[0]
    for t in terms[1:]:
        out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
    return out


def _product(e: Mul, a: list) -> str:
    """Scalar factors times the last one; a leading -1 is a minus sign."""
    if isinstance(e.factors[0], Const) and e.factors[0].value == -1 and len(a) > 1:
        rest = " * ".join(a[1:])
        return neg(rest) if len(a) == 2 else "-" + rest
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


# ----------------------------------------------------------------- array targets (tables)

class Lib:
    """What differs between NumPy, JAX and PyTorch in the array rules."""

    def __init__(self, target, mod, imports, dtype, inplace=False):
        self.target = target
        self.mod = mod                  # np / jnp / torch
        self.imports = imports
        self.dtype = dtype              # ", dtype=torch.float64" for constructors
        self.inplace = inplace          # may update a dead temporary in place (NumPy only:
        #                                 JAX arrays are immutable, torch autograd forbids it)


NUMPY_LIB = Lib("numpy", "np", "import numpy as np", "",
                 inplace=True)
JAX_LIB = Lib("jax", "jnp", "import jax.numpy as jnp", "")
TORCH_LIB = Lib("torch", "torch", "import torch", ", dtype=torch.float64")


# the table key of the fused log(1^T exp(v)) rule (not a node type; array targets only)
LOGSUMEXP = "logsumexp"


def _array_table(lib: Lib) -> dict:
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
        Sum: _unsupported("a sum over a family", lib.target),
        Index: _unsupported("the index of a sum as a number", lib.target),
        LOGSUMEXP: logsumexp, LogDet: logdet,
        ImagUnit: lambda e, a, g: "1j",
        MatExp: (lambda e, a, g: f"torch.linalg.matrix_exp({a[0]})") if mod == "torch" else
        _unsupported("the matrix exponential e^{X} (scipy.linalg.expm, "
                     "jax.scipy.linalg.expm: --emit torch writes torch.linalg.matrix_exp)",
                     lib.target),
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
            return f"1 / (1 + exp({neg(a[0])}))" if scalar else \
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
        Sum: _unsupported("a sum over a family", "sympy"),
        Index: _unsupported("the index of a sum as a number", "sympy"),
        ImagUnit: lambda e, a, g: g.use("I") or "I",
        MatExp: _unsupported("the matrix exponential e^{X}", "sympy"),
        SingleEntry: _unsupported("the single-entry matrix J^{ij} (a derivative by an entry)",
                                  "sympy"),
    }


SYMPY = _sympy_table()

TABLES = {"numpy": NUMPY, "jax": JAX, "torch": TORCH, "sympy": SYMPY}
LIBS = {"numpy": NUMPY_LIB, "jax": JAX_LIB, "torch": TORCH_LIB}

