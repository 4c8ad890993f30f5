"""Checking papers: find the derivative claims a text prints and verify each.

``texgrad check paper.tex`` reads .tex, .md and .txt files (``-`` for stdin), finds the math
(``equation``/``align``/``gather`` environments, ``$$ $$``, ``\\[ \\]``, ``$ $``, ``\\( \\)``;
``&``, ``\\\\``, ``\\label``, ``\\tag``, ``\\nonumber`` handled) and in it every claim
``\\frac{\\partial f}{\\partial X} = G`` (or another request form: ``\\nabla_X f``,
``\\frac{\\partial}{\\partial X}(...)``, ``\\frac{d}{dt}``; chains ``= G_1 = G_2``).  A claim may
name a function defined in another display (``f(W) = \\|XW - Y\\|_F^2``).  Shapes and
assumptions come from the text where it states them (``X \\in \\mathbb{R}^{m \\times n}``,
``W`` symmetric, ``\\succ 0``) and from ``--shape``/``--assume``.

Each claim is decided numerically: texgrad's own derivative (itself verified against finite
differences) and the printed right-hand side are evaluated at random points of the declared
or inferred shapes.  The report reads like a compiler's:
``paper.tex:142:5: wrong: df/dW is 2X^{T}(XW - Y), the text prints X^T(XW-Y)``.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass

import click

from .cli import shape_options
from .errors import TexgradError

# ------------------------------------------------------------------ finding the math

_ENV = re.compile(r"\\begin\{(equation|align|gather|multline|eqnarray|displaymath|flalign|"
                  r"alignat|split|dmath)(\*?)\}(?:\{\d+\})?(.*?)\\end\{\1\2\}", re.S)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$", re.S)
_MASK = re.compile(r"\\(label|tag\*?|eqref|ref)\s*\{[^{}]*\}|\\(nonumber|notag|quad|qquad)"
                   r"(?![a-zA-Z])|&|\\displaystyle|\\textstyle")
_COMMENT = re.compile(r"(?<!\\)%.*")


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

    def to_dict(self) -> dict:
        d = asdict(self)
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


def _mask(s: str, pattern) -> str:
    """Blank out matches, keeping every offset."""
    return pattern.sub(lambda m: " " * len(m.group(0)), s)


def math_pieces(text: str, kind: str = "tex") -> list[Piece]:
    """Every formula of a document, split at alignment line breaks, with its offset."""
    src = _mask(text, _COMMENT) if kind == "tex" else text
    taken = [False] * len(src)
    regions = []

    def add(start, end):
        if not any(taken[start:end]):
            regions.append((start, end))
            for k in range(start, end):
                taken[k] = True

    for m in _ENV.finditer(src):
        add(m.start(3), m.end(3))
    for m in _DISPLAY.finditer(src):
        g = next(i for i in (1, 2, 3) if m.group(i) is not None)
        add(m.start(g), m.end(g))
    for m in _INLINE.finditer(src):
        add(m.start(1), m.end(1))
    if kind == "txt":       # plain text: a line holding a derivative is a formula
        for m in re.finditer(r"^.*(\\partial|\\nabla|\\frac\{d).*$", src, re.M):
            add(m.start(), m.end())
    pieces = []
    for start, end in sorted(regions):
        body = _mask(src[start:end], _MASK)
        pos = 0
        for part in re.split(r"(\\\\(?:\[[^\]]*\])?)", body):
            if part.startswith("\\\\"):
                pos += len(part)
                continue
            if part.strip():
                pieces.append(Piece(part, start + pos))
            pos += len(part)
    return pieces


# ------------------------------------------------------- shapes and assumptions in prose

_NAME = (r"(?:\\math(?:bf|rm|it|cal)\{\\?\w+\}|\\boldsymbol\{\\?\w+\}|\\bm\{\\?\w+\}|"
         r"\\?[A-Za-z]+(?:_\{?\w+\}?)?)")
_SET = re.compile(r"(?P<names>(?:" + _NAME + r"\s*,\s*)*" + _NAME + r")\s*\\in\s*"
                  r"(?:\\mathbb\{(?P<field>[RC])\}|\\(?P<field2>[RC])(?:eals)?(?![a-zA-Z]))"
                  r"\s*(?:\^\{(?P<exp>[^{}]*)\}|\^(?P<exp1>\w))?")
_SYMMETRIC = re.compile(r"(?:symmetric|Hermitian)\s+(?:positive[- ](?:semi)?definite\s+)?"
                        r"(?:matrix\s+)?\$?\s*(?P<a>" + _NAME + r")"
                        r"|\$\s*(?P<b>" + _NAME + r")\s*\$\s+(?:is\s+)?(?:a\s+)?"
                        r"(?:symmetric|positive[- ]definite|spd)", re.I)
_SPD = re.compile(r"(?P<a>" + _NAME + r")\s*\\succ\s*0")
_SYM_EQ = re.compile(r"(?P<a>" + _NAME + r")\s*=\s*(?P<b>" + _NAME + r")\^(?:\\top|T|\{\\top\}|\{T\})")


def _sym_name(tex: str) -> str:
    from .api import _parse_wrt
    try:
        return _parse_wrt(tex)
    except TexgradError:
        return tex.strip("\\")


def declarations(text: str) -> tuple[dict, dict]:
    """Shapes and assumptions the prose states: (shapes, assume)."""
    shapes: dict = {}
    assume: dict = {}
    for m in _SET.finditer(text):
        names = [n.strip() for n in re.split(r"\s*,\s*", m.group("names")) if n.strip()]
        field = m.group("field") or m.group("field2")
        exp = m.group("exp") or m.group("exp1")
        dims: tuple = ()
        if exp:
            dims = tuple(d.strip() for d in re.split(r"\\times|\*|,|×", exp) if d.strip())
        for n in names:
            name = _sym_name(n)
            shapes[name] = dims
            if field == "C":
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


def _is_definition(lhs: str) -> str | None:
    """``f(W)``, ``L``, ``\\mathcal{L}(\\theta)`` on the left of '=': the defined name."""
    if re.search(r"\\partial|\\nabla|\\frac|\\operatorname|\\det|\\log|\\exp|\\sum|\\\|", lhs):
        return None
    m = _DEF.match(lhs)
    if not m:
        return None
    return re.sub(r"\s+", "", m.group(1))


def _request_parts(lhs: str):
    """(function text or None, variable text, order, conj) of a request written on the left."""
    from .api import split_request
    from .parse import parse
    ast = parse(lhs)
    req = split_request(ast, lhs)
    f_text = lhs[req.f.start:req.f.end]
    wrt_text = lhs[req.wrt.start:req.wrt.end] if req.wrt is not None else None
    if wrt_text is None and not req.laplacian:
        # \nabla f(W): the variable is the function's one argument
        m = re.match(r"^\s*" + _NAME + r"\s*(?:\\left)?\(([^(),]+)(?:\\right)?\)\s*$", f_text)
        if not (lhs.lstrip().startswith("\\nabla") and m):
            return None
        wrt_text = m.group(1)
    return f_text, wrt_text, req.order, req.laplacian


def check_claim(latex: str, shapes: dict | None = None, assume: dict | None = None,
                definitions: dict | None = None, seed: int = 0) -> ClaimResult:
    """Decide a printed claim ``\\frac{\\partial f}{\\partial X} = G`` (definitions of f may
    precede it on lines of their own, ``f(W) = ...``)."""
    defs = dict(definitions or {})
    lines = [ln for ln in latex.split("\n") if ln.strip()]
    claim_line = None
    for ln in lines:
        parts = _split_top(ln)
        if len(parts) >= 2 and _is_definition(parts[0][0]) and not re.search(
                r"\\partial|\\nabla", parts[0][0]):
            defs[_is_definition(parts[0][0])] = parts[1][0]
            if not re.search(r"\\partial|\\nabla|\\frac\{\s*d", ln):
                continue
        if re.search(r"\\partial|\\nabla|\\frac\{\s*(\\mathrm\{)?d", ln):
            claim_line = ln
    if claim_line is None:
        return ClaimResult(None, None, None, "no derivative claim found", latex)
    return _decide(claim_line, shapes or {}, assume or {}, defs, seed)


def _decide(line: str, shapes: dict, assume: dict, defs: dict, seed: int) -> ClaimResult:
    from .api import differentiate
    parts = _split_top(line)
    if len(parts) < 2:
        return ClaimResult(None, None, None, "no '=' after the derivative", line)
    lhs = parts[0][0]
    members = [p for p, _ in parts[1:] if p.strip()]
    try:
        req = _request_parts(lhs)
    except TexgradError as e:
        return ClaimResult(None, None, None, f"cannot read the left side: {e.message}", line)
    if req is None:
        return ClaimResult(None, None, None, "the left side is not a derivative", line)
    f_text, wrt_text, order, laplacian = req
    key = re.sub(r"\s+", "", f_text)
    base = re.sub(r"\(.*\)$", "", key)
    if key in defs or base in defs:
        f_text = defs.get(key, defs.get(base))
    conj_var = False
    if wrt_text and re.search(r"\^\s*(\*|\{\*\})\s*$|\\overline", wrt_text):
        conj_var = True         # d/dx^*: the conjugate Wirtinger derivative
        wrt_text = re.sub(r"\^\s*(\*|\{\*\})\s*$", "", wrt_text)
        wrt_text = re.sub(r"\\overline\s*\{(.*)\}", r"\1", wrt_text)
    kind = "laplacian" if laplacian else ("hessian" if order > 1 else None)
    try:
        r = differentiate(f_text, wrt=wrt_text, shapes=shapes, assume=assume, kind=kind,
                          seed=seed)
    except TexgradError as e:
        return ClaimResult(None, None, None, f"cannot differentiate: {e.message}", line)
    if r.check is None or not r.check.passed:
        return ClaimResult(None, r.latex, None, "texgrad could not verify its own derivative "
                           f"({r.stamp.lstrip('% ')})", line)
    worst = 0.0
    note = ""
    for rhs in members:
        try:
            err, note1 = _distance(r, rhs, shapes, assume, conj_var, seed)
        except TexgradError as e:
            return ClaimResult(None, r.latex, None, f"cannot read the printed answer "
                               f"`{' '.join(rhs.split())}`: {e.message}", line,
                               printed=rhs.strip())
        note = note or note1
        worst = max(worst, err)
        if err > 1e-6:
            return ClaimResult(False, r.latex, err, note1, line, printed=rhs.strip())
    return ClaimResult(True, r.latex, worst, note, line, printed=members[-1].strip())


def _distance(r, rhs: str, shapes: dict, assume: dict, conj_var: bool, seed: int):
    """Relative distance between texgrad's derivative and a printed one, at random points."""
    import numpy as np
    from . import numeric as NM
    from .api import _prepare
    from .ir import walk as _walk

    if r.form == "entry":
        raise TexgradError("comparing derivatives by an entry is not supported yet")
    known = {name: _shape_spec(s) for name, s in r.symbols.items()}
    given = {**known, **{k: v for k, v in shapes.items() if k not in known}}
    _req, _name, typer, raw = _prepare(rhs, given, {**assume, **{
        n: tuple(s.assume) for n, s in r.symbols.items() if s.assume}})
    g, _gd, syms = typer.finish(raw)
    ours = r.expr
    if conj_var:
        from . import simplify as S
        ours = S.mul(S.const(__import__("fractions").Fraction(1, 2)), ours)
    allsyms = {**syms, **r.symbols}
    sizes = NM.assign_sizes(allsyms)
    rng = NM.Draws(seed + 7)
    worst = 0.0
    note = ""
    tried = 0
    for _ in range(12):
        env = NM.draw_env(allsyms, sizes, rng, min(tried // 3, 3))
        a = NM.safe_evaluate(ours, env, sizes)
        b = NM.safe_evaluate(g, env, sizes)
        tried += 1
        if a is None or b is None or not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        if a.shape != b.shape:
            if a.shape == b.shape[::-1] and np.allclose(a, b.T, rtol=1e-7, atol=1e-9):
                note = "printed transposed (the other layout)"
                b = b.T
            else:
                return float("inf"), (f"the printed answer has shape {b.shape}, the "
                                      f"derivative {a.shape}")
        scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-12)
        worst = max(worst, float(np.linalg.norm(a - b)) / scale)
        if tried >= 3 and worst > 0:
            break
        if tried >= 3:
            break
    _ = _walk
    return worst, note


def _shape_spec(s) -> tuple:
    r, c = s.dims
    if s.dims == (1, 1):
        return ()
    if c == 1:
        return (r,)
    return (r, c)


# ------------------------------------------------------------------- documents

def check_text(text: str, filename: str = "-", shapes: dict | None = None,
               assume: dict | None = None, seed: int = 0) -> list[ClaimResult]:
    """Every claim of a document, decided."""
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
        res = _decide(piece.text.strip(), decl_shapes, decl_assume, defs, seed)
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
        return (f"{where}: wrong: {_short(lhs)} is {r.derivative_latex}, the text prints "
                f"{_short(r.printed)}" + (f" ({r.reason})" if r.reason else ""))
    return f"{where}: skipped: {r.reason}"


@click.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True)
@shape_options
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="One line per claim, or one JSON record per claim.")
@click.option("--seed", type=int, default=0, show_default=True)
def check_command(files, shapes, assume, fmt, seed):
    """Verify every derivative claim printed in FILES (.tex, .md, .txt; - for stdin).

    Exit status: 0 no claim is wrong, 1 some claim is wrong, 2 a file cannot be read.
    """
    from .options import parse_assume_specs, parse_shape_specs
    try:
        sh, asm = parse_shape_specs(shapes), parse_assume_specs(assume)
    except TexgradError as e:
        click.echo(e.render(), err=True)
        sys.exit(2)
    counts = {"ok": 0, "wrong": 0, "skipped": 0}
    for name in files:
        try:
            if name == "-":
                text = sys.stdin.read()
            else:
                with open(name, encoding="utf-8") as fh:
                    text = fh.read()
        except (OSError, UnicodeDecodeError) as e:
            click.echo(f"texgrad check: cannot read {name}: {e}", err=True)
            sys.exit(2)
        for res in check_text(text, name, sh, asm, seed):
            counts[res.status] += 1
            if fmt == "json":
                click.echo(json.dumps(res.to_dict(), default=str))
            else:
                click.echo(report_line(res))
    total = sum(counts.values())
    click.echo(f"texgrad check: {total} claims: {counts['ok']} ok, {counts['wrong']} wrong, "
               f"{counts['skipped']} skipped", err=True)
    sys.exit(1 if counts["wrong"] else 0)
