"""The numeric check: a derivative against central differences of f, at random draws.

The check compares the directional derivative <G, V> with a Richardson-extrapolated central
difference of f along random directions V, over several draws (:mod:`texgrad.numeric` draws
them).  Domains are honoured: if f is not finite at a draw (a log of a negative number, a
log det of an indefinite matrix) the draw is repeated with positive entries and spd square
matrices.  :class:`Check` is the verdict and says it in the stamp: verified, CHECK FAILED,
or not verified (and why).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .dims import Fixed, spelled
from .errors import TexgradError
from .families import axes
from .ir import Expr, MatPow, Sym, Zero
from .numeric import (MAX_DRAWN, TOLERANCE, Draws, assign_sizes, dim_size, draw_env, draw_limit,
                      FAMILIES, evaluate, evaluation_order, norm2, safe_evaluate)


VERIFIED, FAILED, NOT_VERIFIED = "verified", "failed", "not verified"

TINY = float(np.finfo(np.float64).tiny)     # the smallest normal float: below it, denormal

# the check's draws are retried scaled by these factors where a comparison at the plain
# draws proves nothing (every value 0 or denormal, f flat at the float level) or cannot be
# made (finite differences overflow): exp(-10^6 x^2) needs small x, tr(X^{1000}) a small
# X, x^{o -1000} a large x
SCALES = (1.0, 0.1, 10.0, 0.5, 2.0, 1e-3, 1e3, 1e-6)


@dataclass
class Check:
    """The numeric check's verdict, one of three (``status``): ``verified`` (the derivative
    agreed with finite differences at informative draws), ``failed`` (a real disagreement
    between finite numbers) or ``not verified`` (the check could not compare anything that
    proves something: the reason says why).  ``passed`` is ``status == "verified"``."""
    passed: bool
    max_rel_error: float
    trials: int
    directions: int = 0
    sizes: dict = field(default_factory=dict)
    convention: str = ""
    reason: str = ""
    worst: tuple = ()          # (finite difference, analytic) at the worst comparison
    tolerance: float = TOLERANCE
    scale: float = 1.0         # the factor the draws were scaled by (1: plain draws; NaN:
    #                            different factors for different draws)
    note: str = ""             # how it was verified, when not by finite differences
    undefined: bool = False    # not verified because f is undefined at every draw tried
    disagreement: bool = False  # failed with a reason (a check beyond finite differences)

    @property
    def status(self) -> str:
        if self.passed:
            return VERIFIED
        return NOT_VERIFIED if self.reason and not self.disagreement else FAILED

    @property
    def verified(self) -> bool:
        return self.passed

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def stamp(self) -> str:
        size_txt = ", ".join(f"{spelled(k)}={v}" for k, v in self.sizes.items()
                             if not isinstance(k, Fixed))
        where = f" ({size_txt})" if size_txt else ""
        if self.passed and self.note:
            return f"% verified: {self.note}; {self.convention}"
        if self.passed:
            scaled = "" if self.scale == 1.0 else f" scaled by {self.scale:g}" \
                if np.isfinite(self.scale) else " (some rescaled)"
            return (f"% verified numerically: max rel. error {self.max_rel_error:.1e} over "
                    f"{self.trials} random draws{scaled} x "
                    f"{_count(self.directions // max(self.trials, 1), 'direction')}{where}; "
                    f"{self.convention}")
        if self.reason and self.disagreement:
            return f"% CHECK FAILED: {self.reason}{where}; {self.convention}"
        if self.reason:
            return f"% NOT VERIFIED: {self.reason}"
        fd, an = self.worst if self.worst else (float("nan"), float("nan"))
        return (f"% CHECK FAILED: max rel. error {self.max_rel_error:.1e} > {self.tolerance:.0e}"
                f"{where}: finite differences give {fd:.6g}, the formula gives {an:.6g}; "
                f"{self.convention}")

    def to_dict(self) -> dict:
        """Strict-JSON-safe: an error or value that is not a finite number is None."""
        err = self.max_rel_error
        return {"passed": self.passed, "status": self.status,
                "max_rel_error": err if isinstance(err, (int, float)) and np.isfinite(err)
                else None,
                "trials": self.trials, "directions": self.directions,
                "sizes": {spelled(k): v for k, v in self.sizes.items()},
                "convention": self.convention, "reason": self.reason,
                "scale": self.scale if np.isfinite(self.scale) else None}


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _finite(x) -> bool:
    return bool(np.isfinite(x).all())


class Values:
    """The values of expressions at one draw, each computed once: a draw's f and derivative
    are evaluated when the draw is validated and again when it is compared (f0, and the
    derivative once per direction).  Keyed by the expression and the draw's identity; a new
    draw forgets the last one's values."""

    __slots__ = ("env", "memo")

    def __init__(self):
        self.env, self.memo = None, {}

    def __call__(self, expr: Expr, env: dict, sizes, entry: dict | None = None):
        if env is not self.env:
            self.env, self.memo = env, {}
        key = (id(expr), tuple(sorted(entry.items())) if entry else ())
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = (expr, evaluate(expr, env, sizes, entry))
        return hit[1]

    def safe(self, expr: Expr, env: dict, sizes):
        """The value, or None where linear algebra fails (a singular matrix)."""
        try:
            return self(expr, env, sizes)
        except np.linalg.LinAlgError:
            return None


