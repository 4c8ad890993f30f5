"""Deciding one claim: its left side differentiated, each member of its chain compared.

``decide`` runs under the claim's time limit and turns every failure into an undecided
claim; the left side (a request: ``\\frac{\\partial f}{\\partial X}``, ``\\nabla_X f``,
a function named by a definition) is differentiated by texgrad and verified, and each member
after '=' is read (a member that is itself a request is differentiated too, never read as
its operand) and compared by ``claimsverdict.compare``.
"""

from __future__ import annotations

import re
import warnings

from .claimscan import split_top
from .claimsdefs import (apply_formulas, apply_symbols, defined, exponent_letters, squeeze,
                         substitute, symbols_of)
from .claimsrequest import CONJ, ROW, is_derivative_form, request_parts
from .claimsverdict import ClaimResult, Deriv, Printed, compare, square_unstated
from .dims import DimVar
from .errors import LimitError, ShapeError, TexgradError

CLAIM_TIME_LIMIT = 20.0            # seconds per claim

def _derivative_of(lhs: str, shapes: dict, assume: dict, defs: dict, seed: int,
                   symmetric: str, allow_zero: bool = False, members: list | None = None,
                   hessian: bool = False):
    """texgrad's verified derivative of the request ``lhs`` (None: not a request).  Raises
    TexgradError with "cannot read ..." / "cannot differentiate ..." messages."""
    from .api import differentiate, prepare
    from .request import parse_wrt
    try:
        req = request_parts(lhs)
    except LimitError:
        raise
    except TexgradError as e:
        raise TexgradError(f"cannot read the left side: {e.message}") from None
    if req is None:
        return None
    f_text, wrt_text, order, laplacian = req
    f_text, wrt_text = defined(defs, f_text, wrt_text)    # f(W) = ..., \nabla L of L(w)
    if members is not None:         # Y = X^T X, then f(Y): the definitions the claim needs
        try:
            var = parse_wrt(CONJ.sub("", wrt_text)) if wrt_text else ""
        except LimitError:
            raise
        except TexgradError:
            var = ""
        f_text, members[:] = apply_symbols(defs, f_text, list(members), var)
    conj = row = False
    if wrt_text and (CONJ.search(wrt_text) or re.search(r"\\overline", wrt_text)):
        conj = True         # d/dx^*: the conjugate Wirtinger derivative
        wrt_text = CONJ.sub("", wrt_text)
        wrt_text = re.sub(r"\\overline\s*\{(.*)\}", r"\1", wrt_text)
    elif wrt_text and ROW.search(wrt_text):
        row = True          # d f / d x^T: a row
    if laplacian and hessian:       # \nabla^2 f printed as a matrix: the Hessian
        laplacian = False
    kind = "laplacian" if laplacian else ("hessian" if order > 1 else None)
    if allow_zero and wrt_text:
        try:
            name = parse_wrt(wrt_text)
            _r, _n, typer, _raw = prepare(f_text, shapes, assume)
            if name not in typer.symtab and name.split("_")[0] not in typer.symtab:
                return Deriv(None, None, zero_by=name)
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
        kind_ = ShapeError if isinstance(e, ShapeError) else TexgradError  # a member: wrong
        raise kind_(f"cannot differentiate: {e.message}") from None
    cplx = bool(x is not None and "complex" in x.assume)
    return Deriv(shown, values, conj, row, sym_var, cplx, symmetric=symmetric, f_text=f_text,
                 laplacian=laplacian)


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


_ZERO = re.compile(r"^\s*(?:0|\\mathbf\s*\{\s*0\s*\}|\\boldsymbol\s*\{\s*0\s*\}|\\bm\s*\{\s*0\s*\}|"
                   r"\\vec\s*\{\s*0\s*\})\s*[.,;]?\s*$")


def _unnamed(lhs: str, defs: dict) -> bool:
    """Whether the request of ``lhs`` differentiates a bare name nothing defines (f)."""
    try:
        parts = request_parts(lhs)
    except LimitError:
        raise
    except TexgradError:
        return False
    if parts is None:
        return False
    f = squeeze(parts[0] or "")
    return bool(re.fullmatch(r"\\?[A-Za-z]+(?:_\{?\w+\}?)?", f)) and f not in defs


