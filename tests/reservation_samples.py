"""Reservations at fixed times, for the tests of their rules and of their display."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from gflow.core.reservations import Reservation

UTC = ZoneInfo("UTC")
T0 = datetime(2026, 1, 28, 14, 0, tzinfo=timezone.utc).timestamp()  # a Wednesday, 14:00 UTC
H = 3600


def res(id: int, user: str = "alice", start: float = T0, hours: float = 1, count: int | None = None,
        indices: list[int] | None = None, cancelled: float | None = None) -> Reservation:
    if count is None and indices is None:
        count = 1
    return Reservation(id=id, user=user, start=start, duration=int(hours * H), gpu_count=count,
                       gpu_indices=indices, created_at=T0 - H, cancelled_at=cancelled)