def check_gradient(f: Expr, grad: Expr, x: Sym, syms: dict, *, trials: int = 3,
                   directions: int = 2, seed: int = 0, convention: str = "",
                   space: str = "G") -> Check:
    """Compare <grad, V> with central differences of f along V at random points.  For a
    symmetric variable, ``space`` says in which sense the gradient is claimed: ``G`` along
    every direction, ``sym`` along symmetric directions, ``cookbook`` (a derivative by the
    independent entries) along symmetric directions counting each off-diagonal pair once."""
    def apply(env, sizes, v, values):
        g = values(grad, env, sizes)
        if space == "cookbook":
            g = np.triu(g)
        # d f(x + hV)/dh = Re <conj(G), V>: G = df/dRe x + i df/dIm x for complex x
        gv = np.conj(g) * v
        return (np.array(float(np.real(np.sum(gv)))), float(np.sum(np.abs(gv))))
    out = check_derivative(f, x, syms, apply, [grad], trials=trials, directions=directions,
                           seed=seed, convention=convention, real_f=True,
                           symmetric_directions=space != "G")
    if out.undefined:
        raise undefined_error()
    return out


def check_along(f: Expr, e: Expr, grad: Expr, F: Expr, x: Sym, syms: dict, *, trials: int = 3,
                seed: int = 0, convention: str = "") -> Check:
    """Compare ``e`` (the derivative of f along the velocity F) with central differences of
    f along F(x) itself, at random points (the gradient only scales the error)."""
    def direction(env, sizes, values):
        return np.asarray(values(F, env, sizes), dtype=float)

    def apply(env, sizes, v, values):
        g = values(grad, env, sizes)
        return (np.array(float(np.real(values(e, env, sizes)[0, 0]))),
                float(np.sum(np.abs(np.conj(g) * v))))
    out = check_derivative(f, x, syms, apply, [e, grad, F], trials=trials, directions=1,
                           seed=seed, convention=convention, real_f=True, direction=direction)
    if out.undefined:
        raise undefined_error()
    return out


def undefined_error():
    """The TexgradError for a formula undefined at every point the check tried (bad input,
    not a derivative that cannot be verified)."""
    return TexgradError("the formula is undefined at every point tried (plain random draws, "
                        "positive entries, spd matrices, rescaled draws)",
                        hint="a logarithm of 0 or of a negative number, a power of 0, an "
                             "inverse or log det of a singular matrix such as X - X; declare "
                             "assumptions (--assume X=spd, x=positive) if the domain is narrow")


def apply_vec(jac: Expr, f_shape_of):
    """The directional derivative from a vec-form Jacobian: J vec(V), in the shape of F."""
    def apply(env, sizes, v, values):
        jv = values(jac, env, sizes) @ v.reshape(-1, 1, order="F")
        r, c = f_shape_of(sizes)
        return jv.reshape(r, c, order="F"), norm2(jv)
    return apply


def apply_scalar(d: Expr):
    """The derivative by a scalar t, applied to a direction: D v."""
    def apply(env, sizes, v, values):
        out = values(d, env, sizes) * v[0, 0]
        return out, norm2(out)
    return apply


