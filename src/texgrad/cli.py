"""The command line: ``texgrad EXPR --wrt VAR``.

Exit status: 0 the derivative was found (and verified, unless --no-verify), 1 the numeric
check failed, 2 bad input.  With EXPR absent or ``-`` the formula is read from standard input,
so an editor can pipe a selection through texgrad.  On success standard error stays empty.
"""

from __future__ import annotations

import json
import sys

import click

from . import __version__
from .errors import TexgradError
from .limits import time_limited
from .options import parse_assume_specs, parse_shape_specs

FORMATS = ("latex", "text", "json")


def _read_stdin() -> str:
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TexgradError(f"standard input is not UTF-8 text (byte {e.start} is "
                           f"0x{data[e.start]:02x})",
                           hint="texgrad reads a LaTeX formula as text") from None


def _fail(err: TexgradError, fmt: str, text: str | None) -> None:
    if err.source is None and text is not None and err.line is not None:
        err.source = text
    if fmt == "json":
        click.echo(json.dumps({"ok": False, "input": text, **err.to_dict()}))
    click.echo(err.render(), err=True)
    sys.exit(err.exit_code)


def _replacement(text: str, r) -> str:
    """The selection as an equation: the request (written out when the selection is only
    the function) followed by '= derivative'."""
    from .api import has_request
    body = text.strip()
    if has_request(body):
        return f"{body} = {r.latex}"
    var = r.symbols[r.wrt].latex or r.wrt
    op = {"hessian": f"\\frac{{\\partial^2}}{{\\partial {var}\\,\\partial {var}^\\top}}",
          "laplacian": "\\nabla^2"}.get(r.kind, f"\\frac{{\\partial}}{{\\partial {var}}}")
    return f"{op} \\left({body}\\right) = {r.latex}"


def _internal(exc: Exception, fmt: str, text: str | None) -> None:
    import os
    msg = f"internal error: {type(exc).__name__}: {exc}"
    if fmt == "json":
        click.echo(json.dumps({"ok": False, "input": text, "error": msg, "kind": "internal"}))
    click.echo(f"texgrad: {msg}\nhint: this is a bug in texgrad; please report the formula "
               "(set TEXGRAD_DEBUG=1 for the traceback)", err=True)
    if os.environ.get("TEXGRAD_DEBUG"):
        raise exc
    sys.exit(3)


# subcommands that live in their own modules, imported only when used (start-up time)
LAZY = {"check": "texgrad.claims:check_command", "batch": "texgrad.batch:batch_command"}


_OPTION_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _protect_formulas(args: list) -> list:
    """``texgrad '-y^T \\log p' --wrt p``: a formula that starts with a minus sign is not an
    option.  An argument starting with '-' that no option name could be (it holds ^, \\, a
    space, braces...) is moved after ``--``, where click reads it as the formula."""
    if "--" in args:
        return args
    formulas = [a for a in args if a.startswith("-") and len(a) > 1
                and not set(a.split("=", 1)[0]) <= _OPTION_CHARS]
    if not formulas:
        return args
    return [a for a in args if a not in formulas] + ["--", *formulas]


