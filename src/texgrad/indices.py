"""Index notation in the syntax: ``\\sum_{kl}`` and entries ``X_{kl}`` read into matrix form.

:class:`IndexNotation` is the part of the elaboration (:class:`texgrad.elaborate.Typer`)
that reads an index sum and the entries in it; :mod:`texgrad.index` contracts them.
"""

from __future__ import annotations

from fractions import Fraction

from . import construct as S
from .dims import DimVar, Fixed
from .errors import Unsupported
from .families import sum_over
from .ir import Add, Expr, Identity
from .syntax import N, error_at, number_value, unwrap_postfix


MAX_TERMS = 50          # terms of a sum with numeric bounds written out


def _used_outside_subscripts(n: N, letter: str) -> bool:
    if n.op == "sym":
        return n.args[0] == letter
    kids = [a for a in n.args if isinstance(a, N)]
    if n.op == "subscript":
        kids = kids[:1]
    for a in n.args:
        if isinstance(a, tuple):
            kids += [x for x in a if isinstance(x, N)]
    return any(_used_outside_subscripts(k, letter) for k in kids)


def _with_value(n: N, letter: str, v: int) -> N:
    """A copy of the syntax tree ``n`` with the index ``letter`` replaced by the number v."""
    if n.op == "sym" and n.args[0] == letter:
        return N("num", (Fraction(v), str(v)), n.start, n.end)
    args = tuple(_with_value(a, letter, v) if isinstance(a, N) else
                 tuple(_with_value(x, letter, v) if isinstance(x, N) else x for x in a)
                 if isinstance(a, tuple) else a for a in n.args)
    return N(n.op, args, n.start, n.end)


def _mentions(n: N, letters: set, subscripts: bool = True) -> bool:
    """Whether ``letters`` occur in ``n``: as a symbol of their own, or (``subscripts``) in
    a subscript."""
    if n.op == "sym":
        return n.args[0] in letters
    if n.op == "subscript":
        if subscripts and set(n.args[1].args[0] if n.args[1].op == "sym" and
                              isinstance(n.args[1].args[0], str) else
                              _names(n.args[1])) & letters:
            return True
        return _mentions(n.args[0], letters, subscripts)
    return any(_mentions(a, letters, subscripts) for a in _kids(n))


def _kids(n: N) -> list:
    out = [a for a in n.args if isinstance(a, N)]
    for a in n.args:
        if isinstance(a, tuple):
            out += [x for x in a if isinstance(x, N)]
    return out


def _names(n: N) -> set:
    if n.op == "sym":
        return set(n.args[0])
    return set().union(*[_names(a) for a in _kids(n)]) if _kids(n) else set()


