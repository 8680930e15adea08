"""An administrator's day on one shared machine (real accounts, a root system daemon with
four fake GPUs): reservations that protect GPUs, one daemon per machine, views across users."""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from gflow.protocol import JobState

from accounts import NEEDS_ROOT, SystemDaemon  # noqa: E402  (tests/ is on sys.path)

pytestmark = NEEDS_ROOT


@pytest.fixture
def four_gpus(runtime, accounts):
    python, pythonpath = runtime
    base = Path(tempfile.mkdtemp(prefix="gfadm", dir="/tmp"))
    base.chmod(0o755)
    daemon = SystemDaemon(base, python, pythonpath)
    daemon.config.write_text(
        f"daemon:\n  socket: {daemon.socket}\n  state_dir: {daemon.state_dir}\n"
        "gpu:\n  backend: fake\n  count: 4\n"
    )
    daemon.start()
    yield daemon
    daemon.stop()
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        if any(str(base) in part for part in (proc.info.get("cmdline") or [])):
            try:
                proc.kill()
            except psutil.Error:
                pass
    shutil.rmtree(base, ignore_errors=True)


def _ok(out):
    assert out.returncode == 0, out.stderr
    return out.stdout


def _submit(daemon, account, *args) -> int:
    return int(_ok(daemon.run(account, "gbatch", *args)).split()[3])


def _until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_a_count_reservation_protects_a_gpu_from_other_users_jobs(four_gpus, accounts):
    """The issue's repro: bob fills the four GPUs, then alice gets a 1-GPU reservation.
    It is honoured as soon as one of bob's jobs ends: alice's job takes that GPU, bob's
    fifth job keeps waiting, with a reason that names the reservation."""
    alice, bob = accounts["alice"], accounts["bob"]
    d = four_gpus
    bobs = [_submit(d, bob, "--gpus", "1", "sleep 60") for _ in range(4)]
    with d.client() as c:
        _until(lambda: all(c.get(i).state is JobState.RUNNING for i in bobs))
    _ok(d.run(None, "gctl", "reserve", "create", "--user", alice.name, "--gpus", "1",
              "--start", "now", "--duration", "2h"))
    listed = _ok(d.run(None, "gctl", "reserve", "list"))
    assert "Active (waiting for 1 GPU)" in listed, listed
    mine = _submit(d, alice, "--gpus", "1", "sleep 30")
    fifth = _submit(d, bob, "--gpus", "1", "sleep 30")
    with d.client() as c:
        _until(lambda: c.get(fifth).reason == "Reserved:1")
        queue = _ok(d.run(bob, "gqueue", "-f", "JOBID,NODELIST(REASON)"))
        assert any(line.split() == [str(fifth), "(Reserved:1)"] for line in queue.splitlines()), queue
        assert c.get(mine).state is JobState.QUEUED
        _ok(d.run(bob, "gcancel", str(bobs[0])))
        job = _until(lambda: (j := c.get(mine)).state is JobState.RUNNING and j)
        freed = c.get(bobs[0]).finished_at
        print(f"alice's job started {job.started_at - freed:.3f} s after bob's GPU was freed")
        assert job.gpu_ids == c.get(bobs[0]).gpu_ids
        assert c.get(fifth).state is JobState.QUEUED
    assert "Active" in _ok(d.run(None, "gctl", "reserve", "list"))
    assert "waiting for" not in _ok(d.run(None, "gctl", "reserve", "list"))
    _ok(d.run(None, "gcancel", *map(str, bobs[1:] + [mine, fifth])))
