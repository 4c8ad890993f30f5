"""Tests for thread safety (issue 10): no module-level state is read while a formula is
parsed, differentiated, checked or evaluated, so threads (a notebook's, a Dask worker's with
several threads) get the answers a single thread gets.  The two such states of old were the
parser's source text and the index values of a derivative by an entry X_{ij}."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import texgrad
from texgrad.errors import TexgradError

FORMULAS = [
    (r"\mathbf{x}^\top B\,\mathbf{x}", {"wrt": "x"}),
    (r"\frac{\partial}{\partial X}\operatorname{tr}(X^\top A X)", {}),
    (r"\|XW - Y\|_F^2", {"wrt": "W"}),
    (r"X^T B X", {"wrt": "X_{ij}", "shapes": {"X": ("m", "n"), "B": ("m", "m")}}),
    (r"\frac{\partial}{\partial X_{ij}} (X^3)_{kl}", {}),
    (r"\log\det(X)", {"wrt": "X"}),
    (r"\mathbf{1}^T\operatorname{softplus}(W\mathbf{x})", {"wrt": "x"}),
    (r"\operatorname{trac}(X)", {"wrt": "X"}),             # an error, with its caret
    (r"\|x|_2", {"wrt": "x"}),                              # a parse error from the bars
]


def _run(latex, kw):
    try:
        r = texgrad.differentiate(latex, **kw)
    except TexgradError as e:
        return ("error", e.render())
    values = {s: np.arange(1.0, 1.0 + np.prod(v)).reshape(v) / 7 + np.eye(*v) * 2
              for s, v in _shapes(r).items()}
    return (r.latex, r.stamp, r.check.passed, np.round(np.asarray(r.evaluate(values)), 10)
            .tobytes())


def _shapes(r) -> dict:
    sizes = {"m": 4, "n": 3}
    out = {}
    for name, sym in r.symbols.items():
        dims = tuple(sizes.get(str(d), 3) if d != 1 else 1 for d in sym.dims)
        out[name] = dims
    return out


def test_eight_threads_get_the_single_thread_answers():
    """Each formula 8 times over 8 threads, interleaved: the same derivative, stamp,
    verdict, error text and value as in one thread."""
    alone = [_run(latex, kw) for latex, kw in FORMULAS]
    jobs = [i for _ in range(6) for i in range(len(FORMULAS))]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)          # switch threads as often as the interpreter can
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(lambda i: (i, _run(*FORMULAS[i])), jobs))
    finally:
        sys.setswitchinterval(old)
    for i, out in got:
        assert out == alone[i], FORMULAS[i][0]


def test_no_module_level_entry_state():
    """The index values of X_{ij} travel as an argument (numeric.evaluate(..., entry))."""
    from texgrad import numeric, parse
    assert not hasattr(numeric, "ENTRY")
    # the parser's source text is a read-only property, set per call by parse.parsing()
    assert isinstance(parse.Build.source, property) and parse.Build.source.fset is None
