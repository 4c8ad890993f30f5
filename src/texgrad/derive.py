"""Derive: from the typed formula and the variable to a checked :class:`~texgrad.result.Result`.

:func:`derive` builds a :class:`Problem` (the function, the variable, the notation and the
options, frozen) and hands it to one driver per form: :func:`gradient` (reverse
accumulation, Wirtinger for complex variables, the symmetric-matrix conventions),
:func:`derivative` (Jacobians, Hessians, Laplacians and derivatives by an entry, through the
differential and its vec identification), :func:`nth_derivative` (orders above 2 by a
scalar).  Each builds its Result once, its check included.  The conventions are said in
words here too: they are part of what was computed.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import NamedTuple

from . import construct as S, families
from .factor import factor, resimplify
from .errors import LimitError, ShapeError, TexgradError, Unsupported
from .ir import SCALAR, Expr, Identity, Sym, is_complex, walk
from .printer import LatexPrinter, Style, count_terms, latex as to_latex
from .result import Result


def style_of(typer) -> Style:
    """The printer's notation, as the formula wrote it (\\top or T, \\ln, \\mathrm{tr}...)."""
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
    if getattr(typer, "lets", None):
        from .lets import finish_lets, renamer
        finish_lets(typer)
        st.rename = renamer(typer.lets)
    return st


class Problem(NamedTuple):
    """One derivative to compute: the function and the variable, as the typing stage made
    them, and the options.  Built once by :func:`derive`; every driver below takes it.
    A NamedTuple, not a dataclass: it is defined at import, and a dataclass costs about a
    millisecond and a half there (the CLI's start-up time is a feature)."""
    latex: str            # the formula as the user gave it (for error positions)
    f: Expr               # the function, its symbols with their assumptions
    fd: Expr              # f as differentiated: the variable without symmetry assumptions
    x: Sym                # the variable
    x_diff: Sym           # the variable as it occurs in fd
    syms: dict            # name -> Sym, every symbol of f
    style: Style          # the notation the answer is printed in
    entry: tuple | None   # (i, j) for a derivative by the entry X_{ij}
    out_index: tuple      # the free indices of f in index notation (f_{kl})
    names: tuple          # every symbol name (kept out of the printer's dummy indices)
    kind: str
    layout: str = "numerator"
    verify: bool = True
    seed: int = 0


def derive(latex, name, req, typer, raw, kind, verify, seed, layout, symmetric) -> Result:
    """The derivative of the typed formula ``raw`` by the symbol ``name`` (``X_ij``: an
    entry of X), of the kind asked for or inferred, checked unless ``verify`` is False."""
    entry = None
    if name not in typer.symtab and "_" in name:
        base, _, idx = name.rpartition("_")
        idx = idx.replace(",", "")                              # a_{i,j}
        if base not in typer.symtab and base.upper() in typer.symtab and base.islower() \
                and len(base) == 1 and len(idx) == 2:
            base = base.upper()         # a_{ij}: the entry of A, as the Cookbook writes it
        if base in typer.symtab and idx.isalpha() and 1 <= len(idx) <= 2:
            entry = (idx[0], idx[1] if len(idx) > 1 else None)   # d/dX_{ij}: an entry
            name = base
    if name not in typer.symtab:                 # mu_k, of the members mu_j of a sum over j
        summed = families.axes(raw)
        other = families.sibling(name, {k: v for k, v in typer.symtab.items() if k in summed})
        if other is not None:
            typer.symtab[name] = other
    if name not in typer.symtab:                 # sum_i exp(z_i) by z: the entries of z
        from .vectorize import as_entries
        entries = as_entries(raw, name, typer.symtab)
        if entries is not None:
            members = sorted(m for m in typer.symtab if m.rpartition("_")[0] == name)
            raw, new = entries
            typer.symtab.update(new)
            typer.readings.append(f"{', '.join(members)} read as the entries of the vector "
                                  f"{name}")
    if name not in typer.symtab:
        raise TexgradError(f"the formula has no symbol {name}",
                           hint="its symbols: " + (", ".join(sorted(typer.symtab)) or "none"),
                           line=1, column=1, source=latex)
    f, fd, syms = typer.finish(raw, strip=name)
    x_full = syms[name]
    x_diff = next((s for s in _syms(fd) if s.name == name), x_full)
    kind = infer_kind(kind, req, f, x_full, entry, latex)
    p = Problem(latex, f, fd, x_full, x_diff, syms, style_of(typer), entry,
                tuple(typer.out_index or ()), tuple(typer.symtab), kind, layout, verify, seed)
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
        return nth_derivative(p, req.order)
    conv = gradient_convention(x_full)
    if kind == "gradient" and not typer.out_index:
        sym_var = bool({"symmetric", "spd"} & x_full.assume) and x_full.dims[1] != 1
        conv = gradient_convention(x_full, symmetric if sym_var else "G")
        if entry:
            idx = "".join(e for e in entry if e)
            conv = (f"the derivative by the entry {x_full.name}_{{{idx}}}"
                    " (the same expression for every entry when no index is left)")
        if is_complex(f):
            _require_real(f, syms, latex)
        return gradient(p, conv, symmetric if sym_var else "G")
    if is_complex(fd):
        raise Unsupported("Jacobians and Hessians of complex variables are not supported yet",
                          hint="the gradient of a real function of complex variables is",
                          line=1, column=1, source=latex)
    return derivative(p)


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


