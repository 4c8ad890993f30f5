"""The math of a LaTeX document, found by a LaTeX parser (pylatexenc's ``LatexWalker``).

``read`` gives a :class:`Document`: the text with the macros the document defines expanded
(``\\newcommand``, ``\\renewcommand``, ``\\providecommand``, ``\\def``, ``\\DeclareMathOperator``;
arguments ``#1``...``#9`` and an optional first argument's default), its comments blanked,
and the bodies of its math regions: ``$ $``, ``$$ $$``, ``\\[ \\]``, ``\\( \\)`` and the display
environments of :data:`MATH_ENVS` (what is nested inside them, ``aligned``, ``cases``, ...,
belongs to the region).  ``verbatim``, ``lstlisting``, ``minted``, ``comment``, ``\\verb``,
``%`` comments and the definitions themselves are never math.  Every position of the text
maps back to the document (``Document.origin``): exactly, except inside what a macro
expanded to, which maps to the macro's place.

pylatexenc reads a token at a time (some 50,000 a second), so the parser is given a
*skeleton* of the text: every run that cannot open or close math, a group, a comment or an
environment (characters, control words, groups of those) shortened to one character, each
definition to one control word; what the parser says of the skeleton it says of the text.
A 1 MB document with a thesis' density of math is read in under a second; a skeleton over
MAX_SKELETON raises TooDense (the caller scans instead).  pylatexenc is imported here only,
lazily.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

MATH_ENVS = frozenset(n + s for n in ("equation", "align", "gather", "multline", "eqnarray",
                                      "displaymath", "flalign", "alignat", "dmath", "math",
                                      "dgroup", "xalignat", "xxalignat")
                      for s in ("", "*"))
OPAQUE_ENVS = ("verbatim", "Verbatim", "lstlisting", "minted", "comment", "alltt", "spverbatim",
               "BVerbatim", "LVerbatim")
DEFINERS = ("newcommand", "renewcommand", "providecommand", "DeclareMathOperator", "def",
            "gdef", "edef", "xdef", "DeclareRobustCommand")
MAX_DEPTH = 16                  # a macro expanding to itself stops there
MAX_GROWTH = 4                  # the expanded text is at most 4 times the document, + 1 MB
MAX_SKELETON = 80_000           # the parser reads about 50,000 of these a second


class ExpansionError(ValueError):
    """The document's macros expand past MAX_GROWTH times its length."""


class TooDense(ValueError):
    """The document's skeleton is over MAX_SKELETON: its parse would take seconds."""


class Shift:
    """Positions of a derived text to positions of its source: identical except for the
    replaced spans added in order (``add(d, ld, s, ls)``: ``[d, d+ld)`` replaced
    ``[s, s+ls)``); a position inside a replaced span maps to its source's start."""

    def __init__(self):
        self.starts: list[int] = []
        self.spans: list[tuple[int, int, int, int]] = []

    def add(self, d: int, ld: int, s: int, ls: int) -> None:
        self.starts.append(d)
        self.spans.append((d, ld, s, ls))

    def __call__(self, p: int) -> int:
        i = bisect.bisect_right(self.starts, p) - 1
        if i < 0:
            return p
        d, ld, s, ls = self.spans[i]
        return s if p < d + ld else p - (d + ld) + (s + ls)


@dataclass
class Document:
    """A document's text as read (macros expanded, comments blanked), the ``(start, end)``
    of the bodies of its math regions in that text, the map back to the document, and the
    prose (the text with what is never math blanked) where shapes are stated."""
    text: str
    regions: list
    origin: object = field(default=lambda p: p)
    prose: str = ""


# ------------------------------------------------------------------------ definitions

_BRACE = re.compile(r"\\[^A-Za-z]|[{}]", re.S)


def group_ends(s: str) -> dict:
    """Where each group of ``s`` ends: {position of a '{': position after its '}'}, in one
    pass (so that reading many definitions or arguments stays linear)."""
    ends: dict = {}
    stack: list = []
    for m in _BRACE.finditer(s):
        c = m.group(0)
        if c == "{":
            stack.append(m.start())
        elif c == "}" and stack:
            ends[stack.pop()] = m.end()
    return ends