class IndexNotation:
    """Elaboration of ``\\sum`` over indices and of entries (a mixin of the Typer)."""

    def t_isum(self, n, op, body):
        """\\sum_{klmn} X_{kl} X_{mn}: index notation, rewritten in matrix form."""
        from .index import contract
        base, posts = unwrap_postfix(op)
        sub = [p for kind, p, _ in posts if kind == "subscript"]
        sups = [p for kind, p, _ in posts if kind == "sup"]
        finite = self.finite_sum(sub, sups, body)
        if finite is not None:
            return finite
        if sub and self.beyond_index_notation(body, set(self.sum_letters(sub[0]))):
            return self.family_sum(op, sub[0], sups, body)
        if sub and sub[0].op == "subrange" and len(sups) == 1 and \
                sub[0].args[0].op == "sym" and len(sub[0].args[0].args[0]) == 1 and \
                number_value(sub[0].args[1]) in (0, 1):
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

    def finite_sum(self, sub, sups, body: N):
        """``\\sum_{k=0}^{2} X^k A X^{2-k}``: a sum with numeric bounds whose index is used
        outside subscripts (an exponent, a coefficient) is written out term by term (at most
        MAX_TERMS terms); None for any other sum."""
        if not (sub and sub[0].op == "subrange" and len(sups) == 1 and
                sub[0].args[0].op == "sym"):
            return None
        lo, hi = number_value(sub[0].args[1]), number_value(sups[0])
        letter = sub[0].args[0].args[0]
        if lo is None or hi is None or lo.denominator != 1 or hi.denominator != 1 or \
                not _used_outside_subscripts(body, letter):
            return None
        if not 0 <= hi - lo < MAX_TERMS:
            raise Unsupported(f"a sum of {hi - lo + 1} terms written out; the limit is "
                              f"{MAX_TERMS}").at(self.text, body.start, body.end - body.start)
        terms = [self.build(_with_value(body, letter, int(v)))
                 for v in range(int(lo), int(hi) + 1)]
        if not terms:
            return S.const(0)
        first = terms[0]
        for t in terms[1:]:
            self.dims.unify(first.shape[0], t.shape[0], "sum", body, body)
            self.dims.unify(first.shape[1], t.shape[1], "sum", body, body)
        return terms[0] if len(terms) == 1 else Add(tuple(terms))

    def sum_letters(self, p: N) -> list:
        if p.op == "subrange":
            return [p.args[0].args[0]] if p.args[0].op == "sym" else []
        return [c for c in self.sub_name(p).replace(",", "") if c.isalpha()]

    def beyond_index_notation(self, n: N, letters: set) -> bool:
        """Whether a sum over ``letters`` ranges over families rather than entries: its body
        holds a member (a bold or upper-case letter with one index, ``\\mathbf{x}_i``,
        ``A_i``), or an index inside anything other than the sums, products, negations and
        squares of entries that index notation reads (``\\log(1 + e^{-y_i \\mathbf{w}^T
        \\mathbf{x}_i})``, ``\\|\\mathbf{x}_i - \\boldsymbol\\mu\\|^2``)."""
        op = n.op
        if op in ("product", "add"):
            return any(self.beyond_index_notation(a, letters) for a in n.args
                       if a.op != "op")
        if op in ("paren", "brace", "neg"):
            return self.beyond_index_notation(n.args[0], letters)
        if op == "isum":
            _, posts = unwrap_postfix(n.args[0])
            sub = [p for kind, p, _ in posts if kind == "subscript"]
            inner = letters | set(self.sum_letters(sub[0])) if sub else letters
            return self.beyond_index_notation(n.args[1], inner)
        if op == "sup" and self.sup_kind(n.args[1]) == ("pow", 2):
            return self.beyond_index_notation(n.args[0], letters)
        if op == "subscript" and n.args[0].op == "sym":
            idx = self.sub_name(n.args[1]).replace(",", "")
            if idx and set(idx) & letters:
                name, _, hint = n.args[0].args
                declared = self.user_shapes.get(name)
                return len(idx) == 1 and hint in ("bold", "upper", "boldupper") and \
                    (declared is None or len(declared) == 2)
        return _mentions(n, letters)

    def family_sum(self, op: N, p: N, sups: list, body: N):
        """``\\sum_{i=1}^{N} f(\\mathbf{x}_i, y_i)``: a sum over the members of families
        (:mod:`texgrad.families`), kept as a sum."""
        letters = self.sum_letters(p)
        lo = hi = None
        where = (self.text, op.start, op.end - op.start)
        if p.op == "subrange":
            lo = number_value(p.args[1])
            if lo is None or lo.denominator != 1 or lo < 0:
                raise Unsupported("a sum's first index must be a whole number").at(*where)
            lo = int(lo)
        if sups:
            top = sups[0].args[0] if sups[0].op == "brace" else sups[0]
            if top.op == "sym" and len(top.args[0]) <= 3:
                hi = top.args[0]
            elif top.op == "num" and number_value(top) is not None:
                hi = Fixed(top.args[1])
            else:
                raise Unsupported("a sum's last index must be a letter (N) or a number",
                                  hint="\\sum_{i=1}^{N}").at(*where)
            lo = 1 if lo is None else lo
        if not letters or len(letters) != len(set(letters)) or \
                set(letters) & set(self.family):
            raise Unsupported("a sum over families needs one new letter per index",
                              hint="\\sum_{i=1}^{N} \\mathbf{x}_i").at(*where)
        numbers = {c for c in letters if _mentions(body, {c}, subscripts=False)}
        if numbers & (set(self.user_shapes) | set(self.user_assume)):
            raise Unsupported("a declared symbol is the index of a sum",
                              hint="name the index with another letter").at(*where)
        if hi is not None and isinstance(hi, str):
            self.named_dims.add(hi)
        outer = self.family
        self.family = {**outer, **{c: hi or f"n_{c}" for c in letters}}
        outer_numbers = self.index_numbers
        self.index_numbers = outer_numbers | numbers      # gamma^t: t is the index's value
        try:
            e = self.build(body)
        finally:
            self.family, self.index_numbers = outer, outer_numbers
        for c in reversed(letters):
            e = sum_over(e, c, hi or f"n_{c}", lo)
        return e

    def member(self, node: N, base: str, sub: str, hint: str) -> Expr:
        """``\\mathbf{x}_i`` in a sum over i: a member of the family x; every member of a
        family has one shape (:mod:`texgrad.families`)."""
        full = node.args[0]
        if full not in self.hints:       # not the base's uses: y_i is a number, y a vector
            self.hints[full] = {"hints": {hint}, "vector_use": False}
        e = self.t_sym(node, full, node.args[1], hint)
        protos = self.family_shapes
        key = (base, len(sub.replace(",", "")))
        if key in protos:
            for a, b in zip(protos[key].shape, e.shape):
                self.dims.unify(a, b, "the members of a family have one shape", node, node)
        else:
            protos[key] = e
        return e

    def index_letters(self, p: N) -> list:
        name = self.sub_name(p)
        letters = [c for c in name.replace(",", "") if c.strip()]
        if not all(c.isalpha() for c in letters):
            raise error_at(self.text, p, "summation indices must be letters: \\sum_{kl}")
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
            if col is not None and col == row:
                # X_{kk}: an index repeated on one factor walks the diagonal, diag(X)_k
                e = self.build(base)
                self.need_square(e, base, "a diagonal entry X_{kk}")
                return [([], [Indexed(S.Diag(e), row, None, n)])]
            return [([], [check_indices(self.build(base), row, col, n, self)])]
        e = self.build(n)
        self.need_scalar(e, n, "a factor without indices in a sum over indices")
        return [([e], [])]

        # ---------------------------------------------------------------- finishing
