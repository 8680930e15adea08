"""GPU inventory and occupancy. NVML (`nvidia-ml-py`) is imported lazily, by the daemon only;
without a driver the machine simply has zero GPUs. The fake backend serves tests and demos.

NVML has no events for "a process started on GPU 2", so the daemon polls compute processes
every `daemon.gpu_poll_interval_secs` in a worker thread and hands the result to the loop;
a GPU with a compute process that no running gflow job explains is unavailable (SPEC 4.6).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Optional

from ..config import GpuConfig
from ..core.scheduler import Gpu

log = logging.getLogger("gflow.gpu")


class GpuBackend:
    name = "none"

    def __init__(self) -> None:
        self._devices: list[Gpu] = []
        self._unmanaged: dict[int, list[int]] = {}

    def devices(self) -> list[Gpu]:
        """Every GPU, unavailable while an unmanaged process holds it."""
        if not self._unmanaged:
            return self._devices
        return [dataclasses.replace(g, available=g.index not in self._unmanaged) for g in self._devices]

    def reason(self, index: int) -> Optional[str]:
        pids = self._unmanaged.get(index)
        return f"unmanaged(pid={','.join(map(str, pids))})" if pids else None

    def compute_pids(self) -> Optional[dict[int, list[int]]]:
        """GPU index → pids of compute processes; None when the query is unsupported."""
        return None

    def apply_processes(self, pids: Optional[dict[int, list[int]]], held: set[int]) -> bool:
        """Record which GPUs foreign processes occupy; True if availability changed.
        GPUs held by running gflow jobs are theirs, whatever runs on them."""
        if pids is None:
            return False
        unmanaged = {i: sorted(set(p)) for i, p in pids.items() if p and i not in held}
        changed = set(unmanaged) != set(self._unmanaged)
        self._unmanaged = unmanaged
        return changed


class FakeGpus(GpuBackend):
    name = "fake"

    def __init__(self, count: int, memory_mb: int):
        super().__init__()
        self._devices = [Gpu(index=i, memory_mb=memory_mb) for i in range(count)]


class NvmlGpus(GpuBackend):
    name = "nvml"

    def __init__(self, nvml):
        super().__init__()
        self._nvml = nvml
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        self._devices = [
            Gpu(index=i, memory_mb=nvml.nvmlDeviceGetMemoryInfo(h).total // (1024 * 1024))
            for i, h in enumerate(self._handles)
        ]

    def compute_pids(self) -> Optional[dict[int, list[int]]]:
        try:
            return {
                i: sorted({p.pid for p in self._nvml.nvmlDeviceGetComputeRunningProcesses(h)})
                for i, h in enumerate(self._handles)
            }
        except self._nvml.NVMLError as e:
            log.warning("GPU process query failed: %s", e)
            return None


def open_backend(cfg: GpuConfig) -> GpuBackend:
    if cfg.backend == "fake":
        return FakeGpus(cfg.count, cfg.memory_mb)
    if cfg.backend == "none":
        return GpuBackend()
    try:
        import pynvml

        pynvml.nvmlInit()
        return NvmlGpus(pynvml)
    except Exception as e:  # no library, no driver, no device: all mean "no GPUs here"
        log.info("NVML unavailable (%s); running without GPUs", e)
        return GpuBackend()
