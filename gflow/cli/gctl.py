# PYTHON_ARGCOMPLETE_OK
"""gctl: runtime administration — GPUs the scheduler uses, foreign GPU processes it may
ignore, job-group limits, GPU reservations, quotas, history purges and the audit trail.

Mutations are reserved to administrators (root, the daemon's account, the admin group);
anyone may look. A user may also cancel a reservation made for them.
"""
from __future__ import annotations

import argparse
import sys

from .common import add_standard_commands, CliError, Parser, add_global_options, add_version, connect, print_json, run
from .options import unsigned

PROG = "gctl"

GPU_PROCESS_WARNING = (
    "Warning: manually ignoring a GPU process is unsafe.\n"
    "gflow may schedule onto that GPU even though the process is still attached.\n"
    "This override is runtime-only and will be cleared after gflowd restarts."
)
LIMIT_FLAGS = (
    ("max_running_jobs", "max_running_jobs"),
    ("max_running_gpus", "max_running_gpus"),
    ("max_queued_jobs", "max_queued_jobs "),  # aligned as upstream prints it
)


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Runtime administration of gflowd.")
    add_version(parser, PROG)
    add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)

    set_gpus = sub.add_parser("set-gpus", help="restrict new allocations to these GPUs ('all' lifts it)")
    set_gpus.add_argument("spec", metavar="SPEC", help="all, 0, 0,2, 0-3, 0-1,3")
    set_gpus.set_defaults(handler=cmd_set_gpus)
    sub.add_parser("show-gpus", help="each GPU and whether it is available").set_defaults(handler=cmd_show_gpus)
    set_limit = sub.add_parser("set-limit", help="max concurrently running jobs of a job group")
    set_limit.add_argument("target", metavar="JOB_OR_GROUP", help="a job id of the group, or the group UUID")
    set_limit.add_argument("limit", metavar="N", type=unsigned)
    set_limit.set_defaults(handler=cmd_set_limit)

    _add_gpu_process(sub)
    from . import gctl_reserve  # imports this module's _call: loaded once gctl is

    gctl_reserve.add_parser(sub)
    _add_quota(sub)
    _add_history(sub)
    add_standard_commands(sub)
    from . import completers

    completers.attach(parser, {"id": completers.reservation_ids, "target": completers.job_ids})
    return parser


def _add_history(sub) -> None:
    purge = sub.add_parser("purge", help="forget finished jobs (and their logs) that ended before a time")
    purge.add_argument("--before", required=True, metavar="WHEN",
                       help="30d, 12h, 2w, today, a Unix timestamp or an ISO date")
    purge.add_argument("--user", "-u", metavar="USER", help="only this user's jobs (admins; default: all, "
                       "or your own for other users)")
    purge.add_argument("--dry-run", action="store_true", help="only say what would be purged")
    purge.add_argument("--json", action="store_true", help="machine-readable output")
    purge.set_defaults(handler=cmd_purge)
    audit = sub.add_parser("audit", help="the audit trail of requests that changed something (admins)")
    audit.add_argument("--since", "-t", metavar="WHEN", default="1d", help="1h, 1d (default), 1w, today, ...")
    audit.add_argument("--user", "-u", metavar="USER", help="only requests made by this user")
    audit.add_argument("--json", action="store_true", help="machine-readable output")
    audit.set_defaults(handler=cmd_audit)


def _add_gpu_process(sub) -> None:
    gp = sub.add_parser("gpu-process", help="let the scheduler ignore a foreign process on a GPU (admins)")
    cmds = gp.add_subparsers(dest="gpu_process_command", metavar="COMMAND", required=True, parser_class=Parser)
    for name, handler, text in (
        ("ignore", cmd_gpu_ignore, "treat a compute process on a GPU as absent (runtime only)"),
        ("unignore", cmd_gpu_unignore, "drop an ignore override"),
    ):
        p = cmds.add_parser(name, help=text)
        p.add_argument("--gpu", type=unsigned, required=True, metavar="INDEX", help="GPU index")
        p.add_argument("--pid", type=unsigned, required=True, metavar="PID", help="process id on that GPU")
        p.set_defaults(handler=handler)
    lst = cmds.add_parser("list", help="ignored GPU processes")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(handler=cmd_gpu_ignored)


def _add_subject(p: argparse.ArgumentParser) -> None:
    subject = p.add_mutually_exclusive_group()
    subject.add_argument("--user", metavar="USER", help="a user's quota")
    subject.add_argument("--project", metavar="PROJECT", help="a project's quota")
    subject.add_argument("--default-user", action="store_true", help="the limits of every user")
    subject.add_argument("--default-project", action="store_true", help="the limits of every project")


