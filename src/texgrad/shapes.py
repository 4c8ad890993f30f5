"""Names and shapes: the untyped tree to typed IR, by unification over dimension variables.

Naming rule: a symbol's name is its letter (or Greek name), with its subscript and accents:
``\\mathbf{x}`` is ``x``, ``\\boldsymbol{\\beta}`` is ``beta``, ``W_{12}`` is ``W_12``,
``x_{\\text{in}}`` is ``x_in``, ``\\hat{y}`` is ``y_hat``.  Fonts and accents are kept for
printing.  Shapes default from notation: a bold lower-case letter is a column vector, an
upper-case letter (bold or not, Latin or Greek) a matrix, a plain lower-case or Greek letter a
scalar unless it is transposed or put in a norm (then a vector).  ``shapes=`` and ``assume=``
override.  Dimensions are variables unified through every operation; a conflict names both
operands and points at the second.
"""

from __future__ import annotations

from fractions import Fraction

from . import simplify as S
from .errors import LimitError, ShapeError, TexgradError, Unsupported
from .dims import DimVar, Dims
from .functions import ABS, BY_NAME, EXP, LOG
from .ir import SCALAR, Add, Expr, Identity, Mul, Ones, Sym, Zero, walk
from .parse import N

ASSUMPTIONS = ("symmetric", "spd", "invertible", "positive", "orthogonal", "diagonal",
               "real", "complex", "integer")
MAX_POWER = 1000
MAX_NUMBER_BITS = 997       # a number's numerator and denominator below 2**997 (about 1e300)


def number_text(v) -> str:
    """A short rendering of a possibly huge rational: 1000, 1/3, about 1.0e+300."""
    v = Fraction(v)
    if max(abs(v.numerator), v.denominator).bit_length() <= 64:
        return str(v)
    import math
    if v == 0:
        return "0"
    mag = math.log10(abs(v.numerator)) - math.log10(v.denominator)
    sign = "-" if v < 0 else ""
    return f"about {sign}10^{mag:.0f}"


def number_ok(v) -> bool:
    v = Fraction(v)
    return max(abs(v.numerator), v.denominator).bit_length() <= MAX_NUMBER_BITS


def out_of_range(e: Expr):
    """The first number of ``e`` beyond the limits, as (what, value): a constant beyond
    about 1e300 (or with a denominator as large), an exponent beyond MAX_POWER; else None."""
    for n in walk(e):
        if isinstance(n, S.Const) and not number_ok(n.value):
            return "number", n.value
        if isinstance(n, S.Pow) and abs(n.p) > MAX_POWER:
            return "exponent", n.p
        if isinstance(n, S.MatPow) and abs(n.k) > MAX_POWER:
            return "exponent", n.k
    return None


_NUMBER_HINT = "texgrad bounds numbers (after folding constants) so that they fit a float"


def range_error(found, text: str, start: int = 0, width: int = 1) -> LimitError:
    what, value = found
    if what == "exponent":
        msg = f"the exponent {number_text(value)} is larger than {MAX_POWER}"
        hint = "texgrad bounds powers (after folding powers of powers and products) to " \
               "keep answers and checks finite"
    else:
        msg = f"the number {number_text(value)} is beyond the limit of about 1e300"
        hint = _NUMBER_HINT
    return LimitError(msg, hint=hint).at(text, start, width)


def _raw_mul(a: Expr, b: Expr) -> Expr:
    if a.shape == SCALAR and b.shape != SCALAR:
        return Mul((a, b))
    return Mul((b, a)) if b.shape == SCALAR and a.shape != SCALAR else Mul((a, b))


class Promote(Exception):
    """Plain letters read as scalars meet a use only a vector has (``A x``, ``x^T b``,
    ``A x - b``, ``(x - b)^T``, ``\\|x - b\\|``): type again with them as column vectors."""

    def __init__(self, names: set, scalar: bool = False):
        super().__init__(sorted(names))
        self.names = names
        self.scalar = scalar        # upper-case letters read as scalars (\frac{1}{N})


def typed(text: str, root: N, shapes: dict | None, assume: dict | None):
    """(typer, raw IR) of ``root``: typed with the notation's defaults, then again with
    plain letters promoted to vectors as long as their uses ask for it (each round
    promotes at least one more letter, so this ends)."""
    forced: set = set()
    scalars: set = set()
    while True:
        typer = Typer(text, shapes, assume, forced, scalars)
        typer.root = root
        typer.survey(root)
        try:
            return typer, typer.build(root)
        except Promote as p:
            done = scalars if p.scalar else forced
            if p.names <= done:        # pragma: no cover - each raise names a new letter
                raise
            done |= p.names


