"""GPU scheduling on a real daemon: foreign processes beside jobs, a poll that keeps going,
GPUs that cannot be queried, the CUDA device order, impossible jobs, backfill and packing.
The NVML adapter runs against the stand-in pynvml in tests/fakes."""
from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

from gflow_testing import wait_for

from gflow.protocol import JobState

FAKES = Path(__file__).resolve().parents[1] / "fakes"
ME = pwd.getpwuid(os.getuid()).pw_name
GB = 1024


def _nvml_daemon(make_daemon, state: Path, extra: str = "", **content):
    state.write_text(json.dumps(content))
    d = make_daemon("gpu:\n  backend: nvml\ndaemon:\n  gpu_poll_interval_secs: 1\n" + extra, start=False)
    d.env["PYTHONPATH"] = f"{FAKES}:{d.env['PYTHONPATH']}"
    d.env["GFLOW_FAKE_NVML"] = str(state)
    return d.start()


def _fake_daemon(make_daemon, count: int, extra: str = ""):
    return make_daemon(f"gpu:\n  backend: fake\n  count: {count}\n  memory_mb: 81920\n" + extra)


def _gpu(c, index: int) -> dict:
    return c.call("gpus.info")["gpus"][index]


# ---------------------------------------------------------------------- item 1: foreign processes


def test_a_foreign_process_beside_a_job_blocks_its_gpu_when_the_job_ends(make_daemon, short_tmp):
    state = short_tmp / "nvml.json"
    d = _nvml_daemon(make_daemon, state, memory_mb=[81920] * 4)
    for _ in range(4):
        d.cli("gbatch", "--gpus", "1", "sleep", "300", check=True)
    with d.client() as c:
        wait_for(lambda: all(c.get(i).state is JobState.RUNNING for i in range(1, 5)))
        assert c.get(1).gpu_ids == [0]
        # someone starts a CUDA process on GPU 0, next to job 1
        state.write_text(json.dumps({"memory_mb": [81920] * 4, "processes": {"0": [4242]}}))
        wait_for(lambda: _gpu(c, 0)["beside_pids"] == [4242], timeout=10)
        assert "1 (gjob-1); shared with pid 4242" in d.cli("ginfo", check=True).stdout
        d.cli("gbatch", "--gpus", "1", "sleep", "300", check=True)
        wait_for(lambda: c.get(5).reason is not None)
        d.cli("gcancel", "1", check=True)
        # GPU 0 is looked at before it is handed on: job 5 must not start beside pid 4242
        wait_for(lambda: c.get(5).reason == "Unmanaged: pid 4242", timeout=10)
        assert c.get(5).state is JobState.QUEUED
        assert "(Unmanaged: pid 4242)" in d.cli("gqueue", check=True).stdout
        assert "0\tin_use\tunmanaged(pid=4242)" in d.cli("gctl", "show-gpus", check=True).stdout.splitlines()
        # the process goes away: job 5 gets the GPU
        state.write_text(json.dumps({"memory_mb": [81920] * 4}))
        wait_for(lambda: c.get(5).state is JobState.RUNNING, timeout=10)
        assert c.get(5).gpu_ids == [0]
        d.cli("gcancel", "2", "3", "4", "5", check=True)


# ---------------------------------------------------------------------- items 2, 3: poll robustness


def test_the_poll_survives_a_driver_exception_and_reports_it(make_daemon, short_tmp):
    state = short_tmp / "nvml.json"
    d = _nvml_daemon(make_daemon, state, memory_mb=[1000, 1000])
    with d.client() as c:
        wait_for(lambda: c.status().gpu_poll_ok_at is not None)
        # not an NVMLError: this used to end the poll for good, silently
        state.write_text(json.dumps({"memory_mb": [1000, 1000], "crash": "driver went away"}))
        wait_for(lambda: c.status().gpu_poll_error is not None, timeout=10)
        assert "RuntimeError: driver went away" in c.status().gpu_poll_error
        out = d.cli("gflowd", "status", check=True).stdout
        assert "GPU poll:  last success " in out and "failing: GPU 0: RuntimeError: driver went away" in out
        assert "unknown (query failed since " in d.cli("ginfo", check=True).stdout
        # it recovers, and sees what happened meanwhile
        state.write_text(json.dumps({"memory_mb": [1000, 1000], "processes": {"1": [4242]}}))
        wait_for(lambda: _gpu(c, 1)["reason"] == "unmanaged(pid=4242)", timeout=10)
        assert c.status().gpu_poll_error is None
        assert "failing" not in d.cli("gflowd", "status", check=True).stdout
    assert "GPU process query failed: GPU 0: RuntimeError: driver went away" in d.log_text()


