"""The answer: :class:`Result`, and the binding of a user's values to its symbols.

A Result is what :func:`texgrad.differentiate` returns: the derivative's IR and LaTeX, the
numeric check, the conventions in words, and :meth:`Result.evaluate`, its value at given
arrays in the layout D[f-index..., variable-index...].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .dims import Fixed, spelled
from .errors import ShapeError, TexgradError, guarded
from .ir import SCALAR, Expr, MatPow, PowSum, Sum, Sym


@dataclass(frozen=True, eq=False, repr=False)
class Result:
    """A derivative: its expression and LaTeX, the check's verdict and the conventions.
    Frozen, and built once by :mod:`texgrad.derive` with every field; compared by identity
    and shown by its LaTeX and stamp (the generated ``__eq__`` and ``__repr__`` of a
    dataclass cost start-up time, and a field-by-field repr of an IR is unreadable)."""
    input: str
    wrt: str
    kind: str
    expr: Expr
    f: Expr
    latex: str
    terms: int
    check: Any = None
    symbols: dict = field(default_factory=dict)
    convention: str = ""
    form: str = "gradient"       # gradient | vec | scalar | entry
    target: Any = None           # the function differentiated (f, or its gradient)
    entry: Any = None
    warnings: tuple = ()         # options that had no effect (a shape for a missing name)
    order: int = 1               # the order of the derivative (kind "derivative" by a scalar)
    readings: tuple = ()         # how the formula was read where it is ambiguous (f(x), N)
    style: Any = None            # the printer's Style of the formula's notation (\top, --let
    #                              names): what prints more of this derivative uses it

    def __repr__(self):
        return f"<Result {self.kind} by {self.wrt}: {self.latex}  {self.stamp}>"

    @property
    def shapes(self) -> dict:
        return {name: dims_out(s) for name, s in self.symbols.items()}

    @property
    def verified(self) -> bool:
        return bool(self.check is not None and self.check.passed)

    @property
    def stamp(self) -> str:
        if self.check is None:
            out = f"% not verified (--no-verify); {self.convention}"
        else:
            out = self.check.stamp()
        return out + "".join(f"; note: {w}" for w in self.warnings)

    def evaluate(self, values: dict):
        return guarded(self._evaluate)(values)

    def _evaluate(self, values: dict):
        """The derivative's value (NumPy) at ``values`` (name -> array; vectors 1-D), in the
        layout D[f-index..., variable-index...] whatever the printed notation."""
        import numpy as np
        from .numeric import FAMILIES, FIXED, dim_size, evaluate as ev, to_user
        env, sizes = bind_values(self.symbols, values, self.expr)
        # the value of a free index (k of mu_k): {"k": 2}; 1 when not given
        free = {k: v for k, v in values.items() if isinstance(k, str) and len(k) == 1 and
                k not in self.symbols and isinstance(v, int)} or None
        if free and FAMILIES in env:      # a member's own value is the one at the fixed index
            from .families import member_letters
            for name, fam in env[FAMILIES].items():
                at = tuple(free.get(c, FIXED) for c in member_letters(name))
                if all(0 <= a < n for a, n in zip(at, fam.shape)):
                    env[name] = fam[at]
        if self.form == "gradient" or self.kind == "laplacian":
            return to_user(ev(self.expr, env, sizes, free), self.expr.shape)
        fdims = self.target.shape
        if self.form == "scalar":
            return to_user(ev(self.expr, env, sizes, free), fdims)
        xdims = self.symbols[self.wrt].dims
        if self.form == "entry":
            xr, xc = (dim_size(d, sizes) for d in xdims)
            i, j = self.entry[0], self.entry[1] or "1"
            out = np.empty(user_shape(fdims, sizes) + user_shape(xdims, sizes))
            for a in range(xr):
                for b in range(xc):
                    val = to_user(ev(self.expr, env, sizes, {i: a, j: b}), fdims)
                    out[(Ellipsis,) + ((a, b) if xc != 1 or xdims[1] != 1 else (a,))] = val
            return out
        jac = ev(self.expr, env, sizes)        # vec form: J[vec F, vec X]
        fr, fc = (dim_size(d, sizes) for d in fdims)
        xr, xc = (dim_size(d, sizes) for d in xdims)
        full = jac.reshape(fr, fc, xr, xc, order="F")
        keep = [fdims[0] != 1, fdims[1] != 1, xdims[0] != 1, xdims[1] != 1]
        return full.reshape([n for n, k in zip(full.shape, keep) if k])

    def to_dict(self) -> dict:
        d = {"input": self.input, "wrt": self.wrt, "kind": self.kind,
             "derivative": self.latex, "terms": self.terms, "shapes": self.shapes,
             "convention": self.convention, "verified": self.verified,
             "max_rel_error": None, "trials": 0, "warnings": list(self.warnings),
             "order": self.order, "reading": list(self.readings)}
        d["status"] = None if self.check is None else self.check.status
        if self.check is not None:
            d["check"] = self.check.to_dict()
            d["max_rel_error"] = d["check"]["max_rel_error"]      # None when not finite
            d["trials"] = self.check.trials
        return d

    def _repr_latex_(self):
        return f"$${self.latex}$$"

    def _repr_markdown_(self):
        stamp = self.stamp.lstrip("% ")
        return f"$${self.latex}$$\n\n*{stamp}*"

    def __str__(self):
        return f"{self.latex}\n{self.stamp}"


def user_shape(dims, sizes) -> tuple:
    """The NumPy shape a user sees for dimensions ``dims`` (a vector is 1-D)."""
    from .numeric import dim_size
    return tuple(dim_size(d, sizes) for d in dims if d != 1)


def dims_out(s: Sym) -> list:
    """A symbol's shape as the user wrote it: dimension names, a numeric size bare."""
    r, c = s.dims
    out = []
    for d in ((r, c) if c != 1 else (r,)) if s.dims != SCALAR else ():
        out.append(spelled(d))
    return out


