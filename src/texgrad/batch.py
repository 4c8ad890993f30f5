"""``texgrad batch IN -o OUT``: differentiate many records, one output record per input record.

Input (``IN``, or ``-`` for standard input), one record per non-blank line:

* JSON Lines: ``{"id": ..., "latex": ..., "wrt": ..., "shapes": ..., "assume": ..., "kind": ...}``;
  only ``latex`` is required.  ``shapes`` maps a name to its dimensions (``{"X": ["m", "n"],
  "x": ["n"], "a": []}``, or ``"m,n"`` as on the command line), ``assume`` a name to its
  properties (``{"W": ["symmetric"]}`` or ``"symmetric,invertible"``); ``symbols`` in the
  corpus's form (``{"X": {"shape": [...], "assume": [...]}}``) is accepted too, so
  ``tests/data/cases.jsonl`` runs as it is.  The command-line ``--wrt``, ``--shape``,
  ``--assume`` and ``--kind`` are defaults that a record's own fields override.
* text: each non-blank line is a formula; ``--wrt``, ``--shape``, ``--assume``, ``--kind``
  apply to every line (``--wrt`` may be left out when the formulas name their variable).

A line of IN is at most 1 MiB (MAX_LINE): a longer one is a ``bad record`` (read past, to its
newline, without being held in memory).

``--input-format auto`` (the default) reads ``*.jsonl``/``*.ndjson``/``*.json`` as JSON Lines,
``*.txt``/``*.tex`` as text, and anything else as JSON Lines exactly when its first non-blank
line starts with ``{"``.  Blank lines are skipped and do not count; every other line is a
record, so a malformed JSON line gives an error record.

Output (``OUT``, or ``-`` for standard output): JSON Lines, one object per input record, in
input order, each written and flushed as soon as it and every record before it are done::

    {"index": 0, "id": "cookbook-077", "ok": true, "input": ..., "wrt": ..., "kind": ...,
     "derivative": ..., "terms": ..., "shapes": ..., "convention": ..., "verified": true,
     "max_rel_error": ..., "trials": ..., "check": {...}}
    {"index": 1, "id": "bad", "ok": false, "input": ..., "error": ..., "kind": "syntax error",
     "line": 1, "column": 4, "hint": ...}

Each record is one line of strict JSON (a NaN or infinite number is written as a string),
valid UTF-8, with U+0085, U+2028, U+2029 and lone surrogates written as ``\\uXXXX``
escapes, so that every line splitter (``str.splitlines()`` too) sees one line per record.
Nothing about one record stops the batch: whatever fails on it gives an error record.

``index`` counts records (non-blank lines of IN) from 0.  ``ok`` says a derivative was found;
``verified`` whether it passed the numeric check.  An error record's ``kind`` is the error's
(``syntax error``, ``shape error``, ``unsupported``, ``limit exceeded``, ``error``), ``bad
record`` (a line that is not a JSON object with a ``latex`` string, or not UTF-8), ``timeout``
(the record took longer than ``--timeout``) or ``internal`` (a bug in texgrad, or a worker
process that died).  Records hold no timings and the numeric check is seeded (``--seed``), so
the output does not depend on ``-j``, the engine, or on interruptions: a resumed file is
byte-for-byte the file an uninterrupted run writes (a ``timeout`` record excepted, which
depends on the machine's speed).

``--resume`` keeps the longest prefix of complete, valid records of OUT (a line cut short by a
crash or ``kill -9`` is dropped, and OUT truncated to the prefix) and continues with the next
record; every kept record must have the index, id and input of IN's record at that index
(else exit 2, naming the first record that differs).  Without ``--resume`` OUT is
overwritten.  Either way OUT is truncated only when the first record of the run is ready:
a batch that fails before (a Dask scheduler out of reach, workers that cannot start, an
interruption) leaves OUT as it was.  OUT is locked (``flock``) while a batch writes it; a
second batch on the same OUT is refused (exit 2).  A write that fails (a full disk) is cut
back to the last complete record, so OUT holds complete records only.

``-j N`` runs N worker processes (``-j 0``: one per CPU); ``-j 1`` works in this process.  The
time limit is enforced in the worker (a signal timer, checked between Python bytecodes) and,
for ``-j`` > 1, by the parent, which kills a worker that overruns it by more than a grace
period and starts a new one.  ``--engine dask`` runs the same records on a Dask cluster
(``--scheduler ADDRESS``, or a local cluster of ``-j`` worker processes); the workers need
texgrad installed, and there the time limit is enforced in the task only.

A progress line goes to standard error when it is a terminal; a summary line always does.

Exit status: 0 the batch ran to the end (a record that failed is an error record in OUT, not
a failure of the batch); 1 the batch ran to the end but some derivative FAILED its numeric
check (as ``texgrad EXPR`` exits 1) -- or, with ``--strict``, some record is an error record;
2 bad usage (IN unreadable, ``--resume`` on an OUT that does not continue IN, Dask not
installed, OUT locked by another batch); 3 the batch itself failed (worker processes cannot
start, the Dask scheduler is out of reach, OUT cannot be written: the message counts the
complete records in OUT); 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM, 129 by SIGHUP
(128 + the signal's number; the summary is written, OUT holds every record written so far,
``--resume`` continues).

Test hooks (environment variables, read for each record; for texgrad's own tests only):

* ``TEXGRAD_BATCH_TEST_SLEEP=MARKER=SECONDS``: sleep SECONDS, inside the time limit, before a
  record whose LaTeX contains MARKER (a slow record);
* ``TEXGRAD_BATCH_TEST_CRASH=MARKER``: in a worker process, exit abruptly on such a record
  (a worker that dies);
* ``TEXGRAD_BATCH_TEST_HANG=MARKER``: in a worker process, block the time-limit signal and
  sleep, so that only the parent's hard limit ends the record;
* ``TEXGRAD_BATCH_TEST_NOSTART=1``: a worker process exits before it is ready (workers that
  cannot start).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import time

import click

from .cli import problem_options
from .errors import TexgradError

DEFAULT_TIMEOUT = 30.0
REFIRE = 0.25            # seconds between repeated time-limit signals, should one be swallowed
PREFETCH = 2             # records queued per worker process
DASK_CHUNK = 64          # records per Dask task
MAX_LINE = 1 << 20       # bytes of one line of IN (a longer one is a bad record)
MAX_OUT_LINE = 1 << 26   # bytes of one line of OUT read by --resume (a longer one is dropped)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
TEXT_SUFFIXES = (".txt", ".tex")

_IN_WORKER = False       # set in worker processes (the crash/hang test hooks act only there)
_PROGRESS = False        # a progress line is on standard error


def _note(message: str) -> None:
    """A message on standard error, on a line of its own."""
    click.echo(("\r\x1b[K" if _PROGRESS else "") + "texgrad batch: " + message, err=True)


class BadRecord(TexgradError):
    kind = "bad record"


class BatchFailure(Exception):
    """The batch itself cannot go on (exit 3)."""


class _Timeout(BaseException):
    """Raised in the computing thread when a record's time is up.  A BaseException, so that
    no ``except Exception`` inside texgrad swallows it."""


# --------------------------------------------------------------------- time limits

class _Deadline:
    """Raise _Timeout in the calling thread after ``seconds``, and again every REFIRE seconds
    until disarmed.  In the main thread on POSIX: a SIGALRM timer (it also interrupts
    sleeps); elsewhere (Dask worker threads): an asynchronous exception set from a timer
    thread (CPython).  Both are checked between bytecodes, not inside a long C call."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds if seconds and seconds > 0 else None
        self.mode = None
        self.active = False

    def arm(self) -> None:
        if self.seconds is None:
            return
        import signal
        import threading
        if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            self.mode = "signal"
            self.old = signal.signal(signal.SIGALRM, self._on_signal)
            self.active = True
            signal.setitimer(signal.ITIMER_REAL, self.seconds, REFIRE)
        elif sys.implementation.name == "cpython":
            self.mode = "thread"
            self.tid = threading.get_ident()
            self.lock = threading.Lock()
            self.active = True
            self._schedule(self.seconds)

    def _on_signal(self, signum, frame):
        if self.active:
            raise _Timeout()

    def _schedule(self, delay: float) -> None:
        import threading
        self.timer = threading.Timer(delay, self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self) -> None:
        import ctypes
        with self.lock:
            if not self.active:
                return
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.tid),
                                                       ctypes.py_object(_Timeout))
            self._schedule(REFIRE)

    def disarm(self) -> None:
        """Idempotent; a _Timeout raised while disarming leaves it to be called again."""
        if self.mode == "signal":
            import signal
            self.active = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
            self.mode = None
        elif self.mode == "thread":
            import ctypes
            with self.lock:
                self.active = False
                self.timer.cancel()
                # clear a _Timeout set but not yet raised
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.tid), None)
            self.mode = None


