"""Tests for `texgrad.families`: sums over samples (issue 12, item 1).

Each loss is written as a paper prints it, a sum over a data set's members
(``\\mathbf{x}_i``, ``y_i``); texgrad's gradient is compared with an independent NumPy
reference over the stacked data (``X`` of shape (N, d) holds ``\\mathbf{x}_i`` in row i),
and the reference itself with central differences of the reference f, so a wrong reference
cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest

import texgrad
from refs import grad_fd, softmax as _softmax
from texgrad.errors import TexgradError

RNG = np.random.default_rng(12)
N, K, D, M = 6, 3, 4, 2


def _data():
    return {
        "X": RNG.standard_normal((N, D)), "Y": RNG.standard_normal((N, M)),
        "y": RNG.choice([-1.0, 1.0], N), "t": RNG.standard_normal(N),
        "w": RNG.standard_normal(D), "W": RNG.standard_normal((M, D)),
        "P": RNG.standard_normal((D, K)), "mu": RNG.standard_normal(D),
        "Mu": RNG.standard_normal((K, D)), "R": RNG.uniform(0, 1, (N, K)),
        "S": (lambda a: a @ a.T / D + np.eye(D))(RNG.standard_normal((D, D))),
        "lam": 0.7, "n": 3.0,
        "U": RNG.standard_normal((N, D)), "V": RNG.standard_normal((K, M)),
        "A": RNG.standard_normal((D, M)),
    }


# (id, latex, wrt, assume, values from the data, reference f of the variable, reference
#  gradient, the variable's value, the most terms a textbook prints)
CASES = [
    ("least-squares", r"\sum_{i=1}^{N} (\mathbf{w}^T\mathbf{x}_i - y_i)^2", "w", None,
     lambda d: {"x_i": d["X"], "y_i": d["t"]},
     lambda d, w: np.sum((d["X"] @ w - d["t"]) ** 2),
     lambda d, w: 2 * d["X"].T @ (d["X"] @ w - d["t"]), "w", 1),
    ("ridge", r"\sum_{i=1}^{N} (\mathbf{w}^T\mathbf{x}_i - y_i)^2 + \lambda\|\mathbf{w}\|^2",
     "w", None, lambda d: {"x_i": d["X"], "y_i": d["t"], "lambda": d["lam"]},
     lambda d, w: np.sum((d["X"] @ w - d["t"]) ** 2) + d["lam"] * w @ w,
     lambda d, w: 2 * d["X"].T @ (d["X"] @ w - d["t"]) + 2 * d["lam"] * w, "w", 2),
    ("logistic", r"\sum_{i=1}^{n} \log(1 + \exp(-y_i \mathbf{w}^T \mathbf{x}_i))", "w", None,
     lambda d: {"x_i": d["X"], "y_i": d["y"]},
     lambda d, w: np.sum(np.log1p(np.exp(-d["y"] * (d["X"] @ w)))),
     lambda d, w: -d["X"].T @ (d["y"] / (1 + np.exp(d["y"] * (d["X"] @ w)))), "w", 1),
    ("softmax-regression",
     r"-\sum_{i} \mathbf{y}_i^T \log\operatorname{softmax}(W\mathbf{x}_i)", "W", None,
     lambda d: {"x_i": d["X"], "y_i": d["Y"]},
     lambda d, W: -sum(d["Y"][i] @ np.log(_softmax(W @ d["X"][i])) for i in range(N)),
     lambda d, W: -sum(np.outer(d["Y"][i] - d["Y"][i].sum() * _softmax(W @ d["X"][i]),
                                d["X"][i]) for i in range(N)), "W", 2),
    ("multi-output-least-squares", r"\sum_{i} \|W\mathbf{x}_i - \mathbf{y}_i\|^2", "W", None,
     lambda d: {"x_i": d["X"], "y_i": d["Y"]},
     lambda d, W: np.sum((d["X"] @ W.T - d["Y"]) ** 2),
     lambda d, W: 2 * (d["X"] @ W.T - d["Y"]).T @ d["X"], "W", 1),
    ("gaussian-mle-mean",
     r"-\frac{n}{2}\log|\Sigma| - \frac{1}{2}\sum_{i=1}^N (\mathbf{x}_i - \boldsymbol{\mu})^T"
     r" \Sigma^{-1} (\mathbf{x}_i - \boldsymbol{\mu})", r"\boldsymbol\mu", {"Sigma": ("spd",)},
     lambda d: {"x_i": d["X"], "Sigma": d["S"], "n": d["n"]},
     lambda d, mu: -d["n"] / 2 * np.log(np.linalg.det(d["S"])) -
     0.5 * np.sum((d["X"] - mu) @ np.linalg.inv(d["S"]) * (d["X"] - mu)),
     lambda d, mu: np.linalg.inv(d["S"]) @ (d["X"] - mu).sum(axis=0), "mu", 1),
    ("gaussian-mle-covariance",
     r"-\frac{n}{2}\log|\Sigma| - \frac{1}{2}\sum_{i=1}^N (\mathbf{x}_i - \boldsymbol{\mu})^T"
     r" \Sigma^{-1} (\mathbf{x}_i - \boldsymbol{\mu})", r"\Sigma", None,
     lambda d: {"x_i": d["X"], "mu": d["mu"], "n": d["n"]},
     lambda d, S: -d["n"] / 2 * np.log(abs(np.linalg.det(S))) -
     0.5 * np.sum((d["X"] - d["mu"]) @ np.linalg.inv(S) * (d["X"] - d["mu"])),
     lambda d, S: (lambda Si, E: -d["n"] / 2 * Si.T + 0.5 * Si.T @ E.T @ E @ Si.T)(
         np.linalg.inv(S), d["X"] - d["mu"]), "S", 2),
    ("k-means", r"\sum_{k=1}^K \sum_{i} r_{ik}\|\mathbf{x}_i - \boldsymbol\mu_k\|^2",
     r"\boldsymbol\mu_k", None, lambda d: {"x_i": d["X"], "r_ik": d["R"], "mu_k": d["Mu"]},
     lambda d, m: np.sum(d["R"][:, 0] * np.sum((d["X"] - m) ** 2, axis=1)),
     lambda d, m: -2 * (d["R"][:, 0][:, None] * (d["X"] - m)).sum(axis=0), "Mu0", 1),
    ("pca-reconstruction", r"\sum_{i=1}^{N} \|\mathbf{x}_i - PP^T\mathbf{x}_i\|^2", "P", None,
     lambda d: {"x_i": d["X"]},
     lambda d, P: np.sum((d["X"] - d["X"] @ P @ P.T) ** 2),
     lambda d, P: (lambda E: -2 * (E.T @ d["X"] @ P + d["X"].T @ E @ P))(
         d["X"] - d["X"] @ P @ P.T), "P", 2),
    ("part-of-the-range", r"\sum_{i=2}^{N} (\mathbf{w}^T\mathbf{x}_i)^2", "w", None,
     lambda d: {"x_i": d["X"]},
     lambda d, w: np.sum((d["X"][1:] @ w) ** 2),
     lambda d, w: 2 * d["X"][1:].T @ (d["X"][1:] @ w), "w", 1),
    ("nested", r"\sum_{i=1}^{N}\sum_{j=1}^{K} (\mathbf{u}_i^T A \mathbf{v}_j)^2", "A", None,
     lambda d: {"u_i": d["U"], "v_j": d["V"]},
     lambda d, A: np.sum((d["U"] @ A @ d["V"].T) ** 2),
     lambda d, A: 2 * d["U"].T @ (d["U"] @ A @ d["V"].T) @ d["V"], "A", 1),
    ("member-of-another-letter", r"\sum_{j=1}^{K} \|\mathbf{x} - \boldsymbol\mu_j\|^2",
     r"\boldsymbol\mu_k", None, lambda d: {"x": d["w"], "mu_k": d["Mu"]},
     lambda d, m: np.sum((d["w"] - m) ** 2),
     lambda d, m: 2 * (m - d["w"]), "Mu0", 1),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_sum_over_samples(case):
    name, tex, wrt, assume, values, ref_f, ref_g, var, terms = case
    d = _data()
    x0 = d["Mu"][0] if var == "Mu0" else d[var]
    ref = ref_g(d, x0)
    # the reference is right: central differences of the reference f
    assert np.allclose(grad_fd(lambda x: ref_f(d, x), x0), ref, rtol=1e-5, atol=1e-6), name
    r = texgrad.differentiate(tex, wrt=wrt, assume=assume)
    assert r.verified, (name, r.latex, r.stamp)
    # the sum is kept, as printed (by one member of a family, only its term is left)
    assert ("\\sum" in r.latex) == (name != "member-of-another-letter"), (name, r.latex)
    assert r.terms <= terms, (name, r.latex)
    vals = values(d)
    vals[r.wrt] = x0                    # the variable: one member (the first, k = 0)
    got = r.evaluate(vals)
    assert np.allclose(got, ref, rtol=1e-8, atol=1e-10), (name, r.latex, got, ref)


def test_the_printed_forms_are_the_papers():
    logistic = texgrad.differentiate(CASES[2][1], wrt="w")
    assert logistic.latex == (r"-\sum_{i=1}^{n} y_{i}\sigma\left(-y_{i}\left(\mathbf{w}^{T}"
                              r"\mathbf{x}_{i}\right)\right)\mathbf{x}_{i}")
    kmeans = texgrad.differentiate(CASES[7][1], wrt=r"\boldsymbol\mu_k")
    assert kmeans.latex == (r"-2\sum_{i} r_{ik}\left(\mathbf{x}_{i} - "
                            r"\boldsymbol\mu_{k}\right)")
    mle = texgrad.differentiate(CASES[6][1], wrt=r"\Sigma", assume={"Sigma": ("symmetric",)})
    assert r"\Sigma^{-1}\sum_{i=1}^{N}" in mle.latex and r"\Sigma^{-1}" in mle.latex


def test_a_sum_over_samples_is_never_dropped():
    """Before families, the sum vanished: the gradient of one term was stamped verified."""
    r = texgrad.differentiate(r"\sum_{i} \|W\mathbf{x}_i - \mathbf{y}_i\|^2", wrt="W")
    assert r.latex.startswith(r"2\sum_{i}")


def test_an_index_used_as_a_number():
    """gamma^t r_t: t is the index's value in each term, not a symbol (a discounted return)."""
    r = texgrad.differentiate(r"\sum_{t=1}^{T} \gamma^t r_t", wrt=r"\gamma")
    assert r.verified and r.latex == r"\sum_{t=1}^{T} {t}r_{t}\gamma^{t - 1}"
    rewards, gamma = RNG.standard_normal(5), 0.9
    t = np.arange(1, 6)
    assert np.isclose(r.evaluate({"r_t": rewards, "gamma": gamma}),
                      np.sum(t * gamma ** (t - 1) * rewards))
    by_member = texgrad.differentiate(r"\sum_{t=0}^{T} \gamma^t r_t", wrt="r_t")
    assert by_member.verified and by_member.latex == r"\gamma^{t}"
    d = texgrad.differentiate(r"\sum_{i=1}^{N} i\,\mathbf{w}^T\mathbf{x}_i", wrt="w")
    assert d.verified and d.latex == r"\sum_{i=1}^{N} {i}\mathbf{x}_{i}"


