"""History retention and the audit trail on a real daemon: `gctl purge`, config
`retention`, `gctl audit`."""
from __future__ import annotations

import json
import os
import time

from gflow.protocol import JobSpec, JobState

from gflow_testing import wait_for

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def _stats(d) -> dict:
    return json.loads(d.cli("gstats", "-a", "-o", "json", check=True).stdout)


def test_purge_forgets_old_jobs_and_their_logs_but_keeps_totals_and_ids(make_daemon):
    d = make_daemon()
    with d.client() as c:
        old = c.submit_many([JobSpec(command=f"echo old {i}", run_dir=str(d.home), env=ENV)
                             for i in range(1000)]).jobs
        old_ids = [i for i, _ in old]
        done = c.wait(old_ids, timeout=300)
        assert all(j.state is JobState.FINISHED for j in done)
        cutoff = max(j.finished_at for j in done) + 0.001
        wait_for(lambda: time.time() > cutoff)
        new_ids = [c.submit("echo new", env=ENV) for _ in range(3)]
        c.wait(new_ids, timeout=60)
        logs = d.state_dir / "logs"
        assert all((logs / f"{i}.log").exists() for i in old_ids + new_ids)
        before = _stats(d)

        preview = c.purge(cutoff, dry_run=True)
        assert preview.dry_run and preview.ids == old_ids
        assert (logs / f"{old_ids[0]}.log").exists()

        result = c.purge(cutoff)
        assert result.ids == old_ids and result.logs_removed == 1000
        assert not any((logs / f"{i}.log").exists() for i in old_ids)
        assert all((logs / f"{i}.log").exists() for i in new_ids)
        listed = [j.id for j in c.list(states=list(JobState), users=None)]
        assert listed == new_ids

    after = _stats(d)
    for key in ("total_jobs", "completed_jobs", "failed_jobs", "jobs_with_gpus", "success_rate"):
        assert after[key] == before[key], key
    assert abs(after["total_gpu_hours"] - before["total_gpu_hours"]) < 1e-9
    assert abs(after["avg_wait_secs"] - before["avg_wait_secs"]) < 1e-6
    assert abs(after["avg_runtime_secs"] - before["avg_runtime_secs"]) < 1e-6

    # the highest id is remembered across a restart even when its job is gone
    with d.client() as c:
        assert c.purge(time.time() + 1).ids == new_ids
    d.stop()
    d.start()
    out = d.cli("gbatch", "true", check=True).stdout
    assert f"Submitted batch job {new_ids[-1] + 1}" in out
    assert _stats(d)["total_jobs"] == before["total_jobs"] + 1


def test_gctl_purge_cli_dry_run_and_refusals(make_daemon):
    d = make_daemon()
    with d.client() as c:
        ids = [c.submit("true", env=ENV) for _ in range(3)]
        c.wait(ids, timeout=60)
    future = str(int(time.time()) + 5)
    dry = d.cli("gctl", "purge", "--before", future, "--dry-run", check=True)
    assert dry.stdout == f"Would purge 3 finished jobs: {ids[0]}-{ids[-1]}\n"
    assert len(d.cli("gqueue", "-a", "-f", "JOBID", check=True).stdout.split()) == 4
    done = d.cli("gctl", "purge", "--before", future, check=True)
    assert done.stdout == f"Purged 3 finished jobs and 3 log files: {ids[0]}-{ids[-1]}\n"
    assert d.cli("gctl", "purge", "--before", "30d", check=True).stdout == "Purged 0 finished jobs and 0 log files.\n"
    bad = d.cli("gctl", "purge", "--before", "soon")
    assert bad.returncode == 1 and bad.stderr.startswith("gctl: error: Invalid time format")
    assert "Traceback" not in bad.stderr


def test_running_and_queued_jobs_and_dependencies_are_never_purged(make_daemon):
    d = make_daemon()
    with d.client() as c:
        parent = c.submit("true", env=ENV)
        c.wait([parent], timeout=30)
        child = c.submit("true", env=ENV, depends_on=[str(parent)], hold=True)
        running = c.submit("sleep 30", env=ENV)
        wait_for(lambda: c.get(running).state is JobState.RUNNING)
        assert c.purge(time.time() + 1).ids == []  # the parent is still needed by its held child
        c.cancel([running, child])
        c.wait([running, child], timeout=30)
        purged = set(c.purge(time.time() + 1).ids)
        assert {parent, child} <= purged
        # a cancelled job's process may still be winding down: purged once it is gone
        wait_for(lambda: purged.update(c.purge(time.time() + 1).ids) or running in purged)


def test_retention_config_purges_old_jobs_daily_from_start_up(make_daemon):
    from gflow.daemon.store import JobStore

    d = make_daemon()
    with d.client() as c:
        aged, recent = c.submit("true", env=ENV), c.submit("true", env=ENV)
        c.wait([aged, recent], timeout=30)
    d.stop()
    store = JobStore(str(d.state_dir / "gflow.db"))  # make one job two days old
    job = store.get(aged)
    for field in ("submitted_at", "started_at", "finished_at"):
        setattr(job, field, getattr(job, field) - 2 * 86400)
    store.write(changed=[job])
    store.db.execute("UPDATE jobs SET submitted_at=? WHERE id=?", (job.submitted_at, aged))
    store.close()
    cfg = d.home / ".config" / "gflow" / "gflow.yaml"
    cfg.write_text(cfg.read_text() + "retention:\n  days: 1\n")
    d.start()
    with d.client() as c:
        wait_for(lambda: [j.id for j in c.list(states=list(JobState))] == [recent])
    assert _stats(d)["total_jobs"] == 2  # the purged one still counts in the totals


def test_audit_trail_records_mutations_with_the_callers_uid(make_daemon):
    d = make_daemon()
    with d.client() as c:
        job = c.submit("sleep 30", env=ENV)
        c.hold([job])
        c.cancel([job, 999])
        c.get(job)  # reads are not audited
    entries = json.loads(d.cli("gctl", "audit", "--json", check=True).stdout)
    assert [e["method"] for e in entries] == ["jobs.submit", "jobs.hold", "jobs.cancel"]
    assert all(e["uid"] == os.getuid() for e in entries)
    assert entries[0]["targets"] == [job] and entries[0]["result"] == "ok"
    assert entries[2]["targets"] == [job, 999] and entries[2]["result"].startswith("partial: refused 999")
    table = d.cli("gctl", "audit", "--since", "1h", check=True).stdout.splitlines()
    assert table[0].split() == ["TIME", "CALLER", "METHOD", "TARGETS", "RESULT"]
    assert "jobs.hold" in table[2]
    assert d.cli("gctl", "audit", "--user", "nobody-else", check=True).stdout == "No audited requests.\n"
    # one JSON line each, in the daily daemon log
    day = sorted((d.state_dir / "logs").glob("daemon.*.log"))[-1]
    lines = [json.loads(l) for l in day.read_text().splitlines() if '"gflow.audit"' in l]
    assert [l["fields"]["method"] for l in lines] == ["jobs.submit", "jobs.hold", "jobs.cancel"]