def _group_end(s: str, i: int, ends: dict | None = None) -> int:
    """The position after the group opening at ``s[i] == '{'`` (-1 if it never closes)."""
    if ends is not None:
        return ends.get(i, -1)
    depth = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t\n":
        i += 1
    return i


_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
_CSNAME = re.compile(r"\\([A-Za-z@]+|.)", re.S)
_PARAMS = re.compile(r"(?:\s*#[1-9])*\s*")
_NARGS = re.compile(r"\[\s*([0-9])\s*\]\s*")


def _definition(s: str, pos: int, kind: str, ends: dict):
    """(name, number of arguments, default or None, body, end) of the definition after
    ``\\kind`` at ``pos`` (default and body as (start, end) spans); None if it is not one."""
    i = _skip_space(s, pos)
    if kind.endswith("def"):
        m = _CSNAME.match(s, i)
        if not m:
            return None
        p = _PARAMS.match(s, m.end())
        j = p.end()
        if not s.startswith("{", j):
            return None
        end = _group_end(s, j, ends)
        return (m.group(1), p.group(0).count("#"), None, (j + 1, end - 1), end) \
            if end > 0 else None
    if s.startswith("*", i):
        i = _skip_space(s, i + 1)
    braced = s.startswith("{", i)
    m = _CSNAME.match(s, _skip_space(s, i + 1) if braced else i)
    if not m:
        return None
    i = m.end()
    if braced:
        i = _skip_space(s, i)
        if not s.startswith("}", i):
            return None
        i += 1
    nargs, default = 0, None
    i = _skip_space(s, i)
    n = _NARGS.match(s, i) if kind != "DeclareMathOperator" else None
    if n:
        nargs, i = int(n.group(1)), n.end()
        if s.startswith("[", i):
            close = s.find("]", i)
            if close < 0:
                return None
            default, i = (i + 1, close), _skip_space(s, close + 1)
    if not s.startswith("{", i):
        return None
    end = _group_end(s, i, ends)
    return (m.group(1), nargs, default, (i + 1, end - 1), end) if end > 0 else None


# ----------------------------------------------------------------------- the skeleton

_STRUCTURE = ("begin", "end", "verb") + DEFINERS
# a control word is taken whole ([A-Za-z@]+ then no letter): were it allowed to end early,
# "\\abc" could be split as "\\ab" + "c" and an unclosed group backtracked exponentially
_INERT = (r"(?:[^\\{}$%]|\\(?!(?:" + "|".join(_STRUCTURE) + r")(?![A-Za-z@]))[A-Za-z@]+"
          r"(?![A-Za-z@])|\\[^\[\]()A-Za-z@\n])")
_GROUP = _INERT
for _ in range(3):                  # a group of inert runs, nested 3 deep, is inert
    _GROUP = r"(?:" + _INERT + r"|\{(?:" + _GROUP + r")*\})"
_TOKEN = re.compile(
    r"(?P<keep>\\verb\*?([^A-Za-z\s*])[^\n]*?\2|\\[\[\]()])"
    r"|\\(?P<env>begin|end)\s*\{\s*(?P<name>[A-Za-z@]+\*?)\s*\}"
    r"|\\(?P<def>" + "|".join(DEFINERS) + r")(?![A-Za-z@])"
    r"|(?P<run>" + _GROUP + r"+)", re.S)
DEFINED = "\\texgraddefinition"       # what a definition is in the skeleton


