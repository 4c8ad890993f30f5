"""The signals of a batch: a record's time limit and the signals that end a batch.

A record runs under ``run_limited`` (a SIGALRM timer in the main thread, an asynchronous
exception from a timer thread elsewhere), which raises ``Timeout``; SIGINT, SIGTERM and SIGHUP
end the batch through ``SIGNALS``, which defers them while a record is being written, so
that OUT never holds a torn record and the count stays right.
"""

from __future__ import annotations

import contextlib
import sys

REFIRE = 0.25            # seconds between repeated time-limit signals, should one be swallowed


class Timeout(BaseException):
    """Raised in the computing thread when a record's time is up.  A BaseException, so that
    no ``except Exception`` inside texgrad swallows it."""


# --------------------------------------------------------------------- time limits

class _Deadline:
    """Raise Timeout in the calling thread after ``seconds``, and again every REFIRE seconds
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
            raise Timeout()

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
                                                       ctypes.py_object(Timeout))
            self._schedule(REFIRE)

    def disarm(self) -> None:
        """Idempotent; a Timeout raised while disarming leaves it to be called again."""
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
                # clear a Timeout set but not yet raised
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.tid), None)
            self.mode = None


def run_limited(fn, seconds: float | None):
    """fn() under a time limit; raises Timeout when the time is up."""
    deadline = _Deadline(seconds)
    try:
        try:
            deadline.arm()
            return fn()
        finally:
            deadline.disarm()
    except Timeout:
        while True:                 # a repeated signal may interrupt the first disarm
            try:
                deadline.disarm()
                break
            except Timeout:
                continue
        raise



class _Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP: the batch ends with its summary, exit 128 + signal (130
    for Ctrl-C)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Signals:
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


SIGNALS = Signals()
