"""GPU reservations (SPEC 4.11, 2.8, 5.4) as pure functions: the model and its status, the
creation rules with their exact messages, the scheduling effect, the parsers for `--start`,
`--duration`, `--range`, and the renderers of `gctl reserve get|list|list --timeline`.

Times are Unix seconds; `now` is always an argument. A zone argument of None means the
system's local zone (what `TZ` / /etc/localtime say), otherwise a `zoneinfo.ZoneInfo`.
"""
from __future__ import annotations

import enum
import math
import re
from datetime import datetime, timezone, tzinfo
from typing import Iterable, Optional, Sequence

import msgspec

from .display import compact

SLOT = 1800  # reservations start on :00 / :30 and last whole half hours
DEFAULT_WINDOW = 12 * 3600  # timeline: now-12h .. now+12h
TIMELINE_WIDTH = 80
LABEL_WIDTH = 16  # 15 for the label, one space


class ReservationError(ValueError):
    """A refused reservation or an unparsable value; str() is the message for the user."""


class Status(str, enum.Enum):
    PENDING = "Pending"
    ACTIVE = "Active"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"

    @classmethod
    def parse(cls, text: str) -> "Status":
        """Case-insensitive, as `gctl reserve list --status`."""
        for status in cls:
            if status.value.lower() == text.strip().lower():
                return status
        raise ReservationError(f"Invalid status: {text}")


class Reservation(msgspec.Struct, kw_only=True, omit_defaults=True):
    """GPUs set aside for one user during [start, start + duration).

    Exactly one of `gpu_count` / `gpu_indices` is set. `status` is derived from the time
    and `cancelled_at` whenever the daemon answers (`at`); the stored value is not trusted.
    """

    id: int
    user: str
    start: float
    duration: int  # seconds
    gpu_count: Optional[int] = None
    gpu_indices: Optional[list[int]] = None
    created_at: float = 0.0
    cancelled_at: Optional[float] = None
    status: Status = Status.PENDING

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def count(self) -> int:
        return len(self.gpu_indices) if self.gpu_indices is not None else (self.gpu_count or 0)

    def status_at(self, now: float) -> Status:
        if self.cancelled_at is not None:
            return Status.CANCELLED
        if now < self.start:
            return Status.PENDING
        if now < self.end:
            return Status.ACTIVE
        return Status.COMPLETED

    def at(self, now: float) -> "Reservation":
        return msgspec.structs.replace(self, status=self.status_at(now))

    def overlaps(self, start: float, end: float) -> bool:
        return self.start < end and start < self.end


# --------------------------------------------------------------------------- creation rules
def validate_new(
    *,
    gpu_count: Optional[int],
    gpu_indices: Optional[Sequence[int]],
    start: float,
    duration: int,
    now: float,
    total_gpus: int,
    existing: Iterable[Reservation],
) -> None:
    """Raise ReservationError with SPEC 4.11's message when the reservation may not be made.

    Unlike upstream, a start inside the current half-hour slot (at most 30 minutes ago) is
    accepted, so an admin can reserve "from now" without waiting for the next :00/:30.
    """
    if (gpu_count is None) == (gpu_indices is None):
        raise ReservationError("Must specify either --gpus or --gpu-spec")
    n = len(set(gpu_indices)) if gpu_indices is not None else gpu_count
    if n <= 0:
        raise ReservationError("GPU count must be greater than 0")
    if n > total_gpus:
        raise ReservationError(f"Requested {n} GPUs but only {total_gpus} GPUs available")
    for i in sorted(set(gpu_indices or ())):
        if i < 0 or i >= total_gpus:
            raise ReservationError(f"GPU index {i} is out of range (available: 0-{total_gpus - 1})")
    if duration <= 0:
        raise ReservationError("Duration must be greater than 0")
    if duration % SLOT:
        raise ReservationError(
            "Reservation duration must be a multiple of 30 minutes (e.g., 30m, 1h, 1h30m, 2h). "
            f"Got: {compact(duration)}"
        )
    if start != int(start) or int(start) % 60:
        raise ReservationError("Reservation time must not include seconds. Got: " + _utc(start))
    if start <= now - SLOT:
        raise ReservationError("Start time cannot be in the past")
    end = start + duration
    reserved: set[int] = set()
    counted = 0
    for r in existing:
        if r.cancelled_at is not None or r.end <= now or not r.overlaps(start, end):
            continue
        if r.gpu_indices is not None:
            reserved.update(r.gpu_indices)
        else:
            counted += r.gpu_count or 0
    if gpu_indices is not None:
        for i in sorted(set(gpu_indices)):
            if i in reserved:
                raise ReservationError(f"GPU index {i} is already reserved during this time period")
        left = max(0, total_gpus - len(reserved) - len(set(gpu_indices)))
        if counted > left:
            raise ReservationError(
                f"Cannot reserve GPU indices: would leave insufficient GPUs ({left}) "
                f"for existing count-based reservations ({counted})"
            )
    else:
        available = max(0, total_gpus - len(reserved))
        if counted + n > available:
            raise ReservationError(
                f"Reservation conflicts: {len(reserved)} GPUs explicitly reserved, {counted} GPUs "
                f"reserved by count, cannot reserve {n} more (available: {available})"
            )