def skeleton(text: str) -> tuple[str, Shift, dict]:
    """What the parser reads: every run of characters and control words that cannot open or
    close math, a group, a comment or an environment shortened to one character ('.', or a
    newline when it holds one, which ends a comment), each definition to one control word;
    the map back; and the definitions by their place in the skeleton."""
    out = []
    back = Shift()
    definitions: dict = {}
    ends = None
    last = done = 0
    m = _TOKEN.search(text)
    while m is not None:
        a, b = m.span()
        if m.group("keep") is not None:
            m = _TOKEN.search(text, b)
            continue
        if m.group("env"):
            short = "\\" + m.group("env") + "{" + m.group("name") + "}"
        elif m.group("def"):
            ends = group_ends(text) if ends is None else ends
            found = _definition(text, b, m.group("def"), ends)
            if found is None:
                short, b = ".", b
            else:
                short, b = DEFINED, found[-1]
                definitions[done + a - last] = found[:-1] + (m.group("def"),)
        else:
            short = "\n" if "\n" in m.group(0) else "."
        out.append(text[last:a])
        done += a - last
        if short != text[a:b]:
            back.add(done, len(short), a, b - a)
        out.append(short)
        done += len(short)
        last = b
        m = _TOKEN.search(text, b)
    out.append(text[last:])
    return "".join(out), back, definitions


# ------------------------------------------------------------------- the parser's setup

def _context():
    """pylatexenc's ``\\verb`` and environments (no specials, which only slow it), the math
    and verbatim environments' bodies read raw, as amsmath and LaTeX read them."""
    from pylatexenc import latexwalker, macrospec

    class Raw(macrospec.MacroStandardArgsParser):
        def __init__(self, env):
            super().__init__(argspec="")
            self.end = "\\end{" + env + "}"

        def parse_args(self, w, pos, parsing_state=None):
            j = w.s.find(self.end, pos)
            j = len(w.s) if j < 0 else j
            chars = w.make_node(latexwalker.LatexCharsNode, parsing_state=parsing_state,
                                chars=w.s[pos:j], pos=pos, len=j - pos)
            return macrospec.ParsedVerbatimArgs(verbatim_chars_node=chars), pos, j - pos

    db = latexwalker.get_default_latex_context_db().filter_context(
        keep_which=["macros", "environments"])
    db.add_context_category(
        "texgrad-documents", prepend=True,
        environments=[macrospec.EnvironmentSpec(e, args_parser=Raw(e))
                      for e in OPAQUE_ENVS + tuple(sorted(MATH_ENVS))])
    return latexwalker, db


_SETUP: list = []


@dataclass
class _Parse:
    regions: list = field(default_factory=list)       # (start, end, environment or "")
    comments: list = field(default_factory=list)      # (start, end)
    opaque: list = field(default_factory=list)        # (start, end): verbatim, definitions
    definitions: list = field(default_factory=list)   # (start, name, nargs, default, body, kind)


def _parse(text: str) -> _Parse:
    """One pass of the parser over ``text``; every position given is one of ``text``."""
    if not _SETUP:
        _SETUP.append(_context())
    latexwalker, db = _SETUP[0]
    skel, back, definitions = skeleton(text)
    if len(skel) > MAX_SKELETON:
        raise TooDense(f"{len(skel)} delimiters, braces and environment marks")
    w = latexwalker.LatexWalker(skel, latex_context=db, tolerant_parsing=True)
    nodes, _, _ = w.get_latex_nodes(pos=0)
    out = _Parse()

    def span(a, b):
        return back(a), back(b)

    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        children = ()
        end = node.pos + node.len
        if node.isNodeType(latexwalker.LatexCommentNode):      # to its line's end only
            a = back(node.pos)
            b = text.find("\n", a)
            out.comments.append((a, len(text) if b < 0 else b))
        elif node.isNodeType(latexwalker.LatexMathNode):
            open_, close = node.delimiters
            if open_ and close and skel.startswith(close, end - len(close)):
                out.regions.append(span(node.pos + len(open_), end - len(close)) + ("",))
            children = node.nodelist
        elif node.isNodeType(latexwalker.LatexEnvironmentNode):
            name = node.environmentname
            body = (getattr(node.nodeargd, "argnlist", None) or [None])[0]
            if name in OPAQUE_ENVS:
                out.opaque.append(span(node.pos, end))
            elif name in MATH_ENVS and body is not None:
                if skel.startswith("\\end", body.pos + body.len):
                    a, b = span(body.pos, body.pos + body.len)
                    if name.startswith(("alignat", "xalignat", "xxalignat")):
                        m = re.match(r"\s*\{\s*\d+\s*\}", text[a:b])
                        a += m.end() if m else 0
                    out.regions.append((a, b, name))
                    out.comments += [m.span() for m in _COMMENT.finditer(text, a, b)]
            else:
                children = list(node.nodelist or ()) + list(
                    getattr(node.nodeargd, "argnlist", None) or ())
        elif node.isNodeType(latexwalker.LatexMacroNode):
            if "\\" + node.macroname == DEFINED and node.pos in definitions:
                out.opaque.append(span(node.pos, node.pos + len(DEFINED)))
                name, nargs, default, body, kind = definitions[node.pos]
                out.definitions.append((back(node.pos), name, nargs, default, body, kind))
            elif node.macroname == "verb":          # its length holds the space after
                while end > node.pos and skel[end - 1] in " \t\n":
                    end -= 1
                out.opaque.append(span(node.pos, end))
            else:
                children = getattr(node.nodeargd, "argnlist", None) or ()
        elif node.isNodeType(latexwalker.LatexGroupNode):
            children = node.nodelist
        stack.extend(reversed([c for c in children or () if c is not None]))
    return out


