"""texgrad check: claims found in samples/, decided against texgrad's verified derivative."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import texgrad
from texgrad.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# the misprints planted in the samples: file -> lines of the wrong claims
WRONG = {"paper.tex": {25, 32}, "notes.md": {11, 17}}
FOUND = {"paper.tex": 7, "notes.md": 5}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_check_flags_exactly_the_wrong_claims(name):
    res = CliRunner().invoke(main, ["check", str(SAMPLES / name), "--format", "json"])
    assert res.exit_code == 1, res.output
    records = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(records) == FOUND[name]
    assert {r["line"] for r in records if r["status"] == "wrong"} == WRONG[name]
    assert all(r["status"] == "ok" for r in records if r["line"] not in WRONG[name])


def test_report_reads_like_a_compiler():
    res = CliRunner().invoke(main, ["check", str(SAMPLES / "paper.tex")])
    lines = res.stdout.splitlines()
    wrong = [ln for ln in lines if ": wrong: " in ln]
    assert wrong and all(ln.split(":")[1].isdigit() for ln in wrong)
    assert any("is 2\\Sigma\\mathbf{x}, the text prints \\Sigma \\mathbf{x}" in ln
               for ln in wrong)


def test_check_claim_api():
    ok = texgrad.check_claim(r"\frac{\partial}{\partial W}\|XW - Y\|_F^2 = 2X^T(XW - Y)")
    assert ok.verdict is True and ok.max_rel_error < 1e-9
    bad = texgrad.check_claim(r"\frac{\partial}{\partial W}\|XW - Y\|_F^2 = X^T(XW - Y)")
    assert bad.verdict is False and "2X" in bad.derivative_latex
    undecided = texgrad.check_claim(r"\frac{\partial}{\partial W}\|XW - Y\|_F^2 = \foo")
    assert undecided.verdict is None and undecided.reason


def test_definitions_in_a_separate_display():
    r = texgrad.check_claim("f(W) = \\|XW - Y\\|_F^2\n\\nabla f(W) = 2X^\\top(XW - Y)")
    assert r.verdict is True


def test_chain_every_member_must_be_right():
    r = texgrad.check_claim(r"\frac{\partial \mathbf{x}^T A \mathbf{x}}{\partial \mathbf{x}}"
                            r" = (A + A^T)\mathbf{x} = 2A\mathbf{x}", assume={"A": ()})
    assert r.verdict is False


def test_declarations_from_prose():
    shapes, assume = texgrad.claims.declarations(
        r"Let $X \in \mathbb{R}^{m \times n}$, $\mathbf{x} \in \mathbb{R}^n$, $W$ symmetric "
        r"and $\Sigma \succ 0$.")
    assert shapes["X"] == ("m", "n") and shapes["x"] == ("n",)
    assert "symmetric" in assume["W"] and "spd" in assume["Sigma"]


def test_stdin_and_real_subprocess():
    text = (SAMPLES / "notes.md").read_text()
    out = subprocess.run([sys.executable, "-m", "texgrad", "check", "-"], input=text,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stdout.count(": wrong: ") == 2
    assert "5 claims: 3 ok, 2 wrong, 0 skipped" in out.stderr


def test_unreadable_file_exits_2(tmp_path):
    res = CliRunner().invoke(main, ["check", str(tmp_path / "missing.tex")])
    assert res.exit_code == 2


def test_right_only_under_an_unstated_assumption_is_conditional():
    claim = r"\frac{\partial}{\partial \mathbf{x}} \mathbf{x}^T A \mathbf{x} = 2A\mathbf{x}"
    r = texgrad.check_claim(claim)
    assert r.verdict is None and r.status == "conditional"
    assert r.condition == "right if A is symmetric" and "does not state" in r.reason
    # A stated general (no assumption): wrong, with the hint
    r = texgrad.check_claim(claim, assume={"A": ()})
    assert r.verdict is False and "right if A is symmetric" in r.reason
    assert texgrad.check_claim(claim, assume={"A": ("symmetric",)}).verdict is True
    # the variable itself: grad log|Sigma| = Sigma^{-1} holds at symmetric Sigma only
    r = texgrad.check_claim(r"\frac{\partial \log\det\Sigma}{\partial \Sigma} = \Sigma^{-1}")
    assert r.status == "conditional" and "Sigma" in r.condition


def test_a_pasted_claim_is_read_as_a_display():
    # markup, prose and alignment around the math; the sizes of I from the comparison
    for text in [r"\frac{\partial}{ \partial X} \tr(X)=I \\" "\n" r"\label{simp prob 1}",
                 r"\frac{\partial \log\det X}{\partial X} &= X^{-T} &\quad\big({\rm "
                 r"assuming\;}\det X > 0\big)",
                 r"\frac{\partial}{\partial X} (a^TX^{-1}b) = -X^{-T}ab^TX^{-T} \quad a, b "
                 r"\in \mathbb{R}^n",
                 r"\frac{\partial}{\partial \mathbf{x}} \mathbf{x}^T \mathbf{a} &= "
                 r"\frac{\partial}{\partial \mathbf{x}} \mathbf{a}^T \mathbf{x} = \mathbf{a} \\",
                 "f(X) := \\operatorname{tr}(X^TX)\n\\frac{\\partial f}{\\partial X} = 2X "
                 "\\;\\;\\text{Such a beauty!}",
                 "\\begin{align*}\\frac{\\partial}{\\partial X} \\tr(AX) &= A^T \\\\\n"
                 "&= \\boxed{A^{\\top}} \\tag{3}\\end{align*}"]:
        r = texgrad.check_claim(text)
        assert r.verdict is True, (text, r.reason)
    r = texgrad.check_claim(r"\frac{\partial}{\partial X} \tr(X) = 2I \\")
    assert r.verdict is False


def test_a_printed_answer_that_does_not_conform_is_wrong():
    claim = r"\frac{\partial}{\partial W}\|XW - Y\|_F^2 = 2(XW - Y)X^T"
    shapes = {"X": ("m", "n"), "W": ("n", "p"), "Y": ("m", "p")}
    r = texgrad.check_claim(claim, shapes=shapes)
    assert r.verdict is False and "does not conform" in r.reason, r.reason
    assert texgrad.check_claim(claim).verdict is False
    # a claim texgrad cannot read stays undecided
    assert texgrad.check_claim(claim.replace("X^T", r"\foo")).verdict is None


def test_shapes_are_read_from_the_printed_answer_too():
    # det(XA) (X^T)^{-1} needs a square X: read so, the claim is right
    r = texgrad.check_claim(r"\frac{\partial\det(XA)}{\partial X}=\det(XA)(X^T)^{-1}")
    assert r.verdict is True and "X square" in r.reason, r.reason
    assert r.shapes["X"][0] == r.shapes["X"][1]
    # right for square A, B only (the Cookbook's assumption): conditional, not a false alarm
    claim = (r"\frac{\partial\det(AXB)}{\partial X} = \det(AXB){(X^{-1})}^T = "
             r"\det(AXB){(X^T)}^{-1}")
    r = texgrad.check_claim(claim)
    assert r.status == "conditional" and r.condition == "right if A, B and X are square"
    sq = {k: ("n", "n") for k in "AXB"}
    assert texgrad.check_claim(claim, shapes=sq).verdict is True
    assert texgrad.check_claim(claim.replace("{(X^T)}^{-1}", "{(X^T)}^{-2}"),
                               shapes=sq).verdict is False


def test_request_forms_of_real_texts():
    # Lagrange's f''(x) (the Hessian of a defined f); \nabla without a subscript (the one
    # symbol); the adjugate in a chain (adj(A) = det(A) A^{-1})
    assert texgrad.check_claim("f(x)=x^TAx\nf''(x) = A + A^t").verdict is True
    assert texgrad.check_claim("f(x)=x^TAx\nf''(x) = 2A").status == "conditional"
    assert texgrad.check_claim("f(x)=x^TAx\nf'(x) = (A + A^T)x").verdict is True
    assert texgrad.check_claim(r"\nabla\|x\|_2^2 = 2x").verdict is True
    assert texgrad.check_claim(r"\nabla\|x\|_2^2 = x").verdict is False
    claim = (r"\frac{\partial\det(X^TA)}{\partial X} = A\operatorname{adj}(A^TX)^T = "
             r"\det(X^TA)A(X^TA)^{-1}")
    assert texgrad.check_claim(claim).verdict is True
    assert texgrad.check_claim(claim.replace("(A^TX)^T =", "(A^TX) =")).verdict is False


def test_a_letter_in_exponents_is_a_symbolic_integer_power():
    ok = texgrad.check_claim(r"\frac{\partial Tr(X^n)}{\partial X}=n(X^{n-1})^T")
    assert ok.verdict is True and "n read as a positive integer" in ok.reason
    bad = texgrad.check_claim(r"\frac{\partial Tr(X^n)}{\partial X}=(n-1)(X^{n-1})^T")
    assert bad.verdict is False and "at n = 2" in bad.reason
    r = texgrad.check_claim(r"\dfrac{\partial \tr\left((X^TX)^p\right)}{\partial X} = "
                            r"2p X(X^\top X)^{p-1}")
    assert r.verdict is True
    # a transpose mark (^{-T}, ^t) is no exponent letter
    r = texgrad.check_claim(r"\frac{\partial a^tX^{-1}b}{\partial X} = -X^{-t}ab^tX^{-t}")
    assert r.verdict is True and "integer" not in r.reason


def test_a_sum_with_numeric_bounds_is_written_out():
    claim = ("f_3 &= {\\rm tr}(AX^3) \\cr\n\\frac{\\partial f_3}{\\partial X} &= "
             "(XXA+XAX+AXX)^T \\cr &= \\Big(\\sum_{k=0}^2 \\, X^k\\,A\\,X^{2-k}\\Big)^T")
    assert texgrad.check_claim(claim).verdict is True
    assert texgrad.check_claim(claim.replace("X^{2-k}", "X^{1-k}")).verdict is False


def test_more_request_forms_and_readings():
    # D_x f and J_x f: the derivative in numerator layout (a row for a scalar f)
    assert texgrad.check_claim(r"D_x (x^Tx) = 2x^T").verdict is True
    assert texgrad.check_claim(r"\mathbf{J}_{\mathbf{x}} (A\mathbf{x}) = A").verdict is True
    # \nabla^2 f: the Hessian when the printed answer is a matrix, else the Laplacian
    assert texgrad.check_claim(r"\nabla^2 (x^TAx) = A + A^T").verdict is True
    r = texgrad.check_claim(r"\nabla^2 \|x\|^2 = 2n")       # n: the size of x
    assert r.verdict is True and "n read as the size" in r.reason
    assert texgrad.check_claim(r"\nabla^2 \|x\|^2 = 2n + 1").verdict is False
    # W^{(l)}: a label, never a power: d ||W^{(2)} a||^2 / dW^{(2)} = 2 W^{(2)} a a^T
    claim = (r"\frac{\partial}{\partial W^{(2)}} \|W^{(2)}\mathbf{a}^{(1)}\|^2 = "
             r"2W^{(2)}\mathbf{a}^{(1)}(\mathbf{a}^{(1)})^T")
    assert texgrad.check_claim(claim).verdict is True
    assert texgrad.check_claim(claim.replace("2W", "W")).verdict is False


def test_conditions_stated_in_prose_and_frobenius_requests():
    claim = r"\frac{\partial}{\partial X} \operatorname{tr}(X^\top B X) = 2BX"
    assert texgrad.check_claim(claim + r" \quad \text{if B is symmetric}").verdict is True
    assert texgrad.check_claim(claim).status == "conditional"
    # d/dX applies to the whole Frobenius product: (AX) : B = tr((AX)^T B), gradient A^T B
    assert texgrad.check_claim(r"\frac{\partial}{\partial X} (AX) : B = A^TB").verdict is True
    assert texgrad.check_claim(r"\frac{\partial}{\partial X} (AX) : B = BA^T").verdict is False


def test_derivatives_by_an_entry():
    # d tr(AB) / d a_ij = b_ji (a_ij: the entry of A, as the Cookbook writes it)
    assert texgrad.check_claim(r"\frac{\partial}{\partial a_{i,j}} \operatorname{tr}(AB) = "
                               r"b_{j,i}").verdict is True
    assert texgrad.check_claim(r"\frac{\partial}{\partial a_{ij}} \operatorname{tr}(AB) = "
                               r"b_{ij}").verdict is False
    assert texgrad.check_claim(r"\frac{\partial}{\partial x_k} x^Tx = 2x_k").verdict is True
    assert texgrad.check_claim(r"\frac{\partial}{\partial X_{ij}} \operatorname{tr}(AX) = "
                               r"A_{ji}").verdict is True


def test_a_final_zero_sets_the_derivative_to_zero():
    r = texgrad.check_claim(r"\nabla_x \|Ax - b\|^2 = 2A^T(Ax - b) = 0 \implies A^TAx = A^Tb")
    assert r.verdict is True and "setting the derivative to zero" in r.reason
    assert texgrad.check_claim(r"\nabla_x \|Ax - b\|^2 = A^T(Ax - b) = 0").verdict is False


def test_function_arguments_texgrad_cannot_read_come_from_the_definition():
    text = "J(W, b; x, y) = \\|Wx + b - y\\|^2\n\\nabla_W J(W, b; x, y) = 2(Wx+b-y)x^T"
    assert texgrad.check_claim(text).verdict is True
    assert texgrad.check_claim(text.replace("2(Wx", "(Wx")).verdict is False


def test_a_function_named_by_the_chain_itself():
    claim = r"\frac{\partial f}{\partial X} = \frac{\partial}{\partial X}\operatorname{Tr}(X^TX)"
    assert texgrad.check_claim(claim + " = 2X").verdict is True
    assert texgrad.check_claim(claim + " = 3X").verdict is False
    # a definition of the symbol: y = Ax, then dy/dx
    assert texgrad.check_claim("\\mathbf{y} = \\mathbf{A}\\mathbf{x}\n\\frac{\\partial \\mathbf{y}}"
                               "{\\partial \\mathbf{x}} = \\mathbf{A}").verdict is True


def test_a_network_derivation_with_layer_labels_and_sigma_prime():
    # z = W^{(1)} x, a = sigma(z), y_hat = w^{(2)T} a, L = (y_hat - y)^2 / 2: every printed
    # gradient is right (backprop by hand: dL/dW1 = [(y_hat - y) w2 * sigma'(z)] x^T)
    text = (Path(__file__).parent / "data" / "docs" / "backprop.md").read_text()
    res = texgrad.claims.check_text(text, "backprop.md")
    assert [r.status for r in res] == ["ok", "ok", "ok", "ok", "not-a-claim"], \
        [(r.line, r.status, r.reason) for r in res]
    wrong = text.replace(r"\odot \sigma'(\mathbf{z}^{(1)})", r"\odot \sigma(\mathbf{z}^{(1)})")
    assert [r.status for r in texgrad.claims.check_text(wrong, "b.md")][2] == "wrong"


def test_the_derivative_of_a_known_function_written_with_a_prime():
    import numpy as np
    r = texgrad.differentiate(r"\mathbf{1}^T\sigma'(\mathbf{z})", wrt=r"\mathbf{z}")
    z = np.linspace(-2, 2, 5)
    s = 1 / (1 + np.exp(-z))
    # d/dz sum sigma'(z) = sigma''(z) = s(1 - s)(1 - 2s)
    assert r.verified and np.allclose(r.evaluate({"z": z}), s * (1 - s) * (1 - 2 * s))
