"""How a claim names its derivative: the requests of the left side and of chain members.

``request_parts`` reads a request as texts print it (``\\frac{\\partial f}{\\partial X}``,
``\\nabla_X f``, ``\\nabla f(W)`` and ``\\nabla \\|x\\|^2`` without a subscript, Lagrange's
``f''(x)``, ``D_x f``, ``\\mathcal{D}_X f``, ``\\mathbf{J}_x f``) into the function, the
variable, the order and whether it is a Laplacian; :data:`DERIVATIVE` tells a formula that
holds a derivative.
"""

from __future__ import annotations

import re

from .claimscan import NAME
from .errors import LimitError, TexgradError

ROW = re.compile(r"\^\s*(?:\\top|T|\\intercal|\{\s*(?:\\top|T|\\intercal|\\mathsf\{T\}|"
                  r"\\mathrm\{T\})\s*\})\s*$")
CONJ = re.compile(r"\^\s*(\*|\{\s*\*\s*\})\s*$")
# a derivative written in a formula (the paper checker's test for a claim)
DERIVATIVE = re.compile(r"\\partial|\\nabla|[∂∇]|\\[dtc]?frac\s*\{\s*(?:\\mathrm\s*\{\s*|"
                        r"\\operatorname\s*\{\s*|\\delta(?![a-zA-Z])|d)|"
                        r"(?<![A-Za-z\\])[A-Za-z]\s*(?:'{1,3}|\^\s*\{\s*\\prime)\s*\(|"
                        r"\A\s*(?:D|\\mathcal\s*\{\s*D\s*\}|\\mathrm\s*\{\s*D\s*\}|"
                        r"\\operatorname\s*\{\s*D\s*\}|\\mathbf\s*\{\s*J\s*\})\s*_"
                        r"[^=]*\S[^=]*=")


def _extend(text: str, start: int, end: int) -> str:
    """``text[start:end]`` extended over the closing braces its unclosed ``{`` need: a node's
    span may end at a superscript's payload, before the ``}`` (``x^{2`` of ``x^{2}``)."""
    piece = text[start:end]
    open_ = len(re.findall(r"(?<!\\)\{", piece)) - len(re.findall(r"(?<!\\)\}", piece))
    k = end
    while open_ > 0:
        while k < len(text) and text[k].isspace():
            k += 1
        if k < len(text) and text[k] == "}":
            k += 1
            open_ -= 1
        else:
            break
    return text[start:k]


def request_parts(lhs: str):
    """(function text or None, variable text, order, laplacian) of a request written on the
    left (or as a member of a chain); None when it is not a derivative request.  The text of
    the function is cut from the request's own text, not from node spans (which may end
    before closing braces): after an operator, the rest of ``lhs`` (``lhs`` ends at the '=');
    inside ``\\frac{\\partial f}{...}``, the numerator's group."""
    from .request import split_request
    from .parse import parse
    m = _PRIMED.match(lhs)
    if m:       # f'(x), f''(x): Lagrange's notation, the derivatives of a named function
        order = len(m.group(2)) if "'" in m.group(2) else m.group(2).count("prime")
        return m.group(1), m.group(3), order, False
    m = _D_OPERATOR.match(lhs)
    if m:       # D_x f, \mathcal{D}_X f, \mathbf{J}_x f: the derivative, numerator layout
        var = m.group(1) or m.group(2)
        return m.group(3).strip(), var + "^T", 1, False
    ast = parse(lhs)
    req = split_request(ast, lhs)
    inline = ast.op == "dop" or (ast.op == "chain" and ast.args and ast.args[0].op == "dop")
    if inline:
        f_text = _extend(lhs, req.f.start, req.f.end)
    else:
        f_text = lhs[req.f.start:].strip()
    wrt_text = _extend(lhs, req.wrt.start, req.wrt.end) if req.wrt is not None else None
    if wrt_text is None and not req.laplacian:
        # \nabla f(W): the variable is the function's one argument
        if not lhs.lstrip().startswith(("\\nabla", "∇")):
            return None
        m = re.match(r"^\s*" + NAME + r"\s*(?:\\left)?\(([^(),]+)(?:\\right)?\)\s*$", f_text)
        wrt_text = m.group(1) if m else one_symbol(f_text)
        if wrt_text is None:
            return None
    return f_text, wrt_text, req.order, req.laplacian


_D_OPERATOR = re.compile(r"^\s*(?:D|\\mathcal\s*\{\s*D\s*\}|\\mathrm\s*\{\s*D\s*\}|"
                         r"\\operatorname\s*\{\s*D\s*\}|\\mathbf\s*\{\s*J\s*\}|J)\s*_\s*"
                         r"(?:\{((?:[^{}]|\{[^{}]*\})+)\}|(\\[A-Za-z]+(?:\s*\{[^{}]*\})?|[A-Za-z]))\s*(\S.*)$", re.S)
_PRIMED = re.compile(r"^\s*(" + NAME + r")\s*('{1,3}|(?:\^\s*\{\s*(?:\\prime\s*){1,3}\}))"
                     r"\s*(?:\\left)?\(([^()]+?)(?:\\right)?\)\s*$")


def one_symbol(f_text: str):
    """``\\nabla \\|x\\|_2^2``: a gradient without its variable is by the function's one
    symbol (None when it has several)."""
    from .api import prepare
    try:
        _r, _n, typer, _raw = prepare(f_text, {}, {})
    except LimitError:
        raise
    except TexgradError:
        return None
    names = sorted(typer.symtab)
    return typer.symtab[names[0]].latex if len(names) == 1 else None


def is_derivative_form(text: str) -> bool:
    """Whether a member of a chain is written as a derivative request (whatever its operand)."""
    from .request import is_request, split_request
    from .parse import parse
    if not DERIVATIVE.search(text):
        return False
    try:
        ast = parse(text)
        req = split_request(ast, text)
    except LimitError:
        raise
    except TexgradError:
        return False
    return is_request(ast) or req.wrt is not None or req.laplacian