def _run_limited(fn, seconds: float | None):
    """fn() under a time limit; raises _Timeout when the time is up."""
    deadline = _Deadline(seconds)
    try:
        try:
            deadline.arm()
            return fn()
        finally:
            deadline.disarm()
    except _Timeout:
        while True:                 # a repeated signal may interrupt the first disarm
            try:
                deadline.disarm()
                break
            except _Timeout:
                continue
        raise


# --------------------------------------------------------------------- one record

def _norm_name(name) -> str:
    return str(name).strip().lstrip("\\")


def _dims(value, where: str) -> tuple:
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or \
            not all(isinstance(d, (str, int)) and not isinstance(d, bool) for d in value):
        raise BadRecord(f"{where}: dimensions must be a list of names, e.g. [\"m\", \"n\"]",
                        hint='shapes: {"X": ["m", "n"], "x": ["n"], "a": []}')
    return tuple(str(d).strip() for d in value if str(d).strip())


def _props(value, where: str) -> tuple:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise BadRecord(f"{where}: properties must be a list of names, e.g. [\"symmetric\"]",
                        hint='assume: {"W": ["symmetric", "invertible"]}')
    return tuple(p.strip() for p in value if p.strip())


def _mapping(value, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f'"{field}" must be an object (name -> ...), not {type(value).__name__}')
    return value


