"""Parse stage: LaTeX text to an untyped syntax tree (:class:`N`), with positions.

The grammar lives in ``grammar/texgrad.lark`` (shipped inside the package as
``texgrad/grammar``).  Lark compiles it to LALR tables; :mod:`texgrad.lalr` runs them
(without importing Lark, for start-up time) and builds the tree through the transformer
:class:`Build`, as Lark's internal transformer would: no intermediate parse tree and no
recursion on long sums.  On a syntax error Lark itself reparses the text, and its error is
mapped to what the user typed, with a caret under the spot.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction

from .errors import LimitError, ParseError, TexgradError, position
from .functions import BY_SPELLING
from .lalr import SyntaxFailure, Token

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
    "etr": "etr", "rank": "rank",
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

BOLD_STYLES = {"mathbf", "boldsymbol", "bm", "pmb", "bold", "vec"}
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


# -------------------------------------------------------------------- the transformer

def _span(*parts):
    starts = [p.start if isinstance(p, N) else p.start_pos for p in parts if p is not None]
    ends = [p.end if isinstance(p, N) else p.end_pos for p in parts if p is not None]
    return min(starts), max(ends)


def _tok(op, tok, *args):
    return N(op, args, tok.start_pos, tok.end_pos)


_SOURCE: ContextVar = ContextVar("texgrad_parse_source", default=None)


@contextmanager
def parsing(text: str):
    """The text being parsed, for :class:`Build` (its :attr:`~Build.source`), in this
    thread and context only, for the duration of the ``with`` block."""
    token = _SOURCE.set(text)
    try:
        yield
    finally:
        _SOURCE.reset(token)


class Build:
    """Builds :class:`N` nodes; the method names are the grammar's ``-> alias`` names.

    One instance serves every parse; the text being parsed (for the carets of its errors
    and the spans it slices) is :attr:`source`, set by :func:`parse` for the duration of a
    call in a context variable, so parses in several threads never see each other's text.
    """

    @property
    def source(self) -> str | None:
        return _SOURCE.get()

    # ---- sums and products
    def chain(self, c):
        parts = c[0]
        return N("chain", tuple(parts), *_span(*parts)) if len(parts) > 1 else parts[0]

    def chainlist(self, c):
        # a left-recursive list (``chainlist EQUALS sum``, ``items item``): the list so
        # far, extended in place by the last child (a long chain stays linear)
        if len(c) == 1:
            return [c[0]]
        c[0].append(c[-1])
        return c[0]

    items = chainlist

    def neg(self, c):
        return N("neg", (c[1],), *_span(c[0], c[1]))

    def pos(self, c):
        return c[1]

    def add(self, c):
        return self._extend(c[0], c[2])

    def sub(self, c):
        return self._extend(c[0], N("neg", (c[2],), c[1].start_pos, c[2].end))

    def _extend(self, a, b):
        # the terms of a sum in the making are a list, extended in place (a long sum
        # stays linear); parse() makes them tuples when the tree is complete
        if a.op == "add" and type(a.args) is list:
            a.args.append(b)
            a.start, a.end = min(a.start, b.start), max(a.end, b.end)
            return a
        return N("add", [a, b], *_span(a, b))

    def pm(self, c):
        raise ParseError(r"\pm / \mp give two expressions, not one",
                         hint="differentiate the + and the - version separately"
                         ).at(self.source, c[1].start_pos, len(c[1]))

    def hadamard(self, c):
        return N("hadamard", (c[0], c[2]), *_span(c[0], c[2]))

    def kron(self, c):
        return N("kron", (c[0], c[2]), *_span(c[0], c[2]))

    def product(self, c):
        return resolve_product(c[0], self.source)

    def op_item(self, c):
        t = c[0]
        kind = {"CDOT": "cdot", "STAR": "star", "TIMES": "times", "SLASH": "slash"}[t.type]
        return _tok("op", t, kind)

    # ---- factors and postfixes
    def factor(self, c):
        node = c[0]
        if len(c) > MAX_POSTFIX:
            raise LimitError(f"more than {MAX_POSTFIX} superscripts and subscripts on "
                             "one factor").at(self.source, node.start)
        for post in c[1:]:
            kind, payload, start, end = post
            node = N(kind, (node, payload), node.start, end)
        return node

    def sup(self, c):
        return ("sup", c[1], c[0].start_pos, c[1].end)

    def sup_braced(self, c):
        # the postfix's span runs to the closing brace (x^{2} is 5 characters long)
        return ("sup", c[2], c[0].start_pos, c[3].end_pos)

    def subpost(self, c):
        return ("subscript", c[1], c[0].start_pos, c[1].end)

    def prime(self, c):
        return ("sup", N("tmark", ("'",), c[0].start_pos, c[0].end_pos),
                c[0].start_pos, c[0].end_pos)

    def suparg(self, c):
        return self._leaf(c[0])

    def star(self, c):
        return _tok("star", c[0])

    def dagger(self, c):
        return _tok("dagger", c[0])

    def prime_mark(self, c):
        return _tok("tmark", c[0], "'")

    def hadamard_power(self, c):
        return N("hpow", (c[1],), c[0].start_pos, c[1].end)

    def subarg(self, c):
        if len(c) == 3:
            inner = c[1]
            return N(inner.op, inner.args, c[0].start_pos, c[2].end_pos)
        return self._leaf(c[0])

    def subinner(self, c):
        parts = tuple(x for x in c if isinstance(x, N))
        if len(parts) == 1:
            return parts[0]
        return N("sublist", parts, *_span(*parts))

    def sub_range(self, c):
        return N("subrange", (c[0], c[2]), *_span(c[0], c[2]))

    def _leaf(self, t):
        return getattr(self, {"LETTER": "letter", "NUMBER": "number", "GREEK": "greek",
                              "TMARK": "tmark", "STAR": "star", "DAGGER": "dagger",
                              "PRIME": "prime_mark", "STYLED": "styled",
                              "WORD": "word"}[t.type])([t])

    # ---- primaries
    def letter(self, c):
        t = c[0]
        return _tok("sym", t, str(t), str(t), "upper" if str(t).isupper() else "plain")

    def greek(self, c):
        t = c[0]
        name = str(t)[1:]
        return _tok("sym", t, name, "\\" + name,
                    "upper" if name in GREEK_UPPER else "plain")

    def styled(self, c):
        t = c[0]
        name, hint = styled_name(str(t))
        latex = re.sub(r"\s+", " ", str(t)).strip()
        if hint in ("ones", "zero", "identity", "set"):
            return _tok(hint, t, latex, name)
        if hint == "bold" and name[:1].isupper() or (hint == "plain" and
                                                      name[:1].isupper()):
            hint = "boldupper" if hint == "bold" else "upper"
        if name in GREEK_UPPER:
            hint = "upper" if hint == "plain" else "boldupper"
        return _tok("sym", t, name, latex, hint)

    def word(self, c):
        t = c[0]
        m = re.match(r"\\([a-zA-Z]+\*?)\s*\{\s*(.*?)\s*\}$", str(t), re.S)
        cmd, w = m.group(1), m.group(2)
        w = w.lstrip("\\")
        head = head_name(w)
        if head is not None and cmd not in ("text", "textit") or (
                cmd == "text" and w in ("tr", "Tr", "det", "diag", "vec", "logdet")):
            return _tok("head", t, head, str(t))
        if w == "d":
            return _tok("dmark", t, str(t))
        if w == "T":
            return _tok("tmark", t, "T")
        hint = "word"
        if len(w) == 1:          # \mathrm{A}: an upright letter is still a letter
            hint = "upper" if w.isupper() else "plain"
        elif cmd.rstrip("*") == "operatorname" or _applied(self.source, t.end_pos):
            # \operatorname{softplus}(x), \mathrm{relu}(z): a function texgrad does not
            # know; read as a symbol times (x) it would be a verified misreading
            raise _unknown_function(w, self.source, t)
        return _tok("sym", t, w.replace(" ", ""), re.sub(r"\s+", " ", str(t)), hint)

    def func_cmd(self, c):
        t = c[0]
        return _tok("head", t, head_name(str(t)[1:]), str(t))

    def number(self, c):
        t = c[0]
        digits = str(t).replace(".", "").lstrip("0").rstrip("0") if "." in str(t) \
            else str(t).lstrip("0")
        if len(digits) > MAX_DIGITS or len(str(t)) > 2 * MAX_DIGITS:
            raise LimitError(f"a number of {len(str(t)):,} characters; the limit is "
                             f"{MAX_DIGITS} significant digits",
                             hint="write a large number as a power, e.g. 10^{12}"
                             ).at(self.source, t.start_pos, len(t))
        return _tok("num", t, Fraction(str(t)), str(t))

    def tmark(self, c):
        return _tok("tmark", c[0], str(c[0]))

    def partial(self, c):
        return _tok("partial", c[0])

    def nabla(self, c):
        return _tok("nabla", c[0])

    def sum_op(self, c):
        return _tok("sumop", c[0])

    def frac(self, c):
        node = N("frac", (c[1], c[2]), c[0].start_pos, c[2].end)
        return derivative_frac(node, self.source) or node

    def fracarg(self, c):
        if len(c) == 3:
            inner = c[1]
            return N(inner.op, inner.args, c[0].start_pos, c[2].end_pos)
        return self._leaf(c[0])

    def sqrt(self, c):
        return N("sqrt", (c[2],), c[0].start_pos, c[3].end_pos)

    def root(self, c):
        return N("root", (c[2], c[5]), c[0].start_pos, c[6].end_pos)

    def overline(self, c):
        return N("conj", (c[2],), c[0].start_pos, c[3].end_pos)

    def paren(self, c):
        return N("paren", (c[1], str(c[0])), c[0].start_pos, c[2].end_pos)

    def brace(self, c):
        return N("brace", (c[1],), c[0].start_pos, c[2].end_pos)

    def bars(self, c):
        return N("bars", (c[1],), c[0].start_pos, c[2].end_pos)

    def norm(self, c):
        return N("norm", (c[1],), c[0].start_pos, c[2].end_pos)

    def inner(self, c):
        return N("inner", (c[1], c[3]), c[0].start_pos, c[4].end_pos)


# ------------------------------------------------------------------ the post-lexer

_OPERAND_END = {"LETTER", "GREEK", "STYLED", "WORD", "NUMBER", "RPAR", "RBRACK", "RBRACE",
                "RBRACE_ESC", "RABS", "RNORM", "PRIME", "TMARK", "DAGGER"}


_OPENERS = {"LPAR", "LBRACK", "LBRACE", "LBRACE_ESC", "LABS", "LNORM", "LANGLE"}
_CLOSERS_T = {"RPAR", "RBRACK", "RBRACE", "RBRACE_ESC", "RABS", "RNORM", "RANGLE"}


class Bars:
    """Post-lexer: decides which ``|`` and ``\\|`` open and which close, and splits the
    digits of ``x^12`` and ``\\frac12`` the way TeX reads them (one digit each)."""

    always_accept = ("BAR", "DBAR")

    def __init__(self):
        self._local = threading.local()   # per thread: parses in threads share one Bars

    @property
    def stack(self) -> list:
        """The bars and norms open so far in this thread's last run: (kind, token)."""
        return getattr(self._local, "stack", [])

    def process(self, stream):
        stack = []
        self._local.stack = opened = []
        depth = 0            # every kind of bracket, bar and norm: the nesting limit
        prev = None
        split_next = False
        for tok in stream:
            typ = tok.type
            if split_next and typ == "NUMBER" and len(tok) > 1 and "." not in tok:
                yield Token.new_borrow_pos("NUMBER", tok[0], tok)
                rest = Token("NUMBER", str(tok)[1:], tok.start_pos + 1, tok.line,
                             tok.column + 1, tok.end_line, tok.end_column, tok.end_pos)
                if prev_type == "FRAC":
                    yield rest
                    prev = rest
                    split_next = False
                    continue
                tok = rest
                typ = "NUMBER"
            prev_type = typ
            split_next = typ in ("CARET", "UNDERSCORE", "FRAC")
            operand = prev is not None and prev.type in _OPERAND_END
            text = str(tok)
            if typ == "BAR":
                if text == "\\lvert":
                    typ = "LABS"
                elif text == "\\rvert":
                    typ = "RABS"
                else:
                    typ = "RABS" if stack and stack[-1] == "abs" and operand else "LABS"
            elif typ == "DBAR":
                if text == "||" and stack and stack[-1] == "abs" and operand:
                    # |A||B|: a closing bar, then an opening one
                    close = Token("RABS", "|", tok.start_pos, tok.line, tok.column,
                                  tok.line, tok.column + 1, tok.start_pos + 1)
                    stack.pop()
                    yield close
                    stack.append("abs")
                    prev = Token("LABS", "|", tok.start_pos + 1, tok.line, tok.column + 1,
                                 tok.line, tok.column + 2, tok.end_pos)
                    yield prev
                    continue
                if text == "\\lVert":
                    typ = "LNORM"
                elif text == "\\rVert":
                    typ = "RNORM"
                else:
                    typ = "RNORM" if stack and stack[-1] == "norm" and operand else "LNORM"
            if typ in ("LABS", "LNORM"):
                stack.append("abs" if typ == "LABS" else "norm")
                opened.append((stack[-1], tok))
            elif typ in ("RABS", "RNORM") and stack:
                stack.pop()
                opened.pop()
            if typ in _OPENERS:
                depth += 1
                if depth > MAX_DEPTH:
                    err = LimitError(f"brackets, bars and norms are nested more than "
                                     f"{MAX_DEPTH} deep",
                                     hint="texgrad limits nesting depth to keep every stage "
                                          "fast and bounded", width=len(text))
                    err.offset = tok.start_pos      # parse() attaches the source
                    raise err
            elif typ in _CLOSERS_T:
                depth = max(0, depth - 1)
            if typ != tok.type:
                tok = Token.new_borrow_pos(typ, text, tok)
            prev = tok
            yield tok


