"""The stationary point in closed form (issue 14, item 1): ``texgrad solve``.

The gradient G(x) of f is computed (and checked) as ``texgrad EXPR`` does.  When G is affine
in x -- its differential dG[V] does not contain x -- the condition G(x) = 0 is a linear
equation, L(x) = r with r = -G(0), and L is read off dG[V]:

- ``M V`` (every term a product ending in V): ``M x = r``, solved as ``x = M^{-1} r``;
- ``V N``: ``x N = r``, ``x = r N^{-1}``;
- ``M V + V N``: a Sylvester equation, stated and not solved;
- one term ``M V N``: ``M x N = r``, ``x = M^{-1} r N^{-1}``;
- anything else (several two-sided terms, ``V^T``...): the condition stated, not solved.

A common numeric factor of both sides is divided out (``2A^TAx = 2A^Tb`` is printed
``A^TAx = A^Tb``, the normal equations).  The solution assumes M (or N) invertible, and says
so; it is checked numerically: at random draws of the other symbols (the sizes given to
the dimensions in several orders, so that ``A^TA`` of a tall A and ``BB^T`` of a wide B are
among them), the gradient evaluated at the solution must vanish, relative to the size of
its terms.  Where G is not affine in x (the logistic loss), the condition ``G = 0`` is all
there is, and the answer says why.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from . import construct as S
from .errors import TexgradError, Unsupported
from .ir import SCALAR, Add, Identity, MatMul, Mul, Sym, Zero, is_complex

TOLERANCE = 1e-8            # the residual of the gradient at the solution, relative
MAX_CONDITION = 1e8         # a draw where M is worse conditioned proves nothing


class Solution(NamedTuple):
    gradient: object            # the gradient's Result (with its own check)
    condition: str              # LaTeX: M x = r
    solution: str | None        # LaTeX: x = M^{-1} r, or None where none is printed
    assumptions: tuple          # what the solution assumes ("A^{T}A invertible")
    verified: bool | None       # the residual check (None: not run or no solution)
    stamp: str                  # what the check found, in words
    reason: str = ""            # why no solution is printed
    expr: object = None         # the solution's IR (None where none is printed)

    def evaluate(self, values: dict):
        """The solution's value (NumPy; a vector 1-D) at ``values`` of the other symbols."""
        from .errors import guarded
        return guarded(self._evaluate)(values)

    def _evaluate(self, values: dict):
        from .numeric import evaluate, to_user
        from .result import bind_values
        if self.expr is None:
            raise TexgradError("there is no closed-form solution to evaluate",
                               hint=self.reason)
        syms = {k: v for k, v in self.gradient.symbols.items() if k != self.gradient.wrt}
        env, sizes = bind_values(syms, values, self.expr)
        return to_user(evaluate(self.expr, env, sizes), self.expr.shape)

    def to_dict(self) -> dict:
        return {"input": self.gradient.input, "wrt": self.gradient.wrt,
                "condition": self.condition, "solution": self.solution,
                "assumptions": list(self.assumptions), "verified": self.verified,
                "stamp": self.stamp, "reason": self.reason,
                "gradient": self.gradient.latex, "gradient_verified": self.gradient.verified}


def _linear_parts(e, v) -> list | None:
    """``e``, linear in ``v``, as terms ``L v R`` ([(L, R)], None for an identity), or
    None where a term is not of that form."""
    if e == v:
        return [(None, None)]
    if isinstance(e, Zero):
        return []
    if isinstance(e, Add):
        out = []
        for t in e.terms:
            part = _linear_parts(t, v)
            if part is None:
                return None
            out += part
        return out
    kids = e.factors if isinstance(e, (Mul, MatMul)) else None
    if kids is None:
        return None
    with_v = [k for k, f in enumerate(kids) if _has(f, v)]
    if len(with_v) != 1:
        return None
    k = with_v[0]
    inner = _linear_parts(kids[k], v)
    if inner is None:
        return None
    if isinstance(e, Mul):                  # scalar factors: into the side that has one
        s = S.mul(*kids[:k], *kids[k + 1:])
        return [(L, S.mul(s, R)) if L is None and R is not None else
                (s if L is None else S.mul(s, L), R) for L, R in inner]
    left, right = kids[:k], kids[k + 1:]
    return [(_chain(left, L), _chain_r(R, right)) for L, R in inner]


