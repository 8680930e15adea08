"""Backfill: the first job short of GPUs holds the GPUs that free up first; jobs behind it start
only where they cannot delay it. Checked by simulating whole queues with `plan`."""
from __future__ import annotations

import random

from gflow.core import backfill as bf
from gflow.core.scheduler import Gpu, PassInput, plan
from gflow.protocol import GpuSharing, Job, JobState


def _job(job_id, gpus=1, priority=10, limit=None, **fields) -> Job:
    return Job(id=job_id, gpus=gpus, priority=priority, time_limit=limit, **fields)


def simulate(jobs: list[Job], n_gpus: int, backfill: bool, runtime: dict[int, float],
             running: list[Job] = (), memory_mb: dict[int, int] | None = None, depth: int = 8,
             on_pass=lambda plan, now: None):
    """Run the queue to the end: a pass at time 0 and at every job end. Returns each job's
    start time and, for every job a pass held GPUs for first (the first job short of GPUs),
    the start the first such reservation promised. The later reservations of a pass plan
    around the earlier ones and move when those do: they promise nothing. `on_pass` sees
    each pass's plan before it is applied."""
    gpus = [Gpu(i, memory_mb=(memory_mb or {}).get(i)) for i in range(n_gpus)]
    queued = [msg for msg in jobs]
    running = list(running)
    starts: dict[int, float] = {j.id: j.started_at for j in running}
    promised: dict[int, float] = {}
    now = 0.0
    for _ in range(10_000):
        p = plan(PassInput(candidates=queued, running=running, gpus=gpus, backfill=backfill, now=now,
                           backfill_depth=depth))
        on_pass(p, now)
        if p.backfill is not None:
            promised.setdefault(p.backfill.job_id, p.backfill.start)
        for job, ids in p.starts:
            job.state, job.started_at, job.gpu_ids = JobState.RUNNING, now, ids
            starts[job.id] = now
            running.append(job)
        started = {j.id for j, _ in p.starts}
        queued = [j for j in queued if j.id not in started]
        _check_no_gpu_given_twice(running)
        if not queued:
            return starts, promised
        ends = [j.started_at + runtime[j.id] for j in running]
        if not ends:
            raise AssertionError(f"stuck with {[j.id for j in queued]} queued and nothing running")
        now = min(ends)
        running = [j for j in running if j.started_at + runtime[j.id] > now]
    raise AssertionError("the simulation did not end")


def _check_no_gpu_given_twice(running: list[Job]) -> None:
    exclusive = [i for j in running if j.gpu_sharing_mode is GpuSharing.EXCLUSIVE for i in j.gpu_ids or []]
    assert len(exclusive) == len(set(exclusive))
    shared = {i for j in running if j.gpu_sharing_mode is GpuSharing.SHARED for i in j.gpu_ids or []}
    assert not shared & set(exclusive)


def _runtimes(jobs, rng) -> dict[int, float]:
    # a job with a limit runs to it (the worst case the reservation plans for); one without
    # runs for a while nobody knows in advance
    return {j.id: float(j.time_limit) if j.time_limit is not None else float(rng.randint(1, 50)) for j in jobs}


def _random_queue(rng) -> tuple[list[Job], int]:
    n = rng.randint(1, 8)
    jobs = [
        _job(i, gpus=rng.randint(1, n), priority=rng.choice([1, 10, 10, 50, 100]),
             limit=rng.choice([None, 1, 3, 5, 10, 20, 40]), user=rng.choice(["a", "b"]))
        for i in range(1, rng.randint(2, 30))
    ]
    return jobs, n


def test_the_reserved_job_never_starts_later_than_promised_on_random_queues():
    rng = random.Random(2026)
    reserved = 0
    for _ in range(300):
        jobs, n = _random_queue(rng)
        runtime = _runtimes(jobs, rng)
        starts, promised = simulate(jobs, n, backfill=True, runtime=runtime)
        for job_id, when in promised.items():
            assert starts[job_id] <= when, (job_id, starts[job_id], when)
            reserved += when != bf.INF
    assert reserved > 50  # the property was really exercised


def test_the_first_job_short_of_gpus_never_waits_longer_than_with_nothing_behind_it():
    """Without backfill (and without upstream's greedy pass), nothing behind the first
    blocked job could start; backfill must not make that job start any later."""
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(2, 8)
        head = _job(1, gpus=rng.randint(2, n), priority=100, limit=rng.choice([None, 5]))
        holders = [
            Job(id=100 + i, state=JobState.RUNNING, gpus=1, gpu_ids=[i], started_at=0.0,
                time_limit=rng.choice([1, 4, 9, 16]))
            for i in range(n) if rng.random() < 0.8
        ]
        behind = [_job(i, gpus=rng.randint(1, n), limit=rng.choice([None, 1, 2, 5, 30]))
                  for i in range(2, rng.randint(3, 25))]
        runtime = {j.id: float(j.time_limit) for j in holders}
        runtime.update(_runtimes([head] + behind, rng))
        alone = max([0.0] + sorted(h.time_limit for h in holders)[: max(0, head.gpus - (n - len(holders)))])
        with_backfill, _ = simulate([head] + behind, n, True, runtime,
                                    running=[Job(**{f: getattr(h, f) for f in h.__struct_fields__}) for h in holders])
        assert with_backfill[1] <= alone