# ------------------------------------------------------------------------ the parser

_PARSER = None


def grammar_path() -> str:
    """The grammar inside the package (an install), else the checkout's ``grammar/``."""
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, "grammar", "texgrad.lark"),
              os.path.join(here, "..", "..", "grammar", "texgrad.lark")):
        if os.path.isfile(p):
            return p
    raise FileNotFoundError("texgrad.lark not found: the package is incompletely installed")


def parser():
    """The parser, built once per process from the grammar's LALR tables (compiled by Lark
    and cached on disk between runs; see :mod:`texgrad.lalr`)."""
    global _PARSER
    if _PARSER is None:
        from .lalr import Parser, load_tables

        with open(grammar_path(), encoding="utf-8") as fh:
            source = fh.read()
        build = Build()
        _PARSER = (Parser(load_tables(source, Bars()), build, Bars()), build, source)
    return _PARSER


def lark_parser():
    """Lark itself on the same grammar, transformer and post-lexer: it reports syntax
    errors (the LALR runtime only detects them), and the tests compare the two."""
    global _LARK
    if _LARK is None:
        from lark import Lark

        _, build, source = parser()
        _LARK = Lark(source, parser="lalr", lexer="basic", transformer=build,
                     postlex=_LARK_BARS, maybe_placeholders=False)
    return _LARK


