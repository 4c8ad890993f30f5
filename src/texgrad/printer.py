"""Print stage: IR to LaTeX.

One ``_print_<Node>`` method per IR node, and one precedence table.  A missing method is an
error, never a fallback to ``str()``; parentheses are chosen by precedence, never by looking at
the text.  The output mirrors the input's notation through :class:`Style` (``\\top`` or ``T``,
``\\operatorname{tr}`` or ``\\mathrm{tr}``, ``\\odot`` or ``\\circ``); symbols print as they were
written (bold stays bold).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .dims import Fixed, spelled
from .errors import LimitError
from .patterns import real_imag, symbolic_power
from .ir import (SCALAR, Add, Commutation, Conj, Const, SingleEntry, Vec, Det, Diag, Expr, Func, Hadamard, Identity, Kron, MatMul,
                 Index, ImagUnit, MatExp, MatPow, Mul, Norm, Ones, Pow, PowSum, Softmax, Sum, Sym, Trace, Transpose,
                 Zero)

# precedence: how tightly a printed form binds; a child binding looser than its context is
# parenthesised
PREC = {
    "sum": 10,        # a + b
    "neg": 12,        # -a (a product with a negative coefficient)
    "elementwise": 15,  # a \odot b, a \otimes b
    "product": 20,    # juxtaposition, scalar coefficients, \frac
    "postfix": 30,    # x^T, X^{-1}, x^2 (the base must bind tighter than this)
    "atom": 40,       # symbols, function calls, norms, brackets
}


@dataclass
class Style:
    transpose: str = "T"
    hermitian: str = "H"
    conj: str = "*"
    trace: str = "\\operatorname{tr}"
    hadamard: str = "\\odot"
    log: str = "\\log"
    identity: str = "I"
    ones: str = "\\mathbf{1}"
    left: str = "\\left("
    right: str = "\\right)"
    index: bool = False          # the input used index notation: print sums of entries so
    taken: tuple = ()            # index letters already in use
    rename: object = None        # names for subexpressions (--let: lets.renamer), or None


_TALL = ("\\frac", "\\sum", "\\left", "\\sqrt")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _tall(s: str) -> bool:
    return any(t in s for t in _TALL)


def _ends_with_command(s: str) -> bool:
    """Whether ``s`` ends in a control word (``\\alpha``): looks only at its end, so joining
    many long parts stays linear."""
    i = len(s)
    while i > 0 and s[i - 1] in _LETTERS:
        i -= 1
    return 0 < i < len(s) and s[i - 1] == "\\"


def _join(parts: list[str]) -> str:
    """Juxtapose printed factors, with a space only where TeX needs one."""
    out: list = []
    last = ""
    for p in parts:
        if last and (_ends_with_command(last) and p[:1].isalpha()
                     or last[-1:].isdigit() and p[:1].isdigit()):
            out.append(" ")
        out.append(p)
        if p:
            last = p
    return "".join(out)


MAX_CHARS = 2_000_000      # characters of a printed derivative


class LatexPrinter:
    """Prints each distinct node once: ``_print`` remembers what it printed (by node
    equality) while the printer lives and its style is unchanged, so a DAG whose nodes are
    shared (nested functions: the derivative of sin(sin(...)) names every inner call twice)
    costs one print per distinct node, not one per path.  The printed text itself is the
    tree; one longer than :data:`MAX_CHARS` is refused with a LimitError."""

    def __init__(self, style: Style | None = None):
        self.style = style or Style()
        self._memo: dict = {}
        self._memo_key = None

    def doprint(self, e: Expr) -> str:
        if self.style.rename is not None:
            e = self.style.rename(e)
        return self._print(e)[0]

    def _print(self, e: Expr) -> tuple[str, int]:
        key = tuple(self.style.__dict__.values())
        if key != self._memo_key:        # the style changed: what was printed may differ
            self._memo = {}
            self._memo_key = key
        hit = self._memo.get(e)
        if hit is not None:
            return hit
        meth = getattr(self, "_print_" + type(e).__name__, None)
        if meth is None:
            raise TypeError(f"no LaTeX printer for {type(e).__name__}")
        out = meth(e)
        if len(out[0]) > MAX_CHARS:
            raise LimitError(f"the printed derivative would be longer than {MAX_CHARS:,} "
                             "characters",
                             hint="differentiate a smaller part, or introduce names for "
                                  "repeated subexpressions")
        self._memo[e] = out
        return out

    def paren(self, s: str) -> str:
        return f"{self.style.left}{s}{self.style.right}"

    def arg(self, e: Expr) -> str:
        """A function's argument in parentheses; \\left( \\right) only around tall content."""
        s = self._print(e)[0]
        return self.paren(s) if _tall(s) else f"({s})"

    def at_least(self, e: Expr, prec: int) -> str:
        s, p = self._print(e)
        if p >= prec:
            return s
        if prec >= PREC["postfix"] and not isinstance(e, Add) and not _tall(s):
            return f"({s})"
        return self.paren(s)

    def sup(self, base: str, sup: str) -> str:
        return f"{base}^{{{sup}}}"

    # --------------------------------------------------------------------- leaves
    def _print_Sym(self, e: Sym):
        s = e.latex or e.name
        if "^" in e.name:       # W^{(l)}: a label superscript; a postfix needs (W^{(l)})^T
            return s, PREC["postfix"] - 1
        return s, PREC["atom"]

    def _print_Const(self, e: Const):
        v = e.value
        if v.denominator == 1:
            s = str(abs(v.numerator))
        else:
            s = f"\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"
        if v < 0:
            return "-" + s, PREC["neg"]
        return s, PREC["atom"] if v.denominator == 1 else PREC["product"]

    def _print_Identity(self, e: Identity):
        return self.style.identity, PREC["atom"]

    def _print_Ones(self, e: Ones):
        r, c = e.shape
        if c != 1 and r != 1:       # a matrix of ones: 1 1^T, which reads back as one
            return f"{self.style.ones}{self.sup(self.style.ones, self.style.transpose)}", \
                PREC["product"]
        if r == 1 and c != 1:
            return self.sup(self.style.ones, self.style.transpose), PREC["postfix"]
        return self.style.ones, PREC["atom"]

    def _print_Zero(self, e: Zero):
        return ("0" if e.shape == SCALAR else "\\mathbf{0}"), PREC["atom"]

    # ------------------------------------------------------------------ operators
    def _print_Add(self, e: Add):
        from . import construct              # u + u^* is 2 Re(u), u - u^* is 2i Im(u)
        part = real_imag(construct, e) if e.cplx else None
        if part is not None:
            kind, c, u = part
            sign, c = ("-" if c < 0 else ""), abs(c)
            coef = Mul((Const(c), ImagUnit())) if kind == "Im" else Const(c)
            text = "" if coef == Const(1) else self._print(coef)[0]
            return (f"{sign}{text}\\operatorname{{{kind}}}{self.arg(u)}",
                    PREC["neg"] if sign else PREC["product"])
        out = []
        for i, t in enumerate(e.terms):
            s, p = self._print(t)
            if p < PREC["neg"]:
                s = self.paren(s)
            if i == 0:
                out.append(s)
            elif s.startswith("-"):
                out.append(" - " + s[1:])
            else:
                out.append(" + " + s)
        return "".join(out), PREC["sum"]

    def _print_Mul(self, e: Mul):
        coef = Fraction(1)
        num, den = [], []
        for f in e.factors:
            if isinstance(f, Const):
                coef *= f.value
            elif isinstance(f, Pow) and f.shape == SCALAR and f.p < 0:
                den.append(f.arg if f.p == -1 else Pow(f.arg, -f.p))
            else:
                num.append(f)
        sign = "-" if coef < 0 else ""
        coef = abs(coef)
        if coef == 1 and not den and len(num) == 1 and isinstance(num[0], (Hadamard, Kron)):
            s, p = self._print(num[0])
            return sign + s, (PREC["neg"] if sign else p)
        if den:
            top = self._product(num, coef.numerator if coef.numerator != 1 or not num else None)
            bottom = self._product(den, coef.denominator if coef.denominator != 1 else None)
            s = f"\\frac{{{top or '1'}}}{{{bottom}}}"
        else:
            parts = []
            if coef.denominator != 1:
                parts.append(f"\\frac{{{coef.numerator}}}{{{coef.denominator}}}")
            elif coef != 1 or not num:
                parts.append(str(coef.numerator))
            s = _join(parts + [self._factor(f, i + len(parts), len(num))
                               for i, f in enumerate(num)])
        return sign + s, (PREC["neg"] if sign else PREC["product"])

    def _product(self, factors, coef) -> str:
        parts = [str(coef)] if coef is not None else []
        return _join(parts + [self._factor(f, i + len(parts), len(factors))
                              for i, f in enumerate(factors)])

    def _factor(self, f: Expr, i: int, n: int) -> str:
        s, p = self._print(f)
        if isinstance(f, Index) and i < n - 1:
            return "{" + s + "}"     # {t}r_{t}: a juxtaposed index never reads as tr_{t}
        if isinstance(f, MatMul) and f.shape == SCALAR and n > 1:
            return self.paren(s)     # (a^T x) b
        if p < PREC["product"] or (p == PREC["product"] and isinstance(f, (Mul,))):
            return self.paren(s)
        if isinstance(f, (Hadamard, Kron)):
            return self.paren(s)
        return s

    def fresh(self, k: int) -> list:
        letters = [c for c in "klmnpqrsuvw" if c not in self.style.taken]
        return letters[:k]

    def _index_sum(self, e: MatMul):
        """1^T X 1 as \\sum_{kl} X_{kl}, 1^T x as \\sum_k x_k (index-notation input)."""
        fs = e.factors
        def ones_t(f):
            return isinstance(f, Transpose) and isinstance(f.arg, Ones)
        if len(fs) == 3 and ones_t(fs[0]) and isinstance(fs[2], Ones) and isinstance(fs[1], Sym):
            k, l = self.fresh(2)
            return f"\\sum_{{{k}{l}}} {fs[1].latex or fs[1].name}_{{{k}{l}}}"
        if len(fs) == 2 and ones_t(fs[0]) and isinstance(fs[1], Sym):
            (k,) = self.fresh(1)
            return f"\\sum_{{{k}}} {fs[1].latex or fs[1].name}_{{{k}}}"
        return None

    def entry(self, e: Expr, i: str, j: str | None) -> str:
        """The (i, j) entry of a matrix (the derivative by X_{ij})."""
        idx = i + (j or "")
        if isinstance(e, Add):
            out = ""
            for t in e.terms:
                s = self.entry(t, i, j)
                out += s if not out else (" - " + s[1:] if s.startswith("-") else " + " + s)
            return out
        if isinstance(e, PowSum):            # sum_r (A^r G B^{k-1-r})_{kl}
            s = self._print(e)[0]
            head, body = s.split("} ", 1) if s.startswith("\\sum") else ("", s)
            return f"{head}}} ({body})_{{{idx}}}" if head else f"({body})_{{{idx}}}"
        if isinstance(e, MatMul) and j is not None:
            found = [k for k, f in enumerate(e.factors) if isinstance(f, SingleEntry)]
            if len(found) == 1:              # (P J^{ab} Q)_{ij} = P_{ia} Q_{bj}
                k = found[0]
                a, b = e.factors[k].i, e.factors[k].j
                p = e.factors[:k]
                q = e.factors[k + 1:]
                left = self._entry_of(p, i, a)
                right = self._entry_of(q, b, j)
                return _join([left, right])
        if isinstance(e, Sym):
            return f"{e.latex or e.name}_{{{idx}}}"
        if isinstance(e, Mul):
            m = e.factors[-1]
            outer_ones = (isinstance(m, MatMul) and len(m.factors) == 2 and
                          isinstance(m.factors[0], Ones) and isinstance(m.factors[1], Transpose)
                          and isinstance(m.factors[1].arg, Ones))
            scal = Mul(e.factors[:-1]) if len(e.factors) > 2 else e.factors[0]
            if outer_ones or (isinstance(m, Ones)):
                return self.doprint(scal)
            inner = self.entry(m, i, j)
            return _join([self.doprint(scal) if not isinstance(scal, Const) or
                          abs(scal.value) != 1 else ("-" if scal.value < 0 else ""), inner])
        if isinstance(e, MatMul) and len(e.factors) == 2 and isinstance(e.factors[0], Ones) \
                and isinstance(e.factors[1], Transpose) and isinstance(e.factors[1].arg, Ones):
            return "1"
        return f"{self.paren(self.doprint(e))}_{{{idx}}}"

    def _entry_of(self, factors, r: str, c: str) -> str:
        """(F_1 ... F_k)_{rc}; the empty product is the identity: delta_{rc}."""
        if not factors:
            return f"\\delta_{{{r}{c}}}" if r < c else f"\\delta_{{{c}{r}}}"
        m = factors[0] if len(factors) == 1 else MatMul(tuple(factors))
        if isinstance(m, Sym):
            return f"{m.latex or m.name}_{{{r}{c}}}"
        return f"({self._print(m)[0]})_{{{r}{c}}}"

    def _print_MatMul(self, e: MatMul):
        if self.style.index:
            s = self._index_sum(e)
            if s is not None:
                return s, PREC["product"]    # a sum is linear in what follows it
        parts = []
        for f in e.factors:
            s, p = self._print(f)
            if p < PREC["product"] or isinstance(f, (Hadamard, Kron)):
                s = self.paren(s)
            parts.append(s)
        return _join(parts), PREC["product"]

    def _print_Hadamard(self, e: Hadamard):
        num = [f for f in e.factors if not (isinstance(f, Pow) and f.p < 0)]
        den = [f for f in e.factors if isinstance(f, Pow) and f.p < 0]
        op = f" {self.style.hadamard} "
        if den:
            top = op.join(self.at_least(f, PREC["elementwise"] + 1) for f in num) or \
                self.style.ones
            bottom = op.join(self.at_least(f.arg if f.p == -1 else Pow(f.arg, -f.p),
                                           PREC["elementwise"] + 1) for f in den)
            return f"\\frac{{{top}}}{{{bottom}}}", PREC["product"]
        return op.join(self.at_least(f, PREC["elementwise"] + 1) for f in e.factors), \
            PREC["elementwise"]

    def _print_Kron(self, e: Kron):
        return (f"{self.at_least(e.left, PREC['elementwise'] + 1)} \\otimes "
                f"{self.at_least(e.right, PREC['elementwise'] + 1)}"), PREC["elementwise"]

    def _print_Transpose(self, e: Transpose):
        a = e.arg
        t = self.style.transpose
        if isinstance(a, MatPow) and a.k == -1:
            base = self.at_least(a.arg, PREC["atom"])
            return self.sup(base, "-" + t), PREC["postfix"]
        if isinstance(a, (MatPow, MatExp)):  # (X^{k})^{T}, as the Cookbook prints it
            return self.sup(self.arg(a), t), PREC["postfix"]
        if isinstance(a, Conj):
            return self.sup(self.at_least(a.arg, PREC["atom"]), self.style.hermitian), \
                PREC["postfix"]
        base = self.at_least(a, PREC["atom"])
        return self.sup(base, t), PREC["postfix"]

    def _print_MatPow(self, e: MatPow):
        return self.sup(self.at_least(e.arg, PREC["atom"]), self.exponent(e.k)), \
            PREC["postfix"]

    def _print_MatExp(self, e: MatExp):
        return self.sup("e", self._print(e.arg)[0]), PREC["postfix"]

    def _print_ImagUnit(self, e: ImagUnit):
        return "i", PREC["atom"]

    def exponent(self, k, minus: int = 0) -> str:
        """A matrix power's exponent less ``minus``: a number, or a letter (``n - 1``)."""
        if isinstance(k, int):
            return str(k - minus)
        terms = k.terms if isinstance(k, Add) else (k,)
        offset = sum((t.value for t in terms if isinstance(t, Const)), Fraction(0)) - minus
        rest = [t for t in terms if not isinstance(t, Const)]
        text = self._print(rest[0] if len(rest) == 1 else Add(tuple(rest)))[0]
        if offset == 0:
            return text
        return f"{text} {'-' if offset < 0 else '+'} {abs(offset)}"

    def _print_PowSum(self, e: PowSum):
        r = e.index
        k = e.k

        def pw(m: Expr, exp: str) -> str:
            # (X^T)^r is printed as the Cookbook does: (X^r)^T
            if isinstance(m, Transpose):
                return self.sup("(" + self.sup(self.at_least(m.arg, PREC["atom"]), exp) + ")",
                                self.style.transpose)
            return self.sup(self.at_least(m, PREC["atom"]), exp)

        last = self.exponent(k, 1)
        body = _join([pw(e.a, r), self.at_least(e.g, PREC["product"]), pw(e.b, f"{last}-{r}")])
        return f"\\sum_{{{r}=0}}^{{{last}}} {body}", PREC["sum"]

    def _print_Sum(self, e: Sum):
        # a product binds the sum's body in either reading: sum_i G_i B = (sum_i G_i) B
        bounds = "" if e.lo is None else f"={e.lo}}}^{{{spelled(e.hi, '')}"
        body = self.at_least(e.body, PREC["product"])
        return f"\\sum_{{{e.index}{bounds}}} {body}", PREC["product"]

    def _print_Index(self, e: Index):
        return e.letter, PREC["atom"]

    def _print_Pow(self, e: Pow):
        p = e.p
        if p == Fraction(1, 2):
            return f"\\sqrt{{{self._print(e.arg)[0]}}}", PREC["atom"]
        if p < 0 and e.shape == SCALAR:
            inner = self._print(Pow(e.arg, -p) if p != -1 else e.arg)[0]
            return f"\\frac{{1}}{{{inner}}}", PREC["product"]
        exp = str(p) if p.denominator == 1 else f"{p.numerator}/{p.denominator}"
        if e.shape != SCALAR:
            exp = "\\circ " + exp     # Hadamard power
        return self.sup(self.at_least(e.arg, PREC["atom"]), exp), PREC["postfix"]

    def _print_Func(self, e: Func):
        if e.name == "abs":
            return f"\\left|{self._print(e.arg)[0]}\\right|", PREC["atom"]
        if e.name == "log":
            if isinstance(e.arg, Det):   # \log\det(X): a postfix would bind to det(X)
                return f"{self.style.log}{self._print(e.arg)[0]}", PREC["product"]
            return f"{self.style.log}{self.arg(e.arg)}", PREC["atom"]
        if e.name == "exp" and isinstance(e.arg, Trace):
            return f"\\operatorname{{etr}}{self.arg(e.arg.arg)}", PREC["atom"]
        power = symbolic_power(e)
        if power is not None:                # exp(p log a) = a^p: a symbolic exponent
            base, exponent = power
            return self.sup(self.at_least(base, PREC["postfix"] + 1),
                            self._print(exponent)[0]), PREC["postfix"]
        return f"{e.spec.latex}{self.arg(e.arg)}", PREC["atom"]     # from its record

    def _print_Trace(self, e: Trace):
        if isinstance(e.arg, Identity) and isinstance(e.arg.n, str) and \
                not isinstance(e.arg.n, Fixed):
            # tr(I) is the size, which nothing else in the print may show: I_n says it
            return f"{self.style.trace}({self.style.identity}_{{{e.arg.n}}})", PREC["atom"]
        return f"{self.style.trace}{self.arg(e.arg)}", PREC["atom"]

    def _print_Det(self, e: Det):
        return f"\\det{self.arg(e.arg)}", PREC["atom"]

    def _print_Norm(self, e: Norm):
        return f"\\|{self._print(e.arg)[0]}\\|_{{{e.p}}}", PREC["atom"]

    def _print_Diag(self, e: Diag):
        return f"\\operatorname{{diag}}{self.arg(e.arg)}", PREC["atom"]

    def _print_Softmax(self, e: Softmax):
        return f"\\operatorname{{softmax}}{self.arg(e.arg)}", PREC["atom"]

    def _print_Conj(self, e: Conj):
        return self.sup(self.at_least(e.arg, PREC["atom"]), self.style.conj), PREC["postfix"]

    def _print_Vec(self, e: Vec):
        return f"\\operatorname{{vec}}{self.arg(e.arg)}", PREC["atom"]

    def _print_Commutation(self, e: Commutation):
        return f"K_{{{spelled(e.m, '')}{spelled(e.n, '')}}}", PREC["atom"]

    def _print_SingleEntry(self, e: SingleEntry):
        return f"J^{{{e.i}{e.j}}}", PREC["atom"]


def latex(e: Expr, style: Style | None = None) -> str:
    return LatexPrinter(style).doprint(e)


def count_terms(e: Expr) -> int:
    """Top-level additive terms, as printed."""
    return len(e.terms) if isinstance(e, Add) else 1