def test_a_derivative_by_the_whole_family_is_refused():
    """x_i are members of a family of vectors; x itself is not a symbol of the formula."""
    with pytest.raises(TexgradError, match="no symbol x"):
        texgrad.differentiate(r"\sum_i \log(1 + \exp(\mathbf{w}^T\mathbf{x}_i))", wrt="x")


def test_index_notation_is_unchanged():
    """Sums of entries still contract to matrix form."""
    assert texgrad.differentiate(r"\sum_{kl} X_{kl}", wrt="X").latex == \
        r"\mathbf{1}\mathbf{1}^{T}"
    assert texgrad.differentiate(r"\sum_i x_i y_i", wrt="x").latex == "y"


@pytest.mark.parametrize("claim, verdict", [
    (r"\nabla_{\mathbf{w}} \sum_{i=1}^{n} \log(1 + e^{-y_i \mathbf{w}^T \mathbf{x}_i}) = "
     r"-\sum_{i=1}^{n} \frac{y_i \mathbf{x}_i}{1 + e^{y_i \mathbf{w}^T \mathbf{x}_i}}", True),
    (r"\nabla_{\mathbf{w}} \sum_{i=1}^{n} \log(1 + e^{-y_i \mathbf{w}^T \mathbf{x}_i}) = "
     r"-\sum_{i=1}^{n} \frac{y_i \mathbf{x}_i}{1 + e^{-y_i \mathbf{w}^T \mathbf{x}_i}}", False),
    (r"\frac{\partial}{\partial W} \sum_i \|W\mathbf{x}_i - \mathbf{y}_i\|^2 = "
     r"2\sum_i (W\mathbf{x}_i - \mathbf{y}_i)\mathbf{x}_i^T", True),
    (r"\frac{\partial}{\partial \boldsymbol\mu} \sum_{i=1}^N \|\mathbf{x}_i - \boldsymbol\mu\|^2"
     r" = -2\sum_{i=1}^N (\mathbf{x}_i - \boldsymbol\mu)", True),
    (r"\frac{\partial}{\partial \boldsymbol\mu} \sum_{i=1}^N \|\mathbf{x}_i - \boldsymbol\mu\|^2"
     r" = -2\sum_{i=1}^N \mathbf{x}_i - \boldsymbol\mu", False),
])
def test_claims_with_sums_over_samples(claim, verdict):
    """texgrad check draws the families for both sides (a wrong sign inside the sum, or the
    mean left out of it, is wrong)."""
    assert texgrad.check_claim(claim).verdict is verdict