def cancel_problem(r: Reservation, now: float) -> Optional[str]:
    status = r.status_at(now)
    if status is Status.COMPLETED:
        return "Cannot cancel completed reservation"
    if status is Status.CANCELLED:
        return "Reservation already cancelled"
    return None


# --------------------------------------------------------------------------- scheduling effect
def usable_gpus(
    job_user: str, job_gpus: int, all_gpu_indices: Iterable[int], active: Iterable[Reservation]
) -> Optional[set[int]]:
    """GPU indices a job may use given the *active* reservations (SPEC 4.11), None when it is
    unrestricted. An empty set means the job cannot start now (its GPU count does not fit)."""
    active = list(active)
    if job_gpus <= 0 or not active:
        return None
    every = set(all_gpu_indices)
    own_indices: set[int] = set()
    own_count = 0
    others_indices: set[int] = set()
    others_count = 0
    for r in active:
        if r.user == job_user:
            if r.gpu_indices is not None:
                own_indices.update(r.gpu_indices)
            else:
                own_count += r.gpu_count or 0
        elif r.gpu_indices is not None:
            others_indices.update(r.gpu_indices)
        else:
            others_count += r.gpu_count or 0
    if own_indices:
        return own_indices & every if job_gpus <= len(own_indices) else set()
    if own_count:
        return every - others_indices if job_gpus <= own_count else set()
    if job_gpus > len(every) - len(others_indices) - others_count:
        return set()
    return every - others_indices


def count_allows(job_user: str, job_gpus: int, total_gpus: int, active: Iterable[Reservation]) -> bool:
    """The count half of the rule alone: does the job's GPU count fit what it may claim?"""
    usable = usable_gpus(job_user, job_gpus, range(total_gpus), active)
    return usable is None or len(usable) > 0


def next_edge(reservations: Iterable[Reservation], now: float, retention: float) -> Optional[float]:
    """The earliest future instant where a status changes or a finished reservation is pruned."""
    edges = []
    for r in reservations:
        for t in (r.start, r.end, r.end + retention):
            if t > now:
                edges.append(t)
    return min(edges, default=None)


def prune(reservations: Iterable[Reservation], now: float, retention: float) -> list[Reservation]:
    """Keep reservations until `retention` seconds after their (planned) end."""
    return [r for r in reservations if r.end + retention > now]


# --------------------------------------------------------------------------- zones and parsing
def resolve_zone(name: Optional[str]) -> Optional[tzinfo]:
    """`--timezone` / config `timezone` → ZoneInfo; None → the system's local zone."""
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ReservationError(f"Invalid timezone: {name}") from None


def to_zone(ts: float, zone: Optional[tzinfo]) -> datetime:
    if zone is None:
        return datetime.fromtimestamp(ts).astimezone()  # local, with its abbreviation
    return datetime.fromtimestamp(ts, zone)


def _localize(naive: datetime, zone: Optional[tzinfo], text: str) -> float:
    if zone is None:
        stamps = {naive.replace(fold=fold).timestamp() for fold in (0, 1)}
    else:
        stamps = {naive.replace(tzinfo=zone, fold=fold).timestamp() for fold in (0, 1)}
    if len(stamps) != 1:
        name = getattr(zone, "key", None) or "local time"
        raise ReservationError(f"Ambiguous or invalid time in timezone {name}: {text}")
    return stamps.pop()


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def parse_time(text: str, zone: Optional[tzinfo]) -> float:
    """`--start`, `--from`, `--to`: RFC 3339 with an offset, or `YYYY-MM-DD HH:MM` in `zone`;
    on :00 or :30 of `zone`, without seconds (SPEC 2.8)."""
    value = text.strip()
    stamp: Optional[float] = None
    if _RFC3339.fullmatch(value):
        iso = value[:10] + "T" + value[11:]
        if iso[-1] in "Zz":
            iso = iso[:-1] + "+00:00"
        try:
            stamp = datetime.fromisoformat(iso).timestamp()
        except ValueError:
            stamp = None
    elif _LOCAL.fullmatch(value):
        try:
            naive = datetime.strptime(value, "%Y-%m-%d %H:%M")
        except ValueError:
            naive = None
        if naive is not None:
            stamp = _localize(naive, zone, value)
    if stamp is None:
        raise ReservationError(
            f"Invalid time format: {text}. Use ISO8601 (e.g., '2026-01-28T14:00:00Z') or 'YYYY-MM-DD HH:MM'"
        )
    local = to_zone(math.floor(stamp), zone)
    if local.minute not in (0, 30):
        raise ReservationError(
            f"Reservation time must be on the hour (:00) or half-hour (:30). Got: {text}"
        )
    if local.second != 0 or stamp != math.floor(stamp):
        raise ReservationError(f"Reservation time must not include seconds. Got: {text}")
    return stamp


