"""The numeric check has three verdicts (F10, F13, L6): ``verified`` only when a comparison
proved something, ``failed`` only for a real disagreement between finite numbers, ``not
verified`` (with the reason) when nothing informative could be compared; a formula undefined
at every draw is bad input.  References are NumPy written out here."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from texgrad.functions import BY_NAME as FN
import texgrad
from texgrad import numeric as NM
from texgrad import check as CK
from texgrad.ir import Const, Func, Mul, Pow, Sym, Trace, Zero

x = Sym("x", (1, 1))
SYMS = {"x": x}


def _strict(check):
    return json.loads(json.dumps(check.to_dict(), allow_nan=False))


# ------------------------------------------------------------------ F10: vacuous checks

@pytest.mark.parametrize("factor", [1, 2, -1])
def test_underflowing_power_is_not_verified(factor):
    """x^{10^9}: 0 (or inf) at every draw, so any derivative, right or wrong, would have
    agreed; the check must say it proves nothing."""
    k = 10 ** 9
    f = Pow(x, Fraction(k))
    d = Mul((Const(Fraction(k * factor)), Pow(x, Fraction(k - 1))))
    c = CK.check_gradient(f, d, x, SYMS)
    assert not c.passed and c.status == "not verified"
    assert "proves nothing" in c.reason or "cannot be computed" in c.reason
    assert c.stamp().startswith("% NOT VERIFIED")
    out = _strict(c)
    assert out["status"] == "not verified" and out["passed"] is False
    assert out["max_rel_error"] is None


def test_gaussian_rescaled_and_verified():
    r = texgrad.differentiate(r"\exp(-1000000 x^2)", wrt="x")
    assert r.check.status == "verified" and r.check.trials >= 1
    assert r.check.scale < 1.0 and "scaled by" in r.stamp
    for t in (1e-4, -7e-4):
        assert np.isclose(r.evaluate({"x": t}), -2e6 * t * np.exp(-1e6 * t * t), rtol=1e-12)


def test_gaussian_wrong_sign_fails_not_vacuous():
    """Before: 'verified, max rel. error 0.0' whatever the answer (both sides underflow)."""
    arg = Mul((Const(Fraction(-10 ** 6)), Pow(x, Fraction(2))))
    f = Func(FN["exp"], arg)
    wrong = Mul((Const(Fraction(2 * 10 ** 6)), x, f))       # the sign error of F1
    c = CK.check_gradient(f, wrong, x, SYMS)
    assert c.status == "failed" and not c.passed


def test_flat_f_is_not_evidence():
    """f = 10^{30} + x is flat at the float level at every step tried: a wrong derivative
    must not be stamped verified."""
    big = Const(Fraction(10 ** 30))
    from texgrad.ir import Add
    f = Add((big, x))
    c = CK.check_gradient(f, Const(Fraction(5)), x, SYMS)
    assert not c.passed


def test_symbolically_zero_derivative():
    a = Sym("A", ("n", "n"))
    X = Sym("X", ("n", "n"))
    c = CK.check_gradient(Trace(a), Zero(("n", "n")), X, {"A": a, "X": X})
    assert c.passed and c.status == "verified" and "does not depend" in c.stamp()


# ------------------------------------------------------------------ F13: overflow

@pytest.mark.parametrize("text, wrt", [
    (r"10^{200}\mathbf{x}^\top\mathbf{x}", "x"),
    (r"\exp(400 + \mathbf{1}^\top\mathbf{x})", "x"),
    (r"\operatorname{tr}(X^{1000})", "X"),
    (r"\operatorname{tr}(X^{-1000})", "X"),
    (r"\mathbf{x}^{\circ -1000}", "x"),
    (r"\mathbf{1}^\top\mathbf{x}^{\circ 1000}", "x"),
])
def test_large_values_are_not_false_alarms(text, wrt):
    for seed in (0, 1, 2):
        r = texgrad.differentiate(text, wrt=wrt, seed=seed)
        assert r.check.status != "failed", (seed, r.stamp)
        assert r.check.status == "verified", (seed, r.stamp)


def test_large_values_wrong_answer_still_fails():
    xv = Sym("x", (3, 1))
    from texgrad.ir import MatMul, Transpose
    f = Mul((Const(Fraction(10 ** 200)), MatMul((Transpose(xv), xv))))
    wrong = Mul((Const(Fraction(3 * 10 ** 200)), xv))
    c = CK.check_gradient(f, wrong, xv, {"x": xv})
    assert c.status == "failed"
    right = Mul((Const(Fraction(2 * 10 ** 200)), xv))
    assert CK.check_gradient(f, right, xv, {"x": xv}).passed


def test_values_of_large_norms():
    r = texgrad.differentiate(r"\|10^{200}\mathbf{x}\|_2", wrt="x")
    assert r.check.passed
    v = np.array([3.0, 4.0, 12.0])
    assert np.isclose(texgrad.evaluate(r"\|10^{200}\mathbf{x}\|_2", {"x": v}), 13e200)


def test_norm2_scaled():
    assert NM.norm2(np.array([1e200, 1e200])) == pytest.approx(np.sqrt(2) * 1e200)
    assert NM.norm2(np.array([3.0, 4.0])) == 5.0
    assert NM.norm2(np.zeros(3)) == 0.0
    assert NM.norm2(np.array([1e-200, 1e-200])) == pytest.approx(np.sqrt(2) * 1e-200)


def test_finite_differences_overflow_is_not_verified(monkeypatch):
    """Where finite differences cannot be computed at any draw or scale: NOT VERIFIED with
    the reason, never CHECK FAILED."""
    monkeypatch.setattr(CK, "_one_direction", lambda *a, **k: ("overflow",))
    c = CK.check_gradient(Pow(x, Fraction(2)), Mul((Const(Fraction(2)), x)), x, SYMS)
    assert c.status == "not verified" and "finite differences" in c.reason
    assert c.stamp().startswith("% NOT VERIFIED") and "FAILED" not in c.stamp()
    assert _strict(c)["max_rel_error"] is None


def test_one_direction_at_the_overflow_edge():
    """f = x^{1000} at a point where f is finite but f(x + h) overflows for every step."""
    x0 = np.array([[np.exp(709.7826 / 1000)]])
    f = Pow(x, Fraction(1000))
    d = Mul((Const(Fraction(1000)), Pow(x, Fraction(999))))
    env = {"x": x0}
    f0 = NM.evaluate(f, env, {})
    assert np.isfinite(f0).all()
    with np.errstate(all="ignore"):
        res = CK._one_direction(f, env, {}, x, x0, np.array([[1.0]]), f0,
                                CK.apply_scalar(d), True, CK.Values())
    assert res[0] == "overflow"


def test_a_draw_evaluates_f_and_the_gradient_once(monkeypatch):
    """CK.Values: a draw's f and gradient are computed once, though the draw's validation,
    f0 and both directions use them; the points of the finite differences are new."""
    seen = []
    real = NM.evaluate

    def counting(expr, env, *a, **k):
        seen.append((id(expr), id(env)))
        return real(expr, env, *a, **k)
    monkeypatch.setattr(CK, "evaluate", counting)
    g = Mul((Const(Fraction(2)), x))
    c = CK.check_gradient(Pow(x, Fraction(2)), g, x, SYMS)
    assert c.passed
    assert len(seen) == len(set(seen))
    assert sum(1 for e, _ in seen if e == id(g)) == c.trials


def test_status_fields_and_json():
    r = texgrad.differentiate(r"\mathbf{x}^\top\mathbf{x}", wrt="x")
    c = r.check
    assert c.passed and c.verified and c.status == "verified" and not c.failed
    d = _strict(c)
    assert d["status"] == "verified" and d["passed"] is True
    json.dumps(r.to_dict(), allow_nan=False)


# ------------------------------------------------------------------ L6: undefined f

@pytest.mark.parametrize("text, wrt", [
    (r"\log 0 + x", "x"),
    (r"\log\det(X - X) + \operatorname{tr}(X)", "X"),
])
def test_undefined_everywhere_is_bad_input(text, wrt):
    with pytest.raises(texgrad.TexgradError, match="undefined at every point"):
        texgrad.differentiate(text, wrt=wrt)


def test_overflow_everywhere_is_not_bad_input():
    """exp nested 8 deep overflows at every draw: not verified (a magnitude), not an
    error."""
    text = r"\exp(" * 8 + "x" + ")" * 8
    r = texgrad.differentiate(text, wrt="x")
    assert r.check.status == "not verified" and "overflow" in r.check.reason


def test_undefined_flag_for_other_kinds():
    from texgrad.ir import MatPow
    X = Sym("X", ("n", "n"))
    f = MatPow(Zero(("n", "n")), -1)
    c = CK.check_derivative(f, X, {"X": X}, CK.apply_scalar(Zero(("n", "n"))),
                            [Zero(("n", "n"))])
    assert c.status == "not verified" and c.undefined


def test_flat_f_with_zero_derivative_is_verified():
    """sin^2 + cos^2 is flat at the float level and its derivative simplifies to 0: that is
    consistent evidence (f is of order 1, so a derivative above the floor would show)."""
    r = texgrad.differentiate(r"\sin(x)^2 + \cos(x)^2", wrt="x")
    assert r.latex == "0" and r.verified
