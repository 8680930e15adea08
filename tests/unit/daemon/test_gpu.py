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
