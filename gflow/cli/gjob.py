# PYTHON_ARGCOMPLETE_OK
"""gjob: per-job operations — show, log, hold, release, update, redo, wait, attach, close-sessions.

ONE is an id, `@` (your latest job) or `@~N`; LIST is ids and ranges (`1,3,5-7`).
Values are checked before the daemon is contacted, so a typo never half-applies.
"""
from __future__ import annotations

import sys

from .common import U32_MAX, CliError, add_global_options, add_standard_commands, add_version, connect, run
from .options import flag_value as _flag, integer

PROG = "gjob"


LIST_HELP = "job ids and ranges: 42, 1,3,5-7; @ is your latest job, @~N your Nth most recent (@~1 = @)"


def build_parser() -> argparse.ArgumentParser:  # noqa: F821
    import argparse

    from .argparser import Parser

    parser = Parser(prog=PROG, description="Inspect and control individual jobs.")
    add_version(parser, PROG)
    add_global_options(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="count", default=0, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True, parser_class=Parser)

    show = sub.add_parser("show", aliases=["s"], help="show every detail of jobs")
    show.add_argument("ids", metavar="LIST", help=LIST_HELP)
    show.add_argument("--json", action="store_true", help="machine-readable output")

    log = sub.add_parser("log", aliases=["l"], help="print a job's output")
    log.add_argument("ref", metavar="ONE", help="job id, @ or @~N")
    ends = log.add_mutually_exclusive_group()
    ends.add_argument("-f", "--first", type=integer("--first <N>", 1, U32_MAX), metavar="N", help="only the first N lines")
    ends.add_argument("-l", "--last", type=integer("--last <N>", 1, U32_MAX), metavar="N", help="only the last N lines")

    hold = sub.add_parser("hold", aliases=["h"], help="keep queued jobs from starting")
    hold.add_argument("ids", metavar="LIST", help=LIST_HELP)

    release = sub.add_parser("release", aliases=["r"], help="let held jobs run again")
    release.add_argument("ids", metavar="LIST", help=LIST_HELP)
    release.add_argument("--at", metavar="TIME", help="and not before this begin time")

    from .gjob_change import add_redo, add_update

    add_update(sub)
    add_redo(sub)

    attach = sub.add_parser("attach", aliases=["a"], help="attach to a job's tmux session (on your tmux server)")
    attach.add_argument("ref", metavar="ONE", help="job id, @ or @~N")

    close = sub.add_parser(
        "close-sessions", aliases=["close"], help="close the tmux sessions of jobs",
        description="Close the tmux sessions (on your tmux server) named after your jobs. "
        "Without --state only ended jobs qualify; the filters combine.",
    )
    close.add_argument("-j", "--jobs", metavar="LIST", help="only these job ids")
    close.add_argument("-s", "--state", metavar="STATES", help="only jobs in these states (PD,H,R,CD,F,CA,TO or names)")
    close.add_argument("-p", "--pattern", metavar="TEXT", help="only sessions whose name contains TEXT")
    close.add_argument("-a", "--all", action="store_true",
                       help="every gjob-* session except those of running jobs (other filters ignored)")

    wait = sub.add_parser(
        "wait", aliases=["w"], help="wait until jobs end; exit 1 if any did not finish OK",
        description="Wait until every job has ended, then print each one's state. Exit status: 0 when "
        "all finished successfully, 1 when any failed, was cancelled or timed out, 124 when --timeout "
        "passed first (as timeout(1)).",
    )
    wait.add_argument("refs", nargs="+", metavar="ONE|LIST", help=LIST_HELP + "; several may be given")
    wait.add_argument("--timeout", metavar="DURATION",
                      help="give up after this long: seconds, or 90s, 5m, 2h, 1d, HH:MM:SS")
    add_standard_commands(sub)
    from . import completers as c

    ids = {dest: c.job_ids for dest in ("ids", "ref", "refs", "jobs", "depends_on", "depends_on_all", "depends_on_any")}
    c.attach(parser, dict(ids, state=c.states))
    return parser


def _one_ref(text: str):
    """ONE: a job id, or an `@…` shorthand left for the daemon (which also answers for a
    malformed one such as `@~0`)."""
    from ..core.ids import ParseError, parse_job_ref

    try:
        return parse_job_ref(text)
    except ParseError:
        if text.strip().startswith("@"):
            return text.strip()
        raise CliError(f"Invalid job ID: {text}") from None


