"""`gqueue`'s table, grouped view, sorting and `-n` limit: cells from `Job` records.

Imported on every `gqueue` that has jobs to show, so only cheap modules at the top."""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

from gflow.core import display
from gflow.protocol import Job, JobState, reason_label

from .table import Style, _table_columns, table

DEFAULT_FIELDS = ["JOBID", "NAME", "ST", "TIME", "NODES", "NODELIST(REASON)"]

# --------------------------------------------------------------------------- gqueue cells


def _elapsed(job: Job, now: float) -> str:
    """TIME: start to finish, or to now while unfinished; `-` if it never started."""
    if job.started_at is None:
        return "-"
    end = job.finished_at if job.finished_at is not None else now
    return display.clock(end - job.started_at)


def pending_label(job: Job) -> Optional[str]:
    """The reason label gqueue shows for Queued/Hold/Cancelled jobs, else None.

    Defaults fill the gaps upstream users know: a Hold job is always `JobHeldUser`, a Queued
    job without a stored reason waits for `Resources`, a user cancel shows as `-`.
    """
    label = reason_label(job.reason)
    if job.state is JobState.QUEUED:
        return label or "Resources"
    if job.state is JobState.HOLD:
        return label or "JobHeldUser"
    if job.state is JobState.CANCELLED:
        return label or "-"
    return None


def _nodelist(job: Job) -> str:
    if job.state is JobState.RUNNING:
        return ",".join(str(i) for i in job.gpu_ids or [])
    label = pending_label(job)
    if label is None or label == "-":
        return "-"
    return f"({label})"


def _name(job: Job, style: Style) -> str:
    name = job.run_name or "-"
    if job.alive is True:
        return f"{name} {style.paint('○', 'green')}"
    return name


def _cell(job: Job, field: str, now: float, style: Style) -> str:
    if field == "JOBID":
        return str(job.id)
    if field == "NAME":
        return _name(job, style)
    if field == "ST":
        return style.state(job.state)
    if field == "TIME":
        return _elapsed(job, now)
    if field == "TIMELIMIT":
        return "UNLIMITED" if job.time_limit is None else display.clock(job.time_limit)
    if field == "MEMORY":
        return display.memory(job.memory_limit_mb)
    if field == "NODES":
        return str(job.gpus)
    if field == "NODELIST(REASON)":
        return _nodelist(job)
    if field == "USER":
        return job.user
    if field == "PROJECT":
        return job.project or "-"
    if field == "START":
        return _start(job)
    return ""  # unknown field names give an empty column


def _start(job: Job) -> str:
    """When it started, or `≈` when the backfill scheduler plans it to (as squeue's START)."""
    if job.started_at is not None:
        return display.job_time(job.started_at)
    if job.planned_start is not None:
        return "≈" + display.job_time(job.planned_start)
    return "N/A"


def _row(job: Job, fields: Sequence[str], now: float, style: Style) -> list[str]:
    return [_cell(job, f, now, style) for f in fields]


def _column(field: str, jobs: list[Job], now: float, style: Style) -> list[str]:
    """One gqueue column, cells as `_cell` makes them; the common fields without the
    per-cell dispatch (10,000 rows are rendered in a few tens of milliseconds)."""
    if field == "JOBID":
        return [str(job.id) for job in jobs]
    if field == "ST":
        codes = {state: style.state(state) for state in JobState}
        return [codes[job.state] for job in jobs]
    if field == "NODES":
        return [str(job.gpus) for job in jobs]
    if field == "USER":
        return [job.user for job in jobs]
    if field == "NAME":
        return [_name(job, style) if job.alive is True else (job.run_name or "-") for job in jobs]
    if field == "TIME":
        return _time_column(jobs, now)
    if field == "NODELIST(REASON)":
        # ended jobs other than cancelled ones show no reason: "-" without the label lookup
        return ["-" if job.state in _NO_REASON else _nodelist(job) for job in jobs]
    return [_cell(job, field, now, style) for job in jobs]