_LARK = None
_LARK_BARS = Bars()     # Lark's post-lexer: after an error, the bars and norms left open


# --------------------------------------------------------------------------- errors

TERMINAL_TEXT = {
    "RPAR": "')'", "LPAR": "'('", "RBRACK": "']'", "LBRACK": "'['", "RBRACE": "'}'",
    "LBRACE": "'{'", "RBRACE_ESC": r"'\}'", "LBRACE_ESC": r"'\{'", "RABS": "a closing '|'",
    "LABS": "'|'", "RNORM": r"a closing '\|'", "LNORM": r"'\|'", "EQUALS": "'='",
    "PLUS": "'+'", "MINUS": "'-'", "CARET": "'^'", "UNDERSCORE": "'_'", "COMMA": "','",
    "LETTER": "a letter", "NUMBER": "a number", "GREEK": "a Greek letter",
    "STYLED": r"a symbol like \mathbf{x}", "WORD": r"\operatorname{...}",
    "FUNC": r"a function like \log", "FRAC": r"\frac", "SQRT": r"\sqrt",
    "CDOT": r"\cdot", "TIMES": r"\times", "ODOT": r"\odot", "OTIMES": r"\otimes",
    "SLASH": "'/'", "PRIME": "'", "TMARK": r"\top", "STAR": "'*'", "DAGGER": r"\dagger",
    "PARTIAL": r"\partial", "NABLA": r"\nabla", "SUM": r"\sum", "CIRC": r"\circ",
    "OVERLINE": r"\overline", "PM": r"\pm", "LANGLE": r"\langle", "RANGLE": r"\rangle",
    "$END": "the end of the input",
}
_CLOSERS = {"LPAR": ("RPAR", ")"), "LBRACK": ("RBRACK", "]"), "LBRACE": ("RBRACE", "}"),
            "LBRACE_ESC": ("RBRACE_ESC", r"\}"), "LABS": ("RABS", "|"),
            "LNORM": ("RNORM", r"\|")}


