"""The machine as the scheduler sees it: its GPUs (the backend), which of them the daemon may
hand out (`gctl set-gpus`, config, `gflowd up --gpus`) and the host's memory.

Read by the scheduling pass, the policy (reservations count usable GPUs) and the handlers; a
change of the allowed GPUs is saved, then announced as `SettingsChanged`, which asks for a
pass (a settings change may let waiting jobs start).
"""
from __future__ import annotations

import logging
from typing import Iterable, Optional

from ..core.scheduler import Gpu
from .events import EventBus, SettingsChanged
from .gpu import GpuBackend
from .refusals import bad_request
from .store import JobStore

log = logging.getLogger("gflow.engine")


class Machine:
    def __init__(self, gpus: GpuBackend, store: JobStore, events: EventBus, configured: Optional[Iterable[int]]):
        self.gpus = gpus
        self.store = store
        self.events = events
        # config and `gflowd up --gpus` win over a runtime `gctl set-gpus` (upstream 8.23)
        wanted = configured if configured is not None else store.get_meta("allowed_gpus")
        self.allowed_gpus: Optional[set[int]] = self._valid_gpu_set(wanted)
        self.host_memory_mb = _host_memory_mb()

    def devices(self) -> list[Gpu]:
        return self.gpus.devices()

    def _valid_gpu_set(self, indices) -> Optional[set[int]]:
        """Drop indices the machine does not have; nothing left means every GPU."""
        if indices is None:
            return None
        present = {g.index for g in self.gpus.devices()}
        kept = {i for i in indices if i in present}
        dropped = sorted(set(indices) - kept)
        if dropped:
            log.warning("ignoring GPU indices %s: only %d GPUs detected", dropped, len(present))
        return kept or None

    def set_allowed_gpus(self, indices: Optional[list[int]]) -> None:
        if indices is not None and not indices:
            # at start-up an empty set means every GPU: refused here, so the daemon never
            # runs with a set that means the opposite after a restart
            raise bad_request("no GPU given: an empty set would let no GPU job start; name at least one GPU, or 'all'")
        if indices is not None:
            present = {g.index for g in self.gpus.devices()}
            bad = sorted(set(indices) - present)
            if bad:
                raise bad_request(f"Invalid GPU indices {bad} (only {len(present)} GPUs detected)")
        self.store.set_meta("allowed_gpus", indices)
        self.allowed_gpus = set(indices) if indices is not None else None
        self.events.emit(SettingsChanged("allowed_gpus"))


def _host_memory_mb() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 16 * 1024
