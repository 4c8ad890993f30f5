"""The rows of a formula: one display's math cut into the equations a reader reads.

``rows`` takes the body of a display (or a pasted claim) and gives its rows, each a
:class:`Piece` with its offset into the document: split at the alignment line breaks
(``\\\\``), the marks that carry no meaning blanked (``\\label``, ``\\tag``, ``&``, ...), offsets
kept.  The documents' scanner (:mod:`texgrad.claimscan`) finds the displays; this module
reads inside one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MASK = re.compile(r"\\(label|tag\*?|eqref|ref)\s*\{[^{}]*\}|\\(nonumber|notag|quad|qquad)"
                   r"(?![a-zA-Z])|&|\\displaystyle|\\textstyle")
_LINEBREAK = re.compile(r"(\\\\(?:\[[^\]\n]{0,40}\])?)")


@dataclass
class Piece:
    """A formula of the text with its place: ``offset`` into the file's text."""
    text: str
    offset: int


def mask(s: str, pattern) -> str:
    """Blank out matches, keeping every offset."""
    return pattern.sub(lambda m: " " * len(m.group(0)), s)


def rows(body: str, start: int = 0) -> list[Piece]:
    """The rows of one display's body (``start``: its offset in the document)."""
    body = mask(body, _MASK)
    out = []
    pos = 0
    for part in _LINEBREAK.split(body):
        if part.startswith("\\\\"):
            pos += len(part)
            continue
        if part.strip():
            out.append(Piece(part, start + pos))
        pos += len(part)
    return out
