"""Generated code for losses written as sums over samples, against hand-written NumPy.

Each loss is written as a paper prints it (``\\sum_{i=1}^{N} \\log(1 + \\exp(-y_i
\\mathbf{w}^T\\mathbf{x}_i))``); ``--emit numpy`` computes it over the stacked data (X of
shape (N, d) holds the samples in its rows).  At N = 10,000 samples and d = 100 features,
f and the gradient of the generated code are timed against a hand-written vectorised NumPy
f and gradient, interleaved in the same run (peers.best_interleaved); target <= 1.2x.
Run: python bench/samples.py [N d]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import texgrad
from texgrad.codegen import emit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import best_interleaved, run_namespace  # noqa: E402


def _logistic(w, x_i, y_i):
    z = -y_i * (x_i @ w)
    return np.sum(np.logaddexp(0.0, z)), -x_i.T @ (y_i / (1.0 + np.exp(-z)))


def _least_squares(w, x_i, y_i):
    r = x_i @ w - y_i
    return r @ r, 2.0 * (x_i.T @ r)


def _ridge(lambda_, w, x_i, y_i):
    r = x_i @ w - y_i
    return r @ r + lambda_ * (w @ w), 2.0 * (x_i.T @ r + lambda_ * w)


def _multi(W, x_i, y_i):
    r = x_i @ W.T - y_i
    return np.sum(r * r), 2.0 * (r.T @ x_i)


def _gauss_mean(Sigma, mu, x_i, n):
    e = x_i - mu
    s = np.linalg.inv(Sigma)
    sign, logdet = np.linalg.slogdet(Sigma)
    return -n / 2 * logdet - 0.5 * np.sum((e @ s) * e), s @ e.sum(axis=0)


CASES = [
    ("logistic", r"\sum_{i=1}^{N} \log(1 + \exp(-y_i \mathbf{w}^T \mathbf{x}_i))", "w",
     _logistic, lambda n, d, g: {"w": g.standard_normal(d) / 10,
                                 "x_i": g.standard_normal((n, d)),
                                 "y_i": g.choice([-1.0, 1.0], n)}, None),
    ("least squares", r"\sum_{i=1}^{N} (\mathbf{w}^T\mathbf{x}_i - y_i)^2", "w",
     _least_squares, lambda n, d, g: {"w": g.standard_normal(d),
                                      "x_i": g.standard_normal((n, d)),
                                      "y_i": g.standard_normal(n)}, None),
    ("ridge", r"\sum_{i=1}^{N} (\mathbf{w}^T\mathbf{x}_i - y_i)^2 + \lambda\|\mathbf{w}\|^2",
     "w", _ridge, lambda n, d, g: {"w": g.standard_normal(d), "lambda_": 0.5,
                                   "x_i": g.standard_normal((n, d)),
                                   "y_i": g.standard_normal(n)}, None),
    ("multi-output least squares", r"\sum_{i} \|W\mathbf{x}_i - \mathbf{y}_i\|^2", "W",
     _multi, lambda n, d, g: {"W": g.standard_normal((10, d)),
                              "x_i": g.standard_normal((n, d)),
                              "y_i": g.standard_normal((n, 10))}, None),
    ("Gaussian MLE, mean",
     r"-\frac{n}{2}\log|\Sigma| - \frac{1}{2}\sum_{i=1}^N (\mathbf{x}_i - \boldsymbol{\mu})^T"
     r" \Sigma^{-1} (\mathbf{x}_i - \boldsymbol{\mu})", r"\boldsymbol\mu", _gauss_mean,
     lambda n, d, g: {"Sigma": (lambda a: a @ a.T / d + np.eye(d))(g.standard_normal((d, d))),
                      "mu": g.standard_normal(d), "x_i": g.standard_normal((n, d)),
                      "n": float(n)}, {"Sigma": ("spd",)}),
]


def main(n: int = 10_000, d: int = 100) -> None:
    rng = np.random.default_rng(0)
    print(f"generated --emit numpy against hand-written NumPy, N = {n:,} samples, d = {d}")
    print(f"  {'loss':<28} {'generated':>11} {'by hand':>11} {'ratio':>7}")
    worst = 0.0
    for name, tex, wrt, hand, make, assume in CASES:
        r = texgrad.differentiate(tex, wrt=wrt, assume=assume, verify=False)
        gen = run_namespace(emit(r, "numpy"))["f_and_grad"]
        vals = make(n, d, rng)
        import inspect
        names = list(inspect.signature(gen).parameters)
        args = [vals[k] for k in names]
        f1, g1 = gen(*args)
        f2, g2 = hand(**vals)
        assert np.allclose(f1, f2) and np.allclose(g1, g2), name
        t_gen, t_hand = best_interleaved([lambda: gen(*args), lambda: hand(**vals)])
        ratio = t_gen / t_hand
        worst = max(worst, ratio)
        print(f"  {name:<28} {t_gen * 1e3:>9.3f}ms {t_hand * 1e3:>9.3f}ms {ratio:>7.2f}")
    print(f"  worst generated / hand-written: {worst:.2f}   target <= 1.2: "
          f"{'MET' if worst <= 1.2 else 'NOT MET'}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
