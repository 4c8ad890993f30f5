"""Hypothesis strategies for fuzzing texgrad (issue 5, part 3).

:func:`cases` builds random *well-shaped* matrix expressions out of the constructs the README
lists under "Notation accepted", tracking the shape of every subexpression as it goes, and
prints each as LaTeX in varied notation (transpose spellings, grouping styles, spacing
commands, trace/det/norm spellings, functions with and without parentheses).  Alongside the
LaTeX it builds an independent NumPy reference evaluator of the same expression, so a test can
check that texgrad *reads* the notation as intended and that a derivative texgrad stamps as
verified is right.

Symbols (names as the README's naming rule gives them):

* scalars ``a b c t`` (plain letters),
* column vectors ``\\mathbf{x} \\mathbf{y} \\mathbf{a}`` (bold; ``a`` is a vector or a scalar
  in one example, never both, since both are named ``a``),
* matrices ``A B C X W`` (upper case),

over the dimension names ``n m p``.  Every symbol's shape is declared explicitly through
``shapes=`` (inference is not under test here); properties a construct needs are declared
through ``assume=``: ``invertible`` for ``^{-1}``, ``spd`` for ``\\log\\det``, ``positive`` for
the scalars under ``\\log``, ``\\sqrt`` and negative or fractional powers.  Only ``I`` and
``\\mathbf{1}`` get their size from their context, and only where a sibling fixes it
(``M + I``, ``M\\mathbf{1}``, ``\\mathbf{1}^\\top\\mathbf{v}``).

Internally a shape is a pair ``(rows, cols)`` of dimension names or ``1``; values in the
reference evaluator are 2-D arrays of that shape.  The API's convention (a vector 1-D, a
scalar a float) is used at the boundary (:meth:`Case.f`, :func:`draw_values`).

Printing is precedence-driven (a child binding looser than its context is grouped) with the
grammar's quirks respected: a function without parentheses takes the next factor (``\\sin t``)
or, for ``tr``/``det``/``\\log\\det``, the rest of the product, so such a form is never followed by
another factor; a ``1x1`` matrix product (``\\mathbf{x}^\\top\\mathbf{y}``) is grouped before it
multiplies a matrix; a bar or norm nested in another of the same kind uses the explicit
``\\lVert \\rVert`` / ``\\det`` spelling, since ``\\|A \\|x\\| \\|`` is ambiguous in TeX itself.
Depth is bounded (``MAX_DEPTH`` = 4) so that an example stays fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import assume, strategies as st

DIMS = ("n", "m", "p")
SCALARS = ("a", "b", "c", "t")
VECTORS = ("x", "y", "a")
MATRICES = ("A", "B", "C", "X", "W")
MAX_DEPTH = 4

# how tightly a printed form binds (a child looser than its context is grouped)
SUM, NEG, HPROD, HEAD, PRODUCT, POSTFIX, ATOM = 10, 12, 15, 18, 20, 30, 40

SCALAR = (1, 1)

# ----------------------------------------------------------------------- notation tables

TRANSPOSE = ["^T", "^{T}", "^\\top", "^{\\top}", "^{\\mathsf{T}}", "^\\intercal", "'",
             "^{\\mathrm{T}}"]
INV_T = ["^{-T}", "^{-\\top}"]
GROUPS = [("(", ")"), ("(", ")"), ("(", ")"), ("[", "]"), ("\\left(", "\\right)"),
          ("\\left(", "\\right)"), ("\\bigl(", "\\bigr)"), ("{", "}"), ("\\left[", "\\right]"),
          ("\\Big(", "\\Big)")]
SPACES = ["", "", "", "", "", " ", " ", "\\,", "\\;", "~", "\\quad ", "\\ ", "\\!", "\\:"]
TRACE = ["\\operatorname{tr}", "\\operatorname{tr}", "\\mathrm{tr}", "\\text{tr}",
         "\\mathrm{Tr}", "\\tr", "\\operatorname{Tr}"]
NUMBERS = [("2", 2.0), ("3", 3.0), ("0.5", 0.5), ("\\frac{1}{2}", 0.5), ("\\frac12", 0.5),
           ("\\tfrac{1}{2}", 0.5), ("1.5", 1.5), ("\\frac{3}{2}", 1.5), ("\\dfrac{1}{3}", 1 / 3)]
FUNCS = {
    "exp": (["\\exp"], np.exp),
    "sin": (["\\sin"], np.sin),
    "cos": (["\\cos"], np.cos),
    "tanh": (["\\tanh"], np.tanh),
    "sigma": (["\\sigma"], lambda v: 0.5 * (1.0 + np.tanh(0.5 * v))),
}

_CMD_TAIL = re.compile(r"\\[A-Za-z]+$")
_LEADS_GROUP = re.compile(r"^(?:\s|\\[,;:! ]|~|\\quad\b|\\qquad\b)*"
                          r"(?:\(|\[|\{|\\left|\\bigl|\\Bigl|\\big|\\Big)")


def juxt(a: str, sep: str, b: str) -> str:
    """``a`` then ``b`` separated by ``sep``, with a space where TeX would glue tokens
    (``\\top`` + ``A``, ``2`` + ``3``)."""
    s = a + sep
    if (_CMD_TAIL.search(s) and b[:1].isalpha()) or \
            (s[-1:].isdigit() and (b[:1].isdigit() or b[:1] == ".")):
        s += " "
    return s + b


def leads_with_group(latex: str) -> bool:
    return bool(_LEADS_GROUP.match(latex))


# ------------------------------------------------------------------------------ nodes

@dataclass(frozen=True)
class Node:
    """A generated subexpression: its LaTeX, how tightly that binds, its shape (rows, cols),
    a reference evaluator (env of 2-D arrays -> 2-D array) and the symbols it uses.
    ``kind`` is ``"mat_prod"`` for a product with a non-scalar factor, ``"scalar_prod"`` for a
    product of scalars, ``"number"`` for a numeral."""
    latex: str
    prec: int
    shape: tuple
    ev: Callable
    syms: frozenset = frozenset()
    kind: str = ""


def _syms(*nodes) -> frozenset:
    out = frozenset()
    for n in nodes:
        out |= n.syms
    return out


def _sigma(v):
    return 0.5 * (1.0 + np.tanh(0.5 * v))


class Builder:
    """The state of one example while it is drawn: the shapes and assumptions given to the
    symbols used so far and their spellings."""

    def __init__(self, draw):
        self.draw = draw
        self.shapes: dict = {}          # name -> (rows, cols); scalars (1, 1)
        self.assume: dict = {}          # name -> set of properties
        self.spell: dict = {}           # name -> LaTeX
        self.a_vector = draw(st.booleans(), label="a is a vector")
        self.in_norm = 0                # inside \| \|: a nested norm spells \lVert \rVert
        self.in_abs = 0                 # inside | |: a nested det spells \det

    # ------------------------------------------------------------- random choices
    def choice(self, seq):
        return self.draw(st.sampled_from(seq))

    def coin(self, percent: int) -> bool:
        return self.draw(st.integers(0, 99)) < percent

    def sp(self) -> str:
        return self.choice(SPACES)

    def group(self, s: str) -> str:
        o, c = self.choice(GROUPS)
        return o + self.sp() + s + self.sp() + c

    def wrap(self, n: Node, prec: int) -> str:
        return n.latex if n.prec >= prec else self.group(n.latex)

    def dim(self):
        return self.choice(DIMS)

    # --------------------------------------------------------------------- symbols
    def _spelling(self, name: str, kind: str) -> str:
        if name not in self.spell:
            if kind == "vector":
                self.spell[name] = self.choice(["\\mathbf{%s}", "\\mathbf{%s}", "\\mathbf{%s}",
                                                "\\boldsymbol{%s}", "\\bm{%s}"]) % name
            elif kind == "matrix":
                self.spell[name] = self.choice([name, name, name, name, "\\mathbf{%s}" % name])
            else:
                self.spell[name] = name
        return self.spell[name]

    def _sym(self, name: str, shape) -> Node:
        kind = "scalar" if shape == SCALAR else ("vector" if shape[1] == 1 else "matrix")
        self.shapes.setdefault(name, shape)
        return Node(self._spelling(name, kind), ATOM, shape,
                    lambda env, k=name: env[k], frozenset([name]))

    def scalar_names(self):
        return [s for s in SCALARS if not (s == "a" and self.a_vector)]

    def vector_names(self):
        return [v for v in VECTORS if not (v == "a" and not self.a_vector)]

    def _pick(self, names, shape):
        """A name of this shape: one already of it (reused at least half of the time) or a
        fresh one; None when every name is taken by another shape."""
        same = [k for k in names if self.shapes.get(k) == shape]
        fresh = [k for k in names if k not in self.shapes]
        if same and (not fresh or self.coin(60)):
            return self.choice(same)
        if fresh:
            return self.choice(fresh)
        return None

    def number(self) -> Node:
        tex, val = self.choice(NUMBERS)
        prec = ATOM if tex[0].isdigit() else PRODUCT      # \frac12^2 would be unclear
        return Node(tex, prec, SCALAR, lambda env, v=val: np.array([[v]]), frozenset(),
                    "number")

    def leaf(self, shape):
        r, c = shape
        if shape == SCALAR:
            if self.coin(12):
                return self.number()
            return self._sym(self.choice(self.scalar_names()), SCALAR)
        if c == 1:
            name = self._pick(self.vector_names(), shape)
            return None if name is None else self._sym(name, shape)
        if r == 1:
            v = self.leaf((c, 1))
            return None if v is None else self.transpose(v)
        flipped = [k for k in MATRICES if self.shapes.get(k) == (c, r)]
        if flipped and (r != c and self.coin(40) or self.coin(10)):
            return self.transpose(self._sym(self.choice(flipped), (c, r)))
        name = self._pick(MATRICES, shape)
        if name is not None:
            return self._sym(name, shape)
        if flipped:
            return self.transpose(self._sym(self.choice(flipped), (c, r)))
        return None

    def mark(self, name: str, prop: str) -> None:
        props = self.assume.setdefault(name, set())
        if prop == "invertible" and "spd" in props:
            return
        if prop == "spd":
            props.discard("invertible")
        props.add(prop)

    def square_symbol(self, d, prop: str):
        name = self._pick(MATRICES, (d, d))
        if name is None:
            return None
        self.mark(name, prop)
        return self._sym(name, (d, d))

    def positive_symbol(self) -> Node:
        name = self.choice(self.scalar_names())
        self.mark(name, "positive")
        return self._sym(name, SCALAR)

    # ------------------------------------------------------------------ combinators
    def transpose(self, n: Node) -> Node:
        spelling = self.choice(TRANSPOSE)
        r, c = n.shape
        return Node(self.wrap(n, ATOM) + spelling, POSTFIX, (c, r),
                    lambda env, a=n: a.ev(env).T, n.syms)

    def product(self, items: list) -> Node:
        """Juxtaposition (with \\cdot between two scalars at times)."""
        nonscalar = any(it.shape != SCALAR for it in items)
        parts = []
        kind = "mat_prod" if nonscalar else "scalar_prod"
        for it in items:
            if it.prec < PRODUCT or (it.prec == PRODUCT and it.kind == "mat_prod" and
                                     it.shape == SCALAR and nonscalar):
                parts.append(self.group(it.latex))
            else:
                parts.append(it.latex)
                if it.kind == "mat_prod":       # x^T y inside: still a matrix product
                    kind = "mat_prod"
        out = parts[0]
        for i in range(1, len(items)):
            sep = self.sp()
            if items[i - 1].shape == SCALAR and items[i].shape == SCALAR and self.coin(35):
                sep = self.sp() + "\\cdot" + self.choice([" ", "\\,", ""])
            out = juxt(out, sep, parts[i])
        shape = _matmul_shape([it.shape for it in items])

        def ev(env, its=tuple(items)):
            acc = its[0].ev(env)
            for it in its[1:]:
                v = it.ev(env)
                acc = acc * v if (acc.shape == (1, 1) or v.shape == (1, 1)) else acc @ v
            return acc
        return Node(out, PRODUCT, shape, ev, _syms(*items), kind)

    def add(self, terms: list, signs: list) -> Node:
        out = self.wrap(terms[0], NEG if signs[0] > 0 else HPROD)
        if signs[0] < 0:
            out = "-" + self.sp() + out
        for t, s in zip(terms[1:], signs[1:]):
            out += self.sp() + ("+" if s > 0 else "-") + self.sp() + self.wrap(t, HPROD)

        def ev(env, ts=tuple(terms), ss=tuple(signs)):
            acc = ss[0] * ts[0].ev(env)
            for t, s in zip(ts[1:], ss[1:]):
                acc = acc + s * t.ev(env)
            return acc
        return Node(out, SUM, terms[0].shape, ev, _syms(*terms))

    def call(self, head: str, arg: Node, fn, shape=None, bare: bool = False,
             bare_prec: int = PRODUCT) -> Node:
        """``head`` applied to ``arg``: with a group (an atom: a postfix applies to the result)
        or bare (``\\sin t``: the next factor; ``\\operatorname{tr} X^T A X``: the rest of the
        product)."""
        shape = arg.shape if shape is None else shape
        ev = lambda env, a=arg: fn(a.ev(env))     # noqa: E731
        if bare:
            return Node(juxt(head, self.choice([" ", "\\,", ""]), arg.latex), bare_prec, shape,
                        ev, arg.syms)
        return Node(juxt(head, self.choice(["", "", "", " ", "\\!"]), self.group(arg.latex)),
                    ATOM, shape, ev, arg.syms)

    # -------------------------------------------------------------------- generation
    def gen(self, shape, depth: int) -> Node:
        if depth <= 0 or self.coin(22):
            n = self.leaf(shape)
            if n is not None:
                return n
            if depth <= 0:
                n = self.fallback(shape)
                assume(n is not None)       # every name is taken by other shapes: rare
                return n
        r, c = shape
        options = ["sum", "neg", "scale", "func", "frac"]
        if shape == SCALAR:
            options += ["trace", "trace", "det", "logdet", "log", "sqrt", "norm", "norm",
                        "spow", "ones", "matmul", "matmul"]
        else:
            options += ["hadamard", "transpose", "matmul", "matmul", "matmul"]
            if r == c:
                options += ["inverse", "power", "diag", "plus_identity"]
            if c == 1:
                options += ["rowsum"]
        for _ in range(4):
            n = getattr(self, "g_" + self.choice(options))(shape, depth - 1)
            if n is not None:
                return n
        n = self.leaf(shape) or self.fallback(shape)
        assume(n is not None)          # every name is taken by other shapes: rare
        return n

    def fallback(self, shape):
        """A product of two leaves of this shape, when no single symbol has it."""
        r, c = shape
        for k in ([1] if r != 1 and c != 1 else []) + list(DIMS):
            if (r, k) == SCALAR or (k, c) == SCALAR:
                continue
            a = self.leaf((r, k))
            b = self.leaf((k, c)) if a is not None else None
            if a is not None and b is not None:
                return self.product([a, b])
        return None

    def g_sum(self, shape, d):
        k = self.choice([2, 2, 2, 3])
        terms = [self.gen(shape, d) for _ in range(k)]
        signs = [-1 if self.coin(15) else 1] + [self.choice([1, 1, -1]) for _ in terms[1:]]
        return self.add(terms, signs)

    def g_neg(self, shape, d):
        t = self.gen(shape, d)
        return Node("-" + self.sp() + self.wrap(t, HPROD), NEG, shape,
                    lambda env, a=t: -a.ev(env), t.syms)

    def g_scale(self, shape, d):
        s = self.gen(SCALAR, d)
        m = self.gen(shape, d)
        if s.kind == "number" or m.kind == "number" or self.coin(75):
            items = [s, m] if m.kind != "number" else [m, s]
        else:
            items = [m, s]
        return self.product(items)

    def g_func(self, shape, d):
        name = self.choice(sorted(FUNCS))
        heads, fn = FUNCS[name]
        arg = self.gen(shape, d)
        bare = (shape == SCALAR and name != "sigma" and arg.prec >= POSTFIX and
                arg.kind != "number" and not leads_with_group(arg.latex) and self.coin(40))
        return self.call(self.choice(heads), arg, fn, bare=bare)

    def g_frac(self, shape, d):
        num = self.gen(shape, d)
        den = self.positive(d)
        cmd = self.choice(["\\frac", "\\frac", "\\dfrac", "\\tfrac"])
        return Node(f"{cmd}{{{num.latex}}}{{{den.latex}}}", PRODUCT, shape,
                    lambda env, a=num, b=den: a.ev(env) / b.ev(env), _syms(num, den))

    def g_hadamard(self, shape, d):
        a, b = self.gen(shape, d), self.gen(shape, d)
        op = self.choice(["\\odot", "\\odot", "\\circ"])
        tex = juxt(juxt(self.wrap(a, HPROD), self.sp(), op), self.sp() or " ",
                   self.wrap(b, PRODUCT))
        return Node(tex, HPROD, shape, lambda env, x=a, y=b: x.ev(env) * y.ev(env),
                    _syms(a, b))

    def g_transpose(self, shape, d):
        return self.transpose(self.gen((shape[1], shape[0]), d))

    def g_matmul(self, shape, d):
        r, c = shape
        inner = list(DIMS) + ([1] if r != 1 and c != 1 else [])
        ks = [self.choice(inner)]
        if self.coin(30):
            ks.append(self.choice(inner))
        dims = [r] + ks + [c]
        items = []
        for a, b in zip(dims, dims[1:]):
            if (a, b) == SCALAR:
                return None
            items.append(self.gen((a, b), d))
        return self.product(items)

    def g_inverse(self, shape, d):
        base = self.square_symbol(shape[0], self.choice(["invertible", "invertible", "spd"]))
        if base is None:
            return None
        if self.coin(20):
            base = self.transpose(base)
        if self.coin(25):
            spelling, fn = self.choice(INV_T), lambda a: np.linalg.inv(a).T
        else:
            spelling, fn = "^{-1}", np.linalg.inv
        return Node(self.wrap(base, ATOM) + spelling, POSTFIX, shape,
                    lambda env, a=base, f=fn: f(a.ev(env)), base.syms)

    def g_power(self, shape, d):
        base = self.gen(shape, d)
        k, spelling = self.choice([(2, "^2"), (2, "^{2}"), (3, "^{3}"), (3, "^3")])
        return Node(self.wrap(base, ATOM) + spelling, POSTFIX, shape,
                    lambda env, a=base, k=k: np.linalg.matrix_power(a.ev(env), k), base.syms)

    def g_diag(self, shape, d):
        v = self.gen((shape[0], 1), d)
        head = self.choice(["\\operatorname{diag}", "\\operatorname{diag}", "\\mathrm{diag}",
                            "\\diag"])
        return self.call(head, v, lambda a: np.diag(a[:, 0]), shape=shape)

    def g_plus_identity(self, shape, d):
        m = self.gen(shape, d)
        eye = self.choice(["I", "I", "\\mathbf{I}"])
        coef = None
        if self.coin(35):
            coef = self.choice([self.number(), self._sym(self.choice(self.scalar_names()),
                                                         SCALAR)])
        sign = self.choice([1, 1, -1])
        tail = eye if coef is None else juxt(coef.latex, self.sp(), eye)
        tex = self.wrap(m, NEG) + self.sp() + ("+" if sign > 0 else "-") + self.sp() + tail

        def ev(env, a=m, s=sign, k=coef):
            v = a.ev(env)
            w = 1.0 if k is None else k.ev(env)[0, 0]
            return v + s * w * np.eye(v.shape[0])
        return Node(tex, SUM, shape, ev, _syms(m) | (coef.syms if coef else frozenset()))

    def g_rowsum(self, shape, d):
        m = self.gen((shape[0], self.dim()), d)
        tex = juxt(self.wrap(m, PRODUCT), self.sp(), "\\mathbf{1}")
        return Node(tex, PRODUCT, shape, lambda env, a=m: a.ev(env).sum(axis=1, keepdims=True),
                    m.syms, "mat_prod")

    # scalars
    def g_trace(self, shape, d):
        k = self.dim()
        m = self.gen((k, k), d)
        head = self.choice(TRACE)
        bare = m.prec >= PRODUCT and not leads_with_group(m.latex) and self.coin(35)
        return self.call(head, m, lambda a: np.array([[np.trace(a)]]), shape=SCALAR,
                         bare=bare, bare_prec=HEAD)

    def g_det(self, shape, d):
        k = self.dim()
        self.in_abs += 1
        m = self.gen((k, k), d)
        self.in_abs -= 1
        fn = lambda a: np.array([[np.linalg.det(a)]])    # noqa: E731
        style = self.choice(["det", "det", "bare", "bars", "bars", "left"])
        if style in ("bars", "left") and self.in_abs == 0:
            o, c = ("|", "|") if style == "bars" else ("\\left|", "\\right|")
            return Node(o + self.sp() + m.latex + self.sp() + c, ATOM, SCALAR,
                        lambda env, a=m: fn(a.ev(env)), m.syms)
        bare = (style == "bare" and m.prec >= PRODUCT and not leads_with_group(m.latex))
        return self.call("\\det", m, fn, shape=SCALAR, bare=bare, bare_prec=HEAD)

    def g_logdet(self, shape, d):
        s = self.spd(self.dim())
        if s is None:
            return None
        fn = lambda a: np.array([[np.linalg.slogdet(a)[1]]])    # noqa: E731
        ev = lambda env, a=s: fn(a.ev(env))                     # noqa: E731
        style = self.choice(["paren", "paren", "bare", "bars", "op", "ln"])
        if style == "bars" and self.in_abs == 0:
            o, c = self.choice([("|", "|"), ("\\left|", "\\right|")])
            return Node(f"\\log{self.sp()}{o}{s.latex}{c}", PRODUCT, SCALAR, ev, s.syms)
        if style == "op":
            return Node("\\operatorname{logdet}" + self.group(s.latex), ATOM, SCALAR, ev, s.syms)
        if style == "bare" and not leads_with_group(s.latex):
            return Node(juxt("\\log\\det", " ", s.latex), HEAD, SCALAR, ev, s.syms)
        log = "\\ln" if style == "ln" else "\\log"
        return Node(juxt(log + "\\det", self.sp(), self.group(s.latex)), PRODUCT, SCALAR, ev,
                    s.syms)

    def g_log(self, shape, d):
        p = self.positive(d)
        bare = p.prec >= POSTFIX and p.kind != "number" and not leads_with_group(p.latex) \
            and self.coin(40)
        return self.call(self.choice(["\\log", "\\log", "\\ln"]), p, np.log, bare=bare)

    def g_sqrt(self, shape, d):
        p = self.positive(d)
        return Node("\\sqrt{" + p.latex + "}", ATOM, SCALAR,
                    lambda env, a=p: np.sqrt(a.ev(env)), p.syms)

    def g_norm(self, shape, d):
        vector = self.coin(55)
        arg_shape = (self.dim(), 1) if vector else (self.dim(), self.dim())
        self.in_norm += 1
        arg = self.gen(arg_shape, d)
        self.in_norm -= 1
        if self.in_norm:
            o, c = "\\lVert", "\\rVert"
        else:
            o, c = self.choice([("\\|", "\\|"), ("\\|", "\\|"), ("\\lVert", "\\rVert"),
                                ("\\left\\|", "\\right\\|"), ("\\Vert", "\\Vert")])
        subs = ["", "_2"] if vector else ["", "_F", "_F"]
        sub = self.choice(subs)
        sq = self.choice(["", "^2", "^{2}"])
        tex = juxt(juxt(o, self.sp(), arg.latex), self.sp(), c) + sub + sq
        power = 2 if sq else 1
        return Node(tex, POSTFIX if (sub or sq) else ATOM, SCALAR,
                    lambda env, a=arg, k=power: np.array([[np.linalg.norm(a.ev(env)) ** k]]),
                    arg.syms)

    def g_spow(self, shape, d):
        if self.coin(30):
            base = self.positive(d)
            k, spelling = self.choice([(0.5, "^{1/2}"), (-1, "^{-1}"), (0.5, "^{0.5}"),
                                       (2, "^2")])
        else:
            base = self.gen(SCALAR, d)
            k, spelling = self.choice([(2, "^2"), (2, "^{2}"), (3, "^{3}")])
        if base.kind == "number":
            return None
        return Node(self.wrap(base, ATOM) + spelling, POSTFIX, SCALAR,
                    lambda env, a=base, k=k: a.ev(env) ** k, base.syms)

    def g_ones(self, shape, d):
        v = self.gen((self.dim(), 1), d)
        ones = self.choice(["\\mathbf{1}^\\top", "\\mathbf{1}^T", "\\mathbf{1}^{\\top}"])
        if self.coin(25):          # v^T 1
            tex = juxt(self.wrap(v, ATOM) + self.choice(TRANSPOSE), self.sp(), "\\mathbf{1}")
        else:
            tex = juxt(ones, self.sp(), self.wrap(v, PRODUCT) if v.kind != "mat_prod"
                       else self.group(v.latex))
        return Node(tex, PRODUCT, SCALAR, lambda env, a=v: a.ev(env).sum(keepdims=True)
                    .reshape(1, 1), v.syms, "mat_prod")

    # ------------------------------------------------------------ special domains
    def positive(self, d) -> Node:
        """A scalar that is positive wherever it is evaluated (the argument of \\log,
        \\sqrt and of negative or fractional powers)."""
        if d <= 0 or self.coin(35):
            return self.number() if self.coin(15) else self.positive_symbol()
        kind = self.choice(["exp", "sum", "prod", "norm", "trace", "det", "sigma", "frac"])
        if kind == "exp":
            return self.call("\\exp", self.gen(SCALAR, d - 1), np.exp)
        if kind == "sigma":
            return self.call("\\sigma", self.gen(SCALAR, d - 1), _sigma)
        if kind == "sum":
            return self.add([self.positive(d - 1), self.positive(d - 1)], [1, 1])
        if kind == "prod":
            a, b = self.positive(d - 1), self.positive(d - 1)
            return self.product([a, b] if b.kind != "number" else [b, a])
        if kind == "frac":
            a, b = self.positive(d - 1), self.positive(d - 1)
            return Node(f"\\frac{{{a.latex}}}{{{b.latex}}}", PRODUCT, SCALAR,
                        lambda env, x=a, y=b: x.ev(env) / y.ev(env), _syms(a, b))
        if kind == "norm":      # positive unless the vector cancels (\|x - x\|): rare
            self.in_norm += 1
            v = self.gen((self.dim(), 1), d - 1)
            self.in_norm -= 1
            o, c = ("\\lVert", "\\rVert") if self.in_norm else ("\\|", "\\|")
            return Node(f"{o}{v.latex}{c}_2^2", POSTFIX, SCALAR,
                        lambda env, a=v: np.array([[np.sum(a.ev(env) ** 2)]]), v.syms)
        s = self.spd(self.dim())
        if s is None:
            return self.positive_symbol()
        if kind == "trace":
            return self.call(self.choice(TRACE), s, lambda a: np.array([[np.trace(a)]]),
                             shape=SCALAR)
        return self.call("\\det", s, lambda a: np.array([[np.linalg.det(a)]]), shape=SCALAR)

    def spd(self, k):
        s = self.square_symbol(k, "spd")
        if s is not None and self.coin(15):
            return Node(s.latex + "^{-1}", POSTFIX, s.shape,
                        lambda env, a=s: np.linalg.inv(a.ev(env)), s.syms)
        return s


def _matmul_shape(shapes):
    rows = cols = None
    for r, c in shapes:
        if (r, c) == SCALAR:
            continue
        if rows is None:
            rows = r
        cols = c
    return SCALAR if rows is None else (rows, cols)


# ------------------------------------------------------------------------------- cases

def _user_dims(shape) -> tuple:
    r, c = shape
    if shape == SCALAR:
        return ()
    if c == 1:
        return (r,)
    return (r, c)


def to_internal(value, shape) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    return a.reshape(1, 1) if shape == SCALAR else (a.reshape(-1, 1) if shape[1] == 1 else a)


def to_user(a: np.ndarray, shape):
    if shape == SCALAR:
        return float(a[0, 0])
    if shape[1] == 1 or shape[0] == 1:
        return a.reshape(-1).copy()
    return a


@dataclass
class Case:
    """One generated example.  Unpacks as ``(latex, shapes, assume, f, wrt)``."""
    latex: str
    shapes: dict                   # name -> dims, as texgrad's shapes= takes them
    assume: dict                   # name -> tuple of properties
    node: Node = field(repr=False)
    wrt: str = ""                  # the variable's name
    wrt_latex: str = ""            # ... and how the formula writes it
    internal: dict = field(default_factory=dict, repr=False)   # name -> (rows, cols)

    def __iter__(self):
        return iter((self.latex, self.shapes, self.assume, self.f, self.wrt))

    @property
    def fshape(self):
        return self.node.shape

    def f(self, values: dict):
        """The reference value at ``values`` (API layout: vectors 1-D, scalars float)."""
        env = {k: to_internal(values[k], self.internal[k]) for k in self.internal}
        with np.errstate(all="ignore"):
            return to_user(self.node.ev(env), self.node.shape)

    def sizes(self, seed: int) -> dict:
        perm = np.random.default_rng(seed).permutation([2, 3, 4]) + (seed % 2)
        return dict(zip(DIMS, (int(v) for v in perm)))


def literal_case(latex: str, shapes: dict, wrt: str, f, fdims: tuple, assume=None,
                 wrt_latex: str | None = None) -> Case:
    """A hand-written example (for ``@example``): ``f`` maps values (API layout) to the
    reference value; ``fdims`` are the dimension names of f's shape (``()`` a scalar)."""
    internal = {k: (1, 1) if not v else ((v[0], 1) if len(v) == 1 else tuple(v))
                for k, v in shapes.items()}
    fshape = (1, 1) if not fdims else ((fdims[0], 1) if len(fdims) == 1 else tuple(fdims))

    def ev(env):
        user = {k: to_user(env[k], internal[k]) for k in internal}
        return to_internal(f(user), fshape)
    node = Node(latex, ATOM, fshape, ev, frozenset(shapes))
    return Case(latex, dict(shapes), dict(assume or {}), node, wrt, wrt_latex or wrt, internal)


