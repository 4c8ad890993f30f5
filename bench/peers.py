"""texgrad against the tools a user would pick instead, measured side by side in one run.

- throughput: derivations per second in one process over the corpus, with and without the
  numeric check;
- SymPy: the same gradients with ``sympy.MatrixSymbol`` and ``.diff`` (f is built in SymPy from
  texgrad's own reading of the formula, so both differentiate the same function), time ratio
  and how many SymPy gets numerically right against the corpus's references;
- generated code (``--emit numpy``) against the hand-written closed form and ``jax.grad`` at
  n = 1000, and a Hessian against ``jax.hessian``.

Run: ``python bench/peers.py`` (after ``pip install .``; jax optional).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import texgrad
from texgrad.codegen import emit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from corpus import assume_of, draw, load, numpy_eval, sizes_for  # noqa: E402


def best(fn, repeat=5):
    t = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def run_namespace(source: str) -> dict:
    ns: dict = {}
    exec(compile(source, "<generated>", "exec"), ns)   # our own generated code
    return ns


# --------------------------------------------------------------------------- throughput

def throughput(cases):
    def go(verify):
        for c in cases:
            texgrad.differentiate(c["latex"], wrt=c["wrt"], assume=assume_of(c),
                                  kind=c["kind"], verify=verify)
    go(False)
    t_no = best(lambda: go(False), 5)
    t_yes = best(lambda: go(True), 2)
    return len(cases) / t_no, len(cases) / t_yes


# ------------------------------------------------------------------------------- sympy

def sympy_value(expr, mapping):
    import sympy
    v = expr.xreplace(mapping)
    for special in (sympy.OneMatrix, sympy.ZeroMatrix, sympy.Identity):
        v = v.replace(special, lambda *a, cls=special: cls(*a).as_explicit())
    v = v.doit()
    if getattr(v, "is_Matrix", False):
        return np.array(sympy.Matrix(v).evalf(), dtype=float)
    return float(sympy.N(v))


def against_sympy(cases):
    import sympy
    from sympy.core.cache import clear_cache
    rows = []
    for c in cases:
        r = texgrad.differentiate(c["latex"], wrt=c["wrt"], assume=assume_of(c), verify=False)
        t_tex = best(lambda: _texgrad_cold(c["latex"], c["wrt"], assume_of(c)), 5)
        try:
            ns = run_namespace(emit(r, "sympy"))
        except NotImplementedError:
            continue
        f, var = ns["f"], ns[r.wrt]
        times, printed = [], []
        d = None
        err = ""
        for _ in range(3):
            clear_cache()
            t0 = time.perf_counter()
            try:
                d = f.diff(var)
            except Exception as e:  # SymPy gives up: counted as not done
                err = type(e).__name__
                break
            t1 = time.perf_counter()
            sympy.latex(d)          # the same deliverable as texgrad's: LaTeX of the answer
            times.append(t1 - t0)
            printed.append(time.perf_counter() - t0)
        if d is None:
            rows.append((c["id"], t_tex, None, False, err, None))
            continue
        rng = np.random.default_rng(5)
        values = draw(c, rng)
        sizes = sizes_for(c)
        mapping = {sympy.Symbol(k, integer=True): v for k, v in sizes.items()}
        for name, v in values.items():
            obj = ns.get(name)
            if obj is None:
                continue
            if isinstance(obj, sympy.MatrixSymbol):
                mapping[obj] = sympy.ImmutableMatrix(np.reshape(v, (np.shape(v)[0], -1)))
            else:
                mapping[obj] = sympy.Float(v)
        ref = np.asarray(numpy_eval(c["numpy"]["d"], values), dtype=float)
        try:
            got = np.asarray(sympy_value(d, mapping), dtype=float)
            ok = got.size == ref.size and (np.allclose(got.reshape(ref.shape), ref, rtol=1e-6)
                                           or (got.ndim == 2 and got.T.size == ref.size and
                                               np.allclose(got.T.reshape(ref.shape), ref,
                                                           rtol=1e-6)))
        except Exception as e:  # SymPy's answer cannot even be evaluated
            ok, err = False, type(e).__name__
        rows.append((c["id"], t_tex, min(times), bool(ok), err, min(printed)))
    return rows


def _texgrad_cold(latex, wrt, assume=None, kind=None):
    """One derivation with nothing of an earlier one remembered (the --wrt reading is
    cached per process; cleared here so both tools start each case from scratch)."""
    import texgrad.request
    texgrad.request.parse_wrt.cache_clear()
    return texgrad.differentiate(latex, wrt=wrt, assume=assume, kind=kind, verify=False)


def sympy_growth(ks=(1, 2, 4, 8, 16)):
    """Sums of k quadratic forms x^T A_i x: how both tools' times grow with the formula.
    SymPy's f is written natively as a sum of 1x1 products (its .diff of a sum of Traces,
    which --emit sympy writes, returns 0); its answer is checked against texgrad's."""
    import sympy
    from sympy.core.cache import clear_cache
    rows = []
    n = sympy.symbols("n", integer=True)
    x = sympy.MatrixSymbol("x", n, 1)
    for k in ks:
        tex = " + ".join(rf"\mathbf{{x}}^T A_{{{i}}} \mathbf{{x}}" for i in range(1, k + 1))
        r = texgrad.differentiate(tex, wrt=r"\mathbf{x}", verify=False)
        t_tex = best(lambda: _texgrad_cold(tex, r"\mathbf{x}"), 5)
        mats = [sympy.MatrixSymbol(f"A_{i}", n, n) for i in range(1, k + 1)]
        f = sympy.Add(*[x.T * a * x for a in mats])
        t_sym, d = float("inf"), None
        for _ in range(2):
            clear_cache()
            t0 = time.perf_counter()
            d = f.diff(x)
            t_sym = min(t_sym, time.perf_counter() - t0)
        rng = np.random.default_rng(k)
        vals = {f"A_{i}": rng.standard_normal((3, 3)) for i in range(1, k + 1)}
        vals["x"] = rng.standard_normal(3)
        mapping = {n: 3, x: sympy.ImmutableMatrix(vals["x"].reshape(3, 1))}
        mapping.update({a: sympy.ImmutableMatrix(vals[a.name]) for a in mats})
        ok = np.allclose(np.ravel(sympy_value(d, mapping)), np.ravel(r.evaluate(vals)))
        rows.append((k, t_tex, t_sym, ok))
    return rows