class Typer:
    """Builds typed IR from the untyped tree.  One method per syntax-tree op."""

    def __init__(self, text: str, shapes: dict | None, assume: dict | None,
                 vectors: set | frozenset = frozenset(), scalars: set | frozenset = frozenset()):
        self.text = text
        self.scalars = scalars      # upper-case letters used only as numbers (\frac{1}{N})
        self.vectors = vectors      # plain letters promoted to column vectors
        self.named_dims: set = set()    # dimensions named in the formula (I_n)
        self.soft: set = set()      # plain letters read as scalars only by default
        self.dims = Dims(text)
        self.user_shapes = {k: tuple(v) for k, v in (shapes or {}).items()}
        self.user_assume = {k: frozenset(v) for k, v in (assume or {}).items()}
        for name, props in self.user_assume.items():
            bad = [p for p in props if p not in ASSUMPTIONS]
            if bad:
                raise TexgradError(f"unknown assumption {bad[0]!r} for {name}",
                                   hint="known: " + ", ".join(ASSUMPTIONS))
        self.symtab: dict = {}      # name -> Sym with DimVar dims
        self.style = {"transpose": None, "trace": None, "hadamard": None}
        self.hints: dict = {}       # name -> info collected in a pre-pass
        self.out_index: tuple = ()  # (M)_{kl} as the whole formula: the entry asked for
        self.root: N | None = None
        self.built: dict = {}       # id(syntax node) -> (node, its raw IR)
        self._mag: dict = {}        # id(IR) -> (IR, log10 of its constant value)

    # ------------------------------------------------------------------ pre-pass
    def survey(self, root: N):
        """Collect every symbol's uses (fonts, transposes, norms) before choosing kinds."""
        stack = [(root, None, frozenset())]
        while stack:
            n, parent, bound = stack.pop()
            if not isinstance(n, N):
                continue
            if n.op == "isum":
                _, posts = _unwrap(n.args[0])
                subs = [p for kind, p in posts if kind == "subscript"]
                if subs:
                    bound = bound | set(self.sub_name(subs[0]).replace(",", ""))
            if n.op == "subscript" and n.args[0].op == "sym" and bound:
                idx = self.sub_name(n.args[1]).replace(",", "")
                if idx and all(c in bound for c in idx) and len(idx) <= 2:
                    b = n.args[0]
                    info = self.hints.setdefault(b.args[0], {"latex": b.args[1], "hints": set(),
                                                             "vector_use": False, "node": b})
                    info["vector_use"] = True
                    if len(idx) == 2:
                        info["hints"].add("upper")    # X_{kl}: an entry of a matrix
            if n.op == "sym":
                name, latex, hint = n.args
                info = self.hints.setdefault(name, {"latex": latex, "hints": set(),
                                                    "vector_use": False, "node": n})
                info["hints"].add(hint)
                if parent is not None and parent.op in ("sup",) and parent.args[0] is n and \
                        _is_transpose_mark(parent.args[1]):
                    info["vector_use"] = True
            if n.op == "norm":
                inner = n.args[0]
                if inner.op == "sym":
                    self.hints.setdefault(inner.args[0], {"latex": inner.args[1],
                                                          "hints": set(), "vector_use": False,
                                                          "node": inner})["vector_use"] = True
            for a in n.args:
                if isinstance(a, N):
                    stack.append((a, n, bound))
                elif isinstance(a, tuple):
                    stack.extend((x, n, bound) for x in a if isinstance(x, N))

    def symbol(self, name: str, latex: str, hint: str, node: N) -> Sym:
        sym = self.symtab.get(name)
        if sym is not None:
            return sym
        info = self.hints.get(name, {"hints": {hint}, "vector_use": False})
        hints = info["hints"]
        if name in self.user_shapes:
            spec = self.user_shapes[name]
            dims = tuple(self._user_dim(d) for d in spec)
            if len(dims) == 0:
                shape = SCALAR
            elif len(dims) == 1:
                shape = (dims[0], 1)
            elif len(dims) == 2:
                shape = dims
            else:
                raise Unsupported(f"{name}: tensors of order {len(dims)} are not supported")
        elif name in self.scalars:
            shape = SCALAR
        elif "bold" in hints:
            shape = (DimVar(name), 1)
        elif "upper" in hints or "boldupper" in hints:
            shape = (DimVar(name + ".rows"), DimVar(name + ".cols"))
        elif info["vector_use"] or name in self.vectors:
            shape = (DimVar(name), 1)
        else:
            shape = SCALAR
            if "plain" in hints and name not in self.user_assume:
                self.soft.add(name)
        assume = self.user_assume.get(name, frozenset())
        if assume & {"symmetric", "spd", "diagonal", "orthogonal", "invertible"}:
            if shape != SCALAR and shape[1] == 1:
                raise ShapeError(f"{name} is a vector but is assumed {sorted(assume)[0]}",
                                 hint="symmetric, spd, invertible, orthogonal and diagonal "
                                      "describe square matrices").at(self.text, node.start,
                                                                      node.end - node.start)
            else:
                self.dims.unify(shape[0], shape[1], f"{name} is assumed square", node, node)
        sym = Sym(name, shape, latex, assume)
        self.symtab[name] = sym
        return sym

    def _user_dim(self, d):
        if isinstance(d, int):
            if d == 1:
                return 1
            return f"#{d}"
        d = str(d).strip()
        if d.isdigit():
            return 1 if d == "1" else f"#{d}"
        return d

    # ------------------------------------------------------------------- helpers
    def shape_of(self, e: Expr):
        return tuple(self.dims.find(d) for d in e.shape)

    def is_scalar(self, e: Expr) -> bool:
        return self.shape_of(e) == (1, 1)

    def need_scalar(self, e: Expr, n: N, what: str):
        if not self.is_scalar(e):
            raise ShapeError(f"{what} needs a scalar, but `{self.src(n)}` is not one",
                             hint="use \\odot for elementwise products, a norm or a trace to "
                                  "make a scalar").at(self.text, n.start, n.end - n.start)

    def need_square(self, e: Expr, n: N, what: str):
        r, c = e.shape
        self.dims.unify(r, c, f"{what} needs a square matrix", n, n)

    def src(self, n: N) -> str:
        return " ".join(self.text[n.start:n.end].split())

    def _definitely_not_1(self, d) -> bool:
        d = self.dims.find(d)
        return isinstance(d, (str, tuple)) or (isinstance(d, DimVar) and not d.unit_ok)

    def soft_names(self, e: Expr):
        """The letters of ``e`` when it is built only of plain letters read as scalars by
        default (``x``, ``x - b``, ``2b``), else None."""
        if isinstance(e, Sym):
            return {e.name} if e.name in self.soft else None
        if isinstance(e, Add):
            out: set = set()
            for t in e.terms:
                part = self.soft_names(t)
                if part is None:
                    return None
                out |= part
            return out
        if isinstance(e, Mul):
            rest = [f for f in e.factors if not isinstance(f, S.Const)]
            return self.soft_names(rest[0]) if len(rest) == 1 else None
        return None

    def promote_after(self, a: Expr, b: Expr, any_wide: bool = False) -> None:
        """``A x`` and ``x^T b``: a plain letter right of a matrix or a row vector is a
        column vector, not a scale factor (``any_wide``: next to any vector or matrix)."""
        if self.is_scalar(b) and not self.is_scalar(a) and (
                self._definitely_not_1(a.shape[1]) or
                any_wide and self._definitely_not_1(a.shape[0])):
            names = self.soft_names(b)
            if names:
                raise Promote(names)

    def promote_if_scalar(self, e: Expr) -> None:
        """``(x - b)^T`` and ``\\|x - b\\|``: what is transposed or normed is a vector."""
        if self.is_scalar(e):
            names = self.soft_names(e)
            if names:
                raise Promote(names)

    def juxt(self, a: Expr, b: Expr, na: N, nb: N) -> Expr:
        self.promote_after(a, b)
        if self.is_scalar(a) or self.is_scalar(b):
            return _raw_mul(a, b)
        self.dims.unify(a.shape[1], b.shape[0], "matrix product", na, nb)
        return S.MatMul((a, b))

    # --------------------------------------------------------------------- build
    def build(self, n: N) -> Expr:
        meth = getattr(self, "t_" + n.op, None)
        if meth is None:
            raise TexgradError(f"`{self.src(n)}` cannot stand here",
                               hint="is something missing around it?"
                               ).at(self.text, n.start, n.end - n.start)
        e = meth(n, *n.args)
        self.built[id(n)] = (n, e)      # where each part came from: limits find their spot
        return e

    def const_log10(self, e: Expr):
        """log10 of the magnitude a constant expression folds to (None when ``e`` is not a
        constant, or is 0), estimated without computing it: 1000^{1000} is 3000."""
        import math
        key = id(e)
        if key in self._mag:
            return self._mag[key][1]
        out = None
        if isinstance(e, S.Const):
            v = e.value
            if v != 0:
                out = math.log10(abs(v.numerator)) - math.log10(v.denominator)
        elif isinstance(e, S.Pow):
            m = self.const_log10(e.arg)
            out = None if m is None else m * float(e.p)
        elif isinstance(e, Mul):
            parts = [self.const_log10(f) for f in e.factors]
            out = None if any(m is None for m in parts) else sum(parts)
        elif isinstance(e, Add):
            parts = [self.const_log10(t) for t in e.terms]
            out = None if any(m is None for m in parts) else \
                max(parts) + math.log10(len(parts))
        self._mag[key] = (e, out)
        return out

    def check_range(self, folded: Expr):
        """After folding: every number and exponent within the limits, else a LimitError at
        the smallest part of the formula that folds beyond them."""
        found = out_of_range(folded)
        if found is None:
            return
        n = self.root
        while n is not None:
            nxt = None
            for c in n.args:
                if isinstance(c, N) and id(c) in self.built:
                    try:
                        sub = out_of_range(S.resimplify(self.built[id(c)][1]))
                    except Exception:       # pragma: no cover - a part alone may not fold
                        sub = None
                    if sub is not None:
                        nxt, found = c, sub
                        break
            if nxt is None:
                break
            n = nxt
        if n is None:
            raise range_error(found, self.text, 0, 1)
        raise range_error(found, self.text, n.start, n.end - n.start)

    def t_sym(self, n, name, latex, hint):
        if latex.replace(" ", "") in ("\\mathbb{E}", "\\operatorname{E}", "\\mathbf{E}") and \
                name not in self.user_shapes:
            raise Unsupported("expectations are not supported",
                              hint="differentiate the expression inside the expectation"
                              ).at(self.text, n.start, n.end - n.start)
        if name == "I" and hint == "upper" and name not in self.user_shapes and \
                name not in self.user_assume:
            d = DimVar("I", unit_ok=True)
            return Identity(d)
        return self.symbol(name, latex, hint, n)

    def t_identity(self, n, latex, name):
        return Identity(DimVar("I", unit_ok=True))

    def t_ones(self, n, latex, name):
        self.style["ones"] = latex
        return Ones((DimVar("1", unit_ok=True), 1))

    def t_zero(self, n, latex, name):
        return Zero((DimVar("0", unit_ok=True), DimVar("0", unit_ok=True)))

    def t_set(self, n, latex, name):
        raise TexgradError(f"`{latex}` is a set, not a value",
                           hint="state shapes with --shape instead of \\in \\mathbb{R}^{...}"
                           ).at(self.text, n.start, n.end - n.start)

    def t_num(self, n, value, text):
        return S.const(value)

    def t_neg(self, n, a):
        return Mul((S.Const(Fraction(-1)), self.build(a)))

    def t_add(self, n, *terms):
        built = [self.build(t) for t in terms]
        wide = [e for e in built
                if self._definitely_not_1(e.shape[0]) or self._definitely_not_1(e.shape[1])]
        if wide:
            # 1 + \exp(v): a number added to a vector or matrix is added to every entry
            built = [S.Mul((e, Ones(wide[0].shape))) if isinstance(e, S.Const) else e
                     for e in built]
            # A x - b: a plain letter summed with a vector is one
            names: set = set()
            for e in built:
                if self.is_scalar(e):
                    names |= self.soft_names(e) or set()
            if names:
                raise Promote(names)
        first = built[0]
        for t, e in zip(terms[1:], built[1:]):
            self.dims.unify(first.shape[0], e.shape[0], "sum", terms[0], t)
            self.dims.unify(first.shape[1], e.shape[1], "sum", terms[0], t)
        return Add(tuple(built))

    def t_product(self, n, *items):
        """Juxtaposition, left to right: a scalar factor multiplies, otherwise a matrix
        product (one flat MatMul per run of matrix factors, so long products stay linear)."""
        chain: list = []           # the current run of matrix-product factors
        acc_node = None
        for it in items:
            if it.op == "op":
                continue
            if it.op == "recip":
                e = self.build(it.args[0])
                self.need_scalar(e, it.args[0], "division")
                e = S.Pow(e, Fraction(-1))
            else:
                e = self.build(it)
            if not chain:
                chain, acc_node = [e], it
                continue
            acc = chain[0] if len(chain) == 1 else S.MatMul(tuple(chain))
            self.promote_after(acc, e)
            if self.is_scalar(acc) or self.is_scalar(e):
                chain = [_raw_mul(acc, e)]
            else:
                self.dims.unify(chain[-1].shape[1], e.shape[0], "matrix product", acc_node, it)
                chain.append(e)
            acc_node = N("span", (), acc_node.start, it.end)
        return chain[0] if len(chain) == 1 else S.MatMul(tuple(chain))

    def t_hadamard(self, n, a, b):
        ea, eb = self.build(a), self.build(b)
        # y \odot X w: an elementwise product is of two vectors or matrices
        self.promote_after(ea, eb, any_wide=True)
        self.promote_after(eb, ea, any_wide=True)
        if self.is_scalar(ea) or self.is_scalar(eb):
            return _raw_mul(ea, eb)
        self.dims.unify(ea.shape[0], eb.shape[0], "elementwise product", a, b)
        self.dims.unify(ea.shape[1], eb.shape[1], "elementwise product", a, b)
        return S.Hadamard((ea, eb))

    def t_kron(self, n, a, b):
        return S.Kron(self.build(a), self.build(b))

    def t_paren(self, n, inner, delim):
        return self.build(inner)

    def t_brace(self, n, inner):
        return self.build(inner)

    def t_frac(self, n, num, den):
        a, b = self.build(num), self.build(den)
        if isinstance(b, Sym) and not self.is_scalar(b) and b.name not in self.user_shapes \
                and self.hints.get(b.name, {}).get("hints", set()) <= {"upper"}:
            raise Promote({b.name}, scalar=True)     # \frac{1}{N}: N is a number
        if not self.is_scalar(b):
            raise ShapeError(f"the denominator `{self.src(den)}` is not a scalar",
                             hint="write a matrix inverse as X^{-1}").at(
                self.text, den.start, den.end - den.start)
        return _raw_mul(a, S.Pow(b, Fraction(-1)))

    def t_sqrt(self, n, a):
        return S.Pow(self.build(a), Fraction(1, 2))

    def t_root(self, n, k, a):
        kk = self.build(k)
        if not isinstance(kk, S.Const):
            raise Unsupported("the index of a root must be a number").at(
                self.text, k.start, k.end - k.start)
        return S.Pow(self.build(a), 1 / kk.value)

    def t_conj(self, n, a):
        return S.Conj(self.build(a))

    def t_bars(self, n, inner):
        e = self.build(inner)
        if self.is_scalar(e):
            return S.Func(ABS, e)
        r, c = self.shape_of(e)
        if c == 1 or r == 1:
            raise ShapeError(f"|{self.src(inner)}| of a vector is ambiguous",
                             hint="write \\|x\\|_2 for the norm, or \\lvert\\cdot\\rvert per "
                                  "entry").at(self.text, n.start, n.end - n.start)
        self.need_square(e, n, "a determinant |X|")
        return S.Det(e)

    def t_norm(self, n, inner, p=None):
        e = self.build(inner)
        self.promote_if_scalar(e)
        if self.is_scalar(e):
            return S.Func(ABS, e)
        r, c = self.shape_of(e)
        vector = c == 1 or r == 1
        if p == "1":
            if not vector:
                raise Unsupported("the 1-norm of a matrix is not supported (entrywise or "
                                  "induced?)", hint="write \\mathbf{1}^T |X| \\mathbf{1} for "
                                  "the entrywise sum").at(self.text, n.start, n.end - n.start)
            ones = Ones(e.shape)                       # \|x\|_1 = 1^T |x|
            return S.MatMul((S.Transpose(ones), S.Func(ABS, e))) if c == 1 else \
                S.MatMul((S.Func(ABS, e), S.Transpose(ones)))
        if p is None:
            p = "2" if vector else "F"
        if p == "2" and not vector:
            raise Unsupported("the spectral norm \\|X\\|_2 of a matrix is not supported",
                              hint="use the Frobenius norm \\|X\\|_F").at(
                self.text, n.start, n.end - n.start)
        if p == "F" and vector:
            p = "2"
        return S.Norm(e, p)

    def t_inner(self, n, a, b):
        """<a, b>: a^T b of vectors, tr(A^T B) of matrices (the Frobenius inner product)."""
        ea, eb = self.build(a), self.build(b)
        names = (self.soft_names(ea) or set()) | (self.soft_names(eb) or set()) \
            if self.is_scalar(ea) or self.is_scalar(eb) else set()
        if names:
            raise Promote(names)            # <x, y>: vectors
        if self.is_scalar(ea) and self.is_scalar(eb):
            return _raw_mul(ea, eb)
        self.dims.unify(ea.shape[0], eb.shape[0], "inner product", a, b)
        self.dims.unify(ea.shape[1], eb.shape[1], "inner product", a, b)
        prod = S.MatMul((S.Transpose(ea), eb))
        if self.shape_of(ea)[1] == 1:
            return prod
        return S.Trace(prod)

    def t_call(self, n, name, latex, arg):
        e = self.build(arg)
        if name in ("tr", "etr"):
            self.need_square(e, arg, "the trace")
            if latex:
                self.style.setdefault("trace", latex)
                if self.style["trace"] is None:
                    self.style["trace"] = latex
            t = S.Trace(e)
            return S.Func(EXP, t) if name == "etr" else t
        if name == "det":
            self.need_square(e, arg, "the determinant")
            return S.Det(e)
        if name == "logdet":
            self.need_square(e, arg, "log det")
            return S.Func(LOG, S.Det(e))
        spec = BY_NAME.get(name)
        if spec is not None:                   # an elementwise function: its record
            if name == "log" and latex and latex.startswith("\\ln"):
                self.style["log"] = "\\ln"
            return S.Func(spec, e)
        if name == "diag":
            r, c = self.shape_of(e)
            if c != 1:
                self.need_square(e, arg, "diag of a matrix")
            return S.Diag(e)
        if name == "softmax":
            self.promote_if_scalar(e)          # softmax(z): z is a vector
            return S.Softmax(e)
        if name == "vec":
            return S.Vec(e)
        if name == "conj":
            return self.t_conj(n, arg)
        raise Unsupported(f"the function {name} is not supported",
                          hint="supported: tr det log exp sin cos tanh sigma diag softmax "
                               "and norms").at(self.text, n.start, n.end - n.start)

    def t_sup(self, n, base, payload):
        kind, value = self.sup_kind(payload)
        if kind in ("pow", "expr") and base.op == "sym" and base.args[0] == "e" and \
                base.args[1] == "e" and "e" not in self.user_shapes:
            arg = self.build(payload)
            if self._definitely_not_1(arg.shape[0]) and self._definitely_not_1(arg.shape[1]):
                raise Unsupported("e^{X} of a matrix is the matrix exponential, which texgrad "
                                  "does not support yet",
                                  hint="for the exponential of every entry write \\exp(X)"
                                  ).at(self.text, n.start, n.end - n.start)
            return S.Func(EXP, arg)
        t = None
        if kind == "expr":
            # x^{10^{300}}, x^{2 \cdot 3}: an exponent that folds to a number is that number
            t = self.build(payload)
            mag = self.const_log10(t)
            if mag is not None and abs(mag) > 300:
                raise LimitError("the exponent is beyond the limit of about 1e300 "
                                 f"(it is about 10^{mag:.0f})",
                                 hint=_NUMBER_HINT
                                 ).at(self.text, payload.start, payload.end - payload.start)
            if mag is not None:
                folded = S.resimplify(t)
                if isinstance(folded, S.Const):
                    kind, value = "pow", folded.value
        if base.op == "norm" and kind == "pow":
            e = self.build(base)
            return S.Pow(e, value)
        e = self.build(base)
        if kind == "pow" and abs(value) <= MAX_POWER:
            mag = self.const_log10(e)
            if mag is not None and abs(mag * float(value)) > 300:
                # 1000^{1000}: refused before the exact power is computed
                raise LimitError("this power is beyond the limit of about 1e300 "
                                 f"(it is about 10^{mag * float(value):.0f})",
                                 hint=_NUMBER_HINT
                                 ).at(self.text, n.start, n.end - n.start)
        if kind in ("T", "H", "invT"):
            self.promote_if_scalar(e)
        if kind == "T":
            self.style["transpose"] = self.style["transpose"] or value
            return S.Transpose(e)
        if kind == "H":
            self.style["hermitian"] = value
            return S.Transpose(S.Conj(e))
        if kind == "conj":
            return S.Conj(e)
        if kind == "invT":
            self.style["transpose"] = self.style["transpose"] or value
            self.need_square(e, base, "the inverse")
            return S.Transpose(S.MatPow(e, -1))
        if kind == "hpow":
            return S.Pow(e, value)
        if kind == "pow":
            if abs(value) > MAX_POWER:
                raise LimitError(f"the exponent {number_text(value)} is larger than "
                                 f"{MAX_POWER}",
                                 hint="texgrad bounds powers to keep answers and checks "
                                      "finite").at(self.text, payload.start,
                                                   payload.end - payload.start)
            if self.is_scalar(e):
                return S.Pow(e, value)
            if value.denominator != 1:
                raise Unsupported(f"the matrix power {value} is not an integer").at(
                    self.text, payload.start, payload.end - payload.start)
            r, c = self.shape_of(e)
            if c == 1 or r == 1:
                return S.Pow(e, value)       # elementwise power of a vector
            self.need_square(e, base, "a matrix power")
            return S.MatPow(e, int(value))
        if kind == "expr" and self.is_scalar(e):
            # a^t = exp(t log a) for a scalar base and a scalar exponent (built once above:
            # building it again doubled the work at every level of a tower x^{x^{...}})
            t = self.build(payload) if t is None else t
            self.need_scalar(t, payload, "an exponent")
            return S.Func(EXP, Mul((t, S.Func(LOG, e))))
        raise Unsupported(f"the superscript `{self.src(payload)}` is not understood",
                          hint="superscripts: T, \\top, -1, -T, integers, numbers"
                          ).at(self.text, payload.start, payload.end - payload.start)

    def sup_kind(self, p: N):
        op = p.op
        if op == "tmark":
            mark = p.args[0]
            return "T", _mark_style(mark)
        if op == "sym":
            name = p.args[0]
            if name == "T" and p.args[2] != "bold":
                return "T", "T"
            if name == "H":
                return "H", "H"
            if name == "*":
                return "conj", "*"
            if name in ("top",):
                return "T", "\\top"
        if op == "star":
            return "conj", "*"
        if op == "dagger":
            return "H", "\\dagger"
        if op == "neg":
            inner = p.args[0]
            if inner.op == "num" and inner.args[0] == 1:
                return "pow", Fraction(-1)
            if _is_transpose_mark(inner):
                k, style = self.sup_kind(inner)
                return "invT", style
        if op == "hpow":
            val = _number(p.args[0])
            if val is None:
                raise Unsupported("an elementwise power needs a number").at(
                    self.text, p.start, p.end - p.start)
            return "hpow", val
        val = _number(p)
        if val is not None:
            return "pow", val
        return "expr", None

    def sized_unit(self, base: N, payload: N):
        """``I_n``, ``\\mathbf{I}_3``, ``\\mathbf{1}_n``: an identity or a ones vector of the
        size the subscript names (a letter names a dimension, as in --shape), when the
        letter I is not declared as something else.  None for anything else."""
        if base.op == "sym" and base.args[0] == "I" and base.args[2] == "upper":
            if "I" in self.user_shapes or "I" in self.user_assume:
                return None
            kind = "identity"
        elif base.op in ("identity", "ones"):
            kind = base.op
        else:
            return None
        sub = self.sub_name(payload)
        if not (sub.isdigit() or (len(sub) == 1 and sub.isalpha())) or \
                f"{base.args[0] if base.op == 'sym' else 'I'}_{sub}" in self.user_shapes:
            return None
        if sub.isdigit():
            d = self._user_dim(sub)
        else:
            d = sub
            self.named_dims.add(sub)
        return Identity(d) if kind == "identity" else Ones((d, 1))

    def t_subscript(self, n, base, payload):
        unit = self.sized_unit(base, payload)
        if unit is not None:
            return unit
        if base.op == "sym":
            name, latex, hint = base.args
            sub = self.sub_name(payload)
            full = f"{name}_{sub}"
            latex_full = f"{latex}_{{{self.text[payload.start:payload.end].lstrip('_').strip()}}}"
            if latex_full.endswith("}}") and self.text[payload.start:payload.end].strip(
                    ).startswith("{"):
                latex_full = f"{latex}_{self.text[payload.start:payload.end].strip()}"
            node = N("sym", (full, latex_full, hint), base.start, payload.end)
            if full not in self.hints:
                self.hints[full] = dict(self.hints.get(name, {"hints": {hint},
                                                             "vector_use": False}))
            return self.t_sym(node, full, latex_full, hint)
        if base.op == "norm":
            p = self.sub_name(payload)
            p = {"2": "2", "F": "F", "fro": "F", "Fro": "F", "\\mathrm{F}": "F"}.get(p, p)
            if p == "1":
                return self.t_norm(base, base.args[0], "1")
            if p not in ("2", "F"):
                raise Unsupported(f"the {p}-norm is not supported",
                                  hint="supported: \\|x\\|_2 and \\|X\\|_F").at(
                    self.text, payload.start, payload.end - payload.start)
            return self.t_norm(base, base.args[0], p)
        if base.op == "sup" and base.args[0].op == "norm":   # \|x\|^2_2
            inner = N("subscript", (base.args[0], payload), base.start, payload.end)
            return self.t_sup(n, inner, base.args[1])
        if base.op == "sup" and base.args[0].op == "sym":     # x^T_1 is x_1^T
            inner = N("subscript", (base.args[0], payload), base.start, payload.end)
            return self.t_sup(n, inner, base.args[1])
        idx = self.sub_name(payload).replace(",", "")
        if n is self.root and idx.isalpha() and 1 <= len(idx) <= 2:
            e = self.build(base)          # (X^T B X)_{kl}: the entry (k, l) of a matrix
            self.out_index = (idx[0], idx[1] if len(idx) > 1 else None)
            return e
        raise Unsupported("index notation (entries like (X^T B X)_{kl}) is only supported as "
                          "the whole formula or inside \\sum",
                          hint="differentiate the matrix expression itself").at(
            self.text, n.start, n.end - n.start)

    def sub_name(self, p: N) -> str:
        if p.op == "sym":
            return p.args[0]
        if p.op == "num":
            return p.args[1]
        if p.op in ("product",):
            return "".join(self.sub_name(x) for x in p.args)
        if p.op == "sublist":
            return ",".join(self.sub_name(x) for x in p.args)
        if p.op == "head":
            return p.args[0]
        if p.op == "tmark":
            return "T"
        if p.op == "ones":
            return "1"
        return " ".join(self.text[p.start:p.end].split()).strip("{}_ ")

    def t_call_missing(self, n):
        raise TexgradError("a function needs an argument").at(self.text, n.start)

    def t_head(self, n, name, latex):
        raise ShapeError(f"{latex} needs an argument",
                         hint=f"write {latex}(X)").at(self.text, n.start, n.end - n.start)

    def t_request(self, n, *args):
        raise Unsupported("a derivative inside an expression is not supported",
                          hint="put the derivative operator in front of the whole formula"
                          ).at(self.text, n.start, n.end - n.start)

    t_dop = t_request

    def t_isum(self, n, op, body):
        """\\sum_{klmn} X_{kl} X_{mn}: index notation, rewritten in matrix form."""
        from .index import contract
        base, posts = _unwrap(op)
        sub = [p for kind, p in posts if kind == "subscript"]
        sups = [p for kind, p in posts if kind == "sup"]
        if sub and sub[0].op == "subrange" and len(sups) == 1 and \
                sub[0].args[0].op == "sym" and len(sub[0].args[0].args[0]) == 1 and \
                _number(sub[0].args[1]) in (0, 1):
            # \sum_{i=1}^{n} (or from 0): the whole range of the index, as \sum_i; the
            # bound is the size of what i indexes, which the entries' shapes carry
            letters = [sub[0].args[0].args[0]]
        elif not sub or sups or sub[0].op == "subrange":
            raise Unsupported("sums over part of a range are not supported",
                              hint="sum over whole indices: \\sum_{kl} X_{kl}, "
                                   "\\sum_{i=1}^{n} x_i^2").at(
                self.text, op.start, op.end - op.start)
        else:
            letters = self.index_letters(sub[0])
        self.style["index"] = True
        self.bound = getattr(self, "bound", set()) | set(letters)
        try:
            terms = self.index_terms(body)
        finally:
            self.bound = self.bound - set(letters)
        out = []
        for coef, factors in terms:
            out.append(contract(factors, coef, set(), self, n))
        return out[0] if len(out) == 1 else Add(tuple(out))

    def index_letters(self, p: N) -> list:
        name = self.sub_name(p)
        letters = [c for c in name.replace(",", "") if c.strip()]
        if not all(c.isalpha() for c in letters):
            raise parse_error_at(self.text, p, "summation indices must be letters: \\sum_{kl}")
        return letters

    def is_entry(self, n: N) -> bool:
        if n.op != "subscript":
            return False
        bound = getattr(self, "bound", set())
        name = self.sub_name(n.args[1]).replace(",", "")
        return bool(name) and all(c in bound for c in name) and len(name) <= 2

    def index_terms(self, n: N) -> list:
        """A body in index notation as a sum of products: [(scalars, [Indexed...])]."""
        from .index import Indexed, check_indices
        if n.op == "product":
            acc = [([], [])]
            for it in n.args:
                if it.op == "op":
                    continue
                sub = self.index_terms(it)
                acc = [(a + c, b + d) for a, b in acc for c, d in sub]
            return acc
        if n.op in ("paren", "brace"):
            return self.index_terms(n.args[0])
        if n.op == "add":
            return [t for x in n.args for t in self.index_terms(x)]
        if n.op == "neg":
            return [([S.Const(Fraction(-1))] + a, b) for a, b in self.index_terms(n.args[0])]
        if n.op == "isum":
            return [([self.t_isum(n, *n.args)], [])]
        if n.op == "sup" and n.args[0].op in ("paren", "brace") and \
                self.sup_kind(n.args[1]) == ("pow", 2):
            # (y_i - x_i)^2: the square of a sum, multiplied out
            one = self.index_terms(n.args[0])
            if any(b for _, b in one):
                return [(a1 + a2, b1 + b2) for a1, b1 in one for a2, b2 in one]
        if n.op == "sup" and self.is_entry(n.args[0]):
            kind, value = self.sup_kind(n.args[1])
            if kind == "pow" and value.denominator == 1 and 1 <= value <= 2:
                one = self.index_terms(n.args[0])
                return [(a + a, b + b) for a, b in one] if value == 2 else one
            raise Unsupported("only the square of an entry is supported in index notation",
                              hint="X_{kl}^2 is supported; write higher powers as "
                                   "elementwise powers in matrix form").at(
                self.text, n.start, n.end - n.start)
        if self.is_entry(n):
            base, payload = n.args
            name = self.sub_name(payload).replace(",", "")
            row = name[0]
            col = name[1] if len(name) > 1 else None
            if base.op == "sym" and base.args[0] == "delta" and col is not None:
                e = Identity(DimVar("delta", unit_ok=False))
                return [([], [Indexed(e, row, col, n)])]
            return [([], [check_indices(self.build(base), row, col, n, self)])]
        e = self.build(n)
        self.need_scalar(e, n, "a factor without indices in a sum over indices")
        return [([e], [])]

        # ---------------------------------------------------------------- finishing
    def finish(self, raw: Expr, strip: str | None = None):
        """Resolve dimension variables; returns (canonical f, f for differentiation, syms)."""
        names = self._dim_names()
        final = {}
        stripped = {}
        mapping = {}
        mapping_strip = {}
        for leaf in [e for e in walk(raw) if not e.children]:
            if isinstance(leaf, Sym):
                dims = tuple(names(d) for d in leaf.dims)
                s = Sym(leaf.name, dims, leaf.latex, leaf.assume)
                final[leaf.name] = s
                mapping[leaf] = s
                if leaf.name == strip:
                    t = Sym(leaf.name, dims, leaf.latex,
                            leaf.assume - {"symmetric", "spd", "diagonal", "orthogonal"})
                    stripped[leaf.name] = t
                    mapping_strip[leaf] = t
                else:
                    mapping_strip[leaf] = s
            elif isinstance(leaf, Identity):
                mapping[leaf] = mapping_strip[leaf] = Identity(names(leaf.n))
            elif isinstance(leaf, (Ones, Zero)):
                new = type(leaf)(tuple(names(d) for d in leaf.dims))
                mapping[leaf] = mapping_strip[leaf] = new
        f = S.resimplify(raw, mapping)
        self.check_range(f)
        fd = S.resimplify(raw, mapping_strip) if stripped else f
        for name, sym in self.symtab.items():   # symbols seen (even if simplified away)
            if name not in final:
                final[name] = Sym(name, tuple(names(d) for d in sym.dims), sym.latex,
                                  sym.assume)
        return f, fd, final

    def _dim_names(self):
        used = set()
        for v in self.user_shapes.values():
            used.update(str(d) for d in v)
        used.update(self.named_dims)
        taken = set(self.symtab) | used
        letters = [c for c in "nmpqklrsuvw" if c not in taken]
        counter = iter(range(1, 10 ** 9))
        assigned: dict = {}

        def fresh() -> str:
            return letters.pop(0) if letters else f"d{next(counter)}"

        def name(d):
            d = self.dims.find(d)
            if not isinstance(d, DimVar):
                return d
            if d not in assigned:
                # a size that only I, \mathbf{1} or \mathbf{0} carry (no symbol fixes it,
                # as in `I t`) is 1: nothing makes them larger
                assigned[d] = 1 if d.unit_ok else fresh()
            return assigned[d]
        # name vectors' and matrices' dimensions in order of first appearance
        for sym in self.symtab.values():
            for d in sym.dims:
                name(d)
        return name


