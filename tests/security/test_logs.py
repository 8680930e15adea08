"""A hostile account's own log directory: FIFOs, hard links and symlinks planted where the
root daemon reads a job's log."""
from __future__ import annotations

import os
import subprocess

from gflow.protocol import JobState

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from security._attack import (  # noqa: F401  (make_system_daemon is a fixture)
    acknowledged_job,
    assert_others_served,
    make_system_daemon,
)

pytestmark = NEEDS_ROOT


def _finished_job_log(daemon, account):
    out = daemon.run(account, "gbatch", "--wait", "echo mine")
    assert out.returncode == 0, out.stderr
    job = out.stdout.split()[3]
    return job, daemon.state_dir / "logs" / str(account.uid) / f"{job}.log"


def _as(account, *argv):
    done = subprocess.run(list(argv), user=account.uid, group=account.gid, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_fifo_as_log_neither_blocks_log_reads_nor_memory_limits(make_system_daemon, accounts):
    attack = "8 x gjob log on a FIFO planted as one's own log"
    daemon = make_system_daemon()
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    bobs, log = _finished_job_log(daemon, bob)
    _as(bob, "rm", "-f", str(log))
    _as(bob, "mkfifo", str(log))
    readers = [
        subprocess.Popen([daemon.python, "-m", "gflow", "gjob", "log", bobs], env=daemon.env(bob), cwd=bob.home,
                         user=bob.uid, group=bob.gid, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    try:
        hog = daemon.run(alice, "gbatch", "--memory", "50M", daemon.python, "-c",
                         "import time; b = bytearray(400 << 20); time.sleep(300)")
        assert hog.returncode == 0, hog.stderr
        hog_id = int(hog.stdout.split()[3])
        with daemon.client() as root:
            (job,) = root.wait([hog_id], timeout=90)
        assert job.state is JobState.FAILED and job.reason == "MemoryLimitExceeded", (
            f"{attack}: a 50M-limited job using 400 MB was not stopped ({job.state.value}, {job.reason})"
        )
        alices, _ = _finished_job_log(daemon, alice)
        out = daemon.run(alice, "gjob", "log", alices)
        assert out.returncode == 0 and "mine" in out.stdout, f"{attack}: another account's gjob log failed"
        for reader in readers:
            try:
                _, err = reader.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{attack}: gjob log on the FIFO hangs") from None
            assert reader.returncode == 1 and "not a regular file" in err, f"{attack}: not refused: {err!r}"
    finally:
        for reader in readers:
            reader.kill()
    assert_others_served(daemon, alice, job_id, attack)


def test_hard_links_and_symlinks_as_log_are_refused(make_system_daemon, accounts, tmp_path):
    attack = "a hard link to root's file planted as one's own log"
    daemon = make_system_daemon()
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    bobs, log = _finished_job_log(daemon, bob)
    secret = daemon.base / "secret"
    secret.write_text("TOPSECRET\n")
    secret.chmod(0o600)
    # what bob could do himself where fs.protected_hardlinks=0
    log.unlink()
    os.link(secret, log)
    out = daemon.run(bob, "gjob", "log", bobs)
    assert "TOPSECRET" not in out.stdout, f"{attack}: the root daemon printed a file bob does not own"
    assert out.returncode == 1 and "belongs to uid 0" in out.stderr, f"{attack}: not refused clearly: {out.stderr!r}"
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr

    attack = "one's own log with a second hard link"
    log.unlink()
    _as(bob, "sh", "-c", f"echo mine > {log} && ln {log} {log}.copy")
    out = daemon.run(bob, "gjob", "log", bobs)
    assert out.returncode == 1 and "2 hard links" in out.stderr, f"{attack}: not refused: {out.stderr!r}"

    attack = "a symlink to /etc/shadow as one's own log"
    _as(bob, "rm", "-f", str(log), f"{log}.copy")
    _as(bob, "ln", "-s", "/etc/shadow", str(log))
    out = daemon.run(bob, "gjob", "log", bobs)
    assert out.returncode == 1 and "symbolic link" in out.stderr, f"{attack}: not refused: {out.stderr!r}"
    assert_others_served(daemon, alice, job_id, attack)
