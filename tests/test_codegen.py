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

from texgrad.functions import BY_NAME as FN
import texgrad
from texgrad import codegen
from texgrad.codegen import TARGETS, emit
from texgrad.codetables import TABLES
from texgrad.codewriter import _new_array
from texgrad.ir import NODES, Sym
from texgrad.numeric import assign_sizes, dim_size, draw_value, to_user
from corpus import assume_of, draw, load, numpy_eval, shapes_of, sizes_for
from backends import backend

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


def _corpus_params():
    out = []
    for target in ARRAY_TARGETS:
        for case in CASES:
            out.append(pytest.param(target, case, id=f"{target}-{case['id']}"))
    return out


@pytest.mark.parametrize("target, case", _corpus_params())
def test_generated_code_matches_corpus(target, case):
    to_numpy = backend(target)
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
    to_numpy = backend(target)
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
    # NumPy subtracts b from the dead temporary A @ x in place
    residual = re.search(r"^\s*(t\d+) = t\d+ - b$" if target != "numpy" else
                         r"^\s*(t\d+) -= b$", source, re.M)
    assert residual, source
    # made once, then read by the norm (f) and by A^T (.) (the gradient)
    after = source[residual.end():]
    reads = [line for line in after.splitlines() if re.search(rf"\b{residual.group(1)}\b", line)]
    assert len(reads) == 2 and "norm(" in reads[0] and "A.T @" in reads[1], source


def test_quadratic_form_temporaries():
    """x^T B x with its Hessian B + B^T: each product appears once, as a temporary."""
    r = texgrad.differentiate(r"\mathbf{x}^\top B\,\mathbf{x}", wrt=r"\mathbf{x}", verify=False)
    source = emit(r, "numpy")
    assert "t0 = x @ B @ x" in source
    assert source.count("B + B.T") == 1
    body = source.split('"""')[-1]
    assert re.findall(r"^\s+(t\d+) =", body, re.M) == ["t0", "t1", "t2"]


@pytest.mark.parametrize("target", ARRAY_TARGETS)
def test_hessian_shares_softmax(target):
    """f = log-sum-exp, computed stably, and its Hessian diag(s) - s s^T share max(x),
    exp(x - max(x)) and its sum: one exp in all."""
    to_numpy = backend(target)                    # skips first when the back end is absent
    r = texgrad.differentiate(r"\log\left(\mathbf{1}^T \exp(\mathbf{x})\right)",
                              wrt=r"\mathbf{x}", kind="hessian", verify=False)
    source = emit(r, target)
    mod = {"numpy": "np", "jax": "jnp", "torch": "torch"}[target]
    assert source.count(f"{mod}.exp(") == 1 and source.count(f"{mod}.max(x)") == 1, source
    assert re.search(rf"= t\d+ \+ {mod}\.log\(t\d+\)$", source, re.M), source
    fn = _compile(source)
    x = np.array([800.0, 799.0, -3.0])             # exp(800) overflows: the stable form
    f, h = (to_numpy(v) for v in fn(x))
    s = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    np.testing.assert_allclose(f, 800.0 + np.log1p(np.exp(-1.0) + np.exp(-803.0)))
    np.testing.assert_allclose(h, np.diag(s) - np.outer(s, s), atol=1e-15)


def test_hessian_updates_one_matrix_in_place():
    """NumPy: -s s^T is made once, with the sign on a vector, and s is added to its
    diagonal: no diag(s) matrix, no subtraction allocating a third n x n array."""
    r = texgrad.differentiate(r"\log\left(\mathbf{1}^T \exp(\mathbf{x})\right)",
                              wrt=r"\mathbf{x}", kind="hessian", verify=False)
    source = emit(r, "numpy")
    assert "np.diag(" not in source and source.count("np.outer(") == 1, source
    outer = re.search(r"^\s*(t\d+) = np\.outer\(-(t\d+), \2\)$", source, re.M)
    assert outer, source
    h, s = outer.groups()
    assert re.search(rf"^\s*{h}\.flat\[::n \+ 1\] \+= {s}$", source, re.M), source
    assert re.search(rf"return t\d+, {h}$", source, re.M), source


