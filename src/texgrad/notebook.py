"""Jupyter: rich display of results and the ``%texgrad`` / ``%%texgrad`` magics.

``%load_ext texgrad`` registers::

    %texgrad \\mathbf{x}^\\top B\\mathbf{x} --wrt \\mathbf{x}      # a line: the formula and options
    %%texgrad --wrt X --assume X=spd                          # a cell: options on the first line,
    \\log\\det X                                               # the formula in the body

Each returns the :class:`texgrad.Result`, which Jupyter shows as typeset LaTeX with its
verification stamp.  Options are the command line's (``--wrt``, ``--shape``, ``--assume``,
``--kind``, ``--layout``, ``--symmetric``, ``--no-verify``).
"""

from __future__ import annotations

import shlex


def _options(words: list[str]) -> tuple[list[str], dict]:
    """Split magic arguments into formula words and differentiate() keyword arguments."""
    from .options import parse_assume_specs, parse_shape_specs
    formula: list[str] = []
    kw: dict = {}
    shapes: list[str] = []
    assume: list[str] = []
    it = iter(words)
    for w in it:
        if w in ("--wrt", "-w"):
            kw["wrt"] = next(it)
        elif w in ("--shape", "-s"):
            shapes.append(next(it))
        elif w in ("--assume", "-a"):
            assume.append(next(it))
        elif w in ("--kind", "--layout", "--symmetric"):
            kw[w[2:]] = next(it)
        elif w == "--no-verify":
            kw["verify"] = False
        else:
            formula.append(w)
    if shapes:
        kw["shapes"] = parse_shape_specs(shapes)
    if assume:
        kw["assume"] = parse_assume_specs(assume)
    return formula, kw


def _split(line: str) -> list[str]:
    # LaTeX is full of backslashes: split like a shell, but keep them
    return shlex.split(line.replace("\\", "\\\\"))


def texgrad_magic(line: str, cell: str | None = None):
    """``%texgrad FORMULA [options]`` or ``%%texgrad [options]`` with the formula below."""
    from .api import differentiate
    from .errors import TexgradError
    words, kw = _options(_split(line))
    formula = cell if cell is not None else " ".join(words)
    try:
        return differentiate(formula, **kw)
    except TexgradError as e:
        print(e.render())
        return None


def load_ipython_extension(ipython) -> None:
    """Called by ``%load_ext texgrad``."""
    ipython.register_magic_function(texgrad_magic, magic_kind="line_cell",
                                    magic_name="texgrad")
