"""The math of a Markdown document, found by a Markdown parser (markdown-it-py, CommonMark,
with mdit-py-plugins' ``dollarmath`` and ``amsmath``).

``read`` gives a :class:`~texgrad.claimtex.Document` over the file's own text: the bodies of
``$ $``, ``$$ $$`` (inline, or a block, blank lines and all), ``\\[ \\]``, ``\\( \\)`` and of
LaTeX environments (``\\begin{align} ... \\end{align}``, as a block or inside a paragraph).
Code spans, fenced and indented code blocks and HTML blocks are never math, and are blanked in
the prose where shapes are read.  markdown-it gives lines only; the place of an inline formula
is found in its paragraph's lines, in order.  markdown-it is imported here only, lazily.
"""

from __future__ import annotations

import bisect
import re

from .claimtex import Document, blank, find_regions, marks, merged

_PARSER: list = []
_OPAQUE = ("fence", "code_block", "html_block")
_MATH_BLOCK = ("math_block", "math_block_eqno")
_TEX = re.compile(r"\\\[|\\\(|\\begin")
_BEGIN = re.compile(r"[ \t]*\\begin\{([A-Za-z]+\*?)\}(?:\{\d+\})?")


def _parser():
    if not _PARSER:
        from markdown_it import MarkdownIt
        from mdit_py_plugins.amsmath import amsmath_plugin
        from mdit_py_plugins.dollarmath import dollarmath_plugin
        _PARSER.append(MarkdownIt("commonmark").use(
            dollarmath_plugin, allow_space=True, allow_digits=True, double_inline=True)
            .use(amsmath_plugin))
    return _PARSER[0]


def _inline(text: str, a: int, b: int, children, regions: list, opaque: list) -> None:
    """The math of one paragraph (``text[a:b]``, its children tokens in order)."""
    cursor = a
    hidden = []                         # code spans and $ math, hidden from the TeX finder
    for c in children or ():
        if c.type == "code_inline":
            i = text.find(c.markup, cursor, b)
            j = text.find(c.markup, i + len(c.markup), b) if i >= 0 else -1
            if j >= 0:
                opaque.append((i, j + len(c.markup)))
                hidden.append((i, j + len(c.markup)))
                cursor = j + len(c.markup)
        elif c.type.startswith("math_inline"):
            i = text.find(c.markup, cursor, b)
            start = i + len(c.markup)
            if i < 0 or not text.startswith(c.content, start):
                start = text.find(c.content, cursor, b)
                i = start - len(c.markup)
            if start >= a:
                end = start + len(c.content)
                regions.append((start, end, ""))
                hidden.append((max(a, i), min(b, end + len(c.markup))))
                cursor = end + len(c.markup)
    src = text[a:b]
    if _TEX.search(src):
        shown = blank(src, [(i - a, j - a) for i, j in hidden]).replace("%", " ")
        regions += [(a + i, a + j, env) for i, j, env in find_regions(shown)]


def read(text: str) -> Document:
    """The math regions of a Markdown document (the parser's errors propagate: the caller
    falls back to another scanner)."""
    lines = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(line: int) -> int:
        return lines[line] if line < len(lines) else len(text)

    regions: list = []
    opaque: list = []
    for tok in _parser().parse(text):
        if tok.map is None:
            continue
        a, b = at(tok.map[0]), at(tok.map[1])
        if tok.type in _OPAQUE:
            opaque.append((a, b))
        elif tok.type in _MATH_BLOCK:
            i, j = text.find("$$", a, b), text.rfind("$$", a, b)
            if 0 <= i < j - 1:
                regions.append((i + 2, j, ""))
        elif tok.type == "amsmath":      # its map ends a line early: find its \end
            m = _BEGIN.match(text, a)
            j = text.find("\\end{" + m.group(1) + "}", m.end()) if m else -1
            if j > m.end():
                regions.append((m.end(), j, m.group(1)))
        elif tok.type == "inline":
            _inline(text, a, b, tok.children, regions, opaque)
    kept, reach = [], -1
    skip = merged(opaque)
    starts = [s for s, _ in skip]
    for a, b, env in sorted(set(regions)):
        k = bisect.bisect_right(starts, a) - 1
        if a >= reach and b > a and not (k >= 0 and a < skip[k][1]):
            kept.append((a, b, env))
            reach = b
    return Document(blank(text, marks(text, kept)), [(a, b) for a, b, _ in kept],
                    lambda p: p, blank(text, skip))
