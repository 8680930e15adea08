"""What every command shares: global flags, error reporting, the client, output helpers.

Errors are one line `PROG: error: …` with exit 1 (argparse usage errors exit 2); a traceback
only with `--debug` or GFLOW_DEBUG=1. A closed stdout pipe (`gqueue | head`) is a normal exit.
"""
from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # `typing` is not imported at run time: start-up is part of the product
if TYPE_CHECKING:
    from typing import Callable, Optional


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status `code`."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


_COLUMNS: list[int] = []


def _terminal_columns() -> int:
    """What `shutil.get_terminal_size().columns` answers, without importing shutil (and with
    it bz2, lzma, fnmatch): argparse builds a formatter for every add_argument call, so the
    answer is also remembered for the life of the process."""
    if _COLUMNS:
        return _COLUMNS[0]
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    _COLUMNS.append(columns or 80)
    return _COLUMNS[0]


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


U32_MAX = 2**32 - 1  # as gflow.core.parse (not imported here: CLI start-up)


def integer(name: str, low: int, high: int):
    """An argparse type parsing like upstream's clap value parser for `name`; the error
    text is upstream's (`invalid value '256' for '--priority <PRIORITY>': 256 is not in 0..=255`)."""

    def parse(text: str) -> int:
        digits = text[1:] if text[:1] in "+-" else text
        if text == "":
            reason = "cannot parse integer from empty string"
        elif not (digits and digits.isascii() and digits.isdigit()):
            reason = "invalid digit found in string"
        else:
            value = int(text)
            if low <= value <= high:
                return value
            reason = f"{value} is not in {low}..={high}"
        raise argparse.ArgumentTypeError(f"invalid value '{text}' for '{name}': {reason}")

    return parse


def add_global_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--socket", metavar="PATH", help="daemon socket (default: $GFLOW_SOCKET, your own gflowd, then the system one)")
    group.add_argument("--config", metavar="PATH", help=argparse.SUPPRESS)
    group.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def add_version(parser: argparse.ArgumentParser, prog: str) -> None:
    from .. import __version__

    parser.add_argument("-V", "--version", action="version", version=f"{prog} {__version__}")


def connect(args) -> "Client":  # noqa: F821
    from ..client import Client, locate_socket

    explicit, why = args.socket, None
    if getattr(args, "config", None):
        from ..config import ConfigError, load

        try:
            sock = load(extra=args.config).daemon.socket
        except ConfigError as e:
            raise CliError(str(e)) from None
        if sock and not explicit:
            explicit, why = sock, "daemon.socket in --config"
    path, found_why = locate_socket(explicit)
    if getattr(args, "debug", False) or os.environ.get("GFLOW_DEBUG") == "1":
        # which daemon answers is the first question when jobs seem to vanish
        print(f"gflow: using gflowd at {path} ({why or found_why})", file=sys.stderr)
    return Client(path).connect()


def run(
    prog: str,
    build: Callable[[], argparse.ArgumentParser],
    main: Callable,
    argv: Optional[list[str]] = None,
    commands: bool = True,
) -> int:
    """Parse, run, and turn every expected failure into one line on stderr. `commands`: the
    words `completion <SHELL>` and (for tools with subcommands) `help [SUB]` come first."""
    if argv is None:
        argv = sys.argv[1:]
    completing = "_ARGCOMPLETE" in os.environ
    if commands and argv[:1] == ["completion"] and not completing:
        return print_completion(prog, argv[1:])
    parser = build()
    if completing:
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    standard = getattr(args, "standard_command", None)
    if standard == "completion":
        return print_completion(prog, [args.shell])
    if standard == "help":
        parser.parse_args([args.sub, "--help"] if args.sub else ["--help"])  # exits
    debug = getattr(args, "debug", False) or os.environ.get("GFLOW_DEBUG") == "1"
    from ..protocol import GflowError

    try:
        code = main(args)
        sys.stdout.flush()
        return code or 0
    except CliError as e:
        _error(prog, str(e), debug)
        return e.code
    except GflowError as e:
        _error(prog, e.message, debug)
        return 1
    except ValueError as e:  # parse errors from gflow.core.parse
        _error(prog, str(e), debug)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`| head`): not an error; silence the final flush too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def print_completion(prog: str, argv: list[str]) -> int:
    """`<tool> completion <SHELL>`: every tool's first word, checked before its own parser
    (SPEC: a positional literally named `completion` is this subcommand)."""
    from .completion import ALL_SHELLS, script

    parser = Parser(prog=f"{prog} completion", description="Print a shell-completion script to stdout.")
    parser.add_argument("shell", metavar="SHELL", choices=ALL_SHELLS, help=f"one of: {', '.join(ALL_SHELLS)}")
    args = parser.parse_args(argv)
    sys.stdout.write(script(prog, args.shell))
    return 0


def add_standard_commands(sub) -> None:
    """List `completion` and `help` among a tool's subcommands (run() answers both before
    parsing; these entries give them a place in `--help` and in tab completion)."""
    from .completion import ALL_SHELLS

    p = sub.add_parser("completion", help="print a shell-completion script")
    p.add_argument("shell", metavar="SHELL", choices=ALL_SHELLS)
    p.set_defaults(standard_command="completion")
    p = sub.add_parser("help", help="same as --help (help SUB: SUB --help)")
    p.add_argument("sub", metavar="SUB", nargs="?")
    p.set_defaults(standard_command="help")


def exit_now(code: int) -> None:
    """End a finished one-shot command at once: flush what it printed, then `os._exit`,
    skipping interpreter teardown (freeing every module and object: ~5 ms, a tenth of a
    `gqueue` call). Only for commands that hold no other buffered files, atexit work or
    child processes to wait for."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # `gqueue | head`: not an error
        pass
    except OSError:
        code = code or 1
    try:
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)


def _error(prog: str, message: str, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    print(f"{prog}: error: {first}", file=sys.stderr)


def use_color(stream=None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and not os.environ.get("NO_COLOR")


def print_json(obj) -> None:
    import msgspec

    sys.stdout.write(msgspec.json.format(msgspec.json.encode(obj), indent=2).decode() + "\n")


def parse_or_exit(fn, text):
    """Apply a gflow.core.parse function, turning its ParseError into a CliError."""
    try:
        return fn(text)
    except ValueError as e:
        raise CliError(str(e)) from None
