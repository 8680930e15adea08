# PYTHON_ARGCOMPLETE_OK
"""gqueue: list jobs (like squeue). By default your own active jobs; `-u all` for everyone."""
from __future__ import annotations

import os
import sys
import time

from .common import CliError, add_global_options, add_version, connect, run

PROG = "gqueue"
DEFAULT_FORMAT = "JOBID,NAME,ST,TIME,NODES,NODELIST(REASON)"
MULTI_USER_FORMAT = "JOBID,NAME,USER,ST,TIME,NODES,NODELIST(REASON)"
OUTPUTS = ("table", "json", "csv", "yaml")
FIELDS = ("JOBID", "NAME", "ST", "TIME", "TIMELIMIT", "MEMORY", "NODES", "NODELIST(REASON)", "USER", "PROJECT",
          "START")


def build_parser() -> argparse.ArgumentParser:  # noqa: F821
    from .argparser import Parser
    from .options import number

    parser = Parser(prog=PROG, description="List jobs. Default: your own queued, held and running jobs.")
    add_version(parser, PROG)
    parser.add_argument("-u", "--user", "--users", metavar="USERS", help="comma list of users; 'all' or '*' for everyone")
    # as upstream, -s wins over -a (`gqueue -a -s CD`), and -c over -a
    parser.add_argument("-s", "--states", metavar="STATES", help="comma list of states: PD,H,R,CD,F,CA,TO or full names")
    parser.add_argument("-a", "--all", action="store_true", help="jobs in every state")
    parser.add_argument("-c", "--completed", action="store_true", help="only finished, failed, cancelled and timed-out jobs")
    parser.add_argument("--since", metavar="WHEN", help="submitted since: a duration ago (90m, 4h, 2d, 3w), today, yesterday, a Unix time or ISO date")
    parser.add_argument("-j", "--jobs", "--job", metavar="IDS", help="only these job ids (ranges allowed)")
    parser.add_argument("-N", "--names", metavar="NAMES", help="only these run names")
    parser.add_argument("-P", "--project", metavar="CODE", help="only this project")
    parser.add_argument("-r", "--sort", metavar="FIELD", default="id", help="id, state, time, name, gpus, priority")
    parser.add_argument("-n", "--limit", type=number("invalid limit '{}'"), default=0, metavar="N", help="first N rows (negative: last N)")
    parser.add_argument("-f", "--format", metavar="FIELDS", default=None,
                        help="columns: " + ",".join(FIELDS) + " (default adds USER when listing several users)")
    parser.add_argument("-g", "--group", action="store_true", help="group rows by state")
    parser.add_argument("-t", "--tree", action="store_true", help="show dependency and redo trees")
    parser.add_argument("-T", "--tmux", action="store_true", help="only jobs with a live tmux session")
    parser.add_argument("-o", "--output", default="table", metavar="FORMAT", help="table (default), json, csv or yaml")
    parser.add_argument("-w", "--watch", action="store_true", help="refresh until interrupted")
    parser.add_argument("--interval", type=float, default=None, metavar="SECONDS", help="refresh interval for --watch (2)")
    add_global_options(parser)
    from . import completers as c

    c.attach(parser, {"states": c.states, "format": c.gqueue_fields, "output": c.outputs(*OUTPUTS),
                      "user": c.users, "jobs": c.job_ids})
    return parser


def _query(args, identity_user: str):
    from ..core.states import ACTIVE, TERMINAL, parse_state

    if args.states is not None:
        try:
            states = [parse_state(s) for s in args.states.split(",") if s.strip()]
        except ValueError as e:
            raise CliError(str(e)) from None
        # no name at all (`-s ""`): an empty filter, every state, as upstream
        states = states or None
    elif args.completed:
        states = list(TERMINAL)
    elif args.all:
        states = None
    else:
        states = list(ACTIVE)
    users_text = (args.user or "").strip()
    if users_text in ("all", "*"):
        users = None
    elif users_text:
        users = [u.strip() for u in users_text.split(",") if u.strip()]
        _check_users(users)
    else:
        users = [identity_user]
    since = None
    if args.since:
        from ..core.parse import parse_since

        since = parse_since(args.since, time.time())
    return states, users, _job_ids(args.jobs), since


def _check_users(users: list[str]) -> None:
    """A name that is no account is a typo: say so rather than list nothing."""
    import pwd

    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            if not user.isdigit():  # the daemon names an account without a passwd entry by uid
                raise CliError(f"unknown user '{user}' (no such account on this machine)") from None


def _check_fields(text: str) -> list[str]:
    fields = [f.strip().upper() for f in text.split(",")]
    for field in fields:
        if field and field not in FIELDS:  # empty names give empty columns, as upstream
            raise CliError(f"unknown field '{field}' in --format (valid: {','.join(FIELDS)})")
    return fields


def _job_ids(text):
    """`-j`: ids (and, unlike upstream, ranges); items that are neither are skipped, and a
    filter left without any id is no filter."""
    if not text:
        return None
    from ..core.parse import ParseError, parse_id_list

    ids: set[int] = set()
    for item in text.split(","):
        if item.strip():
            try:
                ids.update(parse_id_list(item))
            except ParseError:
                pass
    return sorted(ids) or None