def _resolve(client, ref) -> int:
    """An id as is; a shorthand asked of the daemon, its refusal in upstream's words."""
    if isinstance(ref, int):
        return ref
    from ..errors import GflowError
    from . import lean

    try:
        return lean.decode(client.call_lean("jobs.resolve", lean.job_ref(ref)))
    except GflowError as e:
        raise CliError(f"Failed to resolve job ID '{ref}': {e.message}") from None


def _ids(text: str) -> list:
    """LIST: ids and ranges (`1,3,5-7`); `@` / `@~N` items too (upstream refuses them there),
    left for the daemon to resolve."""
    from ..core.ids import parse_id_list

    items = text.split(",")
    refs = [_one_ref(item) for item in items if item.strip().startswith("@")]
    plain = ",".join(item for item in items if not item.strip().startswith("@"))
    return (parse_id_list(plain) if plain.strip() or not refs else []) + refs


def _resolved(client, text: str) -> list[int]:
    return sorted({_resolve(client, item) for item in _ids(text)})


def cmd_show(args, client) -> int:
    import time

    from ..errors import GflowError
    from . import lean

    status = 0
    found = []
    for job_id in _resolved(client, args.ids):
        try:
            raw = client.call_lean("jobs.get", lean.job_ref(job_id))
            # the text block needs no msgspec; --json prints every field of the Struct
            job = lean.decode_job(raw) if args.json else lean.decode_job_view(raw)
        except GflowError as e:  # per-id problems are reported and skipped
            if not args.json:
                sys.stdout.flush()  # the blocks before it come first, as upstream
            print(f"Error: {e.message}", file=sys.stderr)
            status = 1
            continue
        if not args.json:
            from .render.show import job_show, show_separator

            print((show_separator()[1:] if found else "") + job_show(job, time.time()))
        found.append(job)
    if args.json:
        import msgspec

        from .common import print_json

        # every field, defaults included: a script should not have to know them
        print_json([msgspec.structs.asdict(job) for job in found])
    return status


def cmd_log(args, client) -> int:
    from ..client import is_not_found
    from ..protocol import GflowError

    job_id = _resolve(client, _one_ref(args.ref))
    try:
        content = client.log(job_id, first=args.first, last=args.last)
    except GflowError as e:
        if not is_not_found(e):
            raise
        # upstream's words for an unknown job, but an error is an error: exit 1
        print(f"Log for job {job_id} is not available.", file=sys.stderr)
        return 1
    if content is None:  # a known job that has not started yet: nothing to show, no error
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
    return _act(client, _resolved(client, args.ids), ("hold", {}), "Job {id} put on hold.")


def _release_at(args):
    """`--at` is parsed before any job is touched."""
    if args.at is None:
        return None
    from datetime import datetime

    from ..core.parse import parse_begin

    return _flag("--at", lambda t: parse_begin(t, datetime.now().astimezone()), args.at)


def cmd_release(args, client) -> int:
    at = args.prepared
    ids = _resolved(client, args.ids)
    if at is None:
        return _act(client, ids, ("release", {}), "Job {id} released back to queue.")
    from ..core.display import utc_stamp

    return _act(
        client, ids, ("release", {"at": at}),
        "Job {id} released back to queue (scheduled to start at " + utc_stamp(at) + ").",
    )


# update and redo live in gjob_change.py, imported only when one of them runs: `gjob show`
# stays a hot command
def cmd_update(args, client) -> int:
    from .gjob_change import cmd_update

    return cmd_update(args, client)


def cmd_redo(args, client) -> int:
    from .gjob_change import cmd_redo

    return cmd_redo(args, client)


def _update_params(args):
    from .gjob_change import update_params

    return update_params(args)


def _redo_params(args):
    from .gjob_change import redo_params

    return redo_params(args)


def _wait_timeout(args):
    if args.timeout is None:
        return None
    from ..core.times import parse_timeout

    return _flag("--timeout", parse_timeout, args.timeout)


def cmd_wait(args, client) -> int:
    ids: list[int] = []
    for ref in args.refs:
        ids += _resolved(client, ref)
    jobs = client.wait(ids, timeout=args.prepared)
    status = 0
    for job in jobs:
        print(f"Job {job.id} {job.state.value}" + (f" (exit code {job.exit_code})" if job.exit_code else ""))
        if job.state.value != "Finished":
            status = 1
    if any(not job.state.is_terminal for job in jobs):
        return WAIT_TIMED_OUT
    return status