# --------------------------------------------------------------------------- macros

def _argument(s: str, i: int, ends: dict | None):
    """(argument, end) of a macro's argument at ``s[i]``: a group's inside or one token."""
    i = _skip_space(s, i)
    if i >= len(s):
        return None
    if s[i] == "{":
        end = _group_end(s, i, ends)
        return (s[i + 1:end - 1], end) if end > 0 else None
    if s[i] == "}":
        return None
    m = _CSNAME.match(s, i)
    return (m.group(0), m.end()) if m else (s[i], i + 1)


class _Expander:
    def __init__(self, limit: int):
        self.limit = limit
        self.size = 0

    def call(self, s: str, i: int, macro, table: dict, depth: int, ends=None):
        """(expansion, end) of the macro named at ``s[..i]``, or None when its arguments
        cannot be read."""
        nargs, default, body = macro
        args = []
        if default is not None:
            j = _skip_space(s, i)
            if s.startswith("[", j):
                close = s.find("]", j)
                if close < 0:
                    return None
                args.append(s[j + 1:close])
                i = close + 1
            else:
                args.append(default)
        while len(args) < nargs:
            got = _argument(s, i, ends)
            if got is None:
                return None
            args.append(got[0])
            i = got[1]
        if nargs:
            body = re.sub(r"##|#([1-9])",
                          lambda m: "#" if m.group(1) is None else
                          (args[int(m.group(1)) - 1] if int(m.group(1)) <= nargs else ""), body)
        return self.expand(body, table, depth + 1), i

    def expand(self, s: str, table: dict, depth: int) -> str:
        if depth > MAX_DEPTH or "\\" not in s:
            return s
        out, last = [], 0
        ends = group_ends(s)
        for m in _CSNAME.finditer(s):
            macro = table.get(m.group(1))
            if macro is None or m.start() < last:
                continue
            got = self.call(s, m.end(), macro, table, depth, ends)
            if got is None:
                continue
            out += [s[last:m.start()], got[0]]
            last = got[1]
        out.append(s[last:])
        text = "".join(out)
        self.size += len(text) - len(s)
        if self.size > self.limit:
            raise ExpansionError("the document's macros expand past the limit")
        return text


def merged(spans) -> list:
    """Sorted spans with the overlapping ones joined."""
    out: list = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _inside(ranges: list, starts: list, p: int) -> bool:
    i = bisect.bisect_right(starts, p) - 1
    return i >= 0 and p < ranges[i][1]


