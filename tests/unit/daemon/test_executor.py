"""Executor + shepherd with real processes: statuses, logs, signals, identity, adoption."""
from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from gflow.daemon.executors import launcher
from gflow.daemon.executors.base import ExitStatus, RunSpec
from gflow.daemon.executors.process import Executor
from executor_testing import WAIT, Exits, make_spec, run, sh, wait_for_text, wait_gone
from gflow_testing import status_written


class _NoForkServer:
    """A fork server that cannot be had: the executor spawns each shepherd itself."""

    pid = 0

    def __init__(self, runners_dir: str, on_answer, on_lost) -> None:
        pass

    def request(self, job_id: int, spare_err=None) -> bool:
        return False

    def stop_previous(self):
        return None

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True, params=["forked", "spawned"])
def shepherd_start(request, monkeypatch):
    """Every test twice: shepherds forked by the fork server, and spawned without one."""
    if request.param == "spawned":
        monkeypatch.setattr(launcher, "ForkServer", _NoForkServer)
    return request.param


async def launch_and_wait(tmp: Path, spec: RunSpec) -> tuple[ExitStatus, Executor]:
    exits = Exits()
    ex = Executor(str(tmp / "runners"), exits)
    ex.launch(spec)
    status = await exits.wait(spec.job_id)
    ex.close()
    return status, ex


# -- exit statuses and logs ---------------------------------------------------------------------

def test_exit_zero_logs_stdout_and_stderr(tmp_path):
    async def body():
        # held until its shepherd was looked at: a short job's shepherd may be gone (reaped)
        # by the time the launch's answer is read
        spec = make_spec(tmp_path, 1, sh('while [ ! -e go ]; do sleep 0.01; done; '
                                         'echo out; echo err >&2; echo "env=$GFLOW_TEST"; pwd'))
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        pid, create_time = await ex.launch(spec)
        assert pid > 0 and abs(create_time - psutil.Process(pid).create_time()) < 0.05
        assert ex.is_watched(1)
        (tmp_path / "go").touch()
        status = await exits.wait(1)
        assert not ex.is_watched(1)
        return status, ex

    status, ex = run(body())
    assert status.exit_code == 0 and status.signal is None
    assert status.launch_error is None and not status.vanished
    assert status.started_at <= status.finished_at
    log = tmp_path / "1.log"
    assert log.read_text().splitlines() == ["out", "err", "env=yes", str(tmp_path)]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    runners = tmp_path / "runners"
    assert stat.S_IMODE(runners.stat().st_mode) == 0o700
    assert stat.S_IMODE((runners / "1.spec.json").stat().st_mode) == 0o600
    assert status_written(runners, 1)
    ex.cleanup(1)
    ex.close()  # the fork server leaves with its pid file
    assert sorted(os.listdir(runners)) == []


def test_runner_files_are_recycled_for_the_next_launch(tmp_path, shepherd_start):
    runners = tmp_path / "runners"
    kinds = ["spec.json", "status.reserve"] + (["err"] if shepherd_start == "forked" else [])

    async def body():
        exits = Exits()
        ex = Executor(str(runners), exits)
        await ex.launch(make_spec(tmp_path, 1, sh("echo one")))
        assert (await exits.wait(1)).exit_code == 0
        inodes = {kind: (runners / f"1.{kind}").stat().st_ino for kind in kinds}
        ex.cleanup(1)
        await ex._cleanup_gathered()  # without waiting for the gathering delay
        left = sorted(name for name in os.listdir(runners) if name != "forkserver.pid")
        await ex.launch(make_spec(tmp_path, 2, sh("echo two; exit 4")))
        status = await exits.wait(2)
        ex.close()
        return inodes, left, status

    inodes, left, status = run(body())
    assert left == ["spare.err.3", "spare.reserve.2", "spare.spec.1"]
    # the same inodes under the new job's names, with the new job's content only
    assert {kind: (runners / f"2.{kind}").stat().st_ino for kind in kinds} == inodes
    assert status.exit_code == 4 and status.launch_error is None and not status.vanished
    assert (tmp_path / "2.log").read_text() == "two\n"
    assert b'"job_id": 2' in (runners / "2.status.reserve").read_bytes()