def apply_entries(d: Expr, x: Sym, i: str, j: str | None):
    """The derivative by every entry X_{ij}, applied to a direction: sum_ij D_ij V_ij."""
    def apply(env, sizes, v, values):
        total = 0
        for a in range(v.shape[0]):
            for b in range(v.shape[1]):
                entry = {i: a} if j is None else {i: a, j: b}
                total = total + values(d, env, sizes, entry) * v[a, b]
        return total, norm2(total)
    return apply


def _bound_draws(syms: dict, sizes: dict) -> None:
    """A draw of every symbol (and a direction) holds at most :data:`MAX_DRAWN` entries in
    all: declared sizes of thousands would otherwise take minutes and gigabytes."""
    total = 0
    for s in syms.values():
        r, c = (dim_size(d, sizes) for d in s.dims)
        total += r * c * (2 if "complex" in s.assume else 1)
    if total > MAX_DRAWN:
        raise draw_limit(total, "at each point")


def scaled(env: dict, syms: dict, scale: float) -> dict:
    """The draw with every value multiplied by ``scale`` (orthogonal matrices kept: a
    multiple of one is not orthogonal); assumptions such as spd, symmetric, positive,
    diagonal and invertible survive a positive factor."""
    if scale == 1.0:
        return env
    return {k: ({m: a * scale for m, a in v.items()} if k == FAMILIES else
                v if "orthogonal" in syms[k].assume else v * scale) for k, v in env.items()}


def _symbolically_zero(f: Expr, x: Sym, derivs: list) -> bool:
    """f does not contain x and every derivative is the symbolic 0: nothing to compare, and
    nothing to doubt."""
    from .rules import depends_on
    return all(isinstance(d, Zero) for d in derivs) and f not in depends_on(f, x)


def check_derivative(f: Expr, x: Sym, syms: dict, apply, derivs: list, *, trials: int = 3,
                     directions: int = 2, seed: int = 0, convention: str = "",
                     real_f: bool = False, symmetric_directions: bool = False,
                     direction=None) -> Check:
    """Compare the derivative applied to directions V (``apply(env, sizes, V, values)``,
    ``values`` a :class:`Values`) with Richardson-extrapolated central differences of f
    along V, at random points; V is random, or ``direction(env, sizes, values)`` where the
    caller gives it (the velocity of a flow).

    A comparison proves something only when the numbers compared are not all 0 or denormal
    and f varies at the float level along V; one that does not, or whose finite differences
    overflow, is retried at draws scaled by the factors of :data:`SCALES`.  A draw where no
    scale gives an informative comparison is not counted; when no draw is left the verdict
    is ``not verified`` with the reason, never ``failed`` (which needs a disagreement
    between finite numbers)."""
    rng = Draws(seed)
    sizes = assign_sizes(syms)
    _bound_draws(syms, sizes)
    zero = _symbolically_zero(f, x, derivs)
    worst = 0.0
    worst_pair = ()
    done = 0
    dirs = 0
    used: list = []            # the scale of each counted draw
    scales = list(SCALES)
    why = {"vacuous": 0, "overflow": 0, "no draw": 0, "nan": 0, "inf": 0, "tried": 0}
    values = Values()
    with np.errstate(all="ignore"):
        for t in range(trials):
            trial_ok = False
            for scale in list(scales):
                env, sz, seen = _find_draw(f, derivs, syms, sizes, rng, x, scale, values,
                                           thorough=(t == 0 and scale == scales[0])
                                           or scale == 1.0)
                for k in seen:
                    why[k] += seen[k]
                if env is None:
                    why["no draw"] += 1
                    continue
                if zero:              # f is defined here, and x is not in it
                    return Check(True, 0.0, 0, 0, sz, convention,
                                 note=f"f does not depend on {x.name}, so the derivative "
                                      "is 0")
                x0 = env[x.name]
                f0 = values(f, env, sz)
                if real_f and abs(np.imag(f0[0, 0])) > 1e-9 * max(1.0, abs(f0[0, 0])):
                    return Check(False, float("nan"), done, dirs, sz, convention,
                                 reason="f is complex-valued, so it has no gradient (a real "
                                        "function of complex variables has)")
                results = []
                informative = True
                for _ in range(directions):
                    if direction is not None:      # the direction the caller gives
                        v = direction(env, sz, values)
                    else:
                        v = rng.standard_normal(x0.shape)
                        if np.iscomplexobj(x0):
                            v = v + 1j * rng.standard_normal(x0.shape)
                        if symmetric_directions:
                            v = (v + v.T) / 2
                        v = v * scale if "orthogonal" not in x.assume else v
                    res = _one_direction(f, env, sz, x, x0, v, f0, apply, real_f,
                                         values)
                    if res[0] != "ok":
                        why[res[0]] += 1
                        informative = False
                        break
                    results.append(res[1:])
                if not informative:
                    continue          # rescale: this draw proves nothing
                sizes = sz
                for err, fd, an in results:
                    if err >= worst:
                        worst = err
                        worst_pair = (_first(fd), _first(an))
                    dirs += 1
                done += 1
                trial_ok = True
                used.append(scale)
                if scale != scales[0]:   # later draws start at the scale that worked
                    scales.remove(scale)
                    scales.insert(0, scale)
                break
            if not trial_ok and done == 0:
                break                    # no scale helped the first draw: none will
    if done == 0:
        out = Check(False, float("nan"), 0, 0, sizes, convention,
                    reason=_unverified_reason(why))
        # f itself undefined (NaN, a singular matrix) at every draw tried, never merely
        # overflowing or with only its derivative undefined
        out.undefined = why["tried"] > 0 and why["nan"] == why["tried"]
        return out
    return Check(worst <= TOLERANCE, worst, done, dirs, sizes, convention, worst=worst_pair,
                 scale=used[0] if len(set(used)) == 1 else float("nan"))


