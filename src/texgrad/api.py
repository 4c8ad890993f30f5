"""The Python API: :func:`differentiate` and :func:`evaluate`.

This module wires the stages together: parse -> names and shapes -> rules -> simplify ->
print -> numeric check.  It imports NumPy only when a value is computed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from . import simplify as S
from .errors import LimitError, ShapeError, TexgradError, Unsupported
from .ir import SCALAR, Expr, Identity, Sym, is_complex, walk
from .options import norm_assume, norm_shapes
from .parse import N, unwrap_postfix, parse
from .printer import LatexPrinter, Style, count_terms, latex as to_latex
from .shapes import Typer, typed

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "lambda", "mu",
          "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "Sigma",
          "Lambda", "Gamma", "Delta", "Theta", "Omega", "Phi", "Psi"}

KINDS = ("gradient", "jacobian", "hessian", "laplacian", "derivative")


@dataclass
class Request:
    f: N
    wrt: N | None = None
    order: int = 1
    text: str = ""
    laplacian: bool = False
    note: str = ""          # which side of '=' was taken, and why


@dataclass
class Result:
    input: str
    wrt: str
    kind: str
    expr: Expr
    f: Expr
    latex: str
    terms: int
    check: Any = None
    symbols: dict = field(default_factory=dict)
    convention: str = ""

    @property
    def shapes(self) -> dict:
        return {name: _dims_out(s) for name, s in self.symbols.items()}

    @property
    def verified(self) -> bool:
        return bool(self.check is not None and self.check.passed)

    @property
    def stamp(self) -> str:
        if self.check is None:
            out = f"% not verified (--no-verify); {self.convention}"
        else:
            out = self.check.stamp()
        return out + "".join(f"; note: {w}" for w in self.warnings)

    form: str = "gradient"       # gradient | vec | scalar | entry
    target: Any = None           # the function differentiated (f, or its gradient)
    entry: Any = None
    warnings: tuple = ()         # options that had no effect (a shape for a missing name)
    order: int = 1               # the order of the derivative (kind "derivative" by a scalar)

    def evaluate(self, values: dict):
        return _guarded(self._evaluate)(values)

    def _evaluate(self, values: dict):
        """The derivative's value (NumPy) at ``values`` (name -> array; vectors 1-D), in the
        layout D[f-index..., variable-index...] whatever the printed notation."""
        import numpy as np
        from .numeric import dim_size, evaluate as ev, to_user
        env, sizes = _bind(self.symbols, values, self.expr)
        if self.form == "gradient" or self.kind == "laplacian":
            return to_user(ev(self.expr, env, sizes), self.expr.shape)
        fdims = self.target.shape
        if self.form == "scalar":
            return to_user(ev(self.expr, env, sizes), fdims)
        xdims = self.symbols[self.wrt].dims
        if self.form == "entry":
            xr, xc = (dim_size(d, sizes) for d in xdims)
            i, j = self.entry[0], self.entry[1] or "1"
            out = np.empty(_user_shape(fdims, sizes) + _user_shape(xdims, sizes))
            for a in range(xr):
                for b in range(xc):
                    val = to_user(ev(self.expr, env, sizes, {i: a, j: b}), fdims)
                    out[(Ellipsis,) + ((a, b) if xc != 1 or xdims[1] != 1 else (a,))] = val
            return out
        jac = ev(self.expr, env, sizes)        # vec form: J[vec F, vec X]
        fr, fc = (dim_size(d, sizes) for d in fdims)
        xr, xc = (dim_size(d, sizes) for d in xdims)
        full = jac.reshape(fr, fc, xr, xc, order="F")
        keep = [fdims[0] != 1, fdims[1] != 1, xdims[0] != 1, xdims[1] != 1]
        return full.reshape([n for n, k in zip(full.shape, keep) if k])

    def to_dict(self) -> dict:
        d = {"input": self.input, "wrt": self.wrt, "kind": self.kind,
             "derivative": self.latex, "terms": self.terms, "shapes": self.shapes,
             "convention": self.convention, "verified": self.verified,
             "max_rel_error": None, "trials": 0, "warnings": list(self.warnings),
             "order": self.order}
        d["status"] = None if self.check is None else self.check.status
        if self.check is not None:
            d["check"] = self.check.to_dict()
            d["max_rel_error"] = d["check"]["max_rel_error"]      # None when not finite
            d["trials"] = self.check.trials
        return d

    def _repr_latex_(self):
        return f"$${self.latex}$$"

    def _repr_markdown_(self):
        stamp = self.stamp.lstrip("% ")
        return f"$${self.latex}$$\n\n*{stamp}*"

    def __str__(self):
        return f"{self.latex}\n{self.stamp}"


def _user_shape(dims, sizes) -> tuple:
    from .numeric import dim_size
    return tuple(dim_size(d, sizes) for d in dims if d != 1)


def _dims_out(s: Sym) -> list:
    r, c = s.dims
    out = []
    for d in ((r, c) if c != 1 else (r,)) if s.dims != SCALAR else ():
        out.append(str(d).lstrip("#") if not isinstance(d, tuple) else "*".join(d))
    return out


# --------------------------------------------------------------------- requests

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
    if node.op == "add" and node.args[0].op == "request":   # d/dx applies to the whole sum
        first = node.args[0]
        op, operand = first.args
        whole = N("add", (operand,) + node.args[1:], operand.start, node.end)
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


# --------------------------------------------------------------------- pipeline

def _style(typer: Typer) -> Style:
    st = Style()
    if typer.style.get("transpose"):
        st.transpose = typer.style["transpose"]
    tr = typer.style.get("trace")
    if tr:
        st.trace = tr.split("{")[0] + ("{" + tr.split("{", 1)[1].split("}")[0] + "}"
                                       if "{" in tr else "")
    if typer.style.get("log"):
        st.log = typer.style["log"]
    if typer.style.get("index"):
        st.index = True
        st.taken = tuple(typer.symtab)
    if typer.style.get("hermitian"):
        st.hermitian = typer.style["hermitian"]
    if typer.style.get("ones"):
        st.ones = typer.style["ones"]
    return st


def prepare(latex: str, shapes, assume, wrt: str | None = None):
    """Parse and type a formula: (the request, the name to differentiate by, the Typer,
    the raw IR), shared by :func:`differentiate` and the paper checker."""
    if not isinstance(latex, str):
        raise TexgradError("the formula must be a string")
    ast = parse(latex)
    given = parse_wrt(wrt) if wrt is not None else None
    req = split_request(ast, latex, given)
    name = None
    if req.wrt is not None:
        name = wrt_name(req.wrt, latex)
    if wrt is not None:
        if name is not None and given != name:
            raise TexgradError(f"the formula differentiates by {name} but wrt={wrt!r} was given",
                               hint="drop one of them")
        name = given
    typer, raw = typed(latex, req.f, norm_shapes(shapes), norm_assume(assume))
    return req, name, typer, raw


def _guarded(fn):
    """Arithmetic facts met while simplifying or evaluating (a division by something that
    simplifies to 0, a singular matrix at the given values) are the user's input, not bugs."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ZeroDivisionError:
            raise TexgradError("division by zero: a denominator or a negative power of "
                               "something that is 0", hint="check the denominators") from None
        except Exception as e:
            if type(e).__name__ == "LinAlgError":
                raise TexgradError(f"linear algebra failed at these values: {e}",
                                   hint="an inverse or a determinant of a singular matrix"
                                   ) from None
            raise
    return wrapper


