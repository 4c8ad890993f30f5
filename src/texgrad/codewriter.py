"""The generator of code: walks the DAG of f and its derivative once and writes one line per
temporary, in the table of its target (:mod:`texgrad.codetables`); the identifiers and the
one sanitiser of text spliced into code.
"""

from __future__ import annotations

import ast
import keyword
import re
from fractions import Fraction

from .dims import Fixed, spelled
from .functions import BY_NAME
from .codestable import is_negation, stabilise
from .codetables import C, LIBS, LOGSUMEXP, M, R, S, TABLES, kind_of, neg
from .ir import (Add, Commutation, Const, Diag, Expr, Func, Hadamard, Identity, Kron, MatMul,
                 Mul, Ones, Pow, Sym, Transpose, Zero, walk)


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

_TEMP_REF = re.compile(r"\bt\d+\b")        # user names never look like a temporary

# NumPy calls that return a new array (a temporary holding one may be updated in place)
_NEW_ARRAY = frozenset({
    "np.outer", "np.kron", "np.linalg.inv", "np.eye", "np.ones", "np.zeros", "np.sqrt",
    "np.power", "np.conj", "np.logaddexp"})


def _temps_in(text: str) -> list:
    """The temporaries a piece of code mentions, once per mention."""
    return _TEMP_REF.findall(text)


def _new_array(text: str, kind: str) -> bool:
    """Whether NumPy code surely makes a new array: an operator or a call making one at its
    top (not a possible view such as ``t0[:, 0]``, ``X.T.reshape(-1)`` or a diagonal)."""
    if kind == S:
        return False
    top = ast.parse(text, mode="eval").body
    if isinstance(top, ast.BinOp) or isinstance(top, ast.UnaryOp) and \
            isinstance(top.op, ast.USub):
        return True
    if isinstance(top, ast.Call):
        name = ast.unparse(top.func)
        return name in _NEW_ARRAY or name == "np.diag" and kind == M or (
            name.startswith("np.") and getattr(BY_NAME.get(name[3:]), "ufunc", False))
    return False


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


def one_line(text) -> str:
    """The one sanitiser of text spliced into generated code outside a name: any text (a
    formula, a convention, a dimension name, a stamp) as one line of printable characters
    without quotes or backslash-newlines, safe inside a raw triple-quoted docstring and in a
    ``#`` comment.  Every whitespace run (newlines, U+2028, U+0085, form feeds...) becomes
    one space; control, format, surrogate and other unprintable characters and both quote
    characters are dropped."""
    text = " ".join(str(text).split())
    return "".join(ch for ch in text if ch.isprintable() and ch not in "\"'") or "?"


def comment_line(text) -> str:
    """Any text (a stamp, a warning) as exactly one safe Python comment line ``# ...``:
    nothing in it can end the comment, whatever the text holds."""
    return "# " + one_line(text)


def _numeric_dim(d) -> bool:
    """Whether ``d`` is a numeric size (a :class:`~texgrad.dims.Fixed`, an int by
    construction): the only dimension written into code as it is."""
    return isinstance(d, Fixed)


def dim_text(d) -> str:
    """A dimension for a docstring, comment or message (sanitised: a dimension name may come
    from a Result built by hand)."""
    return one_line(spelled(d))


def user_dims(shape) -> list:
    """The dimensions of a value in the API's convention (vectors 1-D, scalars none)."""
    k = kind_of(shape)
    return [] if k == S else [shape[0]] if k == C else [shape[1]] if k == R else list(shape)


