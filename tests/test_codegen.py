"""Code generation (``texgrad.codegen.emit``): the generated NumPy / JAX / PyTorch functions
are executed on the corpus's draws and compared with its NumPy references; SymPy
expressions are evaluated at random matrices.  The source executed here is generated from
texgrad's own IR (not user text)."""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
import subprocess
import sys

import numpy as np
import pytest

import texgrad
from texgrad import codegen
from texgrad.codegen import TABLES, TARGETS, emit
from texgrad.ir import NODES, Sym
from texgrad.numeric import assign_sizes, dim_size, draw_value, to_user
from corpus import assume_of, draw, load, numpy_eval, shapes_of, sizes_for

CASES = load()
ARRAY_TARGETS = ("numpy", "jax", "torch")


@functools.lru_cache(maxsize=None)
def _corpus_result(case_id: str):
    case = next(c for c in CASES if c["id"] == case_id)
    return texgrad.differentiate(case["latex"], wrt=case["wrt"], shapes=shapes_of(case),
                                 assume=assume_of(case), kind=case["kind"], verify=False)


def _compile(source: str, name: str = "f_and_grad"):
    namespace: dict = {}
    exec(compile(source, "<texgrad-codegen>", "exec"), namespace)   # our own generated code
    return namespace[name] if name else namespace


# ----------------------------------------------------------------- backends (optional)

def _backend(target: str):
    """(module check, value to NumPy) for a target; skips when the library is absent."""
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


def _corpus_params():
    out = []
    for target in ARRAY_TARGETS:
        for case in CASES:
            out.append(pytest.param(target, case, id=f"{target}-{case['id']}"))
    return out


