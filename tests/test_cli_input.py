"""The command line under bad or unusual input (issue 9: item 6, F5, F8, L1, L4): a prompt when
standard input is a terminal, a bounded read of standard input, validated --time-limit and
--seed, strict JSON, the stamp as one comment line.  Bad input exits 2, never 3."""

from __future__ import annotations

import ast
import json
import math
import os
import select
import subprocess
import sys
import time

import numpy as np
import pytest

import texgrad
from clirun import invoke, stderr_of
from texgrad.syntax import MAX_LENGTH

PROMPT = "texgrad: reading a formula from standard input"


def env_for_subprocess():
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(texgrad.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env.pop("TEXGRAD_DEBUG", None)
    return env


# ------------------------------------------------------------ item 6: a terminal on stdin

def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        got += chunk
    return got


@pytest.mark.skipif(not sys.platform.startswith(("linux", "darwin")), reason="needs a pty")
def test_a_terminal_on_stdin_gets_a_prompt_then_the_formula_is_read():
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "texgrad", "--wrt", "x", "--no-stamp"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env_for_subprocess(), close_fds=True)
    os.close(slave)
    try:
        err = _read_until(proc.stderr.fileno(), b"\n", timeout=30)
        assert PROMPT.encode() in err, err
        assert b"Ctrl-D" in err and b"--help" in err
        assert err.count(b"\n") == 1            # one line
        os.write(master, b"x^3\n")
        os.write(master, b"\x04")               # Ctrl-D at the start of a line: end of input
        out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == 0, rest
    assert rest == b""
    got = texgrad.evaluate(out.decode().strip(), {"x": 1.7})
    assert math.isclose(float(np.ravel(got)[0]), 3 * 1.7 ** 2, rel_tol=1e-12)


def test_no_prompt_when_stdin_is_not_a_terminal():
    r = invoke(["--wrt", "x"], input="x^2")
    assert r.exit_code == 0 and stderr_of(r) == ""


# ------------------------------------------------------------ F8: stdin is read bounded

def test_endless_stdin_is_a_limit_error_without_reading_it_all():
    """``texgrad --wrt x < /dev/zero``: under a 1.5 GB address-space limit the old unbounded
    read ended in MemoryError (exit 3); now a limit error after 400 KB, exit 2."""
    resource = pytest.importorskip("resource")
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

    env = env_for_subprocess()
    env["OPENBLAS_NUM_THREADS"] = "1"
    with open("/dev/zero", "rb") as zero:
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "texgrad", "--wrt", "x"], stdin=zero,
                              capture_output=True, env=env, timeout=120, preexec_fn=limit)
        took = time.monotonic() - t0
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.startswith("limit exceeded: standard input holds more than 100,000 characters")
    assert "Traceback" not in err and proc.stdout == b""
    assert took < 30


@pytest.mark.parametrize("data", [
    "x" * (MAX_LENGTH + 1),                        # one character too many
    "α" * (MAX_LENGTH + 1),                        # two bytes a character
    "x" * (4 * MAX_LENGTH + 7),                    # more than the reader takes
])
def test_stdin_over_the_length_limit(data):
    r = invoke(["--wrt", "x"], input=data.encode("utf-8"))
    assert r.exit_code == 2, r.output
    assert stderr_of(r).startswith("limit exceeded:"), stderr_of(r)[:300]
    assert r.stdout == ""


def test_stdin_limit_in_json_mode_is_an_error_object():
    r = invoke(["--wrt", "x", "--format", "json"], input="x" * (4 * MAX_LENGTH + 7))
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["kind"] == "limit exceeded"


# ------------------------------------------------------------ F8, L4: --time-limit, --seed

@pytest.mark.parametrize("value", ["inf", "-inf", "1e300", "nan", "-1", "-0.5", "86401",
                                   "abc", "", "1" * 5000])
def test_bad_time_limit_is_a_usage_error(value):
    r = invoke(["x^2", "--wrt", "x", "--time-limit", value])
    assert r.exit_code == 2, r.output
    err = stderr_of(r)
    assert "--time-limit" in err and "86,400" in err, err
    assert len(err) < 600
    assert r.stdout == ""


@pytest.mark.parametrize("value", ["0", "86400", "0.5", "60"])
def test_good_time_limit(value):
    r = invoke(["x^2", "--wrt", "x", "--time-limit", value, "--no-stamp"])
    assert r.exit_code == 0, r.output


def test_time_limit_still_stops_a_slow_formula():
    """A valid limit is armed: 30 nested sines take far longer than 0.2 s to print."""
    with open(os.path.join(os.path.dirname(__file__), "data", "repro",
                           "diff_sin_nested30.txt"), encoding="utf-8") as fh:
        formula = fh.read().strip()
    t0 = time.monotonic()
    r = invoke([formula, "--wrt", "x", "--time-limit", "0.2"])
    took = time.monotonic() - t0
    if r.exit_code == 0:
        pytest.skip("this formula is now fast; the limit has nothing to stop")
    assert r.exit_code == 2 and "limit exceeded" in stderr_of(r), stderr_of(r)[:300]
    assert took < 20


