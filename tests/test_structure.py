"""Every IR node has a derivative rule (or is a leaf), a LaTeX printer and a NumPy evaluation;
the CLI's start-up path does not import sympy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from texgrad import ir, numeric, printer, rules


@pytest.mark.parametrize("node", ir.NODES, ids=lambda n: n.__name__)
def test_every_node_has_a_rule_a_printer_and_an_evaluation(node):
    assert node in rules.LEAVES or node in rules.VJP, f"no derivative rule for {node.__name__}"
    assert hasattr(printer.LatexPrinter, "_print_" + node.__name__), \
        f"no printer for {node.__name__}"
    assert node is ir.Sym or node in numeric.EVAL, f"no NumPy evaluation for {node.__name__}"


def test_printer_refuses_unknown_nodes():
    class Strange(ir.Sym):
        pass
    with pytest.raises(TypeError):
        printer.LatexPrinter()._print(Strange("s", (1, 1)))


def test_every_elementwise_function_record_is_complete():
    """Each FunctionSpec has its derivative (of the argument's shape), a NumPy evaluation of
    the argument's shape, LaTeX, and a code template for every array target."""
    import numpy as np
    from texgrad import construct as simplify, functions
    x = ir.Sym("x", ("n", 1))
    v = np.linspace(0.1, 0.9, 3).reshape(3, 1)
    for spec in functions.BY_NAME.values():
        e = ir.Func(spec, x)
        assert rules.fprime(e).shape == x.shape, spec.name
        assert spec.numpy(np, v).shape == v.shape, spec.name
        assert spec.latex, spec.name
        for target in ("numpy", "jax", "torch"):
            assert spec.code.get(target), (spec.name, target)
        assert simplify.func(spec, x) == e


def test_cli_start_up_path_does_not_import_sympy():
    code = ("import sys, runpy; sys.argv = ['texgrad', r'\\mathbf{x}^\\top B\\mathbf{x}', "
            "'--wrt', r'\\mathbf{x}'];\n"
            "try:\n    runpy.run_module('texgrad', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('SYMPY' if 'sympy' in sys.modules else 'NOSYMPY')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip().endswith("NOSYMPY"), out.stdout + out.stderr