def parse_record(raw: bytes, cfg: dict):
    """One line of IN -> (id, latex, keyword arguments of differentiate).  Raises BadRecord
    with ``.record_id`` and ``.record_input`` set."""
    rec_id = None
    if isinstance(raw, OverlongLine):
        err = BadRecord(f"the line is longer than {MAX_LINE:,} bytes, the limit of a record",
                        hint="split the record; a formula is at most 100,000 characters")
        err.record_id = None
        err.record_input = raw.decode("utf-8", "replace").rstrip("\r\n") + "..."
        raise err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        err = BadRecord(f"the line is not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x})",
                        hint="IN must be UTF-8")
        err.record_id, err.record_input = None, raw.decode("utf-8", "replace").rstrip("\r\n")
        raise err from None
    text = text.rstrip("\r\n")
    shapes, assume = dict(cfg.get("shapes") or {}), dict(cfg.get("assume") or {})
    wrt, kind = cfg.get("wrt"), cfg.get("kind")
    if cfg.get("mode") == "text":
        return None, text, dict(wrt=wrt, shapes=shapes, assume=assume, kind=kind)
    try:
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise BadRecord(f"malformed JSON record: {getattr(e, 'msg', e)}",
                            column=getattr(e, "colno", None),
                            hint='each line is one JSON object: {"id": ..., "latex": ..., '
                                 '"wrt": ...}') from None
        if not isinstance(obj, dict):
            raise BadRecord(f"the record is a JSON {type(obj).__name__}, not an object",
                            hint='each line is one JSON object: {"id": ..., "latex": ..., '
                                 '"wrt": ...}')
        rec_id = obj.get("id")
        latex = obj.get("latex")
        if not isinstance(latex, str):
            raise BadRecord('the record has no "latex" string',
                            hint='e.g. {"id": "q1", "latex": "\\\\mathbf{x}^T A \\\\mathbf{x}", '
                                 '"wrt": "\\\\mathbf{x}"}')
        for field in ("wrt", "kind"):
            if obj.get(field) is not None and not isinstance(obj[field], str):
                raise BadRecord(f'"{field}" must be a string')
        if obj.get("wrt") is not None:
            wrt = obj["wrt"]
        if obj.get("kind") is not None:
            kind = obj["kind"]
        for name, sym in _mapping(obj.get("symbols"), "symbols").items():
            if not isinstance(sym, dict):
                raise BadRecord(f'"symbols": {name} must be an object {{"shape": ..., '
                                f'"assume": ...}}')
            if "shape" in sym:
                shapes[_norm_name(name)] = _dims(sym["shape"], f"symbols.{name}.shape")
            if sym.get("assume"):
                assume[_norm_name(name)] = _props(sym["assume"], f"symbols.{name}.assume")
        for name, dims in _mapping(obj.get("shapes"), "shapes").items():
            shapes[_norm_name(name)] = _dims(dims, f"shapes.{name}")
        for name, props in _mapping(obj.get("assume"), "assume").items():
            assume[_norm_name(name)] = _props(props, f"assume.{name}")
    except BadRecord as err:
        err.record_id, err.record_input = rec_id, text
        raise
    return rec_id, latex, dict(wrt=wrt, shapes=shapes, assume=assume, kind=kind)


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


