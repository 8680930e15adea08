"""Job semantics on a real daemon: dependencies, auto-cancel, redo --cascade, arrays, sweeps,
retries, begin times, group limits, update, gcancel extras and input validation."""
from __future__ import annotations

import time

import pytest

from gflow.protocol import JobState

from gflow_testing import wait_for

CD, F, CA = JobState.FINISHED, JobState.FAILED, JobState.CANCELLED


def submit(daemon, *args: str) -> list[int]:
    out = daemon.cli("gbatch", *args, check=True).stdout
    return [int(line.split()[3]) for line in out.splitlines() if line.startswith("Submitted batch job")]


def wait_all(daemon, ids, timeout=20):
    with daemon.client() as c:
        return {j.id: j for j in c.wait(list(ids), timeout=timeout)}


def test_pipeline_with_at_runs_in_order(daemon):
    (a,) = submit(daemon, "-n", "prep", "sleep", "0.2")
    (b,) = submit(daemon, "-n", "train", "--depends-on", "@", "sleep", "0.2")
    (c,) = submit(daemon, "-n", "eval", "-d", "@", "true")
    with daemon.client() as client:
        assert client.get(c).reason == "WaitingForDependency"
        assert client.get(c).depends_on_ids == [b] and client.get(b).depends_on_ids == [a]
    jobs = wait_all(daemon, [a, b, c])
    assert all(j.state is CD for j in jobs.values())
    assert jobs[a].finished_at <= jobs[b].started_at
    assert jobs[b].finished_at <= jobs[c].started_at


def test_failure_cancels_descendants_and_redo_cascade_brings_them_back(daemon):
    marker = daemon.base / "fixed"
    (parent,) = submit(daemon, "-n", "parent", f"test -e {marker}")
    (child,) = submit(daemon, "-n", "child", "--depends-on", "@", "echo child")
    (grandchild,) = submit(daemon, "-n", "grandchild", "--depends-on", "@", "echo grandchild")
    jobs = wait_all(daemon, [parent, child, grandchild])
    assert jobs[parent].state is F
    assert (jobs[child].state, jobs[child].reason) == (CA, f"DependencyFailed:{parent}")
    assert (jobs[grandchild].state, jobs[grandchild].reason) == (CA, f"DependencyFailed:{child}")
    queue = daemon.cli("gqueue", "-a", "-f", "JOBID,ST,NODELIST(REASON)", check=True).stdout
    assert f"(DependencyFailed:{parent})" in queue

    marker.touch()  # the fix
    out = daemon.cli("gjob", "redo", str(parent), "--cascade", check=True).stdout
    new_parent, new_child, new_grandchild = 4, 5, 6
    assert out == (
        f"Resubmitting job {parent} with parameters:\n"
        f"  Command=test -e {marker}\n"
        "  GPUs=0\n"
        "  Priority=10\n"
        "\n"
        f"Submitted batch job {new_parent} (gjob-{new_parent}-parent)\n"
        "\n"
        "Cascading to 2 dependent job(s)...\n"
        f"  Job {child} → Job {new_child} (gjob-{new_child}-child)\n"
        f"  Job {grandchild} → Job {new_grandchild} (gjob-{new_grandchild}-grandchild)\n"
        "\n"
        "Cascade complete.\n"
    )
    jobs = wait_all(daemon, [new_parent, new_child, new_grandchild])
    assert all(j.state is CD for j in jobs.values())
    assert jobs[new_child].depends_on_ids == [new_parent]
    assert jobs[new_grandchild].depends_on_ids == [new_child]
    assert [jobs[i].redone_from for i in (4, 5, 6)] == [parent, child, grandchild]
    assert jobs[new_parent].finished_at <= jobs[new_child].started_at
    assert daemon.cli("gjob", "log", str(new_grandchild), check=True).stdout == "grandchild\n"
    again = daemon.cli("gjob", "redo", str(new_grandchild), "--cascade", check=True).stdout
    assert again.endswith("\nNo dependent jobs to cascade.\n")


