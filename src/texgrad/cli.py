"""The command line: ``texgrad EXPR --wrt VAR``.

Exit status: 0 the derivative was found (and verified, unless --no-verify), 1 the numeric
check failed, 2 bad input.  With EXPR absent or ``-`` the formula is read from standard input,
so an editor can pipe a selection through texgrad.  On success standard error stays empty.
"""

from __future__ import annotations

import sys

import click

from . import __version__
from .clickopts import (DIFF_HELP, Seed, TimeLimit, diff_options, formula_positions,
                        shape_options, valued_options)
from .clidiff import (check_message, emitted, one_line_comment, replacement, run_diff,
                      stamp_line, strict_json)
from .errors import TexgradError


STDIN_PROMPT = ("texgrad: reading a formula from standard input (Ctrl-D to end; "
                "texgrad --help for usage)")


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _read_stdin() -> str:
    """Standard input as text, at most the formula length limit: a longer input (an endless
    /dev/zero, a pasted file) is a limit error after reading 4 bytes a character plus one,
    never read whole."""
    from .errors import LimitError
    from .syntax import MAX_LENGTH
    if _stdin_is_terminal():
        click.echo(STDIN_PROMPT, err=True)
    too_long = LimitError(f"standard input holds more than {MAX_LENGTH:,} characters; the "
                          f"formula length limit is {MAX_LENGTH:,}",
                          hint="split it, or differentiate a part at a time")
    if hasattr(sys.stdin, "buffer"):
        cap = 4 * MAX_LENGTH + 1          # a UTF-8 character is at most 4 bytes
        data = sys.stdin.buffer.read(cap)
        if len(data) >= cap:
            head = data.decode("utf-8", "replace")
            raise too_long.at(head, min(MAX_LENGTH, len(head) - 1))
    else:
        data = sys.stdin.read(MAX_LENGTH + 1)
    if isinstance(data, str):
        if len(data) > MAX_LENGTH:
            raise too_long.at(data, MAX_LENGTH)
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
        click.echo(strict_json({"ok": False, "input": text, **err.to_dict()}))
    click.echo(err.render(), err=True)
    sys.exit(err.exit_code)


def _internal(exc: Exception, fmt: str, text: str | None) -> None:
    import os
    msg = f"internal error: {type(exc).__name__}: {exc}"
    if fmt == "json":
        click.echo(strict_json({"ok": False, "input": text, "error": msg, "kind": "internal"}))
    click.echo(f"texgrad: {msg}\nhint: this is a bug in texgrad; please report the formula "
               "(set TEXGRAD_DEBUG=1 for the traceback)", err=True)
    if os.environ.get("TEXGRAD_DEBUG"):
        raise exc
    sys.exit(3)


# subcommands that live in their own modules, imported only when used (start-up time)
LAZY = {"check": "texgrad.claims:check_command", "batch": "texgrad.batch:batch_command",
        "lsp": "texgrad.lsp:lsp_command", "serve": "texgrad.serve:serve_command"}


