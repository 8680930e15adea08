"""Failures of the job database at start-up: a corrupt page, and a database truncated to 0
bytes. Either way the daemon refuses with one line (no traceback), leaves no socket behind,
and keeps the evidence; the empty one starts only when told to."""
from __future__ import annotations

import shutil
import subprocess

from gflow.protocol import JobState

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from state_attacks import (
    foreground, one_line_error, others_still_served, start_and_wait, start_refused, submitted_ids,
    wait_answers,
)

pytestmark = NEEDS_ROOT


def _one_finished_job(daemon, account) -> int:
    out = daemon.run(account, "gbatch", "echo hello")
    assert out.returncode == 0, out.stderr
    (job_id,) = submitted_ids(out.stdout)
    with daemon.client() as c:
        (job,) = c.wait([job_id], timeout=60)
    assert job.state is JobState.FINISHED
    return job_id


def test_a_corrupt_page_is_a_one_line_refusal(system_daemon, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = _one_finished_job(system_daemon, alice)
    system_daemon.stop()
    db = system_daemon.state_dir / "gflow.db"
    good = system_daemon.base / "good.db"
    shutil.copy2(db, good)
    with open(db, "r+b") as f:  # every page after the schema page: the jobs table is gone
        size = f.seek(0, 2)
        f.seek(4096)
        f.write(b"\xa5" * (size - 4096))
    refused = start_refused(system_daemon)
    line = one_line_error(refused, "a corrupt database page")
    assert str(db) in line and "integrity_check" in line, f"the refusal does not name the file and the check: {line}"
    assert list(system_daemon.state_dir.glob("gflow.db.corrupt.*")), "no .corrupt copy was kept"
    assert not system_daemon.socket.exists(), "a refused start left its socket behind"

    shutil.copy2(good, db)  # the admin restores a backup
    start_and_wait(system_daemon)
    with system_daemon.client() as c:
        assert c.get(job_id).state is JobState.FINISHED
    others_still_served(system_daemon, bob, "a corrupt database page")


def test_an_emptied_database_beside_job_logs_needs_force(system_daemon, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    _one_finished_job(system_daemon, alice)
    system_daemon.stop()
    db = system_daemon.state_dir / "gflow.db"
    db.write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        (system_daemon.state_dir / f"gflow.db{suffix}").unlink(missing_ok=True)
    refused = start_refused(system_daemon)
    line = one_line_error(refused, "a 0-byte database beside job logs")
    assert "--force-empty-state" in line and str(db) in line, f"the refusal does not say what to do: {line}"
    assert not system_daemon.socket.exists(), "a refused start left its socket behind"

    system_daemon.proc = subprocess.Popen(
        foreground(system_daemon, "--force-empty-state"), env=system_daemon.env(HOME="/root"),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, cwd="/",
    )
    wait_answers(system_daemon)
    others_still_served(system_daemon, bob, "a 0-byte database")
