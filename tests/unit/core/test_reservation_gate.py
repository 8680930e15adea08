"""The aggregate reservation rule (core.reservations.ReservationGate) alone and inside a
scheduling pass, with examples and randomised properties (stdlib random, fixed seeds)."""
from __future__ import annotations

import random

from gflow.core.reservations import Reservation, ReservationGate
from gflow.core.scheduler import Gpu, PassInput, plan
from gflow.protocol import Job, JobState

T0 = 1_800_000_000.0
USERS = ("alice", "bob", "carol", "dave")


def res(id: int, user: str, count: int | None = None, indices: list[int] | None = None) -> Reservation:
    return Reservation(id=id, user=user, start=T0, duration=7200, gpu_count=count, gpu_indices=indices)


def gate(active, allowed=range(4), use=None) -> ReservationGate:
    return ReservationGate(active, allowed, use or {})


# --------------------------------------------------------------------------- examples
def test_a_count_reservation_keeps_gpus_back_from_everyone_else():
    g = gate([res(1, "alice", count=1)], use={"bob": [0, 1]})
    assert g.permit("bob", 1, [2, 3]) == ([2], None)  # one idle GPU beyond alice's claim
    g.take("bob", [2])
    assert g.permit("bob", 1, [3]) == (None, 1)  # the last one is alice's
    assert g.permit("alice", 1, [3]) == ([3], None)


def test_a_holder_gets_its_claim_plus_what_is_free():
    g = gate([res(1, "alice", count=1)])
    assert g.permit("alice", 4, [0, 1, 2, 3]) == ([0, 1, 2, 3], None)
    assert g.permit("bob", 4, [0, 1, 2, 3]) == (None, 1)
    assert g.permit("bob", 3, [0, 1, 2, 3]) == ([0, 1, 2], None)


def test_running_jobs_of_the_holder_count_against_its_claim():
    g = gate([res(1, "alice", count=2)], use={"alice": [0]})
    assert g.outstanding("alice") == 1
    assert g.permit("bob", 2, [1, 2, 3]) == ([1, 2], None)


def test_index_reservations_are_kept_for_their_holder_who_prefers_them():
    g = gate([res(1, "alice", indices=[2])])
    assert g.permit("bob", 1, [0, 1, 2, 3]) == ([0], None)
    assert g.permit("bob", 4, [0, 1, 2, 3]) == (None, 1)
    assert g.permit("alice", 1, [0, 1, 2, 3])[0][0] == 2  # own GPU first


def test_the_allowed_set_bounds_the_pool():
    """`gctl set-gpus 0-2`: the claim comes out of three GPUs, not four."""
    g = gate([res(1, "alice", count=1)], allowed=[0, 1, 2])
    assert g.permit("bob", 2, [0, 1, 2]) == ([0, 1], None)
    assert g.permit("bob", 3, [0, 1, 2]) == (None, 1)


def test_too_few_gpus_at_all_is_not_the_reservations_fault():
    g = gate([res(1, "alice", indices=[0])], use={"carol": [1, 2]})
    assert g.permit("bob", 2, [3]) == (None, None)


def test_a_job_waiting_behind_an_unmet_claim_names_it():
    """All GPUs busy: the next one freed goes to alice, and bob's job says so."""
    g = gate([res(1, "alice", count=1)], use={"bob": [0, 1, 2, 3]})
    assert g.permit("bob", 1, []) == (None, 1)
    assert g.permit("alice", 1, []) == (None, None)


def test_shortfalls_say_how_many_gpus_a_reservation_still_waits_for():
    g = gate([res(1, "alice", count=2), res(2, "carol", indices=[3])], use={"bob": [0, 1, 3]})
    assert g.shortfalls() == {1: 1, 2: 1}
    g = gate([res(1, "alice", count=2)], use={"alice": [0], "bob": [1, 2]})
    assert g.shortfalls() == {}
    assert gate([res(1, "alice", indices=[3])], allowed=[0, 1, 2]).shortfalls() == {1: 1}


def test_the_issue_repro_in_one_pass():
    """4 GPUs, alice holds a count reservation of 1: bob's four jobs get three GPUs."""
    gpus = [Gpu(i) for i in range(4)]
    bob = [Job(id=i, user="bob", gpus=1) for i in range(1, 5)]
    p = plan(PassInput(candidates=bob, running=[], gpus=gpus,
                       reservations=gate([res(7, "alice", count=1)])))
    assert [j.id for j, _ in p.starts] == [1, 2, 3]
    assert p.waiting == {4: "Reserved:7"}


