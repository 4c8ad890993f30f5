"""Time limits: a deadline for one formula, shared by every face (CLI, API, check, batch)."""

from __future__ import annotations

from fractions import Fraction

from .errors import LimitError
from .ir import Const, Expr, MatPow, Pow, walk


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
        if self.seconds and self.seconds > 0 and hasattr(signal, "setitimer"):
            try:
                self.old = signal.signal(signal.SIGALRM, self._expire)
            except ValueError:          # not the main thread: no limit here
                return self
            self.armed = True
            try:
                # a limit shorter than this call fires before __enter__ returns, where the
                # with statement would never call __exit__: the timer (which repeats) is
                # stopped here, or it would end some later, unrelated call
                signal.setitimer(signal.ITIMER_REAL, self.seconds, self.repeat)
                return self
            except BaseException:
                self.__exit__(None, None, None)
                raise
        return self

    def __exit__(self, *exc):
        if self.armed:
            import signal
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        return False


# ------------------------------------------------------------- the range of numbers

MAX_NUMBER_BITS = 997       # a number's numerator and denominator below 2**997 (about 1e300)
MAX_POWER = 1000            # an exponent, after folding powers of powers and products


def number_text(v) -> str:
    """A short rendering of a possibly huge rational: 1000, 1/3, about 1.0e+300."""
    v = Fraction(v)
    if max(abs(v.numerator), v.denominator).bit_length() <= 64:
        return str(v)
    import math
    if v == 0:
        return "0"
    mag = math.log10(abs(v.numerator)) - math.log10(v.denominator)
    sign = "-" if v < 0 else ""
    return f"about {sign}10^{mag:.0f}"


def number_ok(v) -> bool:
    """Whether a rational is within the range of numbers (about 1e300 either way)."""
    v = Fraction(v)
    return max(abs(v.numerator), v.denominator).bit_length() <= MAX_NUMBER_BITS


def out_of_range(e: Expr):
    """The first number of ``e`` beyond the limits, as (what, value): a constant beyond
    about 1e300 (or with a denominator as large), an exponent beyond MAX_POWER; else None."""
    for n in walk(e):
        if isinstance(n, Const) and not number_ok(n.value):
            return "number", n.value
        if isinstance(n, Pow) and abs(n.p) > MAX_POWER:
            return "exponent", n.p
        if isinstance(n, MatPow) and isinstance(n.k, int) and abs(n.k) > MAX_POWER:
            return "exponent", n.k
    return None


NUMBER_HINT = "texgrad bounds numbers (after folding constants) so that they fit a float"


def range_error(found, text: str, start: int = 0, width: int = 1) -> LimitError:
    """The error for a number or exponent :func:`out_of_range` found."""
    what, value = found
    if what == "exponent":
        msg = f"the exponent {number_text(value)} is larger than {MAX_POWER}"
        hint = "texgrad bounds powers (after folding powers of powers and products) to " \
               "keep answers and checks finite"
    else:
        msg = f"the number {number_text(value)} is beyond the limit of about 1e300"
        hint = NUMBER_HINT
    return LimitError(msg, hint=hint).at(text, start, width)
