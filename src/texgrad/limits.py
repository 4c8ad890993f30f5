"""Time limits: a deadline for one formula, shared by every face (CLI, API, check, batch)."""

from __future__ import annotations

from .errors import LimitError


class time_limited:
    """Raise LimitError after ``seconds`` (POSIX timers, main thread; otherwise no limit).

    The alarm fires again every ``repeat`` seconds until the block ends, so a LimitError
    swallowed by some ``except TexgradError`` on the way cannot switch the limit off."""

    def __init__(self, seconds: float | None, repeat: float | None = 1.0):
        self.seconds = seconds
        self.repeat = repeat or 0.0
        self.armed = False

    def _expire(self, signum, frame):
        raise LimitError(f"the formula took longer than {self.seconds:g} s",
                         hint="raise --time-limit, or differentiate a smaller part")

    def __enter__(self):
        import signal
        import threading
        if self.seconds and self.seconds > 0 and hasattr(signal, "setitimer") and \
                threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds, self.repeat)
            self.armed = True
        return self

    def __exit__(self, *exc):
        if self.armed:
            import signal
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        return False