@_guarded
def differentiate(latex: str, wrt: str | None = None, shapes: dict | None = None,
                  assume: dict | None = None, kind: str | None = None,
                  verify: bool = True, seed: int = 0, layout: str = "numerator",
                  symmetric: str = "G", time_limit: float | None = None) -> Result:
    """Differentiate a LaTeX formula.  See the README for the kinds and conventions.

    ``time_limit`` (seconds, default None: no limit) bounds the whole call: past it a
    :class:`LimitError` is raised.  It uses a POSIX interval timer (SIGALRM), so it works only
    in the main thread of the main interpreter; called from another thread (a web server's
    worker, a thread pool) the call runs without a limit, so bound it there with a process
    (as ``texgrad batch`` does).  The CLI's ``--time-limit`` is this limit.

    ``Result.warnings`` lists the options that had no effect (a shape or an assumption given
    for a name the formula does not have); the stamp ends with them as notes.
    """
    from .limits import time_limited
    with time_limited(time_limit):
        return _differentiate_call(latex, wrt, shapes, assume, kind, verify, seed, layout,
                                   symmetric)


def _differentiate_call(latex, wrt, shapes, assume, kind, verify, seed, layout, symmetric):
    if kind is not None and kind not in KINDS:
        raise TexgradError(f"unknown kind {kind!r}", hint="kinds: " + ", ".join(KINDS))
    if layout not in LAYOUTS:
        raise TexgradError(f"unknown layout {layout!r}", hint="layouts: " + ", ".join(LAYOUTS))
    if symmetric not in SYMMETRIC_CONVENTIONS:
        raise TexgradError(f"unknown symmetric convention {symmetric!r}",
                           hint="conventions: " + ", ".join(SYMMETRIC_CONVENTIONS))
    req, name, typer, raw = prepare(latex, shapes, assume, wrt)
    guessed = False
    if name is None:
        found = sorted(typer.symtab)
        name = found[0] if len(found) == 1 else guess_variable(typer.symtab)
        if name is None:
            raise TexgradError("say which variable to differentiate by",
                               hint="pass --wrt (API: wrt=...), or write "
                                    "\\frac{\\partial}{\\partial X} in front; symbols: "
                                    + ", ".join(found), line=1, column=1, source=latex)
        guessed = len(found) > 1
    res = _differentiate(latex, name, req, typer, raw, kind, verify, seed, layout, symmetric)
    notes = []
    if guessed:
        notes.append(f"by {name}, the variable taken by convention (--wrt chooses another)")
    if req.note:
        notes.append(req.note)
    if notes:
        res.convention = "; ".join(notes + [res.convention])
        if res.check is not None:
            res.check.convention = res.convention
    res.warnings = unused_names(typer.symtab, shapes, assume)
    return res


