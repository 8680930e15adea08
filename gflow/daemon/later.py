"""Work the daemon could not save because the state disk was full, tried again later.

Nothing announces that space was freed, so a timer it is, armed only while something waits:
a finished job's exit (its status file is kept meanwhile), a time limit, a scheduling pass.
Each piece of work is keyed, so retrying the same thing twice is never queued twice, and it
re-queues itself if the disk is still full.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Hashable, Optional

log = logging.getLogger("gflow.later")

RETRY_SECS = 2.0


class Later:
    def __init__(self, interval: float = RETRY_SECS):
        self.interval = interval
        self._pending: dict[Hashable, Callable[[], None]] = {}
        self._handle: Optional[asyncio.TimerHandle] = None

    def add(self, key: Hashable, work: Callable[[], None]) -> None:
        self._pending[key] = work
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.interval, self._run)

    def __len__(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        self._handle = None
        pending, self._pending = self._pending, {}
        for work in pending.values():
            try:
                work()  # adds itself back when the disk is still full
            except Exception:  # noqa: BLE001 - one failure must not drop the others
                log.exception("retrying deferred work failed")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._pending.clear()
