"""claimsdiff: differential claims, read and decided as directional derivatives."""

from __future__ import annotations

import numpy as np
import pytest

import texgrad
from texgrad.claimsdiff import differential, directional


@pytest.mark.parametrize("claim, verdict", [
    (r"d(X^{-1}) = -X^{-1}(dX)X^{-1}", True),
    (r"d(X^{-1}) = -X^{-1}(dX)X^{-2}", False),
    (r"d\,\operatorname{tr}(AX) = \operatorname{tr}(A\,dX)", True),
    (r"d\,\operatorname{tr}(AX) = \operatorname{tr}(2A\,dX)", False),
    (r"d\log\det X = \operatorname{tr}(X^{-1}dX)", True),
    (r"\mathrm{d}(XY) = (\mathrm{d}X)Y + X\,\mathrm{d}Y", True),
    (r"\mathrm{d}(XY) = Y\,\mathrm{d}X + X\,\mathrm{d}Y", False),
    (r"d(X^TX) = (dX)^TX + X^T dX", True),
    ("f = \\mathbf{x}^TA\\mathbf{x}\ndf = \\mathbf{x}^T (A+A^T)\\,d\\mathbf{x}", True),
])
def test_differential_claims(claim, verdict):
    r = texgrad.check_claim(claim)
    assert r.verdict is verdict, (claim, r.reason)


def test_right_only_for_a_symmetric_matrix_is_conditional():
    r = texgrad.check_claim("f = \\mathbf{x}^TA\\mathbf{x}\ndf = 2\\mathbf{x}^T A\\,d\\mathbf{x}")
    assert r.status == "conditional" and r.condition == "right if A is symmetric"


def test_the_reading_along_a_direction():
    f, members = differential(r"d(X^{-1}) = -X^{-1}(dX)X^{-1}")
    along, printed, step, name, dirs = directional(f, members)
    assert along.strip() == r"((X + \epsilon\dot{X})^{-1})"
    assert printed[0].strip() == r"-X^{-1}(\dot{X})X^{-1}"
    # the derivative of (X + eps E)^{-1} by eps at eps = 0 is -X^{-1} E X^{-1} (NumPy)
    rng = np.random.default_rng(1)
    x, e = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal((3, 3))
    r = texgrad.differentiate(along, wrt=step)
    got = r.evaluate({"X": x, "X_dot": e, name: 0.0})
    assert np.allclose(got, -np.linalg.inv(x) @ e @ np.linalg.inv(x), rtol=1e-9)
    assert differential(r"d = 2") is None and differential(r"x = dy") is None
