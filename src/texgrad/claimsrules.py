"""Statements that print a derivative but claim no closed form: not claims.

A document states rules and steps beside its claims: the definition of a derivative
(``\\frac{\\partial f}{\\partial x} = \\lim_{h\\to 0} ...``), a chain rule or a generic rule
with functions it never defines (``\\frac{\\partial f}{\\partial x} = \\frac{\\partial f}{\\partial
y}\\frac{\\partial y}{\\partial x}``, ``\\nabla_x f(Ax) = A^T \\nabla f(Ax)``), a gradient written
componentwise (``\\nabla f = (\\frac{\\partial f}{\\partial x_1}, \\dots)``, a ``bmatrix`` of
partials) and update steps (``W \\leftarrow W - \\eta \\nabla_W L``, ``x_{k+1} = x_k - \\alpha
\\nabla f(x_k)``, ``\\theta := \\theta - \\eta \\nabla J``).  ``not_a_claim`` names what a
statement is, only for a statement texgrad could not decide (never for a decided claim), so a
checkable claim is never set aside; ``update_step`` reads the arrows (``\\leftarrow``,
``\\gets``), which hold no '='.
"""

from __future__ import annotations

import re

from .claimscan import NAME, split_top

DEFINITION = "a definition of the derivative"
COMPONENTWISE = "a gradient written componentwise"
RULE = "a rule (its functions are not defined in the text)"
UPDATE = "an update step"

_DERIV = re.compile(r"\\partial|\\nabla|[∂∇]|\\[dt]?frac\s*\{\s*(?:\\mathrm\s*\{\s*)?d|"
                    r"\\(?:pdv|dv|odv|pd|pderiv|deriv)(?![a-zA-Z])")     # physics, derivative
_LIMIT = re.compile(r"\\lim(?![a-zA-Z])")
_DOTS = re.compile(r"\\[clv]?dots(?![a-zA-Z])|\\ldots|\\begin\{[bpvBV]?matrix\*?\}|"
                   r"\\begin\{array\}")
_ARROW = re.compile(r"\\(?:leftarrow|gets|longleftarrow|coloneqq)(?![a-zA-Z])|:=|=:")
# a step's left side: x_{k+1}, \theta^{(t+1)}, \mathbf{w}_{t+1}, W', a name alone
_TARGET = re.compile(r"^\s*(?P<name>" + NAME + r")\s*(?:[_^]\s*(?:\{[^{}]*\}|\w)\s*){0,2}"
                     r"'?\s*$")
# a derivative of a function the text names but does not define: \frac{\partial f}{..},
# \frac{d y}{..}, \nabla f, \nabla_x f(Ax), \nabla_{W} \mathcal{L}, \partial L / \partial W
_OPERAND = (r"(?P<f>\\math(?:cal|bf|rm|it)\{\\?\w+\}|\\ell|\\[A-Za-z]+(?![a-zA-Z])|"
            r"[A-Za-z](?:_\{?\w+\}?)?)")
_FUNC_DERIVS = tuple(re.compile(p) for p in (
    r"\\[dt]?frac\s*\{\s*(?:\\partial|\\mathrm\s*\{\s*d\s*\}|d)(?:\s*\^\s*\{?\d\}?)?\s*"
    + _OPERAND + r"\s*(?:\([^()]*\))?\s*\}",
    r"(?:\\nabla|∇)\s*(?:_\s*(?:\{[^{}]*\}|\\?\w+))?\s*" + _OPERAND +
    r"\s*(?=\(|\\left\(|$|\s|\\right|[,.;)\]}]|\\cdot|\\odot|\^)",
    r"\\partial\s*" + _OPERAND + r"\s*/"))


def _base(tex: str) -> str:
    m = re.match(r"\s*(\\math(?:bf|rm|it|cal)\{\\?\w+\}|\\boldsymbol\{\\?\w+\}|\\bm\{\\?\w+\}|"
                 r"\\?[A-Za-z]+)", tex)
    return re.sub(r"\s+", "", m.group(1)) if m else ""


def _undefined_functions(text: str, defs: dict) -> list:
    out = []
    for m in (m for rx in _FUNC_DERIVS for m in rx.finditer(text)):
        f = re.sub(r"\s+", "", m.group("f"))
        if f in ("\\left", "\\frac", "\\dfrac", "\\tfrac", "\\partial", "\\nabla", "\\mathrm",
                 "\\operatorname", "\\sum", "\\log", "\\det", "\\exp", "\\tr", "\\sqrt"):
            continue
        if f in defs or _base(f) in defs:
            continue
        out.append(f)
    return out


def _is_step(lhs: str, rhs: str) -> bool:
    """``x_{k+1} = x_k - \\alpha \\nabla f(x_k)``: a name (a subscript, a superscript) set to
    an expression of the same name and a derivative."""
    m = _TARGET.match(lhs)
    if not m or _DERIV.search(lhs) or not _DERIV.search(rhs):
        return False
    name = _base(m.group("name"))
    return bool(name) and _base(rhs) == name and bool(re.search(r"[-+]", rhs))


def update_step(text: str) -> bool:
    """A statement with an arrow, ``W \\leftarrow W - \\eta \\nabla_W L`` (or ``:=``)."""
    parts = _ARROW.split(text, maxsplit=1)
    return len(parts) == 2 and _is_step(parts[0], parts[1])


def not_a_claim(text: str, reason: str, defs: dict) -> str:
    """What an undecided statement is when it is no claim (DEFINITION, COMPONENTWISE, RULE,
    UPDATE), or ""; ``reason``: why texgrad could not decide it (a failure of texgrad itself
    or a limit is never set aside)."""
    if "internal error (" in reason or "limit exceeded" in reason:
        return ""
    if update_step(text):
        return UPDATE
    parts = [p for p, _ in split_top(text)]
    if len(parts) < 2:
        return ""
    if _is_step(parts[0], parts[1]):
        return UPDATE
    members = parts[1:]
    if any(_LIMIT.search(m) for m in members):
        return DEFINITION
    if any(_DOTS.search(m) and _DERIV.search(m) for m in members):
        return COMPONENTWISE
    if any(_undefined_functions(m, defs) for m in members):
        return RULE
    return ""