def test_shepherds_ending_together_are_each_reported_once_and_leave_nothing(tmp_path, shepherd_start):
    """Many exits in one wake-up of the loop: each job reported once, every shepherd's pidfd
    closed, and a shepherd this process spawned (its own child) reaped."""
    async def body():
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        started = [ex.launch(make_spec(tmp_path, i, ["true"])) for i in range(1, 21)]
        pids = [pid for pid, _ in await asyncio.gather(*started)]
        statuses = [await exits.wait(i) for i in range(1, 21)]
        watching = any(ex.is_watched(i) for i in range(1, 21))
        ex.close()
        return pids, statuses, exits.calls, watching

    fds_before = len(os.listdir("/proc/self/fd"))
    pids, statuses, calls, watching = run(body())
    assert sorted(calls) == list(range(1, 21)) and not watching
    assert all(s.exit_code == 0 for s in statuses)
    assert len(os.listdir("/proc/self/fd")) <= fds_before, "a pidfd or the epoll was left open"
    for pid in pids:
        with pytest.raises(ChildProcessError):  # reaped (spawned), or never ours (forked)
            os.waitpid(pid, os.WNOHANG)


def test_a_status_left_in_status_json_goes_with_the_runner_files(tmp_path):
    """A shepherd that could not fill its reserve writes status.json: read, then removed with
    the job's other runner files (a status found in the reserve leaves none to remove)."""
    runners = tmp_path / "runners"

    async def body():
        exits = Exits()
        ex = Executor(str(runners), exits)
        ex.launch(make_spec(tmp_path, 7, sh(f"rm {runners}/7.status.reserve; exit 3")))
        status = await exits.wait(7)
        written = (runners / "7.status.json").exists()
        ex.cleanup(7)
        await ex._cleanup_gathered()
        ex.close()
        return status, written

    status, written = run(body())
    assert status.exit_code == 3 and written
    assert not (runners / "7.status.json").exists() and not (runners / "7.spec.json").exists()


def test_exit_three(tmp_path):
    status, _ = run(launch_and_wait(tmp_path, make_spec(tmp_path, 2, sh("echo failing; exit 3"))))
    assert status.exit_code == 3 and status.signal is None and status.launch_error is None
    assert (tmp_path / "2.log").read_text() == "failing\n"


def test_existing_log_is_renamed(tmp_path):
    (tmp_path / "4.log").write_text("previous run\n")
    status, _ = run(launch_and_wait(tmp_path, make_spec(tmp_path, 4, ["echo", "new"])))
    assert status.exit_code == 0
    assert (tmp_path / "4.log").read_text() == "new\n"
    old = list(tmp_path.glob("4.log.old.*"))
    assert len(old) == 1 and old[0].read_text() == "previous run\n"


