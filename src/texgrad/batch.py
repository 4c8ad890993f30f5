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

import json
import os
import sys

import click

from .batchio import (MAX_OUT_LINE, Counter, OutBusy, Output, WriteFailure, Writer,
                      detect_mode, iter_records, note, read_lines, scan_prefix, set_progress)
from .batchrecord import identify, prepare_process, process_record
from .batchrun import BatchFailure, run_dask, run_pool
from .batchsignals import SIGNALS
from .clickopts import problem_options
from .errors import TexgradError

DEFAULT_TIMEOUT = 30.0


# --------------------------------------------------------------------- the command

# -j 1: the records run in this process, one after the other (the other engines: batchrun)
def run_inline(records, cfg: dict, writer: Writer) -> None:
    prepare_process()
    for index, raw in records:
        status, line = process_record(index, raw, cfg)
        writer.put(index, status, line)


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
@click.option("--let", "let", multiple=True, metavar="NAME=DEF",
              help="Name a subexpression in every record (a record's \"let\" adds its own).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the numeric check's random draws.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Worker processes here, or a Dask cluster.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Dask scheduler address (default: a local cluster of -j workers).")
@click.option("--strict", is_flag=True, help="Exit 1 when any record is an error record.")
@click.option("--fsync", is_flag=True, help="fsync OUT after every write (survives power loss).")
def batch_command(infile, outfile, jobs, timeout, resume, informat, wrt, shapes, assume, kind,
                  let, seed, engine, scheduler, strict, fsync):
    """Differentiate every record of IN into OUT (JSON Lines, one record per record of IN,
    in order).

    IN holds JSON Lines records {"id", "latex", "wrt", "shapes", "assume", "kind", "let"}, or one
    formula per line (with --wrt, --shape, ... for all).  A record that fails is an error
    record and the batch goes on.

    Exit status: 0 the batch ran to the end, 1 a derivative failed its numeric check (with
    --strict: or any record is an error), 2 bad usage (or OUT locked by another batch), 3 the
    batch itself failed (workers or the Dask scheduler unavailable, OUT cannot be written),
    130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM, 129 by SIGHUP (128 + the signal's
    number).  OUT is truncated only once the first record is ready; --resume continues an
    interrupted or failed batch.
    """
    from .options import parse_assume_specs, parse_shape_specs
    if scheduler and engine != "dask":
        raise click.UsageError("--scheduler needs --engine dask")
    if resume and outfile == "-":
        raise click.UsageError("--resume needs OUT to be a file")
    try:
        cfg = {"shapes": parse_shape_specs(shapes), "assume": parse_assume_specs(assume),
               "wrt": wrt, "kind": kind, "seed": seed, "timeout": timeout or None,
               "let": tuple(let)}
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
            show = sys.stderr.isatty()
            set_progress(show)
            counter = Counter(_count_records(infile) if show else None, show)
            for st in statuses:
                counter.add(st, new=False)
            writer = Writer(out, start, counter)
            code = 0
            SIGNALS.install()
            try:
                if engine == "dask":
                    run_dask(records, cfg, writer, jobs, scheduler)
                elif jobs == 1:
                    run_inline(records, cfg, writer)
                else:
                    run_pool(records, cfg, writer, jobs)
                with SIGNALS.deferred():
                    out.start()     # an empty batch: OUT is empty (or the kept prefix)
            except KeyboardInterrupt as e:
                signum = getattr(e, "signum", 2)
                code = 130 if signum == 2 else 128 + signum
                note(f"interrupted ({_signal_name(signum)}) after {writer.next} records; "
                      "--resume continues")
            except WriteFailure as e:
                code = 3
                note(f"cannot write {outfile}: {e} ({writer.next} complete records in "
                      f"{outfile}; --resume continues once it can be written)")
            except BatchFailure as e:
                code = 3
                note(str(e))
            except Exception as e:  # a bug in the batch machinery itself
                if os.environ.get("TEXGRAD_DEBUG"):
                    raise
                code = 3
                note(f"internal error: {type(e).__name__}: {e} (after {writer.next} records; "
                      "--resume continues; TEXGRAD_DEBUG=1 shows the traceback)")
            finally:
                SIGNALS.restore()
            written = out.pos is not None
        finally:
            problem = out.close(written)
    if problem and not code:
        code = 3
        note(f"cannot write {outfile}: {problem}")
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
            rec_id, latex = identify(item[1], cfg)
            for field, mine, theirs in (("index", kept.get("index"), item[0]),
                                        ("id", kept.get("id"), rec_id),
                                        ("input", kept.get("input"), latex)):
                if mine != theirs:
                    refuse(f"record {i} of {outfile} is not record {i} of {infile}: its "
                           f"{field} is {_short(mine)} in {outfile} but {_short(theirs)} in "
                           f"{infile} ({outfile} was written from another input, or {infile} "
                           "changed)")
