"""The one integer parser and the one flag helper of the CLI, with upstream's messages."""
from __future__ import annotations

import argparse

import pytest

from gflow.cli import options
from gflow.cli.common import CliError


@pytest.mark.parametrize("text,signs,expected", [
    ("42", "+-", 42), ("+7", "+-", 7), ("-3", "+-", -3), ("-3", "+", None), ("+7", "", None),
    ("", "+-", None), ("+", "+-", None), (" 4", "+-", None), ("1_000", "+-", None), ("٣", "+-", None),
])
def test_whole_reads_only_ascii_digits_after_one_allowed_sign(text, signs, expected):
    assert options.whole(text, signs) == expected


def test_integer_keeps_upstreams_clap_messages_and_prefix():
    priority = options.integer("--priority <PRIORITY>", 0, 255)
    assert priority("255") == 255
    for text, reason in (("256", "256 is not in 0..=255"), ("", "cannot parse integer from empty string"),
                         ("x1", "invalid digit found in string"), ("-1", "-1 is not in 0..=255")):
        with pytest.raises(argparse.ArgumentTypeError) as e:
            priority(text)
        assert str(e.value) == f"invalid value '{text}' for '--priority <PRIORITY>': {reason}"
    gpus = options.integer("--gpus <NUMS>", 0, 8, prefix="gpu:")
    assert gpus("GPU:2") == 2 and gpus.integer_range == (0, 8, "gpu:")


def test_number_allows_spaces_and_names_the_text_as_typed():
    assert options.unsigned(" +12 ") == 12
    with pytest.raises(argparse.ArgumentTypeError, match=r"^invalid unsigned integer: '-1'$"):
        options.unsigned("-1")
    limit = options.number("invalid limit '{}'")
    assert limit("-5") == -5
    with pytest.raises(argparse.ArgumentTypeError, match=r"^invalid limit 'ten'$"):
        limit("ten")


def test_flag_value_names_the_flag_unless_the_message_does():
    def refuse(text):
        raise ValueError("Invalid time format")

    with pytest.raises(CliError, match=r"^--time 'abc': Invalid time format$"):
        options.flag_value("--time", refuse, "abc")

    def named(text):
        raise ValueError(f"--time '{text}': too long")

    with pytest.raises(CliError, match=r"^--time 'x': too long$"):
        options.flag_value("--time", named, "x")
    assert options.flag_value("--n", int, "3") == 3
