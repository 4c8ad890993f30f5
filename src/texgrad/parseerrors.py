"""The parser's errors: a Lark syntax error mapped to what the user typed (what is
wrong, a caret under the spot, a hint), unclosed brackets and norms, unknown commands
with a did-you-mean.
"""

from __future__ import annotations

import re

from .errors import ParseError, TexgradError, Unsupported, position
from .syntax import grammar_path, head_name, head_names


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


def _norm_closed_by_bar(text: str, opened: list):
    """``\\|x|_2``: a norm left open whose last opening is a single bar, which the author
    meant as the norm's close.  The error names the norm, at its opening."""
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


def map_lark_error(err, text: str, opened: list) -> TexgradError:
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
        bad_norm = _norm_closed_by_bar(text, opened)
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
                    if not un else "something is missing before it")
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


def unknown_function(word: str, source, tok) -> Unsupported:
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

