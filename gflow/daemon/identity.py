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
from dataclasses import dataclass
from typing import Optional

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
