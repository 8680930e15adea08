"""What every command shares: global flags, error reporting, the client, output helpers.

Errors are one line `PROG: error: …` with exit 1 (argparse usage errors exit 2); a traceback
only with `--debug` or GFLOW_DEBUG=1. A closed stdout pipe (`gqueue | head`) is a normal exit.
"""
from __future__ import annotations

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


def __getattr__(name):
    # the argparse-based classes live in `argparser` so that importing this module does not
    # import argparse (the hot commands parse their usual lines with `fastargs`)
    if name in ("Parser", "Formatter"):
        from . import argparser

        return getattr(argparser, name)
    raise AttributeError(name)


U32_MAX = 2**32 - 1  # as gflow.core.parse (not imported here: CLI start-up)


def add_global_options(parser: argparse.ArgumentParser) -> None:
    import argparse

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
    fast: Optional[str] = None,
    bare_help: bool = False,
) -> int:
    """Parse, run, and turn every expected failure into one line on stderr. `commands`: the
    words `completion <SHELL>` and (for tools with subcommands) `help [SUB]` come first.
    `fast`: the tool's entry in the `fastargs` table, tried before argparse is even imported.
    `bare_help`: with no arguments at all, print the help (tools made of subcommands)."""
    if argv is None:
        argv = sys.argv[1:]
    completing = "_ARGCOMPLETE" in os.environ
    if commands and argv[:1] == ["completion"] and not completing:
        return print_completion(prog, argv[1:])
    if bare_help and not argv and not completing:
        # a tool of subcommands run bare shows what it can do, as upstream (help on stderr, 2)
        build().print_help(sys.stderr)
        return 2
    args = None
    if fast and not completing:
        from . import fastargs

        args = fastargs.parse(fastargs.load(fast), argv)
    if args is None:
        parser = build()
        if completing:
            import argcomplete

            argcomplete.autocomplete(parser)
        args = parser.parse_args(argv)
    standard = getattr(args, "standard_command", None)
    if standard == "completion":
        return print_completion(prog, [args.shell])
    if standard == "help":
        parser = build()
        parser.parse_args([args.sub, "--help"] if args.sub else ["--help"])  # exits
    debug = getattr(args, "debug", False) or os.environ.get("GFLOW_DEBUG") == "1"
    from ..errors import GflowError

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
    (as upstream: a positional literally named `completion` is this subcommand)."""
    from .argparser import Parser
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
    return fancy_terminal(stream) and not os.environ.get("NO_COLOR")


def fancy_terminal(stream=None) -> bool:
    """A terminal that understands escape codes (colours, clearing the screen): not a pipe
    and not TERM=dumb (Emacs shells, CI logs)."""
    stream = stream or sys.stdout
    return stream.isatty() and os.environ.get("TERM") != "dumb"


# Fields holding instants, in every machine format: written as ISO 8601 (UTC, `Z`), the
# encoding `gqueue -o json` has always used, never as epoch numbers.
TIME_FIELDS = frozenset({
    "submitted_at", "started_at", "finished_at", "scheduled_at", "runner_started",
    "created_at", "cancelled_at", "start", "end", "at", "since", "timestamp",
})


def machine_values(obj):
    """`obj` as JSON-ready builtins with every instant in TIME_FIELDS as ISO 8601 text."""
    import msgspec

    from ..core.display import rfc3339

    def convert(value):
        if isinstance(value, dict):
            return {k: (rfc3339(v) if k in TIME_FIELDS and isinstance(v, (int, float)) and not isinstance(v, bool)
                        else convert(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(msgspec.to_builtins(obj))


def print_json(obj) -> None:
    import msgspec

    text = msgspec.json.format(msgspec.json.encode(machine_values(obj)), indent=2).decode()
    sys.stdout.write(text + "\n")
