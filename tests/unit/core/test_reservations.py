"""Reservations (SPEC 4.11, 2.8, 5.4): rules, scheduling effect and parsers, all with
injected times."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from reservation_samples import H, T0, UTC, res

from gflow.core import reservations as R
from gflow.core.reservations import Reservation, ReservationError, Status


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
# (the aggregate rule has its own module: test_reservation_gate.py)
def test_creation_counts_against_the_allowed_set():
    with pytest.raises(ReservationError, match="^Requested 4 GPUs but only 3 GPUs available$"):
        R.validate_new(gpu_count=4, gpu_indices=None, start=T0, duration=H, now=T0 - H,
                       total_gpus=4, existing=[], allowed=[0, 1, 2])
    with pytest.raises(ReservationError, match="^GPU index 3 is not in the allowed set"):
        R.validate_new(gpu_count=None, gpu_indices=[3], start=T0, duration=H, now=T0 - H,
                       total_gpus=4, existing=[], allowed=[0, 1, 2])
    with pytest.raises(ReservationError, match=r"available: 3\)$"):
        R.validate_new(gpu_count=3, gpu_indices=None, start=T0, duration=H, now=T0 - H,
                       total_gpus=4, existing=[res(1, count=1)], allowed=[0, 1, 2])


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
    # a window is any length, in days and weeks too (`--range 7d` was refused)
    assert R.parse_range("7d", T0) == (T0, T0 + 7 * 24 * H)
    assert R.parse_range("-1w:2d", T0) == (T0 - 7 * 24 * H, T0 + 2 * 24 * H)
    assert R.parse_range("20m", T0) == (T0, T0 + 1200)
    with pytest.raises(ReservationError, match="^Invalid duration '7x': 'x' is not a unit"):
        R.parse_range("7x", T0)
    # the one duration grammar of every command: seconds, clock forms and bare minutes too
    assert R.parse_range("-1d:12:00:00", T0) == (T0 - 24 * H, T0 + 12 * H)
    assert R.parse_range("90", T0) == (T0, T0 + 90 * 60)
    assert R.parse_range("1H30M", T0) == (T0, T0 + 90 * 60)
    with pytest.raises(ReservationError, match="^Duration must be greater than 0$"):
        R.parse_range("0m", T0)
    assert R.window_from(T0, UTC, None, None, None) == (T0 - 12 * H, T0 + 12 * H)
    assert R.window_from(T0, UTC, None, "2026-01-28 14:00", "2026-01-28 16:00") == (T0, T0 + 2 * H)


def test_start_now_means_the_current_half_hour_slot():
    assert R.parse_time("now", UTC, now=T0 + 25 * 60) == T0
    assert R.parse_time("NOW", UTC, now=T0 + 35 * 60) == T0 + 1800
    assert R.parse_time("now", ZoneInfo("Asia/Kathmandu"), now=T0) == T0 - 15 * 60  # :45 offset
    with pytest.raises(ReservationError, match="^Invalid time format: now"):
        R.parse_time("now", UTC)  # without a clock it is not a time


def test_json_of_a_pending_reservation_carries_its_status():
    import msgspec

    assert msgspec.json.decode(msgspec.json.encode(res(1).at(T0 - 1)))["status"] == "Pending"
