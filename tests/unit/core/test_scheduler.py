"""One scheduling pass as a pure function: ordering (SPEC 4.3), admission (4.4), GPUs (4.5)."""
from __future__ import annotations

import random

from gflow.core import scheduler
from gflow.core.queue import _lane_of
from gflow.core.scheduler import Gpu, PassInput, plan
from gflow.protocol import GpuSharing, Job, JobState, Reason

MIN, HOUR = 60, 3600


def job(job_id: int, **fields) -> Job:
    return Job(id=job_id, **fields)


def running(job_id: int, gpu_ids=(), **fields) -> Job:
    return Job(id=job_id, state=JobState.RUNNING, gpu_ids=list(gpu_ids), **fields)


def order(jobs: list[Job], shares: dict[str, float]) -> list[int]:
    """The order a pass examines candidates in: the ready queue's lanes merged."""
    from gflow.core.queue import Merge, ReadyQueue

    merge, out = Merge(ReadyQueue(jobs).lanes(), shares), []
    while merge:
        lane, pos, share = merge.next()
        out.append(lane.job_at(pos).id)
        merge.advance(lane, pos, share)
    return out


def started(p) -> list[int]:
    return [j.id for j, _ in p.starts]


def test_time_bonus():
    assert scheduler.time_bonus(job(1)) == 100
    assert scheduler.time_bonus(job(1, time_limit=MIN)) == 299
    assert scheduler.time_bonus(job(1, time_limit=12 * HOUR)) == 250
    assert scheduler.time_bonus(job(1, time_limit=24 * HOUR)) == 200
    assert scheduler.time_bonus(job(1, time_limit=100 * HOUR)) == 200
    assert scheduler.time_bonus(job(1, time_limit=0)) == 300


def test_observed_order_from_spec():
    """prio 50/1 min, prio 50/10 h, prio 50/none, prio 5/5 min, prio 5/none (SPEC 4.3)."""
    jobs = [
        job(1, priority=5),
        job(2, priority=50),
        job(3, priority=5, time_limit=5 * MIN),
        job(4, priority=50, time_limit=10 * HOUR),
        job(5, priority=50, time_limit=MIN),
    ]
    assert order(jobs, {}) == [5, 4, 2, 3, 1]


def test_older_job_first_within_equal_keys_and_fair_share_second():
    jobs = [job(3, user="a"), job(1, user="b"), job(2, user="a")]
    assert order(jobs, {}) == [1, 2, 3]
    # fair share outranks the time bonus and the id, never the priority
    shares = {"a": 1.0, "b": 0.25}
    jobs = [job(1, user="b", time_limit=MIN), job(2, user="a"), job(3, user="b", priority=11)]
    assert order(jobs, shares) == [3, 2, 1]


def test_zero_gpu_jobs_all_start_in_one_pass():
    p = plan(PassInput(candidates=[job(i) for i in range(1, 6)], running=[]))
    assert started(p) == [1, 2, 3, 4, 5]
    assert p.waiting == {}


def test_greedy_backfill_lets_a_smaller_job_pass_a_bigger_one():
    gpus = [Gpu(0), Gpu(1)]
    candidates = [job(1, priority=50, gpus=3), job(2, priority=10, gpus=1), job(3, priority=1, gpus=1)]
    p = plan(PassInput(candidates=candidates, running=[], gpus=gpus))
    assert [(j.id, ids) for j, ids in p.starts] == [(2, [0]), (3, [1])]
    assert p.waiting == {1: Reason.WAITING_FOR_GPU.value}


def test_host_memory_counts_running_and_earlier_admissions():
    p = plan(PassInput(
        candidates=[job(1, memory_limit_mb=3000), job(2, memory_limit_mb=3000), job(3, memory_limit_mb=500)],
        running=[running(9, memory_limit_mb=4000)],
        host_memory_mb=8000,
    ))
    assert started(p) == [1, 3]
    assert p.waiting == {2: Reason.WAITING_FOR_MEMORY.value}


def test_memory_above_the_host_total_waits():
    p = plan(PassInput(candidates=[job(1, memory_limit_mb=10**6)], running=[], host_memory_mb=1024))
    assert p.waiting == {1: "WaitingForMemory"}


