"""One system daemon shared by alice, bob and carol (an admin): identity, run-as-owner,
authorisation, and the file-system traps of a root daemon."""
from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from gflow.protocol import JobSpec, JobState

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)

pytestmark = NEEDS_ROOT


def _submit(daemon, account, *args, cwd=None, env=None) -> int:
    out = daemon.run(account, "gbatch", *args, cwd=cwd, env=env)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[3])


def _wait(daemon, job_id: int):
    with daemon.client() as c:
        (job,) = c.wait([job_id], timeout=30)
    return job


def test_job_runs_as_its_owner_with_her_groups(system_daemon, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = _submit(system_daemon, alice, "sh -c 'id -u; id -G; echo $HOME:$USER:$LOGNAME; pwd'")
    job = _wait(system_daemon, job_id)
    assert job.state is JobState.FINISHED, system_daemon.run(None, "gjob", "log", str(job_id)).stdout
    assert job.user == alice.name and job.owner_uid == alice.uid

    out = system_daemon.run(alice, "gjob", "log", str(job_id))
    assert out.returncode == 0, out.stderr
    uid, groups, names, cwd = out.stdout.splitlines()
    assert int(uid) == alice.uid
    assert sorted(map(int, groups.split())) == sorted(set(alice.groups))
    assert names == f"{alice.home}:{alice.name}:{alice.name}"
    assert cwd == alice.home

    log = system_daemon.state_dir / "logs" / str(alice.uid) / f"{job_id}.log"
    st = log.stat()
    assert st.st_uid == alice.uid
    assert stat.S_IMODE(st.st_mode) == 0o600

    refused = system_daemon.run(bob, "gjob", "log", str(job_id))
    assert refused.returncode != 0
    assert f"job {job_id} belongs to {alice.name}" in refused.stderr
    assert str(alice.uid) not in refused.stdout


def test_USER_variable_does_not_change_the_owner(system_daemon, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = _submit(system_daemon, alice, "--hold", "true", env={"USER": bob.name, "LOGNAME": bob.name})
    with system_daemon.client() as c:
        job = c.get(job_id)
    assert (job.user, job.owner_uid) == (alice.name, alice.uid)
    mine = system_daemon.run(alice, "gqueue", "-f", "JOBID,USER")
    assert mine.stdout.split()[2:] == [str(job_id), alice.name]
    # gqueue defaults to the caller's own jobs (from the kernel, not $USER)
    theirs = system_daemon.run(bob, "gqueue", env={"USER": alice.name})
    assert theirs.stdout.strip() == "No jobs found."
    everyone = system_daemon.run(bob, "gqueue", "-u", "all", "-f", "JOBID,USER")
    assert [str(job_id), alice.name] == everyone.stdout.split()[2:4]


def test_only_owner_or_admin_may_change_a_job(system_daemon, accounts):
    alice, bob, carol = accounts["alice"], accounts["bob"], accounts["carol"]
    job_id = _submit(system_daemon, alice, "--begin", "now+1h", "true")

    for args in (["gcancel", str(job_id)], ["gjob", "hold", str(job_id)],
                 ["gjob", "update", str(job_id), "--priority", "99"]):
        out = system_daemon.run(bob, *args)
        assert out.returncode != 0, args
        assert f"job {job_id} belongs to {alice.name}; only its owner or an admin may" in out.stderr
        assert "Traceback" not in out.stderr
    with system_daemon.client() as c:
        job = c.get(job_id)
    assert job.state is JobState.QUEUED and job.priority == 10

    assert system_daemon.run(carol, "gjob", "update", str(job_id), "--priority", "99").returncode == 0
    assert system_daemon.run(carol, "gjob", "hold", str(job_id)).returncode == 0
    with system_daemon.client() as c:
        job = c.get(job_id)
    assert job.state is JobState.HOLD and job.priority == 99
    out = system_daemon.run(carol, "gcancel", str(job_id))
    assert out.returncode == 0 and f"Job {job_id} cancelled." in out.stdout

    refused = system_daemon.run(alice, "gctl", "set-gpus", "0")
    assert refused.returncode != 0 and "reserved to administrators" in refused.stderr
    # in a person's words, never the internal method name
    assert "gctl set-gpus" in refused.stderr and "gpus.set_allowed" not in refused.stderr
    allowed = system_daemon.run(carol, "gctl", "set-gpus", "0")
    assert allowed.returncode == 0, allowed.stderr
    assert "only GPUs [0]" in allowed.stdout
    assert system_daemon.run(alice, "gflowd", "status").returncode == 0


def test_submission_from_a_directory_the_owner_cannot_enter_is_refused(system_daemon, accounts):
    alice = accounts["alice"]
    private = Path(tempfile.mkdtemp(prefix="gfpriv", dir="/tmp"))
    private.chmod(0o700)  # root's
    try:
        out = system_daemon.run(alice, "gbatch", "true", cwd=str(private))
        assert out.returncode != 0
        assert f"cannot run in {private}" in out.stderr and "permission denied" in out.stderr
        with system_daemon.client() as c:
            assert not any(j.user == alice.name for j in c.list())
    finally:
        private.rmdir()


def test_a_planted_symlink_is_never_written_through(system_daemon, accounts):
    alice = accounts["alice"]
    first = _submit(system_daemon, alice, "true")
    _wait(system_daemon, first)
    target = system_daemon.base / "precious"
    target.write_text("original\n")
    target.chmod(0o644)
    log_dir = system_daemon.state_dir / "logs" / str(alice.uid)
    planted = log_dir / f"{first + 1}.log"
    subprocess.run(["ln", "-s", str(target), str(planted)], user=alice.uid, group=alice.gid, check=True)

    second = _submit(system_daemon, alice, "echo", "job-output")
    assert second == first + 1
    assert _wait(system_daemon, second).state is JobState.FINISHED
    assert target.read_text() == "original\n"
    assert not planted.is_symlink() and planted.read_text() == "job-output\n"
    assert any(p.name.startswith(f"{second}.log.old.") and p.is_symlink() for p in log_dir.iterdir())

    # and the root daemon never reads through one either
    (log_dir / f"{second}.log").unlink()
    subprocess.run(["ln", "-s", "/etc/shadow", str(log_dir / f"{second}.log")],
                   user=alice.uid, group=alice.gid, check=True)
    out = system_daemon.run(alice, "gjob", "log", str(second))
    assert out.returncode != 0 and "root:" not in out.stdout


def test_client_cannot_claim_another_identity(system_daemon, accounts):
    from gflow.client import Client
    from gflow.protocol import GflowError

    with Client(str(system_daemon.socket)) as c:
        with pytest.raises(GflowError, match="owner"):
            c.call("jobs.submit", {"jobs": [{"command": "true", "run_dir": "/", "owner": "alice"}]})
        with pytest.raises(GflowError, match="user"):
            c.call("jobs.submit", {"jobs": [{"command": "true", "run_dir": "/", "user": "alice"}]})


def test_user_mode_daemon_refuses_other_users(runtime, accounts):
    python, pythonpath = runtime
    alice, bob = accounts["alice"], accounts["bob"]
    base = Path(tempfile.mkdtemp(prefix="gfum", dir="/tmp"))
    base.chmod(0o755)
    runtime_dir = base / "run"
    runtime_dir.mkdir()
    os.chown(runtime_dir, alice.uid, alice.gid)
    env = {
        "PATH": "/usr/bin:/bin", "PYTHONPATH": pythonpath, "HOME": alice.home,
        "XDG_RUNTIME_DIR": str(runtime_dir), "XDG_DATA_HOME": str(runtime_dir / "data"),
        "XDG_CONFIG_HOME": str(runtime_dir / "config"),
        "GFLOW_SYSTEM_SOCKET": str(base / "no-system-daemon.sock"),  # a live host one would win
    }
    proc = subprocess.Popen(
        [python, "-m", "gflow", "gflowd", "up", "--foreground"], env=env, user=alice.uid, group=alice.gid,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=alice.home,
    )
    sock = runtime_dir / "gflow" / "gflowd.sock"
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        # even if the file modes were loosened, the daemon itself checks the peer's uid
        (runtime_dir / "gflow").chmod(0o755)
        sock.chmod(0o666)
        out = subprocess.run(
            [python, "-m", "gflow", "gqueue", "--socket", str(sock)], env=dict(env, HOME=bob.home),
            user=bob.uid, group=bob.gid, capture_output=True, text=True, timeout=30, cwd=bob.home,
        )
        assert out.returncode != 0
        assert "personal daemon of another user" in out.stderr
        mine = subprocess.run(
            [python, "-m", "gflow", "gqueue"], env=env, user=alice.uid, group=alice.gid,
            capture_output=True, text=True, timeout=30, cwd=alice.home,
        )
        assert mine.returncode == 0 and mine.stdout.strip() == "No jobs found."
    finally:
        proc.terminate()
        proc.wait(15)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def test_fair_share_lets_the_lighter_user_go_first(system_daemon, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    used = _submit(system_daemon, alice, "--gpus", "2", "sleep 0.5")
    assert _wait(system_daemon, used).state is JobState.FINISHED  # alice now has GPU usage
    blocker = _submit(system_daemon, None, "--gpus", "2", "sleep 1")
    first = _submit(system_daemon, alice, "--gpus", "2", "true")  # submitted first ...
    second = _submit(system_daemon, bob, "--gpus", "2", "true")  # ... but bob has no usage
    with system_daemon.client() as c:
        jobs = {j.id: j for j in c.wait([blocker, first, second], timeout=30)}
    assert all(j.state is JobState.FINISHED for j in jobs.values())
    assert jobs[second].started_at < jobs[first].started_at
