"""Code generation: f and its derivative as Python source (NumPy, JAX, PyTorch) or as SymPy
matrix expressions.

``emit(result, target)`` turns a :class:`texgrad.api.Result` into source text.  The IR is a
DAG in which identical subtrees are one node, so every non-trivial node is computed once into
a temporary ``t0``, ``t1``, ... that f and its derivative share.  Each target has one table,
node type -> rule; a rule gets the node, the code of its operands (names, literals and other
atoms) and the generator (kinds, sizes, fresh temporaries) and returns a Python expression.

The array targets generate 1-D-aware code in the API's value convention: a value of shape
(1, 1) is a scalar, (n, 1) and (n, 1)^T are 1-D arrays (transposing a vector costs nothing),
anything else is 2-D.  A matrix chain is multiplied in the cheapest order (``A @ (B @ x)``).
log(1^T exp(v)) is computed stably as max(v) + log(sum(exp(v - max(v)))), sharing exp(v -
max(v)) and its sum with a softmax of v.

NumPy code allocates sparingly: a sum, a scaling, a Hadamard product, an elementwise function
or a power is written into an operand when that operand is a temporary holding a new real
array that nothing reads afterwards (``t0 -= Y``, ``np.exp(t0, out=t0)``); a diag(v) or I term
of such a sum goes onto the diagonal (``t5.flat[::n + 1] += v``) and a product read only
negated takes the sign on a vector (``np.outer(-s, s)``).  Arguments are never written into:
they are converted to float64 (those not declared complex), so updates keep the dtype.

Before lowering, :func:`texgrad.codestable.stabilise` rewrites the forms that overflow in
float64, for every array target at once: log(1 + exp(v)) is ``logaddexp(0, v)``, log sigma(v)
is -softplus(-v), 1 - sigma(v) is sigma(-v), e^v / (1 + e^v) is sigma(v), log det X is computed
from ``slogdet``; sigma itself is computed from exp(-|x|). SymPy output is symbolic and left as
written.

Nothing here evaluates user text, and no text becomes code: symbol and dimension names are
turned into identifiers (``codewriter._identifier``), a numeric size is written only when it is
ASCII digits, and every other piece of text (the formula, the convention, dimension names in
the docstring, a stamp) goes through one sanitiser, ``one_line`` (one printable line, no
quotes; :func:`comment_line` makes a ``# ...`` line of it); string literals are ``repr``.
``emit`` parses what it made and refuses a module that is not one import and ``f_and_grad``
with the intended docstring. The work is in four modules: this one (``emit``, the module around
the function), codewriter (the generator ``Gen``), codetables (the rules of each target) and
codestable (the stable forms). None imports NumPy or SymPy: the generated source does.
"""

from __future__ import annotations

import ast
import re

from .codetables import C, LIBS, M, R, S, TARGETS, Lib, kind_of
from .codewriter import Gen, comment_line, dim_text, one_line, user_dims
from .ir import Sym


# ------------------------------------------------------------------------------- emit

def emit(result, target: str) -> str:
    """Python source computing f and the derivative of ``result`` (a texgrad Result).

    ``target`` is ``numpy``, ``jax`` or ``torch`` (a function ``f_and_grad(<symbols in
    sorted order>)`` returning ``(f, derivative)`` in the layout of ``result.evaluate``), or
    ``sympy`` (a script that builds ``f`` and ``derivative`` as SymPy matrix expressions).
    Raises ValueError for an unknown target and NotImplementedError for a node or form the
    target has no rule for (a derivative by an entry X_{ij}; K_{mn} or vec in SymPy)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    if getattr(result, "form", "gradient") == "entry":
        raise NotImplementedError("a derivative by an entry X_{ij} (the single-entry matrix "
                                  f"J^{{ij}}) has no {target} code generation yet")
    from .ir import MatPow, PowSum, walk
    if any(isinstance(n, (MatPow, PowSum)) and not isinstance(n.k, int)
           for e in (result.f, result.expr) for n in walk(e)):
        raise NotImplementedError("a matrix power with a letter for the exponent (X^n) has "
                                  f"no {target} code generation yet")
    if target == "sympy":
        return _emit_sympy(result)
    return _emit_array(result, LIBS[target])


def arguments(result, target: str = "numpy") -> list:
    """(symbol name, Python name) of each argument of the ``f_and_grad`` that ``emit``
    writes, in its order (the sums over samples stacked first, as ``emit`` does)."""
    stacked, _words = _stacked(result)
    args = Gen(stacked, target).args
    return [(name, args[name]) for name in sorted(stacked.symbols)]


def _what(result) -> str:
    kind = result.kind
    return {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian",
            "laplacian": "Laplacian", "along": "derivative along the flow"}.get(kind,
                                                                           "derivative")


def _out_dims(result) -> list:
    """The dimensions of the derivative's value, as ``result.evaluate`` returns it."""
    if result.form == "gradient" or result.kind == "laplacian":
        return user_dims(result.expr.shape)
    if result.form == "scalar":
        return user_dims(result.target.shape)
    fr, fc = result.target.shape
    xr, xc = result.symbols[result.wrt].dims
    return [d for d in (fr, fc, xr, xc) if d != 1]