def _unwrap(n: N):
    posts = []
    while n.op in ("sup", "subscript"):
        posts.append((n.op, n.args[1]))
        n = n.args[0]
    posts.reverse()
    return n, posts


def parse_error_at(text: str, n: N, msg: str):
    from .errors import ParseError
    return ParseError(msg).at(text, n.start, n.end - n.start)


def _is_transpose_mark(p: N) -> bool:
    return p.op == "tmark" or (p.op == "sym" and p.args[0] == "T" and p.args[2] != "bold")


def _mark_style(mark: str) -> str:
    mark = " ".join(mark.split())
    if mark in ("'", "\\prime"):
        return "T"
    if mark.startswith("\\mathsf"):
        return "\\mathsf{T}"
    if mark.startswith("\\mathrm"):
        return "\\mathrm{T}"
    if mark.startswith("\\text"):
        return "\\text{T}"
    if mark == "T":
        return "T"
    return mark   # \top, \intercal, \transpose


def _number(p: N):
    if p.op == "num":
        return Fraction(p.args[0])
    if p.op == "neg":
        v = _number(p.args[0])
        return -v if v is not None else None
    if p.op in ("brace", "paren"):
        return _number(p.args[0])
    if p.op == "frac":
        a, b = _number(p.args[0]), _number(p.args[1])
        if a is not None and b:
            return a / b
    if p.op == "product" and len(p.args) == 2 and p.args[1].op == "recip":   # 1/2
        a, b = _number(p.args[0]), _number(p.args[1].args[0])
        if a is not None and b:
            return a / b
    return None
