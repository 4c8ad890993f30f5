"""``texgrad batch`` under faults (issue 9 item 7; FINDINGS F4, F9, F15, L2, L3): OUT is never
truncated before the first record is ready, nothing about one record stops the batch, a full
disk is exit 3 with the count of complete records, lines of IN are capped, OUT is locked and
--resume checks every kept record, records are one strict-JSON line for every line splitter,
SIGTERM/SIGHUP end a batch like Ctrl-C.  The reproducers are tests/data/repro/batch_*.jsonl.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import texgrad
from texgrad import batch as B
from texgrad import batchio as BIO
from clirun import invoke, stderr_of

REPRO = Path(__file__).parent / "data" / "repro"
SURROGATE = REPRO / "batch_lone_surrogate.jsonl"
U2028 = REPRO / "batch_u2028.jsonl"
OLD = b"precious: an earlier batch's records\n" * 5000        # 185,000 bytes


def run(args, input=None, env=None):
    return invoke(["batch", *args], input=input, env=env)


def strict_records(data: bytes) -> list[dict]:
    """OUT parsed as strict JSON Lines: UTF-8, no NaN/Infinity, one record per line for
    every line splitter (str.splitlines too)."""
    def no_constant(name):
        raise AssertionError(f"not strict JSON: {name}")
    text = data.decode("utf-8")
    assert text == "" or text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == text.count("\n")
    return [json.loads(line, parse_constant=no_constant) for line in lines]


def env_for_subprocess(**extra) -> dict:
    env = dict(os.environ)
    here = str(Path(texgrad.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([here] + [p for p in
                                                  env.get("PYTHONPATH", "").split(os.pathsep)
                                                  if p])
    for k in ("TEXGRAD_BATCH_TEST_SLEEP", "TEXGRAD_BATCH_TEST_CRASH", "TEXGRAD_BATCH_TEST_HANG",
              "TEXGRAD_BATCH_TEST_NOSTART", "TEXGRAD_DEBUG"):
        env.pop(k, None)
    env.update(extra)
    return env


def texgrad_batch(args, **kw):
    return [sys.executable, "-m", "texgrad", "batch", *args]


def text_input(path: Path, n: int, slow_at: int | None = None) -> Path:
    lines = [f"x^{k + 2} + {k}x" for k in range(n)]
    if slow_at is not None:
        lines[slow_at] = "SLOWME + " + lines[slow_at]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------- item 7: OUT kept

def test_workers_that_cannot_start_leave_out_as_it_was(tmp_path, monkeypatch):
    """-j 2 whose worker processes never start: exit 3, and an existing OUT is not emptied
    (with --resume neither its records nor its torn tail are touched); a new OUT is not
    created."""
    monkeypatch.setenv("TEXGRAD_BATCH_TEST_NOSTART", "1")
    src = text_input(tmp_path / "in.txt", 4)
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD)
    r = run([str(src), "-o", str(out), "--wrt", "x", "-j", "2"])
    assert r.exit_code == 3
    assert "cannot start" in stderr_of(r)
    assert out.read_bytes() == OLD
    fresh = tmp_path / "fresh.jsonl"
    assert run([str(src), "-o", str(fresh), "--wrt", "x", "-j", "2"]).exit_code == 3
    assert not fresh.exists()
    # --resume: the kept records and the incomplete line after them stay
    monkeypatch.delenv("TEXGRAD_BATCH_TEST_NOSTART")
    full = tmp_path / "full.jsonl"
    assert run([str(src), "-o", str(full), "--wrt", "x"]).exit_code == 0
    part = full.read_bytes()[: full.read_bytes().index(b"\n", 10) + 30]      # 1 + torn
    out.write_bytes(part)
    monkeypatch.setenv("TEXGRAD_BATCH_TEST_NOSTART", "1")
    r = run([str(src), "-o", str(out), "--wrt", "x", "-j", "2", "--resume"])
    assert r.exit_code == 3 and out.read_bytes() == part
    monkeypatch.delenv("TEXGRAD_BATCH_TEST_NOSTART")
    r = run([str(src), "-o", str(out), "--wrt", "x", "--resume"])
    assert r.exit_code == 0 and out.read_bytes() == full.read_bytes()


def test_an_engine_that_fails_before_any_record_keeps_out(tmp_path, monkeypatch):
    def broken(records, cfg, writer):
        raise B.BatchFailure("the engine did not start")

    monkeypatch.setattr(B, "run_inline", broken)
    src = text_input(tmp_path / "in.txt", 3)
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD)
    for extra in ([], ["--resume"]):
        r = run([str(src), "-o", str(out), "--wrt", "x", *extra])
        assert r.exit_code == 3 and "did not start" in stderr_of(r)
        assert out.read_bytes() == OLD


def test_a_failure_after_some_records_loses_no_written_record(tmp_path, monkeypatch):
    """--resume on 2 kept records; the engine writes 2 more and then dies: OUT holds the 4,
    complete; a second --resume completes the file byte for byte."""
    src = text_input(tmp_path / "in.txt", 8)
    full = tmp_path / "full.jsonl"
    assert run([str(src), "-o", str(full), "--wrt", "x"]).exit_code == 0
    lines = full.read_bytes().splitlines(keepends=True)
    real = B.run_inline

    def dies(records, cfg, writer):
        def some():
            for item in records:
                if item[0] == 4:
                    raise RuntimeError("the engine broke")
                yield item
        real(some(), cfg, writer)

    monkeypatch.setattr(B, "run_inline", dies)
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(lines[:2]))
    r = run([str(src), "-o", str(out), "--wrt", "x", "--resume"])
    assert r.exit_code == 3 and "the engine broke" in stderr_of(r)
    assert out.read_bytes() == b"".join(lines[:4])
    monkeypatch.setattr(B, "run_inline", real)
    r = run([str(src), "-o", str(out), "--wrt", "x", "--resume"])
    assert r.exit_code == 0 and out.read_bytes() == full.read_bytes()


def test_unreachable_dask_scheduler_keeps_out(tmp_path):
    pytest.importorskip("distributed")
    import dask
    src = text_input(tmp_path / "in.txt", 3)
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD)
    fresh = tmp_path / "fresh.jsonl"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        for extra in ([], ["--resume"]):
            r = run([str(src), "-o", str(out), "--wrt", "x", "--engine", "dask",
                     "--scheduler", "tcp://127.0.0.1:1", *extra])
            assert r.exit_code == 3, stderr_of(r)
            assert "cannot reach the Dask scheduler" in stderr_of(r)
            assert out.read_bytes() == OLD
        r = run([str(src), "-o", str(fresh), "--wrt", "x", "--engine", "dask",
                 "--scheduler", "tcp://127.0.0.1:1"])
        assert r.exit_code == 3 and not fresh.exists()


def test_out_is_replaced_once_the_first_record_is_ready(tmp_path):
    src = text_input(tmp_path / "in.txt", 3)
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD)
    assert run([str(src), "-o", str(out), "--wrt", "x"]).exit_code == 0
    recs = strict_records(out.read_bytes())
    assert [x["index"] for x in recs] == [0, 1, 2]
    # an empty IN gives an empty OUT (as before)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert run([str(empty), "-o", str(out), "--wrt", "x"]).exit_code == 0
    assert out.read_bytes() == b""


# --------------------------------------------------------------------- F4: one record

@pytest.mark.parametrize("jobs", ["1", "2"])
def test_lone_surrogate_is_an_error_record_and_the_batch_goes_on(tmp_path, jobs):
    out = tmp_path / "out.jsonl"
    r = run([str(SURROGATE), "-o", str(out), "-j", jobs])
    assert r.exit_code == 0, stderr_of(r)
    recs = strict_records(out.read_bytes())
    assert [x["index"] for x in recs] == [0, 1, 2]
    assert [x["ok"] for x in recs] == [True, False, True]
    assert recs[1]["id"] == "b" and recs[1]["input"] == "\ud800x"
    assert recs[2]["derivative"] == "3x^{2}"
    assert b"\\ud800" in out.read_bytes()           # an escape, not an unencodable char
    # --resume after record 0: the rest is written, byte for byte
    full = out.read_bytes()
    out.write_bytes(full[: full.index(b"\n") + 1])
    r = run([str(SURROGATE), "-o", str(out), "--resume"])
    assert r.exit_code == 0 and out.read_bytes() == full


def test_lone_surrogate_to_stdout():
    r = run([str(SURROGATE), "-o", "-"])
    assert r.exit_code == 0
    recs = strict_records(r.stdout_bytes)
    assert [x["ok"] for x in recs] == [True, False, True]


def test_a_record_that_cannot_be_written_is_an_internal_record(tmp_path, monkeypatch):
    """Whatever a record's line holds (here: text no UTF-8 encoder takes, a line break), the
    writer turns it into an error record and the batch goes on."""
    real = B.process_record

    def odd(index, raw, cfg):
        if b"BAD1" in raw:
            return "ok", "\udcff"
        if b"BAD2" in raw:
            return "ok", '{"a": 1}\n{"b": 2}'
        return real(index, raw, cfg)

    monkeypatch.setattr(B, "process_record", odd)
    src = tmp_path / "in.txt"
    src.write_text("x^2\nBAD1\nx^3\nBAD2\nx^4\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = run([str(src), "-o", str(out), "--wrt", "x"])
    assert r.exit_code == 0
    recs = strict_records(out.read_bytes())
    assert [x["index"] for x in recs] == [0, 1, 2, 3, 4]
    assert [x["ok"] for x in recs] == [True, False, True, False, True]
    assert recs[1]["kind"] == recs[3]["kind"] == "internal"
    assert "UnicodeEncodeError" in recs[1]["error"] and "line break" in recs[3]["error"]
    assert "2 internal)" in stderr_of(r) or stderr_of(r) == ""


# --------------------------------------------------------------------- F9: full disk, long lines

def test_full_disk_is_exit_3_without_traceback():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    proc = subprocess.run(texgrad_batch([str(SURROGATE), "-o", "/dev/full"]),
                          env=env_for_subprocess(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "No space left on device" in proc.stderr
    assert "0 complete records in /dev/full" in proc.stderr
    assert "3 records" not in proc.stderr


def test_a_write_that_fails_halfway_leaves_complete_records(tmp_path):
    """A file size limit (RLIMIT_FSIZE: EFBIG, like a disk that fills) cuts a write
    halfway: OUT is cut back to the last complete record, the message counts them, and
    --resume completes the file byte for byte."""
    src = text_input(tmp_path / "in.txt", 12)
    full = tmp_path / "full.jsonl"
    assert run([str(src), "-o", str(full), "--wrt", "x"]).exit_code == 0
    data = full.read_bytes()
    limit = len(data) // 2

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "out.jsonl"
    proc = subprocess.run(texgrad_batch([str(src), "-o", str(out), "--wrt", "x"]),
                          env=env_for_subprocess(), capture_output=True, text=True,
                          timeout=120, preexec_fn=small_files)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    got = out.read_bytes()
    recs = strict_records(got)                  # complete lines only, no torn one
    assert 0 < len(recs) < 12 and data.startswith(got)
    assert f"{len(recs)} complete records in {out}" in proc.stderr
    r = run([str(src), "-o", str(out), "--wrt", "x", "--resume"])
    assert r.exit_code == 0 and out.read_bytes() == data


def test_an_overlong_line_is_a_bad_record_and_reading_goes_on(tmp_path):
    src = tmp_path / "in.jsonl"
    huge = json.dumps({"id": "huge", "latex": "x" * (3 * BIO.MAX_LINE), "wrt": "x"})
    src.write_text("\n".join([json.dumps({"id": "a", "latex": "x^2", "wrt": "x"}), huge,
                              " " * (2 * BIO.MAX_LINE),        # a long blank line: no record
                              json.dumps({"id": "c", "latex": "x^3", "wrt": "x"})]) + "\n",
                   encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = run([str(src), "-o", str(out)])
    assert r.exit_code == 0, stderr_of(r)
    recs = strict_records(out.read_bytes())
    assert [x["index"] for x in recs] == [0, 1, 2]
    assert [x["ok"] for x in recs] == [True, False, True]
    assert recs[1]["kind"] == "bad record" and "longer than" in recs[1]["error"]
    assert len(recs[1]["input"]) < 1000 and recs[2]["id"] == "c"
    # --resume checks the overlong record against IN too
    data = out.read_bytes()
    out.write_bytes(data[: data.index(b"\n", data.index(b"\n") + 1) + 1])
    r = run([str(src), "-o", str(out), "--resume"])
    assert r.exit_code == 0 and out.read_bytes() == data


class EndlessZeros:
    """/dev/zero as a file object that records how much any one read asks for."""

    def __init__(self):
        self.largest = 0
        self.read = 0

    def readline(self, size=-1):
        assert size > 0, "an unbounded read"
        self.largest = max(self.largest, size)
        self.read += size
        return b"\0" * size


def test_read_lines_never_holds_a_whole_line():
    fh = EndlessZeros()
    first = next(BIO.read_lines(fh))    # yielded at once, though the line never ends
    assert isinstance(first, BIO.OverlongLine) and len(first) <= 200
    assert fh.largest <= BIO.MAX_LINE + 1
    # the real /dev/zero, a few MB of it, bounded memory
    if os.path.exists("/dev/zero"):
        with open("/dev/zero", "rb") as z:
            lines = BIO.read_lines(z)
            assert isinstance(next(lines), BIO.OverlongLine)


def test_dev_zero_gives_a_bad_record_not_a_memory_error(tmp_path):
    """`texgrad batch /dev/zero` under a 1.5 GB address-space limit: the first record (a bad
    record) is written at once; the batch then reads the endless line in pieces, and SIGTERM
    ends it with the summary."""
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    out = tmp_path / "z.jsonl"

    def bounded():
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

    proc = subprocess.Popen(texgrad_batch(["/dev/zero", "-o", str(out)]),
                            env=env_for_subprocess(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=bounded)
    deadline = time.monotonic() + 60
    while (not out.exists() or not out.read_bytes().endswith(b"\n")) and \
            proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)                     # well past the first MB: still alive, no MemoryError
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=30)[1]
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "MemoryError" not in err
    recs = strict_records(out.read_bytes())
    assert len(recs) == 1 and recs[0]["kind"] == "bad record"
    assert "longer than" in recs[0]["error"]


# --------------------------------------------------------------------- F15: lock, prefix

def test_a_locked_out_is_refused(tmp_path):
    src = text_input(tmp_path / "in.txt", 3)
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD)
    with open(out, "rb+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        for extra in ([], ["--resume"]):
            r = run([str(src), "-o", str(out), "--wrt", "x", *extra])
            assert r.exit_code == 2
            assert "locked" in stderr_of(r) and "another texgrad batch" in stderr_of(r)
            assert out.read_bytes() == OLD
    # released: the batch runs
    assert run([str(src), "-o", str(out), "--wrt", "x"]).exit_code == 0


def test_two_batches_on_one_out(tmp_path):
    """A real second batch while the first is writing OUT: refused (exit 2); the first
    completes a clean file."""
    src = text_input(tmp_path / "in.txt", 6, slow_at=2)
    other = text_input(tmp_path / "other.txt", 4)
    out = tmp_path / "out.jsonl"
    env = env_for_subprocess(TEXGRAD_BATCH_TEST_SLEEP="SLOWME=3")
    first = subprocess.Popen(texgrad_batch([str(src), "-o", str(out), "--wrt", "x"]),
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 60
    while (not out.exists() or out.read_bytes().count(b"\n") < 2) and \
            time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    second = run([str(other), "-o", str(out), "--wrt", "x"])
    assert first.poll() is None, "the first batch ended too soon for the test"
    assert second.exit_code == 2 and "locked" in stderr_of(second)
    err = first.communicate(timeout=60)[1]
    assert first.returncode == 0, err
    recs = strict_records(out.read_bytes())
    assert [x["index"] for x in recs] == list(range(6))
    assert recs[3]["input"] == "x^5 + 3x"


def test_resume_checks_every_kept_record(tmp_path):
    """F15: 40 records, OUT cut to 30, record 6 of IN edited: --resume refuses and says which
    record and field differ; OUT is untouched.  An edited id is found the same way."""
    src = tmp_path / "in.jsonl"
    recs = [{"id": f"r{k}", "latex": f"x^{k + 2}", "wrt": "x"} for k in range(40)]
    src.write_text("".join(json.dumps(x) + "\n" for x in recs), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run([str(src), "-o", str(out)]).exit_code == 0
    cut = b"".join(out.read_bytes().splitlines(keepends=True)[:30])
    for field, value, shown in (("latex", "x^{99}", "'x^{99}'"), ("id", "r6-new", "'r6-new'")):
        edited = [dict(x) for x in recs]
        edited[6][field] = value
        src.write_text("".join(json.dumps(x) + "\n" for x in edited), encoding="utf-8")
        out.write_bytes(cut)
        r = run([str(src), "-o", str(out), "--resume"])
        assert r.exit_code == 2
        err = stderr_of(r)
        want = "input" if field == "latex" else "id"
        assert f"record 6 of {out} is not record 6 of {src}: its {want}" in err, err
        assert shown in err
        assert out.read_bytes() == cut
    # the edit after the kept prefix is fine: it is computed now
    edited = [dict(x) for x in recs]
    edited[35]["latex"] = "x^{99}"
    src.write_text("".join(json.dumps(x) + "\n" for x in edited), encoding="utf-8")
    out.write_bytes(cut)
    r = run([str(src), "-o", str(out), "--resume"])
    assert r.exit_code == 0
    assert strict_records(out.read_bytes())[35]["derivative"] == "99x^{98}"


# --------------------------------------------------------------------- L2: one line per record

def test_u2028_is_escaped(tmp_path):
    out = tmp_path / "out.jsonl"
    r = run([str(U2028), "-o", str(out)])
    assert r.exit_code == 0
    data = out.read_bytes()
    recs = strict_records(data)
    assert len(recs) == 2 and recs[0]["input"] == "x\u2028+x"
    assert "\u2028".encode() not in data and b"\\u2028" in data


def test_dump_is_strict_json_on_one_line():
    line = BIO.dump({"a": float("nan"), "b": [float("inf"), -float("inf")],
                     "c": "\x85\u2028\u2029\udfff\ud800\x0b\x0c\x1c\x1d\x1e\r\n"})
    assert line.isascii() or line.encode("utf-8")
    assert len(line.splitlines()) == 1
    obj = json.loads(line, parse_constant=lambda name: pytest.fail(name))
    assert obj["a"] == "nan" and obj["b"] == ["inf", "-inf"]
    assert obj["c"] == "\x85\u2028\u2029\udfff\ud800\x0b\x0c\x1c\x1d\x1e\r\n"


# --------------------------------------------------------------------- L3: signals

@pytest.mark.parametrize("signame, jobs", [("SIGTERM", "2"), ("SIGHUP", "1"), ("SIGINT", "1")])
def test_signals_end_a_batch_with_the_summary(tmp_path, signame, jobs):
    """SIGTERM (to the whole process group, workers included), SIGHUP and SIGINT: the
    summary and the "interrupted" note, exit 128 + signal (130 for SIGINT); OUT holds
    complete records and --resume completes it byte for byte."""
    signum = getattr(signal, signame)
    src = text_input(tmp_path / "in.txt", 6, slow_at=3)
    full = tmp_path / "full.jsonl"
    assert run([str(src), "-o", str(full), "--wrt", "x"]).exit_code == 0
    out = tmp_path / "out.jsonl"
    env = env_for_subprocess(TEXGRAD_BATCH_TEST_SLEEP="SLOWME=20")
    proc = subprocess.Popen(texgrad_batch([str(src), "-o", str(out), "--wrt", "x", "-j", jobs]),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while (not out.exists() or out.read_bytes().count(b"\n") < 3) and \
            proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    if signame == "SIGTERM":
        os.killpg(proc.pid, signum)             # as a service manager does
    else:
        proc.send_signal(signum)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == (130 if signame == "SIGINT" else 128 + signum), err
    assert f"interrupted ({signame}) after 3 records; --resume continues" in err
    assert "records/s" in err and "Traceback" not in err
    recs = strict_records(out.read_bytes())
    assert len(recs) == 3 and all(x["ok"] for x in recs)     # no "worker died" record
    r = run([str(src), "-o", str(out), "--wrt", "x", "--resume"])
    assert r.exit_code == 0 and out.read_bytes() == full.read_bytes()


def test_help_documents_the_signal_statuses():
    r = run(["--help"])
    assert "143" in r.output and "129" in r.output and "130" in r.output


def test_a_record_that_cannot_be_verified_is_counted_apart(tmp_path):
    """A NOT VERIFIED record is ok in OUT (with status), counted as 'could not be verified'
    in the summary, and the batch exits 1 as for a failed check."""
    import json
    from click.testing import CliRunner
    from texgrad.cli import main
    src = tmp_path / "in.jsonl"
    src.write_text('{"latex": "\\\\exp(800 + x)", "wrt": "x"}\n{"latex": "x^2"}\n')
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(main, ["batch", str(src), "-o", str(out)])
    assert res.exit_code == 1, res.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert recs[0]["status"] == "not verified" and recs[1]["status"] == "verified"
    assert "1 could not be verified" in res.stderr