def _has(e, v) -> bool:
    from .rules import depends_on
    return e in depends_on(e, v)


def _chain(left, L):
    parts = [*left] + ([] if L is None else [L])
    return S.matmul(*parts) if parts else None


def _chain_r(R, right):
    parts = ([] if R is None else [R]) + [*right]
    return S.matmul(*parts) if parts else None


def _sum(parts, n) -> object:
    """The sum of the sides, a scalar one standing for itself times the identity."""
    return S.add(*[Identity(n) if p is None else
                   S.mul(p, Identity(n)) if p.shape == SCALAR and n != 1 else p
                   for p in parts])


def _one_map(parts, x):
    """(L, R): the linear map as ``L x R`` (None for a side that is not there): terms
    ``M V`` summed into L, ``V N`` into R, or one term ``M V N``; None for any other map
    (a Sylvester equation...)."""
    if not parts:
        return None
    if x.dims == SCALAR:                     # scalars commute: every side is one factor
        parts = [(S.mul(*[p for p in (L, R) if p is not None])
                  if L is not None or R is not None else S.ONE, None) for L, R in parts]
    if all(R is None for _L, R in parts):
        return (_sum([L for L, _R in parts], x.dims[0]), None)
    if all(L is None for L, _R in parts):
        return (None, _sum([R for _L, R in parts], x.dims[1]))
    if len(parts) == 1:
        return parts[0]
    return None


def _normalised(m, r):
    """Both sides divided by the numeric factor of m (``2A^TA x = 2A^Tb`` -> ``A^TA x =
    A^Tb``)."""
    from .factor import factor
    m, r = factor(m), factor(r)
    k, rest = S.split_coef(m)
    if k in (0, 1):
        return m, r
    if rest is None:                        # a number: x = r / k
        return S.ONE, factor(S.mul(S.const(Fraction(1) / k), r))
    return rest, factor(S.mul(S.const(Fraction(1) / k), r))


def solve(latex: str, wrt: str | None = None, shapes: dict | None = None,
          assume: dict | None = None, seed: int = 0, verify: bool = True,
          time_limit: float | None = None, let=()) -> Solution:
    """The stationary point of ``latex`` by ``wrt`` (see the module docstring); ``let``
    names subexpressions as :func:`texgrad.differentiate` does."""
    from .api import differentiate
    from .factor import factor, resimplify
    from .limits import time_limited
    from .printer import latex as to_latex
    from .rules import differential
    with time_limited(time_limit):
        let = tuple(let or ())
        g = differentiate(latex, wrt=wrt, shapes=shapes, assume=assume, kind="gradient",
                          verify=verify, seed=seed, let=let)
        style = g.style
        x = g.symbols[g.wrt]
        if is_complex(g.f) or "complex" in x.assume:
            raise Unsupported("texgrad solve for complex variables is not supported",
                              line=1, column=1, source=latex)
        G = g.expr
        v = Sym(f"{x.name}__direction", x.dims, x.latex, frozenset())
        dG = factor(differential(G, x, v))
        r = factor(S.neg(resimplify(G, {x: Zero(x.dims)})))

        def show(e):
            return to_latex(e, style)
        xl = show(x)
        if _has(dG, x):
            return Solution(g, f"{g.latex} = {show(S.zero_like(G))}", None, (), None, "",
                            f"the gradient is not affine in {xl} (the condition is "
                            "nonlinear)")
        parts = _linear_parts(dG, v)
        if parts == []:
            return Solution(g, f"{g.latex} = {show(S.zero_like(G))}", None, (), None, "",
                            f"the gradient does not depend on {xl}: f is linear in it, so "
                            f"a stationary point exists only where the gradient is 0, and "
                            f"then every {xl} is one")
        sides = _one_map(parts, x)
        if sides is None:
            linear = factor(resimplify(dG, {v: x}))
            why = ("a Sylvester equation (M X + X N = R): solve it numerically, e.g. "
                   "scipy.linalg.solve_sylvester" if parts and all(
                       (L is None) != (R is None) for L, R in parts) else
                   "the linear map is not a one-sided product (M X or X N)")
            return Solution(g, f"{show(linear)} = {show(r)}", None, (), None, "", why)
        L, R = sides
        if L is not None:                    # the numeric factor to the right-hand side
            L, r = _normalised(L, r)
        else:
            R, r = _normalised(R, r)
        if x.dims == SCALAR:
            lhs, sol = S.mul(L, x), S.mul(r, S.power(L, -1))
        else:
            lhs = S.matmul(*[f for f in (L, x, R) if f is not None])
            sol = S.matmul(*[f for f in (None if L is None else S.inverse(L), r,
                                         None if R is None else S.inverse(R))
                             if f is not None])
        cond, sol = f"{show(lhs)} = {show(r)}", factor(sol)
        inverted = [m for m in (L, R) if m is not None and not isinstance(m, Identity)
                    and m != S.ONE]
        assumes = tuple(f"{show(m)} invertible" if x.dims != SCALAR else
                        f"{show(m)} \\neq 0" for m in inverted)
        verified, stamp = (None, "") if not verify else \
            check_solution(G, x, sol, inverted, {**g.symbols}, seed)
        return Solution(g, cond, f"{xl} = {show(sol)}", assumes, verified, stamp, "", sol)


