"""Presentation of jobs: tables, tree, machine formats and the `gjob show` block.

Pure functions from `Job` records to text. Nothing here prints or talks to the daemon; every
function returns a string without a trailing newline, and the caller prints it. The module
is imported on every `gqueue` start, so only cheap stdlib modules are imported at the top;
json/csv/yaml and the placeholder helpers are imported where they are used.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional, Sequence

from gflow.core import display
from gflow.protocol import Job, JobState, reason_label

DEFAULT_FIELDS = ["JOBID", "NAME", "ST", "TIME", "NODES", "NODELIST(REASON)"]

# --------------------------------------------------------------------------- colour


_SGR = {
    "bold": "1",
    "dim": "2",
    "italic": "3",
    "underline": "4",
    "strike": "9",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
}

STATE_STYLES: dict[JobState, tuple[str, ...]] = {
    JobState.RUNNING: ("green", "bold"),
    JobState.FINISHED: ("dim",),
    JobState.QUEUED: ("italic",),
    JobState.HOLD: ("bold",),
    JobState.FAILED: ("red", "bold"),
    JobState.TIMEOUT: ("underline",),
    JobState.CANCELLED: ("strike",),
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Style:
    """ANSI styling that is a no-op unless colour was asked for.

    The caller decides (`stdout.isatty() and not NO_COLOR`); renderers
    only ever go through this object, so a pipe never sees an escape code.
    """

    __slots__ = ("color",)

    def __init__(self, color: bool):
        self.color = color

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles or not text:
            return text
        codes = ";".join(_SGR[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def state(self, state: JobState) -> str:
        return self.paint(state.code, *STATE_STYLES[state])


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def display_width(text: str) -> int:
    """Terminal columns taken by `text`: escapes count 0, East Asian wide characters 2."""
    plain = strip_ansi(text)
    if plain.isascii():
        return len(plain)
    import unicodedata

    width = 0
    for ch in plain:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


# --------------------------------------------------------------------------- tables


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """The "blank" table: no borders, one leading space, cells left-aligned and padded to
    the widest cell of their column, three spaces between columns, one trailing space."""
    grid = [list(headers)] + [list(row) for row in rows]
    ncols = max(len(r) for r in grid)
    for row in grid:
        if len(row) < ncols:
            row.extend([""] * (ncols - len(row)))
    return _table_columns([list(col) for col in zip(*grid)]) if ncols else "\n".join("  " for _ in grid)


def _pad_column(cells: list[str]) -> list[str]:
    """Cells padded to the column's display width. Plain ASCII columns (the usual case, and
    the one that matters for 10,000 rows) are padded by str.ljust without a per-cell scan."""
    joined = "".join(cells)
    if joined.isascii() and "\x1b" not in joined:
        width = max(map(len, cells))
        return [cell.ljust(width) for cell in cells]
    widths = [display_width(cell) for cell in cells]
    width = max(widths)
    return [cell + " " * (width - w) for cell, w in zip(cells, widths)]


def _table_columns(columns: list[list[str]]) -> str:
    """`table` from columns, each holding its header first."""
    padded = [_pad_column(col) for col in columns]
    return "\n".join([" " + "   ".join(line) + " " for line in zip(*padded)])


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


def job_cell(job: Job, field: str, now: float, color: bool = False) -> str:
    """One gqueue cell; `field` is matched exactly (case-sensitive), unknown → ``""``."""
    return _cell(job, field, now, Style(color))


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


# --------------------------------------------------------------------------- tree view


class _Edge:
    """A child drawn under a parent: the job itself, or a `→ see job` reference row.
    (A slotted class: a NamedTuple costs a class build via exec on every gqueue start.)"""

    __slots__ = ("child", "redo", "reference")

    def __init__(self, child: int, redo: bool, reference: bool):
        self.child = child
        self.redo = redo  # dashed connector
        self.reference = reference


# When one parent reaches the same child twice (e.g. it is both its dependency and its redo
# source) only the strongest link is drawn: real row beats reference, dependency beats redo.
def _strength(edge: _Edge) -> int:
    return (0 if edge.reference else 2) + (0 if edge.redo else 1)


def _tree_edges(jobs: dict[int, Job]) -> tuple[dict[int, dict[int, _Edge]], set[int]]:
    """Children per parent and the set of jobs that have a parent in the listing."""
    children: dict[int, dict[int, _Edge]] = {}
    placed: set[int] = set()

    def link(parent: int, edge: _Edge) -> None:
        slot = children.setdefault(parent, {})
        old = slot.get(edge.child)
        if old is None or _strength(edge) > _strength(old):
            slot[edge.child] = edge

    for job in jobs.values():
        dep_parents = list(dict.fromkeys(d for d in job.depends_on_ids if d in jobs and d != job.id))
        # The first listed dependency is the primary parent; the others get reference rows.
        for i, parent in enumerate(dep_parents):
            link(parent, _Edge(job.id, redo=False, reference=i > 0))
        redo_parent = job.redone_from
        has_redo_parent = redo_parent in jobs and redo_parent != job.id
        if has_redo_parent:
            # With a dependency parent too, the job is drawn there; the redo link is a pointer.
            link(redo_parent, _Edge(job.id, redo=True, reference=bool(dep_parents)))
        if dep_parents or has_redo_parent:
            placed.add(job.id)
    return children, placed


def _connector(redo: bool, last: bool) -> str:
    if redo:
        return "╰┄" if last else "├┄"
    return "╰─" if last else "├─"


# A tree row: (lead, job_id, reference) where lead is the continuation prefix + connector
# drawn before the JOBID, and reference marks a `→ see job` row.
_TreeRow = tuple


def _tree_order(jobs: dict[int, Job]) -> list[_TreeRow]:
    """Rows in drawing order: roots by ascending id, children by id, depth first.
    Iterative, so a dependency chain deeper than Python's recursion limit still draws."""
    children, placed = _tree_edges(jobs)
    rows: list[_TreeRow] = []
    drawn: set[int] = set()
    stack: list[list] = []  # [child_prefix, edges, next edge index] per open job

    def enter(job_id: int, prefix: str, lead: str, is_root: bool, is_last: bool) -> None:
        drawn.add(job_id)
        rows.append((lead, job_id, False))
        # Children of a root start at column 0; deeper levels carry `│ ` while the parent
        # still has siblings below it, and blanks once it was the last one.
        child_prefix = "" if is_root else prefix + ("  " if is_last else "│ ")
        edges = sorted(children.get(job_id, {}).values(), key=lambda e: e.child)
        stack.append([child_prefix, edges, 0])

    def walk(root: int) -> None:
        enter(root, "", "", True, True)
        while stack:
            top = stack[-1]
            child_prefix, edges, i = top
            if i == len(edges):
                stack.pop()
                continue
            top[2] = i + 1
            edge = edges[i]
            last = i == len(edges) - 1
            lead_child = child_prefix + _connector(edge.redo, last)
            if edge.reference:
                rows.append((lead_child, edge.child, True))
            elif edge.child not in drawn:  # guards against a (rejected, but possible) cycle
                enter(edge.child, child_prefix, lead_child, False, last)

    for job_id in sorted(jobs):
        if job_id not in placed:
            walk(job_id)
    # Jobs only reachable through a cycle would vanish; draw them as roots instead.
    for job_id in sorted(jobs):
        if job_id not in drawn:
            walk(job_id)
    return rows


