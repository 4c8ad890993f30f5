"""Shape and assumption specs: the one place they are read and validated.

Every face (the CLI's ``--shape``/``--assume``, batch records, ``texgrad check``, the notebook
magics) and the API's ``shapes=``/``assume=`` arguments come through here, so a dimension
name is checked once: it is a positive whole number written in ASCII digits, or an
identifier (ASCII letters, digits and ``_``, starting with a letter, optionally written with a
leading backslash as in ``\\ell``).  Nothing else reaches the later stages, so no dimension
text can carry a newline, a quote or a control character into a stamp or generated code.
"""

from __future__ import annotations

import re

from .errors import TexgradError

#: the largest size a user may declare for one dimension (the check draws dense arrays)
MAX_DIM = 10_000

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
# a name as the naming rule gives it: x, W_1, X_tilde, \Sigma; W^(l), a^[2] (a label)
_NAME = re.compile(r"\\?[A-Za-z][A-Za-z0-9_]*(?:\^[(\[][A-Za-z0-9+\- ]{1,12}[)\]])?\Z")


def _show(text: str) -> str:
    """A user's text, quoted with every control or non-ASCII character escaped."""
    return ascii(text)


def dimension(d, where: str = "shape"):
    """One declared dimension, validated: an int >= 1, or an identifier string."""
    if isinstance(d, bool):
        raise TexgradError(f"{where}: a dimension is a size or a name, not {d!r}")
    if isinstance(d, int):
        n = d
    else:
        if not isinstance(d, str):
            raise TexgradError(f"{where}: a dimension is a size or a name, not a "
                               f"{type(d).__name__}",
                               hint="e.g. X=m,n or x=3")
        s = d.strip()
        if len(s) > 64:
            raise TexgradError(f"{where}: the dimension {_show(s[:20])}... is too long "
                               f"({len(s)} characters)", hint="a dimension is a size or a name")
        if _DIGITS.match(s):
            n = int(s)
        elif _IDENT.match(s.lstrip("\\")) and s.count("\\") <= 1 and \
                (not s.startswith("\\") or len(s) > 1):
            return s.lstrip("\\")
        else:
            raise TexgradError(f"{where}: the dimension {_show(s)} is neither a size nor a name",
                               hint="a size is a whole number (x=3); a name is letters, digits "
                                    "and _ starting with a letter (X=m,n)")
    if n < 1:
        raise TexgradError(f"{where}: a dimension must be at least 1, not {n}",
                           hint="a scalar is NAME= (no dimensions)")
    if n > MAX_DIM:
        raise TexgradError(f"{where}: the size {n} is larger than the limit {MAX_DIM:,}",
                           hint="the numeric check draws dense arrays; name the dimension "
                                "instead (x=n)")
    return n


def symbol_name(name, where: str = "shape") -> str:
    if not isinstance(name, str):
        raise TexgradError(f"{where}: a symbol name must be a string, not "
                           f"{type(name).__name__}")
    s = name.strip()
    if not _NAME.match(s):
        raise TexgradError(f"{where}: {_show(s)} is not a symbol name",
                           hint="use the naming rule: X, x, W_12, x_in, beta, y_hat")
    return s.lstrip("\\")


def _named_entries(mapping, label: str, what: str):
    """The (validated name, value) entries of an API mapping ``shapes=`` / ``assume=``, one
    at a time (None or empty: none)."""
    if not mapping:
        return
    if not isinstance(mapping, dict):
        raise TexgradError(f"{label} must be a mapping name -> {what}, not "
                           f"{type(mapping).__name__}")
    for k, v in mapping.items():
        yield symbol_name(k, label), v


def norm_shapes(shapes) -> dict:
    """``{"X": ("m", "n"), "x": "n", "a": ()}`` (API form) -> validated ``{name: dims}``;
    an int or a digit string is a size (1 is kept as 1, other sizes as ints)."""
    out: dict = {}
    for name, v in _named_entries(shapes, "shapes", "dimensions"):
        if isinstance(v, (str, int)) and not isinstance(v, bool):
            v = (v,) if v != "" else ()
        if not isinstance(v, (tuple, list)):
            raise TexgradError(f"shapes[{name!r}]: expected a tuple of dimensions, not "
                               f"{type(v).__name__}", hint='e.g. shapes={"X": ("m", "n")}')
        if len(v) > 2:
            raise TexgradError(f"shapes[{name!r}]: {len(v)} dimensions; texgrad handles "
                               "scalars, vectors and matrices",
                               hint="X=m,n (matrix), x=n (vector), a= (scalar)")
        out[name] = tuple(dimension(d, f"shape of {name}") for d in v)
    return out


def norm_assume(assume) -> dict:
    """``{"W": ("symmetric",), "x": "complex"}`` -> ``{name: tuple of properties}``."""
    out: dict = {}
    for name, v in _named_entries(assume, "assume", "properties"):
        if isinstance(v, str):
            v = (v,)
        if not isinstance(v, (tuple, list, set, frozenset)) or \
                not all(isinstance(p, str) for p in v):
            raise TexgradError(f"assume[{name!r}]: expected property names",
                               hint='e.g. assume={"W": ("symmetric",)}')
        out[name] = tuple(v)
    return out


def _split_spec(spec: str, option: str, example: str, hint: str):
    """``NAME=VALUE`` of a command-line spec -> (validated name, value text)."""
    if "=" not in spec:
        raise TexgradError(f"{option} {_show(spec)}: expected NAME=..., e.g. {example}",
                           hint=hint)
    name, value = spec.split("=", 1)
    if not name.strip():
        raise TexgradError(f"{option} {_show(spec)}: no name before '='",
                           hint=f"e.g. {option} {example}")
    return symbol_name(name, option), value


def parse_shape_specs(specs) -> dict:
    """CLI form: ``["X=m,n", "x=n", "a="]`` -> validated ``{name: dims}``."""
    out: dict = {}
    for spec in specs or ():
        name, dims = _split_spec(spec, "--shape", "X=m,n",
                                 "X=m,n (matrix), x=n (vector), a= (a scalar: no dimensions)")
        parts = [d.strip() for d in dims.split(",")]
        if parts == [""]:
            parts = []
        if any(p == "" for p in parts):
            raise TexgradError(f"--shape {_show(spec)}: an empty dimension",
                               hint="e.g. --shape X=m,n")
        out.update(norm_shapes({name: tuple(parts)}))
    return out


def parse_assume_specs(specs) -> dict:
    """CLI form: ``["W=symmetric,invertible", "x=complex"]`` -> ``{name: properties}``."""
    out: dict = {}
    for spec in specs or ():
        name, props = _split_spec(spec, "--assume", "W=symmetric",
                                  "properties: symmetric, spd, invertible, positive, "
                                  "orthogonal, diagonal, complex")
        out.setdefault(name, []).extend(p.strip() for p in props.split(",") if p.strip())
    return {k: tuple(v) for k, v in out.items()}
