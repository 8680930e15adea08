"""Runner files recycled rather than created and deleted for every job.

A job's spec and status reserve (``process.py``) live only as long as the job. Creating a file
costs an inode allocation, and on some filesystems (ext4 without a journal) that allocation
scans past every inode freed in the last seconds: a stream of short jobs, each creating and
deleting a few files, pays more for that than for its own fork. So a job's runner files
(spec, reserve, the shepherd's stderr), once its outcome is committed, are renamed to
``spare.<kind>.<n>`` instead of deleted, and the next launch rewrites a spare and renames it
into place (the fork server does it for the stderr, whose name is the mark that a launch
began): a rename neither allocates nor frees an inode. A recycled reserve keeps its blocks
too (a full disk cannot refuse its rewrite).

Content is written before the rename, so a name a job reads (``<id>.spec.json``,
``<id>.status.reserve``) never holds another job's data, whenever the daemon dies; a spare's
content is never read. Spares left by a previous daemon are taken over at start-up.

The pool belongs to the event loop: renames into the pool run in the cleanup worker thread,
under names the loop handed out (``reserve``), and join the pool when the loop hears back
(``returned``).
"""
from __future__ import annotations

import os
from typing import Optional

KINDS = ("spec", "reserve", "err")
_PREFIX = "spare."
# per kind: a burst of ends is recycled a cleanup at a time, each holding a few hundred jobs
# at most; beyond this, files are deleted as before
KEEP = 256


class Spares:
    def __init__(self, directory: str, keep: int = KEEP) -> None:
        self._dir = directory
        self._keep = keep
        self._free: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self._promised = {kind: 0 for kind in KINDS}  # names handed to the thread, not back yet
        self._next = 0
        self._take_over()

    def _take_over(self) -> None:
        try:
            names = os.listdir(self._dir)
        except OSError:
            return
        for name in names:
            if not name.startswith(_PREFIX):
                continue
            kind, _, number = name[len(_PREFIX):].partition(".")
            if kind in self._free and number.isdigit():
                self._free[kind].append(os.path.join(self._dir, name))
                self._next = max(self._next, int(number) + 1)

    def count(self, kind: str) -> int:
        return len(self._free[kind])

    def write(self, kind: str, path: str, data: bytes) -> bool:
        """``data`` at ``path`` through a spare of ``kind``: rewritten, then renamed there.
        False when there is none (the caller creates the file). A spare that fails (ENOSPC, …)
        is deleted and the error raised: nothing half-written is left under either name."""
        free = self._free[kind]
        if not free:
            return False
        spare = free.pop()
        try:
            _rewrite(spare, data)
            os.rename(spare, path)
        except OSError:
            _unlink(spare)
            raise
        return True

    def take(self, kind: str) -> Optional[str]:
        """A spare of ``kind`` for the caller to rename into place (or None); it is the
        caller's now: ``put_back`` if it ends up unused."""
        free = self._free[kind]
        return free.pop() if free else None

    def put_back(self, kind: str, spare: str) -> None:
        self._free[kind].append(spare)

    def reserve(self, kind: str) -> Optional[str]:
        """A fresh spare name for a file about to be recycled (in the worker thread), or None
        when the pool is full: that file is deleted."""
        if len(self._free[kind]) + self._promised[kind] >= self._keep:
            return None
        self._promised[kind] += 1
        self._next += 1
        return f"{self._dir}/{_PREFIX}{kind}.{self._next}"

    def returned(self, kind: str, spare: Optional[str]) -> None:
        """The worker's answer for a name from ``reserve``: the file renamed there (``spare``),
        or None (it was missing or could not be renamed)."""
        self._promised[kind] -= 1
        if spare is not None:
            self._free[kind].append(spare)


def recycle(path: str, spare: Optional[str]) -> Optional[str]:
    """In the worker thread: ``path`` renamed to ``spare`` (deleted when there is no spare);
    the spare's path when it is one now."""
    try:
        if spare is None:
            os.unlink(path)
            return None
        os.rename(path, spare)
        return spare
    except OSError:
        _unlink(path)
        return None


def _rewrite(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        view = memoryview(data)
        done = 0
        while done < len(view):
            done += os.pwrite(fd, view[done:], done)
        # to the new length, not to 0 first: the blocks it has stay its own
        os.ftruncate(fd, len(view))
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
