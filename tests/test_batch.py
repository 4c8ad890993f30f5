"""``texgrad batch IN -o OUT``: records in = records out, in order; error records; time
limits; --resume after a crash; -j N; --engine dask.

Most cases run through click's CliRunner; one real subprocess run is killed with SIGKILL
halfway and resumed, and must give the same bytes as an uninterrupted run.  The test hooks
(TEXGRAD_BATCH_TEST_SLEEP/CRASH/HANG) are described in texgrad.batch's docstring.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import texgrad
from texgrad import batch as B
from clirun import invoke, stderr_of

CASES = Path(__file__).parent / "data" / "cases.jsonl"
MALFORMED = [
    '{"id": "cut", "latex": "\\\\mathbf{x}^T',                # cut short
    "{not json}",
    "[1, 2]",                                                # JSON, not an object
    '{"id": "nolatex", "wrt": "x"}',                          # no latex
    '{"id": "badsyntax", "latex": "\\\\frac{A", "wrt": "A"}',  # a syntax error
    '{"id": "badshape", "latex": "A x", "shapes": {"A": {"m": 1}}}',  # not a list
]


def corpus_records() -> list[dict]:
    """tests/data/cases.jsonl as batch records (symbols -> shapes and assume)."""
    out = []
    with open(CASES, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            c = json.loads(line)
            rec = {"id": c["id"], "latex": c["latex"], "wrt": c["wrt"],
                   "shapes": {k: v["shape"] for k, v in c["symbols"].items()}}
            assume = {k: v["assume"] for k, v in c["symbols"].items() if v.get("assume")}
            if assume:
                rec["assume"] = assume
            rec["kind"] = c["kind"]
            out.append(rec)
    return out


def write_corpus(path: Path, n: int, bad_every: int = 37, blank_every: int = 50) -> int:
    """n records: the corpus repeated (ids made unique) with a malformed line every
    ``bad_every`` records and a blank line (not a record) every ``blank_every``."""
    recs = corpus_records()
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            if i % bad_every == bad_every // 2:
                fh.write(MALFORMED[(i // bad_every) % len(MALFORMED)] + "\n")
            else:
                r = dict(recs[i % len(recs)], id=f"{recs[i % len(recs)]['id']}#{i}")
                fh.write(json.dumps(r) + "\n")
            if i % blank_every == 3:
                fh.write("\n")
    return n


def run(args, input=None, env=None):
    return invoke(["batch", *args], input=input, env=env)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --------------------------------------------------------------------- text and JSON Lines

def test_text_mode(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("\\mathbf{x}^T A \\mathbf{x}\n\n   \n\\|A\\mathbf{x} - \\mathbf{b}\\|^2\n"
                   "\\mathbf{x}^T (A\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = run([str(src), "-o", str(out), "--wrt", "\\mathbf{x}", "--shape", "A=n,n"])
    assert r.exit_code == 0, r.output
    recs = records(out)
    assert [x["index"] for x in recs] == [0, 1, 2]          # blank lines are not records
    assert [x["ok"] for x in recs] == [True, True, False]
    assert all(x["id"] is None for x in recs)
    want = texgrad.differentiate("\\mathbf{x}^T A \\mathbf{x}", wrt="\\mathbf{x}",
                                 shapes={"A": ("n", "n")})
    assert recs[0]["derivative"] == want.latex and recs[0]["verified"] is True
    assert recs[0]["shapes"]["A"] == ["n", "n"]
    assert recs[2]["input"] == "\\mathbf{x}^T (A" and recs[2]["kind"] == "syntax error"
    assert recs[2]["line"] == 1 and recs[2]["column"] and recs[2]["hint"]
    err = stderr_of(r)
    assert "3 records" in err and "2 ok" in err and "1 errors" in err and "records/s" in err


def test_jsonl_with_malformed_lines(tmp_path):
    src = tmp_path / "in.jsonl"
    good = corpus_records()[:4]
    lines = [json.dumps(good[0]), MALFORMED[0], "", json.dumps(good[1]), MALFORMED[1],
             MALFORMED[2], MALFORMED[3], json.dumps(good[2]), MALFORMED[4], MALFORMED[5],
             json.dumps(good[3])]
    src.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe\n")   # not UTF-8
    out = tmp_path / "out.jsonl"
    r = run([str(src), "-o", str(out)])
    assert r.exit_code == 0, r.output
    recs = records(out)
    assert len(recs) == 11 and [x["index"] for x in recs] == list(range(11))
    assert [x["ok"] for x in recs] == [True, False, True, False, False, False, True, False,
                                       False, True, False]
    assert [x["id"] for x in recs if x["ok"]] == [g["id"] for g in good]
    kinds = [x["kind"] for x in recs if not x["ok"]]
    assert kinds == ["bad record", "bad record", "bad record", "bad record", "syntax error",
                     "bad record", "bad record"]
    assert recs[1]["input"] == MALFORMED[0] and "malformed JSON" in recs[1]["error"]
    assert recs[5]["id"] == "nolatex" and "latex" in recs[5]["error"]
    assert recs[7]["id"] == "badsyntax" and recs[8]["id"] == "badshape"
    assert "UTF-8" in recs[10]["error"]
    for x in recs:
        if not x["ok"]:
            assert set(x) == {"index", "id", "ok", "input", "error", "kind", "line", "column",
                              "hint"}
    # --strict: an error record makes the exit status 1; OUT is the same
    out2 = tmp_path / "out2.jsonl"
    r = run([str(src), "-o", str(out2), "--strict"])
    assert r.exit_code == 1
    assert out2.read_bytes() == out.read_bytes()


def test_record_fields_override_options(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in [
        {"id": 1, "latex": "\\operatorname{tr}(X^T A X)"},                    # --wrt X
        {"id": 2, "latex": "\\mathbf{x}^T W \\mathbf{x}", "wrt": "\\mathbf{x}",
         "assume": {"W": "symmetric"}},                                      # a string
        {"id": 3, "latex": "X^T X", "symbols": {"X": {"shape": ["m", "n"], "assume": []}},
         "kind": "derivative"},
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = run([str(src), "-o", str(out), "--wrt", "X"])
    assert r.exit_code == 0, r.output
    recs = records(out)
    assert all(x["ok"] and x["verified"] for x in recs), recs
    assert recs[0]["wrt"] == "X" and recs[1]["wrt"] == "x"
    assert recs[1]["derivative"] == texgrad.differentiate(
        "\\mathbf{x}^T W \\mathbf{x}", wrt="\\mathbf{x}", assume={"W": ("symmetric",)}).latex
    assert recs[2]["kind"] == "derivative" and recs[2]["shapes"]["X"] == ["m", "n"]


def test_corpus_file_runs_as_it_is(tmp_path):
    """The corpus's own records (symbols instead of shapes/assume) are accepted."""
    out = tmp_path / "out.jsonl"
    r = run([str(CASES), "-o", str(out)])
    assert r.exit_code == 0, r.output
    recs = records(out)
    n = sum(1 for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip())
    assert len(recs) == n
    assert all(x["ok"] and x["verified"] for x in recs), [x for x in recs if not x["ok"]]