def infer_kind(kind, req, f, x, entry, latex) -> str:
    """The kind asked for, checked against the formula, or the one it implies."""
    if req.order > MAX_ORDER:
        raise LimitError(f"a derivative of order {req.order}; the limit is {MAX_ORDER}",
                         line=1, column=1, source=latex)
    if req.order > 2 and not req.laplacian:
        if kind not in (None, "derivative"):
            raise TexgradError(f"the formula asks for the {ordinal(req.order)} derivative, "
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
                         f"{shape_words(f.shape)}",
                         hint="ask for kind='jacobian' or 'derivative' instead",
                         line=1, column=1, source=latex)
    if kind == "gradient" and f.shape != SCALAR:
        raise ShapeError("the gradient needs a scalar function, but the formula is "
                         f"{shape_words(f.shape)}",
                         hint="ask for kind='jacobian' (a vector function) or 'derivative'",
                         line=1, column=1, source=latex)
    return kind


SYMMETRIC_CONVENTIONS = ("G", "cookbook", "sym")


def gradient(p: Problem, conv: str, symmetric: str = "G") -> Result:
    """The gradient of a scalar f, in Cookbook form, and its check."""
    f, fd, x_full, x_diff, entry = p.f, p.fd, p.x, p.x_diff, p.entry
    g = _bounded(raw_gradient(f, fd, x_full, x_diff), p.latex)
    if x_diff is not x_full and x_diff != x_full:
        g = resimplify(g, {x_diff: x_full})
    g = factor(g)
    if symmetric == "sym":          # the gradient on the space of symmetric matrices
        g = factor(S.mul(S.const(Fraction(1, 2)), S.add(g, S.transpose(g))))
    elif symmetric == "cookbook":   # Cookbook sec. 2.8: G + G^T - I o G
        g = factor(S.add(g, S.transpose(g),
                           S.neg(S.hadamard(Identity(x_full.dims[0]), g))))
    if entry:
        style = replace(p.style, index=True, taken=tuple(entry) + p.names)
        out = LatexPrinter(style).entry(g, entry[0], entry[1])
    else:
        out = to_latex(g, p.style)
    check = None
    if p.verify:
        from .check import check_gradient
        check = check_gradient(fd, g, x_diff, p.syms, seed=p.seed, convention=conv,
                               space=symmetric)
    return Result(p.latex, x_full.name, "gradient", g, f, out, count_terms(g), check, p.syms,
                  conv, style=p.style)


def raw_gradient(f, fd, x_full, x_diff):
    """The gradient by reverse accumulation (Wirtinger for complex variables)."""
    from .rules import gradient
    if is_complex(fd):
        # Wirtinger: x and conj(x) independent; the complex gradient is 2 df/dconj(x)
        # (Cookbook sec. 4.1, the convention of its eq. 89), df/dx for a real x
        from .conj import fold_conj, push_conj        # complex only: loaded when needed
        pushed = push_conj(fd)
        if "complex" in x_full.assume:
            g = S.mul(S.const(2), gradient(pushed, S.Conj(x_diff)))
        else:
            g = gradient(pushed, x_diff)
        return fold_conj(g, walk(f))
    return gradient(fd, x_diff)


def derivative(p: Problem) -> Result:
    """Jacobians, Hessians, Laplacians and full derivatives, through the differential."""
    from .rules import differential, identify

    latex, kind, f, fd, x_full, x_diff = p.latex, p.kind, p.f, p.fd, p.x, p.x_diff
    syms, entry, layout = p.syms, p.entry, p.layout
    target = fd                       # the function whose derivative is printed
    if kind in ("hessian", "laplacian"):
        target = factor(raw_gradient(f, fd, x_full, x_diff))
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
        d = resimplify(d, {x_diff: x_full})
    d = factor(d)
    shown = d
    if kind != "laplacian" and (form == "vec" or form == "scalar" and target.shape[1] == 1) \
            and (layout == "denominator" or layout == "mixed" and target.shape == SCALAR):
        shown = S.transpose(d)      # see the README's layout table
    if entry and p.out_index:
        style = replace(p.style, index=True, taken=tuple(entry) + p.out_index + p.names)
        out = LatexPrinter(style).entry(shown, *p.out_index)
    else:
        out = to_latex(shown, p.style)
    conv = derivative_convention(kind, form, f, x_full, layout)
    check = _check_derivative(p, target, x, d, form, conv) if p.verify else None
    return Result(latex, x_full.name, kind, d, f, out, count_terms(shown), check, syms, conv,
                  form, target, entry, style=p.style)