def test_group_limit_counts_running_members_and_this_pass():
    g = "group-a"
    candidates = [job(i, group_id=g, max_concurrent=2) for i in (2, 3, 4)] + [job(5)]
    p = plan(PassInput(candidates=candidates, running=[running(1, group_id=g, max_concurrent=2)]))
    assert started(p) == [2, 5]
    assert p.waiting == {3: Reason.WAITING_FOR_RESOURCES.value, 4: Reason.WAITING_FOR_RESOURCES.value}


def test_group_limit_is_the_member_own_value_and_other_groups_are_independent():
    p = plan(PassInput(candidates=[
        job(1, group_id="a", max_concurrent=1), job(2, group_id="a", max_concurrent=1),
        job(3, group_id="b", max_concurrent=1), job(4, group_id="a"),  # no limit on job 4
    ], running=[]))
    assert started(p) == [1, 3, 4]


def test_exclusive_gpus_are_not_shared_and_lowest_indices_come_first():
    gpus = [Gpu(0), Gpu(1), Gpu(2), Gpu(3)]
    p = plan(PassInput(
        candidates=[job(2, gpus=2), job(3, gpus=1), job(4, gpus=1)],
        running=[running(1, gpu_ids=[1], gpus=1)],
        gpus=gpus,
    ))
    assert [(j.id, ids) for j, ids in p.starts] == [(2, [0, 2]), (3, [3])]
    assert p.waiting == {4: "WaitingForGpu"}


def test_unavailable_and_disallowed_gpus_are_skipped():
    gpus = [Gpu(0, available=False), Gpu(1), Gpu(2)]
    p = plan(PassInput(candidates=[job(1, gpus=1), job(2, gpus=1)], running=[], gpus=gpus, allowed={0, 2}))
    assert [(j.id, ids) for j, ids in p.starts] == [(1, [2])]
    assert p.waiting == {2: "WaitingForGpu"}


def shared(job_id: int, mem: int, **fields) -> Job:
    return Job(id=job_id, gpus=1, gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=mem, **fields)


def test_shared_jobs_co_locate_within_the_vram_budget():
    gpus = [Gpu(0, memory_mb=24000)]
    p = plan(PassInput(
        candidates=[shared(2, 10000), shared(3, 10000), shared(4, 1000)],
        running=[Job(id=1, state=JobState.RUNNING, gpus=1, gpu_ids=[0],
                     gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=4000)],
        gpus=gpus,
    ))
    # 4000 + 10000 + 10000 = 24000 fits exactly; the next 1000 does not
    assert started(p) == [2, 3]
    assert p.waiting == {4: "WaitingForGpu"}


def test_shared_and_exclusive_never_mix():
    gpus = [Gpu(0, memory_mb=80000), Gpu(1, memory_mb=80000)]
    p = plan(PassInput(
        candidates=[shared(2, 1000), job(3, gpus=1), job(4, gpus=1)],
        running=[running(1, gpu_ids=[0], gpus=1)],  # exclusive on GPU 0
        gpus=gpus,
    ))
    assert [(j.id, ids) for j, ids in p.starts] == [(2, [1])]
    assert p.waiting == {3: "WaitingForGpu", 4: "WaitingForGpu"}  # 4 lacks what 3 lacks


def test_shared_job_may_join_a_gpu_held_only_by_shared_jobs_without_known_memory():
    gpus = [Gpu(0)]
    holder = Job(id=1, state=JobState.RUNNING, gpus=1, gpu_ids=[0],
                 gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=10**6)
    p = plan(PassInput(candidates=[shared(2, 10**6)], running=[holder], gpus=gpus))
    assert started(p) == [2]


def test_random_strategy_uses_the_given_generator():
    gpus = [Gpu(i) for i in range(8)]
    picks = {
        tuple(plan(PassInput(candidates=[job(1, gpus=2)], running=[], gpus=gpus, strategy="random",
                             rng=random.Random(seed))).starts[0][1])
        for seed in range(20)
    }
    assert len(picks) > 1
    assert all(len(p) == 2 and list(p) == sorted(p) for p in picks)


def test_first_failing_check_decides_the_reason_in_spec_order():
    # memory is checked before the group, the group before quotas, quotas before GPUs
    g = "g"
    p = plan(PassInput(
        candidates=[
            job(2, memory_limit_mb=10**6, group_id=g, max_concurrent=1, gpus=1),
            job(3, group_id=g, max_concurrent=1, gpus=1),
            job(4, gpus=1),
            job(5, gpus=1, user="ok"),
        ],
        running=[running(1, group_id=g, max_concurrent=1)],
        gpus=[],
        host_memory_mb=1000,
        quota_allows=lambda j, _running: j.user == "ok",
    ))
    assert p.waiting == {
        2: "WaitingForMemory", 3: "WaitingForResources", 4: "WaitingForQuota", 5: "WaitingForGpu",
    }


