# PYTHON_ARGCOMPLETE_OK
"""gstats: usage statistics. By default your own jobs of all time; `-a` (or `-u all`) for everyone."""
from __future__ import annotations

import argparse
import sys
import time

from .common import CliError, Parser, add_global_options, add_version, connect, run

PROG = "gstats"
RULE = "─"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Show usage statistics. Default: your own jobs, all time.")
    add_version(parser, PROG)
    who = parser.add_mutually_exclusive_group()
    who.add_argument("-u", "--user", metavar="USER", help="only this user's jobs (default: you); 'all' for everyone")
    who.add_argument("-a", "--all-users", action="store_true", help="jobs of all users")
    parser.add_argument("-t", "--since", metavar="WHEN",
                        help="submitted since: a duration ago (90m, 4h, 2d, 3w), today, yesterday, a Unix time or ISO date")
    parser.add_argument("-o", "--output", default="table", type=str.lower, metavar="FORMAT",
                        help="table (default), json or csv")
    add_global_options(parser)
    from . import completers

    completers.attach(parser, {"output": completers.outputs("table", "json", "csv"), "user": completers.users})
    return parser


# --------------------------------------------------------------------------- renderers


def render_json(stats) -> str:
    import msgspec

    from .common import machine_values  # instants as ISO 8601, as every machine format

    return msgspec.json.format(msgspec.json.encode(machine_values(stats)), indent=2).decode()


def _one_decimal(value) -> str:
    return "" if value is None else f"{value:.1f}"


def render_csv(stats) -> str:
    rows = [
        ("metric", "value"),
        ("total_jobs", stats.total_jobs),
        ("completed_jobs", stats.completed_jobs),
        ("failed_jobs", stats.failed_jobs),
        ("cancelled_jobs", stats.cancelled_jobs),
        ("timeout_jobs", stats.timeout_jobs),
        ("running_jobs", stats.running_jobs),
        ("queued_jobs", stats.queued_jobs),
        ("avg_wait_secs", _one_decimal(stats.avg_wait_secs)),
        ("avg_runtime_secs", _one_decimal(stats.avg_runtime_secs)),
        ("total_gpu_hours", f"{stats.total_gpu_hours:.2f}"),
        ("jobs_with_gpus", stats.jobs_with_gpus),
        ("avg_gpus_per_job", f"{stats.avg_gpus_per_job:.2f}"),
        ("peak_gpu_usage", stats.peak_gpu_usage),
        ("success_rate", f"{stats.success_rate:.1f}"),
    ]
    return "\n".join(f"{k},{v}" for k, v in rows)


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def render_table(stats, color: bool) -> str:
    from ..core import display
    from .render import Style

    style = Style(color)
    bold = lambda text: style.paint(str(text), "bold")  # noqa: E731
    dim = lambda text: style.paint(str(text), "dim")  # noqa: E731
    lines: list[str] = []

    def kv(label: str, value) -> None:
        lines.append(f"  {dim(f'{label}:'.ljust(16))} {value}")

    def share(label: str, count: int, whole: int) -> None:
        kv(label, f"{bold(count)} ({count / whole * 100 if whole else 0.0:.0f}%)")

    terminal = stats.completed_jobs + stats.failed_jobs + stats.cancelled_jobs + stats.timeout_jobs
    active = stats.running_jobs + stats.queued_jobs
    user = stats.user if stats.user is not None else "all users"
    since = display.local_minute(stats.since) if stats.since is not None else "all time"
    lines.append(
        f"{bold('Usage Statistics')}  {dim(f'user: {user}')}  {dim(f'since: {since}')}  {dim(f'active: {active}')}"
    )
    lines.append(dim(RULE * 72))
    lines.append("")

    lines.append(bold("Job Status"))
    kv("Total Jobs", bold(stats.total_jobs))
    if terminal:
        # outcomes as shares of the jobs that have ended
        share("Completed", stats.completed_jobs, terminal)
        share("Failed", stats.failed_jobs, terminal)
        share("Cancelled", stats.cancelled_jobs, terminal)
        if stats.timeout_jobs:
            share("Timeout", stats.timeout_jobs, terminal)
    else:
        kv("Completed", bold(stats.completed_jobs))
        kv("Failed", bold(stats.failed_jobs))
        kv("Cancelled", bold(stats.cancelled_jobs))
    if active:
        share("Running", stats.running_jobs, stats.total_jobs)
        share("Queued", stats.queued_jobs, stats.total_jobs)
    lines.append("")

    lines.append(bold("Efficiency"))
    kv("Avg Wait Time", display.clock(stats.avg_wait_secs))
    kv("Avg Runtime", display.clock(stats.avg_runtime_secs))
    kv("Total GPU-Hours", f"{stats.total_gpu_hours:.1f}h")
    kv("Success Rate", bold(f"{stats.success_rate:.1f}%"))
    lines.append("")

    lines.append(bold("GPU Usage"))
    share("Jobs with GPUs", stats.jobs_with_gpus, stats.total_jobs)
    kv("Avg GPUs/Job", f"{stats.avg_gpus_per_job:.1f}")
    kv("Peak GPU Usage", stats.peak_gpu_usage)

    if stats.top_jobs:
        lines.append("")
        lines.append(bold("Top Jobs by Runtime"))
        runtimes = [display.clock(j.runtime_secs) for j in stats.top_jobs]
        rw = max(7, *(len(r) for r in runtimes))
        gw = max(4, *(len(str(j.gpus)) for j in stats.top_jobs))
        lines.append(
            f"  {bold('#'.ljust(3))} {bold('JOBID'.rjust(6))}  {bold('NAME'.ljust(34))}"
            f"  {bold('RUNTIME'.rjust(rw))}  {bold('GPUS'.rjust(gw))}"
        )
        lines.append("  " + dim(RULE * (50 + rw + gw)))
        for rank, (job, runtime) in enumerate(zip(stats.top_jobs, runtimes), 1):
            name = _truncate(job.name or "<unnamed>", 34).ljust(34)
            lines.append(
                f"  {bold(f'{rank}.'.ljust(3))} {bold(str(job.id).rjust(6))}  {name}"
                f"  {bold(runtime.rjust(rw))}  {bold(str(job.gpus).rjust(gw))}"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- command


def cmd(args) -> int:
    from ..core.stats import Stats
    from .common import use_color

    if args.output not in ("table", "json", "csv"):
        raise CliError(f"Invalid output format '{args.output}'. Valid options: table, json, csv")
    since = None
    if args.since:
        from ..core.parse import parse_since

        since = parse_since(args.since, time.time())
    with connect(args) as client:
        # the default is who the daemon says we are, never $USER (which anyone can set)
        user = args.user.strip() if args.user else client.identity.user
        # unlike upstream, `-u all` means everyone rather than a user named "all"
        users = None if args.all_users or user in ("all", "*") else [user]
        stats = client.call("stats.get", {"users": users, "since": since}, Stats)
    if args.output == "json":
        text = render_json(stats)
    elif args.output == "csv":
        text = render_csv(stats)
    else:
        text = render_table(stats, use_color())
    sys.stdout.write(text + "\n")
    return 0


def main(argv=None) -> int:
    return run(PROG, build_parser, cmd, argv)


if __name__ == "__main__":
    sys.exit(main())