# ------------------------------------------------------------ NumPy: updates in place

# a line updating a temporary in place: t3 += ..., t3 *= ..., t3 **= 2,
# t3.flat[::n + 1] += ..., np.exp(t3, out=t3)
_UPDATE = re.compile(r"^\s+(?:t\d+(?:\.flat\[[^]]*\])? (?P<op>[-+*]|\*\*)= .*"
                     r"|np\.\w+\((t\d+), out=\2\))$", re.M)


def _updates(source: str) -> set:
    """The kinds of in-place update in NumPy source: '+', '-', '*', '**', 'flat', 'out'."""
    kinds = set()
    for m in _UPDATE.finditer(source):
        kinds.add("out" if m.group("op") is None else
                  "flat" if ".flat[" in m.group(0) else m.group("op"))
    return kinds


def _read_only(values: dict) -> dict:
    """Copies of the array values that NumPy refuses to write into."""
    out = {}
    for name, v in values.items():
        if isinstance(v, np.ndarray):
            v = v.copy()
            v.setflags(write=False)
        out[name] = v
    return out


def _check_arguments_kept(fn, values: dict, call):
    """Calls fn twice on read-only copies of the values (a write into an argument raises):
    the arguments are unchanged and the second call returns what the first did."""
    frozen = _read_only(values)
    first = [np.copy(v) for v in call(fn, frozen)]
    for name, v in values.items():
        np.testing.assert_array_equal(frozen[name], v)
    for a, b in zip(first, call(fn, frozen)):
        np.testing.assert_array_equal(a, b)
    return first


def _numpy_corpus_params():
    return [pytest.param(c, id=c["id"]) for c in CASES
            if _corpus_result(c["id"]).form != "entry"]


@pytest.mark.parametrize("case", _numpy_corpus_params())
def test_numpy_code_never_modifies_its_arguments(case):
    fn = _compile(emit(_corpus_result(case["id"]), "numpy"))
    values = draw(case, np.random.default_rng(4))
    _check_arguments_kept(fn, values, lambda fn, v: fn(**v))


@pytest.mark.parametrize("i", range(len(EXTRA)), ids=[e[0] + " / " + e[1] for e in EXTRA])
def test_numpy_code_never_modifies_its_arguments_extra(i):
    r = _extra_result(i)
    fn = _compile(emit(r, "numpy"))
    values = _draw_values(r, 4)
    _check_arguments_kept(fn, values, lambda fn, v: fn(*[v[n] for n in sorted(r.symbols)]))


def test_in_place_updates_match_the_corpus():
    """Every corpus case whose NumPy code updates a temporary in place gives the corpus's
    reference values, with read-only arguments; every kind of update occurs."""
    kinds, updating = set(), 0
    for case in CASES:
        r = _corpus_result(case["id"])
        if r.form == "entry":
            continue
        source = emit(r, "numpy")
        if not _updates(source):
            continue
        updating += 1
        kinds |= _updates(source)
        fn = _compile(source)
        rng = np.random.default_rng(6)
        for _ in range(2):
            values = draw(case, rng)
            f_val, d_val = _check_arguments_kept(fn, values, lambda fn, v: fn(**v))
            np.testing.assert_allclose(f_val, numpy_eval(case["numpy"]["f"], values),
                                       rtol=1e-7, atol=1e-9, err_msg=case["id"])
            np.testing.assert_allclose(d_val, numpy_eval(case["numpy"]["d"], values),
                                       rtol=1e-7, atol=1e-9, err_msg=case["id"])
    assert updating >= 10, updating
    assert {"+", "-", "*", "flat", "out"} <= kinds, kinds