def test_the_value_of_a_free_index_is_given_with_the_values():
    """-2 sum_i r_ik (x_i - mu_k) at k = 1 and k = 3: the column of R that k picks."""
    r = texgrad.differentiate(r"\sum_{i=1}^{N} r_{ik}\|\mathbf{x}_i - \boldsymbol\mu_k\|^2",
                              wrt=r"\boldsymbol\mu_k")
    X, R, mu = RNG.standard_normal((5, 3)), RNG.uniform(0, 1, (5, 4)), RNG.standard_normal(3)
    for k in (1, 3):
        got = r.evaluate({"x_i": X, "r_ik": R, "mu_k": mu, "k": k})
        assert np.allclose(got, -2 * (R[:, k - 1][:, None] * (X - mu)).sum(axis=0))


@pytest.mark.parametrize("tex, wrt, printed, grad", [
    (r"\|\mathbf{x}\|^p", "x", r"p\|\mathbf{x}\|_{2}^{p - 2}\mathbf{x}",
     lambda x, p: p * np.linalg.norm(x) ** (p - 2) * x),
    (r"(\mathbf{x}^T\mathbf{x})^{k}", "x", r"2k(\mathbf{x}^{T}\mathbf{x})^{k - 1}\mathbf{x}",
     lambda x, p: 2 * p * (x @ x) ** (p - 1) * x),
])
def test_a_letter_for_a_scalar_exponent_folds_as_a_textbook_does(tex, wrt, printed, grad):
    """Issue 12, item 2 (scalar powers): p x^p / x is p x^{p-1}."""
    r = texgrad.differentiate(tex, wrt=wrt)
    assert r.verified and r.latex == printed
    x = RNG.standard_normal(4)
    letter = "p" if "p" in tex else "k"
    assert np.allclose(r.evaluate({"x": x, letter: 2.5}), grad(x, 2.5))