def _add_quota(sub) -> None:
    q = sub.add_parser("quota", help="running and queue limits per user and project")
    cmds = q.add_subparsers(dest="quota_command", metavar="COMMAND", required=True, parser_class=Parser)
    lst = cmds.add_parser("list", help="limits and current use")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(handler=cmd_quota_list)
    qset = cmds.add_parser("set", help="override limits of one subject (admins; persisted)")
    _add_subject(qset)
    qset.add_argument("--max-running-jobs", type=unsigned, metavar="N", help="jobs running at once")
    qset.add_argument("--max-running-gpus", type=unsigned, metavar="N", help="GPUs held by running jobs")
    qset.add_argument("--max-queued-jobs", type=unsigned, metavar="N", help="Queued + Hold jobs (checked at submission)")
    qset.set_defaults(handler=cmd_quota_set)
    remove = cmds.add_parser("remove", help="drop one subject's runtime override (admins)")
    _add_subject(remove)
    remove.set_defaults(handler=cmd_quota_remove)


# --------------------------------------------------------------------------- helpers
class _LazyClient:
    """Connects on the first call, so bad input is reported even without a daemon."""

    def __init__(self, args):
        self._args = args
        self._client = None

    def __getattr__(self, name):  # a typed `Client` method, on a connection opened now
        if self._client is None:
            self._client = connect(self._args)
        return getattr(self._client, name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _call(context: str, method, *args, **kwargs):
    """`method(*args, **kwargs)`, a `Client` method; a daemon refusal becomes
    `<context>: <message>` as upstream words it."""
    from ..client import DaemonUnavailable
    from ..protocol import GflowError

    try:
        return method(*args, **kwargs)
    except DaemonUnavailable:
        raise
    except GflowError as e:
        raise CliError(f"{context}: {e.message}") from None


def cmd_set_gpus(args, client) -> int:
    context = "Failed to set GPU configuration"
    if args.spec.strip().lower() == "all":
        _call(context, client.set_gpus, None)
        print("GPU restriction removed: all GPUs are now available")
        return 0
    from ..core.parse import parse_id_list

    indices = parse_id_list(args.spec, what="GPU index")
    _call(context, client.set_gpus, indices)
    print(f"GPU restriction updated: only GPUs {indices} will be used")
    return 0


def cmd_show_gpus(args, client) -> int:
    info = client.gpus()
    for g in sorted(info.gpus, key=lambda g: g.index):
        parts = [str(g.index), "available" if g.available else "in_use"]
        if not g.allowed:
            parts.append("restricted")
        if g.shared:
            free = f", {g.free_mb} MB free" if g.free_mb is not None else ""
            parts.append(f"shared(jobs={','.join(map(str, g.job_ids))}{free})")
        if g.beside_pids:
            parts.append(f"shared with pid {','.join(map(str, g.beside_pids))}")
        if g.reserved_for is not None:
            parts.append(f"reserved({g.reserved_for},{g.reservation_id})")
        if g.reason:
            parts.append(g.reason)
        print("\t".join(parts))
    return 0


def cmd_set_limit(args, client) -> int:
    target = args.target
    if target[:1] == "+" and target[1:].isascii() and target[1:].isdigit():
        target = target[1:]  # an unsigned integer may carry a `+`, as upstream parses it
    if target.strip().isdigit():
        # a job id: `Job <id> not found` / `... is not part of a group` stand alone
        result = client.set_group_limit(target, args.limit)
    else:
        result = _call("Failed to set group max_concurrency", client.set_group_limit, target, args.limit)
    if result.found_job is not None:
        print(f"Found job {result.found_job} in group '{result.group_id}'")
    print(
        f"Updated max_concurrency to {args.limit} for group '{result.group_id}' "
        f"({result.updated} jobs affected)"
    )
    return 0


# --------------------------------------------------------------------------- gpu-process
def cmd_gpu_ignore(args, client) -> int:
    print(GPU_PROCESS_WARNING, file=sys.stderr)
    _call("Failed to ignore GPU process", client.ignore_gpu_process, args.gpu, args.pid)
    print(f"Warning: override applied for GPU {args.gpu} PID {args.pid}.", file=sys.stderr)
    print(f"Ignoring GPU process PID {args.pid} on GPU {args.gpu}")
    return 0


def cmd_gpu_unignore(args, client) -> int:
    _call("Failed to unignore GPU process", client.unignore_gpu_process, args.gpu, args.pid)
    print(f"Removed GPU process ignore override for PID {args.pid} on GPU {args.gpu}")
    return 0


def cmd_gpu_ignored(args, client) -> int:
    entries = _call("Failed to list ignored GPU processes", client.ignored_gpu_processes)
    entries = sorted(entries, key=lambda e: (e.gpu, e.pid))
    if args.json:
        print_json(entries)
        return 0
    if not entries:
        print("No ignored GPU processes")
        return 0
    print(GPU_PROCESS_WARNING, file=sys.stderr)
    for e in entries:
        print(f"gpu={e.gpu}\tpid={e.pid}")
    return 0


# --------------------------------------------------------------------------- reserve
def _subject(args) -> tuple[str, str | None]:
    if args.user is not None:
        return "user", args.user
    if args.project is not None:
        return "project", args.project
    if args.default_user:
        return "default_user", None
    if args.default_project:
        return "default_project", None
    raise CliError("select exactly one subject: --user, --project, --default-user or --default-project")


def _named(scope: str, name: str | None) -> str:
    return f"{scope} quota" + (f" '{name}'" if name is not None else "")


def cmd_quota_list(args, client) -> int:
    from .render.quotas import render_rows

    rows = _call("Failed to list quotas", client.quotas)
    if args.json:
        print_json(rows)
        return 0
    print(render_rows(rows))
    return 0


def cmd_quota_set(args, client) -> int:
    scope, name = _subject(args)
    given = {field: getattr(args, field) for field, _ in LIMIT_FLAGS if getattr(args, field) is not None}
    if not given:
        raise CliError("provide at least one of --max-running-jobs, --max-running-gpus, --max-queued-jobs")
    _call("Failed to set quota", client.set_quota, scope, name, **given)
    print(f"Updated {_named(scope, name)}")
    for field, label in LIMIT_FLAGS:
        if field in given:
            print(f"  {label} = {given[field]}")
    return 0


def cmd_quota_remove(args, client) -> int:
    scope, name = _subject(args)
    _call("Failed to remove quota", client.remove_quota, scope, name)
    print(f"Removed {scope} quota override" + (f" '{name}'" if name is not None else ""))
    return 0


# --------------------------------------------------------------------------- history
def cmd_purge(args, client) -> int:
    import time

    from ..core.parse import parse_since
    before = parse_since(args.before, time.time())
    result = _call("Failed to purge jobs", client.purge, before, args.user, args.dry_run)
    if args.json:
        print_json(result)
        return 0
    n = len(result.ids)
    if args.dry_run:
        print(f"Would purge {n} finished job{'s' if n != 1 else ''}" + (f": {_id_ranges(result.ids)}" if n else "."))
    else:
        print(f"Purged {n} finished job{'s' if n != 1 else ''} and {result.logs_removed} log file"
              f"{'s' if result.logs_removed != 1 else ''}" + (f": {_id_ranges(result.ids)}" if n else "."))
    return 0


def _id_ranges(ids: list[int]) -> str:
    """`1-1000,1005`: a thousand purged ids should not flood the terminal."""
    parts: list[str] = []
    start = prev = None
    for i in sorted(ids):
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
        start = prev = i
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else str(start))
    return ",".join(parts)


def cmd_audit(args, client) -> int:
    import time
    from datetime import datetime

    from ..core.parse import parse_since
    since = parse_since(args.since, time.time())
    entries = _call("Failed to read the audit trail", client.audit, since, args.user)
    if args.json:
        print_json(entries)
        return 0
    if not entries:
        print("No audited requests.")
        return 0
    from .render.table import table

    rows = [
        [datetime.fromtimestamp(e.time).strftime("%Y-%m-%d %H:%M:%S"), f"{e.user}({e.uid})", e.method,
         ",".join(map(str, e.targets)) or "-", e.result]
        for e in entries
    ]
    print(table(("TIME", "CALLER", "METHOD", "TARGETS", "RESULT"), rows))
    return 0


def _attach_signed_range(argv: list[str]) -> list[str]:
    """`--range -24h` means a window into the past, not an option: pass it as `--range=-24h`."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--range" and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"--range={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def main(argv=None) -> int:
    argv = _attach_signed_range(list(sys.argv[1:] if argv is None else argv))

    def dispatch(args):
        client = _LazyClient(args)
        try:
            return args.handler(args, client)
        finally:
            client.close()

    return run(PROG, build_parser, dispatch, argv, bare_help=True)


if __name__ == "__main__":
    sys.exit(main())