def _marker(name: str, latex: str):
    spec = os.environ.get(name)
    if not spec:
        return None
    marker, _, arg = spec.partition("=")
    return arg if marker and marker in latex else None


def _test_hooks(latex: str) -> None:
    """See the module docstring (TEXGRAD_BATCH_TEST_*)."""
    if not os.environ.get("TEXGRAD_BATCH_TEST_SLEEP") and not _IN_WORKER:
        return
    sleep = _marker("TEXGRAD_BATCH_TEST_SLEEP", latex)
    if sleep is not None:
        time.sleep(float(sleep or 1))
    if _IN_WORKER and _marker("TEXGRAD_BATCH_TEST_CRASH", latex) is not None:
        os._exit(70)
    if _IN_WORKER and _marker("TEXGRAD_BATCH_TEST_HANG", latex) is not None:
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)


def process_record(index: int, raw: bytes, cfg: dict) -> tuple[str, str]:
    """One record -> (status, JSON line without its newline); status is ``ok``, ``failed``
    (the numeric check failed), ``not verified`` (it could not compare), ``error``,
    ``timeout`` or ``internal``.  Never raises (except KeyboardInterrupt/SystemExit)."""
    from . import api
    try:
        rec_id, latex, kw = parse_record(raw, cfg)
    except BadRecord as err:
        return "error", error_line(index, err.record_id, err.record_input, err.to_dict())
    except Exception as exc:        # pragma: no cover - parse_record only raises BadRecord
        return "internal", error_line(index, None, None, _internal_fields(exc))

    def work():
        _test_hooks(latex)
        r = api.differentiate(latex, verify=True, seed=cfg.get("seed", 0), **kw)
        return r, r.to_dict()

    try:
        r, d = _run_limited(work, cfg.get("timeout"))
    except _Timeout:
        return "timeout", error_line(index, rec_id, latex, timeout_fields(cfg))
    except TexgradError as err:
        return "error", error_line(index, rec_id, latex, err.to_dict())
    except RecursionError:
        err = TexgradError("the formula is nested too deeply", hint="simplify it or split it")
        return "error", error_line(index, rec_id, latex, err.to_dict())
    except Exception as exc:        # a bug in texgrad: an error record, never the batch's end
        return "internal", error_line(index, rec_id, latex, _internal_fields(exc))
    status = "ok" if r.check is None or r.check.passed else \
        "failed" if r.check.failed else "not verified"
    return status, dump({"index": index, "id": rec_id, "ok": True, **d})


def _internal_fields(exc: BaseException) -> dict:
    return _error_fields("internal", f"internal error: {type(exc).__name__}: {exc}",
                         "this is a bug in texgrad; please report the formula")


_READY = False           # this process has built the parser (see _prepare_process)


def _prepare_process() -> None:
    """Once per process: the CLI's recursion limit, and a first formula differentiated, so
    that building the parser and loading NumPy do not count against a record's time."""
    global _READY
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    if _READY:
        return
    _READY = True
    try:
        from . import api
        api.differentiate("x^2", wrt="x", verify=True)
    except Exception:               # pragma: no cover
        pass


