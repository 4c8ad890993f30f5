"""The command line: ``texgrad EXPR --wrt VAR``.

Exit status: 0 the derivative was found (and verified, unless --no-verify), 1 the numeric
check failed, 2 bad input.  With EXPR absent or ``-`` the formula is read from standard input,
so an editor can pipe a selection through texgrad.  On success standard error stays empty.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, replace

import click

from . import __version__
from .errors import TexgradError
from .limits import time_limited
from .options import parse_assume_specs, parse_shape_specs

FORMATS = ("latex", "text", "json")


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
    from .parse import MAX_LENGTH
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


# math delimiters a selection may carry, outermost first; an environment is matched by name
_OPENERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_ENVIRONMENTS = ("equation", "equation*", "displaymath", "math", "gather", "gather*",
                 "multline", "multline*")
_ENV_OPEN = re.compile(r"\\begin\{(" + "|".join(re.escape(e) for e in _ENVIRONMENTS)
                       + r")\}")
_PUNCT = ".,;"


@dataclass
class Selection:
    """A selection cut into what surrounds the formula and the formula itself:
    ``lead + opener + pre + core + punct + post + closer + trail == text`` (lead and trail
    whitespace and the punctuation of the sentence outside the delimiters; pre and post the
    whitespace inside them, punct a ``.``/``,`` that ends the formula)."""
    lead: str
    opener: str
    pre: str
    core: str
    punct: str
    post: str
    closer: str
    trail: str

    @property
    def display(self) -> bool:
        return self.opener not in ("$", "\\(") and not self.opener.startswith("\\begin{math}")

    def padded(self) -> str:
        """The text with delimiters and punctuation blanked: the formula at its own offsets
        (lines and columns of errors are the user's), newlines kept."""
        def blank(part: str) -> str:
            return re.sub(r"[^\n]", " ", part)
        return (self.lead + blank(self.opener) + self.pre + self.core + blank(self.punct)
                + self.post + blank(self.closer) + blank(self.trail))

    def rebuild(self, core: str) -> str:
        return (self.lead + self.opener + self.pre + core + self.punct + self.post
                + self.closer + self.trail)


def split_selection(text: str) -> Selection:
    """Find the user's delimiters (``$...$``, ``$$...$$``, ``\\[...\\]``, ``\\(...\\)``,
    ``\\begin{equation}...\\end{equation}`` and the like), the whitespace around and inside
    them and a trailing ``.``/``,``/``;`` (inside or after the closing delimiter)."""
    body = text.strip()
    i = text.index(body) if body else len(text)
    lead, rest, trail = text[:i], body, text[i + len(body):]
    after = ""
    if rest and rest[-1] in _PUNCT and rest[:-1].rstrip().endswith(("$", "\\]", "\\)", "}")):
        stripped = rest[:-1].rstrip()      # '$x^2$.': the sentence's full stop
        after, rest = rest[len(stripped):], stripped
    opener = closer = ""
    m = _ENV_OPEN.match(rest)
    if m and rest.endswith(f"\\end{{{m.group(1)}}}"):
        opener, closer = m.group(0), f"\\end{{{m.group(1)}}}"
    else:
        for lo, hi in _OPENERS:
            if rest.startswith(lo) and rest.endswith(hi) and len(rest) >= len(lo) + len(hi):
                inner = rest[len(lo):len(rest) - len(hi)]
                if lo == "$" and "$" in inner:
                    continue               # '$a$ and $b$': two formulas, not one
                opener, closer = lo, hi
                break
    if not opener and after:               # not delimited after all: the stop is ours
        rest, after = rest + after, ""
    inner = rest[len(opener):len(rest) - len(closer)]
    core = inner.strip()
    j = inner.index(core) if core else len(inner)
    pre, post = inner[:j], inner[j + len(core):]
    punct = ""
    if core and core[-1] in _PUNCT and not core.endswith(("\\,", "\\;")):
        stripped = core[:-1].rstrip()      # '\[ x^2. \]': the stop inside the display
        punct, core = core[len(stripped):], stripped
    return Selection(lead, opener, pre, core, punct, post, closer, after + trail)


def _label(core: str):
    """``f(x) = <expr>``: (the left side, the name f) when the differentiated function is the
    right side of one '=' and the left side names it; else None."""
    from .request import split_request
    from .parse import parse
    try:
        ast = parse(core)
        req = split_request(ast, core)
    except TexgradError:
        return None
    if ast.op != "chain" or len(ast.args) != 2:
        return None
    left, right = ast.args
    if not (right.start <= req.f.start and req.f.end <= right.end):
        return None
    lhs = core[left.start:left.end].strip()
    m = re.fullmatch(r"(.+?)\s*(?:\\left\s*)?\((?:.*)\)", lhs, re.S)
    name = m.group(1).strip() if m and m.group(1).strip() else lhs
    return lhs, name


def _operator(r, name: str | None = None) -> str:
    """The derivative as a textbook writes it: d f / d x, the Hessian and Laplacian."""
    var = r.symbols[r.wrt].latex if r.wrt in r.symbols and r.symbols[r.wrt].latex else r.wrt
    f = f" {name}" if name else ""
    if r.kind == "hessian":
        return f"\\frac{{\\partial^2{f}}}{{\\partial {var}\\,\\partial {var}^\\top}}"
    if r.kind == "laplacian":
        return f"\\nabla^2{f}" if name else "\\nabla^2"
    return f"\\frac{{\\partial{f}}}{{\\partial {var}}}"


def replacement(text: str, r) -> str:
    """The selection with the derivative added, in the user's delimiters, indentation and
    punctuation: a request gets '= derivative'; a definition f(x) = ... gets
    ', \\quad \\frac{\\partial f}{\\partial x} = derivative'; a bare function is written out
    as the request."""
    from .request import has_request
    sel = split_selection(text)
    core = sel.core
    if "\n" in core:
        last = core.rsplit("\n", 1)[1]
        sep = "\n" + last[:len(last) - len(last.lstrip())]
    else:
        sep = " "
    if has_request(core):
        new = f"{core}{sep}= {r.latex}"
    else:
        label = _label(core)
        if label is not None:
            new = f"{core},{sep}\\quad {_operator(r, label[1])} = {r.latex}"
        elif "=" in core:
            new = f"{core},{sep}\\quad {_operator(r)} = {r.latex}"
        else:
            new = f"{_operator(r)} \\left({core}\\right){sep}= {r.latex}"
    return sel.rebuild(new)


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
LAZY = {"check": "texgrad.claims:check_command", "batch": "texgrad.batch:batch_command"}


_OPTION_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


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


MAX_TIME_LIMIT = 86_400.0        # seconds: one day
MAX_SEED_DIGITS = 40


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


def problem_kwargs(wrt=None, shapes=(), assume=(), kind=None, layout="numerator",
                   sym_conv="G", no_verify=False, seed=0, **_presentation) -> dict:
    """The diff command's option values as differentiate() keyword arguments (shared with
    the notebook magics, which parse their line with this command's options).  Raises
    TexgradError for a bad --shape or --assume."""
    return dict(wrt=wrt, shapes=parse_shape_specs(shapes), assume=parse_assume_specs(assume),
                kind=kind, layout=layout, symmetric=sym_conv, verify=not no_verify,
                seed=seed)


def one_line_comment(stamp: str, mark: str = "#") -> str:
    """The stamp as one comment line: every control character and line or paragraph
    separator (a newline in a dimension name...) becomes a space, so nothing after it can
    leave the comment."""
    import unicodedata
    body = stamp.lstrip("%# ")
    body = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in body)
    return f"{mark} {body}"


