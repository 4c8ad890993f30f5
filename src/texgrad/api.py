"""The Python API: :func:`differentiate` and :func:`evaluate`.

This module wires the stages together: parse -> names and shapes -> rules -> simplify ->
print -> numeric check.  It imports NumPy only when a value is computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import simplify as S
from .errors import ShapeError, TexgradError, Unsupported
from .ir import SCALAR, Expr, Sym, is_complex, walk
from .parse import N, _unwrap_postfix, parse
from .printer import LatexPrinter, Style, count_terms, latex as to_latex
from .shapes import Typer

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
            return f"% not verified (--no-verify); {self.convention}"
        return self.check.stamp()

    def evaluate(self, values: dict):
        """The derivative's value (NumPy) at ``values`` (name -> array; vectors 1-D)."""
        from .numeric import evaluate as ev, to_user
        env, sizes = _bind(self.symbols, values, self.expr)
        return to_user(ev(self.expr, env, sizes), self.expr.shape)

    def to_dict(self) -> dict:
        d = {"input": self.input, "wrt": self.wrt, "kind": self.kind,
             "derivative": self.latex, "terms": self.terms, "shapes": self.shapes,
             "convention": self.convention, "verified": self.verified,
             "max_rel_error": None, "trials": 0}
        if self.check is not None:
            d["max_rel_error"] = self.check.max_rel_error
            d["trials"] = self.check.trials
            d["check"] = self.check.to_dict()
        return d

    def _repr_latex_(self):
        return f"$${self.latex}$$"


def _dims_out(s: Sym) -> list:
    r, c = s.dims
    out = []
    for d in ((r, c) if c != 1 else (r,)) if s.dims != SCALAR else ():
        out.append(str(d).lstrip("#") if not isinstance(d, tuple) else "*".join(d))
    return out


# --------------------------------------------------------------------- requests

def split_request(ast: N, text: str) -> Request:
    """Find what to differentiate: a label ``f(x) = ...`` is dropped, a derivative operator
    (\\frac{\\partial}{\\partial X}, \\nabla_x) gives the variable."""
    node = ast
    if node.op == "chain":
        parts = node.args
        if _is_request(parts[0]):
            node = parts[0]
        else:
            node = parts[1]
    if node.op == "add" and node.args[0].op == "request":   # d/dx applies to the whole sum
        first = node.args[0]
        op, operand = first.args
        whole = N("add", (operand,) + node.args[1:], operand.start, node.end)
        node = N("request", (op, whole), first.start, node.end)
    if node.op == "request":
        op, operand = node.args
        base, posts = _unwrap_postfix(op)
        if base.op == "dop":
            order, wrts, _f, _kind = base.args
            return Request(operand, wrts[0], max(order, len(wrts)), text)
        # \nabla_x, \nabla^2_x
        wrt = None
        order = 1
        for kind, payload, _ in posts:
            if kind == "subscript":
                wrt = payload
            elif kind == "sup":
                order = 2
        return Request(operand, wrt, order, text)
    if node.op == "dop" and node.args[2] is not None:
        order, wrts, f, _kind = node.args
        return Request(f, wrts[0], max(order, len(wrts)), text)
    return Request(node, None, 1, text)


def _is_request(n: N) -> bool:
    return n.op == "request" or (n.op == "dop" and n.args[2] is not None) or (
        n.op == "add" and n.args[0].op == "request")


def wrt_name(n: N, text: str) -> str:
    """The symbol name a variable's LaTeX denotes (``\\mathbf{x}`` -> ``x``)."""
    base, posts = _unwrap_postfix(n)
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
                raise Unsupported("a derivative by a transposed variable (a layout) is not "
                                  "supported yet").at(text, payload.start)
        return name
    if base.op in ("ones", "identity"):
        return base.args[1]
    raise TexgradError(f"`{' '.join(text[n.start:n.end].split())}` is not a variable",
                       hint="differentiate by a symbol, e.g. --wrt X or --wrt '\\mathbf{x}'"
                       ).at(text, n.start, n.end - n.start)


def _parse_wrt(wrt: str) -> str:
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


def _prepare(latex: str, shapes, assume, wrt: str | None = None):
    if not isinstance(latex, str):
        raise TexgradError("the formula must be a string")
    ast = parse(latex)
    req = split_request(ast, latex)
    name = None
    if req.wrt is not None:
        name = wrt_name(req.wrt, latex)
    if wrt is not None:
        given = _parse_wrt(wrt)
        if name is not None and given != name:
            raise TexgradError(f"the formula differentiates by {name} but wrt={wrt!r} was given",
                               hint="drop one of them")
        name = given
    typer = Typer(latex, _norm_shapes(shapes), _norm_assume(assume))
    typer.survey(req.f)
    raw = typer.build(req.f)
    return req, name, typer, raw


