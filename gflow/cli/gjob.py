# PYTHON_ARGCOMPLETE_OK
"""gjob: per-job operations — show, log, hold, release, wait (update and redo build on these).

ONE is an id, `@` (your latest job) or `@~N`; LIST is ids and ranges (`1,3,5-7`).
"""
from __future__ import annotations

import argparse
import sys

from .common import CliError, Parser, add_global_options, add_version, connect, run

PROG = "gjob"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Inspect and control individual jobs.")
    add_version(parser, PROG)
    add_global_options(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="count", default=0, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)

    show = sub.add_parser("show", aliases=["s"], help="show every detail of jobs")
    show.add_argument("ids", metavar="LIST")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    log = sub.add_parser("log", aliases=["l"], help="print a job's output")
    log.add_argument("ref", metavar="ONE", help="job id, @ or @~N")
    ends = log.add_mutually_exclusive_group()
    ends.add_argument("-f", "--first", type=_positive, metavar="N", help="only the first N lines")
    ends.add_argument("-l", "--last", type=_positive, metavar="N", help="only the last N lines")

    hold = sub.add_parser("hold", aliases=["h"], help="keep queued jobs from starting")
    hold.add_argument("ids", metavar="LIST")

    release = sub.add_parser("release", aliases=["r"], help="let held jobs run again")
    release.add_argument("ids", metavar="LIST")
    release.add_argument("--at", metavar="TIME", help="and not before this begin time")

    wait = sub.add_parser("wait", aliases=["w"], help="wait until jobs end; exit 1 if any did not finish OK")
    wait.add_argument("refs", nargs="+", metavar="ONE|LIST")
    wait.add_argument("--timeout", type=float, metavar="SECONDS")
    return parser


def _ids(text: str) -> list[int]:
    from ..core.parse import parse_id_list

    return parse_id_list(text)


def cmd_show(args, client) -> int:
    from .render import job_show, show_separator
    import time

    status = 0
    blocks = []
    found = []
    for job_id in _ids(args.ids):
        try:
            job = client.get(job_id)
        except Exception as e:  # noqa: BLE001 - per-id problems are reported and skipped
            from ..protocol import GflowError

            if not isinstance(e, GflowError):
                raise
            print(f"Error: {e.message}", file=sys.stderr)
            status = 1
            continue
        found.append(job)
        blocks.append(job_show(job, time.time()))
    if args.json:
        from .common import print_json

        print_json(found)
    elif blocks:
        print(show_separator().join(blocks))
    return status


def cmd_log(args, client) -> int:
    content = client.log(args.ref, first=args.first, last=args.last)
    if content is None:
        job_id = client.resolve(args.ref)
        print(f"Log for job {job_id} is not available.", file=sys.stderr)
        return 0
    sys.stdout.flush()
    sys.stdout.buffer.write(content)
    sys.stdout.buffer.flush()
    return 0


def _act(client, ids, action, fmt) -> int:
    result = getattr(client, action[0])(ids, **action[1])
    for job_id in result.done:
        print(fmt.format(id=job_id))
    for _job_id, message in result.errors:
        print(f"Error: {message}", file=sys.stderr)
    return 1 if result.errors else 0


def cmd_hold(args, client) -> int:
    return _act(client, _ids(args.ids), ("hold", {}), "Job {id} put on hold.")


def cmd_release(args, client) -> int:
    at = None
    if args.at is not None:
        from datetime import datetime

        from ..core.parse import parse_begin

        at = parse_begin(args.at, datetime.now().astimezone())
    ids = _ids(args.ids)
    if at is None:
        return _act(client, ids, ("release", {}), "Job {id} released back to queue.")
    from ..core.display import utc_stamp

    return _act(
        client, ids, ("release", {"at": at}),
        "Job {id} released back to queue (scheduled to start at " + utc_stamp(at) + ").",
    )


def cmd_wait(args, client) -> int:
    ids: list[int] = []
    for ref in args.refs:
        ids += [client.resolve(ref)] if ref.startswith("@") else _ids(ref)
    jobs = client.wait(ids, timeout=args.timeout)
    status = 0
    for job in jobs:
        print(f"Job {job.id} {job.state.value}" + (f" (exit code {job.exit_code})" if job.exit_code else ""))
        if job.state.value != "Finished":
            status = 1
    return status


COMMANDS = {
    "show": cmd_show, "s": cmd_show,
    "log": cmd_log, "l": cmd_log,
    "hold": cmd_hold, "h": cmd_hold,
    "release": cmd_release, "r": cmd_release,
    "wait": cmd_wait, "w": cmd_wait,
}


def main(argv=None) -> int:
    def dispatch(args):
        handler = COMMANDS[args.command]
        # parse ids before connecting, so bad input never needs a daemon
        for attr in ("ids",):
            if hasattr(args, attr):
                _ids(getattr(args, attr))
        with connect(args) as client:
            return handler(args, client)

    return run(PROG, build_parser, dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
