"""Who is calling, from the kernel, and what they may do.

The caller is the uid that SO_PEERCRED reports for the connected socket; names come from
passwd. Nothing a client sends (USER, LOGNAME, request fields) ever decides identity.
"""
from __future__ import annotations

import grp
import os
import pwd
import socket
import stat
import struct
import time
from dataclasses import dataclass
from typing import Callable, Optional

from ..protocol import ErrorCode, GflowError, Job

_UCRED = struct.Struct("3i")


@dataclass(frozen=True)
class Caller:
    pid: int
    uid: int
    gid: int
    user: str
    admin: bool


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return _UCRED.unpack(raw)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)  # an account without a passwd entry still has an identity


class Passwd:
    """`pwd.getpwuid` for a stream of job starts: each start reads the account's home,
    shell and group, and NSS would open and parse /etc/passwd every time. An entry is reused
    only while /etc/passwd is the same file, unchanged (inode, mtime, size: useradd, userdel,
    usermod and vipw all replace or rewrite it), and for at most `ttl` seconds, for accounts
    from other sources (LDAP, SSSD: their own caches keep entries far longer). The uid a job
    runs as is the job's own; at worst a job started within that second of an account change
    gets the home, shell or group the account had just before. A missing account is never
    remembered: the next lookup asks again."""

    def __init__(self, path: str = "/etc/passwd", ttl: float = 1.0,
                 lookup: Callable[[int], pwd.struct_passwd] = pwd.getpwuid,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._ttl = ttl
        self._lookup = lookup
        self._clock = clock
        self._file: Optional[tuple[int, int, int, int]] = None
        self._entries: dict[int, tuple[float, pwd.struct_passwd]] = {}

    def __call__(self, uid: int) -> pwd.struct_passwd:
        try:
            st = os.stat(self._path)
            file: Optional[tuple[int, int, int, int]] = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            file = None
        if file is None or file != self._file:
            self._entries.clear()
            self._file = file
        now = self._clock()
        known = self._entries.get(uid)
        if known is not None and now - known[0] < self._ttl:
            return known[1]
        entry = self._lookup(uid)  # KeyError: no such account, nothing remembered
        if file is not None:
            self._entries[uid] = (now, entry)
        return entry


def group_ids(uid: int) -> set[int]:
    """Primary and supplementary groups of an account, as initgroups would set them."""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return set()
    return set(os.getgrouplist(entry.pw_name, entry.pw_gid))


def is_admin(uid: int, daemon_uid: int, admin_group: Optional[str]) -> bool:
    if uid in (0, daemon_uid):
        return True
    if not admin_group:
        return False
    try:
        gid = grp.getgrnam(admin_group).gr_gid
    except KeyError:
        return False
    return gid in group_ids(uid)


def may_connect(uid: int, daemon_uid: int, system_mode: bool) -> bool:
    """A personal daemon serves only its owner (and root); the system daemon serves anyone
    who can reach its socket, the file mode deciding who that is."""
    return system_mode or uid in (0, daemon_uid)


ACTION_VERBS = {
    "cancel": "cancel it",
    "hold": "hold it",
    "release": "release it",
    "update": "update it",
    "redo": "redo it",
    "log": "read its log",
    "set-limit": "change its group limit",
}


def require_owner(caller: Caller, job: Job, action: str) -> None:
    """The one ownership rule: owners act on their jobs, admins on all."""
    if caller.admin or caller.uid == job.owner_uid:
        return
    verb = ACTION_VERBS.get(action, action)
    raise GflowError(
        ErrorCode.FORBIDDEN,
        f"job {job.id} belongs to {job.user}; only its owner or an admin may {verb}",
    )


def require_admin(caller: Caller, what: str) -> None:
    if not caller.admin:
        raise GflowError(
            ErrorCode.FORBIDDEN,
            f"{what} is reserved to administrators (root, the daemon's account or the admin group); "
            f"{caller.user} is not one",
        )


def can_enter(path: str, uid: int, gids: set[int]) -> Optional[str]:
    """None if `uid` may traverse every component of `path`, else why not.

    Checked from permission bits (not os.access, which answers for the daemon's uid);
    root may enter anything it can stat.
    """
    if not os.path.isabs(path):
        return f"{path} is not an absolute path"
    current = "/"
    for part in [p for p in path.split("/") if p] + [None]:
        try:
            st = os.stat(current)
        except OSError as e:
            return f"{current}: {e.strerror}"
        if not stat.S_ISDIR(st.st_mode):
            return f"{current} is not a directory"
        if uid != 0:
            if st.st_uid == uid:
                allowed = st.st_mode & stat.S_IXUSR
            elif st.st_gid in gids:
                allowed = st.st_mode & stat.S_IXGRP
            else:
                allowed = st.st_mode & stat.S_IXOTH
            if not allowed:
                return f"{current}: permission denied for {user_name(uid)}"
        if part is None:
            break
        current = os.path.join(current, part)
    return None