def test_a_pass_without_candidates_of_holders_keeps_the_claim_across_admissions():
    gpus = [Gpu(i) for i in range(4)]
    jobs = [Job(id=1, user="bob", gpus=2), Job(id=2, user="carol", gpus=1), Job(id=3, user="alice", gpus=1)]
    p = plan(PassInput(candidates=jobs, running=[], gpus=gpus,
                       reservations=gate([res(1, "alice", count=1)])))
    assert sorted(j.id for j, _ in p.starts) == [1, 2, 3]


# --------------------------------------------------------------------------- properties
def _scenario(rng: random.Random):
    n = rng.randint(1, 8)
    allowed = sorted(rng.sample(range(n), rng.randint(1, n)))
    spare = list(allowed)
    rng.shuffle(spare)
    active: list[Reservation] = []
    for rid in range(1, rng.randint(1, 4) + 1):
        user = rng.choice(USERS)
        if not spare:
            break
        k = rng.randint(1, max(1, len(spare) // 2))
        if rng.random() < 0.4:
            active.append(res(rid, user, indices=sorted(spare[:k])))
            spare = spare[k:]
        else:
            active.append(res(rid, user, count=k))
            spare = spare[k:]  # creation keeps counts within the GPUs not index-reserved
    # jobs that were running when the reservations started: they may hold anything
    busy = rng.sample(range(n), rng.randint(0, n))
    running: list[Job] = []
    next_id = 1
    for i in busy:
        running.append(Job(id=next_id, user=rng.choice(USERS), gpus=1, state=JobState.RUNNING,
                           gpu_ids=[i]))
        next_id += 1
    return n, allowed, active, running, next_id


def _use(running):
    use: dict[str, list[int]] = {}
    for j in running:
        use.setdefault(j.user, []).extend(j.gpu_ids or [])
    return use


def test_property_nobody_takes_a_claimed_or_foreign_indexed_gpu():
    """Random reservations, allowed sets, running jobs and queues, over several passes with
    random exits: each admission leaves enough idle pool GPUs for the others' outstanding
    claims (or takes none of them), no job lands on another user's index-reserved GPU or
    outside the allowed set, and a holder whose job fits its outstanding claim waits only
    while GPUs held since before the reservations started are missing."""
    cases = 0
    for seed in range(1500):
        rng = random.Random(seed)
        n, allowed, active, running, next_id = _scenario(rng)
        owners = {i: r.user for r in active if r.gpu_indices for i in r.gpu_indices}
        queue: list[Job] = []
        for _ in range(rng.randint(1, 6)):
            for _ in range(rng.randint(0, 4)):
                queue.append(Job(id=next_id, user=rng.choice(USERS), gpus=rng.randint(1, 3)))
                next_id += 1
            before = ReservationGate(active, allowed, _use(running))
            p = plan(PassInput(candidates=list(queue), running=list(running),
                               gpus=[Gpu(i) for i in range(n)], allowed=set(allowed),
                               reservations=ReservationGate(active, allowed, _use(running))))
            check = before
            for job, chosen in p.starts:
                assert set(chosen) <= set(allowed)
                assert all(owners.get(i, job.user) == job.user for i in chosen), (seed, job, chosen)
                idle_taken = [i for i in chosen if i in check.pool and i not in check.busy]
                owed = sum(check.outstanding(u) for u in check.counts if u != job.user)
                assert not idle_taken or check.idle_pool() - len(idle_taken) >= owed, seed
                check.take(job.user, chosen)
                job.state, job.gpu_ids = JobState.RUNNING, chosen
                running.append(job)
                queue.remove(job)
            after = ReservationGate(active, allowed, _use(running))
            for job in queue:
                if job.user in after.counts and job.gpus <= after.outstanding(job.user):
                    # waiting although its claim covers it: the claims are short, and (by
                    # the admission check above) not because anyone else took an idle GPU
                    assert after.idle_pool() < sum(after.outstanding(u) for u in after.counts), seed
                own_idle = [i for i, u in owners.items()
                            if u == job.user and i in allowed and i not in after.busy]
                assert job.gpus > len(own_idle), seed
                cases += 1
            # some jobs end
            for j in list(running):
                if rng.random() < 0.35:
                    running.remove(j)
    assert cases >= 1000