@pytest.mark.parametrize("target, case", _corpus_params())
def test_generated_code_matches_corpus(target, case):
    to_numpy = _backend(target)
    r = _corpus_result(case["id"])
    if r.form == "entry":
        with pytest.raises(NotImplementedError, match="entry"):
            emit(r, target)
        pytest.skip("a derivative by an entry X_{ij} has no code generation")
    fn = _compile(emit(r, target))
    rng = np.random.default_rng(1)
    for _ in range(2):
        values = draw(case, rng)
        f_ref = numpy_eval(case["numpy"]["f"], values)
        d_ref = numpy_eval(case["numpy"]["d"], values)
        f_val, d_val = (to_numpy(v) for v in fn(**values))
        assert np.shape(f_val) == np.shape(f_ref), (np.shape(f_val), np.shape(f_ref))
        assert np.shape(d_val) == np.shape(d_ref), (np.shape(d_val), np.shape(d_ref))
        np.testing.assert_allclose(f_val, f_ref, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(d_val, d_ref, rtol=1e-7, atol=1e-9)


# ------------------------------------------------- node coverage beyond the corpus

EXTRA = [
    (r"X^T", "X", {}),                                           # K_{mn}
    (r"X^{-1}", "X", {}),                                        # 4-D Kronecker layout
    (r"\mathbf{x}\mathbf{a}^T", r"\mathbf{x}", {}),              # a (x) I
    (r"\mathbf{x}^T A", r"\mathbf{x}", {}),                      # a row-vector f
    (r"\operatorname{vec}(X)", "X", {}),
    (r"\operatorname{softmax}(\mathbf{x})", r"\mathbf{x}", {}),
    (r"\mathbf{x}^{\circ 3}", r"\mathbf{x}", {}),
    (r"\sqrt{\mathbf{x}^T\mathbf{x}}", r"\mathbf{x}", {}),
    (r"\operatorname{tr}(X^{-1})", "X", {}),
    (r"\det(X)^{1/3}", "X", {}),
    (r"\lambda \mathbf{x}^T\mathbf{x}", r"\mathbf{x}", {}),     # a keyword as a name
    (r"\operatorname{tr}(X^T A X)", "X", {"kind": "laplacian"}),
    (r"\operatorname{tr}(X^T A X)", "X", {"kind": "hessian"}),
    (r"\sin(\mathbf{x})^T \cosh(\mathbf{x}) + \mathbf{1}^T\arctan(\mathbf{x})",
     r"\mathbf{x}", {}),
    (r"\mathbf{1}^T \sigma(W\mathbf{x})", "W", {}),
    (r"\|X\|_F", "X", {}),
    (r"\mathbf{a}^T X^5 \mathbf{b}", "X", {}),
    (r"\mathbf{a}\cos t + \mathbf{b}\sin t", "t", {}),
    (r"\mathbf{x}^T B\mathbf{x}", r"\mathbf{x}", {"layout": "denominator", "kind": "jacobian"}),
    (r"\operatorname{tr}(AW)", "W", {"assume": {"W": ("symmetric",)}, "symmetric": "cookbook"}),
    (r"3t + \mathbf{a}^T\mathbf{x}", "t", {}),                  # a constant derivative
    (r"t^3", "t", {"kind": "hessian"}),
    (r"\mathbf{a}^T X \mathbf{b}", "X", {"kind": "derivative"}),   # a 1-D J reshaped
    (r"n\, \mathbf{1}^T \mathbf{x}", r"\mathbf{x}", {"shapes": {"x": ("n",)}}),  # n twice
]


@functools.lru_cache(maxsize=None)
def _extra_result(i: int):
    latex, wrt, kw = EXTRA[i]
    kw = dict(kw)
    return texgrad.differentiate(latex, wrt=wrt, verify=False, **kw)


def _draw_values(r, seed: int) -> dict:
    """Values in the API convention: spd square matrices, positive vectors and scalars."""
    rng = np.random.default_rng(seed)
    sizes = assign_sizes(r.symbols)
    out = {}
    for name, s in r.symbols.items():
        v = to_user(draw_value(s, sizes, rng, 2), s.dims)
        if "symmetric" in s.assume and np.ndim(v) == 2:
            v = (v + v.T) / 2
        out[name] = v
    return out


@pytest.mark.parametrize("target", ARRAY_TARGETS)
@pytest.mark.parametrize("i", range(len(EXTRA)), ids=[e[0] + " / " + e[1] for e in EXTRA])
def test_generated_code_matches_api(target, i):
    to_numpy = _backend(target)
    r = _extra_result(i)
    source = emit(r, target)
    fn = _compile(source)
    args = list(re.search(r"def f_and_grad\((.*)\):", source).group(1).split(", "))
    for seed in (0, 1):
        values = _draw_values(r, seed)
        f_ref = texgrad.evaluate(r.input, values, shapes=r.shapes,
                                 assume={n: tuple(s.assume) for n, s in r.symbols.items()
                                         if s.assume})
        d_ref = r.evaluate(values)
        positional = [values[name] for name in sorted(r.symbols)]
        assert len(args) == len(positional)
        f_val, d_val = (to_numpy(v) for v in fn(*positional))
        assert np.shape(f_val) == np.shape(f_ref)
        assert np.shape(d_val) == np.shape(d_ref)
        np.testing.assert_allclose(f_val, f_ref, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(d_val, d_ref, rtol=1e-7, atol=1e-9)


# ------------------------------------------------- autodiff agrees (an independent check)

def _real_gradient_cases():
    return [pytest.param(c, id=c["id"]) for c in CASES
            if c["kind"] == "gradient" and not any("complex" in s.get("assume", [])
                                                   for s in c["symbols"].values())]


@pytest.mark.parametrize("case", _real_gradient_cases())
def test_torch_autograd_agrees(case):
    torch = pytest.importorskip("torch")
    r = _corpus_result(case["id"])
    fn = _compile(emit(r, "torch"))
    values = draw(case, np.random.default_rng(2))
    args = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in values.items()}
    args[r.wrt].requires_grad_(True)
    f, d = fn(**args)
    (auto,) = torch.autograd.grad(f, args[r.wrt])
    np.testing.assert_allclose(d.detach().numpy(), auto.numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", _real_gradient_cases()[:12])
def test_jax_grad_and_jit_agree(case):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    r = _corpus_result(case["id"])
    fn = _compile(emit(r, "jax"))
    values = draw(case, np.random.default_rng(2))
    rest = {k: v for k, v in values.items() if k != r.wrt}
    auto = jax.grad(lambda v: fn(**rest, **{r.wrt: v})[0])(values[r.wrt])
    f, d = jax.jit(fn)(**values)
    np.testing.assert_allclose(np.asarray(d), np.asarray(auto), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.asarray(f), numpy_eval(case["numpy"]["f"], values),
                               rtol=1e-7, atol=1e-9)


def test_jax_jit_with_sizes():
    """Sizes come from argument shapes, which are static under jit (K_{mn}, eye, ones)."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    r = texgrad.differentiate("X^T", wrt="X", verify=False)
    fn = jax.jit(_compile(emit(r, "jax")))
    x = np.arange(6.0).reshape(2, 3)
    _, d = fn(x)
    np.testing.assert_allclose(np.asarray(d), r.evaluate({"X": x}))


# -------------------------------------------------------------------- common subexpressions

def _assignments(source: str) -> list:
    tree = ast.parse(source)
    return [node for node in ast.walk(tree) if isinstance(node, ast.Assign)]


@pytest.mark.parametrize("target", ARRAY_TARGETS + ("sympy",))
def test_no_computation_is_repeated(target):
    """Across every corpus case, no two assignments compute the same expression."""
    for case in CASES:
        r = _corpus_result(case["id"])
        try:
            source = emit(r, target)
        except NotImplementedError:
            continue
        rhs = [ast.dump(a.value) for a in _assignments(source)]
        assert len(rhs) == len(set(rhs)), (case["id"], source)


@pytest.mark.parametrize("target", ARRAY_TARGETS)
def test_residual_is_computed_once(target):
    """||Ax - b||^2: the residual Ax - b is one temporary that f and the gradient share."""
    r = texgrad.differentiate(r"\|A\mathbf{x} - \mathbf{b}\|_2^2", wrt=r"\mathbf{x}",
                              verify=False)
    source = emit(r, target)
    assert source.count("A @ x") == 1, source
    residual = re.search(r"^\s*(t\d+) = t\d+ - b$", source, re.M)
    assert residual, source
    # defined once, used by the norm (f) and by A^T (.) (the gradient)
    assert len(re.findall(rf"\b{residual.group(1)}\b", source)) == 3, source


def test_quadratic_form_temporaries():
    """x^T B x with its Hessian B + B^T: each product appears once, as a temporary."""
    r = texgrad.differentiate(r"\mathbf{x}^\top B\,\mathbf{x}", wrt=r"\mathbf{x}", verify=False)
    source = emit(r, "numpy")
    assert "t0 = x @ B @ x" in source
    assert source.count("B + B.T") == 1
    body = source.split('"""')[-1]
    assert re.findall(r"^\s+(t\d+) =", body, re.M) == ["t0", "t1", "t2"]


def test_hessian_shares_softmax():
    r = texgrad.differentiate(r"\log\left(\mathbf{1}^T \exp(\mathbf{x})\right)",
                              wrt=r"\mathbf{x}", kind="hessian", verify=False)
    source = emit(r, "numpy")
    assert source.count("np.exp(x - np.max(x))") == 1
    assert "np.outer(t4, t4)" in source, source


# ---------------------------------------------------------------------------- sympy

SYMPY_CASES = ["cookbook-081", "cookbook-083", "trace-XtAX", "det-X", "logdet-spd",
               "inverse-aXinvb", "norm-AXB-C", "elementwise-sum-exp", "logsumexp-gradient",
               "seed-jacobian-sigmoid", "seed-matrix-by-scalar", "jacobian-AXB-kronecker",
               "hessian-logsumexp", "cookbook-091-n4", "elementwise-logistic-loss",
               "cookbook-089"]


def _sympy_value(expr, mapping):
    import sympy
    v = expr.xreplace(mapping)
    for special in (sympy.OneMatrix, sympy.ZeroMatrix, sympy.Identity):   # explicit, so
        v = v.replace(special, lambda *a, cls=special: cls(*a).as_explicit())  # doit multiplies
    v = v.doit()
    if isinstance(v, sympy.MatrixBase) or getattr(v, "is_Matrix", False):
        v = sympy.Matrix(v)
        return np.array(v.evalf(), dtype=complex)
    return complex(sympy.N(v))


@pytest.mark.parametrize("case_id", SYMPY_CASES)
def test_sympy_expressions(case_id):
    sympy = pytest.importorskip("sympy")
    case = next(c for c in CASES if c["id"] == case_id)
    r = _corpus_result(case_id)
    source = emit(r, "sympy")
    ns = _compile(source, name="")
    sizes = sizes_for(case)
    rng = np.random.default_rng(3)
    values = draw(case, rng)
    mapping = {sympy.Symbol(d, integer=True): n for d, n in sizes.items()}
    for name, v in values.items():
        obj = ns[name]
        if isinstance(obj, sympy.MatrixSymbol):
            mapping[obj] = sympy.ImmutableMatrix(np.reshape(v, (np.shape(v)[0], -1)))
        else:
            mapping[obj] = sympy.sympify(v)
    f_val = _sympy_value(ns["f"], mapping)
    d_val = _sympy_value(ns["derivative"], mapping)
    f_ref = numpy_eval(case["numpy"]["f"], values)
    d_ref = np.asarray(numpy_eval(case["numpy"]["d"], values))
    np.testing.assert_allclose(np.reshape(f_val, np.shape(f_ref)), f_ref, rtol=1e-7,
                               atol=1e-9)
    if r.form == "vec" and r.kind != "laplacian":     # the Kronecker form J[vec F, vec X]
        dims = r.target.shape + r.symbols[r.wrt].dims
        full = np.reshape(d_val, [dim_size(d, sizes) for d in dims], order="F")
        d_val = np.reshape(full, [n for n, d in zip(full.shape, dims) if d != 1])
    np.testing.assert_allclose(np.reshape(d_val, np.shape(d_ref)), d_ref, rtol=1e-7,
                               atol=1e-9)


def test_sympy_source_shape():
    r = texgrad.differentiate(r"\operatorname{tr}(X^T A X)", wrt="X", verify=False)
    source = emit(r, "sympy")
    assert "n, m = symbols('n m', integer=True)" in source
    assert "X = MatrixSymbol('X', n, m)" in source
    assert re.search(r"^f = ", source, re.M) and re.search(r"^derivative = ", source, re.M)


def test_sympy_unsupported_node_is_named():
    r = texgrad.differentiate("X^T", wrt="X", verify=False)
    with pytest.raises(NotImplementedError, match="Commutation"):
        emit(r, "sympy")


# ------------------------------------------------------------------------ the contract

def test_every_node_has_a_rule_per_target():
    for target in TARGETS:
        missing = [n.__name__ for n in NODES if n is not Sym and n not in TABLES[target]]
        assert not missing, (target, missing)


def test_every_elementwise_function_has_a_rule():
    from texgrad.ir import Func
    from texgrad.numeric import FUNCS
    x = Sym("x", ("n", 1))
    for target in TARGETS:
        for name in FUNCS:
            assert TABLES[target][Func](Func(name, x), ["x"], _RuleContext())


class _RuleContext:
    """The little of the generator that an elementwise rule asks for."""
    def kind(self, e):
        return codegen.kind_of(e.shape)

    def use(self, *names):
        pass


def test_unknown_elementwise_function_is_named():
    from texgrad.ir import Func
    with pytest.raises(NotImplementedError, match="erf"):
        TABLES["numpy"][Func](Func("erf", Sym("x", ("n", 1))), ["x"], _RuleContext())


def test_unknown_target():
    r = _corpus_result("linear-ax")
    with pytest.raises(ValueError, match="numpy"):
        emit(r, "fortran")


def test_entry_form_is_not_implemented():
    r = _corpus_result("cookbook-080")
    for target in TARGETS:
        with pytest.raises(NotImplementedError, match="entry"):
            emit(r, target)


def test_signature_and_docstring():
    r = _corpus_result("cookbook-078")
    source = emit(r, "numpy")
    assert "def f_and_grad(B, C, D, b, d, x):" in source
    fn = _compile(source)
    doc = fn.__doc__
    assert r.input in doc and r.convention in doc
    assert "B: (p, n) matrix" in doc and "x: (n,) vector" in doc


def test_names_are_sanitised():
    r = texgrad.differentiate(r"\lambda \mathbf{x}^T\mathbf{x}", wrt=r"\mathbf{x}",
                              verify=False)
    assert "def f_and_grad(lambda_, x):" in emit(r, "numpy")
    assert "lambda_ = symbols('lambda', real=True)" in emit(r, "sympy")


def test_user_text_cannot_escape_the_docstring():
    r = _corpus_result("linear-ax")
    evil = dataclasses.replace(r, input='a"""\nimport os\n"""', convention="x'''\r\nraise")
    for target in TARGETS:
        tree = ast.parse(emit(evil, target))
        assert not any(isinstance(n, (ast.Import, ast.Raise)) and
                       getattr(n, "names", [None])[0] is not None and
                       getattr(n.names[0], "name", "") == "os" for n in ast.walk(tree))
        assert not any(isinstance(n, ast.Raise) for n in ast.walk(tree))
    fn = _compile(emit(evil, "numpy"))
    assert "import os" in fn.__doc__          # kept as text, on one line


def test_import_is_light():
    """Importing codegen loads neither SymPy nor NumPy (CLI start-up time)."""
    code = ("import sys, texgrad.codegen; "
            "print('sympy' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_numpy_output_is_real_for_real_inputs():
    r = _corpus_result("seed-hessian-quadratic")
    fn = _compile(emit(r, "numpy"))
    f, d = fn(B=np.eye(3), x=np.ones(3))
    assert np.isrealobj(d) and d.shape == (3, 3) and float(f) == 3.0
