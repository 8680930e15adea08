"""`gctl reserve get`, `gctl reserve list` and its `--timeline`: reservations as text in a
display zone (None: the system's local zone)."""
from __future__ import annotations

import math
from datetime import datetime, tzinfo
from typing import Iterable, Optional, Sequence

from gflow.core.display import compact
from gflow.core.reservations import Reservation, Status, to_zone

TIMELINE_WIDTH = 80
LABEL_WIDTH = 16  # 15 for the label, one space


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
    """`gctl reserve get`."""
    lines = ["Reservation Details:", f"  ID={r.id}", f"  User={r.user}"]
    if r.gpu_indices is not None:
        lines.append(f"  GPUIndices={','.join(map(str, r.gpu_indices))}")
    else:
        lines.append(f"  GPUCount={r.gpu_count}")
    lines += [
        f"  StartTime={stamp(r.start, zone, True)}",
        f"  EndTime={stamp(r.end, zone, True)}",
        f"  Duration={compact(r.duration)}",
        f"  Status={r.status_text()}",
        f"  CreatedAt={stamp(r.created_at, zone, True)}",
    ]
    if r.cancelled_at is not None:
        lines.append(f"  CancelledAt={stamp(r.cancelled_at, zone, True)}")
    return "\n".join(lines)


TABLE_HEADERS = ("ID", "USER", "GPUS", "START", "END", "STATUS")


def table_rows(reservations: Iterable[Reservation], zone: Optional[tzinfo]) -> list[list[str]]:
    """Cells of `gctl reserve list`, sorted by id; the CLI lays them out."""
    return [
        [str(r.id), r.user, gpus_cell(r), stamp(r.start, zone), stamp(r.end, zone), r.status_text()]
        for r in sorted(reservations, key=lambda r: r.id)
    ]


_BAR = {Status.ACTIVE: "█", Status.PENDING: "░", Status.COMPLETED: "▓", Status.CANCELLED: "▒"}


def _position(t: float, start: float, end: float, width: int) -> int:
    offset = max(0.0, t - start)
    return int(math.floor(offset / (end - start) * width + 0.5))


def _markers(start: float, end: float, zone: Optional[tzinfo]) -> tuple[float, list[tuple[float, datetime]]]:
    """Marker interval by window size (2 h up to 12 h, 4 h up to a day, 6 h up to two,
    12 h up to four, then whole days), axis start aligned down to a marker one interval
    before the window."""
    hours = int(end - start) // 3600
    interval = (2 if hours <= 12 else 4 if hours <= 24 else 6 if hours <= 48 else 12 if hours <= 96
                else 24 * max(1, math.ceil(hours / 24 / 14)))
    first = to_zone(start, zone)
    step = min(interval, 24)
    rounded = first.replace(hour=(first.hour // step) * step, minute=0, second=0, microsecond=0)
    current = rounded.timestamp() if zone is not None else rounded.replace(tzinfo=None).timestamp()
    if current < start:
        current += interval * 3600
    current -= interval * 3600
    aligned = current
    markers = []
    while current <= end:
        markers.append((current, to_zone(current, zone)))
        current += interval * 3600
    return aligned, markers


def _marker_label(dt: datetime, shown: Optional[datetime], daily: bool) -> str:
    """`MM/DD HH:MM` where the date differs from the last label shown, else `HH:MM`."""
    if daily:
        return dt.strftime("%m/%d")
    if shown is None or dt.date() != shown.date():
        return dt.strftime("%m/%d %H:%M")
    return dt.strftime("%H:%M")


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
    """`gctl reserve list --timeline`: axis, one bar per reservation, summary.

    Unlike upstream, the axis is drawn over the bar area (the columns right of the
    16-column label) with the same scale as the bars, so a bar sits under its times and
    nothing that starts early in the window is cut off; labels never overwrite each other.
    """
    start, end = window
    aligned, markers = _markers(start, end, zone)
    area = width - LABEL_WIDTH
    pad = " " * LABEL_WIDTH

    def column(t: float) -> int:
        return _position(t, aligned, end, area)

    lines = ["", f"GPU Reservations Timeline ({stamp(now, zone, True)})", "═" * width]
    axis = ["─"] * area
    for t, _ in markers:
        if column(t) < area:
            axis[column(t)] = "┬"
    now_col = column(now)
    if now_col == area and now <= end:
        now_col = area - 1  # a window ending now (`--range -12h`) still shows where now is
    if now_col < area:
        axis[now_col] = "┃"
    labels = [" "] * area
    taken = [False] * area

    def place(pos: int, text: str) -> bool:
        lo, hi = pos, pos + len(text)
        if lo < 0 or hi > area or any(taken[max(0, lo - 1):min(area, hi + 1)]):
            return False  # would touch another label: leave it out rather than run them together
        labels[lo:hi] = list(text)
        for i in range(lo, hi):
            taken[i] = True
        return True

    if now_col < area:
        place(max(0, min(now_col - 1, area - 3)), "Now")
    daily = len(markers) > 1 and markers[1][0] - markers[0][0] >= 86400
    shown: Optional[datetime] = None
    for t, dt in markers:
        if place(column(t), _marker_label(dt, shown, daily)):
            shown = dt
    lines += [pad + "".join(axis), pad + "".join(labels).rstrip(), ""]

    for r in sorted(reservations, key=lambda r: r.start):
        if r.end < aligned or r.start > end:
            continue
        first = column(max(r.start, aligned))
        last = column(min(r.end, end))
        bar = [" "] * area
        for pos in range(first, min(area, first + max(last - first, 1))):
            bar[pos] = _BAR[r.status]
        # the label column is exactly 15 wide, or every bar after a long name would shift
        user = r.user if len(r.user) <= 15 else r.user[:14] + "…"
        lines.append(f"{user:<15} {''.join(bar)}".rstrip())
        lines.append(
            f"  └─ {r.status_text()} ({to_zone(r.start, zone):%H:%M}→{to_zone(r.end, zone):%H:%M}) "
            f"GPU: {_gpu_label(r)}"
        )

    active = [r for r in reservations if r.status is Status.ACTIVE]
    pending = sum(1 for r in reservations if r.status is Status.PENDING)
    lines += [
        "",
        "─" * width,
        f"Summary: {len(active)} active, {pending} pending | {sum(r.count for r in active)} GPUs currently reserved",
        "",
        "Legend: █ Active  ░ Pending  ▓ Completed  ▒ Cancelled",
    ]
    return "\n".join(lines)