def bind_values(syms: dict, values: dict, expr: Expr):
    """Values to internal 2-D arrays, and the size of every dimension name."""
    import numpy as np
    from .ir import walk
    from .numeric import from_user

    from .families import axes, member_letters
    from .numeric import FAMILIES

    env = {}
    sizes: dict = {}
    fams = axes(expr)
    if fams:
        env[FAMILIES] = {}
        if any(isinstance(n, Sum) and n.lo == 0 for n in walk(expr)):
            raise TexgradError("a sum from 0 cannot be evaluated from stacked values (row 0 "
                               "holds the member of index 1)",
                               hint="write the sum from 1")
    needed = {n.name for n in walk(expr) if isinstance(n, Sym)}
    needed |= {m.name for n in walk(expr) if isinstance(n, (MatPow, PowSum)) and
               not isinstance(n.k, int) for m in walk(n.k) if isinstance(m, Sym)}  # X^n: n
    for name in needed:
        if name not in values:
            raise TexgradError(f"no value given for {name}",
                               hint="values are keyed by symbol name, e.g. {'x': x}")
    for name, sym in syms.items():
        if name not in values:
            continue
        if name in fams:            # a family: the members stacked along the first axes
            stacked = np.asarray(values[name])
            lead = len(member_letters(name))
            if stacked.ndim < lead:
                raise ShapeError(f"{name} is a member of a family: give its members stacked, "
                                 f"an array with {lead} leading ax{'i' if lead == 1 else 'e'}s")
            for d, n in zip(fams[name], stacked.shape[:lead]):
                if d != 1 and sizes.setdefault(d, n) != n:
                    raise ShapeError(f"the sum's range {spelled(d)} is {sizes[d]} elsewhere "
                                     f"but {n} in {name}")
            members = [from_user(name, m, sym) for m in
                       stacked.reshape((-1,) + stacked.shape[lead:])]
            # the member of value v (1, 2, ...) is row v - 1; a row of zeros for the value 0
            fam = np.zeros(tuple(k + 1 for k in stacked.shape[:lead]) + members[0].shape,
                           dtype=members[0].dtype)
            fam[(slice(1, None),) * lead] = np.stack(members).reshape(
                stacked.shape[:lead] + members[0].shape)
            env[FAMILIES][name] = fam
            values = {**values, name: stacked[(0,) * lead]}
        a = from_user(name, values[name], sym)
        if np.iscomplexobj(a) and "complex" not in sym.assume:
            if np.any(np.imag(a) != 0):
                raise ShapeError(f"{name} is real, but its value is complex",
                                 hint=f"declare it complex: assume={{'{name}': ('complex',)}}")
            a = np.real(a)
        env[name] = a
        for d, n in zip(sym.dims, a.shape):
            if d == 1:
                if n != 1:
                    what = "a scalar" if sym.dims == SCALAR else "a vector"
                    raise ShapeError(f"{name} should be {what}"
                                     f", got an array of shape {np.shape(values[name])}")
                continue
            if isinstance(d, Fixed) and d.n != n:
                raise ShapeError(f"{name} was declared with {d.n} but has {n}")
            if d in sizes and sizes[d] != n:
                raise ShapeError(f"dimension {d} is {sizes[d]} elsewhere but {n} in {name}")
            sizes[d] = n
    return env, sizes
