"""Inference: the symbols' shapes from the notation, the declarations and their uses.

The letter conventions (:data:`CONVENTIONS`) are soft defaults read from how a symbol is
written: a bold lower-case letter is a column vector, an upper-case letter (bold or not,
Latin or Greek) a matrix, a plain lower-case or Greek letter a scalar unless it is
transposed or put in a norm (then a vector).  ``shapes=`` and ``assume=`` override them.
:meth:`Inference.survey` collects every symbol's uses before any is typed; dimensions are
unification variables (:class:`~texgrad.dims.Dims`), and when a plain letter read as a
scalar meets a use only a vector has (``A x``), :class:`Promote` makes the elaboration start
again with it a vector.  The naming rule (``W_{12}`` is ``W_12``) is :meth:`sub_name`;
:meth:`Inference.finish` names the dimensions and gives the IR its final symbols.

:class:`texgrad.elaborate.Typer` is an Inference that also elaborates the syntax.
"""

from __future__ import annotations

from . import construct as S
from .factor import resimplify
from .dims import DimVar, Dims, Fixed
from .errors import ShapeError, TexgradError, Unsupported
from .ir import SCALAR, Add, Expr, Identity, Mul, Ones, Sym, Zero, walk
from .syntax import N, is_transpose_mark, unwrap_postfix

ASSUMPTIONS = ("symmetric", "spd", "invertible", "positive", "orthogonal", "diagonal",
               "real", "complex", "integer")

# the letter conventions, in the order symbol() applies them (a declaration overrides all):
# hint of the symbol's spelling -> what it is read as
CONVENTIONS = {
    "bold": "a column vector (\\mathbf{x})",
    "upper": "a matrix (A, \\Sigma, \\mathbf{A})",
    "plain": "a scalar (x, \\alpha), or a vector where its uses say so (x^T, \\|x\\|, A x)",
}


class Promote(Exception):
    """Plain letters read as scalars meet a use only a vector has (``A x``, ``x^T b``,
    ``A x - b``, ``(x - b)^T``, ``\\|x - b\\|``): type again with them as column vectors."""

    def __init__(self, names: set, scalar: bool = False):
        super().__init__(sorted(names))
        self.names = names
        self.scalar = scalar        # upper-case letters read as scalars (\frac{1}{N})


def t_only_as_mark(root: N) -> bool:
    """Whether ``t`` occurs in the formula only as a superscript of symbols, in a formula
    with a matrix or a bold vector by its letter (``a^t X^{-t} b``): then it is a transpose
    mark, as in texts that write the transpose lower case (``2^t``, ``x^t``: powers)."""
    seen = matrices = False
    bases: list = []
    stack = [(root, False)]
    while stack:
        n, in_sup = stack.pop()
        if not isinstance(n, N):
            continue
        if n.op == "sym" and n.args[:2] == ("t", "t"):
            if not in_sup:
                return False
            seen = True
        elif n.op == "sym" and n.args[2] in ("upper", "bold", "boldupper"):
            matrices = True
        if n.op == "sup":
            stack.append((n.args[0], in_sup))
            p = n.args[1]
            mark = p.op == "sym" or (p.op == "neg" and p.args[0].op == "sym")
            q = p.args[0] if p.op == "neg" else p
            if q.op == "sym" and q.args[:2] == ("t", "t"):
                bases.append(n.args[0])
            if n.args[0].op == "sym" and n.args[0].args[:2] == ("e", "e"):
                mark = False            # e^t: the exponential of t
            stack.append((p, mark))
            continue
        keep = in_sup and n.op == "neg"        # ^{-t}
        for a in n.args:
            if isinstance(a, N):
                stack.append((a, keep))
            elif isinstance(a, tuple):
                stack.extend((x, False) for x in a if isinstance(x, N))
    return seen and all(b.op == "sym" for b in bases) and matrices


class Inference:
    """The symbol table and the shapes of a formula being typed (see the module)."""

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
        self.t_mark = False         # ^t is a transpose (t is no symbol of the formula)
        self.readings: list = []    # how an ambiguous spot was read (f(x), A(x + y))
        self.built: dict = {}       # id(syntax node) -> (node, its raw IR)
        self._mag: dict = {}        # id(IR) -> (IR, log10 of its constant value)
        self.family: dict = {}      # the letters of the sums over families around -> range
        self.index_numbers: set = set()     # of those, the letters used as numbers (gamma^t)
        self.family_shapes: dict = {}       # (family, letters) -> its first member

    def survey(self, root: N):
        """Collect every symbol's uses (fonts, transposes, norms) before choosing kinds."""
        self.t_mark = t_only_as_mark(root)
        stack = [(root, None, frozenset())]
        while stack:
            n, parent, bound = stack.pop()
            if not isinstance(n, N):
                continue
            if n.op == "isum":
                _, posts = unwrap_postfix(n.args[0])
                subs = [p for kind, p, _ in posts if kind == "subscript"]
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
                        is_transpose_mark(parent.args[1], self.t_mark):
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

    def exponent_letter(self, t: Expr, node: N) -> Sym:
        """The letter n of a matrix power X^n: a positive integer (the reading is said)."""
        if not (isinstance(t, Sym) and len(t.name) == 1 and t.name.isalpha()):
            raise Unsupported("the exponent of a matrix power must be a number or a letter",
                              hint="X^n, X^{-1}, X^3").at(self.text, node.start,
                                                            node.end - node.start)
        n = Sym(t.name, SCALAR, t.latex, t.assume | {"integer", "positive"})
        if n.assume != t.assume:
            self.symtab[t.name] = n
            self.readings.append(f"{t.name} read as a positive integer (the exponent of a "
                                 "matrix power; the check draws 2, 3 or 4)")
        return n

    def _user_dim(self, d):
        if isinstance(d, int):
            if d == 1:
                return 1
            return Fixed(d)
        d = str(d).strip()
        if d.isdigit():
            return 1 if d == "1" else Fixed(d)
        return d

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
                known = self.symtab.get(leaf.name, leaf)      # k of k X^k: an integer too
                s = Sym(leaf.name, dims, leaf.latex, leaf.assume | known.assume)
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
        f = resimplify(raw, mapping)
        self.check_range(f)
        fd = resimplify(raw, mapping_strip) if stripped else f
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
