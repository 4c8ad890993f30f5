"""Elaboration: the syntax tree to raw typed IR, one method per syntax op (``t_<op>``).

Every notation is desugared here into the IR's few nodes (micrograd's lesson: derive
before you add a node): ``\\frac{a}{b}`` is ``a b^{-1}``, ``\\log\\det`` is ``log(Det)``,
``\\operatorname{etr}`` is ``exp(Trace)``, ``|X|`` a determinant or an absolute value by
the shape, ``\\langle A, X\\rangle`` a trace; superscripts are read by :meth:`Typer.sup_kind`
(a transpose mark, an inverse, a power, a Hermitian transpose).  An elementwise function is
its record of :mod:`texgrad.functions`.  The shapes come from :class:`~texgrad.infer.Inference`
(the Typer's base), index notation from :class:`~texgrad.indices.IndexNotation`.

:func:`typed` is the entry point: it types the tree, again with letters promoted to vectors
as long as their uses ask for it.
"""

from __future__ import annotations

from fractions import Fraction

from . import construct as S
from .factor import resimplify
from .dims import DimVar
from .errors import LimitError, ShapeError, TexgradError, Unsupported
from .functions import ABS, EXP, LOG
from .calls import Calls
from .indices import IndexNotation
from .infer import Inference, Promote
from .ir import SCALAR, Add, Expr, Identity, Index, Mul, Ones, Sym, Zero
from .matexp import matexp
from .limits import MAX_POWER, NUMBER_HINT, number_text, out_of_range, range_error
from .syntax import N, is_transpose_mark, number_value


def _raw_mul(a: Expr, b: Expr) -> Expr:
    if a.shape == SCALAR and b.shape != SCALAR:
        return Mul((a, b))
    return Mul((b, a)) if b.shape == SCALAR and a.shape != SCALAR else Mul((a, b))