def _mp(X, k):
    return np.linalg.matrix_power(X, k)


@pytest.mark.parametrize("tex, printed, f, grad", [
    (r"\operatorname{tr}(X^n)", r"n(X^{n - 1})^{T}",
     lambda X, a, b, n: np.trace(_mp(X, n)), lambda X, a, b, n: n * _mp(X, n - 1).T),
    (r"\mathbf{a}^T X^n \mathbf{b}",
     r"\sum_{r=0}^{n - 1} (X^{r})^{T}\mathbf{a}\mathbf{b}^{T}(X^{n - 1-r})^{T}",
     lambda X, a, b, n: a @ _mp(X, n) @ b,
     lambda X, a, b, n: sum(_mp(X, r).T @ np.outer(a, b) @ _mp(X, n - 1 - r).T
                            for r in range(n))),
    (r"\operatorname{tr}((X^TX)^n)", r"2nX(X^{T}X)^{n - 1}",
     lambda X, a, b, n: np.trace(_mp(X.T @ X, n)),
     lambda X, a, b, n: 2 * n * X @ _mp(X.T @ X, n - 1)),
])
def test_a_letter_for_the_exponent_of_a_matrix_power(tex, printed, f, grad):
    """Issue 12, item 2: the seed's eq. 91 and the Cookbook's tr(X^n); n a positive integer,
    said in the stamp, drawn 2..4 by the check, given by the caller to evaluate."""
    r = texgrad.differentiate(tex, wrt="X")
    assert r.verified and r.latex == printed, r.latex
    assert "n read as a positive integer" in r.stamp
    X, a, b = RNG.standard_normal((4, 4)), RNG.standard_normal(4), RNG.standard_normal(4)
    for n in (1, 2, 3, 5):
        assert np.allclose(grad_fd(lambda Y: f(Y, a, b, n), X), grad(X, a, b, n), atol=1e-5)
        vals = {k: v for k, v in {"X": X, "a": a, "b": b, "n": n}.items() if k in r.symbols}
        assert np.allclose(r.evaluate(vals), grad(X, a, b, n))


def test_the_seeds_eq_90_by_an_entry():
    """d (X^n)_{kl} / d X_{ij} = sum_r (X^r J^{ij} X^{n-1-r})_{kl} (Cookbook eq. 90), checked
    numerically entry by entry at n = 2, 3, 4."""
    r = texgrad.differentiate(r"\frac{\partial}{\partial X_{ij}} (X^n)_{kl}")
    assert r.verified and r.latex == r"\sum_{r=0}^{n - 1} (X^{r}J^{ij}X^{n - 1-r})_{kl}"