def run_chunk(items: list, cfg: dict) -> list:
    """Dask task: [(index, raw)] -> [(status, line)]."""
    _prepare_process()
    return [process_record(i, raw, cfg) for i, raw in items]


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
                _note(f"dropped {self.dropped} bytes after record {self.kept_records} of "
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
        with _SIGNALS.deferred():   # a signal does not cut a record or its count
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
        line = error_line(index, None, None, _internal_fields(exc))
        return "internal", line.encode("utf-8", "backslashreplace") + b"\n"


class _Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP: the batch ends with its summary, exit 128 + signal (130
    for Ctrl-C)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _Signals:
    """SIGINT, SIGTERM and SIGHUP raise _Interrupted in the main thread, once; inside
    ``deferred()`` (writing a record) the signal waits until the record is written."""

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self):
        self.depth = 0
        self.pending = None
        self.fired = False
        self.old: dict = {}

    def install(self) -> None:
        import signal
        self.fired, self.pending = False, None
        for name in self.NAMES:
            num = getattr(signal, name, None)
            if num is None:
                continue
            try:
                self.old[num] = signal.signal(num, self._handler)
            except (ValueError, OSError):   # not the main thread
                pass

    def restore(self) -> None:
        import signal
        for num, old in self.old.items():
            try:
                signal.signal(num, old)
            except (ValueError, OSError, TypeError):  # pragma: no cover
                pass
        self.old = {}

    def _handler(self, signum, frame):
        if self.fired or self.pending is not None:
            return                  # the first one is being handled
        if self.depth:
            self.pending = signum
            return
        self.fired = True
        raise _Interrupted(signum)

    @contextlib.contextmanager
    def deferred(self):
        self.depth += 1
        try:
            yield
        except BaseException:
            self.depth -= 1
            raise
        self.depth -= 1
        if not self.depth and self.pending is not None and not self.fired:
            signum, self.pending = self.pending, None
            self.fired = True
            raise _Interrupted(signum)


_SIGNALS = _Signals()


# --------------------------------------------------------------------- engines

def run_inline(records, cfg: dict, writer: Writer) -> None:
    _prepare_process()
    for index, raw in records:
        status, line = process_record(index, raw, cfg)
        writer.put(index, status, line)


def _worker_main(conn, cfg: dict) -> None:
    """A worker process: records in over the pipe, (index, status, line) out."""
    import signal
    global _IN_WORKER
    _IN_WORKER = True
    # the parent handles Ctrl-C, SIGTERM and SIGHUP (sent to the whole process group, they
    # must not kill a worker first: its record would be written as "the worker died")
    for name in _Signals.NAMES:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    if os.environ.get("TEXGRAD_BATCH_TEST_NOSTART"):
        os._exit(71)
    _prepare_process()
    try:
        conn.send(("ready", os.getpid(), None))
        while True:
            msg = conn.recv()
            if msg is None:
                return
            index, raw = msg
            status, line = process_record(index, raw, cfg)
            conn.send((index, status, line))
    except (EOFError, OSError, KeyboardInterrupt):
        return


