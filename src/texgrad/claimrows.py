"""The rows of a formula: one display's math cut into the statements a reader reads.

``rows`` takes the body of a display and gives its statements, each a :class:`Piece` with its
offset into the document (every character keeps its place: what carries no meaning is
blanked, never removed):

- split at the alignment line breaks (``\\\\``, ``\\cr``) and at the arrows between statements
  (``\\implies``, ``\\Rightarrow``, ``\\iff``, ``\\therefore``);
- a row that starts with ``=`` continues the one before (``&= ...`` in an ``align``);
- the marks without meaning blanked: ``\\label``, ``\\tag``, ``\\nonumber``, ``&``,
  ``\\displaystyle``, the inner environments (``aligned``, ``split``, ``array{rl}``,
  ``cases``), the wrappers ``\\boxed{...}``, ``\\eqalign{...}``, ``\\color{blue}``;
- ``:=``, ``\\coloneqq``, ``\\triangleq``, ``\\equiv`` and ``\\stackrel{def}{=}`` read as ``=``;
- the prose after the math cut off: from ``\\quad`` (``\\quad a, b \\in \\mathbb{R}^n``: the
  declaration is read by :func:`texgrad.claimscan.declarations` from the whole text) or from a
  ``\\text{...}`` holding words (``\\;\\text{Such a beauty!}``, ``\\text{ for all } x``).

``statements`` reads a pasted claim: its lines are separate displays (a definition, then the
claim), except a line inside an environment, or one that starts with ``=``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MASK = re.compile(r"\\(label|tag\*?|eqref|ref)\s*\{[^{}]*\}|\\(nonumber|notag)(?![a-zA-Z])|&|"
                   r"\\(displaystyle|textstyle|scriptstyle)(?![a-zA-Z])|"
                   r"\\(begin|end)\s*\{(aligned|alignedat|split|array|gathered|align|"
                   r"gather|equation|multline|eqnarray|flalign|alignat|subequations|dmath|"
                   r"eqnarray)\*?\}(\s*\{[^{}]*\})?|\\color\s*\{[^{}]*\}|\\(mathstrut|strut|"
                   r"cdots?\s*$)(?![a-zA-Z])")
# '=' spelled otherwise: the mark blanked but for one '=' at its end
_EQUALS = re.compile(r":=|\\coloneqq(?![a-zA-Z])|\\triangleq(?![a-zA-Z])|\\equiv(?![a-zA-Z])|"
                     r"\\stackrel\s*\{[^{}]*\}\s*\{=\}|\\overset\s*\{[^{}]*\}\s*\{=\}|"
                     r"\\doteq(?![a-zA-Z])|\\eqqcolon(?![a-zA-Z])")
_WRAPPER = re.compile(r"\\(boxed|eqalign|eqalignno|displaylines|underbrace|overbrace)\s*\{")
_BREAK = re.compile(r"\\\\(?:\[[^\]\n]{0,40}\])?|\\cr(?![a-zA-Z])|"
                    r"\\(implies|Rightarrow|Longrightarrow|iff|Leftrightarrow|"
                    r"Longleftrightarrow|therefore|because|quad\s*\\Rightarrow)(?![a-zA-Z])")
_QUAD = re.compile(r"\\(quad|qquad)(?![a-zA-Z])")
_TEXT = re.compile(r"\\(text|mbox|textrm|textnormal|textit|hbox|mathrm|rm)\s*\{([^{}]*)\}")
# a \text that is math (a function name, a subscript letter) rather than prose
_MATH_WORDS = {"tr", "Tr", "trace", "det", "diag", "Diag", "vec", "logdet", "exp", "log", "ln",
               "softmax", "rank", "sign", "sgn", "relu", "ReLU", "softplus", "adj", "F", "T",
               "H", "d", "const", "Var", "Cov", "E", "KL"}


@dataclass
class Piece:
    """A formula of the text with its place: ``offset`` into the file's text."""
    text: str
    offset: int
    end: int = -1          # where it ends in the file's text (-1: offset + len(text))


def mask(s: str, pattern) -> str:
    """Blank out matches, keeping every offset."""
    return pattern.sub(lambda m: " " * len(m.group(0)), s)


def _blank_equals(s: str) -> str:
    return _EQUALS.sub(lambda m: " " * (len(m.group(0)) - 1) + "=", s)


