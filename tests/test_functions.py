"""Tests for `texgrad.functions`: one record per elementwise function is the whole story.

A function added by one `FunctionSpec` (here arcsinh, which texgrad does not ship) is read,
differentiated, printed, checked and emitted for every target with nothing else touched;
a name without a record is refused with a caret, never read as a symbol.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import texgrad
from texgrad import functions
from texgrad.errors import Unsupported
from texgrad.ir import Func, Sym

from backends import backend


@pytest.fixture
def arcsinh():
    """arcsinh, declared by one record; d/dx arcsinh(x) = (1 + x^2)^{-1/2}."""
    spec = functions.elementwise(
        "arcsinh", spellings=("arcsinh", "asinh"), latex="\\operatorname{arcsinh}",
        derivative=lambda c, x, fx: c.power(
            c.add(functions.ones_like(c, x), functions.square(c, x)), Fraction(-1, 2)),
        numpy=lambda np, v: np.arcsinh(v),
        code={"numpy": "np.arcsinh({x})", "jax": "jnp.arcsinh({x})",
              "torch": "torch.arcsinh({x})", "sympy": "asinh"}, ufunc=True)
    yield spec
    functions.unregister(spec)


def _reference(w, x):
    """f = sum arcsinh(x * w) and its gradient x / sqrt(1 + (x w)^2), elementwise."""
    u = x * w
    return np.sum(np.arcsinh(u)), x / np.sqrt(1 + u * u)


LATEX = r"\mathbf{1}^T\operatorname{arcsinh}(\mathbf{x} \odot \mathbf{w})"


def test_a_new_record_is_read_differentiated_printed_and_checked(arcsinh):
    """Parse, derivative, printer and the numeric check all come from the one record."""
    r = texgrad.differentiate(LATEX, wrt="w")
    assert r.check.passed, (r.latex, r.stamp)
    assert r.latex == (r"\frac{\mathbf{x}}{\sqrt{\mathbf{1} + \mathbf{x} \odot \mathbf{w} \odot "
                       r"\mathbf{x} \odot \mathbf{w}}}")
    rng = np.random.default_rng(3)
    w, x = rng.normal(size=(4, 1)), rng.normal(size=(4, 1))
    got = np.asarray(r.evaluate({"w": w, "x": x})).reshape(4, 1)
    np.testing.assert_allclose(got, _reference(w, x)[1], rtol=1e-10)
    f = texgrad.evaluate(LATEX, {"w": w, "x": x})
    np.testing.assert_allclose(f, _reference(w, x)[0], rtol=1e-12)
    assert texgrad.differentiate(r"\operatorname{asinh}(t)", wrt="t").check.passed


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
def test_a_new_record_emits_code_for_every_array_target(arcsinh, target):
    from texgrad.codegen import emit
    to_numpy = backend(target)
    r = texgrad.differentiate(LATEX, wrt="w", verify=False)
    namespace: dict = {}
    exec(compile(emit(r, target), "<texgrad-codegen>", "exec"), namespace)  # our own code
    rng = np.random.default_rng(5)
    w, x = rng.normal(size=4), rng.normal(size=4)
    f, g = (to_numpy(v) for v in namespace["f_and_grad"](w=w, x=x))
    f_ref, g_ref = _reference(w.reshape(4, 1), x.reshape(4, 1))
    np.testing.assert_allclose(f, f_ref, rtol=1e-10)
    np.testing.assert_allclose(np.ravel(g), np.ravel(g_ref), rtol=1e-10)


def test_a_new_record_emits_sympy(arcsinh):
    pytest.importorskip("sympy")
    from texgrad.codegen import emit
    r = texgrad.differentiate(r"\operatorname{arcsinh}(t^2)", wrt="t", verify=False)
    source = emit(r, "sympy")
    assert "asinh" in source, source


def test_without_its_record_the_name_is_refused_with_a_caret():
    """No record, no function: the word is refused where it stands."""
    with pytest.raises(Unsupported) as info:
        texgrad.differentiate(r"x + \operatorname{arcsinh}(x)", wrt="x")
    assert info.value.column == 5 and "^" in info.value.render()


@pytest.mark.parametrize("latex, wrt, reference", [
    (r"\mathbf{1}^T\operatorname{softplus}(W\mathbf{x})", "x",
     lambda W, x: W.T @ (1 / (1 + np.exp(-(W @ x))))),
    (r"\mathbf{1}^T\operatorname{relu}(W\mathbf{x})", "W",
     lambda W, x: (W @ x > 0).astype(float) @ x.T),
    (r"\mathbf{1}^T\mathrm{ReLU}(W\mathbf{x})", "x",
     lambda W, x: W.T @ (W @ x > 0).astype(float)),
])
def test_shipped_softplus_and_relu_against_numpy(latex, wrt, reference):
    """softplus' = sigma and relu' = step, verified and against an independent reference."""
    r = texgrad.differentiate(latex, wrt=wrt)
    assert r.check.passed, (latex, r.latex, r.stamp)
    rng = np.random.default_rng(11)
    W, x = rng.normal(size=(3, 4)), rng.normal(size=(4, 1))
    got = np.asarray(r.evaluate({"W": W, "x": x}))
    ref = reference(W, x)
    np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=1e-10, atol=1e-12)


def test_softplus_prints_its_derivative_as_sigma():
    r = texgrad.differentiate(r"\mathbf{1}^T\operatorname{softplus}(W\mathbf{x})", wrt="x")
    assert r.latex == r"W^{T}\sigma(W\mathbf{x})"


class TestRegister:
    """Tests for `functions.register`."""

    def test_a_spelling_cannot_be_taken_twice(self):
        """Two records spelt alike would make the parser's reading depend on import order."""
        with pytest.raises(ValueError, match="registered already"):
            functions.elementwise("logarithm", spellings=("ln",), latex="\\ln",
                                  derivative=None, numpy=None, code={})
        assert "logarithm" not in functions.BY_NAME

    def test_every_record_is_reachable_by_each_spelling(self):
        for spec in functions.BY_NAME.values():
            for w in spec.spellings:
                assert functions.BY_SPELLING[w] is spec


class TestExact:
    """Tests for the records' exact values at rational constants, as `construct.func` folds."""

    @pytest.mark.parametrize("name, value, expected", [
        ("exp", 0, 1), ("cos", 0, 1), ("log", 1, 0), ("sin", 0, 0), ("abs", -3, 3),
        ("sign", -2, -1), ("relu", -2, 0), ("relu", Fraction(5, 2), Fraction(5, 2)),
        ("step", 3, 1), ("exp", 1, None), ("log", 2, None),
    ])
    def test_exact_value(self, name, value, expected):
        got = functions.BY_NAME[name].exact
        assert (got(Fraction(value)) if got else None) == expected

    def test_func_of_a_record_without_exact_stays_a_node(self):
        from texgrad import construct as simplify
        from texgrad.ir import Zero
        z = Zero(("n", 1))
        assert simplify.func(functions.BY_NAME["sinh"], z) == Func(functions.BY_NAME["sinh"], z)
        assert simplify.func(functions.BY_NAME["sin"], z) == z
        assert Sym   # the IR is imported for these constructions
