"""What a batch reads and writes: the lines of IN, the output records, and OUT.

The lines of IN are read at most MAX_LINE bytes at a time (a longer one is an OverlongLine);
a record is one line of strict JSON (``dump``; the error records' fields); OUT is opened,
locked, truncated to the prefix ``--resume`` keeps (``scan_prefix``) only when the first
record is ready, and written one complete record at a time, in input order (``Writer``);
the progress line and the notes on standard error.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time

import click

from .batchsignals import SIGNALS

MAX_LINE = 1 << 20       # bytes of one line of IN (a longer one is a bad record)
MAX_OUT_LINE = 1 << 26   # bytes of one line of OUT read by --resume (a longer one is dropped)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
TEXT_SUFFIXES = (".txt", ".tex")

_PROGRESS = False        # a progress line is on standard error


def set_progress(shown: bool) -> None:
    """Whether a progress line is on standard error (a note clears it first)."""
    global _PROGRESS
    _PROGRESS = shown


def note(message: str) -> None:
    """A message on standard error, on a line of its own."""
    click.echo(("\r\x1b[K" if _PROGRESS else "") + "texgrad batch: " + message, err=True)


# --------------------------------------------------------------------- records

def _error_fields(kind: str, message: str, hint: str | None) -> dict:
    return {"error": message, "kind": kind, "line": None, "column": None, "hint": hint}


def timeout_fields(cfg: dict) -> dict:
    return _error_fields("timeout", f"the record took longer than {cfg['timeout']:g} s",
                         "raise --timeout, or differentiate a smaller part")


def died_fields() -> dict:
    return _error_fields("internal", "the worker process died on this record",
                         "a bug in texgrad, or the record exhausted memory; please report it")


def error_line(index: int, rec_id, latex, fields: dict) -> str:
    return dump({"index": index, "id": rec_id, "ok": False, "input": latex, **fields})


# characters json.dumps(ensure_ascii=False) leaves raw but that must not be: lone surrogates
# (not encodable as UTF-8) and the line breaks str.splitlines() knows beyond \n and \r
# (NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR; the C0 ones are escaped by json already)
_RAW_UNSAFE = re.compile("[\x85\u2028\u2029\ud800-\udfff]")


def _escape_unsafe(m) -> str:
    return "\\u%04x" % ord(m.group())


def dump(rec: dict) -> str:
    """One record as one line of strict JSON (no NaN/Infinity: such floats become strings),
    encodable as UTF-8, one line for every line splitter (U+2028 etc. written as escapes)."""
    try:
        text = json.dumps(rec, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:              # inf/nan: strict JSON has none; write them as strings
        text = json.dumps(_finite(rec), ensure_ascii=False, default=str, allow_nan=False)
    return _RAW_UNSAFE.sub(_escape_unsafe, text)


def _finite(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def internal_fields(exc: BaseException) -> dict:
    return _error_fields("internal", f"internal error: {type(exc).__name__}: {exc}",
                         "this is a bug in texgrad; please report the formula")


# --------------------------------------------------------------------- input and output

def detect_mode(path: str, first: bytes | None) -> str:
    low = path.lower()
    if low.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if low.endswith(TEXT_SUFFIXES):
        return "text"
    return "jsonl" if first is not None and first.lstrip().startswith(b'{"') else "text"


class OverlongLine(bytes):
    """A line of IN longer than MAX_LINE: only its first bytes (a bad record)."""


def read_lines(fh, limit: int = None, keep: int = 200):
    """The lines of a binary file, each at most ``limit`` bytes (MAX_LINE) held in memory: a
    longer line is yielded as an OverlongLine of its first ``keep`` bytes as soon as the limit
    is passed, and the rest of it, up to the next newline, is read and dropped in pieces.  (A
    longer line of blanks only is a blank line.)"""
    limit = MAX_LINE if limit is None else limit
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        head, blank = line[:keep], not line.strip()
        if not blank:
            yield OverlongLine(head)
        while True:                 # the rest of the line, never held whole
            piece = fh.readline(1 << 16)
            if blank and piece.strip():
                blank = False
                yield OverlongLine(head)
            if not piece or piece.endswith(b"\n"):
                break


def iter_records(fh):
    """(index, raw line) for each non-blank line."""
    index = 0
    for line in fh:
        if not line.strip():
            continue
        yield index, line
        index += 1


def _status_of(obj: dict) -> str:
    if obj.get("ok"):
        if obj.get("verified", True):
            return "ok"
        return "not verified" if obj.get("status") == "not verified" else "failed"
    return {"timeout": "timeout", "internal": "internal"}.get(obj.get("kind"), "error")


def scan_prefix(path: str):
    """The longest prefix of complete, valid records of OUT: (bytes, records, statuses, bytes
    dropped)."""
    kept, count, statuses = 0, 0, []
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        for line in read_lines(fh, MAX_OUT_LINE):
            if isinstance(line, OverlongLine) or not line.endswith(b"\n"):
                break
            try:
                obj = json.loads(line)
            except ValueError:
                break
            if not isinstance(obj, dict) or obj.get("index") != count:
                break
            statuses.append(_status_of(obj))
            count += 1
            kept += len(line)
    return kept, count, statuses, size - kept


class Counter:
    KEYS = ("ok", "failed", "not verified", "error", "timeout", "internal")

    def __init__(self, total: int | None, show: bool):
        self.n = {k: 0 for k in self.KEYS}
        self.done = 0
        self.new = 0
        self.total = total
        self.show = show
        self.start = time.monotonic()
        self.first_at = None          # when the first record of this run was written
        self.last_draw = 0.0

    def add(self, status: str, new: bool = True) -> None:
        self.n[status] += 1
        self.done += 1
        self.new += new
        if self.show and new:
            now = time.monotonic()
            if self.first_at is None:
                self.first_at = now
            if now - self.last_draw >= 0.1:
                self.last_draw = now
                self.draw(now)

    def draw(self, now: float) -> None:
        rate = (self.new - 1) / (now - self.first_at) if now > self.first_at else 0.0
        of = f"/{self.total}" if self.total is not None else ""
        bad = self.n["error"] + self.n["timeout"] + self.n["internal"]
        eta = ""
        if self.total is not None and rate > 0:
            eta = f", {max(self.total - self.done, 0) / rate:.0f} s left"
        sys.stderr.write(f"\rtexgrad batch: {self.done}{of} records, {bad} errors, "
                         f"{rate:.0f}/s{eta}\x1b[K")
        sys.stderr.flush()

    def summary(self, resumed: int, out: str) -> str:
        secs = time.monotonic() - self.start
        errors = self.n["error"] + self.n["timeout"] + self.n["internal"]
        ok = self.n["ok"] + self.n["failed"] + self.n["not verified"]
        parts = [f"texgrad batch: {self.done} records"
                 + (f" ({resumed} kept from before, {self.new} now)" if resumed else ""),
                 f"{ok} ok" + "".join(
                     f" ({self.n[k]} {what})" for k, what in (
                         ("failed", "FAILED the numeric check"),
                         ("not verified", "could not be verified")) if self.n[k]),
                 f"{errors} errors ({self.n['timeout']} timeouts, "
                 f"{self.n['internal']} internal)",
                 f"{secs:.1f} s", f"{self.new / max(secs, 1e-9):.1f} records/s"]
        return ", ".join(parts) + f" -> {out}"


class OutBusy(Exception):
    """OUT is locked by another texgrad batch (exit 2)."""


class WriteFailure(Exception):
    """OUT cannot be written (a full disk, an I/O error): the batch stops (exit 3)."""


class Output:
    """OUT.  Opened and locked (``flock``, advisory: a second batch on the same OUT is refused)
    at the start, without truncating it; truncated to the kept prefix (``base`` bytes: 0, or
    the complete records --resume keeps) only when the first record of this run is ready, so
    a batch that fails before (an engine that does not start) leaves OUT as it was.  Written
    unbuffered, one record at a time: a write that fails is cut back to the last complete
    record, so OUT never ends in a torn line."""

    def __init__(self, path: str, fsync: bool = False):
        self.path, self.fsync = path, fsync
        self.fd = None
        self.fh = None                # standard output
        self.created = False          # this run created OUT
        self.regular = False
        self.base = 0                 # bytes kept from before
        self.dropped = 0              # bytes of a torn last line --resume drops
        self.kept_records = 0
        self.pos = None               # bytes of complete records on disk, once started
        self.records = 0              # records of this run written

    def open(self) -> None:
        if self.path == "-":
            self.fh = sys.stdout.buffer
            return
        import stat
        flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
        while True:
            try:
                self.fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o666)
                self.created = True
                break
            except FileExistsError:
                try:
                    self.fd = os.open(self.path, flags)
                    break
                except FileNotFoundError:     # removed in between: create it
                    continue
        self.regular = stat.S_ISREG(os.fstat(self.fd).st_mode)
        try:
            import fcntl
        except ImportError:           # pragma: no cover - not POSIX
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise OutBusy(self.path) from None
        except OSError:               # pragma: no cover - no locks on this file system
            pass

    def start(self) -> None:
        """Before the first write (and at the end of a batch that wrote nothing): OUT cut to
        the kept prefix."""
        if self.pos is not None:
            return
        if self.fd is not None and self.regular:
            try:
                os.ftruncate(self.fd, self.base)
                os.lseek(self.fd, self.base, os.SEEK_SET)
            except OSError as e:
                raise WriteFailure(e.strerror or str(e)) from None
            if self.dropped:
                note(f"dropped {self.dropped} bytes after record {self.kept_records} of "
                      f"{self.path} (an incomplete record)")
        self.pos = self.base

    def write(self, data: bytes) -> None:
        self.start()
        try:
            if self.fd is None:
                self.fh.write(data)
                self.fh.flush()
            else:
                view = memoryview(data)
                while view:
                    view = view[os.write(self.fd, view):]
        except OSError as e:
            if self.fd is not None and self.regular:
                try:                  # no torn line: back to the last complete record
                    os.ftruncate(self.fd, self.pos)
                except OSError:
                    pass
            raise WriteFailure(e.strerror or str(e)) from None
        self.pos += len(data)
        self.records += 1

    def sync(self) -> None:
        if not self.fsync or self.fd is None:
            return
        try:
            os.fsync(self.fd)
        except OSError as e:
            import errno
            if e.errno in (errno.EINVAL, errno.EROFS, getattr(errno, "ENOTSUP", -1)):
                self.fsync = False      # a device or pipe that cannot be synced
                return
            raise WriteFailure(e.strerror or str(e)) from None

    def close(self, written: bool) -> str | None:
        """Release OUT; an error message when closing it failed.  A file this run created
        and never wrote is removed (a failed batch leaves no OUT behind)."""
        if self.fd is None:
            if self.fh is not None:
                try:
                    self.fh.flush()
                except (OSError, ValueError) as e:
                    return getattr(e, "strerror", None) or str(e)
            return None
        fd, self.fd = self.fd, None
        if self.created and not written and self.pos is None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        try:
            os.close(fd)
        except OSError as e:
            return e.strerror or str(e)
        return None


class Writer:
    """Writes records in index order as they and all earlier ones are done.  Nothing about
    one record stops the batch: a line that cannot be written as one UTF-8 line becomes an
    internal error record."""

    def __init__(self, out: Output, first: int, counter: Counter):
        self.out, self.next, self.counter = out, first, counter
        self.pending: dict = {}

    def put(self, index: int, status: str, line: str) -> None:
        self.pending[index] = (status, line)
        if index != self.next:
            return
        with SIGNALS.deferred():   # a signal does not cut a record or its count
            while self.next in self.pending:
                status, line = self.pending.pop(self.next)
                status, data = _encode(self.next, status, line)
                self.out.write(data)
                self.counter.add(status)
                self.next += 1
            self.out.sync()


def _encode(index: int, status: str, line) -> tuple[str, bytes]:
    try:
        data = line.encode("utf-8")
        if b"\n" in data or b"\r" in data:
            raise ValueError("the record's JSON holds a line break")
        return status, data + b"\n"
    except Exception as exc:        # a bug: still one record, and the batch goes on
        line = error_line(index, None, None, internal_fields(exc))
        return "internal", line.encode("utf-8", "backslashreplace") + b"\n"

