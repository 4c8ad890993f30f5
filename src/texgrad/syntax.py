"""The syntax tree and the names of the notation: :class:`N` (an untyped node with its
position in the text), the input limits of the parser, the tables of names it reads
(operators written as heads, Greek letters, bold and accent styles) and the small syntax
helpers the typer shares (a factor's postfix marks, the value a node spells, an error at
a node).
"""

from __future__ import annotations

import os
import re
from fractions import Fraction

from .errors import ParseError
from .functions import BY_SPELLING

MAX_LENGTH = 100_000        # characters of one formula
MAX_DEPTH = 200             # nesting of brackets and braces
MAX_POSTFIX = 50            # superscripts and subscripts on one factor
MAX_HEADS = 200             # functions applied without parentheses (\\log\\log ... x)
MAX_DIGITS = 30             # significant digits of one number literal


class N:
    """A node of the untyped syntax tree: an operation, its arguments and its source span."""

    __slots__ = ("op", "args", "start", "end")

    def __init__(self, op: str, args: tuple, start: int, end: int):
        self.op, self.args, self.start, self.end = op, args, start, end

    def __repr__(self):
        return f"N({self.op!r}, {self.args!r})"


# ----------------------------------------------------------------------- name tables

GREEK_UPPER = {"Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi",
               "Psi", "Omega"}

# operator heads (each has an IR node of its own): how they are written -> canonical name.
# The elementwise functions (exp, log, sigma, softplus, ...) are not here: their spellings
# are in their records, texgrad.functions.BY_SPELLING; head_name() reads both.
OPERATORS = {
    "det": "det", "tr": "tr", "Tr": "tr", "trace": "tr", "Trace": "tr",
    "diag": "diag", "Diag": "diag", "logdet": "logdet", "vec": "vec",
    "softmax": "softmax", "conj": "conj", "max": "max", "min": "min", "Re": "Re", "Im": "Im",
    "etr": "etr", "rank": "rank", "adj": "adj", "adjugate": "adj",
    "expm": "expm",
}


def head_name(word: str) -> str | None:
    """The canonical name of a function head as written (``ln`` -> ``log``, ``Tr`` ->
    ``tr``), or ``None`` when the word names no operator and no elementwise function."""
    op = OPERATORS.get(word)
    if op is not None:
        return op
    spec = BY_SPELLING.get(word)
    return spec.name if spec is not None else None


def head_names() -> set:
    """Every spelling of a head (for "did you mean")."""
    return set(OPERATORS) | set(BY_SPELLING)


# heads that take the rest of the product when written without parentheses (\det X^{-1} A)
CHAIN_HEADS = {"tr", "det", "logdet", "vec", "etr"}

BOLD_STYLES = {"mathbf", "boldsymbol", "bm", "pmb", "bold", "vec", "textbf", "bf"}
ACCENTS = {"hat": "hat", "widehat": "hat", "tilde": "tilde", "widetilde": "tilde",
           "bar": "bar", "check": "check", "breve": "breve", "dot": "dot", "ddot": "ddot",
           "underline": "ul", "uline": "ul", "mathring": "ring", "acute": "acute",
           "grave": "grave"}

_STYLE_RE = re.compile(r"\\([a-zA-Z]+)\s*(?:\{(.*)\}|(\\[a-zA-Z]+)|\s*([A-Za-z0-9]))\s*$", re.S)


