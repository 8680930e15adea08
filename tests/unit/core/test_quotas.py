"""Quota rules (SPEC 4.10) and the rows of `gctl quota list`."""
from __future__ import annotations

import pytest

from gflow.config import QuotaConfig, QuotaLimits
from gflow.core import quotas
from gflow.core.quotas import QuotaError
from gflow.protocol import Job, JobState


def job(id: int, user: str = "alice", gpus: int = 0, project: str | None = None,
        state: JobState = JobState.RUNNING) -> Job:
    return Job(id=id, user=user, gpus=gpus, project=project, state=state)


L = QuotaLimits


def allows(job: Job, running: list[Job], eff: QuotaConfig) -> bool:
    """The scheduler's question, asked as the scheduler asks it: usage of the running jobs."""
    return quotas.allows_usage(job, quotas.RunningUsage.of(running), eff)


# --------------------------------------------------------------------------- effective limits
def test_override_wins_per_field_and_named_entries_merge():
    config = QuotaConfig(
        default_user=L(max_running_jobs=4, max_running_gpus=2, max_queued_jobs=50),
        users={"alice": L(max_running_jobs=8)},
        projects={"cv": L(max_running_gpus=8)},
    )
    overrides = QuotaConfig(
        default_user=L(max_running_gpus=1),
        users={"alice": L(max_queued_jobs=3), "bob": L(max_running_jobs=1)},
    )
    eff = quotas.effective(config, overrides)
    assert eff.default_user == L(max_running_jobs=4, max_running_gpus=1, max_queued_jobs=50)
    assert eff.users["alice"] == L(max_running_jobs=8, max_queued_jobs=3)
    assert eff.users["bob"] == L(max_running_jobs=1)
    assert eff.projects["cv"] == L(max_running_gpus=8)


def test_user_limits_are_the_default_overlaid_by_the_named_entry():
    eff = QuotaConfig(
        default_user=L(max_running_jobs=4, max_running_gpus=2),
        users={"alice": L(max_running_gpus=6)},
    )
    assert quotas.user_limits(eff, "alice") == L(max_running_jobs=4, max_running_gpus=6)
    assert quotas.user_limits(eff, "carol") == L(max_running_jobs=4, max_running_gpus=2)


def test_jobs_without_a_project_have_no_project_quota():
    eff = QuotaConfig(default_project=L(max_running_jobs=0))
    assert quotas.project_limits(eff, None) is None
    assert quotas.project_limits(eff, "ml") == L(max_running_jobs=0)
    assert allows(job(1), [], eff)
    assert not allows(job(1, project="ml"), [], eff)


# --------------------------------------------------------------------------- running limits
def test_max_running_jobs_counts_the_users_running_jobs():
    eff = QuotaConfig(default_user=L(max_running_jobs=1))
    assert allows(job(2), [], eff)
    assert not allows(job(2), [job(1)], eff)
    assert allows(job(2, user="bob"), [job(1)], eff)  # per user


def test_max_running_gpus_adds_the_jobs_own_gpus():
    eff = QuotaConfig(users={"alice": L(max_running_gpus=3)})
    assert allows(job(2, gpus=1), [job(1, gpus=2)], eff)
    assert not allows(job(2, gpus=2), [job(1, gpus=2)], eff)
    # a job asking more than the cap never starts, even alone
    assert not allows(job(3, gpus=4), [], eff)


def test_project_limits_apply_to_jobs_of_the_project_across_users():
    eff = QuotaConfig(projects={"cv": L(max_running_jobs=2)})
    running = [job(1, "alice", project="cv"), job(2, "bob", project="cv")]
    assert not allows(job(3, "carol", project="cv"), running, eff)
    assert allows(job(3, "carol", project="ml"), running, eff)
    assert allows(job(3, "carol"), running, eff)


def test_no_limits_means_everything_starts():
    eff = QuotaConfig()
    assert not quotas.has_running_limits(eff) and not quotas.has_queue_limits(eff)
    assert allows(job(9, gpus=8), [job(i) for i in range(8)], eff)


def test_running_usage_is_incremental():
    usage = quotas.RunningUsage.of([job(1, gpus=1, project="ml")])
    usage.add(job(2, gpus=2, project="ml"))
    assert (usage.user("alice").jobs, usage.user("alice").gpus) == (2, 3)
    assert (usage.project("ml").jobs, usage.project("ml").gpus) == (2, 3)
    assert usage.user("nobody").jobs == 0


