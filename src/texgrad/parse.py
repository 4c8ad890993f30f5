"""Parse stage: LaTeX text to an untyped syntax tree (:class:`N`), with positions.

The grammar lives in ``grammar/texgrad.lark`` (shipped inside the package as
``texgrad/grammar``).  Lark compiles it to LALR tables; :mod:`texgrad.lalr` runs them
(without importing Lark, for start-up time) and builds the tree through the transformer
:class:`Build`, as Lark's internal transformer would: no intermediate parse tree and no
recursion on long sums.  On a syntax error Lark itself reparses the text, and its error is
mapped to what the user typed, with a caret under the spot.
"""


from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction

from .errors import LimitError, ParseError, TexgradError
from .lalr import SyntaxFailure
from .postlex import Bars
from .products import derivative_frac, resolve_product
from .syntax import (GREEK_UPPER, MAX_DEPTH, MAX_DIGITS, MAX_LENGTH, MAX_POSTFIX, N,
                     applied, grammar_path, head_name, styled_name)


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

    def frobenius(self, c):
        # A : B, the Frobenius product, is the inner product <A, B> = tr(A^T B)
        return N("inner", (c[0], c[2]), *_span(c[0], c[2]))

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
            marked = payload.op == "product" and len(payload.args) == 2 and \
                payload.args[0].op == "paren" and payload.args[1].op in ("sym", "tmark") and \
                (payload.args[1].op == "tmark" or payload.args[1].args[0] == "T")
            if kind == "sup" and node.op == "sym" and marked:
                # \mathbf{w}^{(2)T}: the label, then the transpose
                label_node, mark = payload.args
                node = self._labelled(node, label_node, label_node.end)
                node = N("sup", (node, mark), node.start, end)
                continue
            if kind == "sup" and node.op == "sym" and payload.op == "paren" and \
                    payload.args[1] in ("(", "["):
                # W^{(l)}, \mathbf{a}^{[2]}: a label (a network's layer), never a power
                node = self._labelled(node, payload, end)
                continue
            node = N(kind, (node, payload), node.start, end)
        return node

    def _labelled(self, node: N, paren: N, end: int) -> N:
        """The symbol ``node`` with the label ``paren`` (``(l)``, ``[2]``) in its name."""
        label = " ".join(self.source[paren.start + 1:paren.end - 1].split()) \
            if self.source else ""
        o, c_ = paren.args[1], ")" if paren.args[1] == "(" else "]"
        name, latex, hint = node.args
        return N("sym", (f"{name}^{o}{label}{c_}", f"{latex}^{{{o}{label}{c_}}}", hint),
                 node.start, end)

    def sup(self, c):
        return ("sup", c[1], c[0].start_pos, c[1].end)

    def sup_braced(self, c):
        # the postfix's span runs to the closing brace (x^{2} is 5 characters long)
        return ("sup", c[2], c[0].start_pos, c[3].end_pos)

    def sup_frac(self, c):
        # x^\frac{-1}{2}: the fraction is the exponent
        node = N("frac", (c[2], c[3]), c[1].start_pos, c[3].end)
        return ("sup", N("brace", (node,), node.start, node.end), c[0].start_pos, c[3].end)

    def tsup(self, c):
        return ("sup", N("tmark", ("T",), c[0].start_pos, c[0].end_pos),
                c[0].start_pos, c[0].end_pos)

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
        m = _BOLD_RUN.match(str(t))
        if m:       # \mathbf{Ax}, \mathbf{AXB}: several bold letters are their product
            base = t.start_pos + m.start(2)
            return N("product", tuple(
                N("sym", (ch, f"\\{m.group(1)}{{{ch}}}", "boldupper" if ch.isupper()
                          else "bold"), base + i, base + i + 1)
                for i, ch in enumerate(m.group(2))), t.start_pos, t.end_pos)
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
        cmd, w = _word_parts(str(t))
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
        elif cmd.rstrip("*") == "operatorname" or applied(self.source, t.end_pos):
            # \operatorname{softplus}(x), \mathrm{relu}(z): a function texgrad does not
            # know; read as a symbol times (x) it would be a verified misreading
            from .parseerrors import unknown_function     # an error path: loaded when needed
            raise unknown_function(w, self.source, t)
        return _tok("sym", t, w.replace(" ", ""), re.sub(r"\s+", " ", str(t)), hint)

    def font(self, c):
        """``\\mathbf{A^T}``, ``\\mathbf{X^T A X}``: the font is on every symbol inside (not
        on the marks of its superscripts); the group stays a group."""
        inner = c[2]
        stack = [inner]
        while stack:
            n = stack.pop()
            if n.op == "sym":
                name, latex, hint = n.args
                if hint in ("plain", "upper"):
                    n.args = (name, f"\\mathbf{{{latex}}}",
                              "boldupper" if hint == "upper" else "bold")
                continue
            kids = [a for a in n.args if isinstance(a, N)]
            if n.op == "sup":
                kids = kids[:1]             # A^T: the T is a mark, not a symbol
            stack.extend(kids)
        return N("brace", (inner,), c[0].start_pos, c[3].end_pos)

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

    def pair(self, c):
        return N("pair", (c[1], c[3]), c[0].start_pos, c[4].end_pos)

    def bars_cmd(self, c):
        return N("bars", (c[2],), c[0].start_pos, c[3].end_pos)

    def norm_cmd(self, c):
        return N("norm", (c[2],), c[0].start_pos, c[3].end_pos)

    def brace(self, c):
        return N("brace", (c[1],), c[0].start_pos, c[2].end_pos)

    def bars(self, c):
        return N("bars", (c[1],), c[0].start_pos, c[2].end_pos)

    def norm(self, c):
        return N("norm", (c[1],), c[0].start_pos, c[2].end_pos)

    def inner(self, c):
        return N("inner", (c[1], c[3]), c[0].start_pos, c[4].end_pos)


_BOLD_RUN = re.compile(r"\\(mathbf|boldsymbol|bm|textbf)\s*\{\s*([A-Za-z]{2,6})\s*\}$")
_WORD_RE = re.compile(r"\{?\s*\\([a-zA-Z]+\*?)\s*\{?\s*(.*?)\s*\}?\s*\}?$", re.S)


def _word_parts(text: str) -> tuple:
    """(command, word) of a WORD token: ``\\operatorname{tr}``, ``{\\rm Tr}``, ``\\rm tr``,
    ``\\mathrm W``."""
    m = _WORD_RE.match(text)
    return m.group(1), m.group(2)


# ------------------------------------------------------------------------ the parser

_PARSER = None




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
        from .parseerrors import map_lark_error        # an error path: loaded when needed
        raise map_lark_error(e, text, _LARK_BARS.stack) from None
    except LarkError as e:  # pragma: no cover - defensive
        raise ParseError(f"could not parse: {e}").at(text, 0) from None