def styled_name(text: str):
    """(name, hint) of a styled symbol token such as ``\\hat{\\mathbf{y}}``.

    The name is the letter (or Greek name) with accents appended: ``\\mathbf{x}`` is ``x``,
    ``\\boldsymbol{\\beta}`` is ``beta``, ``\\hat{y}`` is ``y_hat``.  The hint says what the
    notation suggests: ``bold`` (a vector, or a matrix when upper case), ``plain``,
    ``ones``, ``zero``, ``identity``, ``set`` (\\mathbb{R}).
    """
    bold = False
    accents = []
    style = None
    group = re.match(r"\{\s*(\\[a-zA-Z]+)\s+(.*?)\s*\}$", text.strip(), re.S)
    if group:                           # {\bf x}: the TeX switch in a group
        text = group.group(1) + "{" + group.group(2) + "}"
    while True:
        m = _STYLE_RE.match(text.strip())
        if not m:
            break
        cmd = m.group(1)
        inner = m.group(2) if m.group(2) is not None else (m.group(3) or m.group(4))
        if cmd in ACCENTS:
            accents.append(ACCENTS[cmd])
        elif cmd in BOLD_STYLES:
            bold = True
        else:
            style = cmd
        text = inner.strip()
        if not text.startswith("\\") or text[1:] in _GREEK_NAMES:
            break
    base = text[1:] if text.startswith("\\") else text
    if style == "mathbb" and base in ("R", "C", "N", "Z"):
        return base, "set"
    if base == "1" and (bold or style in ("mathbb", "mathds")):
        return "1", "ones"
    if base == "0" and bold:
        return "0", "zero"
    if base == "I" and (bold or style == "mathbb"):
        return "I", "identity"
    name = base + "".join("_" + a for a in reversed(accents))
    return name, ("bold" if bold else "plain")


_GREEK_NAMES = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta",
                "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi",
                "varpi", "rho", "varrho", "sigma", "varsigma", "tau", "upsilon", "phi",
                "varphi", "chi", "psi", "omega", "ell"} | GREEK_UPPER
GREEK_NAMES = frozenset(_GREEK_NAMES)     # every Greek letter texgrad reads, by name



def is_transpose_mark(p: N, t_mark: bool = False) -> bool:
    """Whether a superscript is a transpose mark (^T, ^\\top, ^{\\mathsf{T}}; ^t when
    ``t_mark``: the formula has no symbol t)."""
    return p.op == "tmark" or (p.op == "sym" and (p.args[0] == "T" or t_mark and
                                                  p.args[:2] == ("t", "t"))
                               and p.args[2] != "bold")


def unwrap_postfix(n: N):
    """(base, [postfix ops outermost last]) of a factor: \\sin^2 -> (\\sin, [sup 2])."""
    posts = []
    while n.op in ("sup", "subscript"):
        posts.append((n.op, n.args[1], n.end))
        n = n.args[0]
    posts.reverse()
    return n, posts



def number_value(p: N):
    """The exact value of a syntax node that spells a number (2, -1/2, \\frac{3}{4}), else None."""
    if p.op == "num":
        return Fraction(p.args[0])
    if p.op == "neg":
        v = number_value(p.args[0])
        return -v if v is not None else None
    if p.op in ("brace", "paren"):
        return number_value(p.args[0])
    if p.op == "add":           # X^{2-0}: a written-out finite sum's exponent
        vals = [number_value(a) for a in p.args]
        return None if any(v is None for v in vals) else sum(vals, Fraction(0))
    if p.op == "frac":
        a, b = number_value(p.args[0]), number_value(p.args[1])
        if a is not None and b:
            return a / b
    if p.op == "product" and len(p.args) == 2 and p.args[1].op == "recip":   # 1/2
        a, b = number_value(p.args[0]), number_value(p.args[1].args[0])
        if a is not None and b:
            return a / b
    return None


def error_at(text: str, n: N, msg: str) -> ParseError:
    """A :class:`ParseError` pointing at the syntax node ``n`` of ``text``."""
    return ParseError(msg).at(text, n.start, n.end - n.start)

def grammar_path() -> str:
    """The grammar inside the package (an install), else the checkout's ``grammar/``."""
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, "grammar", "texgrad.lark"),
              os.path.join(here, "..", "..", "grammar", "texgrad.lark")):
        if os.path.isfile(p):
            return p
    raise FileNotFoundError("texgrad.lark not found: the package is incompletely installed")


_APPLIED = re.compile(r"\s*(?:\(|\\left\s*\(|\\[bB]igg?l?\s*\()")


def applied(source, end: int) -> bool:
    """Whether an opening parenthesis follows ``end``: a word applied to an argument."""
    return bool(source) and _APPLIED.match(source, end) is not None
