"""Finding the claims of a document: its math, the shapes its prose states, a formula's parts.

``document`` reads a document by its parser (LaTeX: :mod:`texgrad.claimtex`, pylatexenc;
Markdown: :mod:`texgrad.claimmd`, markdown-it) and falls back to the regular-expression
scanner here (environments, ``$$ $$``, ``\\[ \\]``, ``$ $``, ``\\( \\)``, linear in the length
of the text) for plain text or when a parser fails; ``math_pieces`` gives every formula,
split into rows by :mod:`texgrad.claimrows`, at its place in the original text;
``declarations`` reads the shapes and assumptions the prose states
(``X \\in \\mathbb{R}^{m \\times n}``, "``W`` symmetric", ``\\succ 0``); ``split_top`` cuts a
formula at its top-level '=' and ``is_definition`` names what a left side defines (``f(W)``).
"""

from __future__ import annotations

import re

from .claimrows import Piece, mask, rows
from .claimtex import Document
from .claimtex import read as read_latex
from .errors import LimitError, TexgradError

# ------------------------------------------------------------------ finding the math

_ENV_OPEN = re.compile(r"\\begin\{(equation|align|gather|multline|eqnarray|displaymath|flalign|"
                       r"alignat|split|dmath)(\*?)\}(?:\{\d+\})?")
_DISPLAY_OPEN = re.compile(r"\$\$|\\\[|\\\(")
_DISPLAY_CLOSE = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$", re.S)
_COMMENT = re.compile(r"(?<!\\)%.*")


def _delimited(src: str, opener, closer_of) -> list[tuple[int, int]]:
    """(start, end) of the bodies between an opener and its first closer, scanning once: an
    opener whose closer never occurs again is skipped without rescanning the rest."""
    out = []
    never: set = set()
    pos = 0
    while True:
        m = opener.search(src, pos)
        if m is None:
            return out
        close = closer_of(m)
        if close in never:
            pos = m.end()
            continue
        j = src.find(close, m.end() + 1)     # a body has at least one character
        if j < 0:
            never.add(close)
            pos = m.end()
            continue
        out.append((m.end(), j))
        pos = j + len(close)


def _fallback(text: str, kind: str) -> Document:
    """The regular-expression scanner: the math of any text, found by its delimiters alone
    (comments masked in .tex); plain text: every line holding a derivative."""
    src = mask(text, _COMMENT) if kind == "tex" else text
    taken = bytearray(len(src))
    regions = []

    def add(start, end):
        if end > start and taken.find(1, start, end) < 0:
            regions.append((start, end))
            taken[start:end] = b"\x01" * (end - start)

    for start, end in _delimited(src, _ENV_OPEN,
                                 lambda m: "\\end{" + m.group(1) + m.group(2) + "}"):
        add(start, end)
    for start, end in _delimited(src, _DISPLAY_OPEN, lambda m: _DISPLAY_CLOSE[m.group(0)]):
        add(start, end)
    for m in _INLINE.finditer(src):
        add(m.start(1), m.end(1))
    if kind == "txt":       # plain text: a line holding a derivative is a formula
        for m in re.finditer(r"^.*(\\partial|\\nabla|\\frac\{d).*$", src, re.M):
            add(m.start(), m.end())
    return Document(src, sorted(regions), lambda p: p, src)


def document(text: str, kind: str = "tex") -> Document:
    """A document read by its parser (LaTeX: pylatexenc, Markdown: markdown-it), or by the
    regular-expression scanner when it is plain text or the parser fails on it (a parse
    error, nesting too deep, macros expanding without end, a structure too dense to parse in
    about two seconds)."""
    if kind in ("tex", "md"):
        try:
            if kind == "md":
                from .claimmd import read as read_markdown
                return read_markdown(text)
            return read_latex(text)
        except Exception:           # any failure of a parser (RecursionError too): scan
            pass
    return _fallback(text, kind)


def pieces_of(doc: Document) -> list[Piece]:
    """The rows of a document's math regions, each at its place in the original text."""
    out = []
    for start, end in doc.regions:
        for piece in rows(doc.text[start:end], start):
            lead = len(piece.text) - len(piece.text.lstrip())
            body = len(piece.text.rstrip())
            out.append(Piece(piece.text, max(0, doc.origin(piece.offset + lead) - lead),
                             doc.origin(piece.offset + body) if body else -1))
    return out


def math_pieces(text: str, kind: str = "tex") -> list[Piece]:
    """Every formula of a document, split at alignment line breaks, with its offset in the
    text.  Linear in the length of the text."""
    return pieces_of(document(text, kind))


# ------------------------------------------------------- shapes and assumptions in prose