# --------------------------------------------------------------------- generated code

HAND = {
    r"\operatorname{tr}(X^\top A X)": (
        "X", lambda A, X: (np.trace(X.T @ A @ X), (A + A.T) @ X),
        lambda n, rng: {"A": rng.standard_normal((n, n)), "X": rng.standard_normal((n, n // 2))}),
    r"\|XW - Y\|_F^2": (
        "W", lambda X, W, Y: ((lambda R: (np.sum(R * R), 2 * X.T @ R))(X @ W - Y)),
        lambda n, rng: {"X": rng.standard_normal((n, n // 2)),
                        "W": rng.standard_normal((n // 2, n // 4)),
                        "Y": rng.standard_normal((n, n // 4))}),
    r"\log\det X": (
        "X", lambda X: (np.linalg.slogdet(X)[1], np.linalg.inv(X).T),
        lambda n, rng: {"X": (lambda M: M @ M.T / n + np.eye(n))(rng.standard_normal((n, n)))}),
}


def hand_logsumexp_hessian(v):
    """log-sum-exp and its Hessian diag(s) - s s^T, s = softmax(v), written by hand."""
    s = np.exp(v - v.max())
    s /= s.sum()
    return np.log(np.sum(np.exp(v))), np.diag(s) - np.outer(s, s)


def best_interleaved(fns, seconds=0.6, rounds=12):
    """The best time of one call of each function, measured in rounds that take turns
    between the functions, in an order reversed every round (a burst of load on the machine
    hits all of them alike).  In a round each function runs a few times in a row, at least
    twice, so that it is timed in its own steady state (the memory allocator's, not the one
    the previous function left).  The garbage collector is off meanwhile, as in timeit."""
    import gc
    single = [best(fn, 2) for fn in fns]
    calls = [max(2, round(seconds / rounds / max(t, 1e-6))) for t in single]
    out = [float("inf")] * len(fns)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for k in range(rounds):
            turn = range(len(fns)) if k % 2 == 0 else reversed(range(len(fns)))
            for i in turn:
                out[i] = min(out[i], best(fns[i], calls[i]))
    finally:
        if enabled:
            gc.enable()
    return out


def generated_code(n=1000):
    """(formula, generated, by hand, jax) times at size n.  The NumPy pairs are timed first
    and interleaved (best_interleaved); jax afterwards, so that its thread pool does not run
    beside a NumPy timing."""
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    rng = np.random.default_rng(0)
    cases = []                                   # (formula, generated, by hand, jax or None)
    for tex, (wrt, hand, make) in HAND.items():
        assume = {"X": ("spd",)} if "det" in tex else None
        r = texgrad.differentiate(tex, wrt=wrt, assume=assume, verify=False)
        gen = run_namespace(emit(r, "numpy"))["f_and_grad"]
        vals = make(n, rng)
        names = sorted(vals)
        args = [vals[k] for k in names]
        f1, g1 = gen(*args)
        f2, g2 = hand(**vals)
        assert np.allclose(f1, f2) and np.allclose(g1, g2), tex
        jfn = None
        if jax is not None:
            jf = run_namespace(emit(r, "jax"))["f_and_grad"]

            def fonly(*a, jf=jf):
                return jf(*a)[0]
            vg = jax.jit(jax.value_and_grad(fonly, argnums=names.index(wrt)))
            jargs = [jnp.asarray(vals[nm]) for nm in names]
            jfn = (lambda vg=vg, jargs=jargs: jax.block_until_ready(vg(*jargs)))
        cases.append((tex, lambda gen=gen, args=args: gen(*args),
                      lambda hand=hand, vals=vals: hand(**vals), jfn))
    # a Hessian against the closed form and jax.hessian
    tex = r"\log\left(\mathbf{1}^T \exp(\mathbf{x})\right)"
    r = texgrad.differentiate(tex, wrt=r"\mathbf{x}", kind="hessian", verify=False)
    gen_h = run_namespace(emit(r, "numpy"))["f_and_grad"]
    x = rng.standard_normal(n)
    (f1, h1), (f2, h2) = gen_h(x), hand_logsumexp_hessian(x)
    assert np.allclose(f1, f2) and np.allclose(h1, h2, atol=1e-12), tex
    jfn = None
    if jax is not None:
        h = jax.jit(jax.hessian(lambda v: jnp.log(jnp.sum(jnp.exp(v)))))
        jx = jnp.asarray(x)
        assert np.allclose(np.asarray(h(jx)), h1, atol=1e-10)
        jfn = (lambda: jax.block_until_ready(h(jx)))
    cases.append(("Hessian " + tex, lambda: gen_h(x), lambda: hand_logsumexp_hessian(x), jfn))

    numpy_times = [best_interleaved([gen, hand]) for _, gen, hand, _ in cases]
    rows = []
    for (tex, _, _, jfn), (t_gen, t_hand) in zip(cases, numpy_times):
        t_jax = None
        if jfn is not None:
            jfn()                                # compiled and warm
            t_jax = best(jfn, max(7, round(0.3 / max(best(jfn, 2), 1e-6))))
        rows.append((tex, t_gen, t_hand, t_jax))
    return rows


def main():
    cases = load()
    grads = [c for c in cases if c["kind"] == "gradient" and "complex" not in c.get("tags", [])
             and "index" not in c.get("tags", [])]
    out = {}
    no, yes = throughput(cases)
    out["throughput_no_check"], out["throughput_check"] = no, yes
    print(f"throughput over the corpus ({len(cases)} cases), one process:")
    print(f"  without the check  {no:8.0f} derivations/s   target >= 2000: "
          f"{'MET' if no >= 2000 else 'NOT MET'}")
    print(f"  with the check     {yes:8.0f} derivations/s")
    print()
    try:
        rows = against_sympy(grads)
    except ImportError:
        rows = []
    if rows:
        done = [r for r in rows if r[2] is not None]
        both = [r for r in rows if r[3]]            # the cases both tools get right
        right = len(both)
        ratios = sorted(r[2] / r[1] for r in both)
        printed = sorted(r[5] / r[1] for r in both)
        med = ratios[len(ratios) // 2]
        med_p = printed[len(printed) // 2]
        print(f"SymPy MatrixSymbol .diff on {len(rows)} gradient cases: it returned an answer "
              f"on {len(done)}, numerically right on {right}")
        print(f"  on the {right} cases both get right, SymPy time / texgrad time "
              f"(texgrad: LaTeX in to LaTeX out; SymPy: .diff of a prebuilt expression):")
        print(f"    .diff alone:        median {med:.0f}x, min {ratios[0]:.0f}x, "
              f"max {ratios[-1]:.0f}x   target >= 100x: "
              f"{'MET' if ratios[0] >= 100 else ('MET on the median' if med >= 100 else 'NOT MET')}")
        print(f"    .diff + latex():    median {med_p:.0f}x, min {printed[0]:.0f}x, "
              f"max {printed[-1]:.0f}x")
        for cid, tt, ts, ok, err, tp in rows:
            ts_txt = f"{ts * 1000:7.2f} ms" if ts is not None else "   gave up"
            print(f"    {cid:<28} texgrad {tt * 1000:6.3f} ms   sympy {ts_txt}   "
                  f"{'right' if ok else 'WRONG ' + err}")
        out["sympy"] = {"cases": len(rows), "answered": len(done), "right": right,
                        "median_ratio": med, "min_ratio": ratios[0], "max_ratio": ratios[-1],
                        "median_ratio_with_latex": med_p}
        growth = sympy_growth()
        print("  sums of k quadratic forms x^T A_i x:")
        for k, tt, ts, ok in growth:
            print(f"    k = {k:2d}   texgrad {tt * 1000:7.3f} ms   sympy {ts * 1000:8.2f} ms   "
                  f"ratio {ts / tt:5.0f}x   sympy {'right' if ok else 'WRONG'}")
        out["sympy_growth"] = [(k, ts / tt) for k, tt, ts, _ in growth]
        print()
    rows = generated_code()
    print("generated code (--emit numpy) at n = 1000, f and derivative together:")
    print(f"  {'formula':<48} {'generated':>10} {'by hand':>10} {'ratio':>6} {'jax':>10}")
    for tex, tg, th, tj in rows:
        jt = f"{tj * 1000:8.2f}ms" if tj is not None else "       n/a"
        print(f"  {tex:<48} {tg * 1000:8.2f}ms {th * 1000:8.2f}ms {tg / th:6.2f} {jt}")
    worst = max(tg / th for _, tg, th, _ in rows)
    print(f"  worst generated / hand-written: {worst:.2f}   target <= 1.1: "
          f"{'MET' if worst <= 1.1 else 'NOT MET'}")
    out["codegen_worst_ratio"] = worst
    if "--json" in sys.argv:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