def _protect_formulas(args: list, valued: frozenset = frozenset()) -> list:
    """``texgrad '-y^T \\log p' --wrt p``: a formula that starts with a minus sign is not an
    option.  An argument starting with '-' that no option name could be (it holds ^, \\, a
    space, braces...) is moved after ``--``, where click reads it as the formula; the value
    of an option in ``valued`` (``--time-limit -0.5``) stays that option's."""
    if "--" in args:
        return args
    at = formula_positions(args, valued)
    if not at:
        return args
    return ([a for k, a in enumerate(args) if k not in at]
            + ["--", *(args[k] for k in sorted(at))])


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
            args = ["diff", *_protect_formulas(args[1:], valued_options(self.commands["diff"]))]
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
    texgrad lsp                   the language server, for an editor (stdio)
    texgrad serve                 the playground page, on http://127.0.0.1:8000/
    texgrad solve EXPR --wrt VAR  the stationary point in closed form
    """


@main.command("diff", help=DIFF_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("expr", required=False)
@diff_options
def diff(expr, wrt, shapes, assume, kind, layout, sym_conv, fmt, no_verify, no_stamp, seed,
         time_limit, emit, replace, along, let):
    # the help is clickopts.DIFF_HELP, which the notebook magics show as theirs
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    text = None
    try:
        text = _read_stdin() if expr in (None, "-") else expr
        r = run_diff(text, time_limit, wrt=wrt, shapes=shapes, assume=assume, kind=kind,
                     layout=layout, sym_conv=sym_conv, no_verify=no_verify, seed=seed,
                     along=along, let=let)
    except TexgradError as err:
        _fail(err, fmt, text)
        return
    except Exception as exc:  # a bug in texgrad: say so plainly, without a traceback
        _internal(exc, fmt, text)
        return
    failed = r.check is not None and not r.check.passed
    if emit:
        try:
            source = emitted(r, emit)
        except TexgradError as err:
            _fail(err, fmt, text)
            return
        click.echo(source.rstrip("\n"))
        if emit == "step":
            click.echo(stamp_line(r, "%"))
        else:
            from .codegen import comment_line
            click.echo(comment_line(stamp_line(r, "#")[2:]))  # one sanitiser for code
    elif fmt == "json":
        click.echo(strict_json(r.to_dict()))
    elif fmt == "text":
        click.echo(f"d/d{r.wrt} of {' '.join(text.split())}")
        click.echo(f"  = {r.latex}")
        click.echo(f"  terms: {r.terms}; {stamp_line(r, '%')[2:]}")
    else:
        out = replacement(text, r) if replace else r.latex
        click.echo(out, nl=not out.endswith("\n"))
        if not no_stamp or failed:
            click.echo(stamp_line(r, "%"))
    if failed:
        click.echo(check_message(r), err=True)
        sys.exit(1)


@main.command("solve", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("expr", required=False)
@click.option("--wrt", "-w", help="The variable, as written in the formula (X, '\\mathbf{x}').")
@shape_options
@click.option("--format", "-f", "fmt", type=click.Choice(["latex", "json"]), default="latex",
              show_default=True, help="Output format.")
@click.option("--no-verify", is_flag=True, help="Skip the numeric checks.")
@click.option("--seed", type=Seed(), default=0, show_default=True,
              help="Seed of the numeric checks' random draws.")
@click.option("--time-limit", type=TimeLimit(), default=60.0, show_default=True,
              metavar="SECONDS", help="Give up after this long (exit 2); 0 for no limit.")
@click.option("--let", "let", multiple=True, metavar="NAME=DEF",
              help="Name a subexpression, in the formula and in the answer (repeatable).")
def solve(expr, wrt, shapes, assume, fmt, no_verify, seed, time_limit, let):
    """The stationary point of EXPR in closed form: the condition grad f = 0 as
    texts print it (A^T A x = A^T b) and its solution (x = (A^T A)^{-1} A^T b),
    with what it assumes (A^T A invertible) and a check that the gradient
    vanishes there at random draws.  A gradient that is not affine in the
    variable gives the condition only, and says why.

    \b
    Exit status: 0 answered, 1 a numeric check failed, 2 bad input.
    """
    from .clidiff import run_selection
    from .options import parse_assume_specs, parse_shape_specs
    from .solve import solve as stationary
    text = None
    try:
        text = _read_stdin() if expr in (None, "-") else expr
        s = run_selection(text, time_limit, lambda formula: stationary(
            formula, wrt=wrt, shapes=parse_shape_specs(shapes),
            assume=parse_assume_specs(assume), seed=seed, verify=not no_verify, let=let))
    except TexgradError as err:
        _fail(err, fmt, text)
        return
    except Exception as exc:  # a bug in texgrad: said plainly
        _internal(exc, fmt, text)
        return
    g = s.gradient
    failed = s.verified is False or (g.check is not None and not g.check.passed)
    if fmt == "json":
        click.echo(strict_json({**s.to_dict(), "input": text}))
    else:
        click.echo(s.condition)
        if s.solution:
            click.echo(s.solution)
        notes = [s.stamp] if s.stamp else []
        if s.reason:
            notes.append(f"no closed-form solution: {s.reason}")
        if s.assumptions:
            notes.append("assumes " + ", ".join(s.assumptions))
        notes.append(f"the gradient {g.latex}: {stamp_line(g, '%')[2:]}")
        click.echo(one_line_comment("; ".join(notes), "%"))
    if failed:
        click.echo("texgrad: a numeric check FAILED: " + (s.stamp if s.verified is False
                                                          else check_message(g)), err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
