"""Differential claims: ``d(X^{-1}) = -X^{-1}(dX)X^{-1}``, ``d\\log\\det X =
\\operatorname{tr}(X^{-1}dX)``, ``df = 2\\mathbf{x}^T A\\,d\\mathbf{x}``, decided as directional
derivatives.

Matrix-calculus texts state most results as differentials.  The left side is ``d`` (or
``\\mathrm{d}``) before a formula F; the printed side holds differentials ``dV`` of the
variables.  texgrad reads F along a direction: every V whose differential is printed becomes
``V + \\epsilon \\dot V`` (``\\dot V`` a direction of V's shape), differentiates by the scalar
``\\epsilon`` (verified like any derivative) and holds ``\\epsilon`` at 0 at every point compared;
the printed side is read with every ``dV`` as ``\\dot V``.  The two are compared at random
points and directions like any claim.
"""

from __future__ import annotations

import re

from .claimscan import split_top
from .syntax import GREEK_NAMES as GREEK

_GREEK = "|".join(sorted(GREEK, key=len, reverse=True))
_MARK = r"(?:\\mathrm\s*\{\s*d\s*\}|\\operatorname\s*\{\s*d\s*\}|\\text\s*\{\s*d\s*\}|(?<![A-Za-z\\])d)"
_SYMBOL = (r"(?:\\(?:mathbf|bm|boldsymbol|mathrm|mathit|vec)\s*\{\s*(?:\\(?:" + _GREEK +
           r")|[A-Za-z])\s*\}|\\(?:" + _GREEK + r")(?![A-Za-z])|[A-Za-z](?![A-Za-z]))")
DIFFERENTIAL = re.compile(_MARK + r"\s*(?:\\[,;!]\s*)?(" + _SYMBOL + ")")
_LEAD = re.compile(r"^\s*" + _MARK + r"\s*(?:\\[,;!]\s*|~\s*)*(?=\S)")
PARAMS = ("\\epsilon", "\\varepsilon", "\\tau", "\\eta", "\\xi")


def differential(line: str):
    """(F, members) of a differential claim ``d F = G_1 = ...``, or None."""
    parts = [p for p, _ in split_top(line)]
    if len(parts) < 2:
        return None
    m = _LEAD.match(parts[0])
    if m is None:
        return None
    f_text = parts[0][m.end():]
    if not f_text.strip() or not any(DIFFERENTIAL.search(p) for p in parts[1:]):
        return None
    return f_text, parts[1:]


def is_differential(line: str) -> bool:
    return differential(line) is not None


def directional(f_text: str, members: list):
    """(F along the directions, members with dV as the directions, the step's LaTeX, its
    name, {variable name: direction LaTeX}) for a differential claim."""
    from .claimsdefs import substitute, symbols_of
    from .request import parse_wrt
    variables: dict = {}        # name -> LaTeX of V
    for text in members:
        for m in DIFFERENTIAL.finditer(text):
            variables.setdefault(parse_wrt(m.group(1)), m.group(1))
    used = symbols_of(f_text).union(*(symbols_of(t) for t in members))
    step = next(p for p in PARAMS if p[1:] not in used)
    dirs = {name: f"\\dot{{{tex}}}" for name, tex in variables.items()}
    along = substitute(f_text, {name: f"{variables[name]} + {step}{dirs[name]}"
                                for name in variables}, rounds=1)

    def printed(text):
        return DIFFERENTIAL.sub(lambda m: dirs.get(parse_wrt(m.group(1)), m.group(0)), text)
    return along, [printed(t) for t in members], step, step[1:], dirs
