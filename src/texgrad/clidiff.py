"""What ``texgrad EXPR`` does with a formula, shared by the command line and the notebook.

A selection is cut from its delimiters, punctuation and whitespace (``split_selection``),
differentiated under the time limit with the diff command's option values (``run_diff``),
and written back as its replacement (``replacement``: the user's delimiters, the derivative
added); the stamp as one comment line (``stamp_line``), the line of a derivative that is not
verified (``check_message``) and strict JSON (``strict_json``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import NamedTuple

from .errors import TexgradError
from .limits import time_limited
from .options import parse_assume_specs, parse_shape_specs

# math delimiters a selection may carry, outermost first; an environment is matched by name
_OPENERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_ENVIRONMENTS = ("equation", "equation*", "displaymath", "math", "gather", "gather*",
                 "multline", "multline*")
_ENV_OPEN = re.compile(r"\\begin\{(" + "|".join(re.escape(e) for e in _ENVIRONMENTS)
                       + r")\}")
_PUNCT = ".,;"


class Selection(NamedTuple):
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
    if r.kind == "along":          # \dot V for a named function, as texts write it
        return f"\\dot{{{name}}}" if name else "\\frac{d}{dt}"
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


def problem_kwargs(wrt=None, shapes=(), assume=(), kind=None, layout="numerator",
                   sym_conv="G", no_verify=False, seed=0, along=None, let=(),
                   **_presentation) -> dict:
    """The diff command's option values as differentiate() keyword arguments (shared with
    the notebook magics, which parse their line with this command's options).  Raises
    TexgradError for a bad --shape or --assume."""
    return dict(wrt=wrt, shapes=parse_shape_specs(shapes), assume=parse_assume_specs(assume),
                kind=kind, layout=layout, symmetric=sym_conv, verify=not no_verify,
                seed=seed, along=along, let=tuple(let or ()))


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
    import json                         # only for --format json: off the start-up path
    return json.dumps(clean(obj), default=str, allow_nan=False)


def emitted(r, target: str) -> str:
    """What ``--emit TARGET`` prints before its stamp line: generated code (``numpy``...),
    a step of gradient descent in LaTeX (``step``) or as code (``numpy-step``...).  Raises
    TexgradError where the target has nothing for this derivative."""
    try:
        if target == "step":
            from .steps import step_latex
            return step_latex(r)
        if target.endswith("-step"):
            from .steps import step_code
            return step_code(r, target)
        from .codegen import emit
        return emit(r, target)
    except NotImplementedError as exc:
        raise TexgradError(f"--emit {target}: {exc}", hint="print the LaTeX instead") from None


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
    r = run_selection(text, time_limit,
                      lambda formula: differentiate(formula, **problem_kwargs(**options)))
    return replace(r, input=text)


def run_selection(text: str, time_limit: float, fn):
    """``fn(formula)`` on the formula of a selection (its delimiters and punctuation blanked,
    so lines and columns are the user's), under the time limit; errors point into
    ``text``.  Shared by ``texgrad EXPR`` and ``texgrad solve``."""
    padded = split_selection(text).padded()
    try:
        with time_limited(time_limit):
            return fn(padded)
    except RecursionError:
        raise TexgradError("the formula is nested too deeply",
                           hint="simplify it or split it") from None
    except TexgradError as err:
        if err.source == padded:
            err.source = text
        raise
