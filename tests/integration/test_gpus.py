"""GPU scheduling through the real NVML adapter (stand-in pynvml from tests/fakes)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from gflow_testing import wait_for

from gflow.protocol import JobState

FAKES = Path(__file__).resolve().parents[1] / "fakes"


def _daemon(make_daemon, tmp_state: Path, **content):
    tmp_state.write_text(json.dumps(content))
    d = make_daemon("gpu:\n  backend: nvml\ndaemon:\n  gpu_poll_interval_secs: 1\n", start=False)
    d.env["PYTHONPATH"] = f"{FAKES}:{d.env['PYTHONPATH']}"
    d.env["GFLOW_FAKE_NVML"] = str(tmp_state)
    return d.start()


def test_gpu_allocation_and_unmanaged_processes(make_daemon, short_tmp):
    state = short_tmp / "nvml.json"
    d = _daemon(make_daemon, state, memory_mb=[81920, 81920])
    info = d.cli("ginfo", check=True).stdout.splitlines()
    assert info[0].split() == ["PARTITION", "GPUS", "NODES", "STATE", "JOB(REASON)"]
    assert info[1].split() == ["gpu", "2", "0,1", "idle"]

    d.cli("gbatch", "--gpus", "1", "-n", "a", "sh -c 'echo $CUDA_VISIBLE_DEVICES; sleep 30'", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(1).state is JobState.RUNNING)
        assert c.get(1).gpu_ids == [0]
    rows = [l.split() for l in d.cli("ginfo", check=True).stdout.splitlines()[1:]]
    assert ["gpu", "1", "1", "idle"] in rows and ["gpu", "1", "0", "allocated", "1", "(gjob-1-a)"] in rows

    # a foreign process appears on GPU 1: the next GPU job must wait for it
    state.write_text(json.dumps({"memory_mb": [81920, 81920], "processes": {"1": [4242]}}))
    with d.client() as c:
        wait_for(lambda: c.call("gpus.info")["gpus"][1]["available"] is False, timeout=10)
    assert "(unmanaged(pid=4242))" in d.cli("ginfo", check=True).stdout
    d.cli("gbatch", "--gpus", "1", "sh -c 'echo $CUDA_VISIBLE_DEVICES'", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(2).reason == "Unmanaged: pid 4242")
        state.write_text(json.dumps({"memory_mb": [81920, 81920]}))
        (job,) = c.wait([2], timeout=15)
        assert job.state is JobState.FINISHED and job.gpu_ids == [1]
        assert c.log(2) == b"1\n"
        assert c.log(1) == b"0\n"


def test_set_gpus_restricts_new_allocations(make_daemon, short_tmp):
    d = _daemon(make_daemon, short_tmp / "nvml.json", memory_mb=[1000, 1000])
    out = d.cli("gctl", "set-gpus", "1", check=True)
    assert out.stdout.strip() == "GPU restriction updated: only GPUs [1] will be used"
    assert d.cli("gctl", "show-gpus", check=True).stdout.splitlines() == ["0\tavailable\trestricted", "1\tavailable"]
    bad = d.cli("gctl", "set-gpus", "5")
    assert bad.returncode == 1 and "Invalid GPU indices [5] (only 2 GPUs detected)" in bad.stderr
    d.cli("gbatch", "--gpus", "1", "true", check=True)
    with d.client() as c:
        assert c.wait([1], timeout=15)[0].gpu_ids == [1]
    assert "all GPUs" in d.cli("gctl", "set-gpus", "all", check=True).stdout


def test_fair_share_usage_is_charged_and_survives_a_restart(make_daemon):
    import sqlite3

    import msgspec

    d = make_daemon("gpu:\n  backend: fake\n  count: 2\n")
    d.cli("gbatch", "--gpus", "2", "sleep", "0.3", check=True)
    d.cli("gbatch", "true", check=True)  # no GPU: costs nothing
    with d.client() as c:
        assert all(j.state is JobState.FINISHED for j in c.wait([1, 2], timeout=20))
    d.stop()

    def ledger():
        db = sqlite3.connect(d.state_dir / "gflow.db")
        (blob,) = db.execute("SELECT value FROM meta WHERE key='fair_share_usage'").fetchone()
        db.close()
        return msgspec.msgpack.decode(blob)

    import pwd

    ((user, (usage, _)),) = ledger().items()
    assert user == pwd.getpwuid(os.getuid()).pw_name
    assert 2 * 0.3 <= usage < 2 * 5  # gpus x runtime, nothing for the CPU job
    d.start()
    d.cli("gbatch", "--gpus", "1", "true", check=True)
    with d.client() as c:
        (job,) = c.wait([3], timeout=20)
    assert job.state is JobState.FINISHED
    d.stop()
    assert ledger()[user][0] > usage * 0.99  # loaded at start-up, then charged again


def test_gpus_are_polled_again_right_after_a_gpu_job_starts(make_daemon, short_tmp):
    state = short_tmp / "nvml.json"
    state.write_text(json.dumps({"memory_mb": [1000, 1000]}))
    d = make_daemon("gpu:\n  backend: nvml\ndaemon:\n  gpu_poll_interval_secs: 3600\n", start=False)
    d.env["PYTHONPATH"] = f"{FAKES}:{d.env['PYTHONPATH']}"
    d.env["GFLOW_FAKE_NVML"] = str(state)
    d.start()
    with d.client() as c:
        assert c.call("gpus.info")["gpus"][1]["available"] is True  # first poll done
        # a foreign process appears; the next periodic poll is an hour away
        state.write_text(json.dumps({"memory_mb": [1000, 1000], "processes": {"1": [4242]}}))
        d.cli("gbatch", "--gpus", "1", "sleep", "5", check=True)
        wait_for(lambda: c.call("gpus.info")["gpus"][1]["reason"] == "unmanaged(pid=4242)", timeout=5)
        d.cli("gcancel", "1", check=True)