def draw_values(case: Case, seed: int, sizes: dict | None = None) -> dict:
    """Values of every symbol honouring the assumptions (API layout), with distinct sizes for
    n, m, p (or the ``sizes`` given); well conditioned, so that an independent finite
    difference is reliable."""
    rng = np.random.default_rng(seed)
    sizes = {**case.sizes(seed), **(sizes or {})}
    out = {}
    for name in sorted(case.internal):
        r, c = (sizes.get(d, 1) if d != 1 else 1 for d in case.internal[name])
        props = set(case.assume.get(name, ()))
        if "spd" in props:
            m = rng.standard_normal((r, r))
            a = m @ m.T / r + np.eye(r)
        elif "invertible" in props:
            a = np.eye(r) + 0.4 * rng.standard_normal((r, r)) / np.sqrt(r)
        elif "positive" in props:
            a = rng.uniform(0.5, 1.5, (r, c))
        else:
            a = 0.8 * rng.standard_normal((r, c))
        out[name] = to_user(a, case.internal[name])
    return out


def random_direction(case: Case, name: str, seed: int, sizes: dict | None = None):
    """A random direction for the variable ``name`` (symmetric for a symmetric/spd one)."""
    rng = np.random.default_rng(seed + 7919)
    sizes = {**case.sizes(seed), **(sizes or {})}
    r, c = (sizes.get(d, 1) if d != 1 else 1 for d in case.internal[name])
    v = rng.standard_normal((r, c))
    if {"spd", "symmetric"} & set(case.assume.get(name, ())):
        v = (v + v.T) / 2
    return to_user(v, case.internal[name])


