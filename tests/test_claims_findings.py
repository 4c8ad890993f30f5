"""texgrad check under the reliability findings (issue 9: item 10b, F1, F3, F6, F7, F11, F12,
L1, L5): the reproducers of tests/data/repro/ as data.  Each test fails on the checker before
the fix (a traceback, a vacuous `ok`, a false alarm, a quadratic scan)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import texgrad
from texgrad import claims, claimsdecide
from texgrad.cli import main

REPRO = Path(__file__).resolve().parent / "data" / "repro"
X = r"\nabla_{\mathbf{x}} \mathbf{x}^\top\mathbf{x}"


def run_check(*args, input=None):
    res = CliRunner().invoke(main, ["check", *map(str, args)], input=input)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


def records(res):
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def one(name, *extra):
    res = run_check(REPRO / name, "--format", "json", *extra)
    recs = records(res)
    assert len(recs) == 1, res.output
    return res, recs[0]


# ----------------------------------------------------------------- F6, item 10b: no tracebacks

def test_empty_right_side_is_skipped_with_a_reason():
    res, rec = one("check_empty_rhs.tex")
    assert res.exit_code == 0
    assert rec["status"] == "skipped" and "nothing after '='" in rec["reason"]
    assert texgrad.check_claim(X + " = ").verdict is None
    assert texgrad.check_claim(X + " = = 2\\mathbf{x}").verdict is None


def test_overflowing_constant_is_not_a_traceback():
    res, rec = one("check_overflow_rhs.tex")
    assert res.exit_code in (0, 1) and rec["status"] in ("skipped", "wrong")
    r = texgrad.check_claim(X + r" = 10^{400}\mathbf{x}")
    assert r.verdict is not True and (r.verdict is False or r.reason)


def test_an_internal_failure_skips_that_claim_and_the_run_goes_on(monkeypatch):
    real = claimsdecide.compare
    calls = []

    def flaky(d, p, seed):
        calls.append(p.text)
        if len(calls) == 1:
            raise IndexError("list index out of range")
        return real(d, p, seed)

    monkeypatch.setattr(claimsdecide, "compare", flaky)
    text = f"$${X} = 2\\mathbf{{x}}$$\n\n$${X} = 3\\mathbf{{x}}$$\n"
    out = claims.check_text(text, "t.tex")
    assert [r.status for r in out] == ["skipped", "wrong"]
    assert "internal error" in out[0].reason and "IndexError" in out[0].reason


def test_dev_zero_is_refused_with_exit_2():
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    res = run_check("/dev/zero")
    assert res.exit_code == 2 and "larger than 50 MB" in res.stderr
    with pytest.raises(texgrad.TexgradError):
        claims.read_document("/dev/zero", limit=1024)


# ----------------------------------------------------------------- F1: vacuous comparisons

def test_printed_answer_undefined_everywhere_is_not_ok():
    res, rec = one("check_nan_rhs.tex")
    assert rec["status"] != "ok" and "not finite" in rec["reason"]
    r = texgrad.check_claim(X + r" = \sqrt{-1 - \mathbf{x}^\top\mathbf{x}}\mathbf{x}")
    assert r.verdict is not True and r.compared == 0


@pytest.mark.parametrize("claim, verdict", [
    (r"\frac{d}{dx}\exp(-1000000x^2) = 2000000x\exp(-1000000x^2)", False),   # sign error
    (r"\frac{d}{dx}\exp(-1000000x^2) = 0", False),
    (r"\nabla_{\mathbf{x}} \exp(-10000 \mathbf{x}^\top\mathbf{x}) = 0\mathbf{x}", False),
    (r"\frac{d}{dx}\exp(-1000000x^2) = -2000000x\exp(-1000000x^2)", True),
])
def test_underflowing_sides_are_compared_at_rescaled_points(claim, verdict):
    r = texgrad.check_claim(claim)
    assert r.verdict is verdict, r
    assert r.compared >= 3


def test_underflow_repro_is_wrong():
    res, rec = one("check_underflow.tex")
    assert res.exit_code == 1 and rec["status"] == "wrong"


def test_ok_needs_three_points_at_two_size_sets():
    r = texgrad.check_claim(X + r" = 2\mathbf{x}")
    assert r.verdict is True and r.compared >= 3 and len(r.sizes) >= 2
    assert len({tuple(s.items()) for s in r.sizes}) >= 2
    # at least one size set with every dimension distinct and none equal to 3
    assert any(3 not in s.values() and len(set(s.values())) == len(s) for s in r.sizes)


# ----------------------------------------------------------------- F3: braced superscripts

def test_braced_superscript_repro_is_wrong():
    res, rec = one("check_braced_sup_wrong.tex")
    assert res.exit_code == 1 and rec["status"] == "wrong"
    assert "2\\mathbf{x}" in rec["derivative_latex"]


@pytest.mark.parametrize("claim, verdict", [
    (r"\frac{d}{dx} x^{2} = 2x", True),
    (r"\frac{d}{dx} x^{2} = 3x", False),
    (r"\frac{\partial x^{2}}{\partial x} = 2x", True),
    (r"\frac{\partial}{\partial X} \operatorname{tr}(AX)^{2} = 2\operatorname{tr}(AX)A^\top",
     True),
    (r"\frac{\partial}{\partial X} \operatorname{tr}(AX)^{2} = \operatorname{tr}(AX)A^\top",
     False),
    (r"\nabla_x \|x\|_{2}^{2} = 2x", True),
    (r"\nabla_x \|x\|_{2}^{2} = x", False),
])
def test_braced_superscripts_are_decided(claim, verdict):
    r = texgrad.check_claim(claim)
    assert r.verdict is verdict, r


# ----------------------------------------------------------------- F7: other wrong claims

@pytest.mark.parametrize("name", ["check_dropped_operator.tex", "check_cayley_hamilton_n3.tex",
                                  "check_size3_only.tex", "check_tolerance_1e-6.tex"])
def test_wrong_claims_are_wrong(name):
    res, rec = one(name)
    assert res.exit_code == 1 and rec["status"] == "wrong", rec


def test_a_member_that_is_a_derivative_is_differentiated():
    r = texgrad.check_claim(X + r" = \nabla_{\mathbf{y}} 2\mathbf{x}")
    assert r.verdict is False and "it is 0" in r.reason
    r = texgrad.check_claim(X + r" = \nabla_{\mathbf{x}} \left(2\mathbf{x}^\top\mathbf{x}\right)")
    assert r.verdict is False


@pytest.mark.parametrize("factor, verdict", [("2.0000002", False), ("2.000002", False),
                                             ("2.00002", False), ("2", True)])
def test_tolerance_is_far_below_one_in_a_million(factor, verdict):
    r = texgrad.check_claim(X + " = " + factor + r"\mathbf{x}")
    assert r.verdict is verdict
    assert r.tolerance is not None and r.tolerance <= 1e-8


def test_right_answer_with_inverses_is_not_a_false_alarm():
    r = texgrad.check_claim(r"\frac{\partial}{\partial X}\operatorname{tr}(X^{-1}A) = "
                            r"-X^{-T}A^\top X^{-T}")
    assert r.verdict is True, r


# ----------------------------------------------------------------- F11: false alarms

@pytest.mark.parametrize("prose", ["Let $A$ be a symmetric matrix.",
                                   r"Let $A \in \mathbb{R}^{n \times n}$ be symmetric.",
                                   "Let $A$ be symmetric positive definite."])
def test_let_a_be_symmetric_is_read(prose):
    text = prose + "\n$$" + r"\nabla_{\mathbf{x}} \mathbf{x}^\top A\mathbf{x} = 2A\mathbf{x}$$"
    out = claims.check_text(text, "t.tex")
    assert [r.status for r in out] == ["ok"]


def test_let_be_symmetric_repro():
    res, rec = one("check_let_be_symmetric.tex")
    assert res.exit_code == 0 and rec["status"] == "ok"


def test_restated_chain_is_ok():
    res, rec = one("check_restated_chain.tex")
    assert res.exit_code == 0 and rec["status"] == "ok"


def test_tall_domain_is_compared_where_f_is_defined():
    res, rec = one("check_tall_domain.tex")
    assert res.exit_code == 0 and rec["status"] == "ok", rec


def test_cookbook_convention_is_accepted_and_named():
    res, rec = one("check_cookbook_symmetric.tex")
    assert res.exit_code == 0 and rec["status"] == "ok"
    assert rec["convention"] == "cookbook" and "cookbook" in rec["reason"]
    res, rec = one("check_cookbook_symmetric.tex", "--symmetric", "cookbook")
    assert rec["status"] == "ok" and rec["convention"] == ""
    assert "\\odot" in rec["derivative_latex"]


@pytest.mark.parametrize("claim, assume, conv", [
    (r"\frac{\partial \operatorname{tr}(AX)}{\partial X} = \frac{1}{2}(A + A^\top)",
     {"X": ("symmetric",)}, "sym"),
    (r"\frac{\partial \log\det X}{\partial X} = 2X^{-1} - I\circ X^{-1}", {"X": ("spd",)},
     "cookbook"),
    (r"\frac{\partial \mathbf{x}^\top X\mathbf{x}}{\partial X} = 2\mathbf{x}\mathbf{x}^\top - "
     r"I\circ \mathbf{x}\mathbf{x}^\top", {"X": ("symmetric",)}, "cookbook"),
])
def test_symmetric_conventions_via_the_api(claim, assume, conv):
    r = texgrad.check_claim(claim, assume=assume)
    assert r.verdict is True and r.convention == conv
    r = texgrad.check_claim(claim, assume=assume, symmetric=conv)
    assert r.verdict is True and r.convention == ""
    wrong = claim.replace("= ", "= 3", 1)
    assert texgrad.check_claim(wrong, assume=assume).verdict is False


@pytest.mark.parametrize("name", ["check_transposed_nonsquare.tex",
                                  "check_transposed_square.tex"])
def test_transposed_answer_has_one_verdict_whatever_the_shapes(name):
    # alone in its document, a transposed answer is `transposed` (issue 11, item 9a): right
    # only in the numerator layout; in texgrad's (denominator) layout it is wrong
    res, rec = one(name)
    assert rec["status"] == "transposed" and res.exit_code == 0
    assert rec["reason"].startswith("right only in the transposed layout (the numerator")
    res, rec = one(name, "--layout", "denominator")
    assert rec["status"] == "wrong" and rec["reason"].startswith("printed transposed")


def test_row_request_asks_for_the_row():
    c = r"\frac{\partial \mathbf{a}^\top\mathbf{x}}{\partial \mathbf{x}^\top} = "
    assert texgrad.check_claim(c + r"\mathbf{a}^\top").verdict is True
    assert texgrad.check_claim(c + r"\mathbf{a}").verdict is False


def test_wirtinger_answer_gets_a_hint():
    r = texgrad.check_claim(r"\frac{\partial \mathbf{x}^H\mathbf{x}}{\partial \mathbf{x}} = "
                            r"\overline{\mathbf{x}}", assume={"x": ("complex",)})
    assert r.verdict is False and "Wirtinger" in r.reason


# ----------------------------------------------------------------- F12: time

@pytest.mark.parametrize("text", ["a" * 200_000, "a," * 100_000, r"\[ x " * 20_000,
                                  r"\begin{equation} x " * 5_000, "$a\\in " * 50_000,
                                  (REPRO / "check_longword_20k.tex").read_text()],
                         ids=["letters", "commas", "unclosed-display", "unclosed-env",
                              "dollars", "longword-repro"])
def test_document_scan_is_linear(text):
    t = time.perf_counter()
    claims.check_text(text, "t.tex")
    assert time.perf_counter() - t < 5.0


@pytest.fixture
def endless_decision(monkeypatch):
    """Every claim's decision runs until the time limit stops it."""
    def endless(*args, **kwargs):
        while True:
            time.sleep(0.01)
    monkeypatch.setattr(claimsdecide, "_decide", endless)


