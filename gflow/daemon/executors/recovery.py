"""Finding what a crash left: shepherds the daemon never recorded, and processes of jobs whose
shepherd is gone (which must not run on unsupervised, beside a retry, on the same GPUs).
Rare (after a crash, or a lost fork server) and O(processes) each."""
from __future__ import annotations

import os
import signal as _signal

import msgspec
import psutil

from .launcher import FORKSERVER

SHEPHERD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shepherd.py")
# where shepherds started by a daemon before the executors package still run from: found
# again after an upgrade like our own
_OLD_SHEPHERD = os.path.join(os.path.dirname(os.path.dirname(SHEPHERD)), "shepherd.py")
CREATE_TIME_TOLERANCE = 0.05


def live_shepherds(runners_dir: str, servers: set) -> dict[int, tuple[int, float]]:
    """job id -> (pid, create_time) of every shepherd of ours running now (once per
    start-up, and only after a crash): a spawned one by the spec path on its command line,
    one forked by a fork server (whose command line it shares) by its fd 2, ``<id>.err``
    from the instant it was forked. ``servers``: the pids of fork servers (never shepherds)."""
    uid = os.geteuid()
    prefix = runners_dir + os.sep
    found = {}
    for proc in psutil.process_iter(["cmdline", "uids", "create_time"]):
        info = proc.info
        argv = info.get("cmdline") or []
        if len(argv) < 2:
            continue
        if FORKSERVER in argv and argv[-1] == runners_dir and proc.pid not in servers:
            try:
                path = os.readlink(f"/proc/{proc.pid}/fd/2")
            except OSError:
                continue
        elif (SHEPHERD in argv or _OLD_SHEPHERD in argv) and argv[-1].startswith(prefix):
            path = argv[-1]
        else:
            continue
        uids = info.get("uids")
        if uids is None or uids.real != uid or not path.startswith(prefix):
            continue  # a look-alike from another account is never adopted
        name, _, suffix = os.path.basename(path).partition(".")
        if suffix in ("spec.json", "err") and name.isdigit():
            found[int(name)] = (proc.pid, info["create_time"])
    return found


def kill_strays(job_id: int, spec_path: str) -> None:
    """SIGKILL the processes of a job whose shepherd vanished before its pid was recorded
    (so its session is unknown): those of the job's owner started since the spawn that
    carry the job's GFLOW_JOB_ID. Rare (a crash of both at once): O(processes)."""
    try:
        with open(spec_path, "rb") as f:
            uid = int(msgspec.json.decode(f.read())["uid"])
        since = os.stat(spec_path).st_mtime  # written just before the spawn
    except (OSError, ValueError, KeyError, TypeError, msgspec.DecodeError):
        return
    marker = f"GFLOW_JOB_ID={job_id}"
    for proc in psutil.process_iter(["uids", "create_time"]):
        info = proc.info
        uids = info.get("uids")
        if uids is None or uids.real != uid or (info.get("create_time") or 0) < since - 1:
            continue
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as f:
                env = f.read().decode(errors="replace").split("\0")
            if marker in env:
                os.kill(proc.pid, _signal.SIGKILL)
        except OSError:
            continue


def kill_orphans(session: int, since: float) -> None:
    """SIGKILL what is left of a job whose shepherd died without a status (kill -9, OOM):
    its payload would otherwise run on unsupervised, beside the retry, on the same GPUs.
    The shepherd led its own session. Linux keeps a pid number allocated while any process
    still uses it as a session id, so with the leader gone the number names the orphans'
    session alone; a live process with that pid means the number was free and reused, and
    nothing is killed; unless it is the shepherd itself, dead but not yet reaped by its
    parent (a fork server, or init for an adopted one). Rare: O(processes)."""
    try:
        leader = psutil.Process(session)
        if (leader.status() != psutil.STATUS_ZOMBIE
                or abs(leader.create_time() - since) > CREATE_TIME_TOLERANCE):
            return
    except psutil.NoSuchProcess:
        pass
    except psutil.Error:
        return
    for pid in psutil.pids():
        try:
            if os.getsid(pid) != session:
                continue
            if psutil.Process(pid).create_time() < since - CREATE_TIME_TOLERANCE:
                continue
            os.kill(pid, _signal.SIGKILL)
        except (OSError, psutil.Error):
            continue