def test_a_gpu_that_cannot_be_queried_is_not_handed_out(make_daemon, short_tmp):
    state = short_tmp / "nvml.json"
    d = _nvml_daemon(make_daemon, state, memory_mb=[1000, 1000], fail={"1": "GPU is lost"})
    with d.client() as c:
        wait_for(lambda: (_gpu(c, 1)["reason"] or "").startswith("unknown (query failed since "))
        assert _gpu(c, 1)["available"] is False and _gpu(c, 0)["available"] is True
        rows = [line.split(None, 4) for line in d.cli("ginfo", check=True).stdout.splitlines()[1:]]
        assert rows[0] == ["gpu", "1", "0", "idle"]
        assert rows[1][:4] == ["gpu", "1", "1", "allocated"]
        assert rows[1][4].startswith("(unknown (query failed since ")
        d.cli("gbatch", "--gpus", "2", "true", check=True)
        wait_for(lambda: c.get(1).reason == "GpuUnknown: query failed")
        state.write_text(json.dumps({"memory_mb": [1000, 1000]}))
        (job,) = c.wait([1], timeout=10)
        assert job.state is JobState.FINISHED and job.gpu_ids == [0, 1]


# ---------------------------------------------------------------------- item 4: device order


def test_jobs_see_gpus_in_pci_order_with_their_uuids(make_daemon, short_tmp):
    d = _nvml_daemon(make_daemon, short_tmp / "nvml.json", memory_mb=[1000, 1000, 1000],
                     uuids=["GPU-aaa", "GPU-bbb", "GPU-ccc"])
    d.cli("gctl", "set-gpus", "1,2", check=True)
    d.cli("gbatch", "--gpus", "2", "echo $CUDA_DEVICE_ORDER $CUDA_VISIBLE_DEVICES $GFLOW_GPU_UUIDS", check=True)
    with d.client() as c:
        (job,) = c.wait([1], timeout=15)
        assert job.state is JobState.FINISHED
        assert c.log(1) == b"PCI_BUS_ID 1,2 GPU-bbb,GPU-ccc\n"


# ---------------------------------------------------------------------- item 5: impossible jobs


def test_jobs_that_can_never_start_are_refused_at_submission(make_daemon):
    d = _fake_daemon(make_daemon, 4, "quota:\n  default_user:\n    max_running_gpus: 3\n")
    cases = [
        (["--gpus", "5", "true"], "job can never start: 5 GPUs > 4 allowed."),
        (["--gpus", "1", "--shared", "--gpu-memory", "100G", "true"], "job can never start: 100G GPU memory > 80G per GPU."),
        (["--memory", "100000G", "true"], "job can never start: 100000G memory > "),
        (["--gpus", "4", "true"], f"job can never start: 4 GPUs > 3 allowed by the quota of user {ME}."),
        (["--gpus", "1", "--shared", "--gpu-memory", "0", "true"], "Shared jobs need a GPU memory limit above 0 (--gpu-memory)."),
    ]
    for argv, message in cases:
        out = d.cli("gbatch", *argv)
        assert out.returncode == 1 and out.stdout == "", argv
        assert out.stderr.startswith(f"gbatch: error: {message}"), (argv, out.stderr)
        assert out.stderr.count("\n") == 1
    assert "Use --allow-pending to submit it anyway" in d.cli("gbatch", "--gpus", "5", "true").stderr
    with d.client() as c:
        assert c.list() == []  # nothing was queued
    # --allow-pending: upstream's behaviour, with a reason that says why
    d.cli("gbatch", "--allow-pending", "--gpus", "5", "true", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(1).reason == "NeverFits: 5 GPUs > 4 allowed")
    d.cli("gbatch", "--hold", "--gpus", "1", "true", check=True)
    out = d.cli("gjob", "update", "2", "--gpus", "6")
    assert out.returncode == 1
    assert "job can never start: 6 GPUs > 4 allowed. Use --allow-pending to update it anyway" in out.stderr
    assert d.cli("gjob", "update", "2", "--priority", "20", check=True).returncode == 0
    d.cli("gjob", "update", "2", "--gpus", "6", "--allow-pending", check=True)
    with d.client() as c:
        assert c.get(2).gpus == 6


def test_a_queued_job_that_becomes_impossible_says_so(make_daemon):
    d = _fake_daemon(make_daemon, 4)
    d.cli("gbatch", "--gpus", "4", "sleep", "300", check=True)
    d.cli("gbatch", "--gpus", "3", "true", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(2).reason == "WaitingForGpu")
        d.cli("gctl", "set-gpus", "0,1", check=True)
        wait_for(lambda: c.get(2).reason == "NeverFits: 3 GPUs > 2 allowed")
        d.cli("gctl", "set-gpus", "all", check=True)
        wait_for(lambda: c.get(2).reason == "WaitingForGpu")
    d.cli("gcancel", "1", check=True)


# ---------------------------------------------------------------------- item 6: backfill