def test_a_claim_over_the_time_limit_is_skipped(endless_decision):
    """The per-claim limit itself: a claim whose decision never ends is skipped."""
    t = time.perf_counter()
    out = claims.check_text(r"$$\frac{d}{dx} x^2 = 2x$$", "t.tex", time_limit=0.5)
    assert time.perf_counter() - t < 10
    assert [r.status for r in out] == ["skipped"]
    assert out[0].reason.startswith("limit exceeded")


def test_the_nested_sine_reproducer_ends():
    """check_sin_nested40.tex (F2 through check): decided (= 0 is wrong) or, on a slow
    machine, skipped at the limit; never a hang."""
    text = (REPRO / "check_sin_nested40.tex").read_text()
    t = time.perf_counter()
    out = claims.check_text(text, "t.tex", time_limit=5.0)
    assert time.perf_counter() - t < 30
    assert len(out) == 1
    assert out[0].status == "wrong" or out[0].reason.startswith("limit exceeded"), out[0]


# ----------------------------------------------------------------- L1, L5

def test_json_is_strict():
    res = run_check(REPRO / "check_nan_rhs.tex", "--format", "json")
    text = f"$${X} = A$$\n"            # a shape mismatch: an infinite error
    res2 = run_check("-", "--format", "json", input=text)

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")
    for r in (res, res2):
        for line in r.stdout.splitlines():
            json.loads(line, parse_constant=no_constants)