WAIT_TIMED_OUT = 124  # as timeout(1): scripts can tell "still running" from "failed"


def cmd_attach(args, client) -> int:
    from ..client import is_not_found
    from ..protocol import GflowError

    job_id = _resolve(client, _one_ref(args.ref))
    try:
        job = client.get(job_id)
    except GflowError as e:
        if not is_not_found(e):
            raise
        print(f"Error: Job {job_id} not found", file=sys.stderr)
        return 1
    name = job.run_name
    if not name:
        print(f"Error: Job {job_id} has no tmux session", file=sys.stderr)
        return 1
    from .. import tmux

    if not tmux.session_exists(name):
        print(f"Error: Tmux session '{name}' for job {job_id} does not exist", file=sys.stderr)
        return 1
    print(f"Attaching to tmux session '{name}' for job {job_id}...", flush=True)
    tmux.attach(name)


def _prepare_close(args):
    """Filters checked before connecting: ids, then state names (any letter case)."""
    ids = states = None
    if args.jobs is not None:
        from ..core.parse import parse_id_list

        ids = set(parse_id_list(args.jobs))
    if args.state is not None:
        from ..protocol import JobState

        try:
            states = {JobState.parse(s) for s in args.state.split(",") if s.strip()}
        except ValueError as e:
            raise CliError(str(e)) from None
    return ids, states


def cmd_close_sessions(args, client) -> int:
    from .. import tmux
    from ..protocol import JobState, TERMINAL_STATES
    from .gqueue import _my_user

    tag = "gjob close-sessions"
    ids, states = args.prepared
    mine = [_my_user()]
    if args.all:
        sessions = tmux.sessions()
        running = {j.run_name for j in client.list(states=[JobState.RUNNING], users=mine)}
        names = sorted({n for n in sessions if n.startswith("gjob-") and n not in running})
        if not names:
            print(f"{tag}: no sessions to close", file=sys.stderr)
            return 0
    else:
        if ids is None and states is None and args.pattern is None:
            print(f"{tag}: no filters specified (see gjob close-sessions --help)", file=sys.stderr)
            return 0
        wanted = states if states is not None else TERMINAL_STATES
        jobs = client.list(states=sorted(wanted, key=list(JobState).index), users=mine, ids=ids)
        names = sorted({
            j.run_name for j in jobs
            if j.run_name and (args.pattern is None or args.pattern in j.run_name)
        })
        if not names:
            print(f"{tag}: no matching sessions", file=sys.stderr)
            return 0
    print(f"{tag}: closing {len(names)} session(s)", file=sys.stderr)
    print("\n".join(names), flush=True)
    closed = already = failed = 0
    for name in names:
        if not tmux.session_exists(name):
            already += 1
            continue
        if tmux.kill_session(name):
            closed += 1
        else:
            failed += 1
    print(f"{tag}: Closed={closed} AlreadyClosed={already} Failed={failed}", file=sys.stderr)
    return 1 if failed else 0


COMMANDS = {
    "attach": cmd_attach, "a": cmd_attach,
    "close-sessions": cmd_close_sessions, "close": cmd_close_sessions,
    "show": cmd_show, "s": cmd_show,
    "log": cmd_log, "l": cmd_log,
    "hold": cmd_hold, "h": cmd_hold,
    "release": cmd_release, "r": cmd_release,
    "update": cmd_update, "u": cmd_update,
    "redo": cmd_redo,
    "wait": cmd_wait, "w": cmd_wait,
}

# commands whose values are parsed before connecting: bad input never needs a daemon and
# never leaves some jobs changed and others not
PREPARE = {
    cmd_release: _release_at,
    cmd_update: _update_params,
    cmd_redo: _redo_params,
    cmd_close_sessions: _prepare_close,
    cmd_wait: _wait_timeout,
}


def main(argv=None) -> int:
    def dispatch(args):
        handler = COMMANDS[args.subcommand]
        # parse ids before connecting, so bad input never needs a daemon
        for attr in ("ids",):
            if hasattr(args, attr):
                _ids(getattr(args, attr))
        prepare = PREPARE.get(handler)
        args.prepared = prepare(args) if prepare else None
        with connect(args) as client:
            return handler(args, client)

    code = run(PROG, build_parser, dispatch, argv, fast=PROG, bare_help=True)
    if argv is None and sys.argv[1:2] in (["show"], ["s"]):
        # a one-shot `gjob show`: skip the interpreter's teardown, as gqueue does
        from .common import exit_now

        exit_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