def gqueue_tree(jobs: Iterable[Job], fields: Sequence[str], now: float, color: bool = False) -> str:
    """The dependency/redo tree; connectors prefix the JOBID cell only when JOBID is
    the first column."""
    by_id = {job.id: job for job in jobs}
    style = Style(color)
    draw = bool(fields) and fields[0] == "JOBID"
    rows = []
    for lead, job_id, reference in _tree_order(by_id):
        if reference:
            # every cell `-`; the pointer text only where the tree is drawn (as upstream)
            cells = ["-"] * len(fields)
            if draw:
                cells[0] = f"→ see job {job_id}"
        else:
            cells = _row(by_id[job_id], fields, now, style)
        if draw:
            cells[0] = lead + cells[0]
        rows.append(cells)
    return table(fields, rows)


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


# --------------------------------------------------------------------------- machine formats


def job_record(job: Job, now: float) -> dict:
    """The per-job object of `gqueue -o json|yaml`; optional keys only if set."""
    record: dict = {
        "id": job.id,
        "name": job.run_name or "-",
        "state": job.state.value,
        "time": _elapsed(job, now),
        "gpus": list(job.gpu_ids or []),
        "user": job.user,
    }
    if job.project:
        record["project"] = job.project
    if job.submitted_at:
        record["submitted_at"] = display.rfc3339(job.submitted_at)
    reason = pending_label(job)
    if reason is not None:
        record["reason"] = reason
    if job.memory_limit_mb is not None:
        record["memory_mb"] = job.memory_limit_mb
    if job.time_limit is not None:
        record["time_limit"] = display.clock(job.time_limit)
    return record