def test_symlink_at_log_path_is_moved_not_followed(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    os.symlink(target, tmp_path / "5.log")
    status, _ = run(launch_and_wait(tmp_path, make_spec(tmp_path, 5, ["echo", "fresh"])))
    assert status.exit_code == 0
    assert target.read_text() == "keep me\n"
    log = tmp_path / "5.log"
    assert not log.is_symlink() and log.read_text() == "fresh\n"
    old = list(tmp_path.glob("5.log.old.*"))
    assert len(old) == 1 and old[0].is_symlink()
    assert os.readlink(old[0]) == str(target)
    suffix = old[0].name.rsplit(".", 1)[1]
    assert abs(int(suffix) - time.time()) < 60


# -- pre-exec failures ------------------------------------------------------------------------------

def test_missing_cwd_is_a_launch_error(tmp_path):
    missing = tmp_path / "nope"
    spec = make_spec(tmp_path, 6, ["true"], cwd=str(missing))
    status, _ = run(launch_and_wait(tmp_path, spec))
    assert status.exit_code == 127 and status.signal is None
    assert status.launch_error == (f"cannot enter working directory {missing}: "
                                   "No such file or directory")
    assert "cannot enter working directory" in (tmp_path / "6.log").read_text()


def test_missing_program_exits_127(tmp_path):
    spec = make_spec(tmp_path, 7, ["/definitely/not/a/program", "x"])
    status, _ = run(launch_and_wait(tmp_path, spec))
    assert status.exit_code == 127
    assert status.launch_error == ("cannot execute /definitely/not/a/program: "
                                   "No such file or directory")


def test_program_not_on_path_exits_127(tmp_path):
    spec = make_spec(tmp_path, 8, ["gflow-no-such-program"])
    status, _ = run(launch_and_wait(tmp_path, spec))
    assert status.exit_code == 127
    assert status.launch_error == ("cannot execute gflow-no-such-program: "
                                   "No such file or directory")


# -- signals ----------------------------------------------------------------------------------------

def test_cancel_terminates_within_grace(tmp_path):
    async def body():
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        ex.launch(make_spec(tmp_path, 10, ["sleep", "30"], grace_secs=5.0))
        t0 = time.monotonic()
        assert ex.cancel(10)
        status = await exits.wait(10)
        return status, time.monotonic() - t0

    status, elapsed = run(body())
    assert status.signal == signal.SIGTERM and status.exit_code == 128 + signal.SIGTERM
    assert elapsed < 5.0


def test_cancel_escalates_to_kill_after_grace(tmp_path):
    async def body():
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        ex.launch(make_spec(tmp_path, 11, sh('trap "" TERM; echo ready; sleep 30'),
                            grace_secs=0.5))
        await wait_for_text(tmp_path / "11.log", "ready")
        t0 = time.monotonic()
        assert ex.cancel(11)
        status = await exits.wait(11)
        return status, time.monotonic() - t0

    status, elapsed = run(body())
    assert status.signal == signal.SIGKILL and status.exit_code == 128 + signal.SIGKILL
    assert 0.45 <= elapsed < 5.0


def test_timeout_sends_sigint_first(tmp_path):
    async def body():
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        ex.launch(make_spec(tmp_path, 12,
                            sh('trap "echo got INT; exit 7" INT; echo ready; sleep 30 & wait')))
        await wait_for_text(tmp_path / "12.log", "ready")
        assert ex.timeout(12)
        return await exits.wait(12)

    status = run(body())
    assert status.exit_code == 7 and status.signal is None
    assert "got INT" in (tmp_path / "12.log").read_text()


def test_timeout_escalates_int_term_kill(tmp_path):
    async def body():
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        ex.launch(make_spec(tmp_path, 13, sh('trap "" INT TERM; echo ready; sleep 30'),
                            grace_secs=0.3))
        await wait_for_text(tmp_path / "13.log", "ready")
        t0 = time.monotonic()
        assert ex.timeout(13)
        status = await exits.wait(13)
        return status, time.monotonic() - t0

    status, elapsed = run(body())
    assert status.signal == signal.SIGKILL
    assert 0.55 <= elapsed < 5.0  # two grace periods: INT -> TERM -> KILL


def test_kill_is_immediate(tmp_path):
    async def body():
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        ex.launch(make_spec(tmp_path, 14, sh('trap "" INT TERM; echo ready; sleep 30'),
                            grace_secs=30))
        await wait_for_text(tmp_path / "14.log", "ready")
        assert ex.kill(14)
        status = await exits.wait(14, timeout=5)
        assert not ex.signal(14, signal.SIGTERM)  # no longer watched
        return status

    assert run(body()).signal == signal.SIGKILL


def test_cancel_right_after_launch_still_reports(tmp_path):
    # The request reaches the shepherd while it is still starting up.
    async def body():
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        ex.launch(make_spec(tmp_path, 15, ["sleep", "30"]))
        assert ex.cancel(15)
        return await exits.wait(15)

    status = run(body())
    assert not status.vanished and status.signal == signal.SIGTERM


def test_background_children_are_killed(tmp_path):
    pidfile = tmp_path / "bg.pid"
    spec = make_spec(tmp_path, 16, sh(f"sleep 300 & echo $! > {pidfile}; exit 0"))
    status, _ = run(launch_and_wait(tmp_path, spec))
    assert status.exit_code == 0
    assert wait_gone(int(pidfile.read_text()))


def test_signal_unknown_job(tmp_path):
    async def body():
        ex = Executor(str(tmp_path / "runners"), Exits())
        return ex.signal(99, signal.SIGTERM), ex.cancel(99), ex.is_watched(99)

    assert run(body()) == (False, False, False)


# -- adoption after a daemon restart ------------------------------------------------------------------

def test_adopt_live_shepherd(tmp_path):
    async def body():
        a = Executor(str(tmp_path / "runners"), Exits())
        pid, create_time = await a.launch(make_spec(tmp_path, 20, sh("sleep 1; echo done")))
        a.close()  # daemon stops: the job keeps running
        assert psutil.pid_exists(pid)
        exits = Exits()
        b = Executor(str(tmp_path / "runners"), exits)
        b.adopt(20, pid, create_time)
        assert b.is_watched(20)
        assert b.signal(20, 0)  # signals go through B's pidfd
        return await exits.wait(20), exits.calls

    status, calls = run(body())
    assert status.exit_code == 0 and not status.vanished
    assert calls == [20]
    assert (tmp_path / "20.log").read_text() == "done\n"


def test_adopt_collects_status_written_while_unwatched(tmp_path):
    async def body():
        a = Executor(str(tmp_path / "runners"), Exits())
        pid, create_time = await a.launch(make_spec(tmp_path, 21, sh("exit 5")))
        a.close()
        # Nobody watches: wait in a thread so the loop stays free (its fork server reaps it,
        # perhaps already: gone counts as ended)
        assert await asyncio.to_thread(wait_gone, pid, WAIT)
        exits = Exits()
        b = Executor(str(tmp_path / "runners"), exits)
        b.adopt(21, pid, create_time)
        return await exits.wait(21)

    status = run(body())
    assert status.exit_code == 5 and not status.vanished


def test_adopt_dead_pid_without_status_is_vanished(tmp_path):
    proc = subprocess.Popen(["true"])
    create_time = psutil.Process(proc.pid).create_time()
    proc.wait()

    async def body():
        exits = Exits()
        b = Executor(str(tmp_path / "runners"), exits)
        b.adopt(22, proc.pid, create_time)
        assert not b.is_watched(22)
        return await exits.wait(22)

    status = run(body())
    assert status.vanished and status.exit_code is None


def test_adopt_with_wrong_create_time_is_vanished(tmp_path):
    proc = subprocess.Popen(["sleep", "30"])
    try:
        async def body():
            exits = Exits()
            b = Executor(str(tmp_path / "runners"), exits)
            b.adopt(23, proc.pid, psutil.Process(proc.pid).create_time() + 10)
            assert not b.is_watched(23)
            return await exits.wait(23)

        status = run(body())
        assert status.vanished
        assert proc.poll() is None  # a foreign process is never signalled
    finally:
        proc.kill()
        proc.wait()


def test_adopt_zombie_is_vanished(tmp_path):
    proc = subprocess.Popen(["true"])
    create_time = psutil.Process(proc.pid).create_time()
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie

    async def body():
        exits = Exits()
        b = Executor(str(tmp_path / "runners"), exits)
        b.adopt(24, proc.pid, create_time)
        return await exits.wait(24)

    assert run(body()).vanished
    proc.wait()


# -- identity (system mode) -------------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")


@pytest.fixture
def nobody_dir():
    """A directory owned by nobody under /tmp (pytest's tmp_path is not reachable by nobody)."""
    entry = pwd.getpwnam("nobody")
    path = Path(tempfile.mkdtemp(prefix="gflow-exec-"))
    os.chown(path, entry.pw_uid, entry.pw_gid)
    yield path, entry
    shutil.rmtree(path, ignore_errors=True)


@needs_root
def test_drop_privileges_runs_as_owner(tmp_path, nobody_dir):
    path, entry = nobody_dir
    spec = make_spec(path, 30, sh("id -u; id -g; id -G; touch made"), uid=entry.pw_uid,
                     gid=entry.pw_gid, user=entry.pw_name, drop_privileges=True)
    status, _ = run(launch_and_wait(tmp_path, spec))
    assert status.exit_code == 0, status
    log = path / "30.log"
    uid, gid, groups = log.read_text().splitlines()
    assert int(uid) == entry.pw_uid and int(gid) == entry.pw_gid
    assert "0" not in groups.split()  # root's supplementary groups are not kept
    st = log.stat()
    assert st.st_uid == entry.pw_uid and stat.S_IMODE(st.st_mode) == 0o600
    made = (path / "made").stat()
    assert made.st_uid == entry.pw_uid and stat.S_IMODE(made.st_mode) == 0o644  # umask 022


@needs_root
def test_drop_privileges_refuses_unreachable_cwd(tmp_path, nobody_dir):
    path, entry = nobody_dir
    private = Path(tempfile.mkdtemp(prefix="gflow-root-"))  # 0700, root's
    try:
        spec = make_spec(path, 31, ["true"], cwd=str(private), uid=entry.pw_uid,
                         gid=entry.pw_gid, user=entry.pw_name, drop_privileges=True)
        status, _ = run(launch_and_wait(tmp_path, spec))
    finally:
        private.rmdir()
    assert status.exit_code == 127
    assert status.launch_error == (f"cannot enter working directory {private}: "
                                   "Permission denied")


@needs_root
def test_job_never_runs_under_another_uid(tmp_path, nobody_dir):
    path, entry = nobody_dir
    # Claims to be nobody's job but asks not to switch: refused rather than run as root.
    spec = make_spec(path, 32, ["true"], uid=entry.pw_uid, gid=entry.pw_gid,
                     user=entry.pw_name, drop_privileges=False)
    status, _ = run(launch_and_wait(tmp_path, spec))
    assert status.exit_code == 127 and "refusing to run as uid 0" in status.launch_error


def test_no_daemon_fds_leak_into_job(tmp_path):
    leaked = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leaked, True)  # as a careless library might leave one
    try:
        spec = make_spec(tmp_path, 17, ["ls", "/proc/self/fd"])
        status, _ = run(launch_and_wait(tmp_path, spec))
    finally:
        os.close(leaked)
    assert status.exit_code == 0
    # 0-2 plus the directory ls itself opened to list
    assert sorted(map(int, (tmp_path / "17.log").read_text().split())) == [0, 1, 2, 3]