def _describe(tok) -> str:
    if tok.type == "$END":
        return "end of input"
    return f"'{tok}'"


def _expected_text(expected) -> str:
    names = sorted({TERMINAL_TEXT.get(e, e) for e in expected if not e.startswith("__")})
    if len(names) > 6:
        return ""
    return ", ".join(names)


def _unclosed(text: str, upto: int):
    """The innermost bracket opened before ``upto`` and not closed: (offset, opener, closer)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    i = 0
    while i < upto:
        ch = text[i]
        if ch == "\\":
            m = re.match(r"\\([a-zA-Z]+|.)", text[i:])
            cmd = m.group(0) if m else "\\"
            if cmd in ("\\{", "\\}"):
                if cmd == "\\{":
                    stack.append((i, cmd, "\\}"))
                elif stack and stack[-1][2] == cmd:
                    stack.pop()
            i += len(cmd)
            continue
        if ch in pairs:
            stack.append((i, ch, pairs[ch]))
        elif ch in ")]}" and stack and stack[-1][2] == ch:
            stack.pop()
        i += 1
    return stack[-1] if stack else None


def _norm_closed_by_bar(text: str):
    """``\\|x|_2``: a norm left open whose last opening is a single bar, which the author
    meant as the norm's close.  The error names the norm, at its opening."""
    opened = _LARK_BARS.stack
    for k in range(len(opened) - 1, 0, -1):
        kind, tok = opened[k]
        below, ntok = opened[k - 1]
        if kind == "abs" and below == "norm" and str(tok) == "|":
            line, col = position(text, ntok.start_pos)
            return ParseError(f"the norm '{ntok}' opened at line {line}, column {col} is not "
                              f"closed by '\\|': the single '|' at column "
                              f"{position(text, tok.start_pos)[1]} opens an absolute value",
                              hint="close a norm with \\| (or ||), as it opened"
                              ).at(text, ntok.start_pos, len(ntok))
    return None


