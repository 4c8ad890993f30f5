"""The click options every command shares, and the reading of a command line's words.

``shape_options`` (--shape, --assume: every command that reads formulas), ``problem_options``
(--wrt and --kind too: ``texgrad EXPR`` and ``texgrad batch``), ``diff_options`` (every option
of ``texgrad EXPR``, which the notebook magics read their line with) and its help
``DIFF_HELP``; the --seed and --time-limit types; which words of a command line are formulas
that start with '-' rather than options (``formula_positions``, ``valued_options``).
"""

from __future__ import annotations

import re

import click

FORMATS = ("latex", "text", "json")

MAX_TIME_LIMIT = 86_400.0        # seconds: one day
MAX_SEED_DIGITS = 40

# the help of ``texgrad EXPR`` (the diff command), which the notebook magics show as theirs
DIFF_HELP = """Differentiate a LaTeX matrix expression: texgrad EXPR --wrt VAR.

    EXPR may carry its own variable: '\\frac{\\partial}{\\partial X} \\operatorname{tr}(X^T A X)'
    or '\\nabla_{\\mathbf{x}} f'.  Without EXPR (or with -) the formula is read from stdin.
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


def diff_options(f):
    """Every option of ``texgrad EXPR`` (the diff command), in its order: what to
    differentiate, then how to write it; shared with the notebook magics."""
    f = click.option("--let", "let", multiple=True, metavar="NAME=DEF",
                     help="Name a subexpression, in the formula and in the answer: "
                          "'e = d - \\mathbf{w}^H\\mathbf{x}' (repeatable).")(f)
    f = click.option("--along", metavar="FLOW", default=None,
                     help="The derivative of f along a flow, <grad f, x'>: "
                          "'\\dot{\\mathbf{x}} = A\\mathbf{x}' (or the velocity alone).")(f)
    f = click.option("--replace", is_flag=True,
                     help="Print the selection followed by '= derivative', in its own "
                          "delimiters, to replace it.")(f)
    f = click.option("--emit", type=click.Choice(["numpy", "jax", "torch", "sympy", "step",
                                                  "numpy-step", "jax-step", "torch-step"]),
                     default=None,
                     help="Print a Python function returning f and its derivative instead; "
                          "step: one step of gradient descent in LaTeX; numpy-step, "
                          "jax-step, torch-step: f_and_grad and a function taking the "
                          "step.")(f)
    f = click.option("--time-limit", type=TimeLimit(), default=60.0, show_default=True,
                     metavar="SECONDS",
                     help="Give up on a formula after this long (exit 2); at most 86400, 0 for "
                          "no limit.")(f)
    f = click.option("--seed", type=Seed(), default=0, show_default=True,
                     help="Seed of the random draws of the numeric check (an integer, at most "
                          f"{MAX_SEED_DIGITS} digits).")(f)
    f = click.option("--no-stamp", is_flag=True,
                     help="Do not print the verification comment line.")(f)
    f = click.option("--no-verify", is_flag=True, help="Skip the numeric check.")(f)
    f = click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="latex",
                     show_default=True, help="Output format.")(f)
    f = click.option("--symmetric", "sym_conv", type=click.Choice(["G", "cookbook", "sym"]),
                     default="G", show_default=True,
                     help="Derivative by a symmetric matrix: G (unconstrained gradient), "
                          "cookbook (G + G^T - I o G, Cookbook sec. 2.8), sym ((G + G^T)/2).")(f)
    f = click.option("--layout", type=click.Choice(["numerator", "denominator", "mixed"]),
                     default="numerator", show_default=True,
                     help="Layout of vector-by-vector Jacobians (gradients keep the variable's "
                          "shape in every layout).")(f)
    return problem_options(f)


class TimeLimit(click.ParamType):
    """--time-limit: a finite number of seconds, 0 < S <= one day, or 0 for no limit."""
    name = "seconds"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = repr(value)
        else:
            text = str(value)
        import math
        try:
            seconds = float(text) if len(text) <= 40 else math.nan
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_TIME_LIMIT:
            shown = text if len(text) <= 40 else text[:40] + "..."
            self.fail(f"{shown!r}: give a number of seconds from 0 (no limit) to "
                      f"{MAX_TIME_LIMIT:,.0f} (one day)", param, ctx)
        return seconds


class Seed(click.ParamType):
    """--seed: an integer of at most MAX_SEED_DIGITS digits (any sign)."""
    name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            if len(str(abs(value))) <= MAX_SEED_DIGITS:
                return value
            text = "an integer"
        else:
            text = str(value)
        if re.fullmatch(r"[+-]?[0-9]{1,%d}" % MAX_SEED_DIGITS, text.strip()):
            return int(text.strip())
        shown = text if len(text) <= 40 else text[:40] + "..."
        self.fail(f"{shown!r}: give an integer of at most {MAX_SEED_DIGITS} digits", param, ctx)


_OPTION_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def formula_positions(args: list, valued: frozenset = frozenset()) -> set:
    """The positions of the words in ``args`` that start with '-' but are formulas: no option
    name could be them (they hold ^, \\, a space, braces...) and they are not the value of an
    option in ``valued``."""
    at, after_option = set(), False
    for k, a in enumerate(args):
        if not after_option and a.startswith("-") and len(a) > 1 \
                and not set(a.split("=", 1)[0]) <= _OPTION_CHARS:
            at.add(k)
        after_option = not after_option and a in valued
    return at


def valued_options(command: click.Command) -> frozenset:
    """The option names of ``command`` that take a value."""
    return frozenset(n for p in command.params if isinstance(p, click.Option) and not p.is_flag
                     for n in (*p.opts, *p.secondary_opts))