def _unwrap(s: str) -> str:
    """``\\boxed{x}`` -> ``       x ``: the wrapper and its closing brace blanked."""
    while True:
        m = _WRAPPER.search(s)
        if m is None:
            return s
        depth, k = 1, m.end()
        while k < len(s) and depth:
            if s[k] == "{" and s[k - 1] != "\\":
                depth += 1
            elif s[k] == "}" and s[k - 1] != "\\":
                depth -= 1
            k += 1
        s = s[:m.start()] + " " * (m.end() - m.start()) + s[m.end():k - 1] + " " + s[k:] \
            if depth == 0 else s[:m.start()] + " " * (m.end() - m.start()) + s[m.end():]


def _prose_start(row: str) -> int | None:
    """Where the prose after a row's math begins (None: the row is all math)."""
    cut = None
    for m in _QUAD.finditer(row):
        if row[:m.start()].strip():
            cut = m.start()
            break
    for m in _TEXT.finditer(row):
        if cut is not None and m.start() >= cut:
            break
        words = m.group(2).strip()
        if m.group(1) in ("mathrm", "rm"):
            continue
        if words and (re.search(r"\s", words) or (words not in _MATH_WORDS and
                                                  len(words) > 1)) or not words:
            if row[:m.start()].strip():
                cut = m.start()
            break
    return cut


_MATRIX = re.compile(r"\\begin\s*\{((?:[bpvVB]|small)?matrix|cases)\*?\}")


def _env_end(body: str, m) -> int:
    """Where the environment opened at ``m`` closes (the end of ``body`` if never)."""
    close = f"\\end{{{m.group(1)}"
    k = body.find(close, m.end())
    return len(body) if k < 0 else k + len(close)


def rows(body: str, start: int = 0) -> list[Piece]:
    """The statements of one display's body (``start``: its offset in the document)."""
    body = _unwrap(_blank_equals(mask(body, _MASK)))
    spans = []
    pos = 0
    inner = [(m.start(), _env_end(body, m)) for m in _MATRIX.finditer(body)]
    for m in _BREAK.finditer(body):
        if any(a <= m.start() < b for a, b in inner):
            continue            # a row of a matrix or of cases, not of the display
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(body)))
    out: list[Piece] = []
    prev_end = None
    for a, b in spans:
        part = body[a:b]
        if not part.strip():
            continue
        cut = _prose_start(part)
        if cut is not None:
            part = part[:cut] + " " * (len(part) - cut)
            m = _TRAIL.search(part)         # the spacing before the prose
            part = part[:m.start()] + " " * (len(part) - m.start())
            if not part.strip():
                continue
        if out and _LEAD.sub("", part).startswith("=") and prev_end is not None:
            prev = out[-1]
            gap = " " * (start + a - prev_end)      # the line break, blanked
            out[-1] = Piece(prev.text + gap + part, prev.offset)
        else:
            out.append(Piece(part, start + a))
        prev_end = start + b
    return out


_LEAD = re.compile(r"^(?:\s|\\[,;:!> ]|\\q?quad(?![a-zA-Z])|~)*")
_TRAIL = re.compile(r"(?:\s|\\[,;:!> ]|~)*$")
_ENV = re.compile(r"\\(begin|end)\s*\{[^{}]*\}")


def statements(latex: str) -> list[Piece]:
    """The statements of a pasted claim: each line is a display of its own (a definition,
    then the claim), but for lines inside an environment and lines that start with ``=``
    (or ``&=``), which continue the display before."""
    displays: list[tuple[int, int]] = []
    depth = 0
    pos = 0
    for line in latex.splitlines(keepends=True):
        head = _LEAD.sub("", line.lstrip().lstrip("&"))
        if displays and (depth > 0 or head.startswith("=") or head.startswith("\\\\") or
                         head.startswith("\\end")):
            a, _b = displays[-1]
            displays[-1] = (a, pos + len(line))
        elif line.strip():
            displays.append((pos, pos + len(line)))
        for m in _ENV.finditer(line):
            depth += 1 if m.group(1) == "begin" else -1
        depth = max(depth, 0)
        pos += len(line)
    out = []
    for a, b in displays:
        out += rows(latex[a:b], a)
    return out