def test_quota_hook_sees_jobs_admitted_earlier_in_the_pass():
    seen = []

    def allows(j, run):
        seen.append((j.id, [r.id for r in run]))
        return len(run) < 2

    p = plan(PassInput(candidates=[job(2), job(3), job(4)], running=[running(1)], quota_allows=allows))
    assert started(p) == [2]
    assert seen[:2] == [(2, [1]), (3, [1, 2])]


def test_reservations_restrict_usable_gpus_and_name_the_blocking_reservation():
    from gflow.core.reservations import Reservation, ReservationGate

    gpus = [Gpu(0), Gpu(1), Gpu(2)]
    active = [Reservation(id=5, user="alice", start=0, duration=1800, gpu_indices=[2]),
              Reservation(id=6, user="carol", start=0, duration=1800, gpu_count=1)]
    p = plan(PassInput(
        candidates=[job(1, gpus=1, user="alice"), job(2, gpus=2, user="bob")],
        running=[], gpus=gpus, reservations=ReservationGate(active, [0, 1, 2], {}),
    ))
    assert [(j.id, ids) for j, ids in p.starts] == [(1, [2])]
    assert p.waiting == {2: "Reserved:6"}  # GPU 2 is alice's, and carol's claim holds one


# ---------------------------------------------------------------------- ranking shortcuts


def test_a_full_group_hands_back_its_rest_without_ranking_it():
    g = "array"
    members = [job(i, group_id=g, max_concurrent=2) for i in range(2, 10_002)]
    p = plan(PassInput(candidates=members + [job(20_000, priority=1)],
                       running=[running(1, group_id=g, max_concurrent=2)]))
    assert started(p) == [2, 20_000]
    assert len(p.waiting) == 9_999 and set(p.waiting.values()) == {"WaitingForResources"}


def test_group_members_interleave_with_other_candidates_by_rank():
    g = "sweep"
    candidates = [
        job(1, group_id=g, max_concurrent=3, priority=5),
        job(2, priority=7),
        job(3, group_id=g, max_concurrent=3, priority=9),
        job(4, group_id=g, max_concurrent=3, priority=5),
        job(5, group_id=g, max_concurrent=3, priority=5),
        job(6),
    ]
    order_seen = []
    p = plan(PassInput(candidates=candidates, running=[],
                       quota_allows=lambda j, _r: order_seen.append(j.id) or True))
    assert order_seen == [6, 3, 2, 1, 4]  # 5 never examined: the group was full
    assert started(p) == [6, 3, 2, 1, 4] and p.waiting == {5: "WaitingForResources"}


def test_members_with_different_limits_are_judged_one_by_one():
    g = "mixed"
    candidates = [job(2, group_id=g, max_concurrent=1), job(3, group_id=g, max_concurrent=3),
                  job(4, group_id=g, max_concurrent=1)]
    p = plan(PassInput(candidates=candidates, running=[running(1, group_id=g, max_concurrent=1)]))
    assert started(p) == [3]
    assert p.waiting == {2: "WaitingForResources", 4: "WaitingForResources"}


