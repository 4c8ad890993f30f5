"""Tests for `texgrad.options`: shape and assumption specs, validated in one place for every
face (issue 9: F5's entry point, F8's `--shape` cases, L4)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import texgrad
from texgrad import options
from texgrad.errors import TexgradError

from clirun import invoke, stderr_of


@pytest.mark.parametrize("spec, want", [
    (["X=m,n"], {"X": ("m", "n")}),
    (["x=n"], {"x": ("n",)}),
    (["a="], {"a": ()}),
    (["x=3"], {"x": (3,)}),
    (["x = 3 "], {"x": (3,)}),
    (["\\Sigma=n,n"], {"Sigma": ("n", "n")}),
    (["W_12=m,k_2"], {"W_12": ("m", "k_2")}),
    (["x=\\ell"], {"x": ("ell",)}),
])
def test_valid_shape_specs(spec, want):
    """Sizes in ASCII digits become ints, names stay names."""
    assert options.parse_shape_specs(spec) == want


@pytest.mark.parametrize("spec", [
    "x=n\nimport os; os.system('echo PWNED') #",   # F5: a newline in a dimension name
    'x=n"""',
    "x=0", "x=-3", "x=100000000000", "x=" + "1" * 5000,   # F8, L4
    "x=\u00b2", "x=\u2460", "x=\u0663",            # superscript two, circled one, Arabic-Indic three
    "x=3.0", "x=1e3", "x=n m", "x=m,,n", "=m", "x", "X=m,n,p",
    "x=" + "n" * 100,
])
def test_invalid_shape_specs_are_clear_errors(spec):
    with pytest.raises(TexgradError) as info:
        options.parse_shape_specs([spec])
    message = str(info.value)
    assert "\n" not in info.value.message, message
    assert "\x1b" not in message


@pytest.mark.parametrize("spec", ["x=n\nimport os", "x=0", "x=\u0663", "=m", "x=" + "9" * 5000])
def test_the_cli_rejects_bad_shapes_with_exit_2(spec):
    r = invoke(["\\mathbf{x}^\\top\\mathbf{x}", "--wrt", "x", "--shape", spec,
                "--emit", "numpy"])
    assert r.exit_code == 2, (r.output, stderr_of(r))
    assert "import os" not in r.stdout
    assert r.stdout == ""


@pytest.mark.parametrize("shapes", [
    {"x": ('n"""\n    import os; os.system("echo PWNED")\n    """',)},
    {"x": ("n\nimport os",)}, {"x": (0,)}, {"x": (-1,)}, {"x": (True,)}, {"x": (2.5,)},
    {"x": ("3", "4", "5")}, {"x y": ("n",)}, {3: ("n",)}, ["x"],
])
def test_the_api_rejects_bad_shapes(shapes):
    """The API's shapes= goes through the same validation (F5 through the API)."""
    with pytest.raises(TexgradError):
        texgrad.differentiate(r"\mathbf{x}^\top\mathbf{x}", wrt="x", shapes=shapes)


def test_the_injection_reproducer_cannot_inject(tmp_path):
    """shared/reliability/repro/codegen_dim_injection.py: the API refuses the shapes, so no
    module is generated at all."""
    from pathlib import Path
    repro = Path(__file__).parent / "data" / "repro" / "codegen_dim_injection.py"
    proc = subprocess.run([sys.executable, str(repro)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert "PWNED" not in proc.stdout
    assert "TexgradError" in proc.stderr or "dimension" in proc.stderr


@pytest.mark.parametrize("spec, want", [
    (["W=symmetric,invertible"], {"W": ("symmetric", "invertible")}),
    (["W=symmetric", "W=spd"], {"W": ("symmetric", "spd")}),
    (["\\mathbf{x}=complex"], None),
])
def test_assume_specs(spec, want):
    if want is None:
        with pytest.raises(TexgradError):
            options.parse_assume_specs(spec)
    else:
        assert options.parse_assume_specs(spec) == want


@pytest.mark.parametrize("spec", ["W", "=symmetric", "W V=spd"])
def test_bad_assume_specs(spec):
    with pytest.raises(TexgradError):
        options.parse_assume_specs([spec])


def test_declared_sizes_reach_the_check():
    r = texgrad.differentiate(r"\mathbf{x}^\top\mathbf{x}", wrt="x", shapes={"x": "7"})
    assert r.check.passed
    assert r.check.to_dict()["sizes"] == {"7": 7}

