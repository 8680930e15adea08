"""GPU inventory. NVML (`nvidia-ml-py`) is imported lazily and only by the daemon; without a
driver the machine simply has zero GPUs. The fake backend serves tests and demos."""
from __future__ import annotations

import logging
from typing import Optional

from ..config import GpuConfig
from ..core.scheduler import Gpu

log = logging.getLogger("gflow.gpu")


class GpuBackend:
    name = "none"

    def devices(self) -> list[Gpu]:
        return []

    def compute_pids(self) -> Optional[dict[int, list[int]]]:
        """GPU index → pids of compute processes; None when the query is unsupported."""
        return None


class FakeGpus(GpuBackend):
    name = "fake"

    def __init__(self, count: int, memory_mb: int):
        self._devices = [Gpu(index=i, memory_mb=memory_mb) for i in range(count)]

    def devices(self) -> list[Gpu]:
        return self._devices

    def compute_pids(self) -> dict[int, list[int]]:
        return {g.index: [] for g in self._devices}


class NvmlGpus(GpuBackend):
    name = "nvml"

    def __init__(self, nvml):
        self._nvml = nvml
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        self._devices = [
            Gpu(index=i, memory_mb=nvml.nvmlDeviceGetMemoryInfo(h).total // (1024 * 1024))
            for i, h in enumerate(self._handles)
        ]

    def devices(self) -> list[Gpu]:
        return self._devices

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
