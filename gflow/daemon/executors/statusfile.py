"""The record a shepherd leaves of how its job ended, read back by the daemon.

Written by ``shepherd.py`` (stdlib only, so it has its own writer) into ``<id>.status.reserve``,
room the daemon made before the start (`RESERVE_BYTES` of spaces), filled in place; or, where
that fails, into ``<id>.status.json``. A record that is missing, unreadable or another job's
says the job vanished.
"""
from __future__ import annotations

import os
import time
from typing import Optional

import msgspec

from .base import ExitStatus

# Room for the record, written by the daemon before the job starts (ext4 and xfs reserve the
# blocks at write time, tmpfs allocates them): the shepherd overwrites it in place, so how a
# job ended is not lost for want of space on a full disk.
# (A copy-on-write filesystem needs new blocks for any overwrite; there the reserve cannot help.)
RESERVE_BYTES = 4096


class _Record(msgspec.Struct):
    version: int
    job_id: int
    exit_code: Optional[int]
    signal: Optional[int]
    started_at: Optional[float]
    finished_at: float
    launch_error: Optional[str] = None
    cpu_secs: Optional[float] = None


def vanished() -> ExitStatus:
    return ExitStatus(exit_code=None, signal=None, started_at=None,
                      finished_at=time.time(), vanished=True)


def find(reserve_path: str, json_path: str) -> tuple[Optional[bytes], bool]:
    """The record a gone shepherd left, and whether it was in its reserve (written in place)
    rather than in ``status.json`` (a shepherd without a reserve, or one of an older gflow)."""
    for path in (reserve_path, json_path):
        data = _read(path)
        if data is not None and data[:1] == b"{":
            return data, path == reserve_path
    return None, False


def decode(data: Optional[bytes], job_id: int) -> ExitStatus:
    """``job_id``'s status from a record; vanished when there is none or it is unusable."""
    try:
        rec = msgspec.json.decode(data or b"", type=_Record)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return vanished()
    if rec.job_id != job_id:
        return vanished()
    return ExitStatus(exit_code=rec.exit_code, signal=rec.signal,
                      started_at=rec.started_at, finished_at=rec.finished_at,
                      launch_error=rec.launch_error, cpu_secs=rec.cpu_secs)


def _read(path: str) -> Optional[bytes]:
    """A whole file (None if it cannot be read), without a buffered file object: a status
    is read once per job."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, RESERVE_BYTES * 2)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
