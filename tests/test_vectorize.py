"""Tests for `texgrad.vectorize`: sums over samples in matrix form (issue 12).

Generated code computes a sum over samples over the stacked data; a family of numbers is the
vector of its letter when the derivative is by that vector.  The losses and their independent
NumPy references are those of tests/test_families.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import texgrad
from refs import softmax as _softmax
from test_families import CASES, RNG, _data


VECTORISED = {"least-squares", "ridge", "logistic", "multi-output-least-squares",
              "gaussian-mle-mean", "gaussian-mle-covariance", "pca-reconstruction",
              "member-of-another-letter"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_generated_code_computes_the_sum_over_the_stacked_data(case):
    """--emit numpy: f and the gradient over X (N, d), against the NumPy references; a sum
    with no vectorised form here is refused with a message, never emitted wrong."""
    import inspect
    from texgrad.codegen import emit
    from texgrad.errors import Unsupported
    name, tex, wrt, assume, values, ref_f, ref_g, var, _terms = case
    r = texgrad.differentiate(tex, wrt=wrt, assume=assume)
    if name not in VECTORISED:
        with pytest.raises(Unsupported, match="no vectorised code here yet"):
            emit(r, "numpy")
        return
    source = emit(r, "numpy")
    assert "for " not in source and "stacked in its rows" in source
    ns: dict = {}
    exec(compile(source, "<generated>", "exec"), ns)      # texgrad's own output, not user text
    d = _data()
    vals = values(d)
    x0 = d["Mu"][0] if var == "Mu0" else d[var]
    vals[r.wrt] = x0
    want_f = ref_f(d, x0)
    if name == "member-of-another-letter":      # f sums over every mu_j; the gradient is mu_k's
        vals["mu_j"] = d["Mu"]
        want_f = np.sum((d["w"] - d["Mu"]) ** 2)
    fn = ns["f_and_grad"]
    f, g = fn(*[vals[a.rstrip("_")] for a in inspect.signature(fn).parameters])
    assert np.allclose(f, want_f), (name, source)
    assert np.allclose(g, ref_g(d, x0)), (name, source)


@pytest.mark.parametrize("tex, wrt, printed, grad", [
    (r"\sum_i \exp(z_i)", "z", r"\exp(z)", np.exp),
    (r"\sum_i x_i \log x_i", "x", r"\mathbf{1} + \log(x)", lambda x: 1 + np.log(x)),
    (r"\log \sum_{k=1}^{K} \exp(z_k)", "z", r"\operatorname{softmax}(z)", _softmax),
])
def test_a_family_of_numbers_by_the_vector_of_its_letter(tex, wrt, printed, grad):
    """z_i are the entries of the vector z when the derivative is by z (said in the stamp)."""
    r = texgrad.differentiate(tex, wrt=wrt)
    assert r.verified and r.latex == printed
    assert "read as the entries of the vector" in r.stamp
    v = RNG.uniform(0.5, 2.0, 5)
    assert np.allclose(r.evaluate({wrt: v}), grad(v))