class _Worker:
    def __init__(self, ctx, cfg):
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        self.proc = ctx.Process(target=_worker_main, args=(child, cfg), daemon=True,
                                name="texgrad-batch-worker")
        self.proc.start()
        child.close()
        self.ready = False
        self.queue: list = []         # [(index, raw)] sent, not yet answered
        self.head_since = 0.0         # when the first queued record started

    def send(self, item) -> None:
        if not self.queue:
            self.head_since = time.monotonic()
        self.queue.append(item)
        self.conn.send(item)

    def stop(self, kill: bool = False) -> None:
        try:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(2 if not kill else 5)
        if self.proc.is_alive():    # pragma: no cover
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def run_pool(records, cfg: dict, writer: Writer, jobs: int) -> None:
    """-j N: N worker processes, PREFETCH records queued on each, at most ``window`` records
    between the oldest unwritten one and the newest dispatched one."""
    import multiprocessing as mp
    from collections import deque
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")   # no inherited threads or file descriptors
    timeout = cfg.get("timeout")
    hard = timeout + 1.0 + 0.25 * timeout if timeout else None
    window = max(64, 32 * jobs)
    records = iter(records)
    backlog: deque = deque()        # records to send again (their worker was replaced)
    exhausted = False
    failed_starts = 0
    workers = [_Worker(ctx, cfg) for _ in range(jobs)]
    last_index = writer.next - 1

    def next_record():
        nonlocal exhausted, last_index
        if backlog:
            return backlog.popleft()
        if exhausted or last_index + 1 - writer.next >= window:
            return None
        try:
            item = next(records)
        except StopIteration:
            exhausted = True
            return None
        last_index = item[0]
        return item

    def replace(w: _Worker, kill: bool) -> _Worker:
        w.stop(kill=kill)
        backlog.extendleft(reversed(w.queue[1:]))
        new = _Worker(ctx, cfg)
        workers[workers.index(w)] = new
        return new

    try:
        while True:
            for w in workers:
                while w.ready and len(w.queue) < PREFETCH:
                    item = next_record()
                    if item is None:
                        break
                    w.send(item)
            busy = [w for w in workers if w.queue or not w.ready]
            if exhausted and not backlog and not any(w.queue for w in workers):
                break
            wait_for = None
            if hard:
                now = time.monotonic()
                ends = [w.head_since + hard - now for w in workers if w.queue]
                wait_for = max(0.0, min(ends)) if ends else None
            objs = [w.conn for w in busy] + [w.proc.sentinel for w in busy]
            ready = set(wait(objs, wait_for)) if objs else set()
            for w in list(workers):
                if w.conn not in ready and w.proc.sentinel not in ready:
                    continue
                dead = w.proc.sentinel in ready
                while True:                 # every answer first, then a death
                    try:
                        if not w.conn.poll():
                            break
                        index, status, line = w.conn.recv()
                    except (EOFError, OSError):
                        dead = True
                        break
                    if index == "ready":
                        w.ready = True
                        failed_starts = 0
                    else:
                        w.queue.pop(0)
                        w.head_since = time.monotonic()
                        writer.put(index, status, line)
                if not dead:
                    continue
                # the process ended without answering: the record it was on is lost
                w.proc.join(1)
                code = w.proc.exitcode
                if not w.ready:
                    failed_starts += 1
                    if failed_starts > 3:
                        raise BatchFailure(f"worker processes cannot start (exit code {code})")
                elif w.queue:
                    index, raw = w.queue[0]
                    _note(f"a worker process died (exit code {code}) on record {index}")
                    rec_id, latex = _identify(raw, cfg)
                    writer.put(index, "internal", error_line(index, rec_id, latex, died_fields()))
                replace(w, kill=True)
            if hard:
                now = time.monotonic()
                for w in list(workers):
                    if w.queue and now - w.head_since >= hard:
                        index, raw = w.queue[0]
                        rec_id, latex = _identify(raw, cfg)
                        writer.put(index, "timeout",
                                   error_line(index, rec_id, latex, timeout_fields(cfg)))
                        replace(w, kill=True)
    finally:
        for w in workers:
            w.stop(kill=bool(w.queue) or not w.ready)


def _identify(raw: bytes, cfg: dict):
    try:
        rec_id, latex, _kw = parse_record(raw, cfg)
        return rec_id, latex
    except BadRecord as err:
        return err.record_id, err.record_input


def run_dask(records, cfg: dict, writer: Writer, jobs: int, scheduler: str | None) -> None:
    """--engine dask: chunks of DASK_CHUNK records as tasks, gathered in order."""
    from collections import deque
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise click.UsageError("--engine dask needs Dask: pip install 'texgrad[dask]' "
                               "(that is, dask[distributed])") from None
    import logging
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler)  # timeout: distributed.comm.timeouts.connect (30 s)
        else:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
    except (OSError, TimeoutError) as e:
        raise BatchFailure(f"cannot reach the Dask scheduler {scheduler or '(local)'}: "
                           f"{type(e).__name__}: {e}") from None
    try:
        nworkers = max(1, sum(client.nthreads().values()) or jobs)    # worker threads
        in_flight = deque()
        records = iter(records)
        limit = 4 * nworkers

        def submit() -> bool:
            chunk = []
            for item in records:
                chunk.append(item)
                if len(chunk) >= DASK_CHUNK:
                    break
            if not chunk:
                return False
            in_flight.append((chunk, client.submit(run_chunk, chunk, cfg, pure=False)))
            return True

        while len(in_flight) < limit and submit():
            pass
        while in_flight:
            chunk, fut = in_flight.popleft()
            try:
                results = fut.result()
            except Exception as exc:
                results = _dask_retry(client, chunk, cfg, exc)
            for (index, _raw), (status, line) in zip(chunk, results):
                writer.put(index, status, line)
            while len(in_flight) < limit and submit():
                pass
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_retry(client, chunk, cfg, exc) -> list:
    """A failed chunk: each record again on its own; the ones that fail again are error
    records."""
    _note(f"a Dask task failed ({type(exc).__name__}: {exc}); retrying its {len(chunk)} "
          "records one by one")
    out = []
    for index, raw in chunk:
        try:
            out.extend(client.submit(run_chunk, [(index, raw)], cfg, pure=False).result())
        except Exception:
            rec_id, latex = _identify(raw, cfg)
            out.append(("internal", error_line(index, rec_id, latex, died_fields())))
    return out