def unused_names(symtab: dict, shapes, assume) -> tuple:
    """Warnings for ``shapes`` / ``assume`` entries naming no symbol of the formula (a typo
    in --shape Q=n would otherwise be ignored without a word)."""
    from .parse import did_you_mean
    out = []
    have = ", ".join(sorted(symtab)) or "none"
    for what, given in (("shape", norm_shapes(shapes)), ("assumption", norm_assume(assume))):
        for name in given or {}:
            if name not in symtab:
                near = did_you_mean(name, symtab)
                out.append(f"{what} given for {name}, which is not in the formula "
                           f"(symbols: {have})" + (f"; did you mean {near}?" if near else ""))
    return tuple(out)


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


def _differentiate(latex, name, req, typer, raw, kind, verify, seed, layout, symmetric):
    entry = None
    if name not in typer.symtab and "_" in name:
        base, _, idx = name.rpartition("_")
        if base in typer.symtab and idx.isalpha() and 1 <= len(idx) <= 2:
            entry = (idx[0], idx[1] if len(idx) > 1 else None)   # d/dX_{ij}: an entry
            name = base
    if name not in typer.symtab:
        raise TexgradError(f"the formula has no symbol {name}",
                           hint="its symbols: " + (", ".join(sorted(typer.symtab)) or "none"),
                           line=1, column=1, source=latex)
    f, fd, syms = typer.finish(raw, strip=name)
    x_full = syms[name]
    x_diff = next((s for s in _syms(fd) if s.name == name), x_full)
    kind = _kind(kind, req, f, x_full, entry, typer, latex)
    style = _style(typer)
    if req.order > 2:
        if x_full.dims != SCALAR or entry:
            what = "an entry of" if entry else \
                "the vector" if x_full.dims[1] == 1 or x_full.dims[0] == 1 else "the matrix"
            raise Unsupported(f"a derivative of order {req.order} by {what} {x_full.name} "
                              "is not supported (orders above 2 are computed for scalar "
                              "variables)", hint="ask for the Hessian (order 2), or "
                                                 "differentiate by a scalar",
                              line=1, column=1, source=latex)
        if is_complex(fd):
            raise Unsupported("derivatives of order above 2 of complex functions are not "
                              "supported", line=1, column=1, source=latex)
        return _nth_derivative(latex, req.order, f, fd, x_full, x_diff, syms, style,
                               verify, seed)
    conv = _convention(x_full)
    if kind == "gradient" and not typer.out_index:
        sym_var = bool({"symmetric", "spd"} & x_full.assume) and x_full.dims[1] != 1
        conv = _convention(x_full, symmetric if sym_var else "G")
        if entry:
            conv = (f"the derivative by the entry {x_full.name}_{{{''.join(e for e in entry if e)}}}"
                    " (the same expression for every entry when no index is left)")
        if is_complex(f):
            _require_real(f, syms, latex)
        res = _gradient(latex, f, fd, x_full, x_diff, syms, style, entry, typer, conv,
                        symmetric if sym_var else "G")
        if verify:
            from .numeric import check_gradient
            res.check = check_gradient(fd, res.expr, x_diff, syms, seed=seed, convention=conv,
                                       space=symmetric if sym_var else "G")
        return res
    if is_complex(fd):
        raise Unsupported("Jacobians and Hessians of complex variables are not supported yet",
                          hint="the gradient of a real function of complex variables is",
                          line=1, column=1, source=latex)
    return _derivative(latex, kind, f, fd, x_full, x_diff, syms, style, entry, typer,
                       verify, seed, layout)