_NO_REASON = frozenset({JobState.FINISHED, JobState.FAILED, JobState.TIMEOUT})


def _time_column(jobs: list[Job], now: float) -> list[str]:
    """TIME cells as `_elapsed` gives them; whole seconds repeat a lot (short jobs), so each
    distinct duration is formatted once."""
    clock = display.clock
    seen: dict[int, str] = {}
    cells = []
    for job in jobs:
        started = job.started_at
        if started is None:
            cells.append("-")
            continue
        end = job.finished_at if job.finished_at is not None else now
        seconds = int(end - started)
        text = seen.get(seconds)
        if text is None:
            text = seen[seconds] = clock(seconds)
        cells.append(text)
    return cells


def gqueue_table(jobs: Iterable[Job], fields: Sequence[str], now: float, color: bool = False) -> str:
    style = Style(color)
    jobs = list(jobs)
    if not fields:
        return table(fields, [[] for _ in jobs])
    return _table_columns([[field] + _column(field, jobs, now, style) for field in fields])


# Hold sits between Queued and Finished: upstream never showed Hold jobs here.
GROUP_ORDER = [
    JobState.RUNNING,
    JobState.QUEUED,
    JobState.HOLD,
    JobState.FINISHED,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.TIMEOUT,
]


def gqueue_grouped(jobs: Iterable[Job], fields: Sequence[str], now: float, color: bool = False) -> str:
    """Grouped: per state `<State> (<n>)`, 60 `─`, a table; groups split by a blank line."""
    by_state: dict[JobState, list[Job]] = {}
    for job in jobs:
        by_state.setdefault(job.state, []).append(job)
    blocks = []
    for state in GROUP_ORDER:
        members = by_state.get(state)
        if members:
            header = f"{state.value} ({len(members)})\n" + "─" * 60
            blocks.append(header + "\n" + gqueue_table(members, fields, now, color))
    return "\n\n".join(blocks)


# --------------------------------------------------------------------------- sort and limit


SORT_KEYS = frozenset({"id", "state", "time", "name", "gpus", "nodes", "priority"})

_STATE_RANK = {state: rank for rank, state in enumerate(JobState)}  # Queued < Hold < ... < Timeout


def _sort_key(key: str):
    if key == "id":
        return lambda j: j.id
    if key == "state":
        return lambda j: (_STATE_RANK[j.state], j.id)
    if key == "time":  # never-started jobs first
        return lambda j: (j.started_at is not None, j.started_at or 0.0, j.id)
    if key == "name":
        return lambda j: (j.run_name, j.id)
    if key in ("gpus", "nodes"):
        return lambda j: (j.gpus, j.id)
    if key == "priority":
        return lambda j: (j.priority, j.id)
    raise ValueError(f"Unknown sort field '{key}'")


def sort_jobs(jobs: Iterable[Job], key: str) -> list[Job]:
    """Ascending sort for `gqueue --sort` (case-insensitive key, ties broken by id).

    Raises ValueError for a key outside SORT_KEYS; gqueue warns and falls back to `id`.
    """
    return sorted(jobs, key=_sort_key(key.strip().lower()))


def limit_jobs(jobs: Sequence[Job], n: int) -> tuple[list[Job], Optional[str]]:
    """`-n N`: keep the first N (N>0) or last |N| (N<0) jobs; 0 keeps all.

    Returns the kept jobs and the banner for table output when rows were dropped (the caller
    prints it followed by a blank line), else None.
    """
    jobs = list(jobs)
    total = len(jobs)
    if n == 0 or abs(n) >= total:
        return jobs, None
    if n > 0:
        return jobs[:n], f"Showing first {n} of {total} jobs (use --all or -n 0 to show all)"
    keep = -n
    return jobs[total - keep :], f"Showing last {keep} of {total} jobs (use --all or -n 0 to show all)"

