"""Our argparse parser class: one-line errors, help sized to the terminal."""
from __future__ import annotations

import argparse
import functools
import os
import sys


@functools.cache
def _terminal_columns() -> int:
    """What `shutil.get_terminal_size().columns` answers, without importing shutil (and with
    it bz2, lzma, fnmatch): argparse builds a formatter for every add_argument call, so the
    answer is also remembered for the life of the process."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Formatter(argparse.HelpFormatter):
    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class Parser(argparse.ArgumentParser):
    """argparse with our one-line error format (still exit 2 for usage errors)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n(see '{self.prog} --help')\n")


def _given_once(parser: argparse.ArgumentParser, namespace, action: argparse.Action) -> None:
    """Refuse a repeated single-valued option, like upstream (`-p 1 -p 2` is an error)."""
    given = namespace.__dict__.setdefault("_given", set())
    if action.dest in given:
        long = next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
        shown = long if action.nargs == 0 else f"{long} <{_VALUE_NAMES.get(action.dest, action.dest.upper())}>"
        parser.error(f"the argument '{shown}' cannot be used multiple times")
    given.add(action.dest)


_VALUE_NAMES = {"gpus": "NUMS"}


class Once(argparse.Action):
    """`store`, but only once."""

    def __call__(self, parser, namespace, values, option_string=None):
        _given_once(parser, namespace, self)
        setattr(namespace, self.dest, values)


class OnceTrue(argparse.Action):
    """`store_true`, but only once."""

    def __init__(self, option_strings, dest, default=None, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        _given_once(parser, namespace, self)
        setattr(namespace, self.dest, True)
