"""What to differentiate, read from the formula and the options: the request.

A formula may name its own derivative (``\\frac{\\partial}{\\partial X}``, ``\\nabla_x``,
``\\Delta f``), define a function (``f(x) = ...``, a label that is dropped) or be an equation
whose sides are not all the function.  :func:`split_request` finds the function and the
variable; :func:`wrt_name` and :func:`parse_wrt` give a variable's symbol name by the
naming rule (``\\mathbf{x}`` is ``x``, ``W_{12}`` is ``W_12``), from the formula or from
``--wrt``; :func:`guess_variable` is the convention when no variable is named.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from .errors import TexgradError, Unsupported
from .parse import parse
from .syntax import N, unwrap_postfix

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "lambda", "mu",
          "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "Sigma",
          "Lambda", "Gamma", "Delta", "Theta", "Omega", "Phi", "Psi"}


class Request(NamedTuple):
    f: N
    wrt: N | None = None
    order: int = 1
    text: str = ""
    laplacian: bool = False
    note: str = ""          # which side of '=' was taken, and why


def split_request(ast: N, text: str, wrt: str | None = None) -> Request:
    """Find what to differentiate: a label ``f(x) = ...`` is dropped, a derivative operator
    (\\frac{\\partial}{\\partial X}, \\nabla_x) gives the variable.  Of the sides of an
    equation, the function is the side with the variable ``wrt`` (when given), and never a
    constant side: ``x^T A x = 1`` differentiates the left side, and the request's note says
    which side was taken and why."""
    node = ast
    note = ""
    if node.op == "chain":
        node, note = _choose_side(node.args, text, wrt)
    if node.op in ("add", "inner", "hadamard", "kron") and node.args[0].op == "request":
        # d/dx applies to the whole sum (or Frobenius, elementwise, Kronecker product)
        first = node.args[0]
        op, operand = first.args
        whole = N(node.op, (operand,) + tuple(node.args[1:]), operand.start, node.end)
        node = N("request", (op, whole), first.start, node.end)
    if node.op == "product" and node.args[0].op == "sym" and node.args[0].args[1] == "\\Delta":
        # \Delta f at the front of the formula: the Laplacian of f
        rest = node.args[1:]
        f = rest[0] if len(rest) == 1 else N("product", rest, rest[0].start, rest[-1].end)
        return Request(f, None, 2, text, laplacian=True, note=note)
    if node.op == "request":
        op, operand = node.args
        base, posts = unwrap_postfix(op)
        if base.op == "dop":
            order, wrts, _f, _kind = base.args
            return Request(operand, _one_variable(wrts, text), max(order, len(wrts)), text,
                           note=note)
        # \nabla_x; \nabla^2_x is a Hessian, \nabla^2 without a variable the Laplacian
        wrt = None
        order = 1
        for kind, payload, _ in posts:
            if kind == "subscript":
                wrt = payload
            elif kind == "sup":
                order = 2
        return Request(operand, wrt, order, text, laplacian=order == 2 and wrt is None,
                       note=note)
    if node.op == "dop" and node.args[2] is not None:
        order, wrts, f, _kind = node.args
        return Request(f, _one_variable(wrts, text), max(order, len(wrts)), text, note=note)
    return Request(node, None, 1, text, note=note)


_SIDES = {0: "left", 1: "right"}


def _side_name(i: int, count: int) -> str:
    if count == 2:
        return _SIDES[i] + " side"
    return f"part {i + 1} of {count}"


def _names_in(n: N) -> set:
    """The base names of the symbols in a syntax subtree (without recursion)."""
    out = set()
    stack = [n]
    while stack:
        m = stack.pop()
        if isinstance(m, N):
            if m.op == "sym":
                out.add(m.args[0])
            stack.extend(a for a in m.args if isinstance(a, (N, tuple)))
        elif isinstance(m, tuple):
            stack.extend(a for a in m if isinstance(a, (N, tuple)))
    return out


def _is_label(n: N) -> bool:
    """``f``, ``f(x)``, ``L(\\theta)``, ``f_1(x)``: the name of the function being defined."""
    base = n.args[0] if n.op == "subscript" else n
    if base.op == "sym":
        return True
    if n.op == "fcall" and n.args[2] == 0:        # f(x), read as a function applied
        return True
    if n.op == "product" and len(n.args) == 2 and n.args[1].op == "paren":
        head = n.args[0].args[0] if n.args[0].op == "subscript" else n.args[0]
        return head.op == "sym"
    return False


def _choose_side(parts, text: str, wrt: str | None):
    """(the side of an equation to differentiate, a note saying which and why)."""
    if is_request(parts[0]):
        return parts[0], ""
    count = len(parts)
    names = [_names_in(p) for p in parts]
    constant = [not ns for ns in names]
    base = wrt.split("_")[0] if wrt else None
    if _is_label(parts[0]) and not constant[1] and (base is None or base in names[1]):
        return parts[1], ""        # f(x) = ...: the left side is a label, as before
    if base is not None:
        having = [i for i in range(count) if base in names[i]]
        if having:
            i = having[0]
            others = [j for j in range(count) if j != i]
            if all(constant[j] for j in others):
                why = ("the " + _side_name(others[0], count) + " is constant" if count == 2
                       else "the other parts are constant")
                return parts[i], f"differentiated the {_side_name(i, count)} of '=': {why}"
            why = f"the one with {wrt}" if all(base not in names[j] for j in others) else \
                f"the first with {wrt}"
            return parts[i], f"differentiated the {_side_name(i, count)} of '=', {why}"
    varying = [i for i in range(count) if not constant[i]]
    if varying and constant[1]:
        # x^T A x = 1, g(x) = c: the constant side is not the function
        i = varying[0]
        return parts[i], (f"differentiated the {_side_name(i, count)} of '=': the "
                          f"{_side_name(1, count)} is constant")
    return parts[1], ""          # a label, or every side constant: the right side


def _one_variable(wrts, text: str) -> N:
    """The variable of a derivative operator; mixed partials (by two variables) are
    refused rather than silently taken as the first."""
    names = []
    for w in wrts:
        try:
            names.append(wrt_name(w, text))
        except TexgradError:
            names.append(None)
    if len(set(names)) > 1 and None not in names:
        raise Unsupported("mixed partial derivatives (by " + ", ".join(dict.fromkeys(names))
                          + ") are not supported",
                          hint="differentiate by one variable at a time"
                          ).at(text, wrts[0].start, wrts[-1].end - wrts[0].start)
    return wrts[0]


def has_request(latex: str) -> bool:
    """Whether a formula names its own derivative (\\frac{\\partial}{\\partial X}, \\nabla)."""
    try:
        req = split_request(parse(latex), latex)
    except TexgradError:
        return False
    return req.wrt is not None or req.laplacian


def is_request(n: N) -> bool:
    """Whether a syntax node asks for a derivative (d/dX, a gradient, a labelled one)."""
    return n.op == "request" or (n.op == "dop" and n.args[2] is not None) or (
        n.op == "add" and n.args[0].op == "request")


def wrt_name(n: N, text: str) -> str:
    """The symbol name a variable's LaTeX denotes (``\\mathbf{x}`` -> ``x``)."""
    base, posts = unwrap_postfix(n)
    if n.op == "paren" or n.op == "brace":
        return wrt_name(n.args[0], text)
    if base.op == "sym":
        name = base.args[0]
        for kind, payload, _ in posts:
            if kind == "subscript":
                if payload.op in ("sym",):
                    sub = payload.args[0]
                elif payload.op == "num":
                    sub = payload.args[1]
                elif payload.op == "product" and all(x.op in ("sym", "num") for x in payload.args):
                    sub = "".join(x.args[0] if x.op == "sym" else x.args[1] for x in payload.args)
                else:
                    sub = " ".join(text[payload.start:payload.end].split()).strip("{} ")
                name = f"{name}_{sub}"
            elif kind == "sup":
                pass     # \\partial x^T: the numerator layout, which is the default
        return name
    if base.op == "call" and base.args[0] == "vec":     # \\partial vec(X)^T
        return wrt_name(base.args[2], text)
    if base.op in ("ones", "identity"):
        return base.args[1]
    raise TexgradError(f"`{' '.join(text[n.start:n.end].split())}` is not a variable",
                       hint="differentiate by a symbol, e.g. --wrt X or --wrt '\\mathbf{x}'"
                       ).at(text, n.start, n.end - n.start)