class Gen:
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
        self.lib = LIBS.get(target)
        self.inplace = self.lib is not None and self.lib.inplace
        self.uses: dict = {}                 # node -> how many nodes (and roots) read it
        self.shared_temps: dict = {}         # code -> the temporary holding it (rules share)
        # planned before the walk (see _plan)
        self.skip: set = set()               # nodes a fusion computes otherwise
        self.lse: dict = {}                  # log(1^T exp(v)) -> v
        self.fold: dict = {}                 # product P -> the operand taking -(P)'s sign
        self.folded: set = set()             # the negations -(P) so folded
        # in-place bookkeeping (NumPy)
        self.owned: set = set()              # temporaries holding an array only they refer to
        self.pending: dict = {}              # temporary -> reads still to come
        taken: set = set()
        self.args = {name: _identifier(name, taken, "_") for name in sorted(result.symbols)}
        self.dimvar: dict = {}
        for s in result.symbols.values():
            for d in s.dims:
                for x in (d if isinstance(d, tuple) else (d,)):
                    if isinstance(x, str) and not _numeric_dim(x) and x not in self.dimvar:
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

    def shared(self, text: str) -> str:
        """A temporary for ``text`` that every rule asking for the same code gets (it is
        never updated in place: a later rule may read it)."""
        name = self.shared_temps.get(text)
        if name is None:
            name = self.shared_temps[text] = self.temp(text)
        return name

    def size(self, d) -> str:
        """Code for the size of a dimension (bound from the arguments' shapes)."""
        if d == 1:
            return "1"
        if isinstance(d, tuple):
            return " * ".join(self.size(x) for x in d)
        if isinstance(d, int):
            return str(int(d))
        if _numeric_dim(d):
            return str(d.n)
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
            return d.n if _numeric_dim(d) else _CHAIN_SIZE

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
        if self.lib is not None:                 # the array targets compute in float64
            roots = stabilise(roots)
        order, seen = [], set()
        for root in roots:
            for e in walk(root):
                if e not in seen:
                    seen.add(e)
                    order.append(e)
        uses = self.uses
        for e in order:
            for c in e.children:
                uses[c] = uses.get(c, 0) + 1
        for root in roots:
            uses[root] = uses.get(root, 0) + 1
        self._plan(order)
        code, pending = self.code, self.pending
        for e in order:
            if e in self.skip:
                continue
            if isinstance(e, Sym):
                if e.name not in self.args:
                    raise NotImplementedError(f"Sym: {e.name} is not among the result's "
                                              "symbols")
                code[e] = self.args[e.name]
                continue
            operands = [code[self.lse[e]]] if e in self.lse else [code[c] for c in e.children]
            for x in operands:                   # these reads are done after this node
                for t in _temps_in(x):
                    pending[t] -= 1
            code[e] = self._node_code(e, operands)
            for t in _temps_in(code[e]):          # every reader of e reads these
                pending[t] = pending.get(t, 0) + uses[e]
        return [code[root] for root in roots]

    def _node_code(self, e: Expr, operands: list) -> str:
        """The code of a node: an atom or an inline expression, a new temporary, or (NumPy)
        a dead temporary operand updated in place."""
        if e in self.folded:                     # -(P) with the sign already inside P
            return operands[1]
        if e in self.lse:
            rule = self.table[LOGSUMEXP]
        else:
            rule = self.table.get(type(e))
            if rule is None:
                raise NotImplementedError(f"{type(e).__name__}: no {self.target} code rule")
        if self.inplace and e not in self.lse:
            updated = self._in_place(e, operands)
            if updated is not None:
                return updated
        if e in self.fold:
            i = self.fold[e]
            operands = operands[:i] + [neg(operands[i])] + operands[i + 1:]
        text = rule(e, operands, self)
        once = self.uses.get(e, 0) <= 1
        if (isinstance(e, (Const, Transpose)) or text in operands
                or (once and (is_negation(e)
                              or isinstance(e, (Identity, Ones, Zero, Commutation))))
                or isinstance(e, (Identity, Ones, Zero)) and kind_of(e.shape) == S
                or once and self.inplace and isinstance(e, Diag) and self.kind(e) == M):
            return text                          # a diag(v) read once: see _add_in_place
        name = self.temp(text)
        if self.inplace:
            if _new_array(text, self.kind(e)):
                self.owned.add(name)
            else:                                # it may be a view of what it mentions
                self.owned.difference_update(_temps_in(text))
        return name

    # -- fusions planned before the walk
    def _plan(self, order: list):
        """log(1^T exp(v)) becomes a log-sum-exp of v (its exp and sum are not computed, and
        a softmax of v shares its temporaries); in NumPy, a product P read only by -(P)
        takes the sign on its cheapest operand (``np.outer(-s, s)``), so that an update
        in place can add P instead of subtracting it."""
        moved = set()                            # (node, child) reads a fused node takes over
        if LOGSUMEXP in self.table:
            for e in order:
                ex = self._exp_summed_by_log(e)
                if ex is not None:
                    self.lse[e] = ex.arg
                    self.skip.update((e.arg, ex))
                    moved.add((ex, ex.arg))
        if self.skip:                            # what only skipped nodes read is not needed
            dead: dict = {}
            for e in reversed(order):            # parents before children
                if e not in self.skip:
                    continue
                for c in e.children:
                    if (e, c) not in moved:
                        dead[c] = dead.get(c, 0) + 1
                        if dead[c] == self.uses[c]:
                            self.skip.add(c)
        if self.inplace:
            for e in order:
                if is_negation(e) and e not in self.skip:
                    p = e.factors[1]
                    if (isinstance(p, (MatMul, Kron)) and self.uses[p] == 1
                            and self.kind(p) != S):
                        kinds = [self.kind(c) for c in p.children]
                        cheap = [i for i, k in enumerate(kinds) if k != M]
                        if cheap:                # a scalar before a vector
                            self.fold[p] = min(cheap, key=lambda i: kinds[i] != S)
                            self.folded.add(e)

    def _exp_summed_by_log(self, e: Expr):
        """The exp(v) node when ``e`` is log(1^T exp(v)) (v a real vector) and nothing else
        reads the sum or the exp, else None."""
        if not (isinstance(e, Func) and e.name == "log" and isinstance(e.arg, MatMul)):
            return None
        total = e.arg
        if len(total.factors) != 2 or self.kind(total) != S or self.uses[total] != 1:
            return None
        for one, ex in (total.factors, total.factors[::-1]):
            one = one.arg if isinstance(one, Transpose) else one
            if (isinstance(one, Ones) and isinstance(ex, Func) and ex.name == "exp"
                    and self.kind(ex) in (C, R) and self.uses[ex] == 1 and not ex.cplx):
                return ex
        return None

    # -- updates in place (NumPy)
    def _reusable(self, x: str, child: Expr, e: Expr, operands: list) -> bool:
        """Whether operand code ``x`` is a temporary that node ``e`` may overwrite with its
        own value: an array this code made (not an argument, a view or a shared value), of
        e's shape, and read by nothing else, now or later."""
        return (x in self.owned and self.pending.get(x, 0) == 0
                and sum(_temps_in(y).count(x) for y in operands) == 1
                and user_dims(child.shape) == user_dims(e.shape))

    def _in_place(self, e: Expr, a: list):
        """Lines updating a dead temporary operand into e's value, and its name; None when
        no operand can be reused.  Only for real arrays: the arguments are float64 then, so
        every temporary is float64 and an update keeps the dtype the operator would give."""
        if self.kind(e) == S or e.cplx:
            return None
        mod, lines = self.lib.mod, self.lines
        if isinstance(e, Add):
            return self._add_in_place(e, a)
        if isinstance(e, Mul):                   # scalars times the last factor
            *scalars, last = e.factors
            x = a[-1]
            if (not scalars or any(self.kind(f) != S for f in scalars)
                    or not self._reusable(x, last, e, a)):
                return None
            factors = list(a[:-1])
            if is_negation(e):                  # read once, -t is written into its reader
                if self.uses[e] <= 1:
                    return None
                lines.append(f"{mod}.negative({x}, out={x})")
                return x
            if isinstance(scalars[0], Const) and scalars[0].value == -1:
                factors = [neg(factors[1])] + factors[2:]
            lines.append(f"{x} *= {' * '.join(factors)}")
            return x
        if isinstance(e, Hadamard):
            for i, (f, x) in enumerate(zip(e.factors, a)):
                if self._reusable(x, f, e, a):
                    lines.extend(f"{x} *= {y}" for j, y in enumerate(a) if j != i)
                    return x
            return None
        if isinstance(e, Func) and e.spec.ufunc and self._reusable(a[0], e.arg, e, a):
            lines.append(f"{mod}.{e.name}({a[0]}, out={a[0]})")
            return a[0]
        if isinstance(e, Pow) and self._reusable(a[0], e.arg, e, a):
            if e.p.denominator == 1 and e.p >= 2:
                lines.append(f"{a[0]} **= {int(e.p)}")
                return a[0]
            if e.p == Fraction(1, 2):
                lines.append(f"{mod}.sqrt({a[0]}, out={a[0]})")
                return a[0]
        return None

    def _add_in_place(self, e: Add, a: list):
        """A sum accumulated into a dead temporary term (a negated one is negated in place
        first); a term diag(v) or I not yet computed is added to the diagonal only, and
        1 (all ones) as a number."""
        mod, best = self.lib.mod, None
        for i, (t, x) in enumerate(zip(e.terms, a)):
            neg = x.startswith("-")
            if self._reusable(x[1:] if neg else x, t, e, a) and (best is None or best[2]
                                                                 and not neg):
                best = (i, x[1:] if neg else x, neg)
        if best is None:
            return None
        i, target, neg = best
        if neg:
            self.lines.append(f"{mod}.negative({target}, out={target})")
        diagonal = []
        for j, (t, x) in enumerate(zip(e.terms, a)):
            if j == i:
                continue
            op, body = ("-=", x[1:]) if x.startswith("-") else ("+=", x)
            inner = t.factors[1] if op == "-=" and is_negation(t) else t
            if isinstance(inner, Diag) and body == f"{mod}.diag({self.code[inner.arg]})":
                diagonal.append((op, self.code[inner.arg]))
            elif isinstance(inner, Identity) and body == self.code[inner]:
                diagonal.append((op, "1.0"))
            elif isinstance(inner, Ones) and body == self.code[inner]:
                self.lines.append(f"{target} {op} 1.0")
            else:
                self.lines.append(f"{target} {op} {body}")
        for op, v in diagonal:                   # the diagonal of the n x n target
            self.lines.append(f"{target}.flat[::{self.size(e.shape[0])} + 1] {op} {v}")
        return target


