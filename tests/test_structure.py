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


def test_every_elementwise_function_has_a_derivative_and_an_evaluation():
    from fractions import Fraction
    x = ir.Sym("x", ("n", 1))
    for name in numeric.FUNCS:
        e = ir.Func(name, x)
        d = rules._fprime(name, e)
        assert d.shape == x.shape
        assert name in printer.LatexPrinter.FUNC_LATEX or name in ("log", "abs")
    assert Fraction  # keeps the import honest


def test_cli_start_up_path_does_not_import_sympy():
    code = ("import sys, runpy; sys.argv = ['texgrad', r'\\mathbf{x}^\\top B\\mathbf{x}', "
            "'--wrt', r'\\mathbf{x}'];\n"
            "try:\n    runpy.run_module('texgrad', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('SYMPY' if 'sympy' in sys.modules else 'NOSYMPY')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip().endswith("NOSYMPY"), out.stdout + out.stderr