# formulas reaching the other update paths: (latex, wrt, options, an expected line)
IN_PLACE = [
    (r"\mathbf{1}^T (A\mathbf{x})^{\circ 3}", r"\mathbf{x}", {},
     r"t\d+ \*\*= 2"),                                         # a power; A x is read first
    (r"\mathbf{x}^T\mathbf{x} + \mathbf{x}^T A \mathbf{x}", r"\mathbf{x}", {"kind": "hessian"},
     r"t\d+ \+= A\.T"),                                        # 2 I + A + A^T
    (r"\operatorname{tr}(X^{-1} + X)", "X", {},
     r"t\d+\.flat\[::n \+ 1\] \+= 1\.0"),                      # - X^-T X^-T + I
    (r"\mathbf{1}^T (A\mathbf{x} \odot B\mathbf{x})", r"\mathbf{x}", {},
     r"t\d+ \*= t\d+"),                                        # a Hadamard product
    (r"\log\left(\mathbf{1}^T \exp(A\mathbf{x})\right)", r"\mathbf{x}", {"kind": "hessian"},
     r"t\d+\.flat\[::n \+ 1\] \+= t\d+"),                      # A^T (diag(s) - s s^T) A
    (r"\|XW - Y\|_F^2", "W", {}, r"t\d+ -= Y"),
]


@pytest.mark.parametrize("latex, wrt, kw, line", IN_PLACE, ids=[e[0] for e in IN_PLACE])
def test_in_place_paths(latex, wrt, kw, line):
    r = texgrad.differentiate(latex, wrt=wrt, verify=False, **kw)
    source = emit(r, "numpy")
    assert re.search(rf"^\s+{line}$", source, re.M), source
    fn = _compile(source)
    names = sorted(r.symbols)
    for seed in (0, 1):
        values = _draw_values(r, seed)
        f_val, d_val = _check_arguments_kept(fn, values, lambda fn, v: fn(*[v[n] for n in names]))
        np.testing.assert_allclose(d_val, r.evaluate(values), rtol=1e-7, atol=1e-9)
        f_ref = texgrad.evaluate(r.input, values, shapes=r.shapes)
        np.testing.assert_allclose(f_val, f_ref, rtol=1e-7, atol=1e-9)


def test_integer_arguments_are_converted():
    """Integer arrays work like their float64 values (an update in place of an integer
    temporary by a float would fail): the arguments are converted, not changed."""
    r = texgrad.differentiate(r"\|XW - Y\|_F^2", wrt="W", verify=False)
    fn = _compile(emit(r, "numpy"))
    rng = np.random.default_rng(7)
    ints = {"X": rng.integers(-5, 5, (4, 3)), "W": rng.integers(-5, 5, (3, 2)),
            "Y": rng.integers(-5, 5, (4, 2))}
    f_int, d_int = _check_arguments_kept(fn, ints, lambda fn, v: fn(v["W"], v["X"], v["Y"]))
    f_flt, d_flt = fn(*(ints[k].astype(float) for k in ("W", "X", "Y")))
    assert d_int.dtype == np.float64
    np.testing.assert_array_equal(f_int, f_flt)
    np.testing.assert_array_equal(d_int, d_flt)


def test_only_new_arrays_are_updated_in_place():
    """A temporary that may be a view (of an argument or of another value) is never a
    target: only code making a new array at its top counts."""
    new, view = _new_array, [("t0[:, 0]", codegen.C), ("X.T.reshape(-1)", codegen.C),
                                     ("np.diag(t1)", codegen.C), ("t0.T", codegen.M),
                                     ("np.reshape(t0, (1, 1))", codegen.M),
                                     ("t0 + t1", codegen.S)]
    assert new("np.outer(-t4, t4)", codegen.M) and new("t0 - Y", codegen.M)
    assert new("np.diag(t4)", codegen.M) and new("-t2", codegen.C)
    assert not any(new(text, kind) for text, kind in view)


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
    x = Sym("x", ("n", 1))
    for target in TARGETS:
        for name in (n for n, s in FN.items() if s.code.get(target) is not None):
            assert TABLES[target][Func](Func(FN[name], x), ["x"], _RuleContext())


class _RuleContext:
    """The little of the generator that an elementwise rule asks for."""
    def kind(self, e):
        return codegen.kind_of(e.shape)

    def use(self, *names):
        pass


def test_unknown_elementwise_function_is_named():
    from texgrad.ir import Func
    erf = FN["exp"]._replace(name="erf", spellings=(), code={})     # a record without code
    with pytest.raises(NotImplementedError, match="erf"):
        TABLES["numpy"][Func](Func(erf, Sym("x", ("n", 1))), ["x"], _RuleContext())


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
