"""How times, durations and sizes are shown. Pure functions."""
from __future__ import annotations

import time as _time


def _dt():
    """datetime, imported on first use: `gjob show` and `gqueue` never need it."""
    import datetime

    return datetime


def clock(seconds: float | None) -> str:
    """`HH:MM:SS` with unbounded hours; `-` for None."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def compact(seconds: float) -> str:
    """Most significant two units: `45s`, `30m 45s`, `2h 30m`, `2h`; seconds dropped once hours show."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def memory(mb: int | None) -> str:
    """`<n>M` below 1024 MB, else GiB: integer when the fraction < 0.01, else one decimal."""
    if mb is None:
        return "-"
    if mb < 1024:
        return f"{mb}M"
    gib = mb / 1024
    if gib - int(gib) < 0.01:
        return f"{int(gib)}G"
    return f"{gib:.1f}G"


def job_time(ts: float) -> str:
    """Local `MM/DD-HH:MM:SS` as in `gjob show`."""
    return _time.strftime("%m/%d-%H:%M:%S", _time.localtime(ts))


def utc_stamp(ts: float) -> str:
    """`YYYY-MM-DD HH:MM:SS UTC`."""
    return _dt().datetime.fromtimestamp(ts, _dt().timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def rfc3339(ts: float) -> str:
    """RFC 3339 UTC with seconds precision and a `Z` suffix."""
    return _dt().datetime.fromtimestamp(int(ts), _dt().timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_now_nanos(ts: float) -> str:
    """`2026-02-04T12:30:45.123456789+00:00`, used for the timestamp of gqueue's JSON."""
    whole = int(ts)
    nanos = int(round((ts - whole) * 1e9))
    base = _dt().datetime.fromtimestamp(whole, _dt().timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}+00:00"


def local_minute(ts: float) -> str:
    """Local `YYYY-MM-DD HH:MM` (gstats `since:`)."""
    return _dt().datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def uptime(seconds: float) -> str:
    """`3s`, `1m30s`, `1h0m0s`, `1d1h56m23s` as in `gflowd status`."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h{minutes}m{secs}s"
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
