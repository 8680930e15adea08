"""What the server takes in: connections per account, bytes of requests being received, and
the file descriptors to hold them (the soft limit raised at start-up).

Both are shared resources of the one daemon process (file descriptors, memory). Without
these bounds one account opening a thousand connections, or starting sixteen 64 MiB requests
and never finishing them, would take them from everybody. Root and admins are trusted to
run the machine and are not counted per account (their bytes still count daemon-wide).
"""
from __future__ import annotations

import asyncio
import resource
from typing import Optional

# requests up to this size are read without a reservation: the per-account connection cap
# already bounds what small unfinished requests can hold
SMALL_REQUEST = 64 * 1024


class ConnectionCount:
    def __init__(self, per_user: int):
        self.per_user = per_user
        self._by_uid: dict[int, int] = {}

    def admit(self, uid: int, exempt: bool) -> bool:
        count = self._by_uid.get(uid, 0)
        if not exempt and count >= self.per_user:
            return False
        self._by_uid[uid] = count + 1
        return True

    def leave(self, uid: int) -> None:
        count = self._by_uid.get(uid, 0) - 1
        if count > 0:
            self._by_uid[uid] = count
        else:
            self._by_uid.pop(uid, None)

    def of(self, uid: int) -> int:
        return self._by_uid.get(uid, 0)


class RequestBudget:
    """Bytes announced by frame headers whose bodies are still arriving. A reservation
    waits until it fits; the server bounds the wait by the frame timeout."""

    def __init__(self, total: int, per_user: int):
        self.per_user = per_user
        self.total = max(total, per_user)  # one largest request must always fit
        self.used = 0
        self._by_uid: dict[int, int] = {}
        self._freed = asyncio.Event()

    def _fits(self, uid: int, exempt: bool, size: int) -> bool:
        if self.used + size > self.total:
            return False
        return exempt or self._by_uid.get(uid, 0) + size <= self.per_user

    async def reserve(self, uid: int, exempt: bool, size: int) -> int:
        """Reserve `size` bytes for `uid`; returns what to `release` (0 for small requests)."""
        if size <= SMALL_REQUEST:
            return 0
        while not self._fits(uid, exempt, size):
            self._freed.clear()
            await self._freed.wait()
        self.used += size
        self._by_uid[uid] = self._by_uid.get(uid, 0) + size
        return size

    def release(self, uid: int, size: int) -> None:
        if not size:
            return
        self.used -= size
        left = self._by_uid.get(uid, 0) - size
        if left > 0:
            self._by_uid[uid] = left
        else:
            self._by_uid.pop(uid, None)
        self._freed.set()


def raise_fd_limit() -> Optional[int]:
    """Soft RLIMIT_NOFILE up to the hard limit, so connections and shepherds' pidfds have room;
    returns the previous soft limit (jobs get it back) or None when unchanged."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return None
    return soft
