"""Tests for `texgrad.dims`: the numeric size type and the union-find over dimensions."""

from __future__ import annotations

import pickle

import pytest

import texgrad
from texgrad.dims import DimVar, Dims, Fixed, spelled
from texgrad.errors import ShapeError


class TestFixed:
    def test_holds_its_size(self):
        assert Fixed(3).n == 3 and Fixed("3").n == 3 and Fixed("#3").n == 3
        assert repr(Fixed(12)) == "Fixed(12)"

    def test_is_not_the_name_3(self):
        """A declared size 3 and a dimension named "3" never share a key."""
        assert Fixed(3) != "3" and len({Fixed(3), "3"}) == 2

    def test_survives_pickling(self):                # batch workers and Dask pickle results
        back = pickle.loads(pickle.dumps(Fixed(7)))
        assert type(back) is Fixed and back.n == 7

    def test_only_digits(self):
        with pytest.raises(ValueError):
            Fixed("n")

    def test_a_numeric_shape_is_fixed_on_the_symbol(self):
        r = texgrad.differentiate(r"\mathbf{x}^\top A\mathbf{x}", wrt="x", shapes={"x": (4,)})
        dims = [d for d in r.symbols["x"].shape if d != 1]
        assert dims and all(type(d) is Fixed and d.n == 4 for d in dims), r.symbols["x"].shape
        assert r.shapes["x"] == ["4"], r.shapes


class TestDims:
    def test_unifies_an_unknown_with_a_name(self):
        d, v = Dims("x"), DimVar("a")
        d.unify(v, "n", "why", None, None)
        assert d.find(v) == "n"

    def test_two_different_sizes_do_not_conform(self):
        class Spot:
            start, end = 0, 1
        with pytest.raises(ShapeError):
            Dims("x").unify(Fixed(2), Fixed(3), "x has two sizes", Spot(), Spot())


class TestSpelled:
    """Every message, stamp and record spells a dimension as the user wrote it."""

    def test_each_kind(self):
        assert [spelled(d) for d in (1, "n", Fixed(3), ("m", Fixed(2)))] == ["1", "n", "3", "m*2"]
        assert spelled(("m", "n"), "") == "mn"

    def test_a_shape_error_names_the_sizes_given(self):
        with pytest.raises(ShapeError) as err:
            texgrad.differentiate("x^T A x", wrt="x", shapes={"x": (3,), "A": (4, 4)})
        assert "dimension 3 against 4" in str(err.value) and "#" not in str(err.value)

    def test_a_product_of_sizes_is_spelled_in_the_shapes(self):
        r = texgrad.differentiate(r"x^T (A \otimes B) x", wrt="x",
                                  shapes={"A": (2, 2), "B": (3, 3)})
        assert r.shapes["x"] == ["2*3"], r.shapes
        assert "#" not in r.stamp and "#" not in str(r.check.to_dict())