def _map_lark_error(err, text: str) -> TexgradError:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if isinstance(err, UnexpectedCharacters):
        off = err.pos_in_stream
        m = re.match(r"\\[a-zA-Z]+", text[off:])
        if m:
            cmd = m.group(0)
            if cmd[1:] in known_commands():
                # a known command the lexer could not read: its argument is incomplete
                un = _unclosed(text, len(text))
                if un:
                    return _unclosed_error(text, un)
                return ParseError(f"{cmd} is not followed by an argument texgrad reads",
                                  hint=f"write {cmd}{{x}} with one symbol in the braces"
                                  ).at(text, off, len(cmd))
            return ParseError(f"unknown command {cmd}",
                              hint=_command_hint(cmd)).at(text, off, len(cmd))
        ch = text[off]
        if ch == "\\":
            return ParseError("a lone backslash", hint="write a command such as \\alpha"
                              ).at(text, off)
        return ParseError(f"unexpected character {ch!r}",
                          hint="texgrad reads LaTeX math: letters, digits, + - ^ _ { } ( ) "
                               "and commands").at(text, off)
    if isinstance(err, (UnexpectedToken, UnexpectedEOF)):
        bad_norm = _norm_closed_by_bar(text)
        if bad_norm is not None:
            return bad_norm
        tok = getattr(err, "token", None)
        expected = getattr(err, "expected", None) or getattr(err, "accepts", None) or set()
        at_end = tok is None or tok.type == "$END"
        if at_end:
            off = len(text.rstrip())
            un = _unclosed(text, len(text))
            if un:
                return _unclosed_error(text, un)
            exp = _expected_text(expected)
            return ParseError("unexpected end of input",
                              hint=(f"expected {exp}" if exp else
                                    "the formula stops in the middle")).at(text, off)
        off = tok.start_pos
        width = max(1, (tok.end_pos or off + 1) - off)
        exp = _expected_text(expected)
        if tok.type in ("RPAR", "RBRACK", "RBRACE", "RBRACE_ESC", "RABS", "RNORM"):
            msg = f"unexpected {_describe(tok)}"
            un = _unclosed(text, off)
            hint = ("it closes nothing, or something before it is incomplete"
                    if not un else f"something is missing before it")
            if exp:
                hint += f" (expected {exp})"
            return ParseError(msg, hint=hint).at(text, off, width)
        msg = f"unexpected {_describe(tok)}"
        hint = f"expected {exp}" if exp else None
        if tok.type == "CARET":
            hint = "a superscript needs a base: write x^2, not ^2"
        return ParseError(msg, hint=hint).at(text, off, width)
    return ParseError(str(err))


_KNOWN = None


