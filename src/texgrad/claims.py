"""Checking papers: find the derivative claims a text prints and verify each.

``texgrad check paper.tex`` reads .tex, .md and .txt files (``-`` for stdin; at most 50 MB of
UTF-8), finds the math (``equation``/``align``/``gather`` environments, ``$$ $$``,
``\\[ \\]``, ``$ $``, ``\\( \\)``; ``&``, ``\\\\``, ``\\label``, ``\\tag``, ``\\nonumber``
handled) and in it every claim ``\\frac{\\partial f}{\\partial X} = G`` (or another request
form: ``\\nabla_X f``, ``\\frac{\\partial}{\\partial X}(...)``, ``\\frac{d}{dt}``; chains
``= G_1 = G_2``, every member of which must be right).  A claim may name a function defined
in another display (``f(W) = \\|XW - Y\\|_F^2``).  Shapes and assumptions come from the text
where it states them (``X \\in \\mathbb{R}^{m \\times n}``, "``W`` symmetric", "Let ``A`` be a
symmetric matrix", ``\\succ 0``) and from ``--shape``/``--assume``.

How a claim is decided.  texgrad differentiates the left side (its derivative is itself
verified against finite differences; a claim whose derivative texgrad cannot verify is
skipped).  A member of the chain that is itself a derivative request
(``= \\nabla_x(x^T x)``, ``= \\frac{\\partial}{\\partial y} 2x``) is differentiated too, never
read as its operand.  Both closed forms are then evaluated exactly (no finite differences)
at random points:

- **sizes**: at least two size sets (the sizes where texgrad's own check found f defined,
  then every dimension raised by 2 and by 4: all distinct, none left at 3), so an answer
  right only for 3x3 matrices is caught;
- **points**: drawn honouring the assumptions; a point where texgrad's derivative or f is not
  finite, or a matrix it inverts is near-singular, is redrawn (positive entries, spd
  matrices); a point where both sides are 0 or below 1e-250 proves nothing and is redrawn at
  rescaled points (x/10 ... x/10^4, 10x, 100x);
- **tolerance**: the relative distance ``||G - P|| / max(||G||, ||P||)`` must be at most
  ``1e-9`` at every point compared, a bound raised only where the evaluation itself is that
  sensitive to rounding: to 100 times the relative change of either side when every input is
  perturbed by 16 units in the last place.  So a factor ``1 + 1e-6`` (or ``1 + 1e-7``) is
  ``wrong``;
- **verdict**: ``ok`` needs at least 3 points compared at 2 or more size sets; a single
  point where the two differ makes the claim ``wrong``; otherwise the claim is ``skipped``,
  "not verified", with the reason (the printed answer is not finite wherever the derivative
  is, both sides vanish, ...).

Conventions: the gradient has the shape of its variable (the README's layouts), whatever the
shapes, so a transposed answer (``b a^T`` for ``d a^T X b / dX``) is ``wrong`` with the reason
"printed transposed (the other layout)", for square and non-square X alike; a request
``\\partial f / \\partial \\mathbf{x}^T`` asks for the row.  By a symmetric matrix,
``--symmetric G|sym|cookbook`` (API: ``symmetric=``) chooses texgrad's answer, and a printed
answer matching another of these documented conventions is ``ok`` with the convention named.
For a complex variable an answer matching the Wirtinger ``df/dx`` (half the conjugate of
texgrad's complex gradient) is ``wrong`` with a hint that the convention differs.

Limits: each claim has a time limit (20 s by default, ``--time-limit``); a claim over it, or
one that fails in any other way, is ``skipped`` with the reason and the run goes on.  The
report reads like a compiler's:
``paper.tex:142:5: wrong: df/dW is 2X^{T}(XW - Y), the text prints X^T(XW-Y)``.
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings
from dataclasses import asdict, dataclass, field

import click

from .cli import shape_options
from .errors import LimitError, TexgradError

CLAIM_TIME_LIMIT = 20.0            # seconds per claim
MAX_BYTES = 50 * 1024 * 1024       # the most `texgrad check` reads of one file
REL_TOL = 1e-9                     # the claim comparison's relative tolerance (see above)
ROUNDING_FACTOR = 100.0            # x the observed sensitivity to rounding
MIN_COMPARED = 3                   # points needed for `ok`
MIN_SIZE_SETS = 2                  # ... at this many size sets
TINY = 1e-250                      # both sides below it: the point proves nothing
SCALES = (0.1, 0.01, 1e-3, 1e-4, 10.0, 100.0)

# ------------------------------------------------------------------ finding the math

_ENV_OPEN = re.compile(r"\\begin\{(equation|align|gather|multline|eqnarray|displaymath|flalign|"
                       r"alignat|split|dmath)(\*?)\}(?:\{\d+\})?")
_DISPLAY_OPEN = re.compile(r"\$\$|\\\[|\\\(")
_DISPLAY_CLOSE = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$", re.S)
_MASK = re.compile(r"\\(label|tag\*?|eqref|ref)\s*\{[^{}]*\}|\\(nonumber|notag|quad|qquad)"
                   r"(?![a-zA-Z])|&|\\displaystyle|\\textstyle")
_COMMENT = re.compile(r"(?<!\\)%.*")
_LINEBREAK = re.compile(r"(\\\\(?:\[[^\]\n]{0,40}\])?)")


@dataclass
class Piece:
    """A formula of the text with its place: ``offset`` into the file's text."""
    text: str
    offset: int


