r"""Fuzzing texgrad with hypothesis (issue 5, part 3).

Random well-shaped matrix expressions (tests/strategies.py), printed as LaTeX in varied
notation, each with an independent NumPy reference evaluator:

a. value: ``texgrad.evaluate`` of the LaTeX equals the reference (texgrad reads the notation
   as intended);
b. derivative: ``texgrad.differentiate`` raises TexgradError, or its check fails (reported:
   counted, not a test failure), or its check passes, and then an independent central
   difference of the *reference* f along a random direction V, at the sizes the stamp names
   and new values, agrees with <r.evaluate(values), V> in the documented layout
   D[f-index..., variable-index...]; a verified stamp it contradicts is a "false verified
   stamp".  b' does the same for Hessians (v^T H v against second differences, and H
   symmetric) and Laplacians (the sum of f'' along every basis direction);
c. round trip: the printed derivative ``r.latex`` read back with ``texgrad.evaluate`` equals
   ``r.evaluate``.  A print with ``I``, ``\mathbf{1}`` or ``\mathbf{0}`` (sized by context, in
   the print as in the input) is read back next to a zero multiple of something of the
   derivative's shape.  Skipped (counted), as not meant to be read back: the vec/Kronecker
   form of a derivative of a matrix or by a matrix (``\otimes``, ``K_{mn}``,
   ``\operatorname{vec}``), the entry form (``J^{ij}``), and the sum over a range that the
   derivative of a matrix power prints (``\sum_{r=0}^{k-1}``, which the README lists as not
   yet accepted in the input);
d. no exception other than TexgradError escapes ``differentiate``/``evaluate`` for generated
   formulas with one to three random edits (and any ``kind``);
e. random text and bytes through the command line: exit status 2 with a message (or 0/1 for
   a formula that happens to be valid), never a traceback nor exit 3; in process with
   click's CliRunner and a few through a real subprocess.

An exception other than TexgradError from ``Result.evaluate`` is a crash too.  Under the
``ci`` profile (tests/conftest.py) each property runs about 60 examples (15 subprocess
pairs); under ``long`` the 20,000 examples are shared among them (``bench/fuzz.py`` prints the
figures).  With ``TEXGRAD_FUZZ_COUNT_ONLY=1`` (set by bench/fuzz.py) a failure is counted and
recorded in ``FAILURES`` instead of failing the test, so a long run reports every failure it
meets.  The minimal input of each bug found is an ``@example`` of its property, skipped
through ``KNOWN_BUGS`` until the bug is fixed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import assume, example, given, note, settings, strategies as st

import texgrad
from texgrad import ParseError, TexgradError
from texgrad.cli import main

from strategies import (DIMS, cases, draw_values, latexish_text, literal_case, mutated,
                        random_direction)

COUNT_ONLY = os.environ.get("TEXGRAD_FUZZ_COUNT_ONLY") == "1"
STATS: dict = defaultdict(Counter)      # property -> outcome -> count
FAILURES: list = []                     # every failure met (COUNT_ONLY), with its input

# Known bugs in texgrad found by this fuzzer, skipped (exactly these strings) so that the suite
# stays green until they are fixed.  Each entry is (property, what, exact LaTeX) where `what`
# is "input" (the formula given to texgrad) or "derivative" (texgrad's printed answer).  Each
# is a BUG TO FIX, not an accepted behaviour: remove the entry with the fix.
KNOWN_BUGS: list = [
    # (BUG 1, a size fixed only by I or \mathbf{1}, and BUG 2, an all-ones matrix printed as
    # a vector, are fixed: their examples are regression tests now.)
    # (BUG 3, the size of I lost in print, is fixed: d/dt det(tC) prints tr(I_{n}), and I_n
    # reads back as the identity of size n.)
    # (BUG 4, a division by something that simplifies to 0, is fixed: a TexgradError now.)
]

TOL = 1e-5          # the independent check's tolerance (texgrad's own is 1e-6)

# share of the long profile's examples per property (they sum to 1); ci caps
LONG_SHARE = {"value": 0.15, "derivative": 0.22, "second": 0.10, "roundtrip": 0.13,
              "mutation": 0.25, "cli_text": 0.07, "cli_bytes": 0.07, "cli_subprocess": 0.01}
CI_CAP = {"cli_subprocess": 15}


def _examples(prop: str) -> int:
    """Examples for a property: the profile's count (capped for the subprocess property), or
    under ``long`` (and bench/fuzz.py's ``bench``) its share of the profile's count."""
    base = settings.default.max_examples
    if settings.get_current_profile_name() in ("long", "bench"):
        return max(1, round(base * LONG_SHARE[prop]))
    return min(base, CI_CAP.get(prop, base))


def _skip_known(prop: str, latex: str, what: str = "input") -> None:
    assume((prop, what, latex) not in KNOWN_BUGS)


def _fail(prop: str, kind: str, message: str, /, **info) -> None:
    STATS[prop][kind] += 1
    FAILURES.append({"property": prop, "kind": kind, "message": message, **info})
    if not COUNT_ONLY:
        details = "\n".join(f"  {k} = {v!r}" for k, v in info.items())
        raise AssertionError(f"{prop}: {kind}: {message}\n{details}")


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return f"{type(e).__name__}: {s[0] if s else ''}"[:300]


def _close(got, want, rtol: float = 1e-7) -> bool:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    return bool(np.allclose(got, want, rtol=rtol, atol=rtol * scale))


def _finite(x) -> bool:
    return bool(np.all(np.isfinite(np.asarray(x, dtype=float))))


def _info(case, **more) -> dict:
    return {"latex": case.latex, "wrt": case.wrt, "shapes": case.shapes,
            "assume": case.assume, **more}


_UNSET = object()


def _answer(prop: str, r, values, case):
    """``r.evaluate(values)``, or ``_UNSET`` after recording why not.  An exception other than
    TexgradError is a crash whatever the check said; a TexgradError is one for a verified
    answer only (it must evaluate where f does, at the sizes its stamp names)."""
    try:
        return r.evaluate(values)
    except TexgradError as e:
        if not r.check or not r.check.passed:
            STATS[prop]["check failed (reported), Result.evaluate refused"] += 1
            return _UNSET
        _fail(prop, "verified answer does not evaluate", _first_line(e),
              **_info(case, derivative=r.latex, derivative_kind=r.kind))
    except Exception as e:      # noqa: BLE001
        _fail(prop, "crash in Result.evaluate", _first_line(e),
              **_info(case, derivative=r.latex, derivative_kind=r.kind,
                      verified=bool(r.check and r.check.passed)))
    return _UNSET


# ------------------------------------------------------------------------ a. value

@settings(max_examples=_examples("value"))
@given(case=cases(), seed=st.integers(0, 2**16))
def test_value_matches_reference(case, seed):
    _skip_known("value", case.latex)
    STATS["value"]["examples"] += 1
    values = draw_values(case, seed)
    ref = case.f(values)
    if not _finite(ref):
        STATS["value"]["skipped: reference not finite"] += 1
        return
    try:
        got = texgrad.evaluate(case.latex, values, shapes=case.shapes, assume=case.assume)
    except TexgradError as e:
        return _fail("value", "well-formed formula rejected", _first_line(e), **_info(case))
    except Exception as e:      # noqa: BLE001 - anything else is a crash
        return _fail("value", "crash", _first_line(e), **_info(case))
    if not _close(got, ref):
        _fail("value", "misread", "texgrad.evaluate differs from the reference",
              **_info(case, seed=seed, got=np.asarray(got).tolist(),
                      want=np.asarray(ref).tolist()))
    else:
        STATS["value"]["agree"] += 1


# ------------------------------------------------------------------- b. derivative

def _expected_kind(case) -> str:
    fr, fc = case.fshape
    x = case.internal[case.wrt]
    if (fr, fc) == (1, 1):
        return "gradient"
    if fc == 1 and (x == (1, 1) or x[1] == 1):
        return "jacobian"
    return "derivative"


def _central(case, values, name, v, h):
    def at(s):
        vals = dict(values)
        vals[name] = np.asarray(values[name], dtype=float) + s * np.asarray(v)
        if np.ndim(vals[name]) == 0:
            vals[name] = float(vals[name])
        return np.asarray(case.f(vals), dtype=float)

    def g(step):
        return (at(step) - at(-step)) / (2 * step)
    return (4 * g(h / 2) - g(h)) / 3           # Richardson: O(h^4)


def independent_error(case, d, values, seed, sizes=None) -> float:
    """Relative error between <D, V> (the layout D[f-index..., variable-index...]) and a
    central difference of the reference f along a random V, at the best of three steps."""
    v = np.asarray(random_direction(case, case.wrt, seed, sizes))
    analytic = np.tensordot(np.asarray(d, dtype=float), v, axes=v.ndim)
    fscale = float(np.max(np.abs(np.asarray(case.f(values), dtype=float))))
    best = np.inf
    for h in (1e-3, 1e-4, 1e-2):
        with np.errstate(all="ignore"):
            fd = _central(case, values, case.wrt, v, h)
        if not _finite(fd):
            continue
        diff = float(np.max(np.abs(fd - analytic))) if fd.size else 0.0
        scale = max(float(np.max(np.abs(fd))) if fd.size else 0.0,
                    float(np.max(np.abs(analytic))) if analytic.size else 0.0,
                    1e-7 * max(1.0, fscale))     # rounding: ~eps |f| / h
        best = min(best, diff / scale)
        if best < TOL:
            break
    return best


@settings(max_examples=_examples("derivative"))
@given(case=cases(), seed=st.integers(0, 2**16),
       layout=st.sampled_from(["numerator", "numerator", "denominator", "mixed"]),
       explicit_kind=st.booleans(), spelled=st.booleans(), check_seed=st.integers(0, 99))
def test_derivative_verified_or_reported(case, seed, layout, explicit_kind, spelled,
                                         check_seed):
    _skip_known("derivative", case.latex)
    STATS["derivative"]["examples"] += 1
    kind = _expected_kind(case) if explicit_kind else None
    wrt = case.wrt_latex if spelled else case.wrt
    note(f"differentiate({case.latex!r}, wrt={wrt!r}, shapes={case.shapes!r}, "
         f"assume={case.assume!r}, kind={kind!r}, layout={layout!r}, seed={check_seed})")
    try:
        r = texgrad.differentiate(case.latex, wrt=wrt, shapes=case.shapes, assume=case.assume,
                                  kind=kind, layout=layout, seed=check_seed)
    except TexgradError as e:
        STATS["derivative"][f"refused: {type(e).__name__}"] += 1
        return
    except Exception as e:      # noqa: BLE001
        return _fail("derivative", "crash", _first_line(e),
                     **_info(case, derivative_kind=kind, layout=layout, seed=check_seed))
    # the sizes the stamp names (a formula may be valid for some sizes only: det(W W^T)
    # needs rows <= columns), new values
    sizes = {k: v for k, v in r.check.sizes.items() if k in DIMS}
    values = draw_values(case, seed, sizes)
    if not _finite(case.f(values)):
        STATS["derivative"]["skipped: reference not finite"] += 1
        return
    d = _answer("derivative", r, values, case)
    if d is _UNSET:
        return
    want_shape = np.shape(case.f(values)) + np.shape(values[case.wrt])
    if np.shape(d) != want_shape:
        return _fail("derivative", "layout",
                     f"r.evaluate has shape {np.shape(d)}, expected {want_shape}",
                     **_info(case, derivative=r.latex, derivative_kind=r.kind))
    err = independent_error(case, d, values, seed, sizes) if _finite(d) else np.inf
    if not r.check.passed:
        agrees = err < TOL
        STATS["derivative"]["check failed (reported), answer right" if agrees else
                            "check failed (reported), answer wrong"] += 1
        FAILURES.append({"property": "derivative", "kind": "check failed, answer " +
                         ("right" if agrees else "wrong"), "message": r.stamp,
                         **_info(case, derivative=r.latex, derivative_kind=r.kind,
                                 layout=layout, check_seed=check_seed, independent=err)})
        return
    if err > TOL:
        return _fail("derivative", "false verified stamp",
                     f"independent relative error {err:.2e}; {r.stamp}",
                     **_info(case, derivative=r.latex, derivative_kind=r.kind, layout=layout,
                             seed=seed))
    STATS["derivative"]["verified, confirmed"] += 1


# ------------------------------------------------ b'. second derivatives (Hessian, Laplacian)

def _second(case, values, name, v, h):
    """Richardson-extrapolated second difference of the reference f along v: v^T H v."""
    x0 = np.asarray(values[name], dtype=float)

    def at(s):
        vals = dict(values)
        vals[name] = x0 + s * np.asarray(v)
        if np.ndim(vals[name]) == 0:
            vals[name] = float(vals[name])
        return float(case.f(vals))

    f0 = at(0.0)

    def d2(step):
        return (at(step) - 2 * f0 + at(-step)) / step ** 2
    return (4 * d2(h / 2) - d2(h)) / 3


def _second_error(case, values, directions, analytic) -> float:
    """Relative error between the analytic sum of v^T H v over ``directions`` and second
    differences of the reference f, at the best of three steps."""
    fscale = abs(float(case.f(values)))
    best = np.inf
    for h in (1e-2, 3e-3, 3e-2):
        with np.errstate(all="ignore"):
            fd = sum(_second(case, values, case.wrt, v, h) for v in directions)
        if not np.isfinite(fd):
            continue
        scale = max(abs(fd), abs(analytic), 1e-5 * max(1.0, fscale))  # ~eps |f| / h^2
        best = min(best, abs(fd - analytic) / scale)
        if best < 1e-4:
            break
    return best


def _basis(shape):
    for idx in np.ndindex(*shape):
        e = np.zeros(shape)
        e[idx] = 1.0
        yield e if shape else 1.0


@settings(max_examples=_examples("second"))
@given(case=cases(max_depth=3, shapes=("scalar",)), seed=st.integers(0, 2**16),
       kind=st.sampled_from(["hessian", "hessian", "laplacian"]), check_seed=st.integers(0, 99))
def test_second_derivative_verified_or_reported(case, seed, kind, check_seed):
    """A Hessian or a Laplacian: refused (TexgradError), reported as failing its check, or
    verified and then confirmed by second differences of the reference f: v^T H v along a
    random direction (and H symmetric), or the sum of f'' along every basis direction."""
    _skip_known("second", case.latex)
    symmetric = bool({"spd", "symmetric"} & set(case.assume.get(case.wrt, ())))
    assume(not (kind == "laplacian" and symmetric))   # its trace runs over all entries
    STATS["second"]["examples"] += 1
    note(f"differentiate({case.latex!r}, wrt={case.wrt!r}, shapes={case.shapes!r}, "
         f"assume={case.assume!r}, kind={kind!r}, seed={check_seed})")
    try:
        r = texgrad.differentiate(case.latex, wrt=case.wrt, shapes=case.shapes,
                                  assume=case.assume, kind=kind, seed=check_seed)
    except TexgradError as e:
        STATS["second"][f"refused: {type(e).__name__}"] += 1
        return
    except Exception as e:      # noqa: BLE001
        return _fail("second", "crash", _first_line(e), **_info(case, derivative_kind=kind))
    sizes = {k: v for k, v in r.check.sizes.items() if k in DIMS}
    values = draw_values(case, seed, sizes)
    if not _finite(case.f(values)):
        STATS["second"]["skipped: reference not finite"] += 1
        return
    h = _answer("second", r, values, case)
    if h is _UNSET:
        return
    h = np.asarray(h, dtype=float)
    xshape = np.shape(values[case.wrt])
    want = () if kind == "laplacian" else xshape + xshape
    if h.shape != want:
        return _fail("second", "layout", f"r.evaluate has shape {h.shape}, expected {want}",
                     **_info(case, derivative=r.latex, derivative_kind=kind))
    if kind == "laplacian":
        directions = list(_basis(xshape))
        analytic = float(h)
    else:
        v = np.asarray(random_direction(case, case.wrt, seed, sizes))
        directions = [v]
        analytic = float(np.sum(np.tensordot(h, v, axes=v.ndim) * v))
    err = _second_error(case, values, directions, analytic) if _finite(h) else np.inf
    asym = 0.0
    if kind == "hessian" and h.ndim and _finite(h):
        k = len(xshape)
        ht = np.transpose(h, list(range(k, 2 * k)) + list(range(k)))
        asym = float(np.max(np.abs(h - ht)) / max(1e-12, float(np.max(np.abs(h)))))
    wrong = err > 1e-4 or asym > 1e-6
    if not r.check.passed:
        STATS["second"]["check failed (reported), answer " + ("wrong" if wrong else "right")] += 1
        FAILURES.append({"property": "second", "kind": "check failed, answer " +
                         ("wrong" if wrong else "right"), "message": r.stamp,
                         **_info(case, derivative=r.latex, derivative_kind=kind,
                                 check_seed=check_seed, independent=err)})
        return
    if wrong:
        return _fail("second", "false verified stamp",
                     f"independent relative error {err:.2e}, asymmetry {asym:.1e}; {r.stamp}",
                     **_info(case, derivative=r.latex, derivative_kind=kind, seed=seed))
    STATS["second"]["verified, confirmed"] += 1


# -------------------------------------------------------------------- c. round trip

def _sized_by_context(latex: str) -> bool:
    """Whether the LaTeX has an I, 1 or 0 (whose size only the context gives)."""
    s = re.sub(r"\\mathbf\{[01I]\}", " @ ", latex)
    s = re.sub(r"\\[A-Za-z]+", " ", s)
    return "@" in s or "I" in s


def _shape_context(case, r) -> str:
    """LaTeX of something with the shape of the derivative: the variable for a gradient, f
    for a derivative by a scalar, f times the variable's transpose for a Jacobian."""
    var = case.wrt_latex
    if r.kind == "gradient":
        return var
    if r.form == "scalar":
        return case.latex
    return rf"\left({case.latex}\right)\left({var}\right)^{{\top}}"


# printed notation not meant to be read back: Kronecker/vec forms, the single-entry matrix,
# and the sum over a range of a matrix power's derivative (\sum_{r=0}^{k-1} ..., Cookbook
# eq. 91), which the README lists as not yet accepted in the input
NOT_REREAD = ("\\otimes", "K_{", "\\operatorname{vec}", "\\mathrm{vec}", "J^{", "\\sum_{r=")


def _rereadable(r, case) -> bool:
    if any(s in r.latex for s in NOT_REREAD) or r.form == "entry":
        return False
    if r.form == "vec":     # a Jacobian reads back only between vectors (or scalars)
        fr, fc = case.fshape
        x = case.internal[case.wrt]
        return fc == 1 and x[1] == 1
    return True


@settings(max_examples=_examples("roundtrip"))
@given(case=cases(), seed=st.integers(0, 2**16), check_seed=st.integers(0, 99))
@example(case=literal_case(r"\tanh(tB)", {"t": (), "B": ("n", "p")}, "t",
                           lambda v: np.tanh(v["t"] * v["B"]), ("n", "p")), seed=0, check_seed=0)
@example(case=literal_case(r"\det(tC)", {"t": (), "C": ("n", "n")}, "t",
                           lambda v: np.linalg.det(v["t"] * v["C"]), ()), seed=0, check_seed=0)
def test_printed_derivative_round_trips(case, seed, check_seed):
    _skip_known("roundtrip", case.latex)
    STATS["roundtrip"]["examples"] += 1
    try:
        r = texgrad.differentiate(case.latex, wrt=case.wrt, shapes=case.shapes,
                                  assume=case.assume, seed=check_seed)
    except TexgradError:
        STATS["roundtrip"]["differentiate refused"] += 1
        return
    except Exception as e:      # noqa: BLE001
        return _fail("roundtrip", "crash", _first_line(e), **_info(case))
    if not _rereadable(r, case):
        STATS["roundtrip"]["skipped: " + ("range sum" if "\\sum_{r=" in r.latex else
                                          "vec/Kronecker/entry form")] += 1
        return
    values = draw_values(case, seed, {k: v for k, v in r.check.sizes.items() if k in DIMS})
    want = _answer("roundtrip", r, values, case)
    if want is _UNSET:
        return
    if not _finite(want):
        STATS["roundtrip"]["skipped: derivative not finite"] += 1
        return
    _skip_known("roundtrip", r.latex, "derivative")
    text = r.latex
    if _sized_by_context(r.latex):
        # I, 1 or 0 get their size from the context, in the print as in the input: read the
        # print back next to a zero multiple of something of the derivative's shape
        text = rf"\left({r.latex}\right) + 0\left({_shape_context(case, r)}\right)"
    try:
        got = texgrad.evaluate(text, values, shapes=case.shapes, assume=case.assume)
    except TexgradError as e:
        return _fail("roundtrip", "printed derivative not re-readable", _first_line(e),
                     **_info(case, derivative=r.latex, read=text))
    except Exception as e:      # noqa: BLE001
        return _fail("roundtrip", "crash", _first_line(e),
                     **_info(case, derivative=r.latex, read=text))
    if r.latex in ("0", "\\mathbf{0}") and not np.any(want):
        STATS["roundtrip"]["agree (zero)"] += 1
        return
    if not _close(got, want):
        return _fail("roundtrip", "round trip differs",
                     "texgrad.evaluate(r.latex) != r.evaluate",
                     **_info(case, derivative=r.latex, seed=seed,
                             got=np.asarray(got).tolist(), want=np.asarray(want).tolist()))
    STATS["roundtrip"]["agree"] += 1


# ---------------------------------------------------------- d. only TexgradError escapes

KINDS = [None, None, None, "gradient", "jacobian", "hessian", "laplacian", "derivative"]


@settings(max_examples=_examples("mutation"))
@given(pair=mutated(cases(max_depth=3)), seed=st.integers(0, 2**16), verify=st.booleans(),
       kind=st.sampled_from(KINDS))
@example(pair=(literal_case("t", {"t": ()}, "t", lambda v: v["t"], ()), "It"), seed=0,
         verify=True, kind=None)
@example(pair=(literal_case(r"\frac{t}{2}", {"t": ()}, "t", lambda v: v["t"] / 2, ()),
               r"\frac{t}{0}"), seed=0, verify=True, kind=None)
def test_only_texgrad_errors_escape(pair, seed, verify, kind):
    case, text = pair
    _skip_known("mutation", text)
    STATS["mutation"]["examples"] += 1
    note(f"text={text!r}")
    values = draw_values(case, seed)
    calls = {
        "differentiate": lambda: texgrad.differentiate(
            text, wrt=case.wrt, shapes=case.shapes, assume=case.assume, kind=kind,
            verify=verify),
        "evaluate": lambda: texgrad.evaluate(text, values, shapes=case.shapes,
                                             assume=case.assume),
    }
    for what, call in calls.items():
        try:
            call()
            STATS["mutation"][f"{what}: accepted"] += 1
        except TexgradError:
            STATS["mutation"][f"{what}: TexgradError"] += 1
        except Exception as e:      # noqa: BLE001
            return _fail("mutation", f"crash in {what}", _first_line(e),
                         **_info(case, text=text, derivative_kind=kind, verify=verify))


# --------------------------------------------------------------- e. the command line

def _cli_ok(prop: str, result, what) -> None:
    out = result.output + (getattr(result, "stderr", "") or "")
    exc = result.exception
    STATS[prop][f"exit {result.exit_code}"] += 1
    if exc is not None and not isinstance(exc, SystemExit):
        return _fail(prop, "crash", _first_line(exc), input=what)
    if result.exit_code not in (0, 1, 2):
        return _fail(prop, f"exit status {result.exit_code}", out[-500:], input=what)
    if "Traceback" in out:
        return _fail(prop, "traceback", out[-500:], input=what)
    if result.exit_code == 0 and not result.stdout.strip():
        return _fail(prop, "exit 0 with no output", out[-500:], input=what)
    if result.exit_code == 2 and not out.strip():
        return _fail(prop, "exit 2 without a message", "", input=what)


CLI_FORMS = ["arg", "arg", "stdin", "wrt", "json"]


@pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")
@settings(max_examples=_examples("cli_text"))
@given(text=latexish_text(), form=st.sampled_from(CLI_FORMS))
@example(text="It", form="arg")
def test_cli_random_text_in_process(text, form):
    _skip_known("cli_text", text)
    STATS["cli_text"]["examples"] += 1
    args, stdin = {"arg": ([text], None), "stdin": (["-"], text),
                   "wrt": ([text, "--wrt", "x"], None),
                   "json": (["-", "--format", "json", "--wrt", "X"], text)}[form]
    result = CliRunner().invoke(main, args, input=stdin)
    _cli_ok("cli_text", result, (form, text))


@pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")
@settings(max_examples=_examples("cli_bytes"))
@given(data=st.binary(max_size=80) | latexish_text().map(lambda s: s.encode("utf-8")),
       wrt=st.sampled_from([[], ["--wrt", "x"], ["--wrt", "\\mathbf{x}"]]))
def test_cli_random_bytes_in_process(data, wrt):
    STATS["cli_bytes"]["examples"] += 1
    result = CliRunner().invoke(main, ["-", *wrt], input=data)
    _cli_ok("cli_bytes", result, data)


def _env() -> dict:
    env = dict(os.environ)
    env.pop("TEXGRAD_DEBUG", None)
    here = os.path.dirname(os.path.dirname(os.path.abspath(texgrad.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env


@settings(max_examples=_examples("cli_subprocess"))
@given(text=latexish_text(), data=st.binary(max_size=60))
def test_cli_random_text_and_bytes_subprocess(text, data):
    """The real command: EXPR as an argument (NUL, which argv cannot carry, removed), and
    bytes on standard input."""
    STATS["cli_subprocess"]["examples"] += 1
    runs = [([text.replace("\x00", "")], b""), (["-", "--wrt", "x"], data)]
    for args, stdin in runs:
        proc = subprocess.run([sys.executable, "-m", "texgrad", *args], input=stdin,
                              capture_output=True, env=_env(), timeout=60)
        err = proc.stderr.decode("utf-8", "replace")
        out = proc.stdout.decode("utf-8", "replace")
        STATS["cli_subprocess"][f"exit {proc.returncode}"] += 1
        what = (args, stdin)
        if proc.returncode not in (0, 1, 2):
            _fail("cli_subprocess", f"exit status {proc.returncode}", err[-500:], input=what)
        elif "Traceback" in err or "Traceback" in out:
            _fail("cli_subprocess", "traceback", err[-500:], input=what)
        elif proc.returncode == 0 and not out.strip():
            _fail("cli_subprocess", "exit 0 with no output", err[-500:], input=what)
        elif proc.returncode == 2 and not err.strip():
            _fail("cli_subprocess", "exit 2 without a message", out[-500:], input=what)