def expand(text: str, parse: _Parse) -> tuple[str, Shift]:
    """The document with its macros expanded where they are used (not in comments,
    verbatim or definitions), each with the definitions made before it; and the map back."""
    skip = merged(parse.comments + parse.opaque)
    starts = [a for a, _ in skip]
    defs = sorted(parse.definitions)
    names = {d[1] for d in defs}
    table: dict = {}
    expander = _Expander(MAX_GROWTH * len(text) + 2**20)
    ends = group_ends(text)
    back = Shift()
    out, last, done, k = [], 0, 0, 0
    for m in _CSNAME.finditer(text):
        if m.group(1) not in names or m.start() < last or _inside(skip, starts, m.start()):
            continue
        while k < len(defs) and defs[k][0] < m.start():
            _, name, nargs, default, (a, b), kind = defs[k]
            body = text[a:b]
            body = "\\operatorname{" + body + "}" if kind == "DeclareMathOperator" else body
            table[name] = (nargs, None if default is None else text[default[0]:default[1]],
                           body)
            k += 1
        macro = table.get(m.group(1))
        if macro is None:
            continue
        got = expander.call(text, m.end(), macro, table, 0, ends)
        if got is None:
            continue
        out.append(text[last:m.start()])
        done += m.start() - last
        back.add(done, len(got[0]), m.start(), got[1] - m.start())
        out.append(got[0])
        done += len(got[0])
        last = got[1]
    out.append(text[last:])
    return "".join(out), back


# ------------------------------------------------------------------------- documents

def blank(text: str, spans) -> str:
    """``text`` with the spans blanked (newlines kept), every offset kept."""
    if not spans:
        return text
    parts, last = [], 0
    for a, b in sorted(spans):
        a = max(a, last)
        if b <= a:
            continue
        parts += [text[last:a], re.sub(r"[^\n]", " ", text[a:b])]
        last = b
    parts.append(text[last:])
    return "".join(parts)


def find_regions(text: str) -> list:
    """The (start, end, environment or "") of the math bodies of ``text``, its macros left
    as they are."""
    return _parse(text).regions


WRAPPERS = frozenset({"aligned", "alignedat", "gathered", "split"})
ARRAYS = frozenset({"cases", "dcases", "rcases", "array", "matrix", "pmatrix", "bmatrix",
                    "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix", "subarray"})
ONE_FORMULA = frozenset({"multline", "multline*", "dmath", "dmath*", "split"})
_NESTED = re.compile(r"\\(begin|end)\s*\{([A-Za-z]+\*?)\}|\\\\(?:\[[^\]\n]{0,40}\])?")
_COLUMNS = re.compile(r"\s*\{[^{}]{0,40}\}")


def marks(text: str, regions: list) -> list:
    """What the rows of these regions must not see: the marks of the environments nested to
    align or gather (``aligned``, ``split``, ...; their rows are the display's), and the line
    breaks that do not end a formula (in ``multline``, ``dmath``, ``split``, and inside
    ``cases``, ``array`` and the matrices)."""
    out = []
    for a, b, env in regions:
        stack: list = []
        for m in _NESTED.finditer(text, a, b):
            kind, name = m.group(1), m.group(2)
            if kind == "begin":
                stack.append(name)
                if name in WRAPPERS:
                    cols = _COLUMNS.match(text, m.end()) if name == "alignedat" else None
                    out.append((m.start(), cols.end() if cols else m.end()))
            elif kind == "end":
                if stack and stack[-1] == name:
                    stack.pop()
                if name in WRAPPERS:
                    out.append(m.span())
            elif (stack[-1] if stack else env) in ONE_FORMULA or ARRAYS.intersection(stack):
                out.append(m.span())
    return out


def read(text: str) -> Document:
    """The math regions of a LaTeX document (pylatexenc's errors, RecursionError on deep
    nesting, ExpansionError and TooDense propagate: the caller falls back to another
    scanner)."""
    first = _parse(text)
    origin: object = lambda p: p
    parse = first
    if first.definitions:
        expanded, origin = expand(text, first)
        if expanded != text:
            text, parse = expanded, _parse(expanded)
    shown = blank(text, parse.comments)
    prose = blank(shown, parse.opaque)
    kept, reach = [], -1
    for a, b, env in sorted(set(parse.regions)):    # one inside another (\text{$x$}) is
        if a >= reach and b > a:                    # part of it
            kept.append((a, b, env))
            reach = b
    shown = blank(shown, marks(shown, kept))
    return Document(shown, [(a, b) for a, b, _ in kept], origin, prose)
