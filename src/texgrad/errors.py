"""The one exception family texgrad raises.

Every error a user can cause derives from :class:`TexgradError`, which carries the position
(1-based line and column into the text the user gave), a hint, and renders itself with a caret
under the spot, the way a compiler does.
"""

from __future__ import annotations


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
        out = [f"{self.kind}: {self.message}{where}"]
        if self.source is not None and self.line is not None and self.column is not None:
            lines = self.source.split("\n")
            if 1 <= self.line <= len(lines):
                text = lines[self.line - 1]
                start = self.column - 1
                # keep a very long line readable: show a window around the spot
                lo = max(0, start - 60)
                hi = min(len(text), start + 60)
                shown = ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")
                pad = (start - lo) + (1 if lo else 0)
                gutter = f"{self.line} | "
                out.append(gutter + shown)
                out.append(" " * (len(gutter) - 2) + "| " + " " * pad + "^" * min(self.width, 60))
        if self.hint:
            out.append(f"hint: {self.hint}")
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


def position(source: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a 0-based offset; an offset at the end points one past it."""
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column