@dataclass
class ClaimResult:
    verdict: bool | None          # True: right; False: wrong; None: could not decide
    derivative_latex: str | None  # texgrad's derivative (verified) where it has one
    max_rel_error: float | None   # how far the printed answer is from it (relative)
    reason: str = ""              # why None, or a note on the verdict
    claim: str = ""
    printed: str = ""             # the right-hand side the text prints
    line: int = 0
    column: int = 0
    file: str = ""
    compared: int = 0             # points at which the two sides were compared
    tolerance: float | None = None  # the relative tolerance used (the largest, over points)
    sizes: list = field(default_factory=list)   # the size sets compared at
    convention: str = ""          # the convention the printed answer matched, if not texgrad's

    def to_dict(self) -> dict:
        d = _json_safe(asdict(self))
        d["status"] = self.status
        return d

    def _repr_markdown_(self):
        verdict = {"ok": "right", "wrong": "**wrong**", "skipped": "undecided"}[self.status]
        out = f"Claim {verdict}"
        if self.derivative_latex:
            out += f": the derivative is $${self.derivative_latex}$$"
        if self.reason:
            out += f"\n\n*{self.reason}*"
        return out

    @property
    def status(self) -> str:
        return {True: "ok", False: "wrong", None: "skipped"}[self.verdict]


