"""The definitions a claim leans on: read from the statements before it, applied to it.

A statement ``L = R`` without a derivative in it defines something, kept in one dict:

- a function, ``f(W) = ...``, ``J(x) := ...``, ``\\mathcal{L}(\\theta) = ...`` (key ``f``; its
  one argument under ``@f``): a request that names it (``\\nabla f(W)``,
  ``\\frac{\\partial f}{\\partial W}``, ``\\nabla^2 L``: by its argument) differentiates its
  right side;
- a symbol, ``Y = X^\\top X`` or, written the other way round, ``\\mathbf{L}\\mathbf{L}^\\top =
  \\Sigma`` (key ``=Y``, ``=Sigma``): every later formula of the claim reads the symbol as its
  definition (``\\Sigma^{-1}`` as ``(\\mathbf{L}\\mathbf{L}^\\top)^{-1}``), so a derivative by
  ``\\mathbf{L}`` goes through it; a plain name (``L = ...``) is both;
- a formula, ``\\log p(\\mathbf{x} \\mid \\boldsymbol\\mu, \\Sigma) = ...`` (key ``~`` and its text,
  spaces dropped): where a later formula writes the same left side (spaces aside), it reads
  the right side in its place.  So function arguments that are not formulas texgrad reads
  (``p(x \\mid \\mu, \\Sigma)``, ``J(W, b; x, y)``) never need to be.

A chain ``f(W) := A = B`` defines by its first member.
"""

from __future__ import annotations

import re

from .claimscan import is_definition, split_top, symbol_name
from .errors import LimitError, TexgradError

_DERIV = re.compile(r"\\partial|\\nabla|[∂∇]|\\[dtc]?frac\s*\{\s*(?:\\mathrm\s*\{\s*)?d\s*\}")
_SYMBOL = re.compile(r"^\s*(?:\\math(?:bf|rm|it)\s*\{\s*\\?[A-Za-z]+\s*\}|\\(?:bm|boldsymbol)"
                     r"\s*\{\s*\\?[A-Za-z]+\s*\}|\\?[A-Za-z]+)\s*$")


def collect(defs: dict, statement: str) -> bool:
    """Record the definition ``statement`` makes, if it makes one (True)."""
    if _DERIV.search(statement):
        return False
    parts = split_top(statement)
    if len(parts) < 2:
        return False
    lhs, rhs = parts[0][0], parts[1][0]
    rhs = re.sub(r"(?<!\\)[.,;]\s*$", "", rhs.rstrip())     # f(W) = ... .: the sentence's stop
    if not rhs.strip() or not lhs.strip():
        return False
    name = is_definition(lhs)
    if name:
        defs[name] = rhs
        arg = re.search(r"\(\s*([^(),;|]+?)\s*\)\s*$", lhs)
        if arg:                     # L(\mathbf{w}): \nabla L and \nabla^2 L are by w
            defs["@" + name] = arg.group(1)
        if re.search(r"\(.*(?:[,;|]|\\mid).*\)", lhs):
            # J(W, b; x, y), p(x \mid \mu): arguments texgrad cannot read as a formula;
            # where the claim writes them so, read the definition instead
            defs["~" + squeeze(lhs)] = rhs
        var = _one_symbol(lhs)
        if var:
            defs["=" + var] = rhs
        return True
    var = _one_symbol(lhs)
    if var:                         # \hat{y} = ..., \mathbf{z}^{(1)} = W^{(1)}\mathbf{x}
        defs["=" + var] = rhs
        return True
    if len(parts) == 2 and _SYMBOL.match(rhs) and is_definition(rhs):
        defs["=" + symbol_name(rhs)] = lhs         # L L^T = \Sigma
        return True
    if re.search(r"\(|\\mid", lhs):
        defs["~" + squeeze(lhs)] = rhs
        return True
    return False


def _one_symbol(tex: str):
    """The name of the one symbol ``tex`` writes (``\\hat{y}``, ``W^{(1)}``, ``f_3``), or
    None (``f(W)``, ``x^T A x``)."""
    from .request import parse_wrt
    try:
        return parse_wrt(tex)
    except LimitError:
        raise
    except TexgradError:
        return None


def squeeze(s: str) -> str:
    """A formula's text without its spaces (how definitions are keyed and compared)."""
    return re.sub(r"\s+", "", s)


def defined(defs: dict, f_text: str, wrt_text: str | None = None):
    """(the function a request names, its variable): ``f(W)``, ``f`` or ``L`` read as its
    definition, and by the definition's argument where the request names no variable
    (``\\nabla L`` of ``L(\\mathbf{w})``); unchanged when nothing defines it."""
    key = squeeze(f_text)
    base = re.sub(r"\(.*\)$", "", key)
    name = key if key in defs else (base if base in defs else None)
    if name is None:
        return f_text, wrt_text
    if ("@" + name) in defs and (wrt_text is None or squeeze(wrt_text) == name):
        wrt_text = defs["@" + name]
    return defs[name], wrt_text


def apply_formulas(defs: dict, text: str) -> str:
    """``text`` with every defined left side (spaces aside) replaced by its right side, in
    braces."""
    for key, rhs in defs.items():
        if not key.startswith("~") or len(key) < 3:
            continue
        pattern = r"\s*".join(re.escape(ch) for ch in key[1:])
        text = re.sub(pattern, lambda _m, r=rhs: "{" + r.strip() + "}", text)
    return text


def symbols_of(text: str) -> set:
    """The names of the symbols of a formula (empty when it does not parse)."""
    return {n.args[0] for n in _sym_nodes(text)}


