"""texgrad.workers: a worker process with a deadline (used by texgrad lsp and serve)."""

from __future__ import annotations

import asyncio
import os

import pytest

from texgrad.workers import Overrun, Worker


@pytest.fixture
def worker():
    """Worker(deadline), stopped when the test ends."""
    made = []

    def make(deadline: float) -> Worker:
        made.append(Worker(deadline))
        return made[-1]
    yield make
    for w in made:
        w.stop()


def test_a_call_runs_in_another_process(worker):
    w = worker(60.0)
    assert w.call(os.getpid) != os.getpid()
    assert w.call(pow, 3, 4) == 81


def test_a_call_past_the_deadline_ends_the_worker_and_the_next_gets_a_new_one(worker):
    import time
    w = worker(1.0)
    first = w.call(os.getpid)
    with pytest.raises(Overrun):
        w.call(time.sleep, 30)
    assert w.pool is None
    assert w.call(os.getpid) != first


def test_acall_from_an_event_loop(worker):
    import time
    w = worker(1.0)

    async def go():
        assert await w.acall(pow, 2, 10) == 1024
        with pytest.raises(Overrun):
            await w.acall(time.sleep, 30)
        return await w.acall(abs, -5)
    assert asyncio.run(go()) == 5


def test_an_error_in_the_call_is_raised_and_the_worker_kept(worker):
    w = worker(60.0)
    pid = w.call(os.getpid)
    with pytest.raises(ZeroDivisionError):
        w.call(divmod, 1, 0)
    assert w.call(os.getpid) == pid


def test_stop_without_a_process_is_harmless():
    w = Worker(1.0)
    w.stop()
    w.stop()


def test_a_worker_ends_when_its_server_is_killed(tmp_path):
    """A server killed by SIGKILL (no cleanup at all) leaves no worker behind."""
    import signal
    import subprocess
    import sys
    import time
    code = ("import os, sys, time\n"
            "from texgrad.workers import Worker\n"
            "w = Worker(60)\n"
            "print(w.call(os.getpid), flush=True)\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the worker outlived its server")
