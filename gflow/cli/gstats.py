# PYTHON_ARGCOMPLETE_OK
"""gstats: usage statistics. By default your own jobs of all time; `-a` for everyone as one
summary; `-u all` or `-u a,b` (or `--by user|project`) for a table per user or project."""
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
    who.add_argument("-u", "--user", "--users", metavar="USERS",
                     help="only this user's jobs (default: you); several (a,b) or 'all': a table per user")
    who.add_argument("-a", "--all-users", action="store_true", help="jobs of all users, as one summary")
    parser.add_argument("-P", "--project", metavar="CODE", help="only this project's jobs")
    parser.add_argument("--by", choices=("user", "project"), type=str.lower,
                        help="a table per user or per project, with totals")
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
    from .render.table import Style

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


_TABLE_METRICS = (
    "total_jobs", "completed_jobs", "failed_jobs", "cancelled_jobs", "timeout_jobs", "running_jobs",
    "queued_jobs", "avg_wait_secs", "avg_runtime_secs", "total_gpu_hours", "jobs_with_gpus",
    "avg_gpus_per_job", "peak_gpu_usage", "success_rate",
)
TOTAL = "(total)"  # parentheses: never a user name nor a project code


def _flat(name_key: str, name, stats, job_hours: float, cpu_hours: float) -> dict:
    row = {name_key: name}
    row.update((k, getattr(stats, k)) for k in _TABLE_METRICS)
    row["job_hours"] = job_hours
    row["cpu_hours"] = cpu_hours
    return row


def render_breakdown_json(table) -> str:
    import msgspec

    doc = {
        "by": table.by,
        "since": table.since,
        "rows": [_flat(table.by, r.name, r.stats, r.job_hours, r.cpu_hours) for r in table.rows],
        "total": _flat(table.by, None, table.total, table.total_job_hours, table.total_cpu_hours),
    }
    from .common import machine_values  # instants as ISO 8601, as every machine format

    return msgspec.json.format(msgspec.json.encode(machine_values(doc)), indent=2).decode()


def render_breakdown_csv(table) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([table.by, *_TABLE_METRICS, "job_hours", "cpu_hours"])
    rows = [(r.name if r.name is not None else "", r.stats, r.job_hours, r.cpu_hours) for r in table.rows]
    for name, stats, hours, cpu in rows + [(TOTAL, table.total, table.total_job_hours, table.total_cpu_hours)]:
        cells = _flat(table.by, name, stats, hours, cpu)
        writer.writerow([
            _one_decimal(v) if k in ("avg_wait_secs", "avg_runtime_secs", "success_rate")
            else f"{v:.2f}" if isinstance(v, float) else v
            for k, v in cells.items()
        ])
    return out.getvalue().rstrip("\n")


def render_breakdown_table(table, color: bool) -> str:
    from ..core import display
    from .render.table import Style

    style = Style(color)
    bold = lambda text: style.paint(str(text), "bold")  # noqa: E731
    since = display.local_minute(table.since) if table.since is not None else "all time"
    headers = [table.by.upper(), "JOBS", "DONE", "FAILED", "CANCELLED", "TIMEOUT", "ACTIVE",
               "GPU-HOURS", "JOB-HOURS", "CPU-HOURS", "SUCCESS", "MEAN WAIT"]

    def cells(name: str, st, hours: float, cpu: float) -> list[str]:
        return [name, str(st.total_jobs), str(st.completed_jobs), str(st.failed_jobs), str(st.cancelled_jobs),
                str(st.timeout_jobs), str(st.running_jobs + st.queued_jobs), f"{st.total_gpu_hours:.2f}",
                f"{hours:.2f}", f"{cpu:.2f}", f"{st.success_rate:.1f}%", display.clock(st.avg_wait_secs)]

    grid = [headers] + [cells(r.name if r.name is not None else "-", r.stats, r.job_hours, r.cpu_hours)
                        for r in table.rows]
    grid.append(cells("TOTAL", table.total, table.total_job_hours, table.total_cpu_hours))
    widths = [max(len(row[i]) for row in grid) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]).rstrip()

    out = [f"{bold(f'Usage by {table.by}')}  since: {since}", bold(line(grid[0]))]
    out += [line(row) for row in grid[1:-1]]
    out.append("─" * len(line(grid[0])))
    out.append(bold(line(grid[-1])))
    return "\n".join(out)


# --------------------------------------------------------------------------- command


def cmd(args) -> int:
    from .common import use_color

    if args.output not in ("table", "json", "csv"):
        raise CliError(f"Invalid output format '{args.output}'. Valid options: table, json, csv")
    since = None
    if args.since:
        from ..core.parse import parse_since

        since = parse_since(args.since, time.time())
    project = args.project.strip() if args.project else None
    with connect(args) as client:
        # the default is who the daemon says we are, never $USER (which anyone can set)
        text = args.user.strip() if args.user else client.identity.user
        # unlike upstream, `-u all` means everyone rather than a user named "all"
        everyone = args.all_users or text in ("all", "*")
        users = None if everyone else [u.strip() for u in text.split(",") if u.strip()]
        by = args.by
        if by is None and not args.all_users and (users is None or len(users) > 1):
            by = "user"  # several users: one row each, not one blended summary
        if by is not None:
            table = client.stats_by(by, users, since, project)
        else:
            stats = client.stats(users, since, project)
    if by is not None:
        shown, as_json, as_csv, as_table = table, render_breakdown_json, render_breakdown_csv, render_breakdown_table
    else:
        shown, as_json, as_csv, as_table = stats, render_json, render_csv, render_table
    if args.output == "json":
        text = as_json(shown)
    elif args.output == "csv":
        text = as_csv(shown)
    else:
        text = as_table(shown, use_color())
    sys.stdout.write(text + "\n")
    return 0


def main(argv=None) -> int:
    return run(PROG, build_parser, cmd, argv)


if __name__ == "__main__":
    sys.exit(main())
