"""Reservations (SPEC 4.11, 2.8, 5.4): rules, scheduling effect, parsers and renderers,
all with injected times."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from gflow.core import reservations as R
from gflow.core.reservations import Reservation, ReservationError, Status

UTC = ZoneInfo("UTC")
T0 = datetime(2026, 1, 28, 14, 0, tzinfo=timezone.utc).timestamp()  # a Wednesday, 14:00 UTC
H = 3600


def res(id: int, user: str = "alice", start: float = T0, hours: float = 1, count: int | None = None,
        indices: list[int] | None = None, cancelled: float | None = None) -> Reservation:
    if count is None and indices is None:
        count = 1
    return Reservation(id=id, user=user, start=start, duration=int(hours * H), gpu_count=count,
                       gpu_indices=indices, created_at=T0 - H, cancelled_at=cancelled)


def validate(existing=(), *, count=None, indices=None, start=T0, hours=1.0, now=T0 - H, total=4):
    R.validate_new(gpu_count=count, gpu_indices=indices, start=start, duration=int(hours * H),
                   now=now, total_gpus=total, existing=list(existing))


# --------------------------------------------------------------------------- status
def test_status_follows_the_clock_and_the_cancel_flag():
    r = res(1, hours=2)
    assert r.status_at(T0 - 1) is Status.PENDING
    assert r.status_at(T0) is Status.ACTIVE
    assert r.status_at(T0 + 2 * H - 1) is Status.ACTIVE
    assert r.status_at(T0 + 2 * H) is Status.COMPLETED
    assert res(1, cancelled=T0 - 10).status_at(T0) is Status.CANCELLED
    assert r.at(T0).status is Status.ACTIVE and r.status is Status.PENDING  # a view, not a change
    assert Status.parse("ACTIVE") is Status.ACTIVE
    with pytest.raises(ReservationError, match="^Invalid status: soon$"):
        Status.parse("soon")


def test_cancel_only_pending_or_active():
    assert R.cancel_problem(res(1), T0 - 1) is None
    assert R.cancel_problem(res(1), T0 + 1) is None
    assert R.cancel_problem(res(1), T0 + H) == "Cannot cancel completed reservation"
    assert R.cancel_problem(res(1, cancelled=T0), T0) == "Reservation already cancelled"


# --------------------------------------------------------------------------- creation rules
@pytest.mark.parametrize("kwargs, message", [
    (dict(count=0), "GPU count must be greater than 0"),
    (dict(indices=[]), "GPU count must be greater than 0"),
    (dict(count=5), "Requested 5 GPUs but only 4 GPUs available"),
    (dict(indices=[1, 4]), "GPU index 4 is out of range (available: 0-3)"),
    (dict(count=1, start=T0 - H), "Start time cannot be in the past"),
    (dict(count=1, hours=0.75), "Reservation duration must be a multiple of 30 minutes (e.g., 30m, 1h, 1h30m, 2h). Got: 45m"),
    (dict(count=1, total=0), "Requested 1 GPUs but only 0 GPUs available"),
])
def test_creation_rules(kwargs, message):
    with pytest.raises(ReservationError) as e:
        validate(**{"now": T0 - 60, **kwargs})
    assert str(e.value) == message


def test_a_start_in_the_current_half_hour_slot_is_accepted():
    validate(count=1, start=T0, now=T0 + 29 * 60)  # "reserve from now" at 14:29 → 14:00
    with pytest.raises(ReservationError, match="^Start time cannot be in the past$"):
        validate(count=1, start=T0, now=T0 + 30 * 60)  # at 14:30 the 14:00 slot is over


def test_index_conflicts_with_overlapping_index_reservations():
    existing = [res(1, indices=[0, 1], hours=2)]
    with pytest.raises(ReservationError, match=r"^GPU index 1 is already reserved during this time period$"):
        validate(existing, indices=[1, 2], start=T0 + H)
    validate(existing, indices=[1, 2], start=T0 + 2 * H)  # back to back is fine
    validate(existing, indices=[2, 3], start=T0)


def test_indices_must_leave_room_for_overlapping_count_reservations():
    existing = [res(1, count=2), res(2, indices=[0])]
    with pytest.raises(ReservationError) as e:
        validate(existing, indices=[1, 2])
    assert str(e.value) == (
        "Cannot reserve GPU indices: would leave insufficient GPUs (1) for existing count-based reservations (2)"
    )
    validate(existing, indices=[1])


def test_counts_must_fit_beside_overlapping_reservations():
    existing = [res(1, count=2), res(2, indices=[0])]
    with pytest.raises(ReservationError) as e:
        validate(existing, count=2)
    assert str(e.value) == (
        "Reservation conflicts: 1 GPUs explicitly reserved, 2 GPUs reserved by count, "
        "cannot reserve 2 more (available: 3)"
    )
    validate(existing, count=1)


def test_cancelled_and_finished_reservations_do_not_conflict():
    validate([res(1, count=4, cancelled=T0 - 2 * H)], count=4)
    # finished at 14:00, a new one may take the current slot from 14:00
    validate([res(1, count=4, start=T0 - H)], count=4, start=T0, now=T0 + 60)


# --------------------------------------------------------------------------- scheduling effect
ALL = range(4)


def test_no_active_reservation_or_no_gpus_means_unrestricted():
    assert R.usable_gpus("bob", 1, ALL, []) is None
    assert R.usable_gpus("bob", 0, ALL, [res(1, indices=[0, 1, 2, 3])]) is None


def test_owner_of_index_reservations_uses_only_those_indices():
    active = [res(1, "alice", indices=[1, 2])]
    assert R.usable_gpus("alice", 2, ALL, active) == {1, 2}
    assert R.usable_gpus("alice", 3, ALL, active) == set()


def test_owner_of_count_reservations_may_use_any_gpu_not_index_reserved_by_others():
    active = [res(1, "alice", count=2), res(2, "bob", indices=[0])]
    assert R.usable_gpus("alice", 2, ALL, active) == {1, 2, 3}
    assert R.usable_gpus("alice", 3, ALL, active) == set()


def test_others_are_held_off_reserved_indices_and_counts():
    active = [res(1, "alice", count=1), res(2, "bob", indices=[0])]
    assert R.usable_gpus("carol", 2, ALL, active) == {1, 2, 3}
    assert R.usable_gpus("carol", 3, ALL, active) == set()  # 4 - 1 index - 1 counted
    assert R.count_allows("carol", 2, 4, active) and not R.count_allows("carol", 3, 4, active)
    assert R.usable_gpus("carol", 1, ALL, [res(3, "alice", indices=[0, 1, 2, 3])]) == set()


def test_edges_and_pruning():
    rs = [res(1, start=T0, hours=1), res(2, start=T0 + 2 * H, hours=1, cancelled=T0)]
    assert R.next_edge(rs, T0 - 5, 100) == T0
    assert R.next_edge(rs, T0, 100) == T0 + H
    assert R.next_edge(rs, T0 + H, 100) == T0 + H + 100
    assert R.next_edge(rs, T0 + 10 * H, 100) is None
    assert [r.id for r in R.prune(rs, T0 + H + 100, 100)] == [2]


# --------------------------------------------------------------------------- parsing
def test_start_accepts_rfc3339_and_local_form_in_the_target_zone():
    assert R.parse_time("2026-01-28T14:00:00Z", UTC) == T0
    assert R.parse_time("2026-01-28T15:30:00+01:00", UTC) == T0 + 1800
    berlin = ZoneInfo("Europe/Berlin")
    assert R.parse_time("2026-01-28 15:00", berlin) == T0
    assert R.parse_time("2026-01-28 14:00", UTC) == T0


@pytest.mark.parametrize("text, zone, message", [
    ("2026-01-28 14:15", UTC, "Reservation time must be on the hour (:00) or half-hour (:30). Got: 2026-01-28 14:15"),
    ("2026-01-28T14:00:00Z", ZoneInfo("Asia/Kathmandu"),
     "Reservation time must be on the hour (:00) or half-hour (:30). Got: 2026-01-28T14:00:00Z"),
    ("2026-01-28T14:00:05Z", UTC, "Reservation time must not include seconds. Got: 2026-01-28T14:00:05Z"),
    ("2026-01-28", UTC, "Invalid time format: 2026-01-28. Use ISO8601 (e.g., '2026-01-28T14:00:00Z') or 'YYYY-MM-DD HH:MM'"),
    ("2026-01-28T14:00:00", UTC, "Invalid time format: 2026-01-28T14:00:00. Use ISO8601 (e.g., '2026-01-28T14:00:00Z') or 'YYYY-MM-DD HH:MM'"),
    ("2026-02-30 14:00", UTC, "Invalid time format: 2026-02-30 14:00. Use ISO8601 (e.g., '2026-01-28T14:00:00Z') or 'YYYY-MM-DD HH:MM'"),
    ("2026-03-29 02:30", ZoneInfo("Europe/Berlin"),
     "Ambiguous or invalid time in timezone Europe/Berlin: 2026-03-29 02:30"),
])
def test_start_errors(text, zone, message):
    with pytest.raises(ReservationError) as e:
        R.parse_time(text, zone)
    assert str(e.value) == message


def test_zones():
    assert R.resolve_zone(None) is None
    assert R.resolve_zone("Europe/Berlin").key == "Europe/Berlin"
    with pytest.raises(ReservationError, match="^Invalid timezone: Mars/Base$"):
        R.resolve_zone("Mars/Base")


@pytest.mark.parametrize("text, seconds", [
    ("1h", 3600), ("30m", 1800), ("2h30m", 9000), ("90M", 5400), ("1H30m", 5400),
    # the one duration grammar of every command: days, spaces, Slurm's D-HH:MM, bare minutes
    ("1d", 86400), ("1h 30m", 5400), ("0-02:30", 9000), ("90", 5400),
])
def test_duration(text, seconds):
    assert R.parse_duration(text) == seconds


@pytest.mark.parametrize("text, message", [
    ("90s", "Seconds are not allowed in reservation duration. Use hours (h) or minutes (m) only."),
    ("1x", "Invalid duration '1x': 'x' is not a unit (s, m, h, d or w); use e.g. 90m, 4h, 7d, 1h30m, HH:MM:SS or D-HH:MM:SS"),
    ("0h", "Duration must be greater than 0"),
    ("", "Invalid duration '': no length of time given; use e.g. 90m, 4h, 7d, 1h30m, HH:MM:SS or D-HH:MM:SS"),
    ("45m", "Reservation duration must be a multiple of 30 minutes (e.g., 30m, 1h, 1h30m, 2h). Got: 45m"),
])
def test_duration_errors(text, message):
    with pytest.raises(ReservationError) as e:
        R.parse_duration(text)
    assert str(e.value) == message


def test_range():
    assert R.parse_range("2h", T0) == (T0, T0 + 2 * H)
    assert R.parse_range("-30m", T0) == (T0 - 1800, T0)
    assert R.parse_range("-1h:+2h", T0) == (T0 - H, T0 + 2 * H)
    with pytest.raises(ReservationError, match="^Invalid time range: end time must be after start time$"):
        R.parse_range("2h:1h", T0)
    with pytest.raises(ReservationError, match="multiple of 30 minutes"):
        R.parse_range("20m", T0)
    assert R.window_from(T0, UTC, None, None, None) == (T0 - 12 * H, T0 + 12 * H)
    assert R.window_from(T0, UTC, None, "2026-01-28 14:00", "2026-01-28 16:00") == (T0, T0 + 2 * H)


# --------------------------------------------------------------------------- rendering
def test_detail_block():
    r = res(7, "alice", start=T0, hours=2.5, indices=[0, 2], cancelled=T0 + 60).at(T0 + 120)
    assert R.render_detail(r, UTC).splitlines() == [
        "Reservation Details:",
        "  ID=7",
        "  User=alice",
        "  GPUIndices=0,2",
        "  StartTime=2026-01-28 14:00:00 UTC",
        "  EndTime=2026-01-28 16:30:00 UTC",
        "  Duration=2h 30m",
        "  Status=Cancelled",
        "  CreatedAt=2026-01-28 13:00:00 UTC",
        "  CancelledAt=2026-01-28 14:01:00 UTC",
    ]
    assert "  GPUCount=2" in R.render_detail(res(8, count=2).at(T0), ZoneInfo("Europe/Berlin"))
    assert "StartTime=2026-01-28 15:00:00 CET" in R.render_detail(res(8).at(T0), ZoneInfo("Europe/Berlin"))


def test_table_rows_sorted_by_id_in_the_display_zone():
    rows = R.table_rows([res(2, "bob", indices=[0, 2]).at(T0 - 1), res(1, count=3).at(T0)], ZoneInfo("Europe/Berlin"))
    assert rows == [
        ["1", "alice", "3", "2026-01-28 15:00:00", "2026-01-28 16:00:00", "Active"],
        ["2", "bob", "0,2", "2026-01-28 15:00:00", "2026-01-28 16:00:00", "Pending"],
    ]


def test_timeline_layout():
    now = T0 + 600  # 14:10
    rs = [
        res(1, "alice", start=T0, hours=2, count=2).at(now),
        res(2, "bob", start=T0 + 4 * H, hours=1, indices=[0, 2]).at(now),
        res(3, "carol", start=T0 - 6 * H, hours=1).at(now),
        res(4, "dave", start=T0 + 30 * H, hours=1).at(now),  # outside the window
    ]
    out = R.render_timeline(rs, now, R.default_window(now), UTC)
    lines = out.split("\n")
    assert lines[0] == ""
    assert lines[1] == "GPU Reservations Timeline (2026-01-28 14:10:00 UTC)"
    assert lines[2] == "═" * 80
    # 24 h window → markers every 4 h from 00:00 (one interval before 02:10)
    assert lines[3] == "┬───────────┬───────────┬────────────┬─────┃─────┬───────────┬───────────┬──────"
    assert lines[4] == "01/28 00:00 04:00       08:00        12:00Now    16:00       20:00              "
    assert lines[5] == ""
    assert lines[6] == "carol (GPU: 1 GPU)" + " " + " " * 8 + "▓" * 4 + " " * 52
    assert lines[7] == "  └─ Completed (08:00→09:00)"
    assert lines[8].startswith("alice (GPU: 2 GPUs) ") and lines[8].count("█") == 6
    assert lines[9] == "  └─ Active (14:00→16:00)"
    assert lines[10].startswith("bob (GPU: GPU[0,2]) ") and lines[10].count("░") == 3
    assert lines[11] == "  └─ Pending (18:00→19:00)"
    assert lines[12:] == [
        "",
        "─" * 80,
        "Summary: 1 active, 2 pending | 2 GPUs currently reserved",  # counts every listed one
        "",
        "Legend: █ Active  ░ Pending",
    ]
    assert all(len(l) == 80 for l in lines[2:5])


def test_timeline_bar_positions_follow_the_axis():
    now = T0
    r = res(1, "al", start=T0, hours=2).at(now)
    lines = R.render_timeline([r], now, (T0 - 6 * H, T0 + 6 * H), UTC).split("\n")
    axis, bar = lines[3], lines[6]
    # 12 h window: 2 h markers from 06:00; axis spans 06:00..20:00 (14 h) over 80 columns
    start_col = round(8 / 14 * 80)
    assert axis[start_col] == "┃"
    assert bar.index("█") == start_col and bar.count("█") == round(10 / 14 * 80) - start_col