def _unverified_reason(why: dict) -> str:
    if why["vacuous"] and why["vacuous"] >= why["overflow"]:
        return ("the check proves nothing here: f and the derivative are 0 or denormal "
                "(underflow), or f is flat at the float level, at every draw tried, also at "
                "rescaled draws")
    if why["overflow"]:
        return ("finite differences of f cannot be computed (they overflow or are undefined "
                "near every draw tried, also at rescaled draws)")
    if why["inf"] and not why["nan"]:
        return ("f or its derivative overflows at every random draw tried, also at rescaled "
                "draws")
    return ("f or its derivative is not finite at any random draw (declare assumptions such "
            "as positive or spd)")


def _find_draw(f, derivs, syms, sizes, rng, x, scale, values, thorough):
    """A valid draw at ``scale``: plain draws, then positive entries and spd matrices; on
    the first (thorough) search also the sizes in the other order (det(A^T X A) needs A
    tall, log det(X^T X) needs X tall).  Returns (env, sizes, counts of non-finite f)."""
    seen = {"nan": 0, "inf": 0, "tried": 0}
    fams = axes(f)
    size_sets = (sizes, assign_sizes(syms, reverse=True)) if thorough else (sizes,)
    for sz in size_sets:
        for profile in range(4):
            for _attempt in range(3 if thorough else 1):
                cand = scaled(draw_env(syms, sz, rng, profile, fams), syms, scale)
                ok, kind = _valid(f, derivs, cand, sz, x, values)
                seen["tried"] += 1
                if ok:
                    return cand, sz, seen
                if kind:
                    seen[kind] += 1
    return None, sizes, seen