@functools.lru_cache(maxsize=1024)
def parse_wrt(wrt: str) -> str:
    """The variable's name (the naming rule) from a ``--wrt`` text as the user wrote it."""
    import re
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9,]+)*", wrt.strip()) and \
            ("_" in wrt or len(wrt.strip()) > 1 and wrt.strip().isalpha() is False
             or wrt.strip() in _GREEK):
        return wrt.strip()          # a name, as the naming rule gives it: X_tilde, W_1, beta
    try:
        ast = parse(wrt)
    except TexgradError as e:
        e.message = f"in the variable (--wrt): {e.message}"
        raise
    return wrt_name(ast, wrt)


# the variable when none is named: x (or X) as in the Cookbook, else the one parameter
_USUAL_VARIABLES = ("x", "X")
_USUAL_PARAMETERS = ("w", "W", "theta", "Theta", "beta")


def guess_variable(symtab: dict) -> str | None:
    """The variable a reader would assume: x or X when exactly one is present and no
    parameter-like symbol (w, W, theta, beta) competes; else that one parameter; else None
    (texgrad asks)."""
    usual = [n for n in _USUAL_VARIABLES if n in symtab]
    params = [n for n in _USUAL_PARAMETERS if n in symtab]
    if len(usual) == 1 and not params:
        return usual[0]
    if not usual and len(params) == 1:
        return params[0]
    return None