LAYOUTS = ("numerator", "denominator", "mixed")
MAX_NODES = 200_000        # distinct nodes of a derivative


def _bounded(e: Expr, latex: str) -> Expr:
    """A derivative larger than MAX_NODES distinct nodes is refused, not printed."""
    if e.size > MAX_NODES and len(walk(e)) > MAX_NODES:
        raise LimitError(f"the derivative has more than {MAX_NODES:,} distinct nodes",
                         hint="differentiate a smaller part, or introduce names for "
                              "repeated subexpressions", line=1, column=1, source=latex)
    return e


def _require_real(f: Expr, syms: dict, latex: str) -> None:
    """A gradient needs a real-valued f; a complex-valued one (x^H A x for a general A) has
    none.  Decided at random complex points."""
    import numpy as np
    from .numeric import Draws, assign_sizes, draw_env, safe_evaluate
    rng = Draws(12345)
    sizes = assign_sizes(syms)
    for _ in range(2):
        v = safe_evaluate(f, draw_env(syms, sizes, rng, 0), sizes)
        if v is not None and np.isfinite(v).all() and \
                abs(np.imag(v[0, 0])) > 1e-9 * max(1.0, abs(v[0, 0])):
            raise TexgradError("the function is complex-valued, so it has no gradient",
                               hint="a real function of complex variables has one: e.g. "
                                    "|.|^2, x^H A x with A Hermitian, or take Re(...)",
                               line=1, column=1, source=latex)


MAX_ORDER = 20       # the order of a derivative by a scalar


def _kind(kind, req, f, x, entry, typer, latex) -> str:
    if req.order > MAX_ORDER:
        raise LimitError(f"a derivative of order {req.order}; the limit is {MAX_ORDER}",
                         line=1, column=1, source=latex)
    if req.order > 2 and not req.laplacian:
        if kind not in (None, "derivative"):
            raise TexgradError(f"the formula asks for the {_ordinal(req.order)} derivative, "
                               f"not a {kind}", hint="drop kind (--kind), or ask for "
                                                      "kind='derivative'",
                               line=1, column=1, source=latex)
        return "derivative"
    if kind is None:
        if req.laplacian:
            kind = "laplacian"
        elif req.order > 1:
            kind = "hessian"
        elif f.shape == SCALAR:
            kind = "gradient"
        elif f.shape[1] == 1 and (x.dims == SCALAR or x.dims[1] == 1) and not entry:
            kind = "jacobian"
        else:
            kind = "derivative"
    if kind in ("hessian", "laplacian") and f.shape != SCALAR:
        raise ShapeError(f"a {kind} needs a scalar function, but the formula is "
                         f"{_shape_words(f.shape)}",
                         hint="ask for kind='jacobian' or 'derivative' instead",
                         line=1, column=1, source=latex)
    if kind == "gradient" and f.shape != SCALAR:
        raise ShapeError("the gradient needs a scalar function, but the formula is "
                         f"{_shape_words(f.shape)}",
                         hint="ask for kind='jacobian' (a vector function) or 'derivative'",
                         line=1, column=1, source=latex)
    return kind