class Typer(Inference, IndexNotation, Calls):
    """Builds typed IR from the untyped tree.  One method per syntax-tree op."""

    def juxt(self, a: Expr, b: Expr, na: N, nb: N) -> Expr:
        self.promote_after(a, b)
        if self.is_scalar(a) or self.is_scalar(b):
            return _raw_mul(a, b)
        self.dims.unify(a.shape[1], b.shape[0], "matrix product", na, nb)
        return S.MatMul((a, b))

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
                        sub = out_of_range(resimplify(self.built[id(c)][1]))
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
        if name in self.index_numbers:
            return Index(name)                  # the index of the sum around, as a number
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

    def _could_be_applied(self, prev) -> bool:
        """An undeclared letter (``a``, ``A``) or ``\\lambda_1``: it could name a function."""
        if prev.op == "subscript" and prev.args[0].op == "sym":
            return prev.args[0].args[0] in ("lambda", "sigma")
        return (prev.op == "sym" and prev.args[2] in ("plain", "upper") and
                len(prev.args[0]) == 1 and prev.args[0] not in self.user_shapes)

    def t_product(self, n, *items):
        """Juxtaposition, left to right: a scalar factor multiplies, otherwise a matrix
        product (one flat MatMul per run of matrix factors, so long products stay linear)."""
        chain: list = []           # the current run of matrix-product factors
        acc_node = None
        prev = None
        for it in items:
            if prev is not None and it.op == "paren" and it.args[1] == "(" and \
                    it.start == prev.end and self._could_be_applied(prev):
                # a(b + c), A(x + y), \lambda_1(X): a product, though a(·) could be a function
                self.readings.append(f"{self.src(prev)}({self.src(it.args[0])}) read as "
                                     f"the product of {self.src(prev)} and "
                                     f"({self.src(it.args[0])})")
            prev = it
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
                last = chain[-1]
                if isinstance(last, S.Transpose) and isinstance(last.arg, S.Vec) and \
                        isinstance(e, S.Vec):
                    # vec(A)^T vec(B) = tr(A^T B), desugared (the gradient needs no vec)
                    a, b = last.arg.arg, e.arg
                    self.dims.unify(a.shape[0], b.shape[0], "vec(A)^T vec(B)", acc_node, it)
                    self.dims.unify(a.shape[1], b.shape[1], "vec(A)^T vec(B)", acc_node, it)
                    chain[-1] = S.Trace(S.MatMul((S.Transpose(a), b)))
                    acc_node = N("span", (), acc_node.start, it.end)
                    continue
                self.dims.unify(chain[-1].shape[1], e.shape[0], "matrix product", acc_node, it)
                chain.append(e)
            acc_node = N("span", (), acc_node.start, it.end)
        return self._diag_products(chain)

    def _diag_products(self, chain: list) -> Expr:
        """``\\operatorname{diag}(\\mathbf{w}) A\\mathbf{x}`` = ``\\mathbf{w} \\odot (A\\mathbf{x})``:
        the diagonal matrix of a vector, before a product that is a column vector, desugared
        to an elementwise product (``\\mathbf{x}^T\\operatorname{diag}(\\mathbf{w})\\mathbf{x}``
        too)."""
        for i, f in enumerate(chain[:-1]):
            if isinstance(f, S.Diag) and self.shape_of(f.arg)[1] == 1 and \
                    self.shape_of(chain[-1])[1] == 1:
                rest = chain[i + 1:]
                tail = rest[0] if len(rest) == 1 else S.MatMul(tuple(rest))
                chain = chain[:i] + [S.Hadamard((f.arg, tail))]
                break
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
            # |x| of a vector: its length, as physics and many notes write the norm
            note = f"|{self.src(inner)}| read as the Euclidean norm of a vector"
            if note not in self.readings:
                self.readings.append(note)
            return self.t_norm(n, inner)
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

    def t_sup(self, n, base, payload):
        kind, value = self.sup_kind(payload)
        if kind in ("pow", "expr") and base.op == "sym" and base.args[0] == "e" and \
                base.args[1] == "e" and "e" not in self.user_shapes:
            arg = self.build(payload)
            if self._definitely_not_1(arg.shape[0]) and self._definitely_not_1(arg.shape[1]):
                self.need_square(arg, payload, "the matrix exponential e^{X}")
                return matexp(arg)             # e^{X} of a matrix: the power series
            return S.Func(EXP, arg)
        t = None
        if kind == "expr":
            # x^{10^{300}}, x^{2 \cdot 3}: an exponent that folds to a number is that number
            t = self.build(payload)
            mag = self.const_log10(t)
            if mag is not None and abs(mag) > 300:
                raise LimitError("the exponent is beyond the limit of about 1e300 "
                                 f"(it is about 10^{mag:.0f})",
                                 hint=NUMBER_HINT
                                 ).at(self.text, payload.start, payload.end - payload.start)
            if mag is not None:
                folded = resimplify(t)
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
                                 hint=NUMBER_HINT
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
            if not self.is_scalar(e):
                # A^*, x^*: the conjugate transpose (the adjoint), as linear algebra writes
                # it; the conjugate of a scalar
                self.style["hermitian"] = "*"
                return S.Transpose(S.Conj(e))
            return S.Conj(e)
        if kind == "invT":
            self.style["transpose"] = self.style["transpose"] or value
            self.need_square(e, base, "the inverse")
            return S.Transpose(S.MatPow(e, -1))
        if kind == "powT":
            self.need_square(e, base, "a matrix power")
            return S.Transpose(S.MatPow(e, value))
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
        if kind == "expr" and payload.op == "sym" and self.is_scalar(t):
            self.need_square(e, base, "a matrix power")     # X^n: n a positive integer
            return S.MatPow(e, self.exponent_letter(t, payload))
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
            if name == "t" and self.t_mark:
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
            if is_transpose_mark(inner, self.t_mark):
                k, style = self.sup_kind(inner)
                return "invT", style
            power = _power_transposed(inner, self.t_mark)
            if power is not None:               # X^{-2T}: (X^{-2})^T
                return "powT", -power
        power = _power_transposed(p, self.t_mark)
        if power is not None:                   # X^{2T}: (X^2)^T
            return "powT", power
        if op == "hpow":
            val = number_value(p.args[0])
            if val is None:
                raise Unsupported("an elementwise power needs a number").at(
                    self.text, p.start, p.end - p.start)
            return "hpow", val
        val = number_value(p)
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
            if set(sub.replace(",", "")) & set(self.family):
                return self.member(node, name, sub, hint)
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

    def t_request(self, n, *args):
        raise Unsupported("a derivative inside an expression is not supported",
                          hint="put the derivative operator in front of the whole formula"
                          ).at(self.text, n.start, n.end - n.start)

    t_dop = t_request


def _power_transposed(p: N, t_mark: bool):
    """k of a superscript ``kT`` (``X^{2T}``, inside ``X^{-2T}``), else None."""
    if p.op == "product" and len(p.args) == 2 and p.args[0].op == "num" and \
            is_transpose_mark(p.args[1], t_mark) and p.args[0].args[0].denominator == 1:
        return int(p.args[0].args[0])
    return None


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
