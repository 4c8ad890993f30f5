"""The one exception family texgrad raises.

Every error a user can cause derives from :class:`TexgradError`, which carries the position
(1-based line and column into the text the user gave), a hint, and renders itself with a caret
under the spot, the way a compiler does.
"""

from __future__ import annotations

import functools


class TexgradError(Exception):
    """Bad input or an unsupported request; exit status 2 on the command line."""

    exit_code = 2
    kind = "error"

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 hint: str | None = None, source: str | None = None, width: int = 1):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint
        self.source = source
        self.width = max(1, width)

    def at(self, source: str, offset: int, width: int = 1) -> "TexgradError":
        """Attach a position given as a 0-based character offset into ``source``."""
        line, column = position(source, offset)
        self.source, self.line, self.column, self.width = source, line, column, max(1, width)
        return self

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        out = [f"{self.kind}: {visible(self.message)}{where}"]
        if self.source is not None and self.line is not None and self.column is not None:
            lines = self.source.split("\n")
            if 1 <= self.line <= len(lines):
                text = lines[self.line - 1]
                start = self.column - 1
                # keep a very long line readable: show a window around the spot
                lo = max(0, start - 60)
                hi = min(len(text), start + 60)
                # control characters are shown escaped, never sent to the terminal; the
                # caret moves with the widened text
                before = visible(text[lo:start])
                spot = visible(text[start:start + self.width]) if start < len(text) else " "
                shown = ("…" if lo else "") + visible(text[lo:hi]) + \
                    ("…" if hi < len(text) else "")
                pad = len(before) + (1 if lo else 0)
                gutter = f"{self.line} | "
                out.append(gutter + shown)
                out.append(" " * (len(gutter) - 2) + "| " + " " * pad +
                           "^" * min(max(1, len(spot)), 60))
        if self.hint:
            out.append(f"hint: {visible(self.hint)}")
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {"error": self.message, "kind": self.kind, "line": self.line,
                "column": self.column, "hint": self.hint}


class ParseError(TexgradError):
    kind = "syntax error"


class ShapeError(TexgradError):
    kind = "shape error"


class Unsupported(TexgradError):
    kind = "unsupported"


class LimitError(TexgradError):
    kind = "limit exceeded"


def _is_control(c: int) -> bool:
    return (c < 32 and c != 10) or 0x7F <= c <= 0x9F or 0x202A <= c <= 0x202E or \
        0x2066 <= c <= 0x2069


def visible(text: str) -> str:
    """``text`` with terminal controls escaped: C0 (but the newline), DEL and C1 as
    ``\\x1b`` / ``\\u009b``, the bidirectional overrides U+202A-U+202E and U+2066-U+2069
    as ``\\u202e``, so an error message cannot drive the user's terminal."""
    if not any(_is_control(ord(ch)) for ch in text):
        return text
    return "".join((f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}")
                   if _is_control(ord(ch)) else ch for ch in text)


def position(source: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a 0-based offset; an offset at the end points one past it."""
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def guarded(fn):
    """Arithmetic facts met while simplifying or evaluating (a division by something that
    simplifies to 0, a singular matrix at the given values) are the user's input, not bugs."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ZeroDivisionError:
            raise TexgradError("division by zero: a denominator or a negative power of "
                               "something that is 0", hint="check the denominators") from None
        except Exception as e:
            if type(e).__name__ == "LinAlgError":
                raise TexgradError(f"linear algebra failed at these values: {e}",
                                   hint="an inverse or a determinant of a singular matrix"
                                   ) from None
            raise
    return wrapper
