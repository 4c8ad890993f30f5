"""Structural limits bound time and memory (F14): a derivative whose terms repeat long
products is refused by a budget on the parts built, long chains are rebuilt in linear time,
the check's random draws are made in bulk and bounded.  References are NumPy."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import numpy as np
import pytest

from texgrad.functions import BY_NAME as FN
import texgrad
from texgrad import numeric as NM
from texgrad import check as CK
from texgrad import rules

TEXGRAD = [sys.executable, "-m", "texgrad"]


def _limited_run(args, stdin: str, mem_mb: int = 900, timeout: float = 60):
    """The CLI under an address-space limit; returns (returncode, stderr, seconds)."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
    t = time.perf_counter()
    proc = subprocess.run(TEXGRAD + args, input=stdin, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=cap,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t


def test_trace_of_5000_factors_is_a_limit_error_in_bounded_memory():
    text = "\\operatorname{tr}(" + "X" * 5000 + ")"
    code, out, err, dt = _limited_run(["--wrt", "X"], text)
    assert code == 2, (code, err[-500:])
    assert "limit exceeded" in err and "Traceback" not in err
    assert dt < 50


def test_product_of_3000_fractions_ends_quickly():
    text = "".join("\\frac{x}{a_{%d}}" % i for i in range(3000))
    code, out, err, dt = _limited_run(["--wrt", "x"], text)
    assert code == 2 and "limit exceeded" in err, err[-500:]
    assert dt < 30


def test_product_of_fractions_value():
    n = 300
    text = "".join("\\frac{x}{a_{%d}}" % i for i in range(n))
    t = time.perf_counter()
    r = texgrad.differentiate(text, wrt="x", verify=False)
    assert time.perf_counter() - t < 5
    rng = np.random.default_rng(1)
    a = rng.uniform(0.9, 1.1, n)
    vals = {f"a_{i}": a[i] for i in range(n)}
    vals["x"] = 1.01
    assert np.isclose(r.evaluate(vals), n * 1.01 ** (n - 1) / np.prod(a), rtol=1e-10)


def test_long_trace_product_value():
    n = 300
    r = texgrad.differentiate("\\operatorname{tr}(" + "X" * n + ")", wrt="X")
    assert r.verified
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 4)) / 4 + np.eye(4) * 0.5
    want = n * np.linalg.matrix_power(X, n - 1).T
    np.testing.assert_allclose(r.evaluate({"X": X}), want, rtol=1e-9)


def test_parts_budget(monkeypatch):
    monkeypatch.setattr(rules, "MAX_PARTS", 50_000)
    with pytest.raises(texgrad.LimitError, match="too large"):
        texgrad.differentiate("\\operatorname{tr}(" + "AX" * 300 + ")", wrt="X",
                              verify=False)


def test_big_declared_shape_refused_fast():
    t = time.perf_counter()
    with pytest.raises(texgrad.LimitError, match="random entries"):
        texgrad.differentiate(r"\operatorname{tr}(X)", wrt="X", shapes={"X": (4000, 4000)})
    assert time.perf_counter() - t < 5
    r = texgrad.differentiate(r"\operatorname{tr}(X)", wrt="X", shapes={"X": (4000, 4000)},
                              verify=False)
    assert r.latex == "I"


def test_large_declared_shape_checked_in_time():
    t = time.perf_counter()
    r = texgrad.differentiate(r"\operatorname{tr}(X)", wrt="X", shapes={"X": (1000, 1000)})
    assert r.verified and time.perf_counter() - t < 20


def test_bulk_draws_deterministic_and_distributed():
    a, b = NM.Draws(3), NM.Draws(3)
    z1, z2 = a.standard_normal((700, 300)), b.standard_normal((700, 300))
    np.testing.assert_array_equal(z1, z2)
    assert z1.shape == (700, 300) and z1.dtype == np.float64
    assert abs(z1.mean()) < 0.01 and abs(z1.std() - 1) < 0.01
    assert np.all(np.isfinite(z1))
    u = a.uniform(0.5, 1.5, 100_001)
    assert u.shape == (100_001,) and u.min() >= 0.5 and u.max() < 1.5
    assert abs(u.mean() - 1.0) < 0.01
    assert not np.array_equal(NM.Draws(4).standard_normal(10_000),
                              NM.Draws(3).standard_normal(10_000))
    t = time.perf_counter()
    NM.Draws(0).standard_normal(2_000_000)
    assert time.perf_counter() - t < 2


def test_one_draw_bounded():
    with pytest.raises(texgrad.LimitError):
        NM.Draws(0).standard_normal((3000, 3000))


def test_evaluation_frees_temporaries():
    """A chain of 100 elementwise functions of a 300 x 300 matrix: each value is dropped once
    its parent has it (peak a few matrices, not 100)."""
    import tracemalloc
    from texgrad.ir import Func, Sym
    X = Sym("X", ("n", "m"))
    e = X
    for _ in range(100):
        e = Func(FN["sin"], e)
    rng = np.random.default_rng(0)
    v = rng.standard_normal((300, 300))
    tracemalloc.start()
    out = NM.evaluate(e, {"X": v}, {"n": 300, "m": 300})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    want = v
    for _ in range(100):
        want = np.sin(want)
    np.testing.assert_array_equal(out, want)
    assert peak < 10 * v.nbytes, peak


def test_laplacian_style_disagreement_is_failed():
    c = CK.Check(False, 0.0, 3, 6, {}, "", reason="the Laplacian is not the trace of the "
                 "Hessian", disagreement=True)
    assert c.status == "failed" and c.stamp().startswith("% CHECK FAILED")
    c = CK.Check(False, float("nan"), 0, 0, {}, "", reason="nothing compared")
    assert c.status == "not verified" and c.stamp().startswith("% NOT VERIFIED")


def test_a_swallowed_time_limit_fires_again():
    """limits.time_limited re-fires: code that catches the first LimitError and goes on
    is still stopped."""
    import time
    from texgrad.errors import LimitError
    from texgrad.limits import time_limited
    start = time.monotonic()
    swallowed = 0
    with pytest.raises(LimitError):
        with time_limited(0.2, repeat=0.2):
            while time.monotonic() - start < 5:
                try:
                    while True:
                        time.sleep(0.01)
                except LimitError:
                    swallowed += 1
                    if swallowed > 1:
                        raise
    assert swallowed == 2
    assert time.monotonic() - start < 2


def test_a_limit_that_fires_at_once_leaves_no_timer_behind():
    """A limit shorter than setting it up fires inside time_limited.__enter__; the timer
    (it repeats every second) must still be stopped, or it ends a later, unrelated call."""
    import signal
    if not hasattr(signal, "setitimer"):
        pytest.skip("no POSIX interval timers")
    from texgrad.errors import LimitError
    from texgrad.limits import time_limited
    before = signal.getsignal(signal.SIGALRM)
    for seconds in (1e-7, 1e-6, 1e-5, 1e-4):
        for _ in range(20):
            try:
                with time_limited(seconds):
                    sum(range(10_000))
            except LimitError:
                pass
            assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
            assert signal.getsignal(signal.SIGALRM) == before
