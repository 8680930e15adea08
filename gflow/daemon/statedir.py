"""The daemon's state directory: private by construction, and repaired on every start.

The database holds every job's environment (secrets included), so nothing in the state
directory may be readable by other accounts. The daemon runs with umask 077, so whatever it
creates is private; files of installs from before that rule are put right here, at start-up.
In system mode job owners must still reach their own log directory (`logs/<uid>/`, which they
own) to create their logs, so the state and logs directories are 0711: traversable, never
listable or readable.
"""
from __future__ import annotations

import os
import stat

from ..paths import DaemonPaths

UMASK = 0o077
PRIVATE_FILE = 0o600


class StateDirError(Exception):
    """The state directory cannot be used safely; the message says why and what to do."""


def dir_mode(system: bool) -> int:
    return 0o711 if system else 0o700


def prepare(dirs: DaemonPaths) -> None:
    """Create or repair the state and logs directories and make the daemon's files private."""
    os.umask(UMASK)
    mode = dir_mode(dirs.mode == "system")
    for directory in (dirs.state_dir, dirs.logs_dir):
        os.makedirs(directory, mode=mode, exist_ok=True)
        _own_directory(directory, mode)
    _privatise_files(dirs.state_dir)
    # the daemon's own logs only: job logs are created 0600 by their shepherds, and a user-mode
    # logs/ may hold a hundred thousand of them, not worth a stat each at every start
    _privatise_files(dirs.logs_dir, prefix="daemon.")


def _own_directory(path: str, mode: int) -> None:
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise StateDirError(f"{path} is not a directory")
    uid = os.geteuid()
    if st.st_uid != uid:
        # whoever owns it could swap the database or the lock file under the daemon
        raise StateDirError(
            f"{path} belongs to uid {st.st_uid}, not to the daemon's account (uid {uid}); "
            f"give it to uid {uid} (chown) or choose another daemon.state_dir"
        )
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)


def _privatise_files(directory: str, prefix: str = "") -> None:
    """chmod 0600 every regular file of ours directly in `directory` whose name starts with
    `prefix` (database, WAL, shared memory, lock, backups, daemon logs). Symlinks and other
    accounts' files are left alone."""
    uid = os.geteuid()
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if (stat.S_ISREG(st.st_mode) and st.st_uid == uid
                    and stat.S_IMODE(st.st_mode) & ~PRIVATE_FILE):
                os.chmod(entry.path, PRIVATE_FILE)


def owned_log_dir(directory: str, owner_uid: int) -> None:
    """Make sure a log directory exists and belongs to `owner_uid` (who creates the logs in
    it). Also finishes one a daemon killed between mkdir and chown left owned by itself."""
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    if owner_uid == os.geteuid():
        return
    st = os.lstat(directory)
    if st.st_uid == os.geteuid() and stat.S_ISDIR(st.st_mode):
        import pwd

        os.chown(directory, owner_uid, pwd.getpwuid(owner_uid).pw_gid)


def check_not_emptied(dirs: DaemonPaths, force: bool) -> None:
    """Refuse a 0-byte database beside job logs: the state was lost or truncated (a full disk,
    a bad copy), and starting would silently begin an empty queue and reuse job ids."""
    if force:
        return
    try:
        if os.path.getsize(dirs.database) > 0:
            return
    except FileNotFoundError:
        return
    try:
        if os.path.getsize(dirs.database + "-wal") > 0:
            return  # the pages are still in the write-ahead log
    except FileNotFoundError:
        pass
    if _has_job_logs(dirs.logs_dir):
        raise StateDirError(
            f"the job database {dirs.database} is empty (0 bytes) but {dirs.logs_dir} holds job "
            "logs: the state looks lost, refusing to start with an empty queue; restore the "
            "database, or start anew with `gflowd up --force-empty-state`"
        )


def _has_job_logs(logs_dir: str) -> bool:
    """Job logs are `<id>.log` or per-user directories `<uid>/`; the daemon's own logs
    (`daemon.*`) are written before any job exists and do not count."""
    try:
        names = os.listdir(logs_dir)
    except FileNotFoundError:
        return False
    return any(name[:1].isdigit() for name in names)