def parse_duration(text: str) -> int:
    """A reservation length in the one duration grammar (`1h`, `90m`, `2h30m`, `0-02:00`):
    seconds, a positive multiple of 30 minutes."""
    from .times import parse_duration as duration

    try:
        total = duration(text, bare_unit=60)
    except ValueError as e:
        raise ReservationError(f"Invalid duration '{text.strip()}': {e}") from None
    if total % 60:
        raise ReservationError(
            "Seconds are not allowed in reservation duration. Use hours (h) or minutes (m) only."
        )
    if total == 0:
        raise ReservationError("Duration must be greater than 0")
    if total % SLOT:
        raise ReservationError(
            "Reservation duration must be a multiple of 30 minutes (e.g., 30m, 1h, 1h30m, 2h). "
            f"Got: {text}"
        )
    return total


def _signed_duration(text: str) -> int:
    value = text.strip()
    if not value:
        raise ReservationError("Invalid duration: empty string")
    sign = 1
    if value[0] in "+-":
        sign = -1 if value[0] == "-" else 1
        value = value[1:].strip()
        if not value:
            raise ReservationError(f"Invalid duration: {text.strip()}")
    return sign * parse_duration(value)


def parse_range(text: str, now: float) -> tuple[float, float]:
    """Timeline `--range`: `DUR` (now..now+DUR), `-DUR` (now-DUR..now), `A:B` (now+A..now+B)."""
    value = text.strip()
    if ":" in value:
        first, second = value.split(":", 1)
        start, end = now + _signed_duration(first), now + _signed_duration(second)
    else:
        offset = _signed_duration(value)
        start, end = (now, now + offset) if offset >= 0 else (now + offset, now)
    check_window(start, end)
    return start, end


def check_window(start: float, end: float) -> None:
    if end <= start:
        raise ReservationError("Invalid time range: end time must be after start time")


def default_window(now: float) -> tuple[float, float]:
    return now - DEFAULT_WINDOW, now + DEFAULT_WINDOW


# --------------------------------------------------------------------------- rendering
def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def stamp(ts: float, zone: Optional[tzinfo], with_zone: bool = False) -> str:
    dt = to_zone(ts, zone)
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} {dt.tzname()}" if with_zone else text


def gpus_cell(r: Reservation) -> str:
    """Table GPUS: the count, or the index list `0,2`."""
    if r.gpu_indices is not None:
        return ",".join(map(str, r.gpu_indices))
    return str(r.gpu_count)


def render_detail(r: Reservation, zone: Optional[tzinfo]) -> str:
    """`gctl reserve get` (SPEC 5.4.1)."""
    lines = ["Reservation Details:", f"  ID={r.id}", f"  User={r.user}"]
    if r.gpu_indices is not None:
        lines.append(f"  GPUIndices={','.join(map(str, r.gpu_indices))}")
    else:
        lines.append(f"  GPUCount={r.gpu_count}")
    lines += [
        f"  StartTime={stamp(r.start, zone, True)}",
        f"  EndTime={stamp(r.end, zone, True)}",
        f"  Duration={compact(r.duration)}",
        f"  Status={r.status.value}",
        f"  CreatedAt={stamp(r.created_at, zone, True)}",
    ]
    if r.cancelled_at is not None:
        lines.append(f"  CancelledAt={stamp(r.cancelled_at, zone, True)}")
    return "\n".join(lines)


TABLE_HEADERS = ("ID", "USER", "GPUS", "START", "END", "STATUS")


def table_rows(reservations: Iterable[Reservation], zone: Optional[tzinfo]) -> list[list[str]]:
    """Cells of `gctl reserve list` (SPEC 5.4.2), sorted by id; the CLI lays them out."""
    return [
        [str(r.id), r.user, gpus_cell(r), stamp(r.start, zone), stamp(r.end, zone), r.status.value]
        for r in sorted(reservations, key=lambda r: r.id)
    ]