# --------------------------------------------------------------------- the command

def _open_in(path: str):
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")


def _peek_first(fh):
    """The first non-blank line, and an iterator of the lines of ``fh`` (each at most
    MAX_LINE bytes, see read_lines) that still yields it."""
    import itertools
    lines = read_lines(fh)
    seen = []
    first = None
    for line in lines:
        seen.append(line)           # blank lines only, and the first other one
        if line.strip():
            first = line
            break
    return first, itertools.chain(seen, lines)


def _count_records(path: str) -> int | None:
    if path == "-" or not os.path.isfile(path):
        return None
    with open(path, "rb") as fh:
        return sum(1 for line in read_lines(fh) if line.strip())


@click.command("batch", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("infile", metavar="IN", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--output", "-o", "outfile", required=True, metavar="OUT",
              type=click.Path(dir_okay=False, allow_dash=True),
              help="Where the JSON Lines records go (- for standard output).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes (0: one per CPU; 1: in this process).")
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT,
              show_default=True, metavar="SECONDS",
              help="Per-record time limit; a record over it is a timeout record (0: none).")
@click.option("--resume", is_flag=True,
              help="Keep the complete records already in OUT and continue after them.")
@click.option("--input-format", "informat", type=click.Choice(["auto", "jsonl", "text"]),
              default="auto", show_default=True,
              help="JSON Lines records or one formula per line (auto: by suffix/content).")