def _decide(line: str, shapes: dict, assume: dict, defs: dict, seed: int,
            symmetric: str = "G") -> ClaimResult:
    """One claim decided; a claim wrong at the shapes texgrad inferred but right where every
    matrix whose shape nobody stated is square (n x n) is undecided, "right if A and B are
    square" (the Cookbook's det(AXB) identities assume it)."""
    powers = _symbolic_powers(line, shapes)
    if powers:
        return _decide_powers(line, powers, shapes, assume, defs, seed, symmetric)
    res = _decide_once(line, shapes, assume, defs, seed, symmetric)
    if res.verdict is not False or res.convention or res.condition:
        return res
    d_syms = res.shapes
    free = sorted(n for n, spec in d_syms.items() if len(spec) == 2 and n not in shapes)
    if not free:
        return res
    square = {n: tuple("n" for _ in spec) for n, spec in d_syms.items() if n not in shapes}
    if square == {n: d_syms[n] for n in square}:
        return res
    again = _decide_once(line, {**square, **shapes}, assume, defs, seed, symmetric,
                         joint="every matrix square")
    if again.verdict is not True:
        return res
    names = ", ".join(free[:-1]) + " and " + free[-1] if len(free) > 1 else free[0]
    cond = f"right if {names} {'is' if len(free) == 1 else 'are'} square"
    return ClaimResult(None, res.derivative_latex, res.max_rel_error,
                       f"{cond}, which the text does not state (wrong at the shapes read "
                       f"from it: {res.reason or 'the two sides differ'})", line,
                       printed=res.printed, condition=cond, compared=res.compared,
                       tolerance=res.tolerance, sizes=res.sizes)


POWERS = (2, 3, 4)          # the values a symbolic exponent is decided at


def _symbolic_powers(line: str, shapes: dict) -> list:
    if "^" not in line:
        return []
    return sorted(x for x in exponent_letters([p for p, _ in split_top(line)])
                  if not shapes.get(x))         # a declared scalar (integer) or none


def _decide_powers(line, powers, shapes, assume, defs, seed, symmetric) -> ClaimResult:
    """``\\frac{\\partial \\tr(X^n)}{\\partial X} = n(X^{n-1})^T``: a letter used only as an
    exponent is a positive integer; the claim is decided at each of POWERS (every letter
    the same value), right only when right at all, wrong when wrong at one."""
    names = " and ".join(powers)
    done = []
    for v in POWERS:
        parts = [substitute(p, {x: str(v) for x in powers}, "{}") for p, _ in split_top(line)]
        res = _decide(" = ".join(parts), shapes, assume, defs, seed, symmetric)
        where = f"{names} = {v}"
        if res.verdict is False:
            res.reason = "; ".join(x for x in (f"at {where} ({names} read as a positive "
                                               "integer exponent)", res.reason) if x)
            res.claim = line
            return res
        if res.verdict is None:
            res.reason = f"at {where}: {res.reason}"
            res.claim = line
            return res
        done.append(res)
    out = done[-1]
    out.claim = line
    out.compared = sum(r.compared for r in done)
    out.max_rel_error = max(r.max_rel_error or 0.0 for r in done)
    out.reason = "; ".join(x for x in (f"right at {names} = " + ", ".join(map(str, POWERS)) +
                                       f" ({names} read as a positive integer exponent)",
                                       out.reason) if x)
    return out