SYMMETRIC_CONVENTIONS = ("G", "cookbook", "sym")


def _gradient(latex, f, fd, x_full, x_diff, syms, style, entry, typer, conv,
              symmetric="G") -> Result:
    g = _bounded(_raw_gradient(f, fd, x_full, x_diff), latex)
    if x_diff is not x_full and x_diff != x_full:
        g = S.resimplify(g, {x_diff: x_full})
    g = S.factor(g)
    if symmetric == "sym":          # the gradient on the space of symmetric matrices
        g = S.factor(S.mul(S.const(Fraction(1, 2)), S.add(g, S.transpose(g))))
    elif symmetric == "cookbook":   # Cookbook sec. 2.8: G + G^T - I o G
        g = S.factor(S.add(g, S.transpose(g),
                           S.neg(S.hadamard(Identity(x_full.dims[0]), g))))
    if entry:
        style.index = True
        style.taken = tuple(entry) + tuple(typer.symtab)
        out = LatexPrinter(style).entry(g, entry[0], entry[1])
    else:
        out = to_latex(g, style)
    return Result(latex, x_full.name, "gradient", g, f, out, count_terms(g), None, syms, conv)


def _raw_gradient(f, fd, x_full, x_diff):
    from .rules import gradient
    if is_complex(fd):
        # Wirtinger: x and conj(x) independent; the complex gradient is 2 df/dconj(x)
        # (Cookbook sec. 4.1, the convention of its eq. 89), df/dx for a real x
        pushed = S.push_conj(fd)
        if "complex" in x_full.assume:
            g = S.mul(S.const(2), gradient(pushed, S.Conj(x_diff)))
        else:
            g = gradient(pushed, x_diff)
        return S.fold_conj(g, walk(f))
    return gradient(fd, x_diff)


