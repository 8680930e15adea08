"""`gctl reserve get|list|list --timeline` as text, with injected times and zones."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from reservation_samples import H, T0, UTC, res

from gflow.cli.render import reservations as RR
from gflow.core import reservations as R


def test_detail_block():
    r = res(7, "alice", start=T0, hours=2.5, indices=[0, 2], cancelled=T0 + 60).at(T0 + 120)
    assert RR.render_detail(r, UTC).splitlines() == [
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
    assert "  GPUCount=2" in RR.render_detail(res(8, count=2).at(T0), ZoneInfo("Europe/Berlin"))
    assert "StartTime=2026-01-28 15:00:00 CET" in RR.render_detail(res(8).at(T0), ZoneInfo("Europe/Berlin"))


def test_table_rows_sorted_by_id_in_the_display_zone():
    rows = RR.table_rows([res(2, "bob", indices=[0, 2]).at(T0 - 1), res(1, count=3).at(T0)], ZoneInfo("Europe/Berlin"))
    assert rows == [
        ["1", "alice", "3", "2026-01-28 15:00:00", "2026-01-28 16:00:00", "Active"],
        ["2", "bob", "0,2", "2026-01-28 15:00:00", "2026-01-28 16:00:00", "Pending"],
    ]


GOLDEN_TIMELINE = """
GPU Reservations Timeline (2026-01-28 14:10:00 UTC)
════════════════════════════════════════════════════════════════════════════════
                ┬─────────┬─────────┬────────┬─────┃───┬─────────┬─────────┬────
                01/28 00:00         08:00         Now  16:00     20:00

carol                               ▓▓
  └─ Completed (08:00→09:00) GPU: 1 GPU
alice                                             █████
  └─ Active (14:00→16:00) GPU: 2 GPUs
bob                                                         ░░
  └─ Pending (18:00→19:00) GPU: GPU[0,2]

────────────────────────────────────────────────────────────────────────────────
Summary: 1 active, 2 pending | 2 GPUs currently reserved

Legend: █ Active  ░ Pending  ▓ Completed  ▒ Cancelled"""


def test_timeline_golden_with_a_fixed_clock():
    now = T0 + 600  # 14:10
    rs = [
        res(1, "alice", start=T0, hours=2, count=2).at(now),
        res(2, "bob", start=T0 + 4 * H, hours=1, indices=[0, 2]).at(now),
        res(3, "carol", start=T0 - 6 * H, hours=1).at(now),
        res(4, "dave", start=T0 + 30 * H, hours=1).at(now),  # outside the window
    ]
    assert RR.render_timeline(rs, now, R.default_window(now), UTC) == GOLDEN_TIMELINE


def test_timeline_bar_of_an_active_reservation_early_in_the_window_is_drawn():
    """`--range 12h` with a reservation that started before now: its bar starts in the
    first columns, which upstream never drew."""
    now = T0 + 600
    lines = RR.render_timeline([res(1, start=T0, hours=2).at(now)], now, R.parse_range("12h", now), UTC).split("\n")
    assert lines[6].startswith("alice           █")
    assert lines[6].count("█") == 11


def test_timeline_bars_sit_under_their_times_on_the_axis():
    now = T0
    r = res(1, "al", start=T0 + 2 * H, hours=2).at(now)
    lines = RR.render_timeline([r], now, (T0 - 6 * H, T0 + 6 * H), UTC).split("\n")
    axis, labels, bar = lines[3], lines[4], lines[6]
    # 12 h window: 2 h markers from 06:00; the 16:00 marker and the bar's start share a column
    assert axis[bar.index("░")] == "┬" and labels[bar.index("░"):].startswith("16:00")
    assert axis[bar.rindex("░") + 1] == "┬" and labels[bar.rindex("░") + 1:].startswith("18:00")


@pytest.mark.parametrize("spec", ["12h", "-12h", "24h", "48h", "7d", "-30d:1d", "2w"])
def test_timeline_labels_never_run_together(spec):
    now = T0 + 600
    lines = RR.render_timeline([], now, R.parse_range(spec, now), UTC).split("\n")
    labels = lines[4].split()
    assert all(":" in w or "/" in w or w == "Now" for w in labels), labels
    assert all(len(w) <= 5 for w in labels if w != "Now"), labels  # no `Now00`, no `00:06:00`
    assert "Now" in labels or spec.startswith("-30d")
    assert len(lines[3]) == 80


def test_a_long_user_name_does_not_shift_its_bar():
    now = T0
    a = RR.render_timeline([res(1, "a" * 30, start=T0, hours=2).at(now)], now, (T0 - 6 * H, T0 + 6 * H), UTC)
    b = RR.render_timeline([res(1, "b", start=T0, hours=2).at(now)], now, (T0 - 6 * H, T0 + 6 * H), UTC)
    assert a.split("\n")[6].index("█") == b.split("\n")[6].index("█")


def test_waiting_gpus_show_in_table_and_detail():
    r = res(1, count=3).at(T0)
    r.waiting_gpus = 2
    assert RR.table_rows([r], UTC)[0][-1] == "Active (waiting for 2 GPUs)"
    assert "  Status=Active (waiting for 2 GPUs)" in RR.render_detail(r, UTC)