@problem_options           # defaults for every record; a record's own fields override them
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the numeric check's random draws.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Worker processes here, or a Dask cluster.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Dask scheduler address (default: a local cluster of -j workers).")
@click.option("--strict", is_flag=True, help="Exit 1 when any record is an error record.")
@click.option("--fsync", is_flag=True, help="fsync OUT after every write (survives power loss).")
def batch_command(infile, outfile, jobs, timeout, resume, informat, wrt, shapes, assume, kind,
                  seed, engine, scheduler, strict, fsync):
    """Differentiate every record of IN into OUT (JSON Lines, one record per record of IN,
    in order).

    IN holds JSON Lines records {"id", "latex", "wrt", "shapes", "assume", "kind"}, or one
    formula per line (with --wrt, --shape, ... for all).  A record that fails is an error
    record and the batch goes on.

    Exit status: 0 the batch ran to the end, 1 a derivative failed its numeric check (with
    --strict: or any record is an error), 2 bad usage (or OUT locked by another batch), 3 the
    batch itself failed (workers or the Dask scheduler unavailable, OUT cannot be written),
    130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM, 129 by SIGHUP (128 + the signal's
    number).  OUT is truncated only once the first record is ready; --resume continues an
    interrupted or failed batch.
    """
    global _PROGRESS
    from .options import parse_assume_specs, parse_shape_specs
    if scheduler and engine != "dask":
        raise click.UsageError("--scheduler needs --engine dask")
    if resume and outfile == "-":
        raise click.UsageError("--resume needs OUT to be a file")
    try:
        cfg = {"shapes": parse_shape_specs(shapes), "assume": parse_assume_specs(assume),
               "wrt": wrt, "kind": kind, "seed": seed, "timeout": timeout or None}
    except TexgradError as e:
        click.echo(e.render(), err=True)
        sys.exit(2)
    if jobs == 0:
        jobs = os.cpu_count() or 1
    if engine == "dask":            # fail early, before OUT is touched
        try:
            import distributed  # noqa: F401
        except ImportError:
            click.echo("texgrad batch: --engine dask needs Dask, which is not installed: "
                       "pip install 'texgrad[dask]'", err=True)
            sys.exit(2)
    if infile != "-" and outfile != "-" and os.path.exists(outfile) and \
            os.path.exists(infile) and os.path.samefile(infile, outfile):
        raise click.UsageError("IN and OUT are the same file")
    try:
        fin = _open_in(infile)
    except OSError as e:
        click.echo(f"texgrad batch: cannot read {infile}: {e.strerror}", err=True)
        sys.exit(2)
    out = Output(outfile, fsync)
    with fin:
        first, lines = _peek_first(fin)
        cfg["mode"] = detect_mode(infile, first) if informat == "auto" else informat
        records = iter_records(lines)
        try:                        # opened and locked, not truncated (see Output)
            out.open()
        except OutBusy:
            click.echo(f"texgrad batch: {outfile} is being written by another texgrad batch "
                       "(it is locked); wait for that one to end, or choose another OUT",
                       err=True)
            sys.exit(2)
        except OSError as e:
            click.echo(f"texgrad batch: cannot write {outfile}: {e.strerror}", err=True)
            sys.exit(2)
        written = False
        try:
            start, statuses = 0, []
            if resume and not out.created:
                kept, start, statuses, dropped = scan_prefix(outfile)
                out.base, out.dropped, out.kept_records = kept, dropped, start
                if start:           # also moves ``records`` past the kept ones
                    _check_continues(records, start, cfg, outfile, infile)
            show = _PROGRESS = sys.stderr.isatty()
            counter = Counter(_count_records(infile) if show else None, show)
            for st in statuses:
                counter.add(st, new=False)
            writer = Writer(out, start, counter)
            code = 0
            _SIGNALS.install()
            try:
                if engine == "dask":
                    run_dask(records, cfg, writer, jobs, scheduler)
                elif jobs == 1:
                    run_inline(records, cfg, writer)
                else:
                    run_pool(records, cfg, writer, jobs)
                with _SIGNALS.deferred():
                    out.start()     # an empty batch: OUT is empty (or the kept prefix)
            except KeyboardInterrupt as e:
                signum = getattr(e, "signum", 2)
                code = 130 if signum == 2 else 128 + signum
                _note(f"interrupted ({_signal_name(signum)}) after {writer.next} records; "
                      "--resume continues")
            except WriteFailure as e:
                code = 3
                _note(f"cannot write {outfile}: {e} ({writer.next} complete records in "
                      f"{outfile}; --resume continues once it can be written)")
            except BatchFailure as e:
                code = 3
                _note(str(e))
            except Exception as e:  # a bug in the batch machinery itself
                if os.environ.get("TEXGRAD_DEBUG"):
                    raise
                code = 3
                _note(f"internal error: {type(e).__name__}: {e} (after {writer.next} records; "
                      "--resume continues; TEXGRAD_DEBUG=1 shows the traceback)")
            finally:
                _SIGNALS.restore()
            written = out.pos is not None
        finally:
            problem = out.close(written)
    if problem and not code:
        code = 3
        _note(f"cannot write {outfile}: {problem}")
    if show:
        sys.stderr.write("\r\x1b[K")
    click.echo(counter.summary(start, outfile), err=True)
    if code:
        sys.exit(code)
    n = counter.n
    if n["failed"] or n["not verified"] or (strict and n["error"] + n["timeout"] + n["internal"]):
        sys.exit(1)


def _signal_name(signum: int) -> str:
    import signal
    try:
        return signal.Signals(signum).name
    except ValueError:              # pragma: no cover
        return f"signal {signum}"


def _short(text, n: int = 60) -> str:
    text = repr(text)
    return text if len(text) <= n else text[:n] + "..."


def _check_continues(records, start: int, cfg: dict, outfile: str, infile: str) -> None:
    """--resume: each of the ``start`` records kept in OUT must be IN's record at that index
    (the same index, id and input); ``records`` is left positioned after them."""
    def refuse(why: str):
        click.echo(f"texgrad batch: --resume: {why}; run without --resume to start over",
                   err=True)
        sys.exit(2)

    with open(outfile, "rb") as fh:
        lines = read_lines(fh, MAX_OUT_LINE)
        for i in range(start):
            kept = json.loads(next(lines))      # scan_prefix read it as valid
            item = next(records, None)
            if item is None:
                refuse(f"{outfile} has {start} records but {infile} has {i}")
            rec_id, latex = _identify(item[1], cfg)
            for field, mine, theirs in (("index", kept.get("index"), item[0]),
                                        ("id", kept.get("id"), rec_id),
                                        ("input", kept.get("input"), latex)):
                if mine != theirs:
                    refuse(f"record {i} of {outfile} is not record {i} of {infile}: its "
                           f"{field} is {_short(mine)} in {outfile} but {_short(theirs)} in "
                           f"{infile} ({outfile} was written from another input, or {infile} "
                           "changed)")