def _derivative(latex, kind, f, fd, x_full, x_diff, syms, style, entry, typer, verify, seed,
                layout) -> Result:
    """Jacobians, Hessians, Laplacians and full derivatives, through the differential."""
    from . import numeric as NM
    from .rules import differential, identify

    target = fd                       # the function whose derivative is printed
    if kind in ("hessian", "laplacian"):
        target = S.factor(_raw_gradient(f, fd, x_full, x_diff))
    x = x_diff
    if entry:
        dx = S.single_entry(x.dims, entry[0], entry[1] or "1")
        d = differential(target, x, dx)
        form = "entry"
    elif x.dims == SCALAR:
        d = differential(target, x, S.ONE)
        form = "scalar"
    else:
        dx = Sym("d" + x.name, x.dims, "\\mathrm{d}" + (x.latex or x.name))
        d = identify(differential(target, x, dx), dx)
        form = "vec"
    d = _bounded(d, latex)
    if kind == "laplacian":
        d = S.trace(d) if form == "vec" else d
    if x_diff != x_full:
        d = S.resimplify(d, {x_diff: x_full})
    d = S.factor(d)
    shown = d
    if kind != "laplacian" and (form == "vec" or form == "scalar" and target.shape[1] == 1) \
            and (layout == "denominator" or layout == "mixed" and target.shape == SCALAR):
        shown = S.transpose(d)      # see the README's layout table
    if entry and typer.out_index:
        style.index = True
        style.taken = tuple(entry) + tuple(typer.out_index) + tuple(typer.symtab)
        out = LatexPrinter(style).entry(shown, *typer.out_index)
    else:
        out = to_latex(shown, style)
    conv = _deriv_convention(kind, form, f, x_full, layout)
    res = Result(latex, x_full.name, kind, d, f, out, count_terms(shown), None, syms, conv)
    res.form, res.target, res.entry = form, target, entry
    if verify:
        fshape = _shape_fn(target)
        if kind == "laplacian":
            # check the Hessian it is the trace of, then the trace itself
            res.check = _check_laplacian(fd, target, x, syms, d, seed, conv)
        elif form == "vec":
            res.check = NM.check_derivative(target, x, syms, NM.apply_vec(d, fshape), [d],
                                            seed=seed, convention=conv)
        elif form == "scalar":
            res.check = NM.check_derivative(target, x, syms, NM.apply_scalar(d), [d],
                                            seed=seed, convention=conv)
        else:
            res.check = NM.check_derivative(target, x, syms,
                                            NM.apply_entries(d, x, entry[0], entry[1] or "1"),
                                            [d], seed=seed, convention=conv)
        if kind in ("jacobian", "derivative") and res.check.undefined:
            raise NM.undefined_error()        # f itself is undefined everywhere: bad input
        if kind == "hessian" and res.check.passed:
            g_check = NM.check_gradient(fd, target, x, syms, seed=seed, convention=conv)
            if not g_check.passed:
                res.check = g_check
    return res


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _nth_derivative(latex, order, f, fd, x_full, x_diff, syms, style, verify, seed) -> Result:
    """d^n f / dx^n by a scalar x: differentiated ``order`` times; the check verifies each
    order against the one before it (as a Hessian's check verifies the gradient against f
    and the Hessian against the gradient), so the stamp says verified only when every step
    passed."""
    from . import numeric as NM
    from .rules import differential
    from .shapes import out_of_range, range_error

    x = x_diff
    steps = [fd]
    for _ in range(order):
        d = _bounded(S.factor(differential(steps[-1], x, S.ONE)), latex)
        found = out_of_range(d)
        if found is not None:
            raise range_error(found, latex, 0, 1)
        steps.append(d)
    d = steps[-1]
    if x_diff != x_full:
        d = S.resimplify(d, {x_diff: x_full})
    out = to_latex(d, style)
    conv = f"the {_ordinal(order)} derivative by {x_full.name}"
    if f.shape != SCALAR:
        conv += ": the shape of the function"
    res = Result(latex, x_full.name, "derivative", d, f, out, count_terms(d), None, syms, conv)
    res.form, res.target, res.order = "scalar", steps[-2], order
    if verify:
        for k in range(1, order + 1):
            check = NM.check_derivative(steps[k - 1], x, syms, NM.apply_scalar(steps[k]),
                                        [steps[k]], seed=seed, convention=conv)
            res.check = check
            if k == 1 and check.undefined:
                raise NM.undefined_error()    # f itself is undefined everywhere: bad input
            if not check.passed:
                if not check.reason:
                    check.convention = (f"{conv} (the {_ordinal(k)} derivative failed its "
                                        "check against the one before it)")
                break
    return res


def _check_laplacian(fd, g, x, syms, lap, seed, conv):
    from . import numeric as NM
    from .rules import differential, identify
    if x.dims == SCALAR:
        h = differential(g, x, S.ONE)
        return NM.check_derivative(g, x, syms, NM.apply_scalar(h), [h], seed=seed,
                                   convention=conv)
    dx = Sym("d" + x.name, x.dims, "")
    h = identify(differential(g, x, dx), dx)
    check = NM.check_derivative(g, x, syms, NM.apply_vec(h, _shape_fn(g)), [h, lap],
                                seed=seed, convention=conv)
    if check.passed:   # the printed Laplacian is the trace of the verified Hessian
        import numpy as np
        env = NM.draw_env(syms, check.sizes, NM.Draws(seed + 1), 2)
        a = NM.safe_evaluate(lap, env, check.sizes)
        b = NM.safe_evaluate(h, env, check.sizes)
        if a is None or b is None or not np.isclose(a[0, 0], np.trace(b), rtol=1e-8,
                                                    atol=1e-10):
            check.passed = False
            check.reason = "the Laplacian is not the trace of the Hessian"
            check.disagreement = True         # a real disagreement: CHECK FAILED
    return check


def _shape_fn(e: Expr):
    from .numeric import dim_size
    return lambda sizes: tuple(dim_size(d, sizes) for d in e.shape)


