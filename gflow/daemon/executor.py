"""Starts jobs through shepherds and reports how they ended; the daemon side of execution.

Each job runs under a shepherd (``shepherd.py``) in its own session. The daemon never waits on
a job directly: it watches the shepherd with a pidfd in the event loop, so an exit is noticed
at once, and it signals the shepherd through that pidfd, so a recycled pid is never hit.
Shepherds outlive the daemon; after a restart ``adopt`` finds them again (pid + start time)
or collects the status file they left behind.

Runner files, all in ``runners_dir`` (0700): ``<id>.spec.json`` (what to run, 0600),
``<id>.status.json`` (written by the shepherd when the job ended), ``<id>.err`` (the
shepherd's own stderr, for diagnosis).
"""
from __future__ import annotations

import asyncio
import os
import signal as _signal
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

import msgspec
import psutil

SHEPHERD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shepherd.py")

# Blocked in the shepherd from its first instruction: a cancel sent while it is still starting
# stays pending until the job exists instead of killing the shepherd (see shepherd.py).
_SHEPHERD_MASK = {_signal.SIGTERM, _signal.SIGINT, _signal.SIGUSR1, _signal.SIGALRM,
                  _signal.SIGHUP}
# Dispositions the daemon may have set to "ignore" (which would survive exec).
_SHEPHERD_SIGDEF = {_signal.SIGPIPE, _signal.SIGXFSZ} | _SHEPHERD_MASK
_CREATE_TIME_TOLERANCE = 0.05
# Room for the shepherd's status record, written by the daemon before the job starts (ext4 and
# xfs reserve the blocks at write time, tmpfs allocates them): the shepherd overwrites it in
# place and renames it, so how a job ended is not lost for want of space on a full disk.
# (A copy-on-write filesystem needs new blocks for any overwrite; there the reserve cannot help.)
STATUS_RESERVE_BYTES = 4096


class RunSpec(msgspec.Struct, kw_only=True):
    job_id: int
    argv: list[str]
    cwd: str
    env: dict[str, str]  # the complete environment of the job
    uid: int
    gid: int
    user: str
    drop_privileges: bool  # True in system mode: setgid/initgroups/setuid in the child
    log_path: str
    grace_secs: float = 5.0


class ExitStatus(msgspec.Struct, kw_only=True):
    exit_code: Optional[int]  # 128+N when killed by signal N; None when unknown
    signal: Optional[int]
    started_at: Optional[float]
    finished_at: float
    launch_error: Optional[str] = None  # the job never ran (exit_code 127 then)
    vanished: bool = False  # shepherd gone without leaving a status
    cpu_secs: Optional[float] = None  # user + system CPU time of the job (older shepherds: None)


class _StatusFile(msgspec.Struct):
    version: int
    job_id: int
    exit_code: Optional[int]
    signal: Optional[int]
    started_at: Optional[float]
    finished_at: float
    launch_error: Optional[str] = None
    cpu_secs: Optional[float] = None


@dataclass
class _Watch:
    pid: int
    pidfd: int
    create_time: float


def _vanished() -> ExitStatus:
    return ExitStatus(exit_code=None, signal=None, started_at=None,
                      finished_at=time.time(), vanished=True)


