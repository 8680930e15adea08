"""The NVML adapter, run against the stand-in pynvml in tests/fakes."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from gflow.config import GpuConfig
from gflow.daemon import gpu

FAKES = Path(__file__).resolve().parents[2] / "fakes"


@pytest.fixture
def fake_nvml(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("pynvml", FAKES / "pynvml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    state = tmp_path / "nvml.json"
    monkeypatch.setenv("GFLOW_FAKE_NVML", str(state))

    def write(**content):
        state.write_text(json.dumps(content))

    write(memory_mb=[81920, 40960])
    return write


def test_nvml_devices_and_memory(fake_nvml):
    backend = gpu.open_backend(GpuConfig())
    assert backend.name == "nvml"
    assert [(g.index, g.memory_mb, g.available) for g in backend.devices()] == [(0, 81920, True), (1, 40960, True)]


def test_unmanaged_processes_make_a_gpu_unavailable(fake_nvml):
    backend = gpu.open_backend(GpuConfig())
    fake_nvml(memory_mb=[81920, 40960], processes={"1": [4242, 17, 4242], "0": [99]})
    changed = backend.apply_processes(backend.compute_pids(), held={0})
    assert changed
    assert [g.available for g in backend.devices()] == [True, False]
    assert backend.reason(1) == "unmanaged(pid=17,4242)"
    assert backend.reason(0) is None  # held by a running gflow job: its own processes
    fake_nvml(memory_mb=[81920, 40960])
    assert backend.apply_processes(backend.compute_pids(), held=set())
    assert all(g.available for g in backend.devices())


def test_no_driver_means_no_gpus(monkeypatch, fake_nvml):
    monkeypatch.delenv("GFLOW_FAKE_NVML")
    backend = gpu.open_backend(GpuConfig())
    assert backend.name == "none" and backend.devices() == []


def test_fake_backend():
    backend = gpu.open_backend(GpuConfig(backend="fake", count=3, memory_mb=1000))
    assert [g.index for g in backend.devices()] == [0, 1, 2]
    assert backend.compute_pids() is None


def test_a_foreign_process_beside_a_job_is_recorded_and_blocks_the_gpu_after_it(fake_nvml):
    backend = gpu.open_backend(GpuConfig())
    fake_nvml(memory_mb=[81920, 40960], processes={"0": [100, 101, 4242]})
    answer = backend.query()
    answer.trees = {0: {100, 101}}  # the holding job's shepherd and its child
    backend.apply(answer, held={0})
    assert backend.beside(0) == [4242] and backend.devices()[0].available
    backend.freed({0})  # the job ended: GPU 0 waits for its own look
    assert backend.devices()[0].available is False and backend.reason(0) == "verifying"
    fake_nvml(memory_mb=[81920, 40960], processes={"0": [4242]})
    assert backend.apply(backend.query([0]), held=set())
    assert backend.devices()[0] == gpu.Gpu(0, 81920, available=False, note="Unmanaged: pid 4242")
    assert backend.reason(0) == "unmanaged(pid=4242)" and backend.beside(0) == []


def test_an_answer_asked_before_a_gpu_was_given_back_does_not_clear_it(fake_nvml):
    backend = gpu.open_backend(GpuConfig())
    early = backend.query()
    backend.freed({1})
    backend.apply(early, held=set())
    assert backend.reason(1) == "verifying"
    backend.apply(backend.query([1]), held=set())
    assert backend.reason(1) is None and backend.devices()[1].available


def test_a_failed_query_makes_that_gpu_unknown_until_it_answers(fake_nvml):
    backend = gpu.open_backend(GpuConfig())
    fake_nvml(memory_mb=[81920, 40960], fail={"1": "GPU is lost"})
    answer = backend.query()
    assert answer.failed == {1: "NVMLError: GPU is lost"} and answer.pids == {0: []}
    assert backend.apply(answer, held=set())
    assert [g.available for g in backend.devices()] == [True, False]
    assert backend.reason(1).startswith("unknown (query failed since ")
    fake_nvml(memory_mb=[81920, 40960], crash="surprise")  # not an NVMLError: still per GPU
    assert set(backend.query().failed) == {0, 1}
    fake_nvml(memory_mb=[81920, 40960])
    assert backend.apply(backend.query(), held=set())
    assert all(g.available for g in backend.devices())


def test_uuids_come_from_nvml(fake_nvml):
    fake_nvml(memory_mb=[1000, 1000], uuids=["GPU-a", "GPU-b"])
    backend = gpu.open_backend(GpuConfig())
    assert [backend.uuid(0), backend.uuid(1), backend.uuid(5)] == ["GPU-a", "GPU-b", None]
    assert gpu.open_backend(GpuConfig(backend="fake", count=1)).uuid(0) is None