def _norm_shapes(shapes) -> dict:
    out = {}
    for k, v in (shapes or {}).items():
        if isinstance(v, (str, int)):
            v = (v,) if v != "" else ()
        out[str(k)] = tuple(v)
    return out


def _norm_assume(assume) -> dict:
    out = {}
    for k, v in (assume or {}).items():
        if isinstance(v, str):
            v = (v,)
        out[str(k)] = tuple(v)
    return out


def differentiate(latex: str, wrt: str | None = None, shapes: dict | None = None,
                  assume: dict | None = None, kind: str | None = "gradient",
                  verify: bool = True, seed: int = 0) -> Result:
    """Differentiate a LaTeX formula.  See the README for the conventions."""
    from .numeric import check_gradient
    from .rules import gradient

    if kind is not None and kind not in KINDS:
        raise TexgradError(f"unknown kind {kind!r}", hint="kinds: " + ", ".join(KINDS))
    req, name, typer, raw = _prepare(latex, shapes, assume, wrt)
    if name is None:
        found = sorted(typer.symtab)
        if len(found) == 1:
            name = found[0]
        else:
            raise TexgradError("say which variable to differentiate by",
                               hint="pass --wrt (API: wrt=...), or write "
                                    "\\frac{\\partial}{\\partial X} in front; symbols: "
                                    + ", ".join(found), line=1, column=1, source=latex)
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
    if req.order > 1 and kind == "gradient":
        kind = "hessian"
    if kind is None:
        kind = "gradient"
    if kind != "gradient":
        raise Unsupported(f"kind={kind!r} is not supported yet; only gradients of scalar "
                          "functions for now", line=1, column=1, source=latex)
    f, fd, syms = typer.finish(raw, strip=name)
    if f.shape != SCALAR:
        raise ShapeError("the gradient needs a scalar function, but the formula is "
                         f"{_shape_words(f.shape)}",
                         hint="take a norm or a trace, or (later) ask for kind='jacobian'",
                         line=1, column=1, source=latex)
    x_full = syms[name]
    x_diff = next((s for s in _syms(fd) if s.name == name), x_full)
    if is_complex(fd):
        # Wirtinger: x and conj(x) independent; the complex gradient is 2 df/dconj(x)
        # (Cookbook sec. 4.1, the convention of its eq. 89), df/dx for a real x
        pushed = S.push_conj(fd)
        if "complex" in x_full.assume:
            g = S.mul(S.const(2), gradient(pushed, S.Conj(x_diff)))
        else:
            g = gradient(pushed, x_diff)
        g = S.fold_conj(g, walk(f))
    else:
        g = gradient(fd, x_diff)
    if x_diff is not x_full and x_diff != x_full:
        g = S.resimplify(g, {x_diff: x_full})
    g = S.factor(g)
    style = _style(typer)
    if entry:
        style.index = True
        style.taken = tuple(entry) + tuple(typer.symtab)
        out = LatexPrinter(style).entry(g, entry[0], entry[1])
    else:
        out = to_latex(g, style)
    conv = _convention(x_full)
    res = Result(latex, name, kind, g, f, out, count_terms(g), None, syms, conv)
    if verify:
        res.check = check_gradient(fd, g, x_diff, syms, seed=seed, convention=conv)
    res._fd = fd
    return res


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


def _convention(x: Sym) -> str:
    if x.dims == SCALAR:
        what = f"the derivative by the scalar {x.name}"
    elif x.dims[1] == 1:
        what = f"the gradient is a column vector, like {x.name}"
    else:
        what = f"the gradient has the shape of {x.name}"
    if "complex" in x.assume:
        return (f"{what}; complex gradient df/dRe({x.name}) + i df/dIm({x.name}) = "
                f"2 df/dconj({x.name}) (Cookbook sec. 4.1)")
    if {"symmetric", "spd"} & x.assume:
        return f"{what}; unconstrained gradient at a symmetric {x.name}"
    return what


def evaluate(latex: str, values: dict, shapes: dict | None = None,
             assume: dict | None = None):
    """The value of the formula (NumPy) at ``values`` (name -> array; vectors 1-D)."""
    from .numeric import evaluate as ev, to_user

    req, _name, typer, raw = _prepare(latex, shapes, assume)
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