class Executor:
    def __init__(self, runners_dir: str, on_exit: Callable[[int, ExitStatus], None]) -> None:
        self._dir = os.path.abspath(runners_dir)
        os.makedirs(self._dir, mode=0o700, exist_ok=True)
        os.chmod(self._dir, 0o700)  # specs carry whole environments: keep them private
        self._on_exit = on_exit
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._watched: dict[int, _Watch] = {}
        self._encoder = msgspec.json.Encoder()

    # -- paths -----------------------------------------------------------------------------
    def _path(self, job_id: int, suffix: str) -> str:
        return os.path.join(self._dir, f"{int(job_id)}.{suffix}")

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # -- starting and adopting -------------------------------------------------------------
    def launch(self, spec: RunSpec) -> tuple[int, float]:
        """Start ``spec`` under a new shepherd; returns the shepherd's (pid, create_time)."""
        loop = self._get_loop()
        job_id = spec.job_id
        if job_id in self._watched:
            raise RuntimeError(f"job {job_id} is already running")
        status_path = self._path(job_id, "status.json")
        try:
            os.unlink(status_path)  # a stale status would be taken for this run's outcome
        except FileNotFoundError:
            pass
        spec_path = self._path(job_id, "spec.json")
        reserve_path = self._path(job_id, "status.reserve")
        doc = msgspec.structs.asdict(spec)
        doc["status_path"] = status_path
        doc["status_reserve"] = reserve_path
        try:
            self._write_private(reserve_path, b" " * STATUS_RESERVE_BYTES)
            self._write_private(spec_path, self._encoder.encode(doc))
        except OSError:
            # ENOSPC: nothing half-written stays behind; at once, as the job may be launched again
            self.remove_files(job_id)
            raise
        err_path = self._path(job_id, "err")
        # posix_spawn (vfork-fast) with every fd dropped but 0-2: the daemon's sockets,
        # database and pidfds must not leak into a process that outlives it.
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                    0o600)]
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
        try:
            pid = os.posix_spawn(sys.executable,
                                 [sys.executable, "-I", "-S", SHEPHERD, spec_path],
                                 os.environ, file_actions=actions, setsid=True,
                                 setsigmask=_SHEPHERD_MASK, setsigdef=_SHEPHERD_SIGDEF)
        except OSError:
            self.remove_files(job_id)
            raise
        pidfd = os.pidfd_open(pid)  # our child and not yet reaped: it is this process
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.Error:
            create_time = time.time()  # cannot happen for an unreaped child; stay usable
        self._watch(loop, job_id, pid, pidfd, create_time)
        return pid, create_time

    def adopt(self, job_id: int, pid: int, create_time: float) -> None:
        """Resume watching a job recorded Running by a previous daemon."""
        loop = self._get_loop()
        if job_id in self._watched:
            return
        if os.path.exists(self._path(job_id, "status.json")):
            loop.call_soon(self._deliver, job_id)
            return
        pidfd = self._open_if_same(pid, create_time)
        if pidfd is not None:
            self._watch(loop, job_id, pid, pidfd, create_time)
            return
        # Gone, a zombie or a different process: a status may have landed since the first look.
        loop.call_soon(self._deliver, job_id, pid, create_time)

    def collect(self, job_id: int) -> None:
        """Report how a job whose shepherd is gone ended: its status file, else vanished."""
        self._get_loop().call_soon(self._deliver, job_id)

    def find_unrecorded(self, job_ids: list[int]) -> dict[int, Optional[tuple[int, float]]]:
        """For jobs recorded Running without a shepherd pid (the daemon died between admitting
        them and recording their launch): what the runner files and the process table say.
        Absent from the result: never launched (no spec, or the spawn never began). Mapped to
        (pid, create_time): a live shepherd to adopt. Mapped to None: launched, and its status
        file (if any) tells how it ended."""
        if not job_ids:
            return {}
        # processes first, runner files second: a shepherd exiting meanwhile has written its
        # status before it disappears, so nothing falls between the two looks
        shepherds = self._live_shepherds()
        found: dict[int, Optional[tuple[int, float]]] = {}
        for job_id in job_ids:
            if job_id in shepherds:
                found[job_id] = shepherds[job_id]
            elif os.path.exists(self._path(job_id, "status.json")):
                found[job_id] = None
            elif os.path.exists(self._path(job_id, "err")):
                # the spawn created the shepherd's stderr: it ran, and died without a status
                # (killed with the daemon); what it started must not run on unsupervised
                found[job_id] = None
                self._kill_strays(job_id)
        return found

    def _kill_strays(self, job_id: int) -> None:
        """SIGKILL the processes of a job whose shepherd vanished before its pid was recorded
        (so its session is unknown): those of the job's owner started since the spawn that
        carry the job's GFLOW_JOB_ID. Rare (a crash of both at once): O(processes)."""
        try:
            with open(self._path(job_id, "spec.json"), "rb") as f:
                uid = int(msgspec.json.decode(f.read())["uid"])
            since = os.stat(self._path(job_id, "spec.json")).st_mtime  # written just before the spawn
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

    def _live_shepherds(self) -> dict[int, tuple[int, float]]:
        """job id -> (pid, create_time) of every shepherd of ours running now, found by the
        spec path on its command line (once per start-up, and only after a crash)."""
        uid = os.geteuid()
        prefix = self._dir + os.sep
        found = {}
        for proc in psutil.process_iter(["cmdline", "uids", "create_time"]):
            info = proc.info
            argv = info.get("cmdline") or []
            if len(argv) < 2 or SHEPHERD not in argv or not argv[-1].startswith(prefix):
                continue
            uids = info.get("uids")
            if uids is None or uids.real != uid:
                continue  # a look-alike from another account is never adopted
            name = os.path.basename(argv[-1])
            if name.endswith(".spec.json") and name[:-len(".spec.json")].isdigit():
                found[int(name[:-len(".spec.json")])] = (proc.pid, info["create_time"])
        return found

    @staticmethod
    def _open_if_same(pid: int, create_time: float) -> Optional[int]:
        """A pidfd for ``pid`` if it is still the live shepherd started at ``create_time``."""
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None
        # Checked after opening: a process alive now with the recorded start time has held the
        # pid since then, so the pidfd refers to it and not to a recycled pid.
        try:
            proc = psutil.Process(pid)
            same = (abs(proc.create_time() - create_time) <= _CREATE_TIME_TOLERANCE
                    and proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            same = False
        if not same:
            _reap(pidfd, pid)  # our own zombie (same daemon process) must not linger
            os.close(pidfd)
            return None
        return pidfd

    # -- watching ---------------------------------------------------------------------------
    def _watch(self, loop: asyncio.AbstractEventLoop, job_id: int, pid: int, pidfd: int,
               create_time: float) -> None:
        self._watched[job_id] = _Watch(pid, pidfd, create_time)
        loop.add_reader(pidfd, self._on_shepherd_exit, job_id)

    def _on_shepherd_exit(self, job_id: int) -> None:
        watch = self._watched.pop(job_id, None)
        if watch is None:
            return
        self._get_loop().remove_reader(watch.pidfd)
        _reap(watch.pidfd, watch.pid)
        os.close(watch.pidfd)
        self._deliver(job_id, watch.pid, watch.create_time)

    def _deliver(self, job_id: int, shepherd: Optional[int] = None, create_time: float = 0.0) -> None:
        status = self.read_status(job_id)
        if status.vanished and shepherd is not None:
            _kill_orphans(shepherd, create_time)
        self._on_exit(job_id, status)

    def read_status(self, job_id: int) -> ExitStatus:
        """The status the shepherd wrote; ``vanished`` when there is none (or it is unusable)."""
        try:
            with open(self._path(job_id, "status.json"), "rb") as f:
                rec = msgspec.json.decode(f.read(), type=_StatusFile)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return _vanished()
        if rec.job_id != job_id:
            return _vanished()
        return ExitStatus(exit_code=rec.exit_code, signal=rec.signal,
                          started_at=rec.started_at, finished_at=rec.finished_at,
                          launch_error=rec.launch_error, cpu_secs=rec.cpu_secs)

    def is_watched(self, job_id: int) -> bool:
        return job_id in self._watched

    # -- signalling ---------------------------------------------------------------------------
    def signal(self, job_id: int, sig: int) -> bool:
        """Ask the job's shepherd to act: SIGTERM cancel, SIGINT time limit, SIGUSR1 kill."""
        watch = self._watched.get(job_id)
        if watch is None:
            return False
        try:
            _signal.pidfd_send_signal(watch.pidfd, sig)  # never a bare (recyclable) pid
        except ProcessLookupError:
            return False  # already exited; the exit callback is on its way
        return True

    def cancel(self, job_id: int) -> bool:
        return self.signal(job_id, _signal.SIGTERM)

    def timeout(self, job_id: int) -> bool:
        return self.signal(job_id, _signal.SIGINT)

    def kill(self, job_id: int) -> bool:
        return self.signal(job_id, _signal.SIGUSR1)

    # -- housekeeping ---------------------------------------------------------------------------
    def cleanup(self, job_id: int) -> None:
        """Remove the runner files; only once the outcome is committed (a crash before keeps
        the status file for the next start). In a worker thread while the loop runs: three
        unlinks cost milliseconds on a slow disk, time the next job's start would wait."""
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.run_in_executor(None, self.remove_files, job_id)
        else:
            self.remove_files(job_id)

    def remove_files(self, job_id: int) -> None:
        """The runner files, removed now: for a job that may be launched again at once (never
        started), where a removal still pending in a thread could take the new run's files."""
        for suffix in ("spec.json", "status.json", "status.reserve", "err", "spec.json.tmp", "status.reserve.tmp"):
            try:
                os.unlink(self._path(job_id, suffix))
            except FileNotFoundError:
                pass

    def close(self) -> None:
        """Stop watching. Shepherds are NOT signalled: jobs outlive a daemon stop or restart."""
        for watch in self._watched.values():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(watch.pidfd)
            os.close(watch.pidfd)
        self._watched.clear()

    @staticmethod
    def _write_private(path: str, data: bytes) -> None:
        tmp = f"{path}.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as f:  # a large environment may need several writes
            f.write(data)
        os.replace(tmp, path)


def _kill_orphans(session: int, since: float) -> None:
    """SIGKILL what is left of a job whose shepherd died without a status (kill -9, OOM):
    its payload would otherwise run on unsupervised, beside the retry, on the same GPUs.
    The shepherd led its own session. Linux keeps a pid number allocated while any process
    still uses it as a session id, so with the leader gone the number names the orphans'
    session alone; a live process with that pid means the number was free and reused, and
    nothing is killed. Rare: O(processes)."""
    if psutil.pid_exists(session):
        return
    for pid in psutil.pids():
        try:
            if os.getsid(pid) != session:
                continue
            if psutil.Process(pid).create_time() < since - _CREATE_TIME_TOLERANCE:
                continue
            os.kill(pid, _signal.SIGKILL)
        except (OSError, psutil.Error):
            continue


def _reap(pidfd: int, pid: int) -> None:
    """Collect the shepherd if it is our child; adopted ones belong to init."""
    try:
        if hasattr(os, "P_PIDFD"):
            os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
        else:
            os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _inheritable_fds() -> list[int]:
    """Open fds above 2 that would survive exec (Python's own are close-on-exec already)."""
    fds = []
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return fds
    for name in names:
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    fds.append(fd)
            except OSError:
                pass  # the fd of the listdir itself, closed meanwhile
    return fds
