"""The post-lexer: between Lark's lexer and the LALR parser, what a regular lexer cannot
decide.  :class:`Bars` decides which ``|`` and ``\\|`` open and which close, splits the
digits of ``x^12`` and ``\\frac12`` the way TeX reads them, and (through
:func:`bare_words`) reads a function written in plain letters before a bracket
(``Tr(XA)``, ``det(X)``) as that function.
"""

from __future__ import annotations

from _thread import _local          # threading.local, without importing threading

from .errors import LimitError
from .lalr import Token
from .syntax import MAX_DEPTH

_OPERAND_END = {"LETTER", "GREEK", "STYLED", "WORD", "NUMBER", "RPAR", "RBRACK", "RBRACE",
                "RBRACE_ESC", "RABS", "RNORM", "PRIME", "TMARK", "DAGGER"}


_OPENERS = {"LPAR", "LBRACK", "LBRACE", "LBRACE_ESC", "LABS", "LNORM", "LANGLE"}
_CLOSERS_T = {"RPAR", "RBRACK", "RBRACE", "RBRACE_ESC", "RABS", "RNORM", "RANGLE"}


# a function written in plain letters, read as the function when a bracket follows
# (Tr(XA), det(X), Tr\{AXB\}, log(x)): authors of notes and Q&A answers write them so
BARE_WORDS = {"tr", "Tr", "trace", "Trace", "det", "diag", "Diag", "vec", "logdet", "rank",
              "exp", "log", "ln", "sin", "cos", "tan", "tanh", "sinh", "cosh", "max", "min",
              "softmax"}
_BRACKETS = {"LPAR", "LBRACK", "LBRACE_ESC"}


def bare_words(stream):
    """Runs of adjacent letters spelling a function of :data:`BARE_WORDS`, followed by a
    bracket (after spaces or ``\\left``), become that function's token."""
    run: list = []
    before = None           # the token before the run
    for tok in stream:
        if tok.type == "LETTER" and (not run or tok.start_pos == run[-1].end_pos):
            run.append(tok)
            continue
        if run:
            word = "".join(str(t) for t in run)
            if tok.type in _BRACKETS and word in BARE_WORDS and (
                    before is None or before.type not in ("CARET", "UNDERSCORE")):
                first, last = run[0], run[-1]
                yield Token("FUNC", "\\" + word, first.start_pos, first.line, first.column,
                            last.end_line, last.end_column, last.end_pos)
            else:
                yield from run
            before = run[-1]
            run = []
        if tok.type == "LETTER":
            run = [tok]
            continue
        before = tok
        yield tok
    yield from run


class Bars:
    """Post-lexer: decides which ``|`` and ``\\|`` open and which close, and splits the
    digits of ``x^12`` and ``\\frac12`` the way TeX reads them (one digit each)."""

    always_accept = ("BAR", "DBAR")

    def __init__(self):
        self._local = _local()   # per thread: parses in threads share one Bars

    @property
    def stack(self) -> list:
        """The bars and norms open so far in this thread's last run: (kind, token)."""
        return getattr(self._local, "stack", [])

    def process(self, stream):
        return self._bars(bare_words(stream))

    def _bars(self, stream):
        stack = []
        self._local.stack = opened = []
        depth = 0            # every kind of bracket, bar and norm: the nesting limit
        prev = None
        prev_type = None
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