def _filter(args, jobs):
    if args.names:
        wanted = {n.strip() for n in args.names.split(",") if n.strip()}
        jobs = [j for j in jobs if j.run_name in wanted]
    project = (args.project or "").strip()
    if project:
        jobs = [j for j in jobs if j.project == project]
    if args.tmux:
        # jobs run without tmux here (process executor); what counts is a session of the
        # job's run name on the caller's tmux server, as upstream
        print(
            "Warning: --tmux only filters jobs with live tmux sessions; the current executor is 'process'. "
            'Use `[executor] type = "tmux"` in gflow.toml to enable tmux jobs.',
            file=sys.stderr,
        )
        live = _tmux_sessions()
        jobs = [j for j in jobs if j.run_name in live]
    return jobs


def _tmux_sessions() -> set:
    import subprocess

    try:
        done = subprocess.run(["tmux", "list-sessions", "-F", "#{session_name}"], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
    except OSError:  # no tmux installed: no session is live
        return set()
    return set(done.stdout.split()) if done.returncode == 0 else set()


def render(args, jobs, now: float, color: bool) -> str:
    if not jobs and args.output == "table":
        return "No jobs found."  # the machine formats give an empty document instead
    from .render import queue

    key = args.sort.lower()
    if key not in queue.SORT_KEYS:
        print(f"Warning: Unknown sort field '{args.sort}', using default 'id'", file=sys.stderr)
        key = "id"
    jobs = queue.sort_jobs(jobs, key)
    banner = None
    if args.limit:
        jobs, banner = queue.limit_jobs(jobs, args.limit)
    if args.output != "table":
        from .render import formats

        return {"json": formats.gqueue_json, "yaml": formats.gqueue_yaml, "csv": formats.gqueue_csv}[args.output](jobs, now)
    fields = _check_fields(args.format if args.format is not None else _default_format(args))
    if args.group:
        body = queue.gqueue_grouped(jobs, fields, now, color)
    elif args.tree:
        from .render.tree import gqueue_tree

        body = gqueue_tree(jobs, fields, now, color)
    else:
        body = queue.gqueue_table(jobs, fields, now, color)
    return f"{banner}\n\n{body}" if banner else body


def _default_format(args) -> str:
    """With `-u all` or `-u a,b` the rows are several people's: say whose each one is."""
    users = (args.user or "").strip()
    if users in ("all", "*") or "," in users:
        return MULTI_USER_FORMAT
    return DEFAULT_FORMAT


def _my_user() -> str:
    import pwd

    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)  # as the daemon names an account without a passwd entry


def cmd(args) -> int:
    from .common import fancy_terminal, use_color

    if args.interval is not None and not args.watch:
        raise CliError("the argument '--interval' requires '--watch' (see 'gqueue --help')", code=2)
    output = args.output.lower()
    if output not in OUTPUTS:
        raise CliError(f"Invalid output format '{args.output}'. Valid options: table, json, csv, yaml")
    args.output = output
    if args.format is not None:
        _check_fields(args.format)  # before connecting: a typo never needs a daemon
    color = use_color()
    if args.watch:
        import gc

        gc.enable()  # a long-running view collects its garbage after all (main() disabled it)
    with connect(args) as client:
        # the caller's name from the local account database: the daemon would answer the same
        # for our uid (SO_PEERCRED), and asking it first would cost a round trip before `list`
        from . import lean

        params = lean.list_params(*_query(args, _my_user()))
        while True:
            jobs = _filter(args, lean.decode_jobs(client.call_lean("jobs.list", params)))
            text = render(args, jobs, time.time(), color)
            if not args.watch:
                sys.stdout.write(text + "\n")
                return 0
            interval = args.interval or 2.0
            if args.output == "json":
                # one document per refresh, one per line, nothing else: `gqueue -w -o json | jq`
                import json

                sys.stdout.write(json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")) + "\n")
            elif args.output != "table":
                sys.stdout.write(text + "\n")  # csv/yaml: the documents one after the other
            else:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                # clear the screen only on a terminal that understands it; elsewhere (a pipe,
                # TERM=dumb) one block after the other
                clear = "\x1b[2J\x1b[H" if fancy_terminal() else ""
                sys.stdout.write(
                    f"{clear}Last updated: {stamp}  [Refreshing every {interval:g}s. Press Ctrl+C to exit]\n\n"
                    + text + "\n"
                )
            sys.stdout.flush()
            time.sleep(interval)


def main(argv=None) -> int:
    one_shot = argv is None  # the `gqueue` process itself, not a caller passing arguments
    if one_shot:
        # A listing then exit: the cyclic collector would only walk the imported modules and
        # the decoded (acyclic) jobs again and again: ~1.5 ms of start-up, and up to a fifth
        # of the time for 10,000 rows. Memory is returned at exit anyway.
        import gc

        gc.disable()
    code = run(PROG, build_parser, cmd, argv, fast=PROG)
    if one_shot:
        from .common import exit_now

        exit_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