def _shape_text(dims: list) -> str:
    inner = ", ".join(dim_text(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def _shape_words(dims: list) -> str:
    return "a scalar" if not dims else f"of shape {_shape_text(dims)}"


def _arg_words(sym: Sym) -> str:
    dims = user_dims(sym.dims)
    what = "vector" if len(dims) == 1 else "matrix"
    text = "scalar" if not dims else f"{_shape_text(dims)} {what}"
    if sym.assume:
        text += ", " + ", ".join(sorted(sym.assume))
    return text


def _stacked(result):
    """The result with its sums over samples in matrix form (:mod:`texgrad.vectorize`), and
    a sentence per family for the docstring."""
    from dataclasses import replace
    from .vectorize import vectorized
    f, fm = vectorized(result.f)
    d, dm = vectorized(result.expr)
    members = {**fm, **dm}
    if not members:
        return result, []
    words = [f"{n}: the members {one_line(s.latex or n)} stacked in its rows, "
             f"{_shape_text(user_dims(s.dims))}" for n, s in sorted(members.items())]
    return replace(result, f=f, expr=d, symbols={**result.symbols, **members}), words


def _emit_array(result, lib: Lib) -> str:
    result, families = _stacked(result)
    g = Gen(result, lib.target)
    f_code, d_code = g.run([result.f, result.expr])
    mod = lib.mod

    def user(x: str, shape) -> str:              # api.to_user: a row vector stays 2-D
        return f"{x}[None, :]" if kind_of(shape) == R else x

    f_out = user(f_code, result.f.shape)
    if result.form == "gradient" or result.kind == "laplacian":
        d_out = user(d_code, result.expr.shape)
    elif result.form == "scalar":
        d_out = user(d_code, result.target.shape)
    else:                                         # vec form: J[vec F, vec X] -> D[F..., X...]
        keep = _out_dims(result)
        jdims = [d for d in result.expr.shape if d != 1]
        fr, fc = result.target.shape
        xr, xc = result.symbols[result.wrt].dims
        if len(keep) == len(jdims) and (fr == 1 or fc == 1) and (xr == 1 or xc == 1):
            d_out = d_code
        else:
            sizes = [g.size(d) for d in keep]
            if mod == "torch":                    # a column-major reshape: reverse, permute
                rev = ", ".join(reversed(sizes))
                perm = ", ".join(str(i) for i in reversed(range(len(sizes))))
                src = f"{d_code}.permute(1, 0)" if len(jdims) == 2 else d_code
                d_out = f"{src}.reshape({rev}).permute({perm})"
            else:
                d_out = f'{d_code}.reshape(({", ".join(sizes)}), order="F")'
    if lib.target == "torch":
        f_out, d_out = (x if not _literal(x) else f"torch.tensor({x}{lib.dtype})"
                        for x in (f_out, d_out))

    syms = result.symbols
    args = [g.args[name] for name in sorted(syms)]
    head = []
    for name in sorted(syms):
        a = g.args[name]
        if lib.target == "jax":
            head.append(f"{a} = jnp.asarray({a})")
        elif lib.target == "torch":
            dtype = "torch.complex128" if "complex" in syms[name].assume else "torch.float64"
            head.append(f"{a} = torch.as_tensor({a}, dtype={dtype})")
        elif lib.inplace and "complex" not in syms[name].assume:
            # float64 (no copy when it is already), so an update in place keeps the dtype
            head.append(f"{a} = np.asarray({a}, dtype=np.float64)")
    head += _bindings(g, syms)

    what = _what(result)
    doc = [f"f = {one_line(result.input)} and its {what} by {one_line(result.wrt)}.", "",
           f"Convention: {one_line(result.convention)}."]
    if result.form == "vec" and result.kind != "laplacian":
        doc.append("Layout: D[f-index..., variable-index...], the array texgrad's "
                   "Result.evaluate returns.")
    doc.append("Arguments: " + "; ".join(f"{g.args[n]}: {one_line(_arg_words(syms[n]))}"
                                         for n in sorted(syms)) + ".")
    if families:
        doc.append("The sums over samples are computed over the stacked data (" +
                   "; ".join(families) + ").")
    doc.append(f"Returns (f, {what}): f {_shape_words(user_dims(result.f.shape))}; "
               f"the {what} {_shape_words(_out_dims(result))}.")
    if lib.target == "jax":
        doc.append('Float64 needs jax.config.update("jax_enable_x64", True).')
    if lib.target == "torch":
        doc.append("Arguments are converted to float64 tensors (complex128 where complex).")
    if lib.inplace:
        doc.append("Arguments not declared complex are converted to float64 arrays; no "
                   "argument is modified.")
    out = [lib.imports, "", "", f"def f_and_grad({', '.join(args)}):", '    r"""' + doc[0]]
    out += [("    " + line) if line else "" for line in doc[1:]]
    out.append('    """')
    out += ["    " + line for line in head + g.lines]
    out.append(f"    return {f_out}, {d_out}")
    source = "\n".join(out) + "\n"
    _check_module(source, lib.imports, args, doc)
    return source


def _check_module(source: str, imports: str, args: list, doc: list):
    """The generated module is what was meant, whatever text went into it: the one import,
    then one function ``f_and_grad(args)`` whose docstring is exactly the intended lines
    (no text closed the docstring early) and whose body only assigns, updates in place and
    returns.  Anything else is a bug here, never code to hand out."""
    def fail(what):
        raise RuntimeError(f"codegen produced a malformed module ({what}); refusing to emit it")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        fail(f"SyntaxError: {exc.msg}")
    if len(tree.body) != 2 or ast.unparse(tree.body[0]) != imports:
        fail("top-level statements")
    fn = tree.body[1]
    if not isinstance(fn, ast.FunctionDef) or fn.name != "f_and_grad" or \
            [a.arg for a in fn.args.args] != args or fn.decorator_list:
        fail("the function")
    got = ast.get_docstring(fn, clean=False)
    if got is None or [line.strip() for line in got.rstrip().split("\n")] != \
            [line.strip() for line in doc]:
        fail("the docstring")
    allowed = (ast.Assign, ast.AugAssign, ast.Expr, ast.Return)
    for stmt in fn.body[1:]:
        if not isinstance(stmt, allowed) or isinstance(stmt, ast.Expr) and \
                not isinstance(stmt.value, ast.Call):
            fail(f"a {type(stmt).__name__} statement")


def _literal(x: str) -> bool:
    return re.fullmatch(r"-?\d+\.\d*|\(-?\d+ / \d+\)", x) is not None


def _bindings(g: Gen, syms: dict) -> list:
    """``n = X.shape[0]`` for every size the code uses, from the first argument having it."""
    lines = []
    for d in g.dims_used:
        for name in sorted(syms):
            dims = syms[name].dims
            k = kind_of(dims)
            axes = {M: (0, 1), C: (0, None), R: (None, 1), S: (None, None)}[k]
            found = None
            for axis, dd in zip(axes, dims):
                if axis is not None and dd == d:
                    found = 0 if k in (C, R) else axis
                    break
            if found is not None:
                lines.append(f"{g.dimvar[d]} = {g.args[name]}.shape[{found}]")
                break
        else:
            raise NotImplementedError(f"the size {dim_text(d)} is not the size of any "
                                      "argument, so the code cannot compute it")
    return lines


def _emit_sympy(result) -> str:
    g = Gen(result, "sympy")
    f_code, d_code = g.run([result.f, result.expr])
    syms = result.symbols
    g.use("MatrixSymbol", "symbols")
    for s in syms.values():                     # every symbol's dimensions
        for d in s.dims:
            g.size(d)
    decl = []
    dims = [g.dimvar[d] for d in g.dims_used]
    if dims:
        decl.append(f"{', '.join(dims)} = symbols({' '.join(dims)!r}, integer=True)")
    for name in sorted(syms):
        s, a = syms[name], g.args[name]
        if kind_of(s.dims) == S:
            assume = "complex=True" if "complex" in s.assume else "real=True"
            decl.append(f"{a} = symbols({name!r}, {assume})")
        else:
            decl.append(f"{a} = MatrixSymbol({name!r}, {g.size(s.dims[0])}, "
                        f"{g.size(s.dims[1])})")
    if _literal_int(d_code) or _literal_int(f_code):
        g.use("Integer")
    f_code = f"Integer({f_code})" if _literal_int(f_code) else f_code
    d_code = f"Integer({d_code})" if _literal_int(d_code) else d_code
    what = _what(result)
    out = [comment_line(f"f = {result.input}"),
           comment_line(f"its {what} by {result.wrt}: {result.convention}")]
    if "Trace" in g.imports and g.scalar_products:
        out.append("# a 1 x 1 matrix product is a scalar here: Trace(...) of it")
    out += [f"from sympy import {', '.join(sorted(g.imports))}", ""]
    out += decl + [""] + g.lines
    out += [f"f = {f_code}", f"derivative = {d_code}"]
    source = "\n".join(out) + "\n"
    tree = ast.parse(source)                     # only the import and assignments
    if not (isinstance(tree.body[0], ast.ImportFrom) and tree.body[0].module == "sympy"
            and all(isinstance(stmt, ast.Assign) for stmt in tree.body[1:])):
        raise RuntimeError("codegen produced a malformed SymPy script; refusing to emit it")
    return source


def _literal_int(x: str) -> bool:
    return re.fullmatch(r"-?\d+", x) is not None
