"""The ordered ready queue: lanes kept sorted as jobs come and go, merged in scheduling order."""
from __future__ import annotations

import random

from gflow.core.queue import Merge, ReadyQueue, time_bonus
from gflow.protocol import GpuSharing, Job


def _walk(queue: ReadyQueue, shares: dict[str, float]) -> list[int]:
    merge, out = Merge(queue.lanes(), shares), []
    while merge:
        lane, pos, share = merge.next()
        out.append(lane.job_at(pos).id)
        merge.advance(lane, pos, share)
    return out


def full_sort(jobs: list[Job], shares: dict[str, float]) -> list[int]:
    """The scheduling order written as one sort (SPEC 4.3): priority bands, then fair share,
    then shorter limits, then older jobs."""
    share = shares.get
    ranked = sorted(jobs, key=lambda j: (-j.priority, -share(j.user, 1.0), -time_bonus(j), j.id))
    return [j.id for j in ranked]


def _random_job(rng: random.Random, job_id: int) -> Job:
    group = rng.choice([None, "g1", "g2"])
    shared = rng.random() < 0.3
    return Job(
        id=job_id, user=rng.choice(["ann", "bob", "cy"]), priority=rng.choice([1, 10, 10, 50]),
        time_limit=rng.choice([None, 60, 7200, 10**6]), gpus=rng.choice([0, 1, 2]),
        gpu_sharing_mode=GpuSharing.SHARED if shared else GpuSharing.EXCLUSIVE,
        group_id=group, max_concurrent=rng.choice([1, 2]) if group else None,
    )


def test_merge_gives_the_order_of_a_full_sort_through_adds_updates_and_removals():
    rng = random.Random(11)
    for _ in range(200):
        jobs = {i: _random_job(rng, i) for i in range(1, rng.randint(2, 60))}
        queue = ReadyQueue(jobs.values())
        for _ in range(rng.randint(0, 20)):  # removals, re-adds and changed priorities
            job_id = rng.choice(list(jobs))
            action = rng.random()
            if action < 0.4:
                queue.discard(job_id)
                jobs.pop(job_id)
                if not jobs:
                    break
            else:
                jobs[job_id].priority = rng.choice([1, 10, 50, 99])
                queue.add(jobs[job_id])
        shares = {u: rng.random() for u in ("ann", "bob") if rng.random() < 0.7}
        assert len(queue) == len(jobs)
        for lane in queue.lanes():
            assert lane.limited == sum(j.time_limit is not None for j in lane.jobs.values())
        assert _walk(queue, shares) == full_sort(list(jobs.values()), shares)


def test_discarding_an_unknown_job_is_harmless():
    queue = ReadyQueue([Job(id=1)])
    queue.discard(7)
    queue.discard(1)
    queue.discard(1)
    assert len(queue) == 0 and list(queue.lanes()) == []


def test_starts_from_the_head_keep_the_order_as_jobs_come_and_go():
    """Jobs leave a lane mostly from its head (they start): the order stays a full sort's
    through thousands of starts, with higher-priority jobs arriving ahead of the head and
    others leaving from the middle."""
    rng = random.Random(5)
    jobs = {i: Job(id=i, user="ann", priority=10) for i in range(1, 1001)}
    queue = ReadyQueue(jobs.values())
    next_id = 1001
    for step in range(3000):
        order = _walk(queue, {})
        assert order == full_sort(list(jobs.values()), {}), f"step {step}"
        action = rng.random()
        if action < 0.7 and jobs:
            started = order[0]
            queue.discard(started)
            jobs.pop(started)
        elif action < 0.85 and jobs:
            gone = rng.choice(order)
            queue.discard(gone)
            jobs.pop(gone)
        else:
            job = Job(id=next_id, user="ann", priority=rng.choice([1, 10, 50]))
            next_id += 1
            jobs[job.id] = job
            queue.add(job)
        if step % 500 == 0 and jobs:
            queue.add(jobs[max(jobs)])  # re-added in place (an update)
    assert len(queue) == len(jobs)
