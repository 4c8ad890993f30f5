"""NumPy reference functions shared by the tests (independent of texgrad)."""

from __future__ import annotations

import numpy as np


def grad_fd(f, x, h=1e-6):
    """The gradient of a scalar f at x, laid out like x (central differences)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()
