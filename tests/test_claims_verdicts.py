"""Verdicts an author can trust and act on (issue 11, item 9): a document's layout, statements
that are not claims, and the exit status of `texgrad check`.

The truth of each claim is known independently: the NumPy references below (central
differences of f, laid out like the variable) say which orientation each printed answer has.
texgrad's own layout lays a gradient out like its variable (f = a^T X b: a b^T, X-shaped) and
a Jacobian like its function (d(Ax)/dx = A); the numerator layout prints the gradients'
transposes (a^T for d(a^T x)/dx, b a^T for f = a^T X b), the denominator layout the
Jacobians' (A^T).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from refs import grad_fd

import texgrad
from texgrad import claimsdecide
from texgrad.claims import check_text
from texgrad.claimslayout import prose_layout
from texgrad.cli import main

RNG = np.random.default_rng(11)




def test_the_references_orientations():
    """The NumPy facts the claims below rest on."""
    m, n = 3, 4
    a, b, X = RNG.standard_normal(m), RNG.standard_normal(n), RNG.standard_normal((m, n))
    g = grad_fd(lambda X: a @ X @ b, X)
    assert np.allclose(g, np.outer(a, b), atol=1e-6)           # a b^T: texgrad's, X-shaped
    assert np.allclose(g.T, np.outer(b, a), atol=1e-6)         # b a^T: the numerator layout
    x = RNG.standard_normal(m)
    assert np.allclose(grad_fd(lambda x: a @ x, x), a)          # a (a column) / a^T (a row)
    A = RNG.standard_normal((m, n))
    y = RNG.standard_normal(n)
    jac = np.stack([grad_fd(lambda y: (A @ y)[i], y) for i in range(m)])
    assert np.allclose(jac, A, atol=1e-6)                       # d(Ax)/dx = A (numerator)
    Z = RNG.standard_normal((m, m)) + 3 * np.eye(m)
    gz = grad_fd(lambda Z: np.log(abs(np.linalg.det(Z))), Z)
    assert np.allclose(gz, np.linalg.inv(Z).T, atol=1e-5)       # Z^{-T}; Z^{-1} transposed
    assert not np.allclose(gz, np.linalg.inv(Z), atol=1e-3)


DECL = (r"Let $\mathbf{a}, \mathbf{x} \in \mathbb{R}^m$, $X \in \mathbb{R}^{m \times n}$, "
        r"$\mathbf{b} \in \mathbb{R}^n$." + "\n")
GRAD_ROW = r"$$\frac{\partial \mathbf{a}^T\mathbf{x}}{\partial \mathbf{x}} = \mathbf{a}^T$$"
GRAD_COL = r"$$\frac{\partial \mathbf{a}^T\mathbf{x}}{\partial \mathbf{x}} = \mathbf{a}$$"
MAT_T = r"$$\frac{\partial \mathbf{a}^T X \mathbf{b}}{\partial X} = \mathbf{b}\mathbf{a}^T$$"
MAT = r"$$\frac{\partial \mathbf{a}^T X \mathbf{b}}{\partial X} = \mathbf{a}\mathbf{b}^T$$"


def doc(*lines: str) -> str:
    return DECL + "\n".join(lines) + "\n"


def statuses(text, name="x.tex", **kw):
    return [r.status for r in check_text(text, name, **kw)]


# ----------------------------------------------------------------- the layout from prose

@pytest.mark.parametrize("sentence, layout", [
    ("Throughout these notes we use the numerator layout.", "numerator"),
    ("We adopt the Jacobian formulation of matrix calculus.", "numerator"),
    ("These formulas follow the denominator layout.", "denominator"),
    ("The Hessian formulation is used here.", "denominator"),
    ("We use the denominator layout rather than the numerator layout.", "denominator"),
    ("We define the gradient as a row vector, so that the chain rule is a product.",
     "numerator"),
    ("In numerator layout, the derivative of a scalar by a vector is a row.", "numerator"),
    ("It is not uncommon to define the gradient as a column vector. The reason why we "
     "define the gradient vector as a row vector is twofold.", "numerator"),
    ("We work in the mixed layout.", "mixed"),
])
def test_the_prose_names_the_layout(sentence, layout):
    assert prose_layout(sentence)[0] == layout


@pytest.mark.parametrize("sentence", [
    "There are two conventions, the numerator layout and the denominator layout.",
    "In numerator layout the gradient is a row; in denominator layout, a column.",
    "Nothing about layouts here.",
    "If we used the numerator layout instead, the result would be a row.",
    "Some texts use the numerator layout.",
])
def test_prose_without_a_choice_names_none(sentence):
    assert prose_layout(sentence) == (None, "")


def test_in_the_stated_numerator_layout_transposes_are_ok_and_columns_wrong():
    text = "Throughout these notes we use the numerator layout.\n" + doc(
        GRAD_ROW, MAT_T, MAT, GRAD_COL)
    res = check_text(text, "x.tex")
    assert [r.status for r in res] == ["ok", "ok", "wrong", "wrong"]
    assert all(r.layout == "numerator" and r.layout_source == "prose" for r in res)
    assert "right in the numerator layout" in res[0].reason
    # a b^T is texgrad's (X-shaped); the numerator layout wants b a^T
    assert "against the document's numerator layout" in res[2].reason


def test_in_the_stated_denominator_layout_transposes_are_wrong():
    text = "These formulas follow the denominator layout.\n" + doc(GRAD_ROW, MAT, GRAD_COL)
    res = check_text(text, "x.tex")
    assert [r.status for r in res] == ["wrong", "ok", "ok"]
    assert res[0].reason.startswith("printed transposed: the document uses the denominator")


# ----------------------------------------------------------------- the layout by majority

def test_the_majority_of_distinguishable_claims_decides():
    res = check_text(doc(GRAD_ROW, MAT_T, MAT), "x.tex")
    assert [r.status for r in res] == ["ok", "ok", "wrong"]
    assert {(r.layout, r.layout_source) for r in res} == {("numerator", "majority")}
    res = check_text(doc(GRAD_COL, MAT, MAT_T), "x.tex")
    assert [r.status for r in res] == ["ok", "ok", "wrong"]
    assert res[0].layout == "denominator" and res[0].layout_source == "majority"


def test_a_single_claim_or_a_tie_is_no_evidence():
    for text in (doc(MAT_T), doc(GRAD_ROW, GRAD_COL), doc(MAT_T, MAT)):
        res = check_text(text, "x.tex")
        tr = [r for r in res if r.status == "transposed"]
        assert len(tr) == 1 and tr[0].verdict is None
        assert tr[0].reason.startswith("right only in the transposed layout")
        assert {(r.layout, r.layout_source) for r in res} == {(None, "none")}


def test_square_symmetric_answers_do_not_vote():
    # d tr(S)/dS = I and d log det S / dS = S^{-1} (S spd): symmetric, the same in both
    # layouts; one transposed answer beside them is still no evidence
    text = doc(r"Let $S \succ 0$, $S \in \mathbb{R}^{n \times n}$.",
               r"$$\frac{\partial \operatorname{tr}(S)}{\partial S} = I$$",
               r"$$\frac{\partial \log\det S}{\partial S} = S^{-1}$$", MAT_T)
    res = check_text(text, "x.tex")
    assert [r.status for r in res] == ["ok", "ok", "transposed"]
    assert res[0].layout_vote == "" and res[1].layout_vote == ""
    assert res[2].layout_vote == "numerator"


# ----------------------------------------------------------------- the option and the API

def test_the_option_overrides_prose_and_majority():
    text = "We use the numerator layout.\n" + doc(GRAD_ROW, MAT_T)
    res = check_text(text, "x.tex", layout="denominator")
    assert [r.status for r in res] == ["wrong", "wrong"]
    assert res[0].layout_source == "option"
    assert statuses(doc(MAT_T), layout="numerator") == ["ok"]


def test_check_claim_with_and_without_a_layout():
    claim = r"\frac{\partial \mathbf{a}^T X \mathbf{b}}{\partial X} = \mathbf{b}\mathbf{a}^T"
    shapes = {"a": ("m",), "b": ("n",), "X": ("m", "n")}
    r = texgrad.check_claim(claim, shapes=shapes)
    assert r.status == "transposed" and r.verdict is None and r.layout_source == "none"
    r = texgrad.check_claim(claim, shapes=shapes, layout="numerator")
    assert r.status == "ok" and r.layout_source == "option"
    r = texgrad.check_claim(claim, shapes=shapes, layout="denominator")
    assert r.status == "wrong"
    with pytest.raises(texgrad.TexgradError):
        texgrad.check_claim(claim, layout="sideways")


def test_a_jacobian_is_transposed_in_the_denominator_layout():
    # d(Ax)/dx = A (numerator, texgrad's); the denominator layout prints A^T
    base = r"Let $A \in \mathbb{R}^{m \times n}$, $\mathbf{x} \in \mathbb{R}^n$." + "\n"
    jac = r"$$\frac{\partial A\mathbf{x}}{\partial \mathbf{x}} = A%s$$"
    assert statuses(base + jac % "^T", layout="denominator") == ["ok"]
    assert statuses(base + jac % "^T", layout="numerator") == ["wrong"]
    assert statuses(base + jac % "^T") == ["transposed"]
    assert statuses(base + jac % "", layout="denominator") == ["wrong"]
    assert statuses(base + jac % "", layout="mixed") == ["ok"]


def test_a_row_request_names_its_orientation_in_every_layout():
    c = r"$$\frac{\partial \mathbf{a}^\top\mathbf{x}}{\partial \mathbf{x}^\top} = \mathbf{a}$$"
    assert statuses(doc(c), layout="numerator") == ["wrong"]
    assert statuses(doc(c)) == ["wrong"]


def test_an_answer_right_transposed_or_if_symmetric_is_ok_in_the_numerator_layout():
    # d log|det Z| / dZ = Z^{-T}; Z^{-1} is its transpose (and equal to it for symmetric Z)
    c = r"$$\frac{\partial \log\det Z}{\partial Z} = Z^{-1}$$"
    assert statuses(c + "\n") == ["conditional"]
    res = check_text("We use the numerator layout.\n" + c + "\n", "x.tex")
    assert res[0].status == "ok" and "numerator layout" in res[0].reason
    assert statuses(c + "\n", layout="denominator") == ["conditional"]


# ----------------------------------------------------------------- not claims

RULES = [
    (r"\frac{\partial f}{\partial x} = \lim_{h\to 0} \frac{f(x+h)-f(x)}{h}", "definition"),
    (r"\frac{\partial f}{\partial x} = \frac{\partial f}{\partial y}\frac{\partial y}"
     r"{\partial x}", "rule"),
    (r"\nabla f = \left(\frac{\partial f}{\partial x_1}, \dots, \frac{\partial f}"
     r"{\partial x_n}\right)", "componentwise"),
    (r"\nabla f = \begin{bmatrix} \frac{\partial f}{\partial x_1} \\ \vdots \\ "
     r"\frac{\partial f}{\partial x_n}\end{bmatrix}", "componentwise"),
    (r"\nabla_x f(Ax) = A^T \nabla f(Ax)", "rule"),
    (r"W \leftarrow W - \eta\nabla_W L", "update"),
    (r"x_{k+1} = x_k - \alpha \nabla f(x_k)", "update"),
    (r"\theta := \theta - \eta \nabla J", "update"),
    (r"\mathbf{w}_{t+1} = \mathbf{w}_t - \eta \frac{\partial L}{\partial \mathbf{w}}", "update"),
]


@pytest.mark.parametrize("latex, what", RULES, ids=[w + str(i) for i, (_, w) in
                                                     enumerate(RULES)])
def test_rules_steps_and_definitions_are_not_claims(latex, what):
    res = check_text("$$" + latex + "$$\n", "x.tex")
    assert [r.status for r in res] == ["not-a-claim"]
    assert what.split()[0] in res[0].statement.replace("a gradient written componentwise",
                                                       "componentwise")
    assert res[0].verdict is None and res[0].reason == res[0].statement
    assert texgrad.check_claim(latex).status == "not-a-claim"


def test_a_decidable_claim_is_never_set_aside():
    text = "\n".join([r"$$f(\mathbf{x}) = \mathbf{x}^T\mathbf{x}$$",
                      r"$$\nabla_{\mathbf{x}} f(\mathbf{x}) = 2\mathbf{x}$$",
                      r"$$\nabla_{\mathbf{x}} f(\mathbf{x}) = 3\mathbf{x}$$",
                      r"$$\nabla_x \|x\|^2 = \nabla_x(x^T x) = 2x$$"])
    assert statuses(text) == ["ok", "wrong", "ok"]


def test_the_summary_counts_claims_and_statements_apart(tmp_path):
    p = tmp_path / "n.tex"
    p.write_text(doc(GRAD_COL, MAT, r"$$\nabla_x \|x\|^2 = 3x$$",
                     *("$$" + latex + "$$" for latex, _ in RULES[:3])))
    res = CliRunner().invoke(main, ["check", str(p)])
    assert res.exit_code == 1
    assert res.stderr.strip().endswith(
        "texgrad check: 3 claims: 2 ok, 1 wrong, 0 skipped; 3 statements that are not "
        "claims (rules, update steps, definitions)")
    assert res.stdout.count(": not a claim: ") == 3


# ----------------------------------------------------------------- JSON and exit status

def test_json_records_carry_the_statuses_and_the_layout(tmp_path):
    p = tmp_path / "n.tex"
    p.write_text(doc(MAT_T, "$$" + RULES[5][0] + "$$"))
    res = CliRunner().invoke(main, ["check", str(p), "--format", "json"])
    assert res.exit_code == 0, res.output
    recs = [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]
    assert [r["status"] for r in recs] == ["transposed", "not-a-claim"]
    assert recs[0]["verdict"] is None and recs[0]["layout"] is None
    assert recs[0]["layout_source"] == "none" and recs[1]["statement"] == "an update step"
    res = CliRunner().invoke(main, ["check", str(p), "--format", "json", "--layout",
                                    "numerator"])
    recs = [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]
    assert res.exit_code == 0 and recs[0]["status"] == "ok"
    assert (recs[0]["layout"], recs[0]["layout_source"]) == ("numerator", "option")
    q = tmp_path / "m.tex"
    q.write_text("We use the numerator layout.\n" + doc(MAT_T, MAT))
    res = CliRunner().invoke(main, ["check", str(q), "--format", "json"])
    recs = [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]
    assert res.exit_code == 1 and [r["status"] for r in recs] == ["ok", "wrong"]
    assert {(r["layout"], r["layout_source"]) for r in recs} == {("numerator", "prose")}


def test_a_bad_layout_option_is_exit_2(tmp_path):
    p = tmp_path / "n.tex"
    p.write_text(doc(MAT))
    assert CliRunner().invoke(main, ["check", str(p), "--layout", "sideways"]).exit_code == 2


def test_an_internal_error_is_exit_3_unless_a_claim_is_wrong(tmp_path, monkeypatch):
    real = claimsdecide._decide

    def broken(line, *a, **k):
        if "\\mathbf{b}" in line:
            raise ZeroDivisionError("a bug")
        return real(line, *a, **k)

    monkeypatch.setattr(claimsdecide, "_decide", broken)
    p = tmp_path / "n.tex"
    p.write_text(doc(GRAD_COL, MAT))
    res = CliRunner().invoke(main, ["check", str(p), "--format", "json"])
    recs = [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]
    assert res.exit_code == 3, res.output
    assert [r["status"] for r in recs] == ["ok", "skipped"]
    assert recs[1]["reason"].startswith("internal error (ZeroDivisionError")
    p.write_text(doc(GRAD_COL, MAT, r"$$\nabla_x \|x\|^2 = 3x$$"))
    assert CliRunner().invoke(main, ["check", str(p)]).exit_code == 1


def test_the_help_documents_the_exit_status():
    out = CliRunner().invoke(main, ["check", "--help"]).output
    assert "3 texgrad failed on some claim" in out and "--layout" in out