@pytest.mark.parametrize("seed", ["0", "-7", "1" * 40, "-" + "9" * 40, "2" * 25])
def test_large_and_negative_seeds_work(seed):
    r = invoke(["x^\\top A x", "--wrt", "x", "--seed", seed, "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["verified"] is True


def test_same_seed_same_check_different_seed_different_draws():
    a = json.loads(invoke(["x^\\top A x", "--wrt", "x", "--seed", "1" * 40, "--format",
                           "json"]).stdout)
    b = json.loads(invoke(["x^\\top A x", "--wrt", "x", "--seed", "1" * 40, "--format",
                           "json"]).stdout)
    assert a == b


@pytest.mark.parametrize("seed", ["1" * 41, "9" * 5000, "1.5", "1e3", "x", "٣"])
def test_bad_seed_is_a_short_usage_error(seed):
    r = invoke(["x^2", "--wrt", "x", "--seed", seed])
    assert r.exit_code == 2, r.output
    err = stderr_of(r)
    assert "--seed" in err and "40 digits" in err and len(err) < 600, err[:700]


# ------------------------------------------------------------ L1: strict JSON

def _strict_loads(text: str):
    def refuse(name):
        raise AssertionError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("value", [math.inf, math.nan, -math.inf])
def test_json_is_strict_when_the_error_is_not_finite(monkeypatch, value):
    import texgrad.check as CK
    real = CK.check_gradient

    def check(*args, **kwargs):
        c = real(*args, **kwargs)
        c.max_rel_error = value
        c.passed = False
        return c
    monkeypatch.setattr(CK, "check_gradient", check)
    r = invoke(["x^\\top A x", "--wrt", "x", "--format", "json"])
    assert r.exit_code == 1, r.output
    doc = _strict_loads(r.stdout)
    assert doc["max_rel_error"] is None and doc["verified"] is False
    assert doc["check"]["max_rel_error"] is None


def test_json_success_and_error_are_strict():
    _strict_loads(invoke(["x^\\top A x", "--wrt", "x", "--format", "json"]).stdout)
    doc = _strict_loads(invoke(["x^\\top A +", "--wrt", "x", "--format", "json"]).stdout)
    assert doc["ok"] is False


# ------------------------------------------------------------ F5: the stamp is one line

HOSTILE = '% verified\nimport os; os.system("echo PWNED") #\r\x0b\x1c\x85\u2028\u2029 done'


@pytest.fixture
def hostile_stamp(monkeypatch):
    monkeypatch.setattr(texgrad.api.Result, "stamp", property(lambda self: HOSTILE))


def test_emit_stamp_cannot_leave_its_comment(hostile_stamp):
    r = invoke(["x^\\top A x", "--wrt", "x", "--emit", "numpy"])
    assert r.exit_code == 0, r.output
    tree = ast.parse(r.stdout)                  # it compiles
    mods = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(a.name != "os" for n in mods for a in n.names)
    last = r.stdout.splitlines()[-1]
    assert last.startswith("# verified") and last.endswith("done")
    assert r.stdout.splitlines()[-1] == r.stdout.rstrip("\n").split("\n")[-1]


@pytest.mark.parametrize("fmt", ["latex", "text"])
def test_latex_and_text_stamp_is_one_line(hostile_stamp, fmt):
    r = invoke(["x^\\top A x", "--wrt", "x", "--format", fmt])
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert len(lines) == (2 if fmt == "latex" else 3), lines
    if fmt == "latex":
        assert lines[1].startswith("% verified")


def test_dimension_name_with_a_newline_never_reaches_the_code():
    r = invoke(["\\mathbf{x}^\\top\\mathbf{x}", "--wrt", "x", "--shape",
                'x=n\nimport os; os.system("echo PWNED") #', "--emit", "numpy"])
    assert r.exit_code == 2
    assert "import os" not in r.stdout


# ------------------------------------------------------------ exit 3 never for bad input

@pytest.mark.parametrize("args", [
    ["x^2", "--wrt", "x", "--time-limit", "inf"],
    ["x^2", "--wrt", "x", "--time-limit", "1e300"],
    ["x^2", "--wrt", "x", "--seed", "9" * 5000],
    ["x^2", "--wrt", "x", "--shape", "x=0"],
    ["x^2", "--wrt", "x", "--format", "yaml"],
    ["x^2", "--wrt"],
    ["x^2", "--kind", "hessian2", "--wrt", "x"],
])
def test_bad_options_exit_2(args):
    r = invoke(args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output


# ------------------------------------------------------------ item 5: unknown names are said

def test_result_warnings_are_shown_in_the_stamp_line(monkeypatch):
    import texgrad.api as api
    real = api.differentiate

    def warned(*args, **kwargs):
        import dataclasses            # a Result is frozen: a changed copy
        return dataclasses.replace(real(*args, **kwargs), warnings=[
            "--shape z: the formula has no symbol z\n(symbols: x)"])
    monkeypatch.setattr(api, "differentiate", warned)
    for args, line in ((["--format", "latex"], 1), (["--emit", "numpy"], -1),
                       (["--format", "text"], 2)):
        r = invoke(["x^2", "--wrt", "x", *args])
        assert r.exit_code == 0, r.output
        shown = r.stdout.splitlines()[line]
        # in the stamp (api.py's "note: ...", or the CLI's "warning: ..."), once, on one line
        assert shown.count("--shape z: the formula has no symbol z (symbols: x)") == 1, shown
        assert stderr_of(r) == ""


def test_misspelled_shape_name_is_not_ignored_without_a_word():
    r = invoke(["\\mathbf{x}^\\top A \\mathbf{x}", "--wrt", "x", "--shape", "Q=n,n"])
    assert r.exit_code in (0, 2), r.output
    said = r.stdout.splitlines()[-1] if r.exit_code == 0 else stderr_of(r)
    import dataclasses
    fields = {f.name for f in dataclasses.fields(texgrad.api.Result)}
    if "Q" not in said and "warnings" not in fields and \
            not hasattr(texgrad.api.Result, "warnings"):
        pytest.xfail("api.py does not report unknown --shape names yet (issue 9, item 5)")
    assert "Q" in said, said
