"""Job ids, id lists and `@` references as typed by users.

Apart from `parse` (which needs re, datetime and decimal for times and sizes) because
`gcancel 5` and `gjob show @` need nothing else.
"""
from __future__ import annotations

U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1  # upstream's job ids, array task ids and counts are u32
MAX_ID_LIST = 100_000


class ParseError(ValueError):
    """A value the user typed is not acceptable; str() is the message to show."""


def _uint(text: str) -> int:
    """Parse like Rust's `u64::from_str`, whose error texts appear in upstream messages."""
    if text == "":
        raise ValueError("cannot parse integer from empty string")
    digits = text[1:] if text[0] == "+" else text
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise ValueError("invalid digit found in string")
    value = int(digits)
    if value > U64_MAX:
        raise ValueError("number too large to fit in target type")
    return value


def parse_id_list(text: str, what: str = "job ID") -> list[int]:
    """`1,3,5-7` -> [1, 3, 5, 6, 7]; `what` names the kind of number in error messages."""
    ids: set[int] = set()
    for item in text.strip().split(","):
        item = item.strip()
        start_text, dash, end_text = item.partition("-")
        try:
            start = _uint(start_text.strip())
            end = _uint(end_text.strip()) if dash else start
        except ValueError:
            raise ParseError(f"Invalid {what} or range: {text}: Not a number: {item}") from None
        if start > end:
            raise ParseError(
                f"Invalid {what} or range: {text}: Start of the range cannot be bigger than the end: {item}"
            )
        if len(ids) + end - start + 1 > MAX_ID_LIST:
            raise ParseError(f"Invalid {what} or range: {text}: Range too large (max {MAX_ID_LIST} IDs): {item}")
        ids.update(range(start, end + 1))
    return sorted(ids)


def parse_job_ref(text: str) -> int | str:
    """A job id, or an `@` / `@~N` shorthand (N >= 1) left for the daemon to resolve."""
    value = text.strip()
    try:
        return _uint(value)
    except ValueError:
        pass
    if value == "@":
        return "@"
    back = value[2:] if value.startswith("@~") else ""
    if back.isascii() and back.isdigit() and int(back) >= 1:
        return f"@~{int(back)}"
    raise ParseError(f"Invalid job reference '{text}'. Expected a job ID, '@' or '@~N' (N >= 1)")