def test_backfill_holds_gpus_for_a_big_job_and_lets_only_short_jobs_use_them(make_daemon):
    d = _fake_daemon(make_daemon, 4)
    d.cli("gbatch", "--gpus", "3", "-t", "10", "sleep", "300", check=True)  # ends by 10 min at the latest
    with d.client() as c:
        wait_for(lambda: c.get(1).state is JobState.RUNNING)
        started = c.get(1).started_at
        d.cli("gbatch", "--gpus", "4", "-p", "100", "true", check=True)
        d.cli("gbatch", "--gpus", "1", "sleep", "300", check=True)  # no limit: would delay job 2
        d.cli("gbatch", "--gpus", "1", "-t", "1", "true", check=True)  # over long before
        (short,) = c.wait([4], timeout=15)
        assert short.state is JobState.FINISHED and short.gpu_ids == [3]
        assert c.get(3).state is JobState.QUEUED and c.get(3).reason == "WaitingForGpu"
        big = c.get(2)
        assert big.planned_start == started + 600
    lines = d.cli("gqueue", "-f", "JOBID,ST,START", check=True).stdout.splitlines()
    row = next(line.split() for line in lines if line.split()[0] == "2")
    assert row[1] == "PD" and row[2].startswith("≈")
    assert any(line.startswith("StartTime≈") for line in d.cli("gjob", "show", "2", check=True).stdout.split())
    d.cli("gcancel", "1", check=True)
    with d.client() as c:
        (big,) = c.wait([2], timeout=15)
        assert big.state is JobState.FINISHED and big.gpu_ids == [0, 1, 2, 3]
        wait_for(lambda: c.get(3).state is JobState.RUNNING)
        assert c.get(3).started_at >= big.finished_at
    d.cli("gcancel", "3", check=True)


def test_without_backfill_small_jobs_take_what_is_free(make_daemon):
    d = _fake_daemon(make_daemon, 4, "scheduler:\n  backfill: false\n")
    d.cli("gbatch", "--gpus", "3", "-t", "10", "sleep", "300", check=True)
    d.cli("gbatch", "--gpus", "4", "-p", "100", "true", check=True)
    d.cli("gbatch", "--gpus", "1", "sleep", "300", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(3).state is JobState.RUNNING)
        assert c.get(2).state is JobState.QUEUED and c.get(2).planned_start is None
    d.cli("gcancel", "1", "2", "3", check=True)


# ---------------------------------------------------------------------- items 7, 8: shared GPUs


GINFO_SHARED = """\
 PARTITION  GPUS  NODES  STATE      JOB(REASON)                        
 gpu        1     0      idle                                          
 gpu        1     0      shared     1 (gjob-1), 2 (gjob-2-b); 40G free 
 gpu        1     1      allocated  3 (gjob-3)                         
"""


def test_shared_jobs_pack_and_each_is_shown(make_daemon):
    d = _fake_daemon(make_daemon, 2)
    d.cli("gbatch", "--shared", "--gpus", "1", "--gpu-memory", "20G", "sleep", "300", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(1).state is JobState.RUNNING)
        assert c.get(1).gpu_ids == [0]
        # GPU 1 is free, but the second shared job joins GPU 0: GPU 1 stays whole
        d.cli("gbatch", "--shared", "--gpus", "1", "--gpu-memory", "20G", "-n", "b", "sleep", "300", check=True)
        wait_for(lambda: c.get(2).state is JobState.RUNNING)
        assert c.get(2).gpu_ids == [0]
        d.cli("gbatch", "--gpus", "1", "sleep", "300", check=True)
        wait_for(lambda: c.get(3).state is JobState.RUNNING)
        assert c.get(3).gpu_ids == [1]
    assert d.cli("ginfo", check=True).stdout == GINFO_SHARED
    assert d.cli("gctl", "show-gpus", check=True).stdout.splitlines() == [
        "0\tavailable\tshared(jobs=1,2, 40960 MB free)", "1\tin_use",
    ]
    d.cli("gcancel", "1", "2", "3", check=True)


# ---------------------------------------------------------------------- reasons behind the first waiting job


def test_jobs_behind_the_first_waiting_one_show_resources_as_upstream(make_daemon):
    d = _fake_daemon(make_daemon, 2)
    d.cli("gbatch", "--gpus", "2", "sleep", "300", check=True)
    with d.client() as c:
        wait_for(lambda: c.get(1).state is JobState.RUNNING)
        for _ in range(3):
            d.cli("gbatch", "--gpus", "1", "true", check=True)
        wait_for(lambda: c.get(4).reason is not None)
        assert [c.get(i).reason for i in (2, 3, 4)] == ["WaitingForGpu", "WaitingForGpu", "WaitingForGpu"]
    rows = d.cli("gqueue", "-f", "JOBID,NODELIST(REASON)", check=True).stdout.splitlines()
    assert [r.split() for r in rows[1:]] == [["1", "0,1"], ["2", "(Resources)"], ["3", "(Resources)"], ["4", "(Resources)"]]
    d.cli("gcancel", "1", check=True)
    with d.client() as c:
        assert all(j.state is JobState.FINISHED for j in c.wait([2, 3, 4], timeout=20))
