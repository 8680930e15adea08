"""Failure: the daemon died between starting shepherds and recording them. What the runner
files and the process table say decides each job: never launched, a live shepherd to adopt,
or a shepherd gone whose leftover processes are killed (never left unsupervised)."""
from __future__ import annotations

import os
import subprocess
import sys

from gflow.daemon.executor import SHEPHERD, Executor


def _runner_files(ex: Executor, job_id: int, spawned: bool) -> str:
    spec = ex._path(job_id, "spec.json")
    with open(spec, "w") as f:
        f.write('{"uid": %d, "job_id": %d}' % (os.getuid(), job_id))
    if spawned:
        open(ex._path(job_id, "err"), "w").close()
    return spec


def _sleeper(*argv: str, job_id: int) -> subprocess.Popen:
    env = dict(os.environ, GFLOW_JOB_ID=str(job_id))
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *argv], env=env)


def test_unrecorded_jobs_are_sorted_by_what_really_happened(tmp_path):
    ex = Executor(str(tmp_path / "runners"), lambda *a: None)
    spec_live = _runner_files(ex, 1, spawned=True)
    _runner_files(ex, 2, spawned=True)
    _runner_files(ex, 4, spawned=False)
    shepherd = _sleeper(SHEPHERD, spec_live, job_id=1)  # a shepherd look-alike for job 1
    stray = _sleeper(job_id=2)  # job 2's payload, its shepherd gone
    bystander = _sleeper(job_id=3)
    try:
        found = ex.find_unrecorded([1, 2, 3, 4])
        assert found.get(1) is not None and found[1][0] == shepherd.pid, f"a live shepherd was not found: {found}"
        assert 2 in found and found[2] is None, f"a spawned job without shepherd was not seen: {found}"
        assert 3 not in found and 4 not in found, f"never-launched jobs must go back to the queue: {found}"
        assert stray.wait(10) == -9, "a payload whose shepherd vanished was left running unsupervised"
        assert bystander.poll() is None, "a process of another job was killed"
    finally:
        for proc in (shepherd, stray, bystander):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