def stamp_line(r, mark: str = "%") -> str:
    """The Result's stamp as one comment line, with any warning the Result carries (a
    --shape or --assume name the formula does not have) that the stamp does not already say."""
    stamp = r.stamp
    extra = [str(w) for w in (getattr(r, "warnings", None) or ()) if str(w) not in stamp]
    if extra:
        stamp = stamp.rstrip() + "; " + "; ".join(f"warning: {w}" for w in extra)
    return one_line_comment(stamp, mark)


def strict_json(obj) -> str:
    """Strict JSON (RFC 8259): NaN and infinities, which JSON has no word for, become null."""
    import math

    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if type(o).__module__ == "numpy" and hasattr(o, "item"):
            return clean(o.item())
        return o
    return json.dumps(clean(obj), default=str, allow_nan=False)


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
@click.option("--seed", type=Seed(), default=0, show_default=True,
              help="Seed of the random draws of the numeric check (an integer, at most "
                   f"{MAX_SEED_DIGITS} digits).")
@click.option("--time-limit", type=TimeLimit(), default=60.0, show_default=True,
              metavar="SECONDS",
              help="Give up on a formula after this long (exit 2); at most 86400, 0 for no "
                   "limit.")
@click.option("--emit", type=click.Choice(["numpy", "jax", "torch", "sympy"]), default=None,
              help="Print a Python function returning f and its derivative instead.")
@click.option("--replace", is_flag=True,
              help="Print the selection followed by '= derivative', in its own delimiters, "
                   "to replace it.")
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
        r = run_diff(text, time_limit, wrt=wrt, shapes=shapes, assume=assume, kind=kind,
                     layout=layout, sym_conv=sym_conv, no_verify=no_verify, seed=seed)
    except TexgradError as err:
        _fail(err, fmt, text)
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
        from .codegen import comment_line
        click.echo(comment_line(stamp_line(r, "#")[2:]))     # one sanitiser for generated code
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


def check_message(r) -> str:
    """The stderr line for a derivative that is not verified: FAILED (a disagreement) or
    could not be verified (nothing informative to compare), both exit status 1."""
    if r.check.status == "not verified":
        return (f"texgrad: the derivative d/d{r.wrt} could not be verified: "
                f"{one_line_comment(r.check.reason, '')[1:]}")
    return f"texgrad: the numeric check FAILED for d/d{r.wrt}: {stamp_line(r, '%')[2:]}"


def run_diff(text: str, time_limit: float, **options):
    """Differentiate ``text`` (a selection: its delimiters, punctuation and whitespace are
    the user's and are set aside) with the diff command's option values, under the time
    limit.  Errors point into ``text``."""
    from .api import differentiate
    padded = split_selection(text).padded()
    try:
        with time_limited(time_limit):
            r = differentiate(padded, **problem_kwargs(**options))
        return replace(r, input=text)
    except RecursionError:
        raise TexgradError("the formula is nested too deeply",
                           hint="simplify it or split it") from None
    except TexgradError as err:
        if err.source == padded:
            err.source = text
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