def _decide_once(line: str, shapes: dict, assume: dict, defs: dict, seed: int,
                 symmetric: str = "G", joint: str = "", hessian: bool = False) -> ClaimResult:
    """One claim decided at one reading of its shapes (``joint``: the note of the shapes
    that the printed answer's own products fixed, when this is the second reading)."""
    from .claimsdiff import differential
    if differential(line) is not None:
        return _decide_differential(line, shapes, assume, defs, seed)
    parts = split_top(apply_formulas(defs, line))      # log p(x | mu, L): its definition
    if len(parts) < 2:
        return ClaimResult(None, None, None, "no '=' after the derivative", line)
    lhs = parts[0][0]
    members = [p for p, _ in parts[1:]]
    zero = ""
    if len(members) >= 2 and _ZERO.match(members[-1]):
        # \nabla f = 2A^T(Ax - b) = 0: the derivative set to zero, a condition, no member
        members, zero = members[:-1], "the final '= 0' read as setting the derivative to zero"
    if not members[-1].strip():
        return ClaimResult(None, None, None, "nothing after '='", line)
    if not all(m.strip() for m in members):
        return ClaimResult(None, None, None, "nothing between two '='", line)
    try:
        d = _derivative_of(lhs, shapes, assume, defs, seed, symmetric, members=members,
                           hessian=hessian)
    except LimitError:
        raise
    except TexgradError as e:
        if len(members) >= 2 and is_derivative_form(members[0]) and _unnamed(lhs, defs):
            # \frac{\partial f}{\partial X} = \frac{\partial}{\partial X} tr(X^T X) = 2X: f
            # is named by the chain itself; decide from its first written-out request
            res = _decide_once(" = ".join(members), shapes, assume, defs, seed, symmetric,
                               joint, hessian)
            res.claim = line
            if res.verdict is not None:
                res.reason = "; ".join(x for x in (res.reason, "the function is the one the "
                                                   "chain's next member writes out") if x)
            return res
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
    from .claimsindex import rewrite_members
    read_as, fresh = rewrite_members(line, members, symbols_of(d.f_text))  # X_{ij} A_{ji}
    if fresh and r.wrt in r.symbols:        # entry (k, l) of a matrix of the variable's shape
        shapes = {**shapes, fresh: _shape_spec(r.symbols[r.wrt])}
    results = []
    for rhs, text in zip(members, read_as):
        shown_rhs = " ".join(rhs.split())
        try:
            printed = _printed(text, d, shapes, assume, defs, seed, symmetric)
        except LimitError:
            raise
        except ShapeError as e:
            # the printed answer's products do not conform with the shapes read from f:
            # read the shapes from both together; none conforms: the claim is wrong
            if joint:
                return _nonconforming(r, line, rhs, e.message)
            try:
                again = _joint_shapes(d, read_as, shapes, assume)
            except LimitError:
                raise
            except ShapeError as e2:
                return _nonconforming(r, line, rhs, e2.message)
            except TexgradError:
                again = None
            if again is None:
                return _nonconforming(r, line, rhs, e.message)
            new_shapes, note = again
            res = _decide_once(line, new_shapes, assume, defs, seed, symmetric, joint=note)
            if res.verdict is not None:
                res.reason = "; ".join(x for x in (res.reason, note) if x)
            return res
        except TexgradError as e:
            results.append(ClaimResult(None, r.latex, None, f"cannot read the printed answer "
                                       f"`{shown_rhs}`: {e.message}", line,
                                       printed=rhs.strip()))
            continue
        res = compare(d, printed, seed)
        if res.verdict is False:
            res = _unstated(res, d, printed, seed, {*shapes, *assume})
        res.derivative_latex, res.claim, res.printed = r.latex, line, rhs.strip()
        res.shapes = {**{n: _shape_spec(s) for n, s in printed.syms.items()},
                      **{n: _shape_spec(s) for n, s in r.symbols.items()}}
        results.append(res)
        if res.verdict is False and d.laplacian and res.max_rel_error == float("inf") and \
                not hessian:
            # \nabla^2 f = A + A^T: the Hessian, when the printed answer is a matrix
            again = _decide_once(line, shapes, assume, defs, seed, symmetric, joint, True)
            if again.verdict is not None or not again.reason.startswith("cannot"):
                return again
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
    out.shapes = {k: v for x in results for k, v in x.shapes.items()}
    if zero and out.verdict is not None:
        out.reason = "; ".join(x for x in (out.reason, zero) if x)
    return out


