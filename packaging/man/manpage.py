"""Print the manual page of one gflow command, made from its real argparse parser.

Build-time only (debian/rules): argparse-manpage (Debian's python3-argparse-manpage) does the
formatting; this adds the one-line NAME entry, a version in the header and SEE ALSO.
Usage: manpage.py TOOL > TOOL.1
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

from build_manpages.manpage import Manpage

import gflow
from gflow.cli import multicall

SUMMARY = {
    "gflow": "run any gflow command (gflow TOOL ARGS...)",
    "gflowd": "run and manage the gflow daemon",
    "gbatch": "submit jobs to gflow",
    "gqueue": "list gflow jobs",
    "gjob": "show, log, hold, release and wait for gflow jobs",
    "gcancel": "cancel gflow jobs",
    "ginfo": "show the GPUs gflow schedules",
    "gctl": "administer a running gflow daemon",
    "gstats": "show gflow usage statistics",
}

MACRO = re.compile(r"\.[A-Za-z]{1,2}( |$)")

FILES = """.SH FILES
.TP
/etc/gflow/gflow.yaml
system configuration (a user's own: ~/.config/gflow/gflow.yaml)
.TP
/run/gflow/gflowd.sock
the system daemon's socket
.TP
/var/lib/gflow
the system daemon's state and job logs
"""


def multicall_parser() -> argparse.ArgumentParser:
    """`gflow` dispatches by hand (no parser of its own): describe its tools as subcommands."""
    parser = argparse.ArgumentParser(prog="gflow", description=SUMMARY["gflow"] + ".", add_help=False)
    sub = parser.add_subparsers(metavar="TOOL")
    for tool in multicall.TOOLS:
        sub.add_parser(tool, help=SUMMARY[tool], add_help=False)
    sub.add_parser("completion", help="print a shell-completion script (bash, elvish, fish, powershell, zsh)",
                   add_help=False)
    return parser


def page(tool: str) -> str:
    if tool == "gflow":
        parser = multicall_parser()
    else:
        parser = importlib.import_module(f"gflow.cli.{tool}").build_parser()
    parser.prog = tool
    parser.man_short_description = SUMMARY[tool]
    text = str(Manpage(parser))
    header, _, body = text.partition("\n")
    # help text that happens to start a line with ' or . would be read as a troff request
    body = "\n".join(line if MACRO.match(line) or not line.startswith((".", "'")) else "\\&" + line
                     for line in body.split("\n"))
    others = ",\n".join(f".BR {t} (1)" for t in SUMMARY if t != tool)
    return (f'.TH {tool.upper()} 1 "" "gflow {gflow.__version__}" "User Commands"\n{body}'
            f"{FILES}.SH \"SEE ALSO\"\n{others}\n")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SUMMARY:
        sys.exit(f"usage: manpage.py {{{','.join(SUMMARY)}}}")
    sys.stdout.write(page(sys.argv[1]))