@st.composite
def cases(draw, max_depth: int = MAX_DEPTH, shapes=("scalar", "scalar", "scalar", "vector",
                                                      "matrix")):
    """A random well-shaped expression (see the module docstring) and a variable in it."""
    b = Builder(draw)
    depth = draw(st.integers(1, max_depth), label="depth")
    kind = draw(st.sampled_from(shapes), label="shape of f")
    if kind == "scalar":
        target = SCALAR
    elif kind == "vector":
        target = (b.dim(), 1)
    else:
        target = (b.dim(), b.dim())
    node = b.gen(target, depth)
    assume(node.syms)
    wrt = draw(st.sampled_from(sorted(node.syms)), label="wrt")
    used = {k: b.shapes[k] for k in sorted(node.syms)}
    shapes_out = {k: _user_dims(v) for k, v in used.items()}
    assume_out = {k: tuple(sorted(b.assume[k])) for k in used if b.assume.get(k)}
    latex = node.latex
    if draw(st.integers(0, 9), label="outer spacing") == 0:
        latex = b.sp() + latex + b.choice(["", " ", "\\,"])
    return Case(latex, shapes_out, assume_out, node, wrt, b.spell.get(wrt, wrt), used)


# ------------------------------------------------------------------ mutation and noise

# fragments inserted by mutations: the characters and commands the grammar gives meaning to
FRAGMENTS = list("()[]{}^_'|+-*/=.,&~ 0123456789xyzATXIn\\") + [
    "\\|", "\\left", "\\right", "\\frac", "\\sqrt", "\\top", "^{-1}", "\\mathbf{", "\\det",
    "\\log", "\\operatorname{tr}", "\\odot", "\\otimes", "\\partial", "\\nabla", "\\sum",
    "\\cdot", "\\,", "\\quad", "\\sigma", "\\exp", "\\mathbf{1}", "\\lVert", "\\rVert",
    "\\alpha", "_{ij}", "^{\\circ 2}", "\\overline{", "\\hat{", "^H", "\\text{tr}", "$",
    "\\[", "\\]", "\\begin{equation}", "\\frac{\\partial}{\\partial X}", "\\nabla_{\\mathbf{x}}",
    "\\Delta", "\\pm", "\\delta_{ij}", "\u00e9", "\u2212", "\t", "\n", "\\\\", "%",
]