def _decide_differential(line: str, shapes: dict, assume: dict, defs: dict,
                         seed: int, joint: str = "") -> ClaimResult:
    """``d F = G``: F along random directions of the variables whose differentials G
    prints, differentiated by the step (held at 0), against G with each dV a direction."""
    from .api import differentiate, prepare
    from .claimsdiff import differential, directional
    from .factor import resimplify
    from .ir import SCALAR, Sym, Zero
    from .printer import latex as to_latex
    f_text, members = differential(line)
    f_text, _wrt = defined(defs, f_text)
    along, printed_members, step, step_name, dirs = directional(f_text, members)
    try:
        r = differentiate(along, wrt=step, shapes=shapes, assume=assume, seed=seed)
    except LimitError:
        raise
    except TexgradError as e:
        return ClaimResult(None, None, None, f"cannot differentiate: {e.message}", line)
    if not r.verified:
        return ClaimResult(None, r.latex, None, "texgrad could not verify its own "
                           f"differential ({r.stamp.lstrip('% ')})", line)
    at_zero = resimplify(r.expr, {s: Zero(SCALAR) for s in _leaves(r.expr, Sym)
                                  if s.name == step_name})
    shown = to_latex(at_zero)
    for name, tex in dirs.items():
        shown = shown.replace(tex, "(\\mathrm{d}" + tex[len("\\dot{"):-1] + ")")
    d = Deriv(r, r, fixed=(step_name,), f_text=along)
    results = []
    for rhs, text in zip(members, printed_members):
        known = {name: _shape_spec(s) for name, s in r.symbols.items()}
        try:
            _req, _name, typer, raw = prepare(text, {**shapes, **known}, assume)
            g, _gd, syms = typer.finish(raw)
        except LimitError:
            raise
        except ShapeError as e:         # as for any claim: shapes from both sides, or wrong
            if joint:
                return _nonconforming(_Shown(shown), line, rhs, e.message)
            try:
                again = _joint_shapes(d, printed_members, shapes, assume)
            except LimitError:
                raise
            except ShapeError as e2:
                return _nonconforming(_Shown(shown), line, rhs, e2.message)
            if again is None:
                return _nonconforming(_Shown(shown), line, rhs, e.message)
            res = _decide_differential(line, again[0], assume, defs, seed, joint=again[1])
            if res.verdict is not None:
                res.reason = "; ".join(x for x in (res.reason, again[1]) if x)
            return res
        except TexgradError as e:
            return ClaimResult(None, shown, None, f"cannot read the printed answer "
                               f"`{' '.join(rhs.split())}`: {e.message}", line,
                               printed=rhs.strip())
        printed = Printed("expr", g, dict(syms), text=text)
        res = compare(d, printed, seed)
        if res.verdict is False:
            res = _unstated(res, d, printed, seed, {*shapes, *assume})
        res.derivative_latex, res.claim, res.printed = shown, line, rhs.strip()
        if res.verdict is False:
            return res
        results.append(res)
    undecided = [x for x in results if x.verdict is None]
    out = undecided[0] if undecided else results[-1]
    if out.verdict is True:
        out.reason = "; ".join(x for x in (out.reason, "a differential: compared along "
                                           "random directions") if x)
    return out


class _Shown:
    """What :func:`_nonconforming` reads of a derivative: its LaTeX."""

    def __init__(self, latex):
        self.latex = latex


def _leaves(e, cls):
    from .ir import walk
    return [x for x in walk(e) if isinstance(x, cls)]


def _nonconforming(r, line: str, rhs: str, why: str) -> ClaimResult:
    return ClaimResult(False, r.latex, float("inf"), "the printed answer does not conform: "
                       + why, line, printed=rhs.strip())


def _joint_shapes(d: Deriv, members: list, shapes: dict, assume: dict):
    """The shapes of every symbol when the function and the printed members (those that are
    not themselves derivatives) are typed together, with one symbol table: (shapes, note),
    or None when they are the shapes already used.  Raises ShapeError when no shapes make
    both conform."""
    from .typeloop import typed_together
    from .parse import parse
    texts = [d.f_text] + [m for m in members if not is_derivative_form(m)]
    joined = "\n= ".join("{" + t + "}" for t in texts)
    ast = parse(joined)
    if ast.op != "chain" or len(ast.args) != len(texts):
        return None
    typer, raws = typed_together(joined, ast.args, shapes, assume)
    _f, _fd, syms = typer.finish(raws[0])
    new = {name: _shape_spec(s) for name, s in syms.items()}
    old = {name: _shape_spec(s) for name, s in d.values.symbols.items()}
    if all(new.get(k) == v for k, v in old.items()) and not set(new) - set(old):
        return None
    changed = [k for k in sorted(new) if k in old and _kind(new[k]) != _kind(old[k])
               or k in old and new[k][:1] * 2 == new[k] != old[k]]
    note = ("shapes read from the printed answer too"
            + (": " + ", ".join(f"{k} {_kind(new[k])}" for k in changed) if changed else ""))
    return {**new, **shapes}, note


def _kind(spec: tuple) -> str:
    if not spec:
        return "a scalar"
    if len(spec) == 1:
        return "a vector"
    return "square" if spec[0] == spec[1] else "a matrix"


