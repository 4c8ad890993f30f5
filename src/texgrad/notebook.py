"""Jupyter: rich display of results and the ``%texgrad`` / ``%%texgrad`` magics.

``%load_ext texgrad`` registers::

    %texgrad \\mathbf{x}^\\top B\\mathbf{x} --wrt \\mathbf{x}      # a line: the formula and options
    %%texgrad --wrt X --assume X=spd                          # a cell: options on the first line,
    \\log\\det X                                               # the formula in the body

Each returns the :class:`texgrad.Result`, which Jupyter shows as typeset LaTeX with its
verification stamp.  The line is read by the command line's own options (those of
``texgrad EXPR``: ``--wrt``, ``--shape``, ``--assume``, ``--kind``, ``--layout``,
``--symmetric``, ``--no-verify``, ``--seed``, ``--time-limit``; ``--emit``, ``--format
json|text`` and ``--replace`` print instead of returning), and IPython does not expand
``{...}`` or ``$name`` in it: the line is LaTeX, not Python.  A bad formula or option prints
its message (with the caret, as the command line does) and returns None, never a traceback.
"""

from __future__ import annotations

import sys

USAGE = ("usage: %texgrad FORMULA [--wrt VAR] [options], or %%texgrad [options] with the "
         "formula in the cell; %texgrad --help lists the options")


def _tokens(line: str) -> list[tuple[str, int, int]]:
    """Split a magic line into words (value, start, end), keeping backslashes: a word is a
    run of non-blank characters, or quoted whole ('...' or "..." followed by a blank or the
    end), whose quotes are dropped.  A quote inside a word is the word's (x' is a transpose)."""
    out = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        if line[i] in "'\"":
            j = line.find(line[i], i + 1)
            if j != -1 and (j + 1 == n or line[j + 1].isspace()):
                out.append((line[i + 1:j], i + 1, j))
                i = j + 1
                continue
        j = i
        while j < n and not line[j].isspace():
            j += 1
        out.append((line[i:j], i, j))
        i = j
    return out


def _formula_text(line: str, words, formula: tuple) -> str:
    """The formula as the user typed it (its spacing kept) when its words are adjacent and
    unquoted in the line; else the words joined by spaces."""
    if len(formula) == 1:
        return formula[0]
    taken, at = [], 0
    for w in formula:
        k = next((k for k in range(at, len(words)) if words[k][0] == w), None)
        if k is None:
            return " ".join(formula)
        taken.append(k)
        at = k + 1
    quoted = any(words[k][1] > 0 and line[words[k][1] - 1] in "'\"" for k in taken)
    if taken and taken == list(range(taken[0], taken[-1] + 1)) and not quoted:
        return line[words[taken[0]][1]:words[taken[-1]][2]]
    return " ".join(formula)


_COMMAND = None


def magic_command():
    """The magic's click command: the options of ``texgrad EXPR`` (the diff command), with
    the formula as the remaining words."""
    global _COMMAND
    if _COMMAND is None:
        import click
        from .clickopts import DIFF_HELP, diff_options

        @click.command("%texgrad", help=DIFF_HELP,
                       context_settings={"help_option_names": ["-h", "--help"]})
        @diff_options
        @click.argument("formula", nargs=-1)
        def command(**_params):     # never invoked: the magic reads its line with make_context
            pass
        _COMMAND = command
    return _COMMAND


def _parse_line(line: str):
    """The line's option values (a dict, the formula words under "formula") and its words
    with their spans, or None after printing a usage error (or the help)."""
    import click
    from .clickopts import formula_positions, valued_options
    cmd = magic_command()
    words = _tokens(line)
    # a formula word starting with '-' (-x^\top A x) is not an option: it is passed to click
    # as a stand-in that cannot be one, in its place, and put back afterwards
    at = formula_positions([w for w, _, _ in words], valued_options(cmd))
    args = [f"\x00{k}" if k in at else w for k, (w, _, _) in enumerate(words)]
    try:
        ctx = cmd.make_context("%texgrad", args)
    except click.exceptions.Exit:          # --help: click printed it
        return None
    except click.ClickException as e:
        print(f"usage error: {e.format_message()}\n{USAGE}", file=sys.stderr)
        return None
    params = dict(ctx.params)
    params["formula"] = tuple(words[int(w[1:])][0] if w.startswith("\x00") else w
                              for w in params["formula"])
    return params, words


def texgrad_magic(line: str, cell: str | None = None):
    """``%texgrad FORMULA [options]`` or ``%%texgrad [options]`` with the formula below."""
    from .errors import TexgradError
    text = None
    try:
        parsed = _parse_line(line)
        if parsed is None:
            return None
        params, words = parsed
        formula = params.pop("formula")
        if cell is not None:
            if formula:
                print(f"usage error: %%texgrad takes options on its first line and the "
                      f"formula in the cell; the line also has {' '.join(formula)!r}\n{USAGE}",
                      file=sys.stderr)
                return None
            text = cell
        else:
            text = _formula_text(line, words, formula)
        return _run(text, params)
    except TexgradError as err:
        if err.source is None and text is not None and err.line is not None:
            err.source = text
        print(err.render(), file=sys.stderr)
        return None
    except Exception as exc:               # a bug in texgrad: say so, without a traceback
        import os
        print(f"texgrad: internal error: {type(exc).__name__}: {exc}\nhint: this is a bug in "
              "texgrad; please report the formula (set TEXGRAD_DEBUG=1 for the traceback)",
              file=sys.stderr)
        if os.environ.get("TEXGRAD_DEBUG"):
            raise
        return None


def _run(text: str, params: dict):
    """Differentiate as ``texgrad EXPR`` does; the Result, or None when it printed instead."""
    from .clidiff import replacement, check_message, run_diff, stamp_line, strict_json
    r = run_diff(text, params.pop("time_limit"), **params)
    failed = r.check is not None and not r.check.passed
    if failed:
        print(check_message(r), file=sys.stderr)
    for w in getattr(r, "warnings", None) or ():
        print(f"texgrad: warning: {w}", file=sys.stderr)
    emit, fmt = params.get("emit"), params.get("fmt", "latex")
    if emit:
        from .clidiff import emitted
        source = emitted(r, emit)
        print(source.rstrip("\n"))
        print(stamp_line(r, "%" if emit == "step" else "#"))
        return None
    if fmt == "json":
        print(strict_json(r.to_dict()))
        return None
    if fmt == "text":
        print(f"d/d{r.wrt} of {' '.join(text.split())}")
        print(f"  = {r.latex}")
        print(f"  terms: {r.terms}; {stamp_line(r, '%')[2:]}")
        return None
    if params.get("replace"):
        out = replacement(text, r)
        if not params.get("no_stamp"):
            out = f"{out.rstrip()}\n{stamp_line(r, '%')}"
        print(out.rstrip("\n"))
        return None
    return r


def load_ipython_extension(ipython) -> None:
    """Called by ``%load_ext texgrad``.  The magic opts out of IPython's expansion of
    ``{...}`` and ``$name``: its line is LaTeX."""
    try:
        from IPython.core.magic import no_var_expand
    except ImportError:                    # IPython < 7.3 or a stand-in shell
        texgrad_magic._ipython_no_var_expand = True
    else:
        no_var_expand(texgrad_magic)
    ipython.register_magic_function(texgrad_magic, magic_kind="line_cell",
                                    magic_name="texgrad")
