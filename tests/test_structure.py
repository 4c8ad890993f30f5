"""Tests for the package's structure (issue 10).

The layout, read from the source with `ast` (every import, at module level or inside a
function): no import circle, no arrow from a library module into a face, no private name
imported across modules, the stage modules that must not see the syntax do not, and no
source file is much over 550 lines.  The tables: every IR node has a derivative rule (or is
a leaf), a LaTeX printer and a NumPy evaluation; every function record is complete; the
CLI's start-up path does not import sympy.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from texgrad import ir, numeric, printer, rules

SRC = Path(__file__).resolve().parents[1] / "src" / "texgrad"
if not SRC.is_dir():                                  # an installed copy without the checkout
    import texgrad
    SRC = Path(texgrad.__file__).resolve().parent

MODULES = sorted(p.stem for p in SRC.glob("*.py"))

# the faces: the command line, the batch runner, the paper checker, the notebook magics
FACES = {"cli", "clickopts", "batch", "claims", "notebook", "__main__"}
FACE_PREFIXES = ("batch", "claims", "cli", "lsp", "serve")
# the package's lazy hooks (texgrad.check_claim, load_ipython_extension): the documented
# exception to "no arrow into a face"
HOOKS = {"__init__"}

# stages that work on the typed IR and never on the syntax or the request
TYPED_STAGES = {"rules", "construct", "factor", "conj", "printer", "numeric", "functions",
                "codegen", "codewriter", "codetables", "codestable", "ir", "dims"}
SYNTAX = {"parse", "syntax", "parseerrors", "products", "request", "elaborate", "infer", "shapes",
          "lalr"}

MAX_LINES = 560        # "about 550": a module that must grow by a few lines splits at 560


def _is_face(name: str) -> bool:
    return name in FACES or name.startswith(FACE_PREFIXES)


def _imports(name: str) -> list[tuple[str, list[str], int]]:
    """(texgrad module imported, names taken from it, line) for every import of ``name``."""
    tree = ast.parse((SRC / f"{name}.py").read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                out.append((node.module.split(".")[0], [a.name for a in node.names], node.lineno))
            elif node.level == 1:                     # from . import x, y
                for a in node.names:
                    out.append((a.name, [], node.lineno))
            elif node.module and node.module.split(".")[0] == "texgrad":
                mod = node.module.split(".")[1] if "." in node.module else None
                if mod:
                    out.append((mod, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "texgrad" and len(parts) > 1:
                    out.append((parts[1], [], node.lineno))
    return [(m, names, line) for m, names, line in out if m in MODULES]


GRAPH = {m: {imp for imp, _, _ in _imports(m)} for m in MODULES}


def test_no_import_circle():
    """Every import, lazy ones included, points one way: the graph has no cycle."""
    state: dict = {}
    path: list = []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for n in sorted(GRAPH[m] - {m}):
            if n in HOOKS:
                continue
            if state.get(n) == "open":
                cycle = path[path.index(n):] + [n]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = "done"

    for m in MODULES:
        if m not in state and m not in HOOKS:
            visit(m)


@pytest.mark.parametrize("module", [m for m in MODULES if not _is_face(m) and m not in HOOKS])
def test_a_library_module_imports_no_face(module):
    faces = sorted(n for n in GRAPH[module] if _is_face(n))
    assert not faces, f"{module} imports the face(s) {faces}"


@pytest.mark.parametrize("module", MODULES)
def test_no_private_name_is_imported_across_modules(module):
    """A name another module needs is public in its one home (architecture P6)."""
    bad = [f"{m}.{n} (line {line})" for m, names, line in _imports(module)
           for n in names if n.startswith("_") and not n.startswith("__")]
    assert not bad, f"{module} imports private names: {bad}"


@pytest.mark.parametrize("module", sorted(TYPED_STAGES & set(MODULES)))
def test_typed_stages_do_not_see_the_syntax(module):
    seen = sorted(GRAPH[module] & SYNTAX)
    assert not seen, f"{module} imports {seen}: it should work on the typed IR only"


@pytest.mark.parametrize("module", MODULES)
def test_no_source_file_is_much_over_550_lines(module):
    """A module is about one page of concerns: at most MAX_LINES lines."""
    lines = len((SRC / f"{module}.py").read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module}.py has {lines} lines (limit {MAX_LINES})"


def test_the_readme_names_every_module():
    """The README's "How it works" table tells where every module is."""
    readme = (SRC.parents[1] / "README.md")
    if not readme.is_file():
        pytest.skip("no checkout README next to the package")
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("## How it works"):]
    section = section[:section.index("\n## ", 4)]
    missing = [m for m in MODULES if m not in HOOKS | {"__main__"} and f"`{m}.py`" not in section]
    assert not missing, f"README's How it works does not name {missing}"



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
