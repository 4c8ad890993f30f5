"""texgrad.lets (--let): names for subexpressions, in the input and in the output.  The
value of a derivative never changes with a name: each is compared with the expanded
formula's and with an independent NumPy reference."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import texgrad
from texgrad.errors import ShapeError, TexgradError
from texgrad.solve import solve

RNG = np.random.default_rng(147)
LMS_ASSUME = {"w": ("complex",), "x": ("complex",), "d": ("complex",)}
E = r"e = d - \mathbf{w}^H\mathbf{x}"


def _complex(n):
    return RNG.standard_normal(n) + 1j * RNG.standard_normal(n)


def test_the_seeds_lms_update_with_e_named():
    out = subprocess.run([sys.executable, "-m", "texgrad", r"|d - \mathbf{w}^H\mathbf{x}|^2",
                          "--wrt", r"\mathbf{w}", "-a", "w=complex", "-a", "x=complex", "-a",
                          "d=complex", "--emit", "step", "--let", E],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line, stamp = out.stdout.splitlines()
    assert line == r"\mathbf{w} \leftarrow \mathbf{w} + 2\mu e^{*}\mathbf{x}"
    assert "(--let)" in stamp and stamp.startswith("% verified numerically")


def test_a_name_in_the_input_stands_for_its_definition():
    named = texgrad.differentiate(r"|e|^2", wrt=r"\mathbf{w}", assume=LMS_ASSUME, let=[E])
    plain = texgrad.differentiate(r"|d - \mathbf{w}^H\mathbf{x}|^2", wrt=r"\mathbf{w}",
                                  assume=LMS_ASSUME)
    assert named.latex == r"-2e^{*}\mathbf{x}" and named.verified
    assert "e" not in named.symbols
    w, x, d = _complex(4), _complex(4), complex(0.3, -1.1)
    v = {"w": w, "x": x, "d": d}
    e = d - np.vdot(w, x)
    want = -2 * np.conj(e) * x                # 2 df/dconj(w) of |d - w^H x|^2
    assert np.allclose(named.evaluate(v), want) and np.allclose(plain.evaluate(v), want)


@pytest.mark.parametrize("f", [r"\|\mathbf{r}\|^2", r"\|A\mathbf{x} - \mathbf{b}\|^2"])
def test_real_residual_named_both_ways(f):
    r = texgrad.differentiate(f, wrt=r"\mathbf{x}", let=[r"\mathbf{r} = A\mathbf{x} - "
                                                         r"\mathbf{b}"])
    assert r.latex == r"2A^{T}\mathbf{r}" and r.verified
    A, b, x = RNG.standard_normal((5, 3)), RNG.standard_normal(5), RNG.standard_normal(3)
    assert np.allclose(r.evaluate({"A": A, "b": b, "x": x}), 2 * A.T @ (A @ x - b))


def test_a_negated_definition_is_written_with_the_name():
    r = texgrad.differentiate(r"\|\mathbf{b} - A\mathbf{x}\|^2", wrt=r"\mathbf{x}",
                              let=[r"\mathbf{r} = \mathbf{b} - A\mathbf{x}"])
    assert r"\mathbf{r}" in r.latex and r.verified
    A, b, x = RNG.standard_normal((5, 3)), RNG.standard_normal(5), RNG.standard_normal(3)
    assert np.allclose(r.evaluate({"A": A, "b": b, "x": x}), -2 * A.T @ (b - A @ x))


def test_solve_with_a_name():
    s = solve(r"\|\mathbf{r}\|^2", wrt=r"\mathbf{x}",
              let=[r"\mathbf{r} = A\mathbf{x} - \mathbf{b}"])
    assert s.condition == r"A^{T}A\mathbf{x} = A^{T}\mathbf{b}" and s.verified
    assert s.gradient.latex == r"2A^{T}\mathbf{r}"


@pytest.mark.parametrize("spec, error, words, column", [
    ("e d - x", TexgradError, "no '='", None),
    ("3 = x", TexgradError, "is not a name", 1),
    (r"e = d - \mathbf{w}^H +", TexgradError, "in --let e", 23),
    (r"\mathbf{e} = d - \mathbf{w}^H\mathbf{x}", ShapeError, "uses \\mathbf{e} as a vector",
     13),
])
def test_bad_definitions_are_clear_errors(spec, error, words, column):
    with pytest.raises(error) as info:
        texgrad.differentiate(r"|e|^2 + \mathbf{e}^T\mathbf{e}", wrt=r"\mathbf{w}",
                              let=[spec])
    e = info.value
    assert words in e.message and e.column == column
    if column:
        assert e.source == spec and "^" in e.render()


def test_a_batch_record_and_the_batch_option_take_definitions():
    import json
    from texgrad.batchrecord import process_record
    rec = {"id": "r", "latex": r"\|\mathbf{r}\|^2", "wrt": r"\mathbf{x}",
           "let": [r"\mathbf{r} = A\mathbf{x} - \mathbf{b}"]}
    status, line = process_record(0, json.dumps(rec).encode(), {"seed": 0})
    out = json.loads(line)
    assert status == "ok" and out["derivative"] == r"2A^{T}\mathbf{r}"
    rec.pop("let")
    status, line = process_record(0, json.dumps(rec).encode(),
                                  {"seed": 0, "let": (r"\mathbf{r} = A\mathbf{x} - \mathbf{b}",)})
    assert json.loads(line)["derivative"] == r"2A^{T}\mathbf{r}"
    status, line = process_record(0, json.dumps({**rec, "let": 3}).encode(), {"seed": 0})
    assert status == "error" and '"let"' in json.loads(line)["error"]


def test_the_playground_takes_definitions():
    from texgrad.servework import answer
    out = answer({"latex": r"|d - \mathbf{w}^H\mathbf{x}|^2", "wrt": r"\mathbf{w}",
                  "assume": "w=complex x=complex d=complex", "let": E})
    assert out["ok"] and out["derivative"] == r"-2e^{*}\mathbf{x}"
    assert not answer({"latex": "x^2", "let": 5})["ok"]