# A name starts where no letter, digit, '_' or '\' precedes it, so a run of letters is
# scanned from its start only (the patterns stay linear on 200,000 letters); a list of names
# has at most 16 commas.
NAME = (r"(?<![A-Za-z0-9_\\])"
         r"(?:\\math(?:bf|rm|it|cal)\{\\?\w+\}|\\boldsymbol\{\\?\w+\}|\\bm\{\\?\w+\}|"
         r"\\?[A-Za-z]+(?:_\{?\w+\}?)?)")
_SET = re.compile(r"(?P<names>(?:" + NAME + r"\s*,\s*){0,16}" + NAME + r")\s*\\in\s*"
                  r"(?:\\mathbb\{(?P<field>[RC])\}|\\(?P<field2>[RC])(?:eals)?(?![a-zA-Z]))"
                  r"\s*(?:\^\{(?P<exp>[^{}]*)\}|\^(?P<exp1>\w))?")
_PROPERTY = (r"(?:symmetric(?:\s+positive[- ](?:semi)?definite)?|Hermitian|"
             r"positive[- ](?:semi)?definite|spd)")
_SYMMETRIC = re.compile(r"(?:symmetric|Hermitian)\s+(?:positive[- ](?:semi)?definite\s+)?"
                        r"(?:matri(?:x|ces)\s+)?\$?\s*(?P<a>" + NAME + r")"
                        r"|\$\s*(?P<b>" + NAME + r")\s*(?:\\in[^$]{0,200})?\$\s+"
                        r"(?:(?:is|be)\s+)?(?:an?\s+)?(?:real\s+)?" + _PROPERTY +
                        # "if B is symmetric", "where A is positive definite": plain text
                        r"|(?<![A-Za-z])(?:if|where|when|with|assuming|assume|for|since)\s+"
                        r"(?P<c>" + NAME + r")\s+(?:is|be)\s+(?:an?\s+)?(?:real\s+)?"
                        + _PROPERTY, re.I)
_SPD = re.compile(r"(?P<a>" + NAME + r")\s*\\succ\s*0")
_SYM_EQ = re.compile(r"(?P<a>" + NAME + r")\s*=\s*(?P<b>" + NAME
                     + r")\^(?:\\top|T|\{\\top\}|\{T\})")


def symbol_name(tex: str) -> str:
    """The symbol a name written in prose or math denotes (``\\mathbf{x}`` -> ``x``)."""
    from .request import parse_wrt
    try:
        return parse_wrt(tex)
    except LimitError:
        raise
    except TexgradError:
        return tex.strip().strip("\\")


def declarations(text: str) -> tuple[dict, dict]:
    """Shapes and assumptions the prose states: (shapes, assume)."""
    shapes: dict = {}
    assume: dict = {}
    for m in _SET.finditer(text):
        names = [n.strip() for n in re.split(r"\s*,\s*", m.group("names")) if n.strip()]
        field_ = m.group("field") or m.group("field2")
        exp = m.group("exp") or m.group("exp1")
        dims: tuple = ()
        if exp:
            dims = tuple(d.strip() for d in re.split(r"\\times|\*|,|×", exp) if d.strip())
        for n in names:
            name = symbol_name(n)
            shapes[name] = dims
            if field_ == "C":
                assume.setdefault(name, set()).add("complex")
    for m in _SYMMETRIC.finditer(text):
        name = symbol_name(m.group("a") or m.group("b") or m.group("c"))
        prop = "spd" if re.search(r"definite|spd", m.group(0), re.I) else "symmetric"
        assume.setdefault(name, set()).add(prop)
    for m in _SPD.finditer(text):
        assume.setdefault(symbol_name(m.group("a")), set()).add("spd")
    for m in _SYM_EQ.finditer(text):
        if symbol_name(m.group("a")) == symbol_name(m.group("b")):
            assume.setdefault(symbol_name(m.group("a")), set()).add("symmetric")
    return shapes, {k: tuple(sorted(v)) for k, v in assume.items()}


# ------------------------------------------------------------------- a formula's parts

def split_top(s: str, sep: str = "=") -> list[tuple[str, int]]:
    """Split at ``sep`` outside brackets: [(part, offset)]."""
    out = []
    depth = 0
    start = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0 and s[i - 1:i] not in ("<", ">", "!", "\\") and \
                s[i + 1:i + 2] != "=":
            out.append((s[start:i], start))
            start = i + 1
    out.append((s[start:], start))
    return out


_DEF = re.compile(r"^\s*(" + NAME + r")\s*(\([^()]*\))?\s*$")


def is_definition(lhs: str) -> str | None:
    """``f(W)``, ``L``, ``\\mathcal{L}(\\theta)`` on the left of '=': the defined name."""
    if re.search(r"\\partial|\\nabla|\\frac|\\operatorname|\\det|\\log|\\exp|\\sum|\\\|", lhs):
        return None
    m = _DEF.match(lhs)
    if not m:
        return None
    return re.sub(r"\s+", "", m.group(1))
