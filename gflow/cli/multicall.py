# PYTHON_ARGCOMPLETE_OK
"""`gflow <tool> [args]`: one entry point for every tool (also `python -m gflow`)."""
from __future__ import annotations

import importlib
import sys

TOOLS = ("gbatch", "gcancel", "gctl", "gflowd", "ginfo", "gjob", "gqueue", "gstats")

USAGE = """\
gflow: a job scheduler for one shared Linux machine with GPUs.

Usage: gflow <TOOL> [ARGS...]

Tools:
  gbatch    submit jobs
  gqueue    list jobs
  gjob      show, log, hold, release, wait for jobs
  gcancel   cancel jobs
  ginfo     GPU overview
  gctl      runtime administration
  gstats    usage statistics
  gflowd    run and manage the daemon

  completion <SHELL>   print a shell-completion script (bash, elvish, fish, powershell, zsh)
"""


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["__multicall"]:
        argv = argv[1:]
        if not argv:
            sys.stderr.write(USAGE + "Missing subcommand for __multicall\n")
            return 1
    if not argv:
        sys.stderr.write(USAGE)
        return 0
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    tool = argv[0]
    if tool == "completion":
        from .common import print_completion

        return print_completion("gflow", argv[1:])
    if tool not in TOOLS:
        sys.stderr.write(USAGE + f"Unknown command '{tool}'. Expected one of: {', '.join(TOOLS)}\n")
        return 1
    module = importlib.import_module(f"gflow.cli.{tool}")
    sys.argv[0] = tool
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