def _one_direction(f, env, sizes, x, x0, v, f0, apply, real_f, values):
    """One comparison along V: ("ok", error, finite difference, analytic), or
    ("vacuous", ...) / ("overflow", ...) when it proves nothing."""
    def phi(h):
        e2 = dict(env)
        e2[x.name] = x0 + h * v
        val = safe_evaluate(f, e2, sizes)
        if val is None:
            return np.full(f0.shape, np.nan)
        return np.real(val) if real_f else val

    an, magnitude = apply(env, sizes, v, values)
    if not _finite(an) or not np.isfinite(magnitude):
        return ("overflow",)
    # a floor relative to f and the step keeps an identically zero derivative
    # (sin^2 + cos^2) from dividing rounding noise by zero
    floor = 1e-6 * max(1.0, float(np.max(np.abs(f0)))) * norm2(v) / max(1.0, norm2(x0))
    base = 1e-3 * max(1.0, float(np.max(np.abs(x0))))
    err, fd = float("inf"), None
    # Richardson-extrapolated central differences; where the first step is too coarse or
    # too fine for this f (fast oscillation, cancellation), smaller and larger steps are
    # tried: a right derivative agrees at some step, a wrong one at none
    for h in (base, base / 8, base / 64, base * 4, base / 512, base / 4096):
        e1, fd1 = _compare(phi, h, an, magnitude, floor)
        if fd1 is None:
            continue                  # the differences overflow at this step
        if e1 < err or fd is None:
            err, fd = e1, fd1
        if err <= TOLERANCE:
            break
    if fd is None:
        return ("overflow",)
    an_max = float(np.max(np.abs(an))) if np.size(an) else 0.0
    fd_max = float(np.max(np.abs(fd))) if np.size(fd) else 0.0
    f_max = float(np.max(np.abs(f0))) if np.size(f0) else 0.0
    if an_max < TINY and fd_max < TINY and f_max < TINY:
        # f, its differences and the derivative all 0 or denormal (underflow): any answer
        # would have agreed
        return ("vacuous",)
    if fd_max == 0.0 and an_max >= TINY and err <= TOLERANCE:
        # f flat at the float level along V (its differences exactly 0) while the
        # derivative says it changes: the agreement is the floor's, not f's
        return ("vacuous",)
    return ("ok", err, fd, an)


def _compare(phi, h, an, magnitude, floor):
    """Relative error of ``an`` against the Richardson-extrapolated central difference of
    ``phi`` at step ``h``; returns (error, the difference), or (inf, None) when the
    difference is not finite (f overflows or is undefined near the point)."""
    d1 = (phi(h) - phi(-h)) / (2 * h)
    d2 = (phi(h / 2) - phi(-h / 2)) / h
    fd = (4 * d2 - d1) / 3
    if not _finite(fd):
        return float("inf"), None
    a = np.asarray(an).reshape(np.shape(fd)) if np.size(an) == np.size(fd) else an
    try:
        diff = norm2(fd - a)
    except ValueError:
        diff = float("inf")
    scale = max(norm2(fd), norm2(a), magnitude, floor, 1e-300)
    err = diff / scale
    return (err if np.isfinite(err) else float("inf")), fd


def _first(a) -> float:
    a = np.asarray(a)
    return float(np.real(a.flat[0])) if a.size else float("nan")


def _valid(f: Expr, derivs: list, env: dict, sizes: dict, x: Sym, values: Values):
    """(whether f and the derivatives are finite and well conditioned at ``env``, and when
    f is not: "nan" where it is undefined, "inf" where it overflows, else None)."""
    fv = values.safe(f, env, sizes)
    if fv is None:
        return False, "nan"
    if not _finite(fv):
        return False, _why_not_finite(f, env, sizes)
    if not all(well_conditioned(e, env, sizes) for e in (f, *derivs)):
        return False, None
    for d in derivs:
        dv = values.safe(d, env, sizes)            # an entry's indices at 0 (the default)
        if dv is None or not _finite(dv):
            return False, None
    return True, None


def _why_not_finite(f: Expr, env: dict, sizes: dict) -> str:
    """Why f is not finite at ``env``: "inf" where the first floating-point fault is an
    overflow (exp(1000): a magnitude, which a rescaled draw may avoid), else "nan" (log 0,
    0^{-1}, a NaN: undefined there)."""
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            safe_evaluate(f, env, sizes)
    except FloatingPointError as e:
        return "inf" if "overflow" in str(e) else "nan"
    except Exception:
        return "nan"
    return "nan"


def well_conditioned(f: Expr, env: dict, sizes: dict) -> bool:
    """Inverses in f and in its derivative are evaluated at matrices that are not
    near-singular (condition number at most 1e3: at 1e4, about 0.3% of seeds gave a right
    derivative of tr(X^{-1}A) a false alarm; at 1e3 none in 3,000).  A determinant alone
    is finite even of a singular matrix (det(W - W) + t)."""
    for e in evaluation_order(f)[0]:
        if isinstance(e, MatPow) and isinstance(e.k, int) and e.k < 0:
            m = safe_evaluate(e.arg, env, sizes)
            if m is None or m.shape[0] > 1 and np.linalg.cond(m) > 1e3:
                return False
    return True
