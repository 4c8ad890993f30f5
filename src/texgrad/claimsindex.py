"""Index notation in the members of a chain: ``\\frac{\\partial (X_{ij} A_{ji})}{\\partial
X_{kl}} = \\delta_{jk}\\delta_{il}A_{ji} = A_{kl}``, read as a careful reader reads it.

A derivation by entries names the entry asked for in a denominator, ``\\partial X_{kl}``: its
indices (k, l) are free in the members after it, and an index written twice in one term is
summed (Einstein's convention).  Each such member is rewritten into a derivative texgrad
differentiates as a whole matrix:

- ``\\frac{\\partial N}{\\partial X_{kl}}`` is entry (k, l) of the gradient of N (its repeated
  indices summed): the member ``\\frac{\\partial}{\\partial X} \\sum_{ij} N``;
- a member with the free indices (``A_{kl}``, ``\\delta_{jk}\\delta_{il}A_{ji}``) is entry (k, l)
  of a matrix M: the gradient by a fresh matrix Z of ``\\sum_{kl\\,ij} Z_{kl} M``, which is M;
- ``\\frac{\\partial X_{ab}}{\\partial X_{kl}}`` inside a member is ``\\delta_{ak}\\delta_{bl}``, and
  ``X_{ij}^T`` (or ``X^T_{ij}``) is ``X_{ji}``, the entry of the transpose.
"""

from __future__ import annotations

import re

from .claimsdefs import squeeze

_SYM = r"(?:\\math(?:bf|rm|it)\s*\{\s*\\?[A-Za-z]+\s*\}|\\[A-Za-z]+|[A-Za-z])"
_IDX = r"(?:\{\s*([a-z])\s*,?\s*([a-z])?\s*\}|([a-z]))"
_ENTRY = re.compile(r"(" + _SYM + r")\s*_\s*" + _IDX)
_T = r"\^\s*(?:T|\\top|\{\s*(?:T|\\top)\s*\})"
_T_AFTER = re.compile(r"(" + _SYM + r")\s*_\s*\{\s*([a-z])\s*,?\s*([a-z])\s*\}\s*" + _T)
_T_BEFORE = re.compile(r"(" + _SYM + r")\s*" + _T + r"\s*_\s*\{\s*([a-z])\s*,?\s*([a-z])\s*\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{")
FRESH = ("\\Xi", "\\Upsilon", "\\Psi")


def entry_indices(line: str):
    """(the variable's LaTeX, its entry indices) named by a ``\\partial X_{kl}`` of the
    claim, or None."""
    for _s, _e, _num, den in _fracs(line):
        m = re.fullmatch(r"\s*\\partial\s*(" + _SYM + r")\s*_\s*" + _IDX + r"\s*", den)
        if m:
            return m.group(1), tuple(x for x in (m.group(2), m.group(3), m.group(4)) if x)
    return None


def _group(text: str, start: int) -> int:
    """The index just past the brace group opening at ``start``."""
    depth = 0
    for k in range(start, len(text)):
        if text[k] == "{" and text[k - 1:k] != "\\":
            depth += 1
        elif text[k] == "}" and text[k - 1:k] != "\\":
            depth -= 1
            if depth == 0:
                return k + 1
    return -1


def _fracs(text: str):
    """(start, end, numerator, denominator) of every ``\\frac{..}{..}`` at any depth."""
    out = []
    for m in _FRAC.finditer(text):
        a = m.end() - 1
        b = _group(text, a)
        if b < 0 or b >= len(text) or text[b] != "{":
            continue
        c = _group(text, b)
        if c < 0:
            continue
        out.append((m.start(), c, text[a + 1:b - 1], text[b + 1:c - 1]))
    return out


def _entry_of(den: str, var: str):
    """The entry indices of ``\\partial <var>_{kl}`` as the whole denominator, or None."""
    m = re.fullmatch(r"\s*\\partial\s*(" + _SYM + r")\s*_\s*" + _IDX + r"\s*", den)
    if m is None or squeeze(m.group(1)) != squeeze(var):
        return None
    return tuple(x for x in (m.group(2), m.group(3), m.group(4)) if x)


def _indices(text: str) -> list:
    """Every index letter written in a subscript of ``text``, with repeats."""
    out = []
    for m in _ENTRY.finditer(text):
        out += [x for x in (m.group(2), m.group(3), m.group(4)) if x]
    return out


def _transposed_entries(text: str) -> str:
    text = _T_AFTER.sub(lambda m: f"{m.group(1)}_{{{m.group(3)}{m.group(2)}}}", text)
    return _T_BEFORE.sub(lambda m: f"{m.group(1)}_{{{m.group(3)}{m.group(2)}}}", text)


def _entries_named(text: str, used: set) -> str:
    """``b_{j,i}`` -> ``B_{ji}``: an entry written with the lower-case letter of a matrix of
    the claim (the Cookbook's a_{ij} of A), commas between indices dropped."""
    def one(m):
        sym = m.group(1)
        idx = [x for x in (m.group(2), m.group(3), m.group(4)) if x]
        if len(idx) == 2 and len(sym) == 1 and sym.islower() and sym.upper() in used and \
                sym not in used:
            sym = sym.upper()
        return f"{sym}_{{{''.join(idx)}}}" if len(idx) == 2 else m.group(0)
    return _ENTRY.sub(one, text)


def rewrite(member: str, var: str, free: tuple, z: str, used: set = frozenset()):
    """The member as a derivative texgrad reads (see the module; ``z`` the fresh matrix;
    ``used``: the claim's symbols), or None when it is not in index notation."""
    text = _entries_named(_transposed_entries(member), used)
    # d X_{ab} / d X_{kl} inside the member: deltas
    for start, end, num, den in sorted(_fracs(text), reverse=True):
        by = _entry_of(den, var)
        m = re.fullmatch(r"\s*\\partial\s*(" + _SYM + r")\s*_\s*" + _IDX + r"\s*", num)
        if by and m and squeeze(m.group(1)) == squeeze(var):
            own = [x for x in (m.group(2), m.group(3), m.group(4)) if x]
            if len(own) == len(by):
                text = text[:start] + "".join(f"\\delta_{{{a}{b}}}" for a, b in
                                              zip(own, by)) + text[end:]
    whole = _fracs(text)
    if whole and whole[0][0] == len(text) - len(text.lstrip()) and \
            whole[0][1] == len(text.rstrip()):
        _s, _e, num, den = whole[0]
        if _entry_of(den, var) == free:
            num = re.sub(r"^\s*\\partial\s*", "", num)
            summed = sorted({x for x in _indices(num) if _indices(num).count(x) == 2})
            body = f"\\sum_{{{''.join(summed)}}} {num}" if summed else num
            return f"\\frac{{\\partial}}{{\\partial {var}}} {body}"
    found = _indices(text)
    if not found or not set(free) <= set(found):
        return None
    summed = sorted({x for x in found if found.count(x) == 2 and x not in free})
    zi = z + "_{" + "".join(free) + "}"
    return f"\\frac{{\\partial}}{{\\partial {z}}} \\sum_{{{''.join(free) + ''.join(summed)}}} " \
           f"{zi} {text.strip()}"


def rewrite_members(line: str, members: list, used: set):
    """(the members of ``line``'s chain with those in index notation rewritten, the name of
    the fresh matrix they use, which has the variable's shape, or None)."""
    named = entry_indices(line)
    if named is None:
        return members, None
    var, free = named
    z = next(f for f in FRESH if f[1:] not in used)
    out = [rewrite(m, var, free, z, used) or m for m in members]
    return out, (z[1:] if out != members else None)