def _reference_plan(inp: PassInput):
    """The rules of SPEC 4.3-4.5 written as plainly as possible, to check `plan` against."""
    from gflow.protocol import GpuSharing as S

    starts, waiting = [], {}
    run = list(inp.running)
    mem = inp.host_memory_mb - sum(j.memory_limit_mb or 0 for j in run)
    by_id = {j.id: j for j in inp.candidates}
    for j in (by_id[i] for i in order(inp.candidates, inp.fair_share)):
        need = j.memory_limit_mb or 0
        if need > mem:
            waiting[j.id] = "WaitingForMemory"
            continue
        if j.group_id and j.max_concurrent is not None and \
                sum(1 for r in run if r.group_id == j.group_id) >= j.max_concurrent:
            waiting[j.id] = "WaitingForResources"
            continue
        if inp.quota_allows and not inp.quota_allows(j, run):
            waiting[j.id] = "WaitingForQuota"
            continue
        chosen = []
        if j.gpus:
            usable = []
            for g in inp.gpus:
                if inp.allowed is not None and g.index not in inp.allowed:
                    continue
                holders = [r for r in run if g.index in (r.gpu_ids or [])]
                if any(h.gpu_sharing_mode is S.EXCLUSIVE for h in holders):
                    continue
                if j.gpu_sharing_mode is S.EXCLUSIVE:
                    ok = not holders and g.available
                else:
                    ok = (bool(holders) or g.available) and (
                        g.memory_mb is None
                        or sum(h.gpu_memory_limit_mb or 0 for h in holders) + (j.gpu_memory_limit_mb or 0) <= g.memory_mb
                    )
                if ok:
                    usable.append(g)
            if len(usable) < j.gpus:
                waiting[j.id] = "WaitingForGpu"
                continue
            if j.gpu_sharing_mode is S.SHARED:  # pack: GPUs already shared first, tightest first
                def left(g):
                    used = [h.gpu_memory_limit_mb or 0 for h in run if g.index in (h.gpu_ids or [])]
                    if not used:
                        return (1, 0, g.index)
                    room = g.memory_mb - sum(used) if g.memory_mb is not None else float("inf")
                    return (0, room, g.index)
                usable.sort(key=left)
            chosen = sorted(g.index for g in usable[: j.gpus])
        j2 = Job(id=j.id, state=JobState.RUNNING, gpu_ids=chosen, group_id=j.group_id,
                 gpu_sharing_mode=j.gpu_sharing_mode, gpu_memory_limit_mb=j.gpu_memory_limit_mb,
                 memory_limit_mb=j.memory_limit_mb, user=j.user)
        starts.append((j.id, chosen))
        mem -= need
        run.append(j2)
    return starts, waiting


def test_plan_matches_the_plain_rules_on_random_queues():
    from gflow.protocol import reason_label

    rng = random.Random(5)
    for _ in range(300):
        gpus = [Gpu(i, memory_mb=rng.choice([None, 16000, 40000]), available=rng.random() > 0.1)
                for i in range(rng.randint(0, 6))]
        groups = ["a", "b", None]
        limits = {"a": rng.randint(1, 3), "b": rng.randint(1, 3)}

        def make(i, state=JobState.QUEUED):
            g = rng.choice(groups)
            is_shared = rng.random() < 0.3
            return Job(
                id=i, state=state, user=rng.choice(["u1", "u2"]), priority=rng.choice([5, 10, 10, 50]),
                time_limit=rng.choice([None, 60, 3600]), group_id=g,
                max_concurrent=(limits[g] if g and rng.random() > 0.1 else (rng.randint(1, 3) if g else None)),
                gpus=rng.choice([0, 0, 1, 2]),
                gpu_sharing_mode=GpuSharing.SHARED if is_shared else GpuSharing.EXCLUSIVE,
                gpu_memory_limit_mb=rng.choice([4000, 12000]) if is_shared else None,
                memory_limit_mb=rng.choice([None, None, 1000, 3000]),
            )

        run_jobs = []
        for i in range(rng.randint(0, 4)):
            r = make(100 + i, JobState.RUNNING)
            if r.gpus and gpus:
                r.gpu_ids = sorted(rng.sample([g.index for g in gpus], min(r.gpus, len(gpus))))
            run_jobs.append(r)
        cands = [make(i) for i in range(1, rng.randint(1, 40))]
        quota_cap = rng.choice([None, 3, 6])
        quota = (lambda j, r: len(r) < quota_cap) if quota_cap else None
        inp = PassInput(candidates=cands, running=run_jobs, gpus=gpus, host_memory_mb=rng.choice([4000, 10**6]),
                        allowed=rng.choice([None, {0, 1, 2}]), quota_allows=quota)
        got = plan(inp)
        want_starts, want_waiting = _reference_plan(inp)
        assert [(j.id, ids) for j, ids in got.starts] == want_starts
        # A lane dropped early (its group full, no GPU left for its kind) is judged when it is
        # dropped: its head may name the group where the plain walk, reaching it after
        # more memory was taken, names memory (the same "Resources" to users), or name the
        # GPUs it lacks where the walk, after more jobs started, names its quota. The jobs
        # behind the head lack what it lacks: GPUs, or in a limited group the group's turn.
        assert got.waiting.keys() == want_waiting.keys()
        for k, v in got.waiting.items():
            want = reason_label(want_waiting[k])
            lane = _lane_of(by_id(cands, k))
            if not (lane[2] is not None and v == "WaitingForResources"):
                assert reason_label(v) == want or (want == "Quota" and v == "WaitingForGpu"), (k, v)


