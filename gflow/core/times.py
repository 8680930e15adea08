"""The one duration grammar of every command: `--time`, `--since`, `--duration`, `--range`,
`--begin now+…` and `gjob wait --timeout` all read lengths of time the same way.

    90s  90m  4h  7d  2w      a number and a unit (s, m, h, d, w; any letter case)
    1h30m  2d4h               several, added up
    HH:MM:SS  MM:SS           clock-style
    D-HH  D-HH:MM  D-HH:MM:SS Slurm's days-hours form (1-00:00:00 is a day)
    N                         a bare number: in the unit the option documents
                              (minutes for --time, as Slurm; seconds for --timeout)

Errors say what was wrong in plain words, never a parser's internals.
"""
from __future__ import annotations

from .ids import ParseError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
EXAMPLES = "e.g. 90m, 4h, 7d, 1h30m, HH:MM:SS or D-HH:MM:SS"
MAX_SECONDS = 100 * 365 * 86400  # a century: anything longer is a typo, and overflows later


class DurationError(ParseError):
    """A length of time that cannot be read; str() is the whole message."""


class _Bad(Exception):
    """Why a duration cannot be read, in plain words."""


def parse_duration(text: str, bare_unit: int = 1, name: str | None = None) -> int:
    """Seconds in `text`; a bare number counts `bare_unit` seconds each. Error messages start
    with `NAME 'TEXT': ` when `name` (the option) is given, else callers add their own."""
    value = text.strip()
    try:
        if not value:
            raise _Bad("no length of time given")
        digits = value[1:] if value[:1] == "+" else value  # `+5`: as Rust's integer parse
        if digits.isascii() and digits.isdigit():
            seconds = int(digits) * bare_unit
        elif ":" in value or ("-" in value and value.split("-", 1)[0].strip().isdigit()):
            seconds = _clock(value)
        else:
            seconds = _units(value)
        if seconds > MAX_SECONDS:
            raise _Bad("longer than a century")
    except _Bad as e:
        prefix = f"{name} '{text}': " if name else ""
        raise DurationError(f"{prefix}{e}; use {EXAMPLES}") from None
    return seconds


def _units(value: str) -> int:
    total, digits, seen = 0, "", False
    if not (value[:1].isascii() and value[:1].isdigit()):
        raise _Bad(f"'{value}' is not a length of time")
    for ch in value.lower():
        if ch.isascii() and ch.isdigit():
            digits += ch
        elif ch in UNITS:
            if not digits:
                raise _Bad(f"a number is missing before '{ch}'")
            total += int(digits) * UNITS[ch]
            digits, seen = "", True
        elif ch.isspace():
            continue
        else:
            raise _Bad(f"'{ch}' is not a unit (s, m, h, d or w)")
    if digits:
        if seen:
            raise _Bad(f"'{digits}' at the end has no unit")
        raise _Bad(f"'{value}' is not a length of time")
    return total


def _clock(value: str) -> int:
    days = 0
    if "-" in value:
        day_text, value = value.split("-", 1)
        days = _number(day_text, "days")
        parts = value.split(":")
        if len(parts) > 3:
            raise _Bad("too many ':' fields")
        parts += ["0"] * (3 - len(parts))  # D-HH[:MM[:SS]]: hours come first
    else:
        parts = value.split(":")
        if len(parts) > 3:
            raise _Bad("too many ':' fields")
        parts = ["0"] * (3 - len(parts)) + parts  # MM:SS or HH:MM:SS: seconds come last
    hours, minutes, seconds = (_number(p, what) for p, what in zip(parts, ("hours", "minutes", "seconds")))
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _number(part: str, what: str) -> int:
    part = part.strip()
    if not (part.isascii() and part.isdigit()):
        shown = f"'{part}'" if part else "nothing"
        raise _Bad(f"{what} must be a whole number, not {shown}")
    return int(part)


def parse_timeout(text: str) -> float:
    """`gjob wait --timeout`: seconds (fractions allowed) or any duration."""
    try:
        value = float(text)
    except ValueError:
        return float(parse_duration(text))
    if not value >= 0 or value == float("inf"):
        raise DurationError(f"not a length of time; use seconds or {EXAMPLES}")
    return value
