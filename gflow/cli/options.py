"""Option values every command reads alike: whole numbers, and errors that name their flag.

The hot commands' parsers import this module, so nothing is imported at the top: argparse
only when a value is refused.
"""
from __future__ import annotations


def whole(text: str, signs: str = "+-") -> int | None:
    """The integer `text` spells: ASCII digits after at most one sign out of `signs`, nothing
    else (no spaces, no `_`, as Rust's integer parse whose messages upstream users know);
    None when it is not one."""
    digits = text[1:] if text[:1] and text[:1] in signs else text
    if digits and digits.isascii() and digits.isdigit():
        return int(text)
    return None


def _refuse(message: str):
    import argparse

    return argparse.ArgumentTypeError(message)


def integer(name: str, low: int, high: int, prefix: str = ""):
    """An argparse type parsing like upstream's clap value parser for `name`; the error
    text is upstream's (`invalid value '256' for '--priority <PRIORITY>': 256 is not in 0..=255`).
    `prefix`: an optional lead-in to drop first (Slurm's `--gres=gpu:2`)."""

    def parse(text: str) -> int:
        if prefix and text[:len(prefix)].lower() == prefix:
            text = text[len(prefix):]
        value = whole(text)
        if value is not None and low <= value <= high:
            return value
        if text == "":
            reason = "cannot parse integer from empty string"
        elif value is None:
            reason = "invalid digit found in string"
        else:
            reason = f"{value} is not in {low}..={high}"
        raise _refuse(f"invalid value '{text}' for '{name}': {reason}")

    parse.integer_range = (low, high, prefix)  # lets fastargs apply the same check without argparse
    return parse


def number(message: str, signs: str = "+-"):
    """An argparse type for a whole number around which spaces are allowed; refused with
    `message` (`{}` is the text as typed)."""

    def parse(text: str) -> int:
        value = whole(text.strip(), signs)
        if value is None:
            raise _refuse(message.format(text))
        return value

    return parse


unsigned = number("invalid unsigned integer: '{}'", signs="+")


def flag_value(flag: str, fn, text: str):
    """`fn(text)` for the value of `flag`; a refusal names the flag and the value unless the
    message already does, keeping upstream's text whole (`--time 'abc': Invalid time ...`)."""
    try:
        return fn(text)
    except ValueError as e:
        from .common import CliError

        message = str(e)
        raise CliError(message if flag in message else f"{flag} '{text}': {message}") from None
