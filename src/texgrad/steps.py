"""Update rules (issue 14, item 3): one step of gradient descent, ``x <- x - mu grad f``.

- :func:`step_latex`: the step in LaTeX, simplified by the constructors (for the complex
  LMS filter ``\\mathbf{w} \\leftarrow \\mathbf{w} + 2\\mu\\left(d -
  \\mathbf{w}^{H}\\mathbf{x}\\right)^{*}\\mathbf{x}``: for a complex variable the descent
  direction is minus texgrad's complex gradient, 2 df/dconj(w));
- :func:`step_code`: ``--emit numpy-step`` / ``jax-step`` / ``torch-step``, the generated
  ``f_and_grad`` and a function ``step(<its arguments>, mu)`` that performs the step: in
  place for NumPy (a float64 or complex128 array) and PyTorch (under ``torch.no_grad``);
  JAX arrays are immutable, so the JAX step returns the new value.

The step size is written ``\\mu`` (``mu`` in code), or ``\\eta``, ``\\alpha`` where the
formula already has the letter.
"""

from __future__ import annotations

from .errors import TexgradError
from .ir import SCALAR, Sym

STEP_LETTERS = (("mu", "\\mu"), ("eta", "\\eta"), ("alpha", "\\alpha"))
TARGETS = ("numpy-step", "jax-step", "torch-step")


def _step_size(names) -> Sym:
    for name, tex in STEP_LETTERS:
        if name not in names:
            return Sym(name, SCALAR, tex, frozenset({"positive"}))
    return Sym("step_size", SCALAR, "\\mu_{\\mathrm{step}}", frozenset({"positive"}))


def _gradient_of(r) -> None:
    if r.kind != "gradient" or r.form != "gradient" or r.entry:
        what = {"along": "derivative along a flow", "hessian": "Hessian",
                "jacobian": "Jacobian", "laplacian": "Laplacian"}.get(r.kind, r.kind)
        raise TexgradError(f"a step of gradient descent needs the gradient of a scalar f, "
                           f"not its {what}", hint="drop --kind (and --along), or "
                                                   "differentiate a scalar function")


def step_expr(r):
    """(the updated variable as IR, the step size symbol)."""
    from . import construct as S
    from .factor import factor
    _gradient_of(r)
    x = r.symbols[r.wrt]
    mu = _step_size(r.symbols)
    return factor(S.add(x, S.neg(S.mul(mu, r.expr)))), mu


def step_latex(r) -> str:
    """``x \\leftarrow x - \\mu \\nabla f``, simplified, in the formula's notation
    (``r.style``)."""
    from .printer import latex
    new, _mu = step_expr(r)
    x = r.symbols[r.wrt]
    return f"{latex(x, r.style)} \\leftarrow {latex(new, r.style)}"


def step_code(r, target: str) -> str:
    """The generated module of ``f_and_grad`` with a ``step`` function after it."""
    import ast
    from .codegen import arguments, emit
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    _gradient_of(r)
    lib = target[:-len("-step")]
    source = emit(r, lib)
    named = arguments(r, lib)                   # the names emit gave, in its order
    args = [py for _name, py in named]
    var = dict(named)[r.wrt]
    mu = next(n for n, _t in STEP_LETTERS + (("step_size", ""),) if n not in args)
    sig = ", ".join(args + [mu])
    doc = f'One step of gradient descent on f: {var} <- {var} - {mu} * gradient.'
    if lib == "numpy":
        body = [f"_f, g = f_and_grad({', '.join(args)})", f"{var} -= {mu} * g"]
        doc += (f" {var} is updated in place (a float64 array, complex128 where complex) "
                "and returned.")
    elif lib == "torch":
        body = [f"_f, g = f_and_grad({', '.join(args)})", "with torch.no_grad():",
                f"    {var}.sub_({mu} * g)"]
        doc += f" {var} (a float64 tensor) is updated in place and returned."
    else:
        body = [f"_f, g = f_and_grad({', '.join(args)})", f"{var} = {var} - {mu} * g"]
        doc += " JAX arrays are immutable: the new value is returned."
    lines = ["", "", f"def step({sig}):", f'    """{doc}"""'] + [f"    {b}" for b in body]
    lines.append(f"    return {var}")
    out = source.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    ast.parse(out)                                # generated code always parses
    return out