def test_stdout_and_stdin(tmp_path):
    r = run(["-", "-o", "-", "--wrt", "x", "--input-format", "text"],
            input="x^2\n\\sin(x)\n")
    assert r.exit_code == 0
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["derivative"] for x in recs] == ["2x", "\\cos(x)"]


# --------------------------------------------------------------------- -j N and order

def test_jobs_2_same_bytes_as_jobs_1(tmp_path):
    src = tmp_path / "in.jsonl"
    n = write_corpus(src, 150)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert run([str(src), "-o", str(one), "-j", "1"]).exit_code == 0
    assert run([str(src), "-o", str(two), "-j", "2"]).exit_code == 0
    assert two.read_bytes() == one.read_bytes()
    recs = records(two)
    assert [x["index"] for x in recs] == list(range(n))
    ids = [x["id"] for x in recs if x["ok"]]
    assert ids == sorted(ids, key=lambda s: int(s.split("#")[1]))


# --------------------------------------------------------------------- failures

def test_internal_error_is_a_record(tmp_path, monkeypatch):
    real = texgrad.api.differentiate

    def flaky(latex, **kw):
        if "BOOM" in latex:
            raise ZeroDivisionError("boom")
        return real(latex, **kw)

    monkeypatch.setattr(texgrad.api, "differentiate", flaky)
    src = tmp_path / "in.txt"
    src.write_text("x^2\nBOOM + x\nx^3\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = run([str(src), "-o", str(out), "--wrt", "x"])
    assert r.exit_code == 0
    recs = records(out)
    assert [x["ok"] for x in recs] == [True, False, True]
    assert recs[1]["kind"] == "internal" and "ZeroDivisionError: boom" in recs[1]["error"]


def test_timeout_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXGRAD_BATCH_TEST_SLEEP", "SLOWME=5")
    src = tmp_path / "in.txt"
    src.write_text("x^2\nSLOWME + x\nx^3\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    t0 = time.monotonic()
    r = run([str(src), "-o", str(out), "--wrt", "x", "--timeout", "0.3"])
    assert time.monotonic() - t0 < 4
    assert r.exit_code == 0
    recs = records(out)
    assert [x["ok"] for x in recs] == [True, False, True]
    assert recs[1]["kind"] == "timeout" and "0.3 s" in recs[1]["error"]
    assert "(1 timeouts" in stderr_of(r) or stderr_of(r) == ""   # "" with click < 8.2
    # the timer is gone: nothing fires after the batch
    time.sleep(0.5)


def test_timeout_crash_and_hang_in_workers(tmp_path, monkeypatch):
    """-j 2: a slow record (the worker's timer), a worker that dies, and a record that ignores
    the timer (the parent's hard limit kills its worker); the batch goes on."""
    monkeypatch.setenv("TEXGRAD_BATCH_TEST_SLEEP", "SLOWME=30")
    monkeypatch.setenv("TEXGRAD_BATCH_TEST_CRASH", "CRASHME")
    monkeypatch.setenv("TEXGRAD_BATCH_TEST_HANG", "HANGME")
    src = tmp_path / "in.txt"
    src.write_text("x^2\nSLOWME + x\nCRASHME + x\nx^3\nHANGME + x\n\\sin(x)\nx^4\n",
                   encoding="utf-8")
    out = tmp_path / "out.jsonl"
    t0 = time.monotonic()
    r = run([str(src), "-o", str(out), "--wrt", "x", "--timeout", "0.4", "-j", "2"])
    assert time.monotonic() - t0 < 20
    assert r.exit_code == 0
    recs = records(out)
    assert [x["index"] for x in recs] == list(range(7))
    assert [x["ok"] for x in recs] == [True, False, False, True, False, True, True]
    assert [recs[i]["kind"] for i in (1, 2, 4)] == ["timeout", "internal", "timeout"]
    assert recs[2]["input"] == "CRASHME + x" and "died" in recs[2]["error"]
    assert recs[4] == {**recs[1], "index": 4, "input": "HANGME + x"}
    assert [recs[i]["derivative"] for i in (3, 5, 6)] == ["3x^{2}", "\\cos(x)", "4x^{3}"]


def test_deadline_in_a_thread(monkeypatch):
    """Off the main thread (Dask workers) the limit is an asynchronous exception."""
    monkeypatch.setenv("TEXGRAD_BATCH_TEST_SLEEP", "SLOWME=0.6")
    cfg = {"mode": "text", "wrt": "x", "timeout": 0.2}
    got = {}

    def body():
        got["slow"] = B.process_record(7, b"SLOWME + x\n", cfg)
        got["next"] = B.process_record(8, b"x^2\n", cfg)
        time.sleep(0.5)             # no stray exception arrives later
        got["done"] = True

    t = threading.Thread(target=body)
    t.start()
    t.join(10)
    status, line = got["slow"]
    assert status == "timeout" and json.loads(line)["kind"] == "timeout"
    assert got["next"][0] == "ok" and got["done"]


def test_dask_missing_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    src = tmp_path / "in.txt"
    src.write_text("x^2\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = run([str(src), "-o", str(out), "--engine", "dask"])
    assert r.exit_code == 2
    assert "pip install 'texgrad[dask]'" in stderr_of(r) + r.output
    assert not out.exists()


# --------------------------------------------------------------------- --resume

def test_resume_after_a_cut_last_line(tmp_path):
    src = tmp_path / "in.jsonl"
    n = write_corpus(src, 80)
    full = tmp_path / "full.jsonl"
    assert run([str(src), "-o", str(full)]).exit_code == 0
    data = full.read_bytes()
    lines = data.splitlines(keepends=True)
    for keep in (0, 1, 37, n - 1, n):
        part = tmp_path / f"part{keep}.jsonl"
        cut = b"".join(lines[:keep])
        if keep < n:
            cut += lines[keep][: len(lines[keep]) // 2]        # a torn write
        part.write_bytes(cut)
        r = run([str(src), "-o", str(part), "--resume", "-j", "2" if keep == 37 else "1"])
        assert r.exit_code == 0, stderr_of(r)
        assert part.read_bytes() == data, keep
        if 0 < keep < n:
            assert f"{keep} kept from before" in stderr_of(r) or stderr_of(r) == ""
    # --resume with no OUT yet is a fresh run
    fresh = tmp_path / "fresh.jsonl"
    assert run([str(src), "-o", str(fresh), "--resume"]).exit_code == 0
    assert fresh.read_bytes() == data
    # without --resume OUT is overwritten
    assert run([str(src), "-o", str(fresh)]).exit_code == 0
    assert fresh.read_bytes() == data


def test_resume_refuses_another_input(tmp_path):
    src = tmp_path / "in.jsonl"
    write_corpus(src, 30)
    out = tmp_path / "out.jsonl"
    assert run([str(src), "-o", str(out)]).exit_code == 0
    other = tmp_path / "other.jsonl"
    recs = corpus_records()
    other.write_text("\n".join(json.dumps(dict(r, id=f"other-{i}"))
                               for i, r in enumerate(recs[:40])) + "\n", encoding="utf-8")
    before = out.read_bytes()
    r = run([str(other), "-o", str(out), "--resume"])
    assert r.exit_code == 2 and "--resume" in stderr_of(r) + r.output
    assert out.read_bytes() == before
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps(recs[0]) + "\n", encoding="utf-8")
    assert run([str(short), "-o", str(out), "--resume"]).exit_code == 2


def _env_for_subprocess() -> dict:
    env = dict(os.environ)
    here = str(Path(texgrad.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([here] + [p for p in
                                                  env.get("PYTHONPATH", "").split(os.pathsep)
                                                  if p])
    env.pop("TEXGRAD_BATCH_TEST_SLEEP", None)
    return env


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(1 for _ in fh)
    except FileNotFoundError:
        return 0


def test_kill_9_then_resume_gives_the_same_file(tmp_path):
    """A real `python -m texgrad batch -j 2`, killed with SIGKILL halfway, then --resume:
    byte-for-byte the file of an uninterrupted run."""
    src = tmp_path / "big.jsonl"
    n = write_corpus(src, 600)
    env = _env_for_subprocess()
    cmd = [sys.executable, "-m", "texgrad", "batch", str(src), "-j", "2"]
    full = tmp_path / "full.jsonl"
    done = subprocess.run(cmd + ["-o", str(full)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert _count_lines(full) == n
    assert "records/s" in done.stderr

    out = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(cmd + ["-o", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _count_lines(out) < n // 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    at_kill = _count_lines(out)
    assert 0 < at_kill < n, at_kill
    resumed = subprocess.run(cmd + ["-o", str(out), "--resume"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == full.read_bytes()
    assert "kept from before" in resumed.stderr


# --------------------------------------------------------------------- Dask

def test_dask_local_cluster_same_output(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv("TEXGRAD_BATCH_TEST_SLEEP", "SLOWME=1")
    src = tmp_path / "in.jsonl"
    n = write_corpus(src, 90)
    with open(src, "a", encoding="utf-8") as fh:   # a slow record: timeout in both engines
        fh.write(json.dumps({"id": "slow", "latex": "SLOWME + x", "wrt": "x"}) + "\n")
    local, dask = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    assert run([str(src), "-o", str(local), "--timeout", "0.3"]).exit_code == 0
    r = run([str(src), "-o", str(dask), "--timeout", "0.3", "--engine", "dask", "-j", "2"])
    assert r.exit_code == 0, stderr_of(r)
    assert dask.read_bytes() == local.read_bytes()
    recs = records(dask)
    assert len(recs) == n + 1 and recs[-1]["kind"] == "timeout"