def known_commands() -> frozenset:
    """Every command name the grammar's terminals spell (``\\(a|b|...)`` alternations)."""
    global _KNOWN
    if _KNOWN is None:
        with open(grammar_path(), encoding="utf-8") as fh:
            g = fh.read()
        names = set()
        for alt in re.findall(r"\\\\\(([A-Za-z|*\\]+)\)", g):
            names.update(a.rstrip("\\*") for a in alt.split("|") if a.isalpha() or
                         a.rstrip("*\\").isalpha())
        names.update(("frac", "dfrac", "tfrac", "cfrac", "partial", "nabla", "sum", "sqrt",
                      "overline", "langle", "rangle", "lbrace", "rbrace", "circ", "otimes",
                      "times", "dagger", "top", "intercal", "transpose", "prime", "star",
                      "ast", "operatorname", "textit", "mathop", "rm"))
        _KNOWN = frozenset(n for n in names if n)
    return _KNOWN


def did_you_mean(word: str, choices) -> str | None:
    """The nearest of ``choices`` to a misspelled ``word`` (difflib), or None."""
    import difflib
    m = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return m[0] if m else None


def _unclosed_error(text: str, un) -> ParseError:
    """A group opened at ``un`` = (offset, opener, closer) and never closed."""
    line, col = position(text, un[0])
    return ParseError(f"unclosed group: '{un[1]}' opened at line {line}, column {col} is "
                      "never closed", hint=f"add '{un[2]}' where the group ends"
                      ).at(text, un[0], len(un[1]))


_APPLIED = re.compile(r"\s*(?:\(|\\left\s*\(|\\[bB]igg?l?\s*\()")


def _applied(source, end: int) -> bool:
    """Whether an opening parenthesis follows ``end``: a word applied to an argument."""
    return bool(source) and _APPLIED.match(source, end) is not None


def _unknown_function(word: str, source, tok) -> "Unsupported":
    from .errors import Unsupported
    near = did_you_mean(word, head_names())
    known = sorted({head_name(w) for w in head_names()} - {"etr", "Re", "Im"},
                   key=str.lower)
    hint = (f"did you mean \\operatorname{{{near}}}? " if near else "") + \
        "known: " + " ".join(known) + \
        "; write another function out in these (swish(x) as x \\odot \\sigma(x))"
    err = Unsupported(f"unknown function {word!r}: texgrad does not know what it computes",
                      hint=hint)
    return err.at(source, tok.start_pos, len(tok)) if source else err


def _command_hint(cmd: str) -> str:
    near = did_you_mean(cmd[1:], known_commands() | head_names())
    if near is not None and cmd not in ("\\begin", "\\end", "\\label", "\\tag"):
        return f"did you mean \\{near}?"
    known = ("\\mathbf \\boldsymbol \\bm \\hat \\tilde \\bar \\frac \\sqrt \\operatorname "
             "\\det \\log \\exp \\sin \\cos \\tanh \\sigma \\odot \\otimes \\top \\|")
    if cmd in ("\\begin", "\\end", "\\label", "\\tag"):
        return "pass one formula, without its environment (\\begin, \\label, \\tag)"
    return ("texgrad does not know this command; if it is a macro of your paper, "
            "expand it first (known: " + known + ", ...)")


# ------------------------------------------------------------------------- the entry

_DELIMS = [(r"$$", r"$$"), (r"\[", r"\]"), (r"\(", r"\)"), ("$", "$")]


def strip_delimiters(text: str) -> tuple[str, int]:
    """Remove math delimiters and trailing punctuation around a pasted formula; returns the
    inner text padded with spaces so that offsets stay those of the original."""
    s = _blank_punctuation(text)       # $x^2$. : the punctuation after the delimiter
    for lo, hi in _DELIMS:
        st = s.strip()
        if st.startswith(lo) and st.endswith(hi) and len(st) >= len(lo) + len(hi):
            i = s.index(lo)
            j = s.rindex(hi)
            s = " " * (i + len(lo)) + s[i + len(lo):j] + " " * (len(s) - j)
            break
    return _blank_punctuation(s), 0


_PUNCT_RE = re.compile(r"(?<!\\)[,.;]\s*$")     # not the spacing commands \, \;


def _blank_punctuation(s: str) -> str:
    """A trailing ``.``, ``,`` or ``;`` (and the spaces around it) blanked to spaces."""
    m = _PUNCT_RE.search(s)
    if m:
        s = s[:m.start()] + " " * (len(s) - m.start())
    return s