def test_a_big_job_is_not_starved_by_a_stream_of_small_ones():
    """Four GPUs busy until t=2,4,6,8; a 4-GPU job at priority 100, then thirty 1-GPU jobs at
    priority 10 that each run 10. Upstream starts a small job on every GPU that frees, so the
    big job waits until all of them are done; with backfill it starts when the four free."""
    def scenario():
        running = [Job(id=100 + i, state=JobState.RUNNING, gpus=1, gpu_ids=[i], started_at=0.0,
                       time_limit=2 * (i + 1)) for i in range(4)]
        big = _job(1, gpus=4, priority=100, limit=5)
        small = [_job(i, gpus=1, priority=10, limit=10) for i in range(2, 32)]
        runtime = {j.id: float(j.time_limit) for j in running + [big] + small}
        return [big] + small, running, runtime

    jobs, running, runtime = scenario()
    greedy, _ = simulate(jobs, 4, backfill=False, runtime=runtime, running=running)
    jobs, running, runtime = scenario()
    backfilled, promised = simulate(jobs, 4, backfill=True, runtime=runtime, running=running)
    assert greedy[1] >= 70  # behind (nearly) every small job
    assert promised[1] == 8.0 and backfilled[1] == 8.0
    assert min(t for i, t in backfilled.items() if 2 <= i < 32) == 13.0  # none delayed it


def test_short_jobs_fill_the_gap_before_the_reserved_start():
    running = [Job(id=100, state=JobState.RUNNING, gpus=1, gpu_ids=[0], started_at=0.0, time_limit=10)]
    big = _job(1, gpus=2, priority=100, limit=5)
    short = _job(2, gpus=1, limit=4)  # over at 4, before the big job's start at 10
    long = _job(3, gpus=1, limit=20)  # would hold GPU 1 past 10
    unlimited = _job(4, gpus=1)
    p = plan(PassInput(candidates=[big, short, long, unlimited], running=running,
                       gpus=[Gpu(0), Gpu(1)], backfill=True, now=0.0))
    assert [(j.id, ids) for j, ids in p.starts] == [(2, [1])]
    assert p.backfill == bf.Reservation(job_id=1, gpus=frozenset({0, 1}), start=10.0, end=15.0)
    assert p.planned == {1: 10.0, 3: 15.0}  # the long job is planned after the big one
    assert p.waiting == {1: "WaitingForGpu", 3: "WaitingForGpu", 4: "WaitingForGpu"}
    # upstream's greedy pass would hand GPU 1 to the first job that fits
    p = plan(PassInput(candidates=[big, long, unlimited], running=running,
                       gpus=[Gpu(0), Gpu(1)], backfill=False, now=0.0))
    assert [(j.id, ids) for j, ids in p.starts] == [(3, [1])] and p.planned == {}


def test_jobs_beside_the_reservation_start_freely():
    # the head (a shared job needing 40G) can only ever use the 80G GPU 0
    running = [Job(id=100, state=JobState.RUNNING, gpus=1, gpu_ids=[0], started_at=0.0, time_limit=10)]
    head = _job(1, priority=100, gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=40 * 1024)
    p = plan(PassInput(candidates=[head, _job(2, gpus=1)], running=running,
                       gpus=[Gpu(0, memory_mb=80 * 1024), Gpu(1, memory_mb=16 * 1024)], backfill=True, now=0.0))
    assert p.backfill.gpus == {0} and p.backfill.start == 10.0
    assert [(j.id, ids) for j, ids in p.starts] == [(2, [1])]  # unlimited, but beside it


def test_an_unlimited_holder_puts_the_reservation_at_infinity_and_nothing_long_takes_its_gpus():
    running = [Job(id=100, state=JobState.RUNNING, gpus=1, gpu_ids=[0], started_at=0.0)]
    p = plan(PassInput(candidates=[_job(1, gpus=2, priority=100), _job(2, gpus=1), _job(3, gpus=1, limit=60)],
                       running=running, gpus=[Gpu(0), Gpu(1)], backfill=True, now=0.0))
    assert p.backfill.start == bf.INF and p.planned == {}
    assert [j.id for j, _ in p.starts] == [3]  # any limit ends before "never"


def test_a_reservation_is_made_even_when_no_gpu_is_free():
    running = [Job(id=100 + i, state=JobState.RUNNING, gpus=1, gpu_ids=[i], started_at=0.0, time_limit=60 * (i + 1))
               for i in range(2)]
    p = plan(PassInput(candidates=[_job(1, gpus=2, priority=100), _job(2, gpus=1)], running=running,
                       gpus=[Gpu(0), Gpu(1)], backfill=True, now=30.0))
    assert p.planned == {1: 120.0} and p.waiting == {1: "WaitingForGpu", 2: "WaitingForGpu"}


