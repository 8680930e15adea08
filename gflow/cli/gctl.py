# PYTHON_ARGCOMPLETE_OK
"""gctl: runtime administration — which GPUs the scheduler uses, group limits.

Mutations are reserved to administrators (root, the daemon's account, the admin group).
"""
from __future__ import annotations

import argparse
import sys

from .common import CliError, Parser, add_global_options, add_version, connect, run

PROG = "gctl"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Runtime administration of gflowd.")
    add_version(parser, PROG)
    add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    set_gpus = sub.add_parser("set-gpus", help="restrict new allocations to these GPUs ('all' lifts it)")
    set_gpus.add_argument("spec", metavar="SPEC", help="all, 0, 0,2, 0-3, 0-1,3")
    sub.add_parser("show-gpus", help="each GPU and whether it is available")
    set_limit = sub.add_parser("set-limit", help="max concurrently running jobs of a job group")
    set_limit.add_argument("target", metavar="JOB_OR_GROUP", help="a job id of the group, or the group UUID")
    set_limit.add_argument("limit", metavar="N", type=int)
    return parser


def cmd_set_gpus(args, client) -> int:
    from ..protocol import SetGpusParams

    if args.spec.strip().lower() == "all":
        client.call("gpus.set_allowed", SetGpusParams(indices=None))
        print("GPU restriction removed: all GPUs are now available")
        return 0
    from ..core.parse import parse_id_list

    indices = parse_id_list(args.spec, what="GPU index")
    client.call("gpus.set_allowed", SetGpusParams(indices=indices))
    print(f"GPU restriction updated: only GPUs {indices} will be used")
    return 0


def cmd_show_gpus(args, client) -> int:
    from ..protocol import GpusResult

    info = client.call("gpus.info", None, GpusResult)
    for g in sorted(info.gpus, key=lambda g: g.index):
        parts = [str(g.index), "available" if g.available else "in_use"]
        if not g.allowed:
            parts.append("restricted")
        if g.reason:
            parts.append(g.reason)
        print("\t".join(parts))
    return 0


def cmd_set_limit(args, client) -> int:
    if args.limit < 0:
        raise CliError("the limit must be a non-negative integer")
    result = client.call("groups.set_limit", {"target": args.target, "limit": args.limit})
    if result.get("found_job") is not None:
        print(f"Found job {result['found_job']} in group '{result['group_id']}'")
    print(
        f"Updated max_concurrency to {args.limit} for group '{result['group_id']}' "
        f"({result['updated']} jobs affected)"
    )
    return 0


COMMANDS = {"set-gpus": cmd_set_gpus, "show-gpus": cmd_show_gpus, "set-limit": cmd_set_limit}


def main(argv=None) -> int:
    def dispatch(args):
        with connect(args) as client:
            return COMMANDS[args.command](args, client)

    return run(PROG, build_parser, dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