def test_stdin_with_invalid_utf8_exits_2_and_no_warnings_leak():
    out = subprocess.run([sys.executable, "-m", "texgrad", "check", "-"],
                         input=b"$x$ \xff\xfe", capture_output=True, timeout=120)
    assert out.returncode == 2 and b"UTF-8" in out.stderr
    out = subprocess.run([sys.executable, "-m", "texgrad", "check",
                          str(REPRO / "check_nan_rhs.tex")], capture_output=True, text=True,
                         timeout=120)
    assert "Warning" not in out.stderr and "Traceback" not in out.stderr


def test_identically_zero_sides_are_ok_without_points():
    r = texgrad.check_claim(r"\frac{d}{dx} \sin(x)^2 + \cos(x)^2 = 0")
    assert r.verdict is True and "identically 0" in r.reason
    # a printed answer that merely vanishes at every draw proves nothing
    r = texgrad.check_claim(r"\frac{d}{dx} \sin(x)^2 + \cos(x)^2 = \exp(-10^{6}(x + 5)^2)")
    assert r.verdict is None and r.reason.startswith("not verified")


def test_check_claim_raises_only_texgrad_errors():
    with pytest.raises(texgrad.TexgradError):
        texgrad.check_claim(X + r" = 2\mathbf{x}", definitions=[1, 2])
    with pytest.raises(texgrad.TexgradError):
        texgrad.check_claim(X + r" = 2\mathbf{x}", symmetric="nope")
    assert texgrad.check_claim(X + r" = \frac{").verdict is None


def test_cli_time_limit_option(endless_decision):
    t = time.perf_counter()
    res = run_check(REPRO / "check_sin_nested40.tex", "--time-limit", "1")
    assert time.perf_counter() - t < 30
    assert res.exit_code == 0 and "skipped: limit exceeded" in res.stdout
    assert run_check(REPRO / "check_sin_nested40.tex", "--time-limit", "-1").exit_code == 2
