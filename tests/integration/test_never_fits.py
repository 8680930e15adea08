"""Jobs that can never start, however they arrive: a redo is checked like a submission, a
retry is never refused but says why it waits, and a limit of 0 is a limit (absent is
"unlimited")."""
from __future__ import annotations

import os
import pwd

import pytest
from gflow_testing import wait_for

from gflow.protocol import GflowError, JobState

ME = pwd.getpwuid(os.getuid()).pw_name
FOUR_GPUS = "gpu:\n  backend: fake\n  count: 4\n  memory_mb: 81920\n"
ALLOW = "Use --allow-pending to {} it anyway (if the machine or its limits will change)"


def _ids(out) -> list[int]:
    return [int(line.split()[3]) for line in out.stdout.splitlines() if line.startswith("Submitted batch job")]


def test_redo_refuses_a_job_that_can_never_start_unless_allow_pending(make_daemon):
    d = make_daemon(FOUR_GPUS)
    d.cli("gbatch", "--gpus", "2", "true", check=True)
    with d.client() as c:
        assert c.wait([1], timeout=20)[0].state is JobState.FINISHED
    out = d.cli("gjob", "redo", "1", "--gpus", "5")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == f"gjob: error: job can never start: 5 GPUs > 4 allowed. {ALLOW.format('redo')}\n"
    # the machine changed since the job ran: a plain redo is checked against it too
    d.cli("gctl", "set-gpus", "0", check=True)
    out = d.cli("gjob", "redo", "1")
    assert out.returncode == 1 and "job can never start: 2 GPUs > 1 allowed" in out.stderr
    with d.client() as c:
        assert [j.id for j in c.list(states=list(JobState))] == [1]  # nothing was created
    d.cli("gjob", "redo", "1", "--allow-pending", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(2).reason == "NeverFits: 2 GPUs > 1 allowed")


def test_a_retry_of_a_job_that_became_impossible_waits_saying_why(make_daemon, short_tmp):
    d = make_daemon(FOUR_GPUS)
    fifo = short_tmp / "go"
    os.mkfifo(fifo)
    fifo.chmod(0o666)
    d.cli("gbatch", "--gpus", "2", "--max-retries", "1", "sh", "-c", f"read x < {fifo}; exit 1", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(1).state is JobState.RUNNING)
        d.cli("gctl", "set-gpus", "0", check=True)
        with open(fifo, "w") as go:  # opens once the job reads: it fails now
            go.write("go\n")
        assert c.wait([1], timeout=20)[0].state is JobState.FAILED
        retry = c.get(2)
        assert retry.retried_from == 1  # queued all the same: a retry is never refused
        wait_for(lambda: c.get(2).reason == "NeverFits: 2 GPUs > 1 allowed")
        d.cli("gctl", "set-gpus", "all", check=True)
        wait_for(lambda: c.get(2).state is JobState.RUNNING)
    d.cli("gcancel", "2", check=True)


def test_max_running_jobs_zero_refuses_and_then_says_never_fits(make_daemon):
    d = make_daemon("quota:\n  users:\n    " + ME + ":\n      max_running_jobs: 0\n")
    out = d.cli("gbatch", "true")
    assert out.returncode == 1
    assert out.stderr == (f"gbatch: error: job can never start: 0 running jobs allowed by the quota of user {ME}. "
                          f"{ALLOW.format('submit')}\n")
    d.cli("gbatch", "--allow-pending", "true", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(1).reason == f"NeverFits: 0 running jobs allowed by the quota of user {ME}")
        d.cli("gctl", "quota", "set", "--user", ME, "--max-running-jobs", "1", check=True)
        assert c.wait([1], timeout=20)[0].state is JobState.FINISHED
        # and back to 0 under a queued job (held, so it is queued when the quota changes)
        d.cli("gbatch", "--hold", "true", check=True)
        d.cli("gctl", "quota", "set", "--user", ME, "--max-running-jobs", "0", check=True)
        d.cli("gjob", "release", "2", check=True)
        wait_for(lambda: c.get(2).reason == f"NeverFits: 0 running jobs allowed by the quota of user {ME}")
        d.cli("gctl", "quota", "set", "--user", ME, "--max-running-jobs", "2", check=True)
        assert c.wait([2], timeout=20)[0].state is JobState.FINISHED


def test_max_running_jobs_zero_under_queued_jobs_says_never_fits(make_daemon):
    d = make_daemon("quota:\n  default_user:\n    max_running_jobs: 1\n")
    out = d.cli("gbatch", "sleep", "300", check=True)
    first = _ids(out)[0]
    second = _ids(d.cli("gbatch", "true", check=True))[0]
    with d.client() as c:
        wait_for(lambda: c.get(second).reason == "WaitingForQuota")
        d.cli("gctl", "quota", "set", "--default-user", "--max-running-jobs", "0", check=True)
        wait_for(lambda: c.get(second).reason == "NeverFits: 0 running jobs allowed by the quota of user " + ME)
        assert c.get(first).state is JobState.RUNNING  # a running job is not stopped by it
    d.cli("gcancel", str(first), check=True)


def test_max_running_gpus_zero_refuses_gpu_jobs_only(make_daemon):
    d = make_daemon(FOUR_GPUS + "quota:\n  default_user:\n    max_running_gpus: 0\n")
    out = d.cli("gbatch", "--gpus", "1", "true")
    assert out.returncode == 1
    assert "job can never start: 1 GPU > 0 allowed by the quota of user" in out.stderr
    (cpu,) = _ids(d.cli("gbatch", "true", check=True))
    with d.client() as c:
        assert c.wait([cpu], timeout=20)[0].state is JobState.FINISHED


def test_a_group_limit_of_zero_is_refused_or_says_never_fits_until_set_limit(make_daemon):
    d = make_daemon()
    out = d.cli("gbatch", "--array", "1-3", "--max-concurrent", "0", "true")
    assert out.returncode == 1
    assert out.stderr == ("gbatch: error: job can never start: its group may run 0 jobs at once (gctl set-limit). "
                          f"{ALLOW.format('submit')}\n")
    ids = _ids(d.cli("gbatch", "--allow-pending", "--array", "1-3", "--max-concurrent", "0", "true", check=True))
    never = "NeverFits: its group may run 0 jobs at once (gctl set-limit)"
    with d.client() as c:
        wait_for(lambda: all(c.get(i).reason == never for i in ids))
        d.cli("gctl", "set-limit", str(ids[0]), "1", check=True)
        assert all(j.state is JobState.FINISHED for j in c.wait(ids, timeout=30))
    # a limit set to 0 under queued members: they say so
    ids = _ids(d.cli("gbatch", "--array", "1-2", "--max-concurrent", "1", "--hold", "true", check=True))
    d.cli("gctl", "set-limit", str(ids[0]), "0", check=True)
    d.cli("gjob", "release", f"{ids[0]},{ids[1]}", check=True)
    with d.client() as c:
        wait_for(lambda: all(c.get(i).reason == never for i in ids))
    # a single job's --max-concurrent is ignored (no group): nothing to refuse
    assert d.cli("gbatch", "--max-concurrent", "0", "true").returncode == 0


def test_an_empty_gpu_set_is_refused(make_daemon):
    d = make_daemon(FOUR_GPUS)
    with d.client() as c, pytest.raises(GflowError) as refused:
        c.set_gpus([])
    assert "an empty set would let no GPU job start" in refused.value.message
    with d.client() as c:
        assert c.gpus().allowed is None  # unchanged