def _deriv_convention(kind, form, f, x, layout) -> str:
    if kind == "laplacian":
        return f"the Laplacian: the trace of the Hessian by {x.name}"
    if form == "scalar":
        return f"the derivative by the scalar {x.name}: the shape of the function"
    if form == "entry":
        return (f"the derivative by each entry {x.name}_{{ij}}; J^{{ij}} is the single-entry "
                "matrix")
    fv = f.shape[1] == 1
    xv = x.dims[1] == 1
    if kind == "hessian" and xv:
        return f"the Hessian: d^2 f / d{x.name} d{x.name}^T"
    if kind == "hessian":
        return (f"the Hessian in vec form: d^2 f / d vec({x.name}) d vec({x.name})^T, "
                "column-major vec")
    if fv and xv:
        lay = "rows index the variable" if layout == "denominator" else "rows index f"
        return f"the Jacobian in {layout} layout ({lay})"
    if layout == "denominator":
        return ("vec form, denominator layout: d vec(F)^T / d vec(" + x.name + "), "
                "column-major vec")
    return ("vec form: d vec(F) / d vec(" + x.name + ")^T, column-major vec "
            "(Magnus & Neudecker)")


def _syms(e: Expr):
    from .ir import walk
    return [n for n in walk(e) if isinstance(n, Sym)]


def _shape_words(shape) -> str:
    r, c = shape
    if c == 1:
        return f"a vector ({r})"
    if r == 1:
        return f"a row vector ({c})"
    return f"a matrix ({r} x {c})"


def _convention(x: Sym, symmetric: str = "G") -> str:
    if x.dims == SCALAR:
        what = f"the derivative by the scalar {x.name}"
    elif x.dims[1] == 1:
        what = f"the gradient is a column vector, like {x.name}"
    else:
        what = f"the gradient has the shape of {x.name}"
    if "complex" in x.assume:
        return (f"{what}; complex gradient df/dRe({x.name}) + i df/dIm({x.name}) = "
                f"2 df/dconj({x.name}) (Cookbook sec. 4.1)")
    if {"symmetric", "spd"} & x.assume and x.dims[1] != 1:
        if symmetric == "sym":
            return (f"{what}; the gradient on symmetric matrices, (G + G^T)/2 "
                    "(checked along symmetric directions)")
        if symmetric == "cookbook":
            return (f"{what}; Cookbook sec. 2.8: G + G^T - I o G, the derivative by the "
                    "independent entries (checked along symmetric directions)")
        return f"{what}; unconstrained gradient G at a symmetric {x.name}"
    return what


@_guarded
def evaluate(latex: str, values: dict, shapes: dict | None = None,
             assume: dict | None = None):
    """The value of the formula (NumPy) at ``values`` (name -> array; vectors 1-D)."""
    from .numeric import evaluate as ev, to_user

    req, _name, typer, raw = prepare(latex, shapes, assume)
    f, _fd, syms = typer.finish(raw)
    env, sizes = _bind(syms, values, f)
    return to_user(ev(f, env, sizes), f.shape)


def _bind(syms: dict, values: dict, expr: Expr):
    """Values to internal 2-D arrays, and the size of every dimension name."""
    import numpy as np
    from .ir import walk
    from .numeric import from_user

    env = {}
    sizes: dict = {}
    needed = {n.name for n in walk(expr) if isinstance(n, Sym)}
    for name in needed:
        if name not in values:
            raise TexgradError(f"no value given for {name}",
                               hint="values are keyed by symbol name, e.g. {'x': x}")
    for name, sym in syms.items():
        if name not in values:
            continue
        a = from_user(name, values[name], sym)
        if np.iscomplexobj(a) and "complex" not in sym.assume:
            if np.any(np.imag(a) != 0):
                raise ShapeError(f"{name} is real, but its value is complex",
                                 hint=f"declare it complex: assume={{'{name}': ('complex',)}}")
            a = np.real(a)
        env[name] = a
        for d, n in zip(sym.dims, a.shape):
            if d == 1:
                if n != 1:
                    raise ShapeError(f"{name} should be {'a scalar' if sym.dims == SCALAR else 'a vector'}"
                                     f", got an array of shape {np.shape(values[name])}")
                continue
            if isinstance(d, str) and d.startswith("#") and int(d[1:]) != n:
                raise ShapeError(f"{name} was declared with {d[1:]} but has {n}")
            if d in sizes and sizes[d] != n:
                raise ShapeError(f"dimension {d} is {sizes[d]} elsewhere but {n} in {name}")
            sizes[d] = n
    return env, sizes