def _document(jobs: Sequence[Job], now: float) -> dict:
    records = [job_record(job, now) for job in jobs]
    return {"jobs": records, "total": len(records), "timestamp": display.rfc3339_now_nanos(now)}


def gqueue_json(jobs: Sequence[Job], now: float) -> str:
    """Byte for byte `json.dumps(doc, indent=2, ensure_ascii=False)`, whose indenting encoder
    is pure Python (~10x slower for 10,000 jobs); msgspec is loaded anyway."""
    import msgspec

    return msgspec.json.format(msgspec.json.encode(_document(jobs, now)), indent=2).decode()


def gqueue_yaml(jobs: Sequence[Job], now: float) -> str:
    """YAML as upstream's serde_yaml writes it: strings are quoted only when a YAML 1.2 reader
    would take them for null, a boolean or a number (not timestamps or `12:00:00`), and the
    document ends with its newline, which the caller's own newline turns into a blank line."""
    import yaml

    return yaml.dump(_document(jobs, now), Dumper=_yaml_dumper(), sort_keys=False, allow_unicode=True)


_YAML_DUMPER: list = []

# What serde_yaml reads as something other than a string (YAML 1.2 core schema, Rust number
# syntax): such strings are written quoted.
_YAML_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_YAML_BOOL = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
_YAML_INT = r"[-+]?(?:[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+|0b[01]+)"  # compiled on first use, not at start-up
_YAML_FLOAT = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"


def _yaml_plain_tag(value: str) -> str:
    if value in _YAML_NULL:
        return "tag:yaml.org,2002:null"
    if value in _YAML_BOOL:
        return "tag:yaml.org,2002:bool"
    digits = value.lstrip("+-")
    leading_zero = len(digits) > 1 and digits[0] == "0" and digits.isdigit()  # `007` is a string
    if not leading_zero and re.fullmatch(_YAML_INT, value):
        return "tag:yaml.org,2002:int"
    if not leading_zero and re.fullmatch(_YAML_FLOAT, value):
        return "tag:yaml.org,2002:float"
    return "tag:yaml.org,2002:str"


def _yaml_dumper():
    if not _YAML_DUMPER:
        import yaml

        class Dumper(yaml.SafeDumper):
            def resolve(self, kind, value, implicit):
                if kind is yaml.ScalarNode and implicit[0]:
                    # quoted when either a YAML 1.2 reader (serde_yaml) or a YAML 1.1 one
                    # (PyYAML: timestamps, `12:34:56` as a base-60 number) would read the
                    # plain text as anything but this string
                    tag = _yaml_plain_tag(value)
                    if tag == "tag:yaml.org,2002:str":
                        tag = super().resolve(kind, value, implicit)
                    return tag
                return super().resolve(kind, value, implicit)

        _YAML_DUMPER.append(Dumper)
    return _YAML_DUMPER[0]


# upstream's columns first, then what the JSON and YAML records carry too
CSV_FIELDS = ["id", "name", "state", "time", "gpus", "user", "submitted_at", "reason", "time_limit",
              "project", "memory_mb"]


def gqueue_csv(jobs: Sequence[Job], now: float) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for job in jobs:
        record = job_record(job, now)
        record["gpus"] = "[" + ",".join(str(i) for i in record["gpus"]) + "]"
        writer.writerow([record.get(key, "-") for key in CSV_FIELDS])
    return out.getvalue().rstrip("\n")


# --------------------------------------------------------------------------- gjob show
from .show import job_show, show_separator  # noqa: E402,F401 - its own module: no msgspec needed
