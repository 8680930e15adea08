"""Text layout shared by every command: ANSI styling that is off unless asked for, and the
"blank" table (no borders, padded columns). Nothing here prints; every function returns a
string without a trailing newline."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from gflow.protocol import JobState

# --------------------------------------------------------------------------- colour


_SGR = {
    "bold": "1",
    "dim": "2",
    "italic": "3",
    "underline": "4",
    "strike": "9",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
}

STATE_STYLES: dict[JobState, tuple[str, ...]] = {
    JobState.RUNNING: ("green", "bold"),
    JobState.FINISHED: ("dim",),
    JobState.QUEUED: ("italic",),
    JobState.HOLD: ("bold",),
    JobState.FAILED: ("red", "bold"),
    JobState.TIMEOUT: ("underline",),
    JobState.CANCELLED: ("strike",),
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Style:
    """ANSI styling that is a no-op unless colour was asked for.

    The caller decides (`stdout.isatty() and not NO_COLOR`); renderers
    only ever go through this object, so a pipe never sees an escape code.
    """

    __slots__ = ("color",)

    def __init__(self, color: bool):
        self.color = color

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles or not text:
            return text
        codes = ";".join(_SGR[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def state(self, state: JobState) -> str:
        return self.paint(state.code, *STATE_STYLES[state])


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def display_width(text: str) -> int:
    """Terminal columns taken by `text`: escapes count 0, East Asian wide characters 2."""
    plain = strip_ansi(text)
    if plain.isascii():
        return len(plain)
    import unicodedata

    width = 0
    for ch in plain:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


# --------------------------------------------------------------------------- tables


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """The "blank" table: no borders, one leading space, cells left-aligned and padded to
    the widest cell of their column, three spaces between columns, one trailing space."""
    grid = [list(headers)] + [list(row) for row in rows]
    ncols = max(len(r) for r in grid)
    for row in grid:
        if len(row) < ncols:
            row.extend([""] * (ncols - len(row)))
    return _table_columns([list(col) for col in zip(*grid)]) if ncols else "\n".join("  " for _ in grid)


def _pad_column(cells: list[str]) -> list[str]:
    """Cells padded to the column's display width. Plain ASCII columns (the usual case, and
    the one that matters for 10,000 rows) are padded by str.ljust without a per-cell scan."""
    joined = "".join(cells)
    if joined.isascii() and "\x1b" not in joined:
        width = max(map(len, cells))
        return [cell.ljust(width) for cell in cells]
    widths = [display_width(cell) for cell in cells]
    width = max(widths)
    return [cell + " " * (width - w) for cell, w in zip(cells, widths)]


def _table_columns(columns: list[list[str]]) -> str:
    """`table` from columns, each holding its header first."""
    padded = [_pad_column(col) for col in columns]
    return "\n".join([" " + "   ".join(line) + " " for line in zip(*padded)])

