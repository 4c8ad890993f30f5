"""Tests for `texgrad.derive` and `texgrad.result`: one frozen Problem in, one frozen Result
out, built once with its check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import texgrad
from texgrad import derive


class TestResult:
    """Tests for `result.Result`."""

    def test_is_frozen(self):
        """A Result is built once: assigning to it raises."""
        r = texgrad.differentiate(r"\mathbf{x}^\top B\mathbf{x}", wrt="x")
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.latex = "changed"

    def test_notes_reach_the_check_without_mutation(self):
        """The convention note (variable taken by convention) is in the Result's and its
        check's convention, each made once."""
        r = texgrad.differentiate(r"\mathbf{x}^\top B\mathbf{x}")
        assert r.convention.startswith("by x, the variable taken by convention")
        assert r.check.convention == r.convention and r.stamp.count("by convention") == 1

    def test_entry_result_evaluates_per_entry(self):
        """d(a^T X b)/dX_ij = a_i b_j, entry by entry (an independent NumPy reference)."""
        r = texgrad.differentiate(r"\mathbf{a}^T X \mathbf{b}", wrt="X_{ij}",
                                  shapes={"X": ("m", "n")})
        rng = np.random.default_rng(2)
        a, X, b = rng.normal(size=4), rng.normal(size=(4, 3)), rng.normal(size=3)
        got = np.asarray(r.evaluate({"a": a, "X": X, "b": b}))
        np.testing.assert_allclose(got.reshape(4, 3), np.outer(a, b), rtol=1e-12)


class TestProblem:
    """Tests for `derive.Problem`."""

    def test_is_frozen(self):
        fields = set(derive.Problem._fields)
        assert {"f", "fd", "x", "x_diff", "kind", "layout", "verify", "seed"} <= fields
        p = derive.Problem(*[None] * 11)
        assert (p.layout, p.verify, p.seed) == ("numerator", True, 0)
        with pytest.raises(AttributeError):
            p.kind = "hessian"


class TestWords:
    """Tests for the convention texts and helpers of `derive`."""

    @pytest.mark.parametrize("n, text", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"),
                                         (11, "11th"), (12, "12th"), (13, "13th"),
                                         (21, "21st"), (112, "112th")])
    def test_ordinal(self, n, text):
        assert derive.ordinal(n) == text

    def test_shape_words(self):
        assert derive.shape_words(("n", 1)) == "a vector (n)"
        assert derive.shape_words((1, "n")) == "a row vector (n)"
        assert derive.shape_words(("m", "n")) == "a matrix (m x n)"