def test_depends_on_any_starts_after_the_first_success(daemon):
    gate = daemon.base / "gate"
    (slow,) = submit(daemon, f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done'")
    (failing,) = submit(daemon, "false")
    (quick,) = submit(daemon, "sleep", "0.3")
    (waiter,) = submit(daemon, "--depends-on-any", f"{slow},{failing},{quick}", "true")
    jobs = wait_all(daemon, [waiter, quick, failing])
    assert jobs[failing].state is F and jobs[quick].state is CD
    assert jobs[waiter].state is CD  # not cancelled by the failure: the others could succeed
    assert jobs[waiter].started_at >= jobs[quick].finished_at
    with daemon.client() as c:
        assert c.get(slow).state is JobState.RUNNING  # started while one parent still ran
    gate.touch()
    assert wait_all(daemon, [slow])[slow].state is CD


def test_any_mode_is_cancelled_only_when_every_parent_failed(daemon):
    (a,) = submit(daemon, "false")
    (b,) = submit(daemon, "sh -c 'exit 2'")
    (w,) = submit(daemon, "--depends-on-any", f"{a},{b}", "true")
    jobs = wait_all(daemon, [a, b, w])
    assert jobs[w].state is CA and jobs[w].reason in (f"DependencyFailed:{a}", f"DependencyFailed:{b}")


def test_array_tasks_see_their_task_id(daemon):
    ids = submit(daemon, "--array", "1-5", "sh -c 'echo task=$GFLOW_ARRAY_TASK_ID'")
    assert len(ids) == 5
    jobs = wait_all(daemon, ids)
    assert sorted(j.task_id for j in jobs.values()) == [1, 2, 3, 4, 5]
    logs = [daemon.cli("gjob", "log", str(i), check=True).stdout for i in ids]
    assert logs == [f"task={t}\n" for t in range(1, 6)]


def test_every_job_gets_the_spec_environment(daemon):
    (job_id,) = submit(daemon, "sh -c 'echo A=$GFLOW_ARRAY_TASK_ID C=[$CUDA_VISIBLE_DEVICES] M=$MY_VAR; pwd'")
    wait_all(daemon, [job_id])
    log = daemon.cli("gjob", "log", str(job_id), check=True).stdout
    assert log == f"A=0 C=[] M=\n{daemon.home}\n"
    # the submitter's environment travels with the submission (one copy for a whole array)
    ids = submit(daemon, "--array", "1-3", "sh -c 'echo $MY_VAR'") if False else None
    out = daemon.cli("gbatch", "--array", "1-3", "sh -c 'echo $MY_VAR'", env={"MY_VAR": "hello"}, check=True)
    ids = [int(line.split()[3]) for line in out.stdout.splitlines()]
    wait_all(daemon, ids)
    assert [daemon.cli("gjob", "log", str(i), check=True).stdout for i in ids] == ["hello\n"] * 3


def test_param_sweep_makes_the_cartesian_product(daemon):
    out = daemon.cli(
        "gbatch", "--param", "lr=0.1,0.01", "--param", "bs=1,2", "--name-template", "lr{lr}-bs{bs}",
        "echo", "lr={lr}", "bs={bs}", check=True,
    ).stdout.splitlines()
    assert out == [
        "Submitted batch job 1 (gjob-1-lr0_1-bs1)",
        "Submitted batch job 2 (gjob-2-lr0_1-bs2)",
        "Submitted batch job 3 (gjob-3-lr0_01-bs1)",
        "Submitted batch job 4 (gjob-4-lr0_01-bs2)",
    ]
    jobs = wait_all(daemon, [1, 2, 3, 4])
    assert [jobs[i].parameters for i in (1, 2, 3, 4)] == [
        {"lr": "0.1", "bs": "1"}, {"lr": "0.1", "bs": "2"}, {"lr": "0.01", "bs": "1"}, {"lr": "0.01", "bs": "2"},
    ]
    logs = [daemon.cli("gjob", "log", str(i), check=True).stdout for i in (1, 2, 3, 4)]
    assert logs == ["lr=0.1 bs=1\n", "lr=0.1 bs=2\n", "lr=0.01 bs=1\n", "lr=0.01 bs=2\n"]


def test_max_retries_gives_three_linked_attempts(daemon):
    (first,) = submit(daemon, "-n", "flaky", "--max-retries", "2", "false")
    with daemon.client() as c:
        # each retry is created in the same transaction as the failure it follows
        assert c.wait([first], timeout=20)[0].state is F
        second = c.get(first + 1)
        assert c.wait([second.id], timeout=20)[0].state is F
        (third,) = c.wait([first + 2], timeout=20)
        jobs = [c.get(first), c.get(first + 1), third]
        assert c.list(ids=[first + 3]) == []
    assert [j.state for j in jobs] == [F, F, F]
    assert [j.retried_from for j in jobs] == [None, first, first + 1]
    assert [j.redone_from for j in jobs] == [None, first, first]
    assert [j.run_name for j in jobs] == [f"gjob-{i}-flaky" for i in (first, first + 1, first + 2)]


def test_retry_takes_over_the_dependents(daemon):
    counter, gate = daemon.base / "tries", daemon.base / "gate"
    # fails on the first attempt, succeeds on the second; waits until the dependent exists
    (flaky,) = submit(daemon, "--max-retries", "1", f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done; "
                      f"echo x >> {counter}; [ $(wc -l < {counter}) -ge 2 ]'")
    (dependent,) = submit(daemon, "-d", str(flaky), "echo", "downstream")
    gate.touch()
    with daemon.client() as c:
        assert c.wait([flaky], timeout=20)[0].state is F
        retry = dependent + 1
        assert c.get(dependent).depends_on_ids == [retry]
        jobs = {j.id: j for j in c.wait([retry, dependent], timeout=20)}
    assert jobs[retry].state is CD and jobs[retry].retried_from == flaky
    assert jobs[dependent].state is CD


def test_dependents_of_an_exhausted_retry_chain_name_the_last_attempt(daemon):
    gate = daemon.base / "gate"
    (a,) = submit(daemon, "--max-retries", "2", f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done; false'")
    (b,) = submit(daemon, "-d", str(a), "true")
    gate.touch()
    with daemon.client() as c:
        c.wait([a], timeout=20)
        c.wait([b + 1], timeout=20)
        (last,) = c.wait([b + 2], timeout=20)
        (dep,) = c.wait([b], timeout=20)
    assert last.state is F
    assert (dep.state, dep.reason) == (CA, f"DependencyFailed:{b + 2}")


def test_timeouts_and_cancels_are_not_retried(daemon):
    (t,) = submit(daemon, "--max-retries", "2", "--time", "0:01", "sleep", "30")
    (c,) = submit(daemon, "--max-retries", "2", "sleep", "30")
    with daemon.client() as client:
        wait_for(lambda: client.get(c).state is JobState.RUNNING)
        client.cancel([c])
        jobs = {j.id: j for j in client.wait([t, c], timeout=20)}
        assert jobs[t].state is JobState.TIMEOUT and jobs[c].state is CA
        assert client.list(ids=[c + 1]) == []


def test_begin_time_waits_then_runs(daemon):
    t0 = time.time()
    (job_id,) = submit(daemon, "--begin", "now+2s", "true")
    with daemon.client() as c:
        job = c.get(job_id)
        assert job.state is JobState.QUEUED and job.reason == "WaitingForStartTime"
        assert abs(job.scheduled_at - (t0 + 2)) < 1.5
        (done,) = c.wait([job_id], timeout=20)
    assert done.state is CD and done.started_at >= job.scheduled_at
    assert "(BeginTime)" not in daemon.cli("gqueue", "-a", check=True).stdout


def test_release_at_sets_a_begin_time(daemon):
    (job_id,) = submit(daemon, "--hold", "true")
    bad = daemon.cli("gjob", "release", str(job_id), "--at", "tomorrow")
    assert bad.returncode != 0 and "--at" in bad.stderr
    out = daemon.cli("gjob", "release", str(job_id), "--at", "now+1h", check=True).stdout
    assert out.startswith(f"Job {job_id} released back to queue (scheduled to start at ")
    assert out.rstrip().endswith(" UTC).")
    with daemon.client() as c:
        job = c.get(job_id)
    assert job.state is JobState.QUEUED and job.reason == "WaitingForStartTime"
    assert job.scheduled_at > time.time() + 3500


def test_max_concurrent_never_exceeds_the_group_limit(daemon):
    out = daemon.cli("gbatch", "--array", "1-6", "--max-concurrent", "2", "sleep", "0.3", check=True).stdout
    assert out.startswith("Submitted 6 batch jobs with group_id: ")
    ids = [int(line.split()[3]) for line in out.splitlines() if line.startswith("Submitted batch job")]
    jobs = wait_all(daemon, ids).values()
    assert all(j.state is CD for j in jobs)
    events = sorted([(j.started_at, 1) for j in jobs] + [(j.finished_at, -1) for j in jobs],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2


def test_update_changes_queued_and_held_jobs(daemon):
    (parent,) = submit(daemon, "--hold", "true")
    (other,) = submit(daemon, "--hold", "true")
    (job_id,) = submit(daemon, "--hold", "-d", str(parent), "echo", "old")
    out = daemon.cli(
        "gjob", "update", str(job_id), "-c", "echo new {x}", "-g", "0", "-e", "myenv", "-p", "99",
        "--param", "x=1", "--param", "y=2", "-t", "1:00:00", "-m", "2G", "--gpu-memory", "1024",
        "--depends-on-any", f"{parent},{other}", "--no-auto-cancel-on-dep-failure",
        "--max-concurrent", "3", "--max-retries", "4", check=True,
    ).stdout
    assert out == (
        f"Job {job_id} updated successfully.\n"
        "  UpdatedFields=command, gpus, conda_env, priority, parameters, time_limit, memory_limit_mb, "
        "gpu_memory_limit_mb, depends_on_ids, dependency_mode, auto_cancel_on_dependency_failure, "
        "max_concurrent, max_retries\n"
    )
    with daemon.client() as c:
        job = c.get(job_id)
    assert (job.command, job.gpus, job.conda_env, job.priority) == ("echo new {x}", 0, "myenv", 99)
    assert job.parameters == {"x": "1", "y": "2"}
    assert (job.time_limit, job.memory_limit_mb, job.gpu_memory_limit_mb) == (3600, 2048, 1024)
    assert job.depends_on_ids == [parent, other] and job.dependency_mode.value == "Any"
    assert not job.auto_cancel_on_dependency_failure
    assert (job.max_concurrent, job.max_retries) == (3, 4)

    # --param replaces the whole map; clears; the single dependency is really replaced (8.18)
    out = daemon.cli(
        "gjob", "update", str(job_id), "--param", "z=3", "--clear-conda-env", "--clear-time-limit",
        "--clear-memory-limit", "--clear-gpu-memory-limit", "--clear-max-concurrent",
        "--clear-max-retries", "-d", str(other), "--auto-cancel-on-dep-failure", check=True,
    ).stdout
    assert "UpdatedFields=conda_env, parameters, time_limit, memory_limit_mb, gpu_memory_limit_mb, " \
           "depends_on_ids, dependency_mode, auto_cancel_on_dependency_failure, max_concurrent, max_retries" in out
    with daemon.client() as c:
        job = c.get(job_id)
    assert job.parameters == {"z": "3"} and job.depends_on_ids == [other]
    assert job.dependency_mode.value == "All" and job.auto_cancel_on_dependency_failure
    assert (job.conda_env, job.time_limit, job.memory_limit_mb, job.gpu_memory_limit_mb) == (None,) * 4
    assert (job.max_concurrent, job.max_retries) == (None, 0)

    # several ids at once, and a queued (not held) job
    (queued,) = submit(daemon, "--begin", "now+1h", "true")
    out = daemon.cli("gjob", "update", f"{parent},{queued}", "-p", "7", check=True).stdout
    assert out.splitlines() == [f"Job {parent} updated successfully.", "  UpdatedFields=priority",
                                f"Job {queued} updated successfully.", "  UpdatedFields=priority"]


def test_update_errors_leave_jobs_unchanged(daemon):
    gate = daemon.base / "gate"
    (running,) = submit(daemon, f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done'")
    (a,) = submit(daemon, "--hold", "true")
    (b,) = submit(daemon, "--hold", "-d", str(a), "true")
    with daemon.client() as c:
        wait_for(lambda: c.get(running).state is JobState.RUNNING)

    def error_of(*args):
        out = daemon.cli("gjob", "update", *args)
        assert out.returncode != 0 and out.stdout == "" and "Traceback" not in out.stderr
        return out.stderr.strip()

    assert error_of(str(running), "-p", "1") == (
        f"Error updating job {running}: Failed to update job: Job {running} is in state 'Running' "
        "and cannot be updated. Only queued or held jobs can be updated."
    )
    assert error_of(str(a), "-p", "1", "-d", str(b)) == (
        f"Error updating job {a}: Failed to update job: Circular dependency detected: "
        f"Job {a} depends on Job {b}, which has a path back to Job {a}"
    )
    assert error_of(str(a), "--depends-on-all", "999") == (
        f"Error updating job {a}: Failed to update job: Dependency job 999 does not exist"
    )
    assert error_of("99", "-p", "1") == "Error updating job 99: Failed to update job: Job 99 not found"
    assert error_of(str(a)) == "gjob: error: No updates specified. Use --help to see available options."
    assert "Invalid parameter format 'nokey'. Expected KEY=VALUE" in error_of(str(a), "--param", "nokey")
    assert "--time-limit 'x'" in error_of(str(a), "-t", "x")
    # one good id and one bad: the good one changes, the bad one does not, exit says so
    out = daemon.cli("gjob", "update", f"{b},{running}", "-p", "42")
    assert out.returncode != 0 and f"Job {b} updated successfully." in out.stdout
    with daemon.client() as c:
        assert c.get(a).priority == 10 and c.get(a).depends_on_ids == []
        assert c.get(b).priority == 42 and c.get(running).priority == 10
    gate.touch()


def test_update_of_a_shared_job_keeps_gpu_memory(daemon):
    (job_id,) = submit(daemon, "--hold", "--allow-pending", "--gpus", "1", "--shared", "--gpu-memory", "4G", "true")
    out = daemon.cli("gjob", "update", str(job_id), "--clear-gpu-memory-limit")
    assert out.returncode != 0
    assert "Shared jobs must keep a GPU memory limit (--gpu-memory / --max-gpu-mem)." in out.stderr


def test_redo_overrides_and_errors(daemon):
    (first,) = submit(daemon, "-n", "train", "-p", "20", "--max-retries", "0", "sh -c 'exit 3'")
    (dep,) = submit(daemon, "--no-auto-cancel", "-d", "@", "--hold", "true")
    err = daemon.cli("gjob", "redo", str(dep))
    assert err.returncode == 1
    assert err.stderr.strip() == (
        f"gjob: error: Job {dep} is still in Hold state. Use `gjob update` to modify its parameters."
    )
    wait_all(daemon, [first])
    out = daemon.cli("gjob", "redo", "@~2", "-g", "0", "-p", "70", "-t", "10", "-m", "1G", "-e", "base",
                     "--clear-deps", "-d", "1", check=True).stdout
    assert out.splitlines() == [
        f"Resubmitting job {first} with parameters:",
        "  Command=sh -c 'exit 3'",
        "  GPUs=0",
        "  Priority=70",
        "  CondaEnv=base",
        "  TimeLimit=00:10:00",
        "  MemoryLimit=1G",
        "  Dependencies=(cleared)",
        "",
        f"Submitted batch job {dep + 1} (gjob-{dep + 1}-train)",
    ]
    with daemon.client() as c:
        new = c.get(dep + 1)
    assert new.redone_from == first and new.depends_on_ids == [] and new.scheduled_at is None
    assert (new.priority, new.time_limit, new.memory_limit_mb, new.conda_env) == (70, 600, 1024, "base")
    out = daemon.cli("gjob", "redo", str(dep), "-d", str(first))
    assert "still in Hold state" in out.stderr
    missing = daemon.cli("gjob", "redo", "999")
    assert missing.returncode == 1 and missing.stderr.strip() == "gjob: error: Job 999 not found."

    gate = daemon.base / "gate"
    (running,) = submit(daemon, f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done'")
    with daemon.client() as c:
        wait_for(lambda: c.get(running).state is JobState.RUNNING)
    busy = daemon.cli("gjob", "redo", str(running))
    assert busy.stderr.strip() == (
        f"gjob: error: Job {running} is still running. Wait for it to finish or cancel it first."
    )
    gate.touch()


def test_gcancel_dry_run_shows_every_dependent(daemon):
    (a,) = submit(daemon, "--hold", "true")
    (b,) = submit(daemon, "--hold", "true")
    (c,) = submit(daemon, "--depends-on-all", f"{b},{a}", "true")
    (d,) = submit(daemon, "--hold", "-d", str(a), "true")
    out = daemon.cli("gcancel", "--dry-run", str(a), check=True).stdout.splitlines()
    assert out == [f"{a}\tHold\tok", f"{c}\tQueued\tblocked\t{a}", f"{d}\tHold\tblocked\t{a}"]


def test_gcancel_finish_and_fail_record_an_outcome(daemon):
    gate = daemon.base / "gate"
    loop = f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done'"
    (ok,) = submit(daemon, "--max-retries", "3", loop)
    (bad,) = submit(daemon, "--max-retries", "3", loop)
    (dep,) = submit(daemon, "-d", str(bad), "true")
    with daemon.client() as c:
        wait_for(lambda: c.get(ok).state is JobState.RUNNING and c.get(bad).state is JobState.RUNNING)
    assert daemon.cli("gcancel", "--finish", str(ok), check=True).stdout == ""
    assert daemon.cli("gcancel", "--fail", str(bad), check=True).stdout == ""
    jobs = wait_all(daemon, [ok, bad, dep])
    assert jobs[ok].state is CD and jobs[bad].state is F
    assert (jobs[dep].state, jobs[dep].reason) == (CA, f"DependencyFailed:{bad}")
    with daemon.client() as c:
        assert c.list(ids=[dep + 1]) == []  # an explicit fail is never retried
    again = daemon.cli("gcancel", "--finish", str(ok))
    assert again.returncode == 1 and again.stderr.startswith("gcancel: error: Failed to finish job: ")


def test_ten_thousand_tasks_in_one_request(daemon):
    t0 = time.monotonic()
    out = daemon.cli("gbatch", "--hold", "--array", "1-10000", "true", check=True).stdout
    elapsed = time.monotonic() - t0
    lines = out.splitlines()
    assert len(lines) == 10000 and lines[-1] == "Submitted batch job 10000 (gjob-10000)"
    assert elapsed < 10  # the bench measures the real figure; this only guards against O(n^2)
    with daemon.client() as c:
        jobs = c.list()
        assert len(jobs) == 10000 and {j.env_from for j in jobs[1:]} == {1}
    assert daemon.cli("gcancel", "1-10000", check=True).stdout.count("cancelled.") == 10000


# --------------------------------------------------------------------------- bad input

BAD_INPUT = [
    (["gbatch", "--time", "abc", "true"], "--time 'abc': 'abc' is not a length of time; use e.g. 90m, 4h"),
    (["gbatch", "--time", "1:2:3:4", "true"], "--time '1:2:3:4': too many ':' fields"),
    (["gbatch", "--time", "1:xx", "true"], "--time '1:xx': seconds must be a whole number, not 'xx'"),
    (["gbatch", "--memory", "1.5G", "true"], "--memory '1.5G': Invalid memory value in GB format"),
    (["gbatch", "--memory", "10K", "true"], "--memory '10K': Invalid memory format. Expected formats: 100G, 1024M, or 100 (MB)"),
    (["gbatch", "--gpu-memory", "", "true"], "--gpu-memory '': Memory limit cannot be empty"),
    (["gbatch", "--begin", "now+5x", "true"], "--begin 'now+5x': Invalid begin time now+5x: 'x' is not a unit"),
    (["gbatch", "--begin", "2026-13-45", "true"], "--begin '2026-13-45': Invalid begin date. Expected YYYY-MM-DD"),
    (["gbatch", "--begin", " ", "true"], "--begin ' ': Begin time cannot be empty"),
    (["gbatch", "--depends-on", "abc", "true"], "--depends-on 'abc': Invalid dependency value: abc"),
    (["gbatch", "--depends-on", " ", "true"], "--depends-on ' ': Dependency value cannot be empty"),
    (["gbatch", "--depends-on-all", ",,", "true"], "--depends-on-all ',,': Dependency list cannot be empty"),
    (["gbatch", "--depends-on-any", "1,x", "true"], "--depends-on-any '1,x': Invalid dependency ID: x"),
    (["gbatch", "--depends-on", "999", "true"], "--depends-on: Dependency job 999 does not exist"),
    (["gbatch", "--depends-on", "@~5", "true"], "--depends-on: Cannot resolve dependency '@~5' for user"),
    (["gbatch", "--array", "1-", "true"], "--array '1-': Invalid array end index"),
    (["gbatch", "--array", "x-3", "true"], "--array 'x-3': Invalid array start index"),
    (["gbatch", "--array", "5-1", "true"], "--array '5-1': Array start index cannot be greater than end index"),
    (["gbatch", "--array", "1..3", "true"], "--array '1..3': Invalid array format. Expected format like '1-10'."),
    (["gbatch", "--array", "1-2", "--param", "a=1", "true"], "Cannot use both --param and --array together"),
    (["gbatch", "--param", "novalue", "true"], "--param 'novalue': Invalid param format. Expected 'name=val1,val2,...'"),
    (["gbatch", "--param", "=1,2", "true"], "--param '=1,2': Parameter name cannot be empty"),
    (["gbatch", "--param", "a=,,", "true"], "--param 'a=,,': Parameter must have at least one value"),
    (["gbatch", "--param", "a=1:2:0", "true"], "--param 'a=1:2:0': Step cannot be zero"),
    (["gbatch", "--param", "a=1:5:-1", "true"], "--param 'a=1:5:-1': Step direction doesn't match start/stop"),
    (["gbatch", "--param", "a=0:100000", "true"], "--param 'a=0:100000': Range too large (max 10000 values)"),
    (["gbatch", "--param-file", "/nonexistent.csv", "true"], "--param-file '/nonexistent.csv': Failed to read parameter file"),
    (["gbatch", "--shared", "--gpus", "1", "true"], "Shared jobs must set a GPU memory limit. Use --gpu-memory"),
    (["gbatch", "--notify-email", "nobody", "true"], "Invalid --notify-email 'nobody'"),
    (["gbatch", "--project", "p" * 65, "true"], "--project '" + "p" * 65 + "': Project name too long (max 64 characters)"),
    (["gbatch", "--priority", "256", "true"], "--priority"),
    (["gbatch", "--gpus", "-1", "true"], "--gpus"),
    (["gbatch", "--max-retries", "x", "true"], "--max-retries"),
    (["gjob", "update", "1", "--memory-limit", "1T"], "--memory-limit '1T': Invalid memory format"),
    (["gjob", "update", "1", "--depends-on", "@"], "--depends-on '@': Invalid dependency ID: @"),
    (["gjob", "update", "1", "--priority", "300"], "--priority"),
    (["gjob", "redo", "1", "--time", "-5"], "--time '-5': '-5' is not a length of time"),
    (["gjob", "redo", "1", "-d", "@~0"], "--depends-on '@~0': Invalid dependency value: @~0"),
    (["gjob", "release", "1", "--at", "soon"], "--at 'soon': Invalid begin time"),
    (["gcancel", "--finish", "x"], "--finish"),
]


@pytest.fixture(scope="module")
def shared_daemon():
    """One daemon for the many refusals below: none of them may change anything."""
    import shutil
    import tempfile
    from pathlib import Path

    from gflow_testing import Daemon, kill_leftover_jobs

    base = Path(tempfile.mkdtemp(prefix="gf", dir="/tmp"))
    base.chmod(0o755)
    d = Daemon(base / "d").start()
    submit(d, "--hold", "true")  # job 1: something to update, redo and release
    yield d
    d.stop()
    kill_leftover_jobs(d)
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("argv,needle", BAD_INPUT, ids=[" ".join(a)[:60] for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_naming_the_flag(shared_daemon, argv, needle):
    daemon = shared_daemon
    out = daemon.cli(*argv)
    assert out.returncode != 0
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert lines and lines[0].startswith(argv[0]) and ": error: " in lines[0]
    assert "Traceback" not in out.stderr
    assert needle in lines[0]
    # argparse usage errors add one "(see 'PROG --help')" hint line; ours are one line
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("(see "))
    with daemon.client() as c:
        assert [j.id for j in c.list()] == [1] and c.get(1).priority == 10


def test_jobs_admitted_but_not_yet_launched_survive_a_stop(daemon):
    # launches drain a slice per loop turn; a stop in between must requeue the rest,
    # not leave them "Running" without a process (they would fail as vanished)
    ids = submit(daemon, "--array", "1-300", "true")
    daemon.stop()
    daemon.start()
    with daemon.client() as c:
        jobs = c.list(ids=ids)
        assert [j for j in jobs if j.state is F] == []
        assert {j.state for j in jobs} <= {JobState.QUEUED, JobState.RUNNING, CD}
    daemon.cli("gcancel", "1-300")


def test_redo_runs_with_the_original_environment_unless_asked(daemon):
    out = daemon.cli("gbatch", "sh -c 'echo $MY_VAR'", env={"MY_VAR": "original"}, check=True)
    first = int(out.stdout.split()[3])
    wait_all(daemon, [first])
    daemon.cli("gjob", "redo", str(first), env={"MY_VAR": "now"}, check=True)
    daemon.cli("gjob", "redo", str(first), "--current-env", env={"MY_VAR": "now"}, check=True)
    wait_all(daemon, [first + 1, first + 2])
    logs = [daemon.cli("gjob", "log", str(i), check=True).stdout for i in (first + 1, first + 2)]
    assert logs == ["original\n", "now\n"]


def test_job_lists_accept_at_shorthands(daemon):
    first, second = submit(daemon, "--hold", "true") + submit(daemon, "--hold", "true")
    assert daemon.cli("gjob", "release", "@~2", check=True).stdout == f"Job {first} released back to queue.\n"
    show = daemon.cli("gjob", "show", "@,@~2", check=True).stdout
    assert f"ID={first}\n" in show and f"ID={second}\n" in show
    daemon.cli("gjob", "update", "@", "--priority", "7", check=True)
    with daemon.client() as c:
        assert c.get(second).priority == 7 and c.get(second).state is JobState.HOLD
    bad = daemon.cli("gjob", "hold", "@~0")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "@~0" in bad.stderr


def test_a_job_over_its_memory_limit_is_killed_and_says_why(daemon):
    grow = "python3 -c 'b = bytearray(300 * 2**20); import time; time.sleep(60)'"
    (big,) = submit(daemon, "--memory", "100M", "--max-retries", "2", grow)
    (small,) = submit(daemon, "--memory", "100M", "sleep", "0.5")
    jobs = wait_all(daemon, [big, small], timeout=30)
    assert jobs[big].state is F and jobs[big].reason == "MemoryLimitExceeded"
    assert jobs[big].finished_at - jobs[big].started_at < 15
    assert jobs[small].state is CD
    shown = daemon.cli("gjob", "show", str(big), check=True).stdout
    assert "Reason=MemoryLimitExceeded" in shown
    with daemon.client() as c:  # not retried: it would only outgrow the limit again
        assert [j.id for j in c.list(states=None)] == [big, small]
