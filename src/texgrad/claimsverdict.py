"""Deciding a claim numerically: texgrad's derivative against the printed answer, and the verdict.

``compare`` evaluates both closed forms exactly at random points of at least two size sets
(the sizes, points, tolerance and verdicts of ``texgrad.claims``' docstring) and gives the
``ClaimResult``: right, wrong (transposed, another convention, a Wirtinger derivative named),
or undecided with the reason.  ``Deriv`` (texgrad's derivative of a request) and ``Printed``
(a member of the chain, ready to evaluate) are what it compares.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .dims import Fixed, spelled

REL_TOL = 1e-9                     # the claim comparison's relative tolerance (texgrad.claims)
ROUNDING_FACTOR = 100.0            # x the observed sensitivity to rounding
MIN_COMPARED = 3                   # points needed for `ok`
MIN_SIZE_SETS = 2                  # ... at this many size sets
TINY = 1e-250                      # both sides below it: the point proves nothing
SCALES = (0.1, 0.01, 1e-3, 1e-4, 10.0, 100.0)


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
    condition: str = ""           # undecided: right under this unstated assumption
    shapes: dict = field(default_factory=dict)  # the shapes read: name -> dimension names
    layout_vote: str = ""         # the layout the printed answer is laid out in, where the two
    #                               differ: "numerator" | "denominator" (texgrad.claimslayout)
    form: str = ""                # texgrad's derivative: gradient (of a scalar) | vec | scalar
    statement: str = ""           # not a claim: "a rule", "an update step", ... (claimsrules)
    layout: str | None = None     # the document's layout, as used for this claim
    layout_source: str = ""       # why: "prose" | "majority" | "option" | "none"
    offset: int = -1              # where the claim starts and ends in the document's text
    end: int = -1                 # (character offsets; -1 outside a document)

    def to_dict(self) -> dict:
        d = _json_safe(asdict(self))
        d["shapes"] = {k: [spelled(x) for x in v] for k, v in self.shapes.items()}
        d["status"] = self.status
        return d

    def _repr_markdown_(self):
        verdict = {"ok": "right", "wrong": "**wrong**", "skipped": "undecided",
                   "conditional": "right under an assumption",
                   "transposed": "right only in the transposed layout",
                   "not-a-claim": "not a claim"}[self.status]
        out = f"Claim {verdict}"
        if self.derivative_latex:
            out += f": the derivative is $${self.derivative_latex}$$"
        if self.reason:
            out += f"\n\n*{self.reason}*"
        return out

    @property
    def status(self) -> str:
        """ok | wrong | skipped | conditional | transposed (right only in the other layout,
        which the document does not settle) | not-a-claim (a rule, an update step, ...)."""
        if self.statement:
            return "not-a-claim"
        if self.verdict is None and self.convention == "transposed":
            return "transposed"
        if self.verdict is None and self.condition:
            return "conditional"
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


@dataclass
class Deriv:
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
    f_text: str = ""            # the function differentiated, as read (definitions in)
    fixed: tuple = ()           # names held at 0 in every draw (a differential's step)
    laplacian: bool = False     # \nabla^2 f read as the Laplacian


@dataclass
class Printed:
    kind: str                   # expr | deriv | zero
    expr: object = None         # the printed answer (typed), or the member's derivative
    syms: dict = field(default_factory=dict)
    deriv: object = None        # Deriv of a member that is a request
    text: str = ""
    sizes_as: dict = field(default_factory=dict)    # a letter read as a dimension's size


# ------------------------------------------------------------- the numeric comparison

def _size_sets(base: dict) -> list[dict]:
    """The sizes where texgrad's check found f defined, then every dimension raised by 2 and
    by 4 (order kept, so a tall X stays tall; declared numeric sizes ``#k`` kept)."""
    def shifted(k):
        return {n: (v if isinstance(n, Fixed) else v + k) for n, v in base.items()}
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
    d = np.ravel(a - b)                 # shapes broadcast as in the comparison itself
    a, b = np.ravel(a), np.ravel(b)
    return math.sqrt(float(np.vdot(d, d).real)) / math.sqrt(max(float(np.vdot(a, a).real),
                                                                float(np.vdot(b, b).real)))


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
            if isinstance(v, dict):                 # the families: kept as drawn
                env2[k] = v
                continue
            noise = rng.bulk_normal(np.shape(v))
            env2[k] = v * (1 + 16 * eps * noise)
        v2 = fn(env2, dict(sizes))
        if v2 is None or v2.shape != value.shape:
            return 1e-4         # not even finite nearby: a generous bound, still far from ok
        worst = max(worst, _rel(value, v2))
    return worst


def compare(d: Deriv, p: Printed, seed: int, symmetric_at: tuple = ()) -> ClaimResult:
    """Compare texgrad's derivative with the printed member at random points (see the module
    docstring for the sizes, points, tolerance and verdicts); ``symmetric_at``: names of
    square matrices drawn symmetric (the points where an unstated assumption holds)."""
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
        if a is None or not CK.well_conditioned(ours_expr, env, sizes) or \
                not CK.well_conditioned(f_expr, env, sizes):
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
        if b is None or not CK.well_conditioned(p.expr, env, sizes):
            return None
        return b

    from .families import axes
    fams = {**axes(f_expr), **axes(ours_expr), **({} if p.kind == "zero" else axes(p.expr))}
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
                env = NM.draw_env(allsyms, sizes, rng, profile, fams)
                for name in symmetric_at:
                    env[name] = (env[name] + env[name].T) / 2
                for name in d.fixed:
                    env[name] = env[name] * 0.0
                for name, dim in p.sizes_as.items():
                    env[name] = env[name] * 0.0 + sizes[dim]
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
                        env2 = CK.scaled(env, allsyms, s)      # orthogonal ones kept
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
                shown_sizes = {spelled(k): v for k, v in sizes.items()}
                if shown_sizes not in used_sizes:
                    used_sizes.append(shown_sizes)
            if got >= 2:
                break
    res = _verdict(d, p, pairs, undefined, vacuous, used_sizes)
    if p.sizes_as and res.verdict is not None:
        note = ", ".join(f"{k} read as the size {v}" for k, v in p.sizes_as.items())
        res.reason = "; ".join(x for x in (res.reason, note) if x)
    return res


_CONVENTIONS = {
    "G": "the unconstrained gradient G",
    "sym": "the gradient on symmetric matrices, (G + G^T)/2",
    "cookbook": "the derivative by the independent entries, G + G^T - I o G "
                "(Matrix Cookbook sec. 2.8)",
}


def square_unstated(d: Deriv, p: Printed, stated) -> list:
    """The square matrices of a claim whose structure the text does not state (nor the
    caller, ``stated``): where a printed answer is right only if one is symmetric, the
    claim is right under an assumption the text leaves out."""
    syms = {**p.syms, **d.values.symbols}
    if p.kind == "deriv":
        syms = {**p.deriv.values.symbols, **syms}
    return sorted(n for n, s in syms.items()
                  if len(s.dims) == 2 and s.dims[0] == s.dims[1] and s.dims[0] != 1
                  and n not in stated and not ({"symmetric", "spd", "diagonal", "orthogonal"}
                                               & set(s.assume)))


def _candidates(d: Deriv, p: Printed, symmetric: str):
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


def _verdict(d: Deriv, p: Printed, pairs, undefined: int, vacuous: int,
             used_sizes: list) -> ClaimResult:
    symmetric = d.symmetric
    n_sets = len({si for *_x, si in pairs})
    tol = max((t for _a, _b, t, _s in pairs), default=None)
    common = dict(compared=len(pairs), tolerance=tol, sizes=used_sizes,
                  form=getattr(d.values, "form", "") or "")

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
        fits = set()                        # (convention, orientation) agreeing at every point
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
                if all(e <= t for e, t in errs):
                    fits.add((conv, o))
                    if found is None:
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
                               convention="transposed", layout_vote=layout_of(d, p, False),
                               **common)
        both = a0.size == 1 or any(c == conv and x == other for c, x in fits)
        vote = "" if both else layout_of(d, p, True)
        if conv and conv != symmetric:
            note = (f"matches the `{conv}` convention for a symmetric "
                    f"{d.shown.wrt}: {_CONVENTIONS[conv]} (--symmetric {conv})")
            return _enough(ClaimResult(True, None, err, note, convention=conv,
                                       layout_vote=vote, **common), n_sets)
        return _enough(ClaimResult(True, None, err, "", layout_vote=vote, **common), n_sets)
    return _enough(ClaimResult(True, None, max(_rel(a, b) for a, b, *_x in pairs), "",
                               **common), n_sets)


def layout_of(d: Deriv, p: Printed, direct: bool) -> str:
    """The layout a printed answer is laid out in when it matches texgrad's derivative
    (``direct``) or only its transpose: texgrad lays a gradient out like its variable (the
    denominator layout) and a Jacobian, or a derivative by a scalar, like the function (the
    numerator layout).  "" where the orientation is no layout's: a request by ``x^T`` (it
    names the row), a conjugate variable, a differential, a member that is a derivative."""
    if d.row or d.conj or d.fixed or p.kind != "expr":
        return ""
    form = getattr(d.values, "form", "")
    ours = {"gradient": "denominator", "vec": "numerator", "scalar": "numerator"}.get(form, "")
    if not ours or direct:
        return ours
    return "numerator" if ours == "denominator" else "denominator"


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
