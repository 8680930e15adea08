"""GPU inventory and occupancy. NVML (`nvidia-ml-py`) is imported lazily, by the daemon only;
without a driver the machine simply has zero GPUs. The fake backend serves tests and demos.

NVML has no events for "a process started on GPU 2", so `gpu_poll.GpuPoll` queries compute
processes in a worker thread (periodically, right after launches, and for each GPU a job
gives back) and hands the answer to `apply`, on the loop. What the backend then knows:

- a GPU nobody in gflow holds, with a compute process on it: unavailable, `unmanaged(pid=…)`;
- a GPU a job holds, with a process outside that job's process tree: the job runs *beside*
  it (shown as "shared with pid …"); once the job ends, the GPU is blocked by it;
- a GPU whose query failed: unavailable, `unknown (query failed since …)` (a GPU
  we cannot see is not handed out; a job already on it keeps it);
- a GPU just given back: unavailable until its own query answers (`verifying`), so it is
  never handed on beside a process the last poll could not see.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Iterable, Optional

from ..config import GpuConfig
from ..core.scheduler import Gpu

log = logging.getLogger("gflow.gpu")


@dataclasses.dataclass
class Query:
    """One answer from the driver (built in a worker thread, applied on the loop)."""

    pids: dict[int, list[int]]  # GPU -> compute pids, for each GPU that answered
    failed: dict[int, str]  # GPU -> why its query failed
    at: float  # when the answer was complete
    started: float = 0.0  # when the question was asked
    trees: dict[int, set[int]] = dataclasses.field(default_factory=dict)  # GPU -> its holders' pids


class GpuBackend:
    name = "none"
    # False: the driver cannot list processes (fake backend): nothing to verify or watch
    sees_processes = False

    def __init__(self) -> None:
        self._devices: list[Gpu] = []
        self._unmanaged: dict[int, list[int]] = {}
        self._beside: dict[int, list[int]] = {}  # held GPU -> foreign pids next to the job
        self._failed: dict[int, tuple[float, str]] = {}  # GPU -> (failing since, error)
        self._verifying: dict[int, float] = {}  # GPU given back -> when

    # ------------------------------------------------------------------ what the scheduler sees
    def devices(self) -> list[Gpu]:
        """Every GPU; unavailable while a foreign process holds it, its state is unknown,
        or it was just given back and is being looked at."""
        if not (self._unmanaged or self._failed or self._verifying):
            return self._devices
        return [self._device(g) for g in self._devices]

    def _device(self, g: Gpu) -> Gpu:
        i = g.index
        if i in self._unmanaged:
            return dataclasses.replace(g, available=False, note=f"Unmanaged: pid {_pids(self._unmanaged[i])}")
        if i in self._failed:
            return dataclasses.replace(g, available=False, note="GpuUnknown: query failed")
        if i in self._verifying:
            return dataclasses.replace(g, available=False)
        return g

    def reason(self, index: int) -> Optional[str]:
        pids = self._unmanaged.get(index)
        if pids:
            return f"unmanaged(pid={','.join(map(str, pids))})"
        failed = self._failed.get(index)
        if failed is not None:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(failed[0]))
            return f"unknown (query failed since {since})"
        if index in self._verifying:
            return "verifying"
        return None

    def beside(self, index: int) -> list[int]:
        """Foreign pids on a GPU that a gflow job holds."""
        return self._beside.get(index, [])

    def uuid(self, index: int) -> Optional[str]:
        return None

    # ------------------------------------------------------------------ driver
    def query(self, indices: Optional[Iterable[int]] = None) -> Optional[Query]:
        """Compute processes of these GPUs (all when None), never raising: a GPU whose query
        fails is reported in `failed`. None when the driver cannot list processes. Runs in
        a worker thread."""
        return None

    def compute_pids(self) -> Optional[dict[int, list[int]]]:
        """GPU index → pids of compute processes; None when unsupported or failed."""
        answer = self.query()
        if answer is None or answer.failed:
            return None
        return answer.pids

    # ------------------------------------------------------------------ bookkeeping (loop)
    def freed(self, indices: Iterable[int]) -> None:
        """These GPUs were just given back: not handed out until a query has looked."""
        if self.sees_processes:
            now = time.time()
            for i in indices:
                self._verifying[i] = now

    def apply(self, answer: Query, held: set[int]) -> bool:
        """Record an answer (after the ignore list was applied to its pids); True if what
        the scheduler may use changed. `held`: GPUs that gflow jobs hold now."""
        before = self._picture()
        for i, error in answer.failed.items():
            self._looked_at(i, answer)
            if i not in self._failed:
                self._failed[i] = (answer.at, error)
            self._unmanaged.pop(i, None)
        for i, found in answer.pids.items():
            self._looked_at(i, answer)
            self._failed.pop(i, None)
            pids = sorted(set(found))
            if i in held:
                self._unmanaged.pop(i, None)
                mine = answer.trees.get(i)
                foreign = [p for p in pids if mine is not None and p not in mine]
                if foreign:
                    self._beside[i] = foreign
                else:
                    self._beside.pop(i, None)
            else:
                self._beside.pop(i, None)
                if pids:
                    self._unmanaged[i] = pids
                else:
                    self._unmanaged.pop(i, None)
        return self._picture() != before

    def _looked_at(self, index: int, answer: Query) -> None:
        # an answer to a question asked before the GPU was given back proves nothing
        freed_at = self._verifying.get(index)
        if freed_at is not None and answer.started >= freed_at:
            del self._verifying[index]

    def apply_processes(self, pids: Optional[dict[int, list[int]]], held: set[int]) -> bool:
        """`apply` for a plain GPU → pids map (tests, older callers)."""
        if pids is None:
            return False
        now = time.time()
        return self.apply(Query(pids=pids, failed={}, at=now, started=now), held)

    def _picture(self) -> tuple:
        return (
            {i: tuple(p) for i, p in self._unmanaged.items()},
            frozenset(self._failed),
            frozenset(self._verifying),
        )


def _pids(pids: list[int]) -> str:
    return ",".join(map(str, pids))


class FakeGpus(GpuBackend):
    name = "fake"

    def __init__(self, count: int, memory_mb: int):
        super().__init__()
        self._devices = [Gpu(index=i, memory_mb=memory_mb) for i in range(count)]


class NvmlGpus(GpuBackend):
    name = "nvml"
    sees_processes = True

    def __init__(self, nvml):
        super().__init__()
        self._nvml = nvml
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        self._devices = [
            Gpu(index=i, memory_mb=nvml.nvmlDeviceGetMemoryInfo(h).total // (1024 * 1024))
            for i, h in enumerate(self._handles)
        ]
        self._uuids: dict[int, Optional[str]] = {}
        for i, h in enumerate(self._handles):
            try:
                uuid = nvml.nvmlDeviceGetUUID(h)
                self._uuids[i] = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
            except Exception:  # an old driver without UUIDs: jobs simply get none
                self._uuids[i] = None

    def uuid(self, index: int) -> Optional[str]:
        return self._uuids.get(index)

    def query(self, indices: Optional[Iterable[int]] = None) -> Optional[Query]:
        started = time.time()
        wanted = range(len(self._handles)) if indices is None else indices
        pids: dict[int, list[int]] = {}
        failed: dict[int, str] = {}
        for i in wanted:
            if not 0 <= i < len(self._handles):
                continue
            try:
                found = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handles[i])
                pids[i] = sorted({p.pid for p in found})
            except Exception as e:  # NVMLError or anything else: this GPU is unknown
                failed[i] = f"{type(e).__name__}: {e}"
        return Query(pids=pids, failed=failed, at=time.time(), started=started)


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
