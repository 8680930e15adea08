"""`gjob log` on the daemon side: open a job's log safely and stream it in bounded chunks.

The log directory of a job belongs to its owner, so whatever sits at the log's path is the
owner's choice. A root daemon must not follow a link they planted, print a file someone else
owns that they hard-linked there, or block on a FIFO. So: O_NOFOLLOW|O_NONBLOCK, then fstat
the open file: a regular file, owned by the job's owner, with one link, or refused.

Every read runs on a small thread pool of its own, with a timeout and at most a few reads
per caller at a time: reads stuck on a strange file system tie up only that caller's share,
and never the threads that enforce memory limits or poll the GPUs. Only the bytes that will
be printed are read (`--first` scans forward, `--last` scans back from the end), at most
`cap` of them, one chunk in memory at a time.
"""
from __future__ import annotations

import asyncio
import errno
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator, Optional

from ..protocol import ErrorCode, GflowError

CHUNK = 256 * 1024
_THREADS = 8
_PER_CALLER = 2  # reads in flight per uid: one account can never hold the whole pool


def open_log(path: str, owner_uid: int) -> Optional[tuple[int, int]]:
    """(fd, size) of the log, None when there is none yet; GflowError when refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _refused(path, "it is a symbolic link") from None
        raise GflowError(ErrorCode.CONFLICT, f"Failed to open log file '{path}': {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refused(path, "it is not a regular file")
        if st.st_uid != owner_uid:
            raise _refused(path, f"it belongs to uid {st.st_uid}, not to the job's owner")
        if st.st_nlink != 1:
            raise _refused(path, f"it has {st.st_nlink} hard links (a log has exactly one)")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def _refused(path: str, why: str) -> GflowError:
    return GflowError(ErrorCode.FORBIDDEN, f"refusing to read log file '{path}': {why}")


def first_lines_end(fd: int, lines: int, cap: int) -> int:
    """Offset just past the `lines`-th newline (or EOF), reading at most `cap` bytes."""
    pos, need = 0, lines
    while pos < cap:
        data = os.pread(fd, min(CHUNK, cap - pos), pos)
        if not data:
            return pos
        at = data.find(b"\n")
        while at >= 0:
            need -= 1
            if need == 0:
                return pos + at + 1
            at = data.find(b"\n", at + 1)
        pos += len(data)
    return pos


def last_lines_start(fd: int, size: int, lines: int, cap: int) -> int:
    """Offset where the last `lines` lines of the first `size` bytes begin, looking back at
    most `cap` bytes. A newline as the very last byte ends the last line, it starts none."""
    floor = max(0, size - cap)
    pos, need = size, lines
    while pos > floor:
        start = max(floor, pos - CHUNK)
        data = os.pread(fd, pos - start, start)
        if len(data) < pos - start:
            return start  # truncated meanwhile: show what is there
        end = len(data) - 1 if pos == size and data.endswith(b"\n") else len(data)
        at = data.rfind(b"\n", 0, end)
        while at >= 0:
            need -= 1
            if need == 0:
                return start + at + 1
            at = data.rfind(b"\n", 0, at)
        pos = start
    return floor


def _close_opened(opened: Optional[tuple[int, int]]) -> None:
    if opened is not None:
        os.close(opened[0])


class LogReader:
    def __init__(self, cap: int, timeout_secs: float):
        self.cap = cap
        self.timeout = timeout_secs
        self._pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="gflow-logread")
        self._slots: dict[int, asyncio.Semaphore] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def read(self, uid: int, path: str, owner_uid: int, first: Optional[int],
                   last: Optional[int], max_bytes: int) -> AsyncIterator[Optional[bytes]]:
        """The bytes `gjob log` prints, chunk by chunk; a single None when there is no log."""
        cap = min(max_bytes, self.cap)
        opened = await self._run(uid, open_log, path, owner_uid, on_late=_close_opened)
        if opened is None:
            yield None
            return
        fd, size = opened
        try:
            if first is not None:
                start, end = 0, await self._run(uid, first_lines_end, fd, first, cap)
            elif last is not None:
                start, end = await self._run(uid, last_lines_start, fd, size, last, cap), size
            else:
                start, end = max(0, size - cap), size
            sent = False
            while start < end:
                data = await self._run(uid, os.pread, fd, min(CHUNK, end - start), start)
                if not data:
                    break
                start += len(data)
                sent = True
                yield data
            if not sent:
                yield b""
        finally:
            self._pool.submit(os.close, fd)

    async def _run(self, uid: int, fn, *args, on_late=None):
        """`fn(*args)` on the pool. The caller's slot is freed when the thread is done, not
        when we stop waiting: a read stuck for good keeps its slot, so it stays counted."""
        slots = self._slots.get(uid)
        if slots is None:
            slots = self._slots[uid] = asyncio.Semaphore(_PER_CALLER)
        try:
            await asyncio.wait_for(slots.acquire(), self.timeout)
        except asyncio.TimeoutError:
            raise GflowError(
                ErrorCode.BUSY,
                f"too many log reads of this account still in progress (at most {_PER_CALLER} at a time); try again later",
            ) from None
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        gave_up = False

        def done(f: asyncio.Future) -> None:
            slots.release()
            if f.cancelled() or f.exception() is not None:
                return  # retrieved, so an abandoned read's error is not reported as lost
            if gave_up and on_late is not None:
                on_late(f.result())

        future.add_done_callback(done)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except asyncio.TimeoutError:
            gave_up = True
            raise GflowError(ErrorCode.BUSY, f"reading the log took longer than {self.timeout:g} s; gave up") from None