class DefaultGroup(click.Group):
    """``texgrad EXPR ...`` runs the ``diff`` command; ``texgrad check ...`` and the other
    subcommands are named."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY))

    def get_command(self, ctx, name):
        if name in LAZY and name not in self.commands:
            import importlib
            mod, attr = LAZY[name].split(":")
            try:
                return getattr(importlib.import_module(mod), attr)
            except (ImportError, AttributeError):
                return None
        return super().get_command(ctx, name)

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in LAZY and
                        args[0] not in ("-h", "--help", "-V", "--version")):
            args = ["diff", *args]
        if args[0] == "diff":
            args = ["diff", *_protect_formulas(args[1:])]
        return super().parse_args(ctx, args)

    def format_help(self, ctx, formatter):
        super().format_help(ctx, formatter)
        diff = self.commands["diff"]
        with click.Context(diff, info_name="diff", parent=ctx) as sub:
            rows = [r for r in (p.get_help_record(sub) for p in diff.get_params(sub)) if r]
        with formatter.section("Options of `texgrad EXPR` (the diff command)"):
            formatter.write_dl(rows)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="texgrad")
def main():
    """texgrad: LaTeX in, derivative out, verified numerically.

    \b
    texgrad EXPR --wrt VAR        differentiate (the default command, `diff`)
    texgrad check FILE...         verify the derivative claims printed in a paper
    texgrad batch IN -o OUT       differentiate many records
    """


def shape_options(f):
    """--shape and --assume, shared by the commands that read formulas."""
    f = click.option("--assume", "-a", "assume", multiple=True, metavar="NAME=PROP",
                     help="symmetric, spd, invertible, positive, orthogonal, diagonal, "
                          "complex.")(f)
    return click.option("--shape", "-s", "shapes", multiple=True, metavar="NAME=DIMS",
                        help="Declare a shape: X=m,n (matrix), x=n (vector), a= (scalar).")(f)


def problem_options(f):
    """--wrt, --shape, --assume, --kind: what to differentiate (diff and batch)."""
    f = click.option("--kind", type=click.Choice(["gradient", "jacobian", "hessian",
                                                  "laplacian", "derivative"]), default=None,
                     help="What to compute (default: inferred; gradient of a scalar).")(f)
    f = shape_options(f)
    return click.option("--wrt", "-w",
                        help="The variable, as written in the formula (X, '\\mathbf{x}').")(f)


@main.command("diff", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("expr", required=False)
@problem_options
@click.option("--layout", type=click.Choice(["numerator", "denominator", "mixed"]),
              default="numerator", show_default=True,
              help="Layout of vector-by-vector Jacobians (gradients keep the variable's "
                   "shape in every layout).")
@click.option("--symmetric", "sym_conv", type=click.Choice(["G", "cookbook", "sym"]),
              default="G", show_default=True,
              help="Derivative by a symmetric matrix: G (unconstrained gradient), cookbook "
                   "(G + G^T - I o G, Cookbook sec. 2.8), sym ((G + G^T)/2).")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="latex",
              show_default=True, help="Output format.")
@click.option("--no-verify", is_flag=True, help="Skip the numeric check.")
@click.option("--no-stamp", is_flag=True, help="Do not print the verification comment line.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random draws of the numeric check.")
@click.option("--time-limit", type=float, default=60.0, show_default=True, metavar="SECONDS",
              help="Give up on a formula after this long (exit 2).")
@click.option("--emit", type=click.Choice(["numpy", "jax", "torch", "sympy"]), default=None,
              help="Print a Python function returning f and its derivative instead.")
@click.option("--replace", is_flag=True,
              help="Print the request followed by '= derivative', to replace a selection.")
def diff(expr, wrt, shapes, assume, kind, layout, sym_conv, fmt, no_verify, no_stamp, seed,
         time_limit, emit, replace):
    """Differentiate a LaTeX matrix expression: texgrad EXPR --wrt VAR.

    EXPR may carry its own variable: '\\frac{\\partial}{\\partial X} \\operatorname{tr}(X^T A X)'
    or '\\nabla_{\\mathbf{x}} f'.  Without EXPR (or with -) the formula is read from stdin.
    """
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    text = None
    try:
        text = _read_stdin() if expr in (None, "-") else expr
        from .api import differentiate
        with time_limited(time_limit):
            r = differentiate(text, wrt=wrt, shapes=parse_shape_specs(shapes),
                              assume=parse_assume_specs(assume), kind=kind, layout=layout,
                              symmetric=sym_conv, verify=not no_verify, seed=seed)
    except TexgradError as err:
        _fail(err, fmt, text)
        return
    except RecursionError:
        _fail(TexgradError("the formula is nested too deeply", hint="simplify it or split it"),
              fmt, text)
        return
    except Exception as exc:  # a bug in texgrad: say so plainly, without a traceback
        _internal(exc, fmt, text)
        return
    failed = r.check is not None and not r.check.passed
    if emit:
        from .codegen import emit as generate
        try:
            source = generate(r, emit)
        except NotImplementedError as exc:
            _fail(TexgradError(f"--emit {emit}: {exc}", hint="print the LaTeX instead"),
                  fmt, text)
            return
        click.echo(source.rstrip("\n"))
        click.echo("# " + r.stamp.lstrip("% "))
    elif fmt == "json":
        click.echo(json.dumps(r.to_dict(), default=str))
    elif fmt == "text":
        click.echo(f"d/d{r.wrt} of {' '.join(text.split())}")
        click.echo(f"  = {r.latex}")
        click.echo(f"  terms: {r.terms}; {r.stamp.lstrip('% ')}")
    else:
        click.echo(_replacement(text, r) if replace else r.latex)
        if not no_stamp or failed:
            click.echo(r.stamp)
    if failed:
        click.echo(f"texgrad: the numeric check FAILED for d/d{r.wrt}: {r.stamp.lstrip('% ')}",
                   err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