_BAR = {Status.ACTIVE: "█", Status.PENDING: "░", Status.COMPLETED: "▓", Status.CANCELLED: "▒"}


def _position(t: float, start: float, end: float, width: int) -> int:
    offset = max(0.0, t - start)
    return int(math.floor(offset / (end - start) * width + 0.5))


def _markers(start: float, end: float, zone: Optional[tzinfo]) -> tuple[float, list[tuple[float, str]]]:
    """Marker interval by window size, axis start aligned down to a marker one interval
    before the window; labels `MM/DD HH:MM` when the date changes, else `HH:MM`."""
    hours = int(end - start) // 3600
    interval = 2 if hours <= 12 else 4 if hours <= 24 else 6 if hours <= 48 else 12
    first = to_zone(start, zone)
    rounded = first.replace(hour=(first.hour // interval) * interval, minute=0, second=0, microsecond=0)
    current = rounded.timestamp() if zone is not None else rounded.replace(tzinfo=None).timestamp()
    if current < start:
        current += interval * 3600
    current -= interval * 3600
    aligned = current
    markers = []
    last_date = None
    while current <= end:
        dt = to_zone(current, zone)
        if dt.date() != last_date:
            last_date = dt.date()
            label = dt.strftime("%m/%d %H:%M")
        else:
            label = dt.strftime("%H:%M")
        markers.append((current, label))
        current += interval * 3600
    return aligned, markers


def _gpu_label(r: Reservation) -> str:
    if r.gpu_indices is not None:
        return f"GPU[{','.join(map(str, r.gpu_indices))}]"
    n = r.gpu_count or 0
    return f"{n} GPU{'s' if n > 1 else ''}"


def render_timeline(
    reservations: Sequence[Reservation],
    now: float,
    window: tuple[float, float],
    zone: Optional[tzinfo],
    width: int = TIMELINE_WIDTH,
) -> str:
    """`gctl reserve list --timeline` (SPEC 5.4.3): axis, one bar per reservation, summary."""
    start, end = window
    aligned, markers = _markers(start, end, zone)
    lines = ["", f"GPU Reservations Timeline ({stamp(now, zone, True)})", "═" * width]

    axis = ["─"] * width
    for t, _ in markers:
        pos = _position(t, aligned, end, width)
        if pos < width:
            axis[pos] = "┬"
    now_pos = _position(now, aligned, end, width)
    if now_pos < width:
        axis[now_pos] = "┃"
    labels = [" "] * width
    for t, text in markers:
        pos = _position(t, aligned, end, width)
        if abs(pos - now_pos) < 6:
            continue
        if pos < width and len(text) <= width - pos:
            labels[pos:pos + len(text)] = list(text)
    if now_pos >= 2 and now_pos + 2 < width:
        labels[now_pos - 1:now_pos + 2] = list("Now")
    lines += ["".join(axis), "".join(labels), ""]

    bar_width = width - LABEL_WIDTH
    for r in sorted(reservations, key=lambda r: r.start):
        if r.end < aligned or r.start > end:
            continue
        first = _position(max(r.start, aligned), aligned, end, width)
        last = _position(min(r.end, end), aligned, end, width)
        bar = [" "] * bar_width
        for pos in range(first, first + max(last - first, 1)):
            if pos >= LABEL_WIDTH and pos - LABEL_WIDTH < bar_width:
                bar[pos - LABEL_WIDTH] = _BAR[r.status]
        label = f"{r.user} (GPU: {_gpu_label(r)})"
        lines.append(f"{label:<15} {''.join(bar)}")
        lines.append(
            f"  └─ {r.status.value} ({to_zone(r.start, zone):%H:%M}→{to_zone(r.end, zone):%H:%M})"
        )

    active = [r for r in reservations if r.status is Status.ACTIVE]
    pending = sum(1 for r in reservations if r.status is Status.PENDING)
    lines += [
        "",
        "─" * TIMELINE_WIDTH,
        f"Summary: {len(active)} active, {pending} pending | {sum(r.count for r in active)} GPUs currently reserved",
        "",
        "Legend: █ Active  ░ Pending",
    ]
    return "\n".join(lines)


def window_from(now: float, zone: Optional[tzinfo], range_spec: Optional[str],
                start_text: Optional[str], end_text: Optional[str]) -> tuple[float, float]:
    """The timeline window from `--range` or `--from/--to` (default now±12h)."""
    if range_spec is not None:
        return parse_range(range_spec, now)
    if start_text is not None and end_text is not None:
        start, end = parse_time(start_text, zone), parse_time(end_text, zone)
        check_window(start, end)
        return start, end
    return default_window(now)