def test_shared_job_free_time_counts_the_vram_released_by_ending_holders():
    holders = [
        Job(id=1, state=JobState.RUNNING, gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=30, started_at=0, time_limit=10),
        Job(id=2, state=JobState.RUNNING, gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=50, started_at=0, time_limit=20),
    ]
    want = lambda mb: Job(id=9, gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=mb)  # noqa: E731
    assert bf.free_at(want(20), 100, True, holders, 0.0) == 0.0
    assert bf.free_at(want(40), 100, True, holders, 0.0) == 10.0
    assert bf.free_at(want(80), 100, True, holders, 0.0) == 20.0
    assert bf.free_at(Job(id=9, gpus=1), 100, True, holders, 0.0) == 20.0  # exclusive: all gone
    assert bf.free_at(Job(id=9, gpus=1), 100, False, [], 0.0) == bf.INF  # a foreign process


def test_jobs_without_limits_behind_a_reservation_are_not_examined_one_by_one():
    from gflow.core.queue import ReadyQueue

    running = [Job(id=100, state=JobState.RUNNING, gpus=1, gpu_ids=[0], started_at=0.0, time_limit=10)]
    behind = [_job(i) for i in range(2, 2002)]
    examined = []
    queue = ReadyQueue([_job(1, gpus=2, priority=100, limit=60)] + behind)
    p = plan(PassInput(queue=queue, fresh=set(), running=running, gpus=[Gpu(0), Gpu(1)], backfill=True,
                       now=0.0, quota_allows=lambda j, _r: examined.append(j.id) or True))
    assert p.starts == [] and p.backfill.gpus == {0, 1}
    # GPU 1 is free but reserved, and nobody behind could leave it in time: after the reserved
    # job only the next in line is looked at (for its reason), not the 1,999 behind it
    assert examined == [1, 2]
    assert p.waiting == {1: "WaitingForGpu", 2: "WaitingForGpu"}  # the lane's head says why
    # a short job behind is worth looking at, and starts
    queue.add(_job(5000, limit=5))
    p = plan(PassInput(queue=queue, fresh={5000}, running=running, gpus=[Gpu(0), Gpu(1)], backfill=True, now=0.0))
    assert [(j.id, ids) for j, ids in p.starts] == [(5000, [1])]


def test_the_reservations_of_a_pass_never_collide_and_no_start_delays_one():
    """Several jobs short of GPUs get reservations in one pass: on a GPU two of them share,
    one is over before the other starts, and every job the pass starts beside them is off
    their GPUs or over before they begin. (Only the first one's promise is kept across
    passes: the later ones are planned again each pass around what the earlier ones get.)"""
    rng = random.Random(11)
    several = 0

    def check(p, now):
        nonlocal several
        held = p.reservations
        several += len(held) > 1
        assert len(held) <= 8 and (not held or p.backfill is held[0])
        for k, a in enumerate(held):
            for b in held[k + 1:]:
                if a.gpus & b.gpus and a.start != bf.INF and b.start != bf.INF:
                    assert a.end <= b.start or b.end <= a.start, (a, b)
        for job, ids in p.starts:
            ends = now + job.time_limit if job.time_limit is not None else bf.INF
            for r in held:
                if set(ids) & r.gpus:  # over before it starts (or started first, and planned around)
                    assert ends <= r.start, (job.id, ids, r)

    for _ in range(300):
        jobs, n = _random_queue(rng)
        simulate(jobs, n, backfill=True, runtime=_runtimes(jobs, rng), on_pass=check)
    assert several > 100  # several reservations in one pass were really exercised


def test_a_second_big_job_is_not_starved_by_small_ones_either():
    """GPU 0 is held by a job without a limit, so the first big job (all four GPUs) cannot
    be planned: its reservation is "never". The second big job (three GPUs, 5 s) could run
    on GPUs 1-3 once they free at t=2, 4, 6. Planning only the first, every small job that
    fits before "never" takes those GPUs and the second waits behind all thirty; planning
    the next ones too, it starts at t=6 and the small ones fill in around it."""
    def scenario():
        running = [Job(id=100, state=JobState.RUNNING, gpus=1, gpu_ids=[0], started_at=0.0)]
        running += [Job(id=101 + i, state=JobState.RUNNING, gpus=1, gpu_ids=[i + 1], started_at=0.0,
                        time_limit=2 * (i + 1)) for i in range(3)]
        first = _job(1, gpus=4, priority=100)
        second = _job(2, gpus=3, priority=90, limit=5)
        small = [_job(i, gpus=1, priority=10, limit=10) for i in range(3, 33)]
        runtime = {j.id: float(j.time_limit or 1000) for j in running + [first, second] + small}
        return [first, second] + small, running, runtime

    jobs, running, runtime = scenario()
    one, _ = simulate(jobs, 4, backfill=True, runtime=runtime, running=running, depth=1)
    jobs, running, runtime = scenario()
    several, _ = simulate(jobs, 4, backfill=True, runtime=runtime, running=running)
    assert one[2] >= 100  # behind every small job
    assert several[2] == 6.0
    # none of the small jobs (10 s each) could end before t=6: they follow it
    assert min(t for i, t in several.items() if 3 <= i < 33) == 11.0
