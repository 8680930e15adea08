"""gflow.core.stats.compute against the metric definitions of SPEC 1.7."""
from __future__ import annotations

import json

import msgspec
import pytest

from gflow.core.stats import Stats, compute
from gflow.protocol import Job, JobState

NOW = 1_000_000.0


def job(id: int, state: JobState, submitted=0.0, started=None, finished=None, gpus=0, name=None) -> Job:
    return Job(id=id, state=state, submitted_at=NOW + submitted,
               started_at=None if started is None else NOW + started,
               finished_at=None if finished is None else NOW + finished,
               gpus=gpus, run_name=name if name is not None else f"job-{id}")


# A mix of every state; times relative to NOW (negative = in the past).
JOBS = [
    job(1, JobState.FINISHED, submitted=-1000, started=-990, finished=-890, gpus=2),   # wait 10, run 100
    job(2, JobState.FAILED, submitted=-1000, started=-980, finished=-680),             # wait 20, run 300
    job(3, JobState.TIMEOUT, submitted=-1000, started=-970, finished=-370, gpus=1),    # wait 30, run 600
    job(4, JobState.CANCELLED, submitted=-1000, started=-960, finished=-960 + 3600, gpus=4),  # started, 3600
    job(5, JobState.CANCELLED, submitted=-1000),                                       # never started
    job(6, JobState.RUNNING, submitted=-500, started=-450, gpus=1),                    # wait 50, 450 so far
    job(7, JobState.QUEUED, submitted=-100, gpus=8),
    job(8, JobState.HOLD, submitted=-100),
    job(9, JobState.FINISHED, submitted=-1000, started=-1000, finished=-995),          # wait 0, run 5
]


@pytest.fixture(scope="module")
def stats() -> Stats:
    return compute(JOBS, NOW)


def test_counts_put_hold_in_no_bucket(stats):
    assert stats.total_jobs == 9
    assert (stats.completed_jobs, stats.failed_jobs, stats.cancelled_jobs, stats.timeout_jobs) == (2, 1, 2, 1)
    assert (stats.running_jobs, stats.queued_jobs) == (1, 1)
    buckets = (stats.completed_jobs + stats.failed_jobs + stats.cancelled_jobs + stats.timeout_jobs
               + stats.running_jobs + stats.queued_jobs)
    assert buckets == stats.total_jobs - 1  # the Hold job


def test_avg_wait_over_jobs_that_started(stats):
    # jobs 1,2,3,4,6,9: waits 10,20,30,40,50,0
    assert stats.avg_wait_secs == pytest.approx(150 / 6)


def test_avg_runtime_over_finished_failed_timeout(stats):
    # jobs 1,2,3,9 (not the cancelled job 4, not the running job 6)
    assert stats.avg_runtime_secs == pytest.approx((100 + 300 + 600 + 5) / 4)


def test_gpu_hours_include_running_and_cancelled_after_start(stats):
    # 2*100 + 1*600 + 4*3600 + 1*450 (running, elapsed so far)
    assert stats.total_gpu_hours == pytest.approx((200 + 600 + 14400 + 450) / 3600)


def test_gpu_usage(stats):
    assert stats.jobs_with_gpus == 5
    assert stats.avg_gpus_per_job == pytest.approx(16 / 9)
    assert stats.peak_gpu_usage == 8  # largest single request, not concurrency


def test_success_rate_is_a_percentage(stats):
    assert stats.success_rate == pytest.approx(2 / 6 * 100)


def test_top_jobs_longest_first_including_running(stats):
    assert [(t.id, t.runtime_secs) for t in stats.top_jobs] == [
        (4, 3600.0), (3, 600.0), (6, 450.0), (2, 300.0), (1, 100.0)
    ]
    assert stats.top_jobs[0].name == "job-4"
    assert stats.top_jobs[0].gpus == 4


def test_top_jobs_unnamed_and_ties_by_id():
    jobs = [job(2, JobState.FINISHED, started=-10, finished=0, name=""),
            job(1, JobState.FINISHED, started=-10, finished=0)]
    top = compute(jobs, NOW).top_jobs
    assert [t.id for t in top] == [1, 2]
    assert top[1].name is None


def test_empty_set():
    stats = compute([], NOW)
    assert stats.total_jobs == 0
    assert stats.avg_wait_secs is None and stats.avg_runtime_secs is None
    assert stats.avg_gpus_per_job == 0.0 and stats.success_rate == 0.0 and stats.peak_gpu_usage == 0
    assert stats.top_jobs == []


def test_no_terminal_jobs_gives_zero_success_rate():
    stats = compute([job(1, JobState.RUNNING, submitted=-10, started=-5)], NOW)
    assert stats.success_rate == 0.0
    assert stats.avg_runtime_secs is None  # running jobs have no final runtime
    assert stats.avg_wait_secs == 5.0


def test_json_keys_and_order():
    stats = compute([job(1, JobState.FINISHED, started=-10, finished=0, gpus=1)], NOW)
    stats.user, stats.since = "alice", 123
    doc = json.loads(msgspec.json.encode(stats))
    assert list(doc) == [
        "user", "since", "total_jobs", "completed_jobs", "failed_jobs", "cancelled_jobs",
        "timeout_jobs", "running_jobs", "queued_jobs", "avg_wait_secs", "avg_runtime_secs",
        "total_gpu_hours", "jobs_with_gpus", "avg_gpus_per_job", "peak_gpu_usage",
        "success_rate", "top_jobs",
    ]
    assert doc["top_jobs"] == [{"id": 1, "name": "job-1", "runtime_secs": 10.0, "gpus": 1}]
    assert isinstance(doc["total_gpu_hours"], float)
    # nothing is left out when absent
    empty = json.loads(msgspec.json.encode(compute([], NOW)))
    assert empty["user"] is None and empty["since"] is None and empty["avg_wait_secs"] is None
    assert empty["total_gpu_hours"] == 0.0 and isinstance(empty["total_gpu_hours"], float)