def by_id(jobs: list[Job], job_id: int) -> Job:
    return next(j for j in jobs if j.id == job_id)


# ---------------------------------------------------------------------- packing, early stop, reasons


def shared(job_id: int, mb: int, **fields) -> Job:
    return Job(id=job_id, gpus=1, gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=mb, **fields)


def test_shared_jobs_pack_onto_gpus_already_shared_tightest_first():
    gpus = [Gpu(0, memory_mb=80_000), Gpu(1, memory_mb=80_000), Gpu(2, memory_mb=80_000)]
    on1 = Job(id=90, state=JobState.RUNNING, gpu_ids=[1], gpus=1, gpu_sharing_mode=GpuSharing.SHARED,
              gpu_memory_limit_mb=20_000)
    on2 = Job(id=91, state=JobState.RUNNING, gpu_ids=[2], gpus=1, gpu_sharing_mode=GpuSharing.SHARED,
              gpu_memory_limit_mb=50_000)
    for strategy in ("sequential", "random"):
        p = plan(PassInput(candidates=[shared(1, 20_000), job(2, gpus=1)], running=[on1, on2], gpus=gpus,
                           strategy=strategy, rng=random.Random(3)))
        # GPU 2 has 30G left (the tightest fit), GPU 0 stays whole for the exclusive job
        assert [(j.id, ids) for j, ids in p.starts] == [(1, [2]), (2, [0])]
    p = plan(PassInput(candidates=[shared(1, 40_000)], running=[on1, on2], gpus=gpus))
    assert [(j.id, ids) for j, ids in p.starts] == [(1, [1])]  # only GPU 1 (and 0) have room


def test_with_the_daemons_queue_only_the_heads_and_new_jobs_are_judged():
    from gflow.core.queue import ReadyQueue

    busy = [running(100 + i, [i], gpus=1) for i in range(2)]
    queue = ReadyQueue([job(i, gpus=1, reason="old") for i in range(1, 1001)] + [job(2000), job(2001, gpus=1)])
    p = plan(PassInput(queue=queue, fresh={2000, 2001}, running=busy, gpus=[Gpu(0), Gpu(1)]))
    assert [j.id for j, _ in p.starts] == [2000]
    # no GPU is free: the lane is dropped after its head; job 2001 is new and gets its reason
    assert p.waiting == {1: "WaitingForGpu", 2001: "WaitingForGpu"}


def test_a_job_short_of_gpus_names_a_foreign_process_that_blocks_them():
    gpus = [Gpu(0), Gpu(1, available=False, note="Unmanaged: pid 4242"), Gpu(2, available=False)]
    p = plan(PassInput(candidates=[job(1, gpus=2), job(2, gpus=3)], running=[], gpus=gpus))
    assert p.waiting == {1: "Unmanaged: pid 4242", 2: "WaitingForGpu"}  # 2 lacks more than that


def test_never_fitting_jobs_say_why_and_hold_nothing_back():
    from gflow.core.fits import Capacity

    cap = Capacity(gpus=2, largest_gpu_mb=1000, host_memory_mb=4096,
                   gpu_quota=lambda j: (1, "the quota of user ann") if j.user == "ann" else None)
    p = plan(PassInput(
        candidates=[job(1, gpus=3, priority=99), shared(2, 2000), job(3, memory_limit_mb=5000),
                    job(4, gpus=2, user="ann"), job(5, gpus=1)],
        running=[], gpus=[Gpu(0, 1000), Gpu(1, 1000)], capacity=cap, backfill=True,
    ))
    assert p.waiting == {
        1: "NeverFits: 3 GPUs > 2 allowed",
        2: "NeverFits: 2000M GPU memory > 1000M per GPU",
        3: "NeverFits: 5000M memory > 4G on this host",
        4: "NeverFits: 2 GPUs > 1 allowed by the quota of user ann",
    }
    assert [j.id for j, _ in p.starts] == [5] and p.backfill is None


