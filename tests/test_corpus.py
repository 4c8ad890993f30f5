"""Every corpus case through the API, compared with the corpus's own NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

import texgrad
from corpus import explain, assume_of, draw, load, numpy_eval, shapes_of

CASES = load()
SUPPORTED = {"gradient", "jacobian", "hessian", "laplacian", "derivative"}


def _unsupported_reason(case):
    if case["kind"] not in SUPPORTED:
        return f"kind {case['kind']!r} arrives with issue 3 (Jacobians, Hessians, ...)"
    if case["kind"] == "gradient":
        return None
    return None


def _params():
    out = []
    for case in CASES:
        reason = _unsupported_reason(case)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(case, id=case["id"], marks=marks))
    return out


def _check_case(case, shapes):
    r = texgrad.differentiate(case["latex"], wrt=case["wrt"], shapes=shapes,
                              assume=assume_of(case), kind=case["kind"])
    assert r.check is not None and r.check.passed, explain(r)
    assert r.terms <= case["terms"], (r.latex, case["expected"])
    rng = np.random.default_rng(1)
    for _ in range(2):
        values = draw(case, rng)
        f_ref = numpy_eval(case["numpy"]["f"], values)
        d_ref = numpy_eval(case["numpy"]["d"], values)
        f_val = texgrad.evaluate(case["latex"], values, shapes=shapes, assume=assume_of(case))
        np.testing.assert_allclose(f_val, f_ref, rtol=1e-9, atol=1e-9)
        d_val = r.evaluate(values)
        assert np.shape(d_val) == np.shape(d_ref), (np.shape(d_val), np.shape(d_ref))
        np.testing.assert_allclose(d_val, d_ref, rtol=1e-7, atol=1e-9)
    return r


@pytest.mark.parametrize("case", _params())
def test_corpus_declared_shapes(case):
    _check_case(case, shapes_of(case))


@pytest.mark.parametrize("case", _params())
def test_corpus_inferred_shapes(case):
    _check_case(case, None)