def check_limits(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise LimitError(f"the formula is {len(text):,} characters long; the limit is "
                         f"{MAX_LENGTH:,}", hint="split it, or differentiate a part at a time",
                         line=1, column=1, source=text)
    for i, ch in enumerate(text):
        if (ord(ch) < 32 and ch not in "\n\t\r") or ch == "\x7f" or ch == "\ufffd":
            raise ParseError(f"a control or binary character (U+{ord(ch):04X}) in the input",
                             hint="texgrad reads LaTeX text; is this a binary file?"
                             ).at(text, i)
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise LimitError(f"brackets are nested more than {MAX_DEPTH} deep",
                                 hint="texgrad limits nesting depth to keep every stage "
                                      "fast and bounded").at(text, i)
        elif ch in ")]}":
            depth = max(0, depth - 1)


def parse(text: str) -> N:
    """Parse a LaTeX formula into an untyped tree.  Raises :class:`ParseError`."""
    check_limits(text)
    inner, _ = strip_delimiters(text)
    if not inner.strip():
        raise ParseError("empty input", hint="give a formula, e.g. '\\mathbf{x}^\\top A\\mathbf{x}'",
                         line=1, column=1, source=text)
    p, _, _ = parser()
    with parsing(text):
        try:
            try:
                return _freeze(p.parse(inner))
            except SyntaxFailure:
                return _freeze(_parse_with_lark(inner, text))
        except TexgradError as e:
            if e.source is None and getattr(e, "offset", None) is not None:
                e.at(text, e.offset, e.width)
            if e.source is None:
                e.source = text
            raise


def _freeze(root: N) -> N:
    """The sums' term lists (extended in place while parsing) made tuples, without
    recursion."""
    stack = [root]
    while stack:
        n = stack.pop()
        if type(n.args) is list:
            n.args = tuple(n.args)
        stack.extend(a for a in n.args if isinstance(a, N))
    return root


def _parse_with_lark(inner: str, text: str) -> N:
    """Lark's own run on input the runtime rejected: it raises the error to report."""
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        return lark_parser().parse(inner)
    except UnexpectedInput as e:
        raise _map_lark_error(e, text) from None
    except LarkError as e:  # pragma: no cover - defensive
        raise ParseError(f"could not parse: {e}").at(text, 0) from None


# ------------------------------------------------------- products: heads and operators

def unwrap_postfix(n: N):
    """(base, [postfix ops outermost last]) of a factor: \\sin^2 -> (\\sin, [sup 2])."""
    posts = []
    while n.op in ("sup", "subscript"):
        posts.append((n.op, n.args[1], n.end))
        n = n.args[0]
    posts.reverse()
    return n, posts


def _rewrap(node: N, posts) -> N:
    for op, payload, end in posts:
        node = N(op, (node, payload), node.start, max(end, node.end))
    return node


def _is_dop(n: N) -> bool:
    base, _ = unwrap_postfix(n)
    return base.op in ("dop", "nabla")


def _make_call(head: N, hposts, arg: N, end: int) -> N:
    name, latex = head.args
    node = N("call", (name, latex, arg), head.start, end)
    # \sin^2 x is (\sin x)^2; \log_2 x is not supported (a subscript on a function)
    for op, payload, pend in hposts:
        if op == "subscript":
            raise ParseError(f"a subscript on {latex} is not supported",
                             hint="write \\log for the natural logarithm")
        node = N("sup", (node, payload), node.start, node.end)
    return node


def resolve_product(items: list, source: str) -> N:
    """Give functions written without parentheses and derivative operators their arguments.

    Right to left: a function followed by a parenthesised group takes that group (and a
    postfix after the group applies to the result: tr(X)^2); otherwise tr, det and logdet take
    the rest of the product (\\operatorname{tr} X^T A X), other functions the next factor
    (\\sin t).  A derivative operator takes the rest of the product.  ``a / b`` divides by the
    next factor only.
    """
    if len(items) == 1 and items[0].op == "op" and items[0].args[0] == "star":
        return N("star", (), items[0].start, items[0].end)      # x^{*}
    out: list = []          # resolved factors, rightmost first
    heads = 0
    for it in reversed(items):
        base, posts = unwrap_postfix(it)
        is_sigma = (base.op == "sym" and base.args[0] == "sigma" and base.args[1] == "\\sigma"
                    and not posts and out and _paren_led(out[-1]))
        if base.op == "head" or is_sigma:
            heads += 1
            if heads > MAX_HEADS:
                raise LimitError(f"more than {MAX_HEADS} functions without parentheses in "
                                 "one product").at(source, it.start)
            head = base if base.op == "head" else N("head", ("sigma", "\\sigma"), base.start,
                                                    base.end)
            name = head.args[0]
            if not out:
                raise ParseError(f"{head.args[1]} needs an argument",
                                 hint=f"write {head.args[1]}(X)").at(source, it.end)
            nxt = out[-1]
            if _paren_led(nxt):
                inner, nposts = unwrap_postfix(nxt)
                call = _make_call(head, posts, inner.args[0], inner.end)
                out[-1] = _rewrap(call, nposts)
            elif name in CHAIN_HEADS:
                arg = _product_node(list(reversed(out)))
                out = [_make_call(head, posts, arg, arg.end)]
            else:
                out[-1] = _make_call(head, posts, nxt, nxt.end)
        elif base.op in ("dop", "nabla") and not (base.op == "dop" and base.args[2] is not None):
            if not out:
                raise ParseError("a derivative operator needs something to differentiate",
                                 hint="write it in front of the function, e.g. "
                                      "\\frac{\\partial}{\\partial X} f").at(source, it.end)
            arg = _product_node(list(reversed(out)))
            out = [N("request", (it, arg), it.start, arg.end)]
        elif base.op == "sumop":
            if not out:
                raise ParseError("\\sum needs a summand").at(source, it.end)
            arg = _product_node(list(reversed(out)))
            out = [N("isum", (it, arg), it.start, arg.end)]
        elif it.op == "op":
            if it.args[0] == "slash":
                if not out:
                    raise ParseError("'/' needs a denominator after it").at(source, it.end)
                out[-1] = N("recip", (out[-1],), it.start, out[-1].end)
            # \cdot and \times multiply, as juxtaposition does
        else:
            out.append(it)
    if not out:
        raise ParseError("nothing to multiply").at(source, items[0].start)
    return _product_node(list(reversed(out)))


def _product_node(factors: list) -> N:
    if len(factors) == 1:
        return factors[0]
    return N("product", tuple(factors), factors[0].start, factors[-1].end)


def _paren_led(n: N) -> bool:
    base, posts = unwrap_postfix(n)
    return base.op in ("paren", "brace") and all(op == "sup" for op, _, _ in posts)


def _dmark(n: N):
    """The derivative mark leading ``n``: ('partial'|'d', order) or None."""
    base, posts = unwrap_postfix(n)
    if base.op == "partial" or base.op == "dmark" or (base.op == "sym" and
                                                       base.args[0] == "d" and
                                                       base.args[1] == "d"):
        order = 1
        for op, payload, _ in posts:
            if op == "sup" and payload.op == "num":
                order = int(payload.args[0])
        return ("partial" if base.op == "partial" else "d"), order
    return None


def derivative_frac(node: N, source: str):
    """\\frac{\\partial f}{\\partial X}, \\frac{\\partial}{\\partial X}, \\frac{d}{dx},
    \\frac{\\partial^2 f}{\\partial x \\partial x^T}: a derivative operator ``dop``
    (order, variables, inline function or None)."""
    num, den = node.args
    nitems = list(num.args) if num.op == "product" else [num]
    ditems = list(den.args) if den.op == "product" else [den]
    mark = _dmark(nitems[0])
    if mark is None or _dmark(ditems[0]) is None:
        return None
    kind, order = mark
    # the denominator: a mark before each variable, \partial x \partial x^T, or \partial x^2
    wrt = []
    cur: list = []
    for it in ditems:
        m = _dmark(it)
        if m is not None and m[0] == kind:
            if cur:
                wrt.append(_product_node(cur))
            cur = []
            continue
        cur.append(it)
    if cur:
        wrt.append(_product_node(cur))
    if not wrt:
        raise ParseError("the derivative names no variable",
                         hint="write \\partial X in the denominator").at(source, den.start)
    f = _product_node(nitems[1:]) if len(nitems) > 1 else None
    return N("dop", (order, tuple(wrt), f, kind), node.start, node.end)


# ------------------------------------------------------- syntax helpers for the typer

def number_value(p: N):
    """The exact value of a syntax node that spells a number (2, -1/2, \\frac{3}{4}), else None."""
    if p.op == "num":
        return Fraction(p.args[0])
    if p.op == "neg":
        v = number_value(p.args[0])
        return -v if v is not None else None
    if p.op in ("brace", "paren"):
        return number_value(p.args[0])
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
