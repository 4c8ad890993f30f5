"""The optional array back ends of the code-generation tests (jax, torch), shared by the
test modules that run generated code."""

from __future__ import annotations

import numpy as np
import pytest


def backend(target: str):
    """A converter of the target's values to NumPy; skips the calling test (before any
    generated code runs) when the library is absent."""
    if target == "numpy":
        return np.asarray
    if target == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return np.asarray
    torch = pytest.importorskip("torch")

    def to_numpy(v):
        return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
    return to_numpy