def _json_safe(x):
    """Strict JSON: NaN and infinities become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if x is None or isinstance(x, (str, int, bool)):
        return x
    try:
        return _json_safe(float(x))
    except (TypeError, ValueError):
        return str(x)


def _mask(s: str, pattern) -> str:
    """Blank out matches, keeping every offset."""
    return pattern.sub(lambda m: " " * len(m.group(0)), s)


def _delimited(src: str, opener, closer_of) -> list[tuple[int, int]]:
    """(start, end) of the bodies between an opener and its first closer, scanning once: an
    opener whose closer never occurs again is skipped without rescanning the rest."""
    out = []
    never: set = set()
    pos = 0
    while True:
        m = opener.search(src, pos)
        if m is None:
            return out
        close = closer_of(m)
        if close in never:
            pos = m.end()
            continue
        j = src.find(close, m.end() + 1)     # a body has at least one character
        if j < 0:
            never.add(close)
            pos = m.end()
            continue
        out.append((m.end(), j))
        pos = j + len(close)


def math_pieces(text: str, kind: str = "tex") -> list[Piece]:
    """Every formula of a document, split at alignment line breaks, with its offset.  Linear
    in the length of the text (no pattern rescans the rest of the text per opener)."""
    src = _mask(text, _COMMENT) if kind == "tex" else text
    taken = bytearray(len(src))
    regions = []

    def add(start, end):
        if end > start and taken.find(1, start, end) < 0:
            regions.append((start, end))
            taken[start:end] = b"\x01" * (end - start)

    for start, end in _delimited(src, _ENV_OPEN,
                                 lambda m: "\\end{" + m.group(1) + m.group(2) + "}"):
        add(start, end)
    for start, end in _delimited(src, _DISPLAY_OPEN, lambda m: _DISPLAY_CLOSE[m.group(0)]):
        add(start, end)
    for m in _INLINE.finditer(src):
        add(m.start(1), m.end(1))
    if kind == "txt":       # plain text: a line holding a derivative is a formula
        for m in re.finditer(r"^.*(\\partial|\\nabla|\\frac\{d).*$", src, re.M):
            add(m.start(), m.end())
    pieces = []
    for start, end in sorted(regions):
        body = _mask(src[start:end], _MASK)
        pos = 0
        for part in _LINEBREAK.split(body):
            if part.startswith("\\\\"):
                pos += len(part)
                continue
            if part.strip():
                pieces.append(Piece(part, start + pos))
            pos += len(part)
    return pieces


# ------------------------------------------------------- shapes and assumptions in prose

# A name starts where no letter, digit, '_' or '\' precedes it, so a run of letters is
# scanned from its start only (the patterns stay linear on 200,000 letters); a list of names
# has at most 16 commas.
_NAME = (r"(?<![A-Za-z0-9_\\])"
         r"(?:\\math(?:bf|rm|it|cal)\{\\?\w+\}|\\boldsymbol\{\\?\w+\}|\\bm\{\\?\w+\}|"
         r"\\?[A-Za-z]+(?:_\{?\w+\}?)?)")
_SET = re.compile(r"(?P<names>(?:" + _NAME + r"\s*,\s*){0,16}" + _NAME + r")\s*\\in\s*"
                  r"(?:\\mathbb\{(?P<field>[RC])\}|\\(?P<field2>[RC])(?:eals)?(?![a-zA-Z]))"
                  r"\s*(?:\^\{(?P<exp>[^{}]*)\}|\^(?P<exp1>\w))?")
_PROPERTY = (r"(?:symmetric(?:\s+positive[- ](?:semi)?definite)?|Hermitian|"
             r"positive[- ](?:semi)?definite|spd)")
_SYMMETRIC = re.compile(r"(?:symmetric|Hermitian)\s+(?:positive[- ](?:semi)?definite\s+)?"
                        r"(?:matri(?:x|ces)\s+)?\$?\s*(?P<a>" + _NAME + r")"
                        r"|\$\s*(?P<b>" + _NAME + r")\s*(?:\\in[^$]{0,200})?\$\s+"
                        r"(?:(?:is|be)\s+)?(?:an?\s+)?(?:real\s+)?" + _PROPERTY, re.I)
_SPD = re.compile(r"(?P<a>" + _NAME + r")\s*\\succ\s*0")
_SYM_EQ = re.compile(r"(?P<a>" + _NAME + r")\s*=\s*(?P<b>" + _NAME + r")\^(?:\\top|T|\{\\top\}|\{T\})")


def _sym_name(tex: str) -> str:
    from .request import parse_wrt
    try:
        return parse_wrt(tex)
    except LimitError:
        raise
    except TexgradError:
        return tex.strip("\\")


def declarations(text: str) -> tuple[dict, dict]:
    """Shapes and assumptions the prose states: (shapes, assume)."""
    shapes: dict = {}
    assume: dict = {}
    for m in _SET.finditer(text):
        names = [n.strip() for n in re.split(r"\s*,\s*", m.group("names")) if n.strip()]
        field_ = m.group("field") or m.group("field2")
        exp = m.group("exp") or m.group("exp1")
        dims: tuple = ()
        if exp:
            dims = tuple(d.strip() for d in re.split(r"\\times|\*|,|×", exp) if d.strip())
        for n in names:
            name = _sym_name(n)
            shapes[name] = dims
            if field_ == "C":
                assume.setdefault(name, set()).add("complex")
    for m in _SYMMETRIC.finditer(text):
        name = _sym_name(m.group("a") or m.group("b"))
        prop = "spd" if re.search(r"definite|spd", m.group(0), re.I) else "symmetric"
        assume.setdefault(name, set()).add(prop)
    for m in _SPD.finditer(text):
        assume.setdefault(_sym_name(m.group("a")), set()).add("spd")
    for m in _SYM_EQ.finditer(text):
        if _sym_name(m.group("a")) == _sym_name(m.group("b")):
            assume.setdefault(_sym_name(m.group("a")), set()).add("symmetric")
    return shapes, {k: tuple(sorted(v)) for k, v in assume.items()}


# ------------------------------------------------------------------- one claim

def _split_top(s: str, sep: str = "=") -> list[tuple[str, int]]:
    """Split at ``sep`` outside brackets: [(part, offset)]."""
    out = []
    depth = 0
    start = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0 and s[i - 1:i] not in ("<", ">", "!", "\\") and \
                s[i + 1:i + 2] != "=":
            out.append((s[start:i], start))
            start = i + 1
    out.append((s[start:], start))
    return out


_DEF = re.compile(r"^\s*(" + _NAME + r")\s*(\([^()]*\))?\s*$")
_ROW = re.compile(r"\^\s*(?:\\top|T|\\intercal|\{\s*(?:\\top|T|\\intercal|\\mathsf\{T\}|"
                  r"\\mathrm\{T\})\s*\})\s*$")
_CONJ = re.compile(r"\^\s*(\*|\{\s*\*\s*\})\s*$")
_DERIVATIVE = re.compile(r"\\partial|\\nabla|\\frac\{\s*(\\mathrm\{)?d")


def _is_definition(lhs: str) -> str | None:
    """``f(W)``, ``L``, ``\\mathcal{L}(\\theta)`` on the left of '=': the defined name."""
    if re.search(r"\\partial|\\nabla|\\frac|\\operatorname|\\det|\\log|\\exp|\\sum|\\\|", lhs):
        return None
    m = _DEF.match(lhs)
    if not m:
        return None
    return re.sub(r"\s+", "", m.group(1))


def _extend(text: str, start: int, end: int) -> str:
    """``text[start:end]`` extended over the closing braces its unclosed ``{`` need: a node's
    span may end at a superscript's payload, before the ``}`` (``x^{2`` of ``x^{2}``)."""
    piece = text[start:end]
    open_ = len(re.findall(r"(?<!\\)\{", piece)) - len(re.findall(r"(?<!\\)\}", piece))
    k = end
    while open_ > 0:
        while k < len(text) and text[k].isspace():
            k += 1
        if k < len(text) and text[k] == "}":
            k += 1
            open_ -= 1
        else:
            break
    return text[start:k]


def _request_parts(lhs: str):
    """(function text or None, variable text, order, laplacian) of a request written on the
    left (or as a member of a chain); None when it is not a derivative request.  The text of
    the function is cut from the request's own text, not from node spans (which may end
    before closing braces): after an operator, the rest of ``lhs`` (``lhs`` ends at the '=');
    inside ``\\frac{\\partial f}{...}``, the numerator's group."""
    from .request import split_request
    from .parse import parse
    ast = parse(lhs)
    req = split_request(ast, lhs)
    inline = ast.op == "dop" or (ast.op == "chain" and ast.args and ast.args[0].op == "dop")
    if inline:
        f_text = _extend(lhs, req.f.start, req.f.end)
    else:
        f_text = lhs[req.f.start:].strip()
    wrt_text = _extend(lhs, req.wrt.start, req.wrt.end) if req.wrt is not None else None
    if wrt_text is None and not req.laplacian:
        # \nabla f(W): the variable is the function's one argument
        m = re.match(r"^\s*" + _NAME + r"\s*(?:\\left)?\(([^(),]+)(?:\\right)?\)\s*$", f_text)
        if not (lhs.lstrip().startswith("\\nabla") and m):
            return None
        wrt_text = m.group(1)
    return f_text, wrt_text, req.order, req.laplacian


def _is_derivative_form(text: str) -> bool:
    """Whether a member of a chain is written as a derivative request (whatever its operand)."""
    from .request import is_request, split_request
    from .parse import parse
    if not _DERIVATIVE.search(text):
        return False
    try:
        ast = parse(text)
        req = split_request(ast, text)
    except LimitError:
        raise
    except TexgradError:
        return False
    return is_request(ast) or req.wrt is not None or req.laplacian


@dataclass
class _Deriv:
    """texgrad's derivative of a request: ``shown`` in the chosen convention, ``values`` (the
    G convention) for the comparison."""
    shown: object
    values: object
    conj: bool = False          # d/dx^*: half the complex gradient
    row: bool = False           # d/dx^T: the row
    sym_var: bool = False       # by a symmetric matrix
    complex_var: bool = False
    zero_by: str = ""           # by a variable the function does not contain: 0
    symmetric: str = "G"        # the convention ``shown`` is in


def _derivative_of(lhs: str, shapes: dict, assume: dict, defs: dict, seed: int,
                   symmetric: str, allow_zero: bool = False):
    """texgrad's verified derivative of the request ``lhs`` (None: not a request).  Raises
    TexgradError with "cannot read ..." / "cannot differentiate ..." messages."""
    from .api import differentiate, prepare
    from .request import parse_wrt
    try:
        req = _request_parts(lhs)
    except LimitError:
        raise
    except TexgradError as e:
        raise TexgradError(f"cannot read the left side: {e.message}") from None
    if req is None:
        return None
    f_text, wrt_text, order, laplacian = req
    key = re.sub(r"\s+", "", f_text)
    base = re.sub(r"\(.*\)$", "", key)
    if key in defs or base in defs:
        f_text = defs.get(key, defs.get(base))
    conj = row = False
    if wrt_text and (_CONJ.search(wrt_text) or re.search(r"\\overline", wrt_text)):
        conj = True         # d/dx^*: the conjugate Wirtinger derivative
        wrt_text = _CONJ.sub("", wrt_text)
        wrt_text = re.sub(r"\\overline\s*\{(.*)\}", r"\1", wrt_text)
    elif wrt_text and _ROW.search(wrt_text):
        row = True          # d f / d x^T: a row
    kind = "laplacian" if laplacian else ("hessian" if order > 1 else None)
    if allow_zero and wrt_text:
        try:
            name = parse_wrt(wrt_text)
            _r, _n, typer, _raw = prepare(f_text, shapes, assume)
            if name not in typer.symtab and name.split("_")[0] not in typer.symtab:
                return _Deriv(None, None, zero_by=name)
        except LimitError:
            raise
        except TexgradError:
            pass
    try:
        shown = differentiate(f_text, wrt=wrt_text, shapes=shapes, assume=assume, kind=kind,
                              seed=seed, symmetric=symmetric)
        x = shown.symbols.get(shown.wrt)
        sym_var = bool(x is not None and shown.form == "gradient" and x.dims[1] != 1 and
                       {"symmetric", "spd"} & set(x.assume))
        values = shown
        if sym_var and symmetric != "G":
            values = differentiate(f_text, wrt=wrt_text, shapes=shapes, assume=assume,
                                   kind=kind, seed=seed, symmetric="G")
    except LimitError:
        raise
    except TexgradError as e:
        raise TexgradError(f"cannot differentiate: {e.message}") from None
    cplx = bool(x is not None and "complex" in x.assume)
    return _Deriv(shown, values, conj, row, sym_var, cplx, symmetric=symmetric)


def check_claim(latex: str, shapes: dict | None = None, assume: dict | None = None,
                definitions: dict | None = None, seed: int = 0, symmetric: str = "G",
                time_limit: float | None = CLAIM_TIME_LIMIT) -> ClaimResult:
    """Decide a printed claim ``\\frac{\\partial f}{\\partial X} = G`` (definitions of f may
    precede it on lines of their own, ``f(W) = ...``).  Returns a ClaimResult whatever the
    claim (``verdict`` None with the reason when it cannot be decided, "limit exceeded" past
    ``time_limit`` seconds); raises TexgradError only for a bad argument."""
    from .api import SYMMETRIC_CONVENTIONS
    if not isinstance(latex, str):
        raise TexgradError("the claim must be a string")
    if symmetric not in SYMMETRIC_CONVENTIONS:
        raise TexgradError(f"unknown symmetric convention {symmetric!r}",
                           hint="conventions: " + ", ".join(SYMMETRIC_CONVENTIONS))
    try:
        defs = dict(definitions or {})
        shapes, assume = dict(shapes or {}), dict(assume or {})
    except (TypeError, ValueError):
        raise TexgradError("definitions, shapes and assume must be dictionaries") from None
    lines = [ln for ln in latex.split("\n") if ln.strip()]
    claim_line = None
    for ln in lines:
        parts = _split_top(ln)
        if len(parts) >= 2 and _is_definition(parts[0][0]) and not re.search(
                r"\\partial|\\nabla", parts[0][0]):
            defs[_is_definition(parts[0][0])] = parts[1][0]
            if not _DERIVATIVE.search(ln):
                continue
        if _DERIVATIVE.search(ln):
            claim_line = ln
    if claim_line is None:
        return ClaimResult(None, None, None, "no derivative claim found", latex)
    return decide(claim_line, shapes or {}, assume or {}, defs, seed, symmetric, time_limit)


def decide(line: str, shapes: dict, assume: dict, defs: dict, seed: int = 0,
           symmetric: str = "G", time_limit: float | None = CLAIM_TIME_LIMIT) -> ClaimResult:
    """``_decide`` under a time limit, with every failure turned into an undecided claim (and
    no NumPy warning printed)."""

    import numpy as np

    from .limits import time_limited

    def skipped(reason):
        return ClaimResult(None, None, None, reason, line)

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            with time_limited(time_limit):      # re-fires each second until the block ends
                return _decide(line, shapes, assume, defs, seed, symmetric)
    except LimitError as e:
        return skipped(f"limit exceeded: {e.message}")
    except TexgradError as e:
        return skipped(e.message)
    except RecursionError:
        return skipped("limit exceeded: the formula is nested too deeply")
    except MemoryError:
        return skipped("limit exceeded: out of memory")
    except Exception as e:          # a bug in texgrad: this claim is undecided, the run goes on
        return skipped(f"internal error ({type(e).__name__}: {e}); please report it")


def _decide(line: str, shapes: dict, assume: dict, defs: dict, seed: int,
            symmetric: str = "G") -> ClaimResult:
    parts = _split_top(line)
    if len(parts) < 2:
        return ClaimResult(None, None, None, "no '=' after the derivative", line)
    lhs = parts[0][0]
    members = [p for p, _ in parts[1:]]
    if not members[-1].strip():
        return ClaimResult(None, None, None, "nothing after '='", line)
    if not all(m.strip() for m in members):
        return ClaimResult(None, None, None, "nothing between two '='", line)
    try:
        d = _derivative_of(lhs, shapes, assume, defs, seed, symmetric)
    except LimitError:
        raise
    except TexgradError as e:
        return ClaimResult(None, None, None, e.message, line)
    if d is None:
        return ClaimResult(None, None, None, "the left side is not a derivative", line)
    r = d.shown
    if not (r.verified and d.values.verified):
        bad = r if not r.verified else d.values
        return ClaimResult(None, r.latex, None, "texgrad could not verify its own derivative "
                           f"({bad.stamp.lstrip('% ')})", line)
    if r.form == "entry":
        return ClaimResult(None, r.latex, None, "comparing derivatives by an entry is not "
                           "supported yet", line)
    results = []
    for rhs in members:
        shown_rhs = " ".join(rhs.split())
        try:
            printed = _printed(rhs, d, shapes, assume, defs, seed, symmetric)
        except LimitError:
            raise
        except TexgradError as e:
            results.append(ClaimResult(None, r.latex, None, f"cannot read the printed answer "
                                       f"`{shown_rhs}`: {e.message}", line,
                                       printed=rhs.strip()))
            continue
        res = _compare(d, printed, seed)
        res.derivative_latex, res.claim, res.printed = r.latex, line, rhs.strip()
        results.append(res)
        if res.verdict is False:
            return res
    undecided = [x for x in results if x.verdict is None]
    if undecided:
        return undecided[0]
    out = results[-1]
    notes = [x.reason for x in results if x.reason]
    out.reason = "; ".join(dict.fromkeys(notes))
    out.max_rel_error = max(x.max_rel_error or 0.0 for x in results)
    out.compared = min(x.compared for x in results)
    return out


@dataclass
class _Printed:
    kind: str                   # expr | deriv | zero
    expr: object = None         # the printed answer (typed), or the member's derivative
    syms: dict = field(default_factory=dict)
    deriv: object = None        # _Deriv of a member that is a request
    text: str = ""


def _printed(rhs: str, d: _Deriv, shapes: dict, assume: dict, defs: dict, seed: int,
             symmetric: str) -> _Printed:
    """A member of the chain, ready to evaluate: a derivative request is differentiated (never
    read as its operand), anything else typed with the shapes of texgrad's derivative."""
    from .api import prepare
    r = d.values
    if _is_derivative_form(rhs):
        dm = _derivative_of(rhs, shapes, assume, defs, seed, "G", allow_zero=True)
        if dm is None:
            raise TexgradError("it is itself a derivative, of which texgrad cannot find the "
                               "variable")
        if dm.zero_by:
            return _Printed("zero", text=rhs, deriv=dm)
        if not dm.values.verified:
            raise TexgradError("it is itself a derivative, which texgrad could not verify "
                               f"({dm.values.stamp.lstrip('% ')})")
        if dm.values.form == "entry":
            raise TexgradError("it is a derivative by an entry (not supported yet)")
        return _Printed("deriv", dm.values.expr, dict(dm.values.symbols), dm, rhs)
    known = {name: _shape_spec(s) for name, s in r.symbols.items()}
    given = {**known, **{k: v for k, v in shapes.items() if k not in known}}
    _req, _name, typer, raw = prepare(rhs, given, {**assume, **{
        n: tuple(s.assume) for n, s in r.symbols.items() if s.assume}})
    g, _gd, syms = typer.finish(raw)
    return _Printed("expr", g, dict(syms), text=rhs)


def _shape_spec(s) -> tuple:
    r, c = s.dims
    if s.dims == (1, 1):
        return ()
    if c == 1:
        return (r,)
    return (r, c)


# ------------------------------------------------------------- the numeric comparison

def _size_sets(base: dict) -> list[dict]:
    """The sizes where texgrad's check found f defined, then every dimension raised by 2 and
    by 4 (order kept, so a tall X stays tall; declared numeric sizes ``#k`` kept)."""
    def shifted(k):
        return {n: (v if str(n).startswith("#") else v + k) for n, v in base.items()}
    return [dict(base), shifted(2), shifted(4)]


def _evaluate(expr, env: dict, sizes: dict):
    """The value of ``expr`` at a point, or None where it is not finite or fails."""
    import numpy as np

    from . import numeric as NM
    try:
        v = NM.evaluate(expr, env, sizes)
    except (np.linalg.LinAlgError, ArithmeticError, ValueError, KeyError, TypeError):
        return None
    v = np.asarray(v)
    if not np.all(np.isfinite(v)):
        return None
    return v


def _rel(a, b) -> float:
    import numpy as np
    m = max(float(np.max(np.abs(a))) if a.size else 0.0,
            float(np.max(np.abs(b))) if b.size else 0.0)
    if m == 0.0:
        return 0.0
    a, b = a / m, b / m
    return float(np.linalg.norm(a - b)) / max(float(np.linalg.norm(a)),
                                              float(np.linalg.norm(b)))


def _tiny(x) -> bool:
    import numpy as np
    return x.size == 0 or float(np.max(np.abs(x))) < TINY


def _rounding(fn, env: dict, sizes: dict, value, rng) -> float:
    """The relative change of ``fn`` at ``env`` when every input is perturbed by about 16
    units in the last place: the evaluation's own sensitivity to rounding."""
    import numpy as np
    eps = float(np.finfo(float).eps)
    worst = 0.0
    for _ in range(2):
        env2 = {}
        for k, v in env.items():
            noise = rng.standard_normal(np.shape(v))
            env2[k] = v * (1 + 16 * eps * noise)
        v2 = fn(env2, dict(sizes))
        if v2 is None or v2.shape != value.shape:
            return 1e-4         # not even finite nearby: a generous bound, still far from ok
        worst = max(worst, _rel(value, v2))
    return worst


def _compare(d: _Deriv, p: _Printed, seed: int) -> ClaimResult:
    """Compare texgrad's derivative with the printed member at random points (see the module
    docstring for the sizes, points, tolerance and verdicts)."""
    import numpy as np

    from . import numeric as NM
    from . import check as CK
    r = d.values
    ours_expr, f_expr = r.expr, r.f
    allsyms = {**p.syms, **r.symbols}
    if p.kind == "deriv":
        allsyms = {**p.deriv.values.symbols, **allsyms}
    base = dict(r.check.sizes) if r.check is not None and r.check.sizes else \
        NM.assign_sizes(allsyms)
    half = 0.5 if d.conj else 1.0

    def ours(env, sizes):
        a = _evaluate(ours_expr, env, sizes)
        return None if a is None else a * half

    def ours_valid(env, sizes):
        a = ours(env, sizes)
        if a is None or not CK._well_conditioned(ours_expr, env, sizes) or \
                not CK._well_conditioned(f_expr, env, sizes):
            return None
        if _evaluate(f_expr, env, sizes) is None:
            return None
        return a

    def theirs(env, sizes):
        if p.kind == "zero":
            return None         # filled in below, with the shape of ours
        if p.kind == "deriv":
            b = _evaluate(p.expr, env, sizes)
            return None if b is None else b * (0.5 if p.deriv.conj else 1.0)
        return _evaluate(p.expr, env, sizes)

    def theirs_valid(env, sizes, a):
        if p.kind == "zero":
            return np.zeros_like(a)
        b = theirs(env, sizes)
        if b is None or not CK._well_conditioned(p.expr, env, sizes):
            return None
        return b

    rng = NM.Draws(seed + 7)
    pairs = []                  # (a, b, tolerance, size set index)
    undefined = vacuous = 0
    used_sizes = []
    for si, sizes0 in enumerate(_size_sets(base)):
        got = 0
        for profile in range(4):
            for _attempt in range(3):
                if got >= 2:
                    break
                sizes = dict(sizes0)
                env = NM.draw_env(allsyms, sizes, rng, profile)
                a = ours_valid(env, sizes)
                if a is None:
                    continue
                b = theirs_valid(env, sizes, a)
                if b is None:
                    undefined += 1
                    continue
                if _tiny(a) and _tiny(b):
                    # both vanish here: compare at rescaled points instead
                    for s in SCALES:
                        env2 = CK._scaled(env, allsyms, s)      # orthogonal ones kept
                        a2 = ours_valid(env2, sizes)
                        b2 = None if a2 is None else theirs_valid(env2, sizes, a2)
                        if a2 is not None and b2 is not None and not (_tiny(a2) and _tiny(b2)):
                            env, a, b = env2, a2, b2
                            break
                    else:
                        vacuous += 1
                        continue
                tol = REL_TOL
                if p.kind != "zero":
                    est = max(_rounding(ours, env, sizes, a, rng),
                              _rounding(theirs, env, sizes, b, rng))
                    tol = max(REL_TOL, ROUNDING_FACTOR * est)
                pairs.append((a, b, tol, si))
                got += 1
                shown_sizes = {str(k).lstrip("#"): v for k, v in sizes.items()}
                if shown_sizes not in used_sizes:
                    used_sizes.append(shown_sizes)
            if got >= 2:
                break
    return _verdict(d, p, pairs, undefined, vacuous, used_sizes)


_CONVENTIONS = {
    "G": "the unconstrained gradient G",
    "sym": "the gradient on symmetric matrices, (G + G^T)/2",
    "cookbook": "the derivative by the independent entries, G + G^T - I o G "
                "(Matrix Cookbook sec. 2.8)",
}


def _candidates(d: _Deriv, p: _Printed, symmetric: str):
    """(convention, transform of texgrad's G-values, accepted) in order of preference."""
    import numpy as np
    out = []
    if d.sym_var and p.kind == "expr":
        forms = {"G": lambda a: a, "sym": lambda a: (a + a.T) / 2,
                 "cookbook": lambda a: a + a.T - np.diag(np.diag(a))}
        out.append((symmetric, forms[symmetric], True))
        out += [(k, f, True) for k, f in forms.items() if k != symmetric]
    else:
        out.append(("", lambda a: a, True))
    if d.complex_var and not d.conj and p.kind == "expr":
        out.append(("Wirtinger", lambda a: np.conj(a) / 2, False))
    return out


def _verdict(d: _Deriv, p: _Printed, pairs, undefined: int, vacuous: int,
             used_sizes: list) -> ClaimResult:
    import numpy as np
    symmetric = d.symmetric
    n_sets = len({si for *_x, si in pairs})
    tol = max((t for _a, _b, t, _s in pairs), default=None)
    common = dict(compared=len(pairs), tolerance=tol, sizes=used_sizes)

    def undecided(reason):
        return ClaimResult(None, None, None, f"not verified: {reason}", **common)

    if not pairs:
        if undefined:
            return undecided("the printed answer is not finite (undefined, or it overflows) "
                             "at any point where the derivative is defined")
        if vacuous and _is_zero(d.values.expr) and (p.kind == "zero" or _is_zero(p.expr)):
            return ClaimResult(True, None, 0.0, "both sides are identically 0", **common)
        if vacuous:
            return undecided("both sides are 0 (or below 1e-250) at every point tried")
        return undecided("no point found where texgrad's derivative is defined")
    if p.kind == "zero":
        bad = [_rel(a, b) for a, b, t, _s in pairs if _rel(a, b) > t]
        if bad:
            return ClaimResult(False, None, max(bad), f"the printed answer differentiates by "
                               f"{p.deriv.zero_by}, which it does not contain, so it is 0",
                               **common)
    else:
        a0, b0 = pairs[0][0], pairs[0][1]
        vector = a0.ndim == 2 and 1 in a0.shape and a0.size > 1
        expected = "transposed" if d.row and vector else "direct"
        other = "direct" if expected == "transposed" else "transposed"
        shape_of = {"direct": a0.shape, "transposed": a0.shape[::-1]}
        orient = [o for o in (expected, other) if b0.shape == shape_of[o]]
        if a0.shape == a0.shape[::-1] and a0.size == 1:
            orient = orient[:1]
        if not orient:
            return ClaimResult(False, None, float("inf"),
                               f"the printed answer has shape {b0.shape}, the derivative "
                               f"{shape_of[expected]} (at {_sizes_text(used_sizes[:1])})",
                               **common)
        found = None
        errors = {}
        for o in orient:                    # the expected layout first, in every convention
            for conv, form, accepted in _candidates(d, p, symmetric):
                errs = []
                for a, b, t, _s in pairs:
                    a1 = form(a)
                    b1 = b.T if o == "transposed" else b
                    if b1.shape != a1.shape:
                        errs = None
                        break
                    errs.append((_rel(a1, b1), t))
                if errs is None:
                    continue
                errors[(conv, o)] = max(e for e, _t in errs)
                if found is None and all(e <= t for e, t in errs):
                    found = (conv, o, accepted, errors[(conv, o)])
        mine = next(iter(errors.values()), float("inf"))   # texgrad's convention and layout
        if found is None:
            return ClaimResult(False, None, mine, "", **common)
        conv, o, accepted, err = found
        if not accepted:
            return ClaimResult(False, None, mine,
                               "hint: it matches the Wirtinger derivative df/dx = conj(G)/2, "
                               "a different convention: texgrad's gradient of a real f of a "
                               "complex x is G = df/dRe x + i df/dIm x = 2 df/dconj(x)",
                               convention="Wirtinger", **common)
        if o != expected:
            return ClaimResult(False, None, errors.get((conv, expected)),
                               "printed transposed (the other layout)",
                               convention="transposed", **common)
        if conv and conv != symmetric:
            note = (f"matches the `{conv}` convention for a symmetric "
                    f"{d.shown.wrt}: {_CONVENTIONS[conv]} (--symmetric {conv})")
            return _enough(ClaimResult(True, None, err, note, convention=conv, **common),
                           n_sets)
        return _enough(ClaimResult(True, None, err, "", **common), n_sets)
    return _enough(ClaimResult(True, None, max(_rel(a, b) for a, b, *_x in pairs), "",
                               **common), n_sets)


def _is_zero(e) -> bool:
    """A symbolic zero (texgrad's simplifier folds an identically zero derivative to one)."""
    from .ir import Const, Zero
    return isinstance(e, Zero) or (isinstance(e, Const) and e.value == 0)


def _enough(res: ClaimResult, n_sets: int) -> ClaimResult:
    """``ok`` only with MIN_COMPARED points at MIN_SIZE_SETS size sets."""
    if res.compared >= MIN_COMPARED and n_sets >= MIN_SIZE_SETS:
        return res
    return ClaimResult(None, None, res.max_rel_error,
                       f"not verified: the two sides agree, but only {res.compared} point(s) "
                       f"at {n_sets} size set(s) could be compared (needed: {MIN_COMPARED} "
                       f"at {MIN_SIZE_SETS})", compared=res.compared, tolerance=res.tolerance,
                       sizes=res.sizes)


def _sizes_text(sets: list) -> str:
    return "; ".join(", ".join(f"{k}={v}" for k, v in s.items()) for s in sets) or "scalars"


# ------------------------------------------------------------------- documents

def check_text(text: str, filename: str = "-", shapes: dict | None = None,
               assume: dict | None = None, seed: int = 0, symmetric: str = "G",
               time_limit: float | None = CLAIM_TIME_LIMIT) -> list[ClaimResult]:
    """Every claim of a document, decided (each within ``time_limit`` seconds)."""
    from .errors import position
    kind = "md" if filename.endswith(".md") else ("txt" if filename.endswith(".txt")
                                                 else "tex")
    decl_shapes, decl_assume = declarations(text)
    decl_shapes.update(shapes or {})
    for k, v in (assume or {}).items():
        decl_assume[k] = tuple(sorted(set(decl_assume.get(k, ())) | set(v)))
    defs: dict = {}
    results = []
    for piece in math_pieces(text, kind):
        parts = _split_top(piece.text)
        if len(parts) >= 2:
            name = _is_definition(parts[0][0])
            if name and not re.search(r"\\partial|\\nabla", piece.text):
                defs[name] = parts[1][0]
                continue
        if not re.search(r"\\partial|\\nabla|\\frac\{\s*(\\mathrm\{)?d\s*\}", piece.text):
            continue
        if len(parts) < 2:
            continue
        lead = len(piece.text) - len(piece.text.lstrip())
        line, col = position(text, piece.offset + lead)
        res = decide(piece.text.strip(), decl_shapes, decl_assume, defs, seed, symmetric,
                     time_limit)
        res.line, res.column, res.file, res.claim = line, col, filename, " ".join(
            piece.text.split())
        results.append(res)
    return results


def _short(latex: str | None) -> str:
    return " ".join((latex or "").split())


def report_line(r: ClaimResult) -> str:
    where = f"{r.file}:{r.line}:{r.column}"
    if r.verdict is True:
        extra = f" ({r.reason})" if r.reason else ""
        return f"{where}: ok: {_short(r.claim)}{extra}"
    if r.verdict is False:
        lhs = _split_top(r.claim)[0][0].strip()
        printed = _short(r.printed).rstrip(".,; ")      # the sentence's punctuation
        return (f"{where}: wrong: {_short(lhs)} is {r.derivative_latex}, the text prints "
                f"{printed}" + (f": {r.reason}" if r.reason else ""))
    return f"{where}: skipped: {r.reason}"


def read_document(name: str, limit: int = MAX_BYTES) -> str:
    """The text of a file (``-``: standard input), strict UTF-8, at most ``limit`` bytes;
    TexgradError otherwise."""
    try:
        if name == "-":
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:          # a text stream without bytes underneath
                text = sys.stdin.read(limit + 1)
                if len(text) > limit:
                    raise TexgradError(f"cannot read {name}: larger than {limit // 2**20} MB")
                return text
            data = stream.read(limit + 1)
        else:
            with open(name, "rb") as fh:
                data = fh.read(limit + 1)
    except OSError as e:
        raise TexgradError(f"cannot read {name}: {e}") from None
    if len(data) > limit:
        raise TexgradError(f"cannot read {name}: larger than {limit // 2**20} MB",
                           hint="texgrad check reads documents of at most "
                                f"{limit // 2**20} MB; split the file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TexgradError(f"cannot read {name}: not UTF-8 text ({e})",
                           hint="convert the file to UTF-8") from None


@click.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True)
@shape_options
@click.option("--symmetric", "symmetric", type=click.Choice(["G", "sym", "cookbook"]),
              default="G", show_default=True,
              help="Derivative by a symmetric matrix: texgrad's answer in this convention "
                   "(a printed answer in another documented convention is ok, named).")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="One line per claim, or one JSON record per claim.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--time-limit", "time_limit", type=click.FloatRange(min=0, min_open=True),
              default=CLAIM_TIME_LIMIT, show_default=True,
              help="Give up on a claim after S seconds (it is skipped: limit exceeded).")