def _unstated(res: ClaimResult, d: Deriv, printed: Printed, seed: int,
              stated: set) -> ClaimResult:
    """A wrong member right where a square matrix is symmetric: undecided, "right if A is
    symmetric", when nothing states what A is; wrong, with that hint, when the text or the
    caller declared A (its shape, "A in R^{n x n}", or its assumptions,
    an empty list meaning a general matrix) without making it symmetric."""
    names = square_unstated(d, printed, ())
    # one matrix at a time: with every square matrix symmetric at once, any transposed answer
    # by a square variable would agree, and the commonest misprint would hide as conditional
    trials = [(n,) for n in names]
    for at in trials:
        if compare(d, printed, seed, symmetric_at=at).verdict is True:
            which = " and ".join(at)
            cond = f"right if {which} {'is' if len(at) == 1 else 'are'} symmetric"
            if all(n in stated for n in at):
                res.reason = "; ".join(x for x in (res.reason, cond + ", which is not "
                                                   "assumed") if x)
                return res
            return ClaimResult(None, None, res.max_rel_error,
                               f"{cond}, which the text does not state (--assume "
                               f"{at[0]}=symmetric decides it)", condition=cond,
                               compared=res.compared, tolerance=res.tolerance, sizes=res.sizes)
    return res


def _printed(rhs: str, d: Deriv, shapes: dict, assume: dict, defs: dict, seed: int,
             symmetric: str) -> Printed:
    """A member of the chain, ready to evaluate: a derivative request is differentiated (never
    read as its operand), anything else typed with the shapes of texgrad's derivative."""
    from .api import prepare
    r = d.values
    if is_derivative_form(rhs):
        known = {name: _shape_spec(s) for name, s in r.symbols.items()}
        dm = _derivative_of(rhs, {**known, **shapes}, assume, defs, seed, "G",
                            allow_zero=True)
        if dm is None:
            raise TexgradError("it is itself a derivative, of which texgrad cannot find the "
                               "variable")
        if dm.zero_by:
            return Printed("zero", text=rhs, deriv=dm)
        if not dm.values.verified:
            raise TexgradError("it is itself a derivative, which texgrad could not verify "
                               f"({dm.values.stamp.lstrip('% ')})")
        if dm.values.form == "entry":
            raise TexgradError("it is a derivative by an entry (not supported yet)")
        return Printed("deriv", dm.values.expr, dict(dm.values.symbols), dm, rhs)
    known = {name: _shape_spec(s) for name, s in r.symbols.items()}
    given = {**known, **{k: v for k, v in shapes.items() if k not in known}}
    _req, _name, typer, raw = prepare(rhs, given, {**assume, **{
        n: tuple(s.assume) for n, s in r.symbols.items() if s.assume}})
    want = r.expr.shape
    for i in (0, 1):        # I, \mathbf{0}, \mathbf{1}: the size the comparison needs
        got = typer.dims.find(raw.shape[i])
        if isinstance(got, DimVar) and got.unit_ok and want[i] != 1:
            typer.dims.unify(got, want[i], "the printed answer")
    g, _gd, syms = typer.finish(raw)
    return Printed("expr", g, dict(syms), text=rhs, sizes_as=_sizes_named(syms, r, shapes))


_SIZE_LETTERS = ("n", "d", "m", "p", "k", "N", "D", "M")


def _sizes_named(printed: dict, r, shapes: dict) -> dict:
    """``\\nabla^2 \\|x\\|^2 = 2n``: a scalar letter of the printed answer that f lacks is the
    size it names, where that is unambiguous: a dimension the text or caller declared by that
    name, or, when the claim has one dimension only, a usual size letter (n, d, ...)."""
    dims = {d for s in r.symbols.values() for d in s.dims if isinstance(d, str)}
    declared = {str(d) for spec in shapes.values() for d in spec}
    out = {}
    for name, s in printed.items():
        if name in r.symbols or s.dims != (1, 1) or name in shapes:
            continue
        if name in declared and name in dims:
            out[name] = name
        elif len(dims) == 1 and name in _SIZE_LETTERS:
            out[name] = next(iter(dims))
    return out

def _shape_spec(s) -> tuple:
    r, c = s.dims
    if s.dims == (1, 1):
        return ()
    if c == 1:
        return (r,)
    return (r, c)