def _sym_nodes(text: str) -> list:
    from .parse import parse
    try:
        root = parse(text)
    except LimitError:
        raise
    except TexgradError:
        return []
    out = []
    stack = [root]
    while stack:
        n = stack.pop()
        if n.op == "sym":
            out.append(n)
            continue
        if n.op == "sup" and n.args[1].op == "sym" and n.args[1].args[0] in ("T", "H", "t"):
            stack.append(n.args[0])         # x^T: the T is a mark
            continue
        for a in n.args:
            if hasattr(a, "op"):
                stack.append(a)
            elif isinstance(a, tuple):
                stack.extend(x for x in a if hasattr(x, "op"))
    return out


def substitute(text: str, subs: dict, brackets: str = "()", rounds: int = 4) -> str:
    """``text`` with the symbols named in ``subs`` replaced by their definitions (in
    ``brackets``), ``rounds`` deep (a definition may use another)."""
    for _round in range(rounds):
        spans = [(n.start, n.end, subs[n.args[0]]) for n in _sym_nodes(text)
                 if n.args[0] in subs]
        if not spans:
            return text
        for start, end, rhs in sorted(spans, reverse=True):
            text = text[:start] + brackets[0] + rhs.strip() + brackets[1] + text[end:]
    return text


def exponent_letters(texts: list) -> set:
    """The lower-case letters that the formulas ``texts`` use in exponents, and elsewhere at
    most as numbers (``\\tr(X^n)``, ``n(X^{n-1})^T``, ``2pX(X^TX)^{p-1}``): a symbolic
    power.  Not the marks (``^T``, ``^{-T}``, ``^t``), not the argument of ``e^{...}``."""
    inside: set = set()
    outside: set = set()
    bound: set = set()
    for text in texts:
        from .parse import parse
        try:
            root = parse(text)
        except LimitError:
            raise
        except TexgradError:
            continue
        stack = [(root, False)]
        while stack:
            n, in_sup = stack.pop()
            if n.op == "sym":
                (inside if in_sup else outside).add(n.args[0])
                continue
            if n.op == "sup" and _under_sum(n.args[0]):
                stack.append((n.args[0], in_sup))   # \sum_{i=1}^{n}: n is a bound
                continue
            if n.op == "sup":
                stack.append((n.args[0], in_sup))
                p = n.args[1]
                q = p.args[0] if p.op == "neg" else p
                base = n.args[0]
                if not (q.op == "sym" and q.args[0] in ("T", "H", "t", "top")) and not (
                        base.op == "sym" and base.args[:2] == ("e", "e")):
                    stack.append((p, True))
                continue
            if n.op == "subscript" and n.args[0].op == "sumop":
                bound |= {x.args[0] for x in _walk(n.args[1]) if x.op == "sym"}
                continue            # \sum_{k=0}^{2}: k is the sum's index
            if n.op in ("dop", "nabla", "subscript"):
                continue            # the variable of a request, an index
            for a in n.args:
                if hasattr(a, "op"):
                    stack.append((a, in_sup))
                elif isinstance(a, tuple):
                    stack.extend((x, in_sup) for x in a if hasattr(x, "op"))
    # outside an exponent a power may be a coefficient (n X^{n-1}), never a vector or matrix
    return {x for x in inside - bound if len(x) == 1 and x.islower() and
            x not in ("e", "t", "i") and x not in outside - _coefficients(texts)}


def _under_sum(n) -> bool:
    while n.op in ("sup", "subscript"):
        n = n.args[0]
    return n.op == "sumop"


def _walk(n):
    stack = [n]
    while stack:
        x = stack.pop()
        yield x
        for a in x.args:
            if hasattr(a, "op"):
                stack.append(a)
            elif isinstance(a, tuple):
                stack.extend(y for y in a if hasattr(y, "op"))


def _coefficients(texts: list) -> set:
    """Letters a formula writes as a factor beside numbers or other factors, never
    transposed, normed or bold: candidates for a number."""
    out = set()
    for text in texts:
        for m in re.finditer(r"(?<![\\A-Za-z])([a-z])(?![A-Za-z_^'])", text):
            out.add(m.group(1))
        for m in re.finditer(r"(?<![\\A-Za-z])([a-z])\s*\^\s*(?:\{\s*)?(?:T|\\top)", text):
            out.discard(m.group(1))
    return out


def apply_symbols(defs: dict, f_text: str, members: list, variable: str):
    """(f, members) with the symbol definitions applied where the claim needs them: where
    the variable is reached only through a definition (``Y = X^\top X``, ``f(Y) = ...``,
    ``\nabla_X f``), or where the members write a defined symbol's definition while the
    function writes the symbol (``\\Sigma`` in f, ``(LL^T)^{-1}`` printed).
    A symbol that f writes beside the variable stays itself (``x = A^{-1}b``, then a claim
    on ``x^\top A x`` by A: x is held fixed, as its author means)."""
    subs = {k[1:]: v for k, v in defs.items() if k.startswith("=") and k[1:] != variable}
    if not subs:
        return f_text, members
    f_syms = symbols_of(f_text)
    m_syms = set().union(*(symbols_of(m) for m in members)) if members else set()
    used = {}
    for name, rhs in subs.items():
        if name not in f_syms | m_syms:
            continue
        inside = symbols_of(rhs)
        reach = variable not in f_syms and variable in _closure(inside, subs)
        printed = bool((m_syms - f_syms) & inside)
        if reach or printed:
            used[name] = rhs
    if not used:
        return f_text, members
    used = {k: subs[k] for k in _closure(set(used), subs) if k in subs}
    return substitute(f_text, used), [substitute(m, used) for m in members]


def _closure(names: set, subs: dict) -> set:
    out, todo = set(names), list(names)
    while todo:
        n = todo.pop()
        if n in subs:
            for x in symbols_of(subs[n]) - out:
                out.add(x)
                todo.append(x)
    return out