def _check_derivative(p: Problem, target, x, d, form, conv):
    """The check of a Jacobian, Hessian, Laplacian or full derivative ``d`` of ``target``."""
    from . import check as CK
    kind, fd, syms, seed, entry = p.kind, p.fd, p.syms, p.seed, p.entry
    fshape = _shape_fn(target)
    if kind == "laplacian":
        # check the Hessian it is the trace of, then the trace itself
        check = check_laplacian(fd, target, x, syms, d, seed, conv)
    elif form == "vec":
        check = CK.check_derivative(target, x, syms, CK.apply_vec(d, fshape), [d],
                                    seed=seed, convention=conv)
    elif form == "scalar":
        check = CK.check_derivative(target, x, syms, CK.apply_scalar(d), [d],
                                    seed=seed, convention=conv)
    else:
        check = CK.check_derivative(target, x, syms,
                                    CK.apply_entries(d, x, entry[0], entry[1] or "1"),
                                    [d], seed=seed, convention=conv)
    if kind in ("jacobian", "derivative") and check.undefined:
        raise CK.undefined_error()        # f itself is undefined everywhere: bad input
    if kind == "hessian" and check.passed:
        g_check = CK.check_gradient(fd, target, x, syms, seed=seed, convention=conv)
        if not g_check.passed:
            check = g_check
    return check


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def nth_derivative(p: Problem, order: int) -> Result:
    """d^n f / dx^n by a scalar x: differentiated ``order`` times; the check verifies each
    order against the one before it (as a Hessian's check verifies the gradient against f
    and the Hessian against the gradient), so the stamp says verified only when every step
    passed."""
    from . import check as CK
    from .rules import differential
    from .limits import out_of_range, range_error

    latex, f, fd, x_full, x_diff, syms, seed = p.latex, p.f, p.fd, p.x, p.x_diff, p.syms, p.seed
    x = x_diff
    steps = [fd]
    for _ in range(order):
        d = _bounded(factor(differential(steps[-1], x, S.ONE)), latex)
        found = out_of_range(d)
        if found is not None:
            raise range_error(found, latex, 0, 1)
        steps.append(d)
    d = steps[-1]
    if x_diff != x_full:
        d = resimplify(d, {x_diff: x_full})
    out = to_latex(d, p.style)
    conv = f"the {ordinal(order)} derivative by {x_full.name}"
    if f.shape != SCALAR:
        conv += ": the shape of the function"
    check = None
    if p.verify:
        for k in range(1, order + 1):
            check = CK.check_derivative(steps[k - 1], x, syms, CK.apply_scalar(steps[k]),
                                        [steps[k]], seed=seed, convention=conv)
            if k == 1 and check.undefined:
                raise CK.undefined_error()    # f itself is undefined everywhere: bad input
            if not check.passed:
                if not check.reason:
                    check = replace(check, convention=(
                        f"{conv} (the {ordinal(k)} derivative failed its check against "
                        "the one before it)"))
                break
    return Result(latex, x_full.name, "derivative", d, f, out, count_terms(d), check, syms,
                  conv, "scalar", steps[-2], None, (), order, style=p.style)


def check_laplacian(fd, g, x, syms, lap, seed, conv):
    """The check of a Laplacian: of the Hessian it is the trace of, then of the trace."""
    from . import numeric as NM
    from . import check as CK
    from .rules import differential, identify
    if x.dims == SCALAR:
        h = differential(g, x, S.ONE)
        return CK.check_derivative(g, x, syms, CK.apply_scalar(h), [h], seed=seed,
                                   convention=conv)
    dx = Sym("d" + x.name, x.dims, "")
    h = identify(differential(g, x, dx), dx)
    check = CK.check_derivative(g, x, syms, CK.apply_vec(h, _shape_fn(g)), [h, lap],
                                seed=seed, convention=conv)
    if check.passed:   # the printed Laplacian is the trace of the verified Hessian
        import numpy as np
        env = NM.draw_env(syms, check.sizes, NM.Draws(seed + 1), 2)
        a = NM.safe_evaluate(lap, env, check.sizes)
        b = NM.safe_evaluate(h, env, check.sizes)
        if a is None or b is None or not np.isclose(a[0, 0], np.trace(b), rtol=1e-8,
                                                    atol=1e-10):
            check = replace(check, passed=False, disagreement=True,   # CHECK FAILED
                            reason="the Laplacian is not the trace of the Hessian")
    return check


def _shape_fn(e: Expr):
    from .numeric import dim_size
    return lambda sizes: tuple(dim_size(d, sizes) for d in e.shape)


def derivative_convention(kind, form, f, x, layout) -> str:
    """The convention of a non-gradient derivative, in words (the stamp says it)."""
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


def shape_words(shape) -> str:
    """"a vector (n)", "a matrix (m x n)"."""
    r, c = shape
    if c == 1:
        return f"a vector ({r})"
    if r == 1:
        return f"a row vector ({c})"
    return f"a matrix ({r} x {c})"


def gradient_convention(x: Sym, symmetric: str = "G") -> str:
    """The convention of a gradient by ``x``, in words (the stamp says it)."""
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
