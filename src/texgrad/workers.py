"""A worker process with a deadline, for the long-lived faces (``texgrad lsp``, ``texgrad
serve``): a derivation runs there, not in the server's own thread, because

- the time limits of :mod:`texgrad.limits` need a main thread (a worker process has one;
  a web server's request thread or an asyncio loop does not),
- a formula that runs past every limit can still be stopped, by ending the process,
- the server keeps answering while a derivation runs.

A worker ends itself when the server that started it is gone (it watches its parent), so a
server killed by a signal leaves no process behind.

:class:`Worker` starts its process on first use (``spawn``: no state inherited from the
server) and replaces it when a call overruns the deadline or the process dies.  The
functions it runs take and return plain data.
"""

from __future__ import annotations


def _watch_parent(parent: int) -> None:
    """In a worker: end it when the server that started it is gone (killed, even by
    SIGKILL, a worker would otherwise wait for calls forever)."""
    import os
    import threading
    import time

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)
    threading.Thread(target=watch, name="texgrad-watch-parent", daemon=True).start()


class Overrun(Exception):
    """A call ran past the worker's deadline (the worker was ended)."""


class Worker:
    """One worker process; ``call`` (blocking) and ``acall`` (asyncio) run a function of a
    texgrad module there, and raise :class:`Overrun` past ``deadline`` seconds."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.pool = None

    def _pool(self):
        if self.pool is None:
            import multiprocessing
            import os
            from concurrent.futures import ProcessPoolExecutor
            self.pool = ProcessPoolExecutor(max_workers=1,
                                            mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_watch_parent,
                                            initargs=(os.getpid(),))
        return self.pool

    def call(self, fn, *args):
        from concurrent.futures import TimeoutError as FutureTimeout
        from concurrent.futures.process import BrokenProcessPool
        try:
            return self._pool().submit(fn, *args).result(timeout=self.deadline)
        except FutureTimeout:
            self.stop()
            raise Overrun(f"no answer in {self.deadline:g} s") from None
        except BrokenProcessPool:
            self.stop()
            raise

    async def acall(self, fn, *args):
        import asyncio
        from concurrent.futures.process import BrokenProcessPool
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool(), fn, *args),
                                          self.deadline)
        except asyncio.TimeoutError:
            self.stop()
            raise Overrun(f"no answer in {self.deadline:g} s") from None
        except BrokenProcessPool:
            self.stop()
            raise

    def stop(self):
        """End the process now (a running call is abandoned), if there is one."""
        pool, self.pool = self.pool, None
        if pool is not None:
            # the executor has no public way to end a busy worker: its processes are ended
            # directly where the attribute exists, and the pool shut down in any case
            for p in list((getattr(pool, "_processes", None) or {}).values()):
                p.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