def check_command(files, shapes, assume, symmetric, fmt, seed, time_limit):
    """Verify every derivative claim printed in FILES (.tex, .md, .txt; - for stdin).

    Exit status: 0 no claim is wrong, 1 some claim is wrong, 2 a file cannot be read.
    """
    from .options import parse_assume_specs, parse_shape_specs
    try:
        sh, asm = parse_shape_specs(shapes), parse_assume_specs(assume)
    except TexgradError as e:
        click.echo(e.render(), err=True)
        sys.exit(2)
    if not math.isfinite(time_limit):
        click.echo("texgrad check: --time-limit must be a finite number of seconds", err=True)
        sys.exit(2)
    counts = {"ok": 0, "wrong": 0, "skipped": 0}
    for name in files:
        try:
            text = read_document(name)
        except TexgradError as e:
            click.echo(f"texgrad check: {e.message}" + (f"\nhint: {e.hint}" if e.hint else ""),
                       err=True)
            sys.exit(2)
        for res in check_text(text, name, sh, asm, seed, symmetric, time_limit):
            counts[res.status] += 1
            if fmt == "json":
                click.echo(json.dumps(res.to_dict(), allow_nan=False))
            else:
                click.echo(report_line(res))
    total = sum(counts.values())
    click.echo(f"texgrad check: {total} claims: {counts['ok']} ok, {counts['wrong']} wrong, "
               f"{counts['skipped']} skipped", err=True)
    sys.exit(1 if counts["wrong"] else 0)
