"""gstats tables per user and per project on a real daemon: CPU time, projects, purged sums."""
from __future__ import annotations

import json
import os
import sys
import time

import pytest

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def test_cpu_time_is_recorded_and_summed_per_user_and_project(make_daemon):
    d = make_daemon()
    burn = f"{sys.executable} -c 'sum(range(3 * 10**6))'"
    with d.client() as c:
        ids = [c.submit(burn, env=ENV, project="p1"), c.submit(burn, env=ENV, project="p2"),
               c.submit("true", env=ENV)]
        jobs = c.wait(ids, timeout=60)
    assert all(j.cpu_secs is not None and j.cpu_secs > 0 for j in jobs[:2])
    cpu_hours = sum(j.cpu_secs for j in jobs) / 3600

    by_user = json.loads(d.cli("gstats", "--by", "user", "-o", "json", check=True).stdout)
    (row,) = by_user["rows"]
    assert row["cpu_hours"] == pytest.approx(cpu_hours) and by_user["total"]["cpu_hours"] == pytest.approx(cpu_hours)
    assert row["total_jobs"] == 3 and row["completed_jobs"] == 3

    by_project = json.loads(d.cli("gstats", "--by", "project", "-o", "json", check=True).stdout)
    assert [(r["project"], r["total_jobs"]) for r in by_project["rows"]] == [("p1", 1), ("p2", 1), (None, 1)]
    assert by_project["rows"][0]["cpu_hours"] == pytest.approx(jobs[0].cpu_secs / 3600)
    assert json.loads(d.cli("gstats", "-P", "p2", "-o", "json", check=True).stdout)["total_jobs"] == 1
    assert d.cli("gqueue", "-a", "-P", "p1", "-f", "JOBID", check=True).stdout.split() == ["JOBID", str(ids[0])]

    table = d.cli("gstats", "--by", "project", check=True).stdout.splitlines()
    assert table[1].split() == ["PROJECT", "JOBS", "DONE", "FAILED", "CANCELLED", "TIMEOUT", "ACTIVE",
                                "GPU-HOURS", "JOB-HOURS", "CPU-HOURS", "SUCCESS", "MEAN", "WAIT"]
    assert [l.split()[0] for l in table[2:]] == ["p1", "p2", "-", "─" * len(table[1]), "TOTAL"][:len(table) - 2]

    # a purge keeps the per-project sums
    with d.client() as c:
        assert c.purge(time.time() + 1).ids == ids
    after = json.loads(d.cli("gstats", "--by", "project", "-o", "json", check=True).stdout)
    assert [(r["project"], r["total_jobs"]) for r in after["rows"]] == [("p1", 1), ("p2", 1), (None, 1)]
    assert after["total"]["cpu_hours"] == pytest.approx(cpu_hours)
    csv_lines = d.cli("gstats", "--by", "project", "-o", "csv", check=True).stdout.splitlines()
    assert csv_lines[0].endswith(",job_hours,cpu_hours") and csv_lines[-1].startswith("(total),3,3,")