@st.composite
def mutated(draw, base=None):
    """A generated formula with one to three random edits: delete a span, insert a fragment,
    duplicate a span, or swap two characters."""
    case = draw(base if base is not None else cases())
    text = case.latex
    for _ in range(draw(st.integers(1, 3), label="edits")):
        op = draw(st.sampled_from(["delete", "insert", "insert", "duplicate", "swap"]))
        i = draw(st.integers(0, len(text)))
        if op == "delete" and text:
            j = min(len(text), i + draw(st.integers(1, 4)))
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(FRAGMENTS)) + text[i:]
        elif op == "duplicate":
            j = min(len(text), i + draw(st.integers(1, 8)))
            text = text[:j] + text[i:j] + text[j:]
        elif op == "swap" and len(text) >= 2:
            i = min(i, len(text) - 2)
            text = text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return case, text


# token soup: sequences of the grammar's own tokens, mostly malformed
TOKENS = FRAGMENTS + ["\\mathbf{x}", "A", "X", "W", "\\mathbf{y}", "^T", "^\\top", "^2", "t",
                      "\\|_2", "\\|_F^2", "\\operatorname{diag}", "\\sin", "\\tanh", "(", ")",
                      "\\left(", "\\right)", "\\bigl(", "\\bigr)", "\\tr", "|", "\\mathrm{Tr}"]


def latexish_text():
    """Random text: arbitrary Unicode, or a soup of LaTeX tokens."""
    soup = st.lists(st.sampled_from(TOKENS), max_size=25).map("".join)
    return st.one_of(st.text(max_size=60), soup, soup)
