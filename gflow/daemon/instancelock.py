"""One daemon per state directory: an flock held for the daemon's life.

The kernel drops the lock when the daemon dies, so a crash never blocks the next start. The
file is 0600 in a directory only the daemon's account may write: another account can neither
open it (to hold it and stop the daemon from starting) nor replace it. When the lock is taken
the error says who holds it, from /proc/locks (the kernel's view) or else the pid the daemon
wrote into the file.
"""
from __future__ import annotations

import fcntl
import os
import pwd
from typing import Optional


class LockBusy(Exception):
    """The lock is held; the message names the holder when it can be found."""

    def __init__(self, path: str, pid: Optional[int], holder: str):
        super().__init__(holder)
        self.path = path
        self.pid = pid
        self.holder = holder


class InstanceLock:
    def __init__(self, path: str):
        self.path = path
        self.fd: Optional[int] = None

    def acquire(self) -> None:
        """Take the lock or raise LockBusy; OSError when the file cannot be opened at all."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # installs from before the file was private
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, holder = describe_holder(fd)
            os.close(fd)
            raise LockBusy(self.path, pid, holder) from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def holder_pid(lock_path: str) -> Optional[int]:
    """PID of the running daemon, or None when the lock is free (no daemon, or a stale file);
    -1 when it is held but the holder cannot be named."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 64, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def describe_holder(fd: int) -> tuple[Optional[int], str]:
    """(pid, words) for whoever holds the flock on `fd`'s file."""
    written = os.pread(fd, 64, 0).decode(errors="replace").strip()
    pids = _lock_holders(os.fstat(fd))
    pid = pids[0] if pids else (int(written) if written.isdigit() else None)
    if pid is None:
        return None, "an unknown process"
    return pid, f"PID {pid}{_who(pid)}"


def _lock_holders(st: os.stat_result) -> list[int]:
    """Pids /proc/locks shows holding a lock on this inode (waiters, lines with '->', skipped)."""
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    found = []
    try:
        with open("/proc/locks") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 6 or fields[1] == "->":
                    continue
                if fields[5] == key and fields[4].isdigit():
                    found.append(int(fields[4]))
    except OSError:
        pass
    return found


def _who(pid: int) -> str:
    """' (user NAME: COMMAND)' for a live pid, '' when it cannot be read."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return ""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    command = " ".join(argv)[:80] or "?"
    return f" (user {user}: {command})"
