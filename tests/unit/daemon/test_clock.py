"""Failure: the wall clock is stepped while begin-time / time-limit timers wait. A timer never
acts before its wall-clock instant (stepped back), and a step forward re-arms it at once. The
clock is injected: the real one is never touched."""
from __future__ import annotations

import asyncio

from gflow.daemon.wallclock import ClockStepWatch, WallTimers, stepped
from gflow.protocol import JobState


class FakeScheduler:
    """Stands in for loop.call_later: records the delays, fires on request."""

    def __init__(self):
        self.armed: list[list] = []  # [delay, fn, cancelled]

    def call_later(self, delay, fn):
        entry = [delay, fn, False]
        self.armed.append(entry)

        class Handle:
            def cancel(self_inner):
                entry[2] = True

        return Handle()

    def live(self):
        return [e for e in self.armed if not e[2]]

    def fire_all(self):
        for entry in self.live():
            entry[2] = True
            entry[1]()


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_a_timer_woken_early_by_a_backward_step_waits_for_its_instant():
    clock, sched, fired = FakeClock(1000.0), FakeScheduler(), []
    timers = WallTimers(clock, sched.call_later)
    timers.arm(("begin", 1), 1060.0, lambda: fired.append(1))
    assert [e[0] for e in sched.live()] == [60.0]
    clock.now = 1000.0 - 3600 + 60  # an hour back; the monotonic delay runs out anyway
    sched.fire_all()
    assert fired == [], "clock stepped back: the begin-time timer acted an hour early"
    assert [e[0] for e in sched.live()] == [3600.0] and ("begin", 1) in timers
    clock.now = 1060.0
    sched.fire_all()
    assert fired == [1], "the re-armed timer did not act at its wall-clock instant"
    assert len(timers) == 0


def test_a_forward_step_re_arms_every_timer_at_once():
    clock, sched, fired = FakeClock(1000.0), FakeScheduler(), []
    timers = WallTimers(clock, sched.call_later)
    timers.arm(("begin", 1), 1000.0 + 3600, lambda: fired.append("begin"))
    timers.arm(("limit", 2), 1000.0 + 7200, lambda: fired.append("limit"))
    clock.now = 1000.0 + 3600 + 5  # a step forward past the begin time
    timers.clock_stepped()
    delays = sorted(e[0] for e in sched.live())
    assert delays == [0.0, 3595.0], f"clock stepped forward: timers not re-armed from the new time: {delays}"
    sched.fire_all()
    assert fired == ["begin"], "clock stepped forward: the due begin time did not act, or the limit acted early"


def test_cancelled_timers_stay_cancelled_across_a_step():
    clock, sched, fired = FakeClock(0.0), FakeScheduler(), []
    timers = WallTimers(clock, sched.call_later)
    timers.arm("k", 10.0, lambda: fired.append("k"))
    timers.cancel("k")
    clock.now = 20.0
    timers.clock_stepped()
    sched.fire_all()
    assert fired == [] and sched.live() == []


def test_a_step_is_told_from_slewing():
    assert stepped(100.0, 100.0004) is False
    assert stepped(100.0, 40.0) is True and stepped(100.0, 160.0) is True


def test_the_clock_step_watch_opens_and_closes_without_stepping_anything():
    steps = []

    async def main():
        watch = ClockStepWatch(lambda: steps.append(1), lambda: False)
        watch.start()
        watch.poke()
        await asyncio.sleep(0)
        watch.close()

    asyncio.run(main())
    assert steps == [], "a clock step was reported although the clock was not touched"


def test_a_begin_time_job_starts_after_the_clock_went_back_and_forth(tmp_path, monkeypatch):
    """The reported case: `--begin` job left `PD (BeginTime)` after its time."""
    import time

    from engine_stub import make_engine, settled, submit

    wall = FakeClock(1_000_000.0)
    monkeypatch.setattr(time, "time", wall)
    engine = make_engine(tmp_path)
    engine.scheduling._timers.clock = wall

    async def main():
        engine.start()
        job_id = submit(engine, scheduled_at=wall.now + 0.01)
        key = ("begin", job_id)
        first = engine.scheduling._timers._timers[key][2]
        wall.now -= 3600  # stepped back before the (monotonic) delay runs out
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while key in engine.scheduling._timers and engine.scheduling._timers._timers[key][2] is first and loop.time() < deadline:
            await asyncio.sleep(0.005)  # until the early wake-up has come and gone
        assert engine.table.jobs[job_id].state is JobState.QUEUED, "the job started an hour before its begin time"
        wall.now += 3600 + 1  # and forward again, past the begin time
        engine.scheduling._clock_stepped()  # what the timerfd reports
        await settled()
        assert engine.table.jobs[job_id].state is JobState.RUNNING, (
            f"clock stepped back and forth: the begin-time job stays {engine.table.jobs[job_id].reason}"
        )
        engine.close()

    asyncio.run(main())