def _size_orders(base: dict, most: int = 24):
    """The draw's sizes, then the same sizes given to the dimensions in other orders (A^TA
    needs a tall A, BB^T a wide B: some order has both)."""
    from itertools import islice, permutations
    names = [k for k, v in base.items() if isinstance(v, int)]
    values = [base[k] for k in names]
    for perm in islice(permutations(values), most):
        yield {**base, **dict(zip(names, perm))}


def _invertible(mv) -> bool:
    import numpy as np
    if not np.all(np.isfinite(mv)) or np.all(mv == 0):
        return False
    return mv.shape[0] == 1 or np.linalg.cond(mv) <= MAX_CONDITION


def check_solution(G, x, sol, ms, syms: dict, seed: int = 0, trials: int = 3):
    """(whether the gradient vanishes at the solution, the stamp's words): at random draws
    of the other symbols, the sizes given to the dimensions in several orders; a draw where
    a matrix of ``ms`` (those the solution inverts) is near singular proves nothing and is
    skipped."""
    import numpy as np
    from .numeric import Draws, assign_sizes, draw_env, evaluate, norm2
    from .rules import differential
    rng = Draws(seed + 11)
    others = {k: s for k, s in syms.items() if k != x.name}
    worst, done, used = 0.0, 0, None
    for sizes in _size_orders(assign_sizes(syms)):
        for _attempt in range(4 * trials):
            if done >= trials:
                break
            env = draw_env(others, sizes, rng, 0)
            with np.errstate(all="ignore"):
                try:
                    if not all(_invertible(evaluate(m, env, sizes)) for m in ms):
                        continue
                    xs = evaluate(sol, env, sizes)
                    env[x.name] = xs
                    gv = evaluate(G, env, sizes)
                    lin = evaluate(differential(G, x, x), env, sizes)
                except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
                    continue
            scale = max(norm2(lin), norm2(gv - lin), 1e-300)
            if not (np.all(np.isfinite(gv)) and np.isfinite(scale)):
                continue
            worst = max(worst, norm2(gv) / scale)
            done += 1
            used = sizes
        if done >= trials:
            break
    if done == 0:
        return None, ("solution not verified: the matrix to invert was singular or ill "
                      "conditioned at every draw tried")
    from .dims import spelled
    where = ", ".join(f"{spelled(k)}={v}" for k, v in (used or {}).items())
    where = f", {where}" if where else ""
    if worst <= TOLERANCE:
        return True, (f"solution verified: the gradient vanishes there (max rel. residual "
                      f"{worst:.1e} over {done} random draws{where})")
    return False, (f"SOLUTION CHECK FAILED: the gradient at the solution is {worst:.1e} of "
                   f"its terms (over {done} random draws{where})")

