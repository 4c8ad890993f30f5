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

Nothing here evaluates user text: symbol and dimension names are turned into identifiers, and
the formula appears only in a docstring or comment, on one line and without quotes.  This
module imports neither NumPy nor SymPy: the generated source does.
"""

from __future__ import annotations

import keyword
import re
from fractions import Fraction

from .ir import (Add, Commutation, Conj, Const, Det, Diag, Expr, Func, Hadamard, Identity, Kron,
                 MatMul, MatPow, Mul, Norm, Ones, Pow, PowSum, SingleEntry, Softmax, Sym, Trace,
                 Transpose, Vec, Zero, walk)

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

class _Lib:
    """What differs between NumPy, JAX and PyTorch in the array rules."""

    def __init__(self, target, mod, imports, dtype, funcs):
        self.target = target
        self.mod = mod                  # np / jnp / torch
        self.imports = imports
        self.dtype = dtype              # ", dtype=torch.float64" for constructors
        self.funcs = funcs              # elementwise function name -> template over {x}


_ELEMENTWISE = ("exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arctan", "abs",
                "sign")


def _funcs(mod: str, sigma: str) -> dict:
    out = {name: f"{mod}.{name}({{x}})" for name in _ELEMENTWISE}
    out["sigma"] = sigma
    return out


NUMPY_LIB = _Lib("numpy", "np", "import numpy as np", "",
                 _funcs("np", "0.5 * (1.0 + np.tanh(0.5 * {x}))"))
JAX_LIB = _Lib("jax", "jnp", "import jax.numpy as jnp", "",
               _funcs("jnp", "0.5 * (1.0 + jnp.tanh(0.5 * {x}))"))
TORCH_LIB = _Lib("torch", "torch", "import torch", ", dtype=torch.float64",
                 _funcs("torch", "torch.sigmoid({x})"))


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

    def add(e, a, g):
        return _sum(a)

    def mul(e, a, g):
        return _product(e, a)

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
        tpl = lib.funcs.get(e.name)
        if tpl is None:
            raise NotImplementedError(f"Func: the elementwise function {e.name!r} has no "
                                      f"{lib.target} code rule")
        return tpl.format(x=a[0])

    def trace(e, a, g):
        return a[0] if g.kind(e.arg) == S else f"{mod}.trace({a[0]})"

    def det(e, a, g):
        return a[0] if g.kind(e.arg) == S else f"{mod}.linalg.det({a[0]})"

    def norm(e, a, g):
        return f"{mod}.abs({a[0]})" if g.kind(e.arg) == S else f"{mod}.linalg.norm({a[0]})"

    def diag(e, a, g):
        k = g.kind(e.arg)
        if k == S:
            return a[0]
        if k == R:
            return f"{a[0]}[0]"
        return f"{mod}.diag({a[0]})"

    def softmax(e, a, g):
        if g.kind(e) == S:
            return "1.0"
        z = g.temp(f"{mod}.exp({a[0]} - {mod}.max({a[0]}))")
        return f"{z} / {mod}.sum({z})"

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
        Zero: filled("zeros", "0.0"), Add: add, Mul: mul, MatMul: matmul, Hadamard: hadamard,
        Kron: kron, Transpose: transpose, MatPow: matpow, PowSum: powsum, Pow: power,
        Func: func, Trace: trace, Det: det, Norm: norm, Diag: diag, Softmax: softmax,
        Conj: conj, Vec: vec, Commutation: commutation,
        SingleEntry: _unsupported("the single-entry matrix J^{ij} (a derivative by an entry)",
                                  lib.target),
    }


NUMPY = _array_table(NUMPY_LIB)
JAX = _array_table(JAX_LIB)
TORCH = _array_table(TORCH_LIB)


# --------------------------------------------------------------------------- sympy table

_SYMPY_FUNCS = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan",
                "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "arctan": "atan",
                "abs": "Abs", "sign": "sign"}


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

    def add(e, a, g):
        return _sum(a)

    def mul(e, a, g):
        return _product(e, a)

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
        name = _SYMPY_FUNCS.get(e.name)
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
        z = g.computed(Func("exp", e.arg)) or g.temp(f"{a[0]}.applyfunc(exp)")
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
        Zero: filled("ZeroMatrix", "0"), Add: add, Mul: mul, MatMul: matmul,
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


def _one_line(text: str) -> str:
    """User text for a docstring or comment: one line, printable, no quotes."""
    text = " ".join(str(text).split())
    return "".join(ch for ch in text if ch.isprintable() and ch not in "\"'") or "?"


def _dim_text(d) -> str:
    if isinstance(d, tuple):
        return "*".join(_dim_text(x) for x in d)
    return str(d).lstrip("#")


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
        taken: set = set()
        self.args = {name: _identifier(name, taken, "_") for name in sorted(result.symbols)}
        self.dimvar: dict = {}
        for s in result.symbols.values():
            for d in s.dims:
                for x in (d if isinstance(d, tuple) else (d,)):
                    if isinstance(x, str) and not x.startswith("#") and x not in self.dimvar:
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

    def size(self, d) -> str:
        """Code for the size of a dimension (bound from the arguments' shapes)."""
        if d == 1:
            return "1"
        if isinstance(d, tuple):
            return " * ".join(self.size(x) for x in d)
        if isinstance(d, str) and d.startswith("#"):
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
            return int(d[1:]) if isinstance(d, str) and d.startswith("#") else _CHAIN_SIZE

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
        order, seen = [], set()
        for root in roots:
            for e in walk(root):
                if e not in seen:
                    seen.add(e)
                    order.append(e)
        uses: dict = {}
        for e in order:
            for c in e.children:
                uses[c] = uses.get(c, 0) + 1
        for root in roots:
            uses[root] = uses.get(root, 0) + 1
        code = self.code
        for e in order:
            if isinstance(e, Sym):
                if e.name not in self.args:
                    raise NotImplementedError(f"Sym: {e.name} is not among the result's "
                                              "symbols")
                code[e] = self.args[e.name]
                continue
            rule = self.table.get(type(e))
            if rule is None:
                raise NotImplementedError(f"{type(e).__name__}: no {self.target} code rule")
            operands = [code[c] for c in e.children]
            text = rule(e, operands, self)
            once = uses.get(e, 0) <= 1
            if (isinstance(e, (Const, Transpose)) or text in operands
                    or (once and (_is_negation(e)
                                  or isinstance(e, (Identity, Ones, Zero, Commutation))))
                    or isinstance(e, (Identity, Ones, Zero)) and kind_of(e.shape) == S):
                code[e] = text
            else:
                code[e] = self.temp(text)
        return [code[root] for root in roots]


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
    out = [lib.imports, "", "", f"def f_and_grad({', '.join(args)}):", '    r"""' + doc[0]]
    out += [("    " + line) if line else "" for line in doc[1:]]
    out.append('    """')
    out += ["    " + line for line in head + g.lines]
    out.append(f"    return {f_out}, {d_out}")
    return "\n".join(out) + "\n"


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
    out = [f"# f = {_one_line(result.input)}",
           f"# its {what} by {_one_line(result.wrt)}: {_one_line(result.convention)}"]
    if "Trace" in g.imports and g.scalar_products:
        out.append("# a 1 x 1 matrix product is a scalar here: Trace(...) of it")
    out += [f"from sympy import {', '.join(sorted(g.imports))}", ""]
    out += decl + [""] + g.lines
    out += [f"f = {f_code}", f"derivative = {d_code}"]
    return "\n".join(out) + "\n"


def _literal_int(x: str) -> bool:
    return re.fullmatch(r"-?\d+", x) is not None
