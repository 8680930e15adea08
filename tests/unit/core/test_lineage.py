"""Retry budgets, what a new attempt copies, and which jobs `redo --cascade` re-creates."""
from __future__ import annotations

from gflow.core import lineage
from gflow.protocol import DependencyMode, GpuSharing, Job, JobState


def chain(*links: tuple[int, int | None]) -> dict[int, int | None]:
    return dict(links)


def test_attempts_follow_the_retried_from_chain():
    links = chain((1, None), (2, 1), (3, 2))
    jobs = {i: Job(id=i, retried_from=r, max_retries=2) for i, r in links.items()}
    attempts = [lineage.attempts_so_far(jobs[i], links.get) for i in (1, 2, 3)]
    assert attempts == [0, 1, 2]
    # max_retries 2: the original and the first retry may retry, the second retry may not
    assert [lineage.may_retry(jobs[i], a) for i, a in zip((1, 2, 3), attempts)] == [True, True, False]


def test_no_budget_means_no_retry_and_a_broken_chain_ends():
    assert not lineage.may_retry(Job(id=1), 0)
    looped = Job(id=5, retried_from=4)
    assert lineage.attempts_so_far(looped, {4: 5}.get) == 1  # corrupt data must not loop
    assert lineage.attempts_so_far(Job(id=7, retried_from=6), lambda _: None) == 1


def full_job(**fields) -> Job:
    base = dict(
        id=10, state=JobState.FAILED, reason="SystemError:x", command="python train.py --lr {lr}",
        conda_env="torch", run_dir="/work", parameters={"lr": "0.1"}, task_id=3, owner_uid=1000,
        user="alice", run_name="gjob-10-train", requested_name="train", project="vision",
        max_retries=2, auto_close_tmux=True, notify_emails=["a@b.c"], notify_on=["job_failed"],
        depends_on_ids=[4, 5], dependency_mode=DependencyMode.ANY,
        auto_cancel_on_dependency_failure=False, scheduled_at=123.0, priority=40, gpus=2,
        gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=8000, memory_limit_mb=4096,
        time_limit=600, gpu_ids=[0, 1], group_id="g-1", max_concurrent=3, submitted_at=1.0,
        started_at=2.0, finished_at=3.0, exit_code=1, runner_pid=99, runner_started=2.0,
    )
    base.update(fields)
    return Job(**base)


def test_retry_copies_the_job_but_not_its_run_or_begin_time():
    failed = full_job()
    retry = lineage.retry_of(failed, 11, now=50.0)
    assert (retry.id, retry.state, retry.redone_from, retry.retried_from) == (11, JobState.QUEUED, 10, 10)
    for field in ("command", "conda_env", "run_dir", "parameters", "task_id", "owner_uid", "user",
                  "requested_name", "project", "max_retries", "auto_close_tmux", "notify_emails",
                  "notify_on", "depends_on_ids", "dependency_mode",
                  "auto_cancel_on_dependency_failure", "priority", "gpus", "gpu_sharing_mode",
                  "gpu_memory_limit_mb", "memory_limit_mb", "time_limit", "group_id", "max_concurrent"):
        assert getattr(retry, field) == getattr(failed, field), field
    assert retry.scheduled_at is None and retry.reason is None and retry.gpu_ids is None
    assert retry.started_at is None and retry.finished_at is None and retry.exit_code is None
    assert retry.runner_pid is None and retry.run_name == "" and retry.submitted_at == 50.0
    assert retry.env_from == 10  # runs with the environment stored for the original
    # copies, not shared lists: changing the retry never changes the failed attempt
    retry.depends_on_ids.append(99)
    assert failed.depends_on_ids == [4, 5]


def test_retry_keeps_the_lineage_root_and_the_environment_row():
    second = full_job(id=12, redone_from=10, retried_from=11, env_from=10)
    third = lineage.retry_of(second, 13, now=0)
    assert (third.redone_from, third.retried_from, third.env_from) == (10, 12, 10)


def test_rerun_applies_overrides():
    new = lineage.rerun(full_job(), 20, 0.0, redone_from=10, gpus=0, depends_on_ids=[])
    assert (new.gpus, new.depends_on_ids, new.redone_from, new.retried_from) == (0, [], 10, None)


def cancelled(job_id: int, trigger: int | None, state=JobState.CANCELLED, **fields) -> Job:
    reason = f"DependencyFailed:{trigger}" if trigger is not None else "CancelledByUser"
    return Job(id=job_id, state=state, reason=reason, **fields)


def test_failed_because_of():
    assert lineage.failed_because_of(cancelled(3, 2)) == 2
    assert lineage.failed_because_of(cancelled(3, None)) is None
    assert lineage.failed_because_of(Job(id=3, state=JobState.FAILED, reason="DependencyFailed:2")) is None
    assert lineage.failed_because_of(Job(id=3, state=JobState.CANCELLED, reason="DependencyFailed:x")) is None


def test_cascade_collects_breadth_first_transitively_in_id_order():
    jobs = [
        cancelled(7, 3),  # grandchild through 3
        cancelled(3, 1),
        cancelled(2, 1),
        cancelled(9, 7),  # great-grandchild
        cancelled(5, 4),  # cancelled because of another job: not ours
        cancelled(6, None),  # cancelled by its user
        cancelled(8, 2),
    ]
    found, refused = lineage.cascade_targets(1, jobs)
    assert [j.id for j in found] == [2, 3, 7, 8, 9]
    assert refused == []


def test_cascade_does_not_follow_refused_jobs():
    jobs = [cancelled(2, 1, user="bob"), cancelled(3, 2), cancelled(4, 1)]
    found, refused = lineage.cascade_targets(1, jobs, lambda j: j.user != "bob")
    assert [j.id for j in found] == [4]
    assert [j.id for j in refused] == [2]


def test_cascade_with_nothing_to_do():
    assert lineage.cascade_targets(1, []) == ([], [])
    assert lineage.cascade_targets(1, [cancelled(1, 1)]) == ([], [])