# --------------------------------------------------------------------------- queue depth
def pending(n: int, user: str = "alice", project: str | None = None) -> list[Job]:
    return [job(100 + i, user, project=project, state=JobState.QUEUED if i % 2 else JobState.HOLD)
            for i in range(n)]


def test_queue_depth_counts_queued_and_held_jobs_only():
    eff = QuotaConfig(default_user=L(max_queued_jobs=3))
    active = pending(2) + [job(1)]  # the running one does not count
    assert quotas.queue_rejection([job(200, state=JobState.QUEUED)], active, eff) is None
    assert (
        quotas.queue_rejection([job(200, state=JobState.QUEUED)], pending(3), eff)
        == "quota exceeded for user 'alice': 3/3 queued jobs"
    )


def test_a_batch_counts_its_own_earlier_jobs_and_is_rejected_whole():
    eff = QuotaConfig(users={"alice": L(max_queued_jobs=3)})
    batch = [job(200 + i, state=JobState.QUEUED) for i in range(2)]
    assert quotas.queue_rejection(batch, pending(1), eff) is None
    batch = [job(200 + i, state=JobState.QUEUED) for i in range(3)]
    assert quotas.queue_rejection(batch, pending(1), eff) == "quota exceeded for user 'alice': 3/3 queued jobs"


def test_project_queue_depth():
    eff = QuotaConfig(projects={"cv": L(max_queued_jobs=1)})
    active = pending(1, user="bob", project="cv")
    assert (
        quotas.queue_rejection([job(200, project="cv", state=JobState.QUEUED)], active, eff)
        == "quota exceeded for project 'cv': 1/1 queued jobs"
    )
    assert quotas.queue_rejection([job(200, state=JobState.QUEUED)], active, eff) is None


# --------------------------------------------------------------------------- overrides
def test_set_merges_fields_into_the_subjects_override():
    o = quotas.merge_override(QuotaConfig(), "user", "alice", L(max_running_jobs=2))
    o = quotas.merge_override(o, "user", "alice", L(max_queued_jobs=5))
    assert o.users["alice"] == L(max_running_jobs=2, max_queued_jobs=5)
    o = quotas.merge_override(o, "default_project", None, L(max_running_gpus=4))
    assert o.default_project == L(max_running_gpus=4)
    assert quotas.subject_limits(o, "user", "alice") == L(max_running_jobs=2, max_queued_jobs=5)


def test_set_needs_a_field_and_a_proper_subject():
    with pytest.raises(QuotaError, match="provide at least one of --max-running-jobs"):
        quotas.merge_override(QuotaConfig(), "user", "alice", L())
    with pytest.raises(QuotaError, match="^'name' is required for scope 'Project'$"):
        quotas.merge_override(QuotaConfig(), "project", " ", L(max_running_jobs=1))
    with pytest.raises(QuotaError, match="^'name' is required for scope 'User'$"):
        quotas.merge_override(QuotaConfig(), "user", "", L(max_running_jobs=1))
    with pytest.raises(QuotaError, match="unknown quota scope"):
        quotas.merge_override(QuotaConfig(), "group", "x", L(max_running_jobs=1))


def test_remove_drops_the_entry_or_says_there_was_none():
    o = quotas.merge_override(QuotaConfig(), "project", "cv", L(max_running_jobs=2))
    o = quotas.merge_override(o, "default_user", None, L(max_running_jobs=2))
    o = quotas.remove_override(o, "project", "cv")
    assert "cv" not in o.projects
    o = quotas.remove_override(o, "default_user", None)
    assert quotas.is_empty(o.default_user)
    for scope, name in (("project", "cv"), ("default_user", None), ("user", "nobody")):
        with pytest.raises(QuotaError, match="^no matching quota override$"):
            quotas.remove_override(o, scope, name)


# --------------------------------------------------------------------------- quota list
def test_rows_list_configured_running_and_waiting_subjects_then_defaults():
    eff = QuotaConfig(
        default_user=L(max_running_jobs=1, max_queued_jobs=3),
        users={"tester": L(max_running_jobs=1, max_queued_jobs=3)},
        projects={"cv": L(max_running_jobs=5)},
    )
    running = [job(1, "tester", project="ml")]
    active = running + pending(2, "tester", project="ml")
    rows = quotas.status_rows(eff, running, active)
    assert [(r.scope, r.name) for r in rows] == [
        ("user", "tester"), ("project", "cv"), ("project", "ml"),
        ("default_user", ""), ("default_project", ""),
    ]
    assert (rows[0].running_jobs, rows[0].queued_jobs) == (1, 2)
    assert rows[2].limits == L()
