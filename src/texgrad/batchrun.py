"""Where a batch's records run: worker processes (``-j N``) or a Dask cluster.

``run_pool`` keeps PREFETCH records queued on each of N spawned worker processes, replaces a
worker that dies (its record an internal error record) or overruns the hard time limit (a
timeout record), and stops the batch (BatchFailure) when workers cannot start; ``run_dask``
submits chunks of DASK_CHUNK records as tasks and gathers them in order, retrying a failed
chunk record by record.  Both hand each record's line to the Writer.
"""

from __future__ import annotations

import os
import time

import click

from .batchio import Writer, died_fields, error_line, note, timeout_fields
from .batchrecord import enter_worker, identify, prepare_process, process_record
from .batchsignals import Signals

PREFETCH = 2             # records queued per worker process
DASK_CHUNK = 64          # records per Dask task


class BatchFailure(Exception):
    """The batch itself cannot go on (exit 3)."""


def _worker_main(conn, cfg: dict) -> None:
    """A worker process: records in over the pipe, (index, status, line) out."""
    import signal
    enter_worker()
    # the parent handles Ctrl-C, SIGTERM and SIGHUP (sent to the whole process group, they
    # must not kill a worker first: its record would be written as "the worker died")
    for name in Signals.NAMES:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    if os.environ.get("TEXGRAD_BATCH_TEST_NOSTART"):
        os._exit(71)
    prepare_process()
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
                    note(f"a worker process died (exit code {code}) on record {index}")
                    rec_id, latex = identify(raw, cfg)
                    writer.put(index, "internal", error_line(index, rec_id, latex, died_fields()))
                replace(w, kill=True)
            if hard:
                now = time.monotonic()
                for w in list(workers):
                    if w.queue and now - w.head_since >= hard:
                        index, raw = w.queue[0]
                        rec_id, latex = identify(raw, cfg)
                        writer.put(index, "timeout",
                                   error_line(index, rec_id, latex, timeout_fields(cfg)))
                        replace(w, kill=True)
    finally:
        for w in workers:
            w.stop(kill=bool(w.queue) or not w.ready)


def run_chunk(items: list, cfg: dict) -> list:
    """Dask task: [(index, raw)] -> [(status, line)]."""
    prepare_process()
    return [process_record(i, raw, cfg) for i, raw in items]


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
    note(f"a Dask task failed ({type(exc).__name__}: {exc}); retrying its {len(chunk)} "
          "records one by one")
    out = []
    for index, raw in chunk:
        try:
            out.extend(client.submit(run_chunk, [(index, raw)], cfg, pure=False).result())
        except Exception:
            rec_id, latex = identify(raw, cfg)
            out.append(("internal", error_line(index, rec_id, latex, died_fields())))
    return out