def test_a_limit_of_zero_never_lets_a_job_start_and_says_so():
    from gflow.core.fits import Capacity

    cap = Capacity(gpus=2, largest_gpu_mb=None, host_memory_mb=4096,
                   no_jobs_quota=lambda j: "the quota of user ann" if j.user == "ann" else None)
    p = plan(PassInput(
        candidates=[job(1, user="ann"), job(2, group_id="g", max_concurrent=0), job(3, group_id="g", max_concurrent=0),
                    job(4, max_concurrent=0), job(5)],
        running=[], gpus=[Gpu(0), Gpu(1)], capacity=cap,
    ))
    assert p.waiting == {
        1: "NeverFits: 0 running jobs allowed by the quota of user ann",
        2: "NeverFits: its group may run 0 jobs at once (gctl set-limit)",
        3: "NeverFits: its group may run 0 jobs at once (gctl set-limit)",
    }
    assert started(p) == [4, 5]  # a limit without a group limits nothing


def test_new_jobs_started_before_their_lane_ran_out_of_gpus_get_no_reason():
    from gflow.core.queue import ReadyQueue

    jobs = [job(i, gpus=1) for i in (1, 2, 3)]
    p = plan(PassInput(queue=ReadyQueue(jobs), fresh={1, 2, 3}, running=[], gpus=[Gpu(0), Gpu(1)]))
    assert [j.id for j, _ in p.starts] == [1, 2]
    assert p.waiting == {3: "WaitingForGpu"}


def test_a_job_no_gpu_is_left_for_names_the_reservation_that_comes_first():
    from gflow.core.queue import ReadyQueue
    from gflow.core.reservations import Reservation, ReservationGate

    busy = [running(100 + i, [i], gpus=1, user="bob") for i in range(2)]
    claim = Reservation(id=7, user="alice", start=0.0, duration=3600, gpu_count=1)
    queue = ReadyQueue([job(1, gpus=1, user="alice"), job(2, gpus=1, user="bob")])
    p = plan(PassInput(queue=queue, fresh={1, 2}, running=busy, gpus=[Gpu(0), Gpu(1)],
                       reservations=ReservationGate([claim], [0, 1], {"bob": [0, 1]})))
    assert p.starts == [] and p.waiting == {1: "WaitingForGpu", 2: "Reserved:7"}


def test_jobs_an_earlier_pass_examined_lose_a_stale_reason_once_their_lane_stops_before_them():
    """The incremental pass: a job examined in one pass (here it named a foreign process)
    must not keep that reason when a later pass stops at a job ahead of it; and a pass after
    that, with nothing new, writes no reason but the head's."""
    from gflow.core.queue import ReadyQueue

    queue = ReadyQueue([job(1, gpus=3, priority=50), job(2, gpus=2, priority=20), job(3, gpus=1)])
    gpus = [Gpu(0), Gpu(1, available=False, note="Unmanaged: pid 42"), Gpu(2)]
    first = plan(PassInput(queue=queue, fresh={1, 2, 3}, running=[running(100, [2], gpus=1)], gpus=gpus))
    assert started(first) == [3]
    assert first.waiting == {1: "WaitingForGpu", 2: "Unmanaged: pid 42"}
    queue.discard(3)
    # the foreign process is gone, another user's job took GPU 1: no GPU is free at all
    busy = [running(100, [2], gpus=1), running(3, [0], gpus=1), running(200, [1], gpus=1, user="other")]
    second = plan(PassInput(queue=queue, fresh=set(), running=busy, gpus=[Gpu(0), Gpu(1), Gpu(2)]))
    assert second.waiting == {1: "WaitingForGpu", 2: "WaitingForGpu"}
    third = plan(PassInput(queue=queue, fresh=set(), running=busy, gpus=[Gpu(0), Gpu(1), Gpu(2)]))
    assert third.waiting == {1: "WaitingForGpu"}


def test_a_new_job_behind_a_waiting_head_waits_for_it_unless_it_can_never_start():
    from gflow.core.fits import Capacity
    from gflow.core.queue import ReadyQueue

    queue = ReadyQueue([job(1, gpus=1), job(2, gpus=1), job(3, gpus=9)])
    p = plan(PassInput(queue=queue, fresh={2, 3}, running=[running(100, [0], gpus=1)], gpus=[Gpu(0)],
                       capacity=Capacity(gpus=1, largest_gpu_mb=None, host_memory_mb=1 << 20)))
    assert p.waiting == {1: "WaitingForGpu", 2: "WaitingForGpu", 3: "NeverFits: 9 GPUs > 1 allowed"}
