"""Failure: the state disk fills up (here a 2 MB tmpfs under the state directory). Changes
are refused with their own error (`state disk full: …`) and leave memory as it was; a job that
ends meanwhile keeps its exit in its status file, and it is recorded once space returns,
without a restart."""
from __future__ import annotations

import errno
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from gflow.protocol import JobState

from accounts import NEEDS_ROOT, SystemDaemon  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from gflow_testing import kill_processes_under, status_written
from state_attacks import others_still_served, submitted_ids, wait_answers

pytestmark = NEEDS_ROOT


@pytest.fixture
def small_disk_daemon(runtime, accounts):
    python, pythonpath = runtime
    base = Path(tempfile.mkdtemp(prefix="gfdf", dir="/tmp"))
    base.chmod(0o755)
    state = base / "state"
    state.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(state)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    daemon = SystemDaemon(base, python, pythonpath)
    try:
        daemon.start()
        wait_answers(daemon)
        yield daemon
    finally:
        daemon.stop()
        kill_processes_under(base)
        subprocess.run(["umount", "-l", str(state)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _fill(directory: Path) -> Path:
    """Take every byte the filesystem has left."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    return filler


def _await_line(fifo: Path, timeout: float = 60) -> str:
    """Read what the job writes into `fifo` (it opens it once it runs)."""
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    data = b""
    try:
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            assert left > 0, f"the job never wrote to {fifo.name}"
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 100)
                if not chunk:
                    time.sleep(0.01)  # a writer came and went: look again
                data += chunk
    finally:
        os.close(fd)
    return data.decode().strip()


def _open_gate(fifo: Path, timeout: float = 60) -> None:
    """Let the job's `cat gate` end (EOF) as soon as it has opened the FIFO."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return
        except OSError as e:  # ENXIO: the job has not opened it yet
            assert e.errno == errno.ENXIO and time.monotonic() < deadline, f"the job never opened {fifo.name}: {e}"
            time.sleep(0.01)


def _disk_full_refusal(result, attack: str) -> None:
    assert result.returncode != 0, f"{attack} on a full state disk was acknowledged: {result.stdout}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "state disk full" in lines[0], f"{attack}: not a one-line disk-full error: {result.stderr}"


def test_a_full_state_disk_loses_nothing(small_disk_daemon, accounts):
    daemon = small_disk_daemon
    alice, bob = accounts["alice"], accounts["bob"]
    # under the daemon's base: a payload left waiting by a failed run is killed at teardown
    fifos = daemon.base / "fifos"
    fifos.mkdir()
    os.chown(fifos, alice.uid, alice.gid)
    for name in ("ready", "gate"):
        os.mkfifo(fifos / name)
        os.chown(fifos / name, alice.uid, alice.gid)
    out = daemon.run(alice, "gbatch", f"echo up > {fifos}/ready; cat {fifos}/gate > /dev/null")
    assert out.returncode == 0, out.stderr
    (running,) = submitted_ids(out.stdout)
    out = daemon.run(alice, "gbatch", "--hold", "true")
    assert out.returncode == 0, out.stderr
    (held,) = submitted_ids(out.stdout)
    assert _await_line(fifos / "ready") == "up"

    filler = _fill(daemon.state_dir)
    _disk_full_refusal(daemon.run(alice, "gbatch", "true"), "a submission")
    _disk_full_refusal(daemon.run(alice, "gjob", "release", str(held)), "a release")
    others_still_served(daemon, bob, "a full state disk")
    with daemon.client() as c:
        assert c.get(held).state is JobState.HOLD, "a refused release changed the job anyway"

    _open_gate(fifos / "gate")  # the job ends (exit 0) while nothing can be saved
    deadline = time.monotonic() + 60
    while not status_written(daemon.state_dir / "runners", running):
        assert time.monotonic() < deadline, "the shepherd could not keep the exit status on a full disk"
        time.sleep(0.05)
    with daemon.client() as c:
        job = c.get(running)
        assert job.state is JobState.RUNNING, f"a job that ended on a full disk became {job.state.value} {job.reason}"
        assert running in [j.id for j in c.list(states=None)], "a job that ended on a full disk left the listing"

    filler.unlink()  # space returns; the daemon is NOT restarted
    with daemon.client() as c:
        (job,) = c.wait([running], timeout=60)
    assert job.state is JobState.FINISHED and job.exit_code == 0, (
        f"the exit kept on a full disk was not recorded once space returned: {job.state.value} {job.reason}"
    )
    assert daemon.proc.poll() is None
    out = daemon.run(alice, "gjob", "release", str(held))
    assert out.returncode == 0, out.stderr
    with daemon.client() as c:
        (job,) = c.wait([held], timeout=60)
    assert job.state is JobState.FINISHED
    others_still_served(daemon, bob, "a full state disk, once freed")
