"""Starts jobs through shepherds and reports how they ended; the daemon side of execution.

The process executor (see ``base.py`` for the interface). Each job runs under a shepherd
(``shepherd.py``) in its own session, forked by the fork server (``launcher.py``,
``forkserver.py``), or spawned as a new interpreter when that server cannot be had. The
daemon never waits on a job directly: it watches the shepherd with a pidfd in the event loop,
so an exit is noticed at once, and it signals the shepherd through that pidfd, so a recycled
pid is never hit. Shepherds outlive the daemon; after a restart ``adopt`` finds them again
(pid + start time) or collects the status file they left behind.

Runner files, all in ``runners_dir`` (0700): ``<id>.spec.json`` (what to run, 0600),
``<id>.status.reserve`` (room for how the job ended, written by the daemon before the start and
filled in place by the shepherd; ``<id>.status.json`` when that fails: ``statusfile.py``),
``<id>.err`` (the shepherd's own stderr, for diagnosis; created as its launch begins),
``forkserver.pid``, and ``spare.*``: specs and reserves of ended jobs, kept for the next
launches (``spares.py``).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import select
import signal as _signal
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import msgspec
import psutil

from . import launcher, recovery, spares, statusfile
from .base import ExitStatus, RunSpec
from .launcher import SHEPHERD_MASK, SHEPHERD_SIGDEF, inheritable_fds
from .recovery import SHEPHERD

log = logging.getLogger("gflow.executor")

_CREATE_TIME_TOLERANCE = recovery.CREATE_TIME_TOLERANCE
_CLEANUP_DELAY = 0.2
_SUFFIX = {"spec": "spec.json", "reserve": "status.reserve", "err": "err"}


@dataclass
class _Watch:
    pid: int
    pidfd: int
    create_time: float
    # may be this process's child, to reap: not one the fork server forked (its child), a
    # spawned or adopted one may be (a daemon that re-executed itself keeps its children)
    reap: bool


@dataclass
class _Starting:
    """A shepherd asked of the fork server, not yet confirmed: it already holds the job's
    resources, and signals for it wait here until it can be signalled."""

    future: asyncio.Future
    spec_path: str
    signals: list[int] = field(default_factory=list)


class Executor:
    def __init__(self, runners_dir: str, on_exit: Callable[[int, ExitStatus], None],
                 nofile_soft: Optional[int] = None, fork_server: bool = True) -> None:
        self._dir = os.path.abspath(runners_dir)
        os.makedirs(self._dir, mode=0o700, exist_ok=True)
        os.chmod(self._dir, 0o700)  # specs carry whole environments: keep them private
        self._on_exit = on_exit
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._watched: dict[int, _Watch] = {}
        # The shepherds' pidfds in an epoll of their own, one reader of the loop for all of
        # them: a watch costs an epoll_ctl, not the loop's bookkeeping of a reader per job.
        self._pidfds = select.epoll()
        self._pidfds_read = False  # its reader is registered with the loop
        self._job_of_pidfd: dict[int, int] = {}
        self._encoder = msgspec.json.Encoder()
        # the daemon raised its own fd limit; jobs get the limit it started with
        self._nofile_soft = nofile_soft
        # shepherds are forked by it; spawned one by one (an interpreter start each) without
        self._forkserver = (launcher.ForkServer(self._dir, self._forked, self._fork_lost)
                            if fork_server else None)
        self._starting: dict[int, _Starting] = {}
        self._doomed: list[int] = []  # jobs whose runner files go with the next cleanup
        # jobs whose status was in their reserve: a shepherd writes it there or in
        # status.json, never both, and a launch removes a stale status.json first
        self._status_in_reserve: set[int] = set()
        self._spares = spares.Spares(self._dir)

    # -- paths -----------------------------------------------------------------------------
    def _path(self, job_id: int, suffix: str) -> str:
        return f"{self._dir}/{int(job_id)}.{suffix}"  # the directory is absolute

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # -- starting and adopting -------------------------------------------------------------
    def launch(self, spec: RunSpec) -> asyncio.Future:
        """Start ``spec`` under a new shepherd. The future gives the shepherd's (pid,
        create_time) or the error that kept it from starting (an OSError, RuntimeError);
        until then the job counts as watched, and signals for it are passed on once it runs.
        Errors found before anything was asked for are raised at once."""
        loop = self._get_loop()
        job_id = spec.job_id
        if job_id in self._watched or job_id in self._starting:
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
        if self._nofile_soft is not None:
            doc["nofile_soft"] = self._nofile_soft
        doc["status_reserve"] = reserve_path
        try:
            self._write("reserve", reserve_path, b" " * statusfile.RESERVE_BYTES)
            self._write("spec", spec_path, self._encoder.encode(doc))
        except OSError:
            # ENOSPC: nothing half-written stays behind; at once, as the job may be launched again
            self.remove_files(job_id)
            raise
        future = loop.create_future()
        if self._forkserver is not None:
            spare_err = self._spares.take("err")
            if self._forkserver.request(job_id, spare_err):
                self._starting[job_id] = _Starting(future, spec_path)
                return future
            if spare_err is not None:
                self._spares.put_back("err", spare_err)
        pid, create_time, pidfd = self._spawn(job_id, spec_path)
        self._watch(loop, job_id, pid, pidfd, create_time, reap=True)
        future.set_result((pid, create_time))
        return future

    def _forked(self, job_id: int, answer: object) -> None:
        """The fork server's answer for a job: its shepherd, or why there is none."""
        starting = self._starting.pop(job_id, None)
        if isinstance(answer, BaseException):
            if starting is not None:
                self.remove_files(job_id)
                starting.future.set_exception(answer)
            return
        pid, create_time, pidfd = answer  # type: ignore[misc]
        if starting is None:  # the executor was closed meanwhile: the next daemon adopts it
            os.close(pidfd)
            return
        self._started(job_id, starting, pid, create_time, pidfd)

    def _started(self, job_id: int, starting: _Starting, pid: int, create_time: float,
                 pidfd: int, reap: bool = False) -> None:
        self._watch(self._get_loop(), job_id, pid, pidfd, create_time, reap)
        for sig in starting.signals:  # blocked in the shepherd until its job exists
            self.signal(job_id, sig)
        if not starting.future.done():
            starting.future.set_result((pid, create_time))

    def _fork_lost(self, job_ids: list[int]) -> None:
        """The fork server died (now reaped) with these unanswered: each shepherd that was
        forked and lives is watched; one never forked is spawned. One forked and already
        gone leaves no way to know whether its payload ran: that launch fails, and what it
        started is killed, so it never runs twice."""
        shepherds: Optional[dict[int, tuple[int, float]]] = None
        for job_id in job_ids:
            starting = self._starting.pop(job_id, None)
            if starting is None:
                continue
            try:
                if not os.path.exists(self._path(job_id, "err")):  # the server never got to it
                    started, reap = self._spawn(job_id, starting.spec_path), True
                else:
                    if shepherds is None:
                        shepherds = self._live_shepherds()
                    started, reap = self._find_forked(job_id, shepherds.get(job_id)), False
            except (OSError, RuntimeError) as e:
                starting.future.set_exception(e)
                continue
            self._started(job_id, starting, *started, reap=reap)

    def _find_forked(self, job_id: int, found: Optional[tuple[int, float]]) -> tuple[int, float, int]:
        if found is not None:
            pidfd = self._open_if_same(*found)
            if pidfd is not None:
                return found[0], found[1], pidfd
        self._kill_strays(job_id)
        self.remove_files(job_id)
        raise RuntimeError("the fork server died while starting the shepherd")

    def _spawn(self, job_id: int, spec_path: str) -> tuple[int, float, int]:
        """A shepherd in a new interpreter of its own: (pid, create_time, pidfd)."""
        err_path = self._path(job_id, "err")
        # posix_spawn (vfork-fast) with every fd dropped but 0-2: the daemon's sockets,
        # database and pidfds must not leak into a process that outlives it.
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                    0o600)]
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in inheritable_fds()]
        try:
            pid = os.posix_spawn(sys.executable,
                                 [sys.executable, "-I", "-S", SHEPHERD, spec_path],
                                 os.environ, file_actions=actions, setsid=True,
                                 setsigmask=SHEPHERD_MASK, setsigdef=SHEPHERD_SIGDEF)
        except OSError:
            self.remove_files(job_id)
            raise
        try:
            pidfd = os.pidfd_open(pid)  # our child and not yet reaped: it is this process
        except OSError:
            # out of fds: unwatched, it would run unsupervised, so it must not run at all.
            # It is killed long before it could start the payload (an interpreter start-up
            # away), and the caller launches the job again later.
            os.kill(pid, _signal.SIGKILL)
            os.waitpid(pid, 0)
            self.cleanup(job_id)
            raise
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.Error:
            create_time = time.time()  # cannot happen for an unreaped child; stay usable
        return pid, create_time, pidfd

    def adopt(self, job_id: int, pid: int, create_time: float) -> None:
        """Resume watching a job recorded Running by a previous daemon."""
        loop = self._get_loop()
        if job_id in self._watched or job_id in self._starting:
            return
        # alive first: a status is read only once its writer is gone (it is written in place)
        pidfd = self._open_if_same(pid, create_time)
        if pidfd is not None:
            self._watch(loop, job_id, pid, pidfd, create_time, reap=True)
            return
        # Gone, a zombie or a different process: its status, if any, tells how it ended.
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
        # a fork server of the previous daemon forks nothing more once it is gone
        previous = self._forkserver.stop_previous() if self._forkserver is not None else None
        # processes first, runner files second: a shepherd exiting meanwhile has written its
        # status before it disappears, so nothing falls between the two looks
        shepherds = self._live_shepherds(skip=previous)
        found: dict[int, Optional[tuple[int, float]]] = {}
        for job_id in job_ids:
            if job_id in shepherds:
                found[job_id] = shepherds[job_id]
            elif self._has_status(job_id):
                found[job_id] = None
            elif os.path.exists(self._path(job_id, "err")):
                # the spawn created the shepherd's stderr: it ran, and died without a status
                # (killed with the daemon); what it started must not run on unsupervised
                found[job_id] = None
                self._kill_strays(job_id)
        return found

    def _kill_strays(self, job_id: int) -> None:
        recovery.kill_strays(job_id, self._path(job_id, "spec.json"))

    def _live_shepherds(self, skip: Optional[int] = None) -> dict[int, tuple[int, float]]:
        servers = {skip, self._forkserver.pid if self._forkserver is not None else None}
        return recovery.live_shepherds(self._dir, servers)

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
               create_time: float, reap: bool) -> None:
        if not self._pidfds_read:
            loop.add_reader(self._pidfds.fileno(), self._pidfds_ready)
            self._pidfds_read = True
        self._watched[job_id] = _Watch(pid, pidfd, create_time, reap)
        self._job_of_pidfd[pidfd] = job_id
        self._pidfds.register(pidfd, select.EPOLLIN)

    def _pidfds_ready(self) -> None:
        # the jobs first: an exit handled here may close a pidfd and a launch reuse its number
        ready = [self._job_of_pidfd.get(fd) for fd, _ in self._pidfds.poll(0)]
        for job_id in ready:
            if job_id is not None:
                self._on_shepherd_exit(job_id)

    def _unwatch(self, watch: _Watch) -> None:
        self._pidfds.unregister(watch.pidfd)
        del self._job_of_pidfd[watch.pidfd]
        os.close(watch.pidfd)

    def _on_shepherd_exit(self, job_id: int) -> None:
        watch = self._watched.pop(job_id, None)
        if watch is None:
            return
        if watch.reap:
            _reap(watch.pidfd, watch.pid)
        self._unwatch(watch)
        self._deliver(job_id, watch.pid, watch.create_time)

    def _deliver(self, job_id: int, shepherd: Optional[int] = None, create_time: float = 0.0) -> None:
        status = self.read_status(job_id)
        if status.vanished and shepherd is not None:
            recovery.kill_orphans(shepherd, create_time)
        self._on_exit(job_id, status)

    def _status_bytes(self, job_id: int) -> tuple[Optional[bytes], bool]:
        return statusfile.find(self._path(job_id, "status.reserve"), self._path(job_id, "status.json"))

    def _has_status(self, job_id: int) -> bool:
        return self._status_bytes(job_id)[0] is not None

    def read_status(self, job_id: int) -> ExitStatus:
        """The status the shepherd wrote; ``vanished`` when there is none (or it is unusable)."""
        data, in_reserve = self._status_bytes(job_id)
        if in_reserve:
            self._status_in_reserve.add(job_id)
        return statusfile.decode(data, job_id)

    def is_watched(self, job_id: int) -> bool:
        return job_id in self._watched or job_id in self._starting

    # -- signalling ---------------------------------------------------------------------------
    def signal(self, job_id: int, sig: int) -> bool:
        """Ask the job's shepherd to act: SIGTERM cancel, SIGINT time limit, SIGUSR1 kill."""
        watch = self._watched.get(job_id)
        if watch is None:
            starting = self._starting.get(job_id)
            if starting is None:
                return False
            starting.signals.append(sig)
            return True
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
        the status file for the next start). In a worker thread while the loop runs: unlinks
        cost milliseconds on a slow disk, time the next job's start would wait; gathered for
        _CLEANUP_DELAY first, so a stream of short jobs wakes that thread a few times a second
        rather than once per job."""
        loop = self._loop
        if loop is None or not loop.is_running():
            self.remove_files(job_id)
            return
        self._doomed.append(job_id)
        if len(self._doomed) == 1:
            loop.call_later(_CLEANUP_DELAY, self._cleanup_gathered)

    def _cleanup_gathered(self) -> Optional[asyncio.Future]:
        """The removal under way (done once the spares are back in the pool), if any."""
        doomed, self._doomed = self._doomed, []
        if not doomed or self._loop is None or not self._loop.is_running():
            return None
        # the runner files become spares for the next launches (names handed out here, in
        # the loop that owns the pool); beyond the pool's size they are deleted
        in_reserve = self._status_in_reserve
        plan = [(job_id, [(kind, self._spares.reserve(kind)) for kind in spares.KINDS],
                 job_id not in in_reserve)
                for job_id in doomed]
        in_reserve.difference_update(doomed)
        done = self._loop.run_in_executor(None, self._recycle_all, plan)
        back = self._loop.create_future()
        done.add_done_callback(functools.partial(self._recycled, plan, back))
        return back

    def _recycle_all(self, plan: list) -> list[tuple[str, Optional[str]]]:
        """In the worker thread: (kind, spare or None) for each spare name handed out."""
        back = []
        for job_id, names, status_json in plan:
            for kind, spare in names:
                kept = spares.recycle(self._path(job_id, _SUFFIX[kind]), spare)
                if spare is not None:
                    back.append((kind, kept))
            if status_json:
                try:
                    os.unlink(self._path(job_id, "status.json"))
                except FileNotFoundError:
                    pass
        return back

    def _recycled(self, plan: list, back: asyncio.Future, done: asyncio.Future) -> None:
        if done.cancelled() or done.exception() is not None:
            kept = [(kind, None) for _, names, _ in plan for kind, spare in names if spare is not None]
        else:
            kept = done.result()
        for kind, spare in kept:
            self._spares.returned(kind, spare)
        back.set_result(None)

    def _remove_all(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self.remove_files(job_id)

    def remove_files(self, job_id: int) -> None:
        """The runner files, removed now: for a job that may be launched again at once (never
        started), where a removal still pending in a thread could take the new run's files."""
        self._status_in_reserve.discard(job_id)
        for suffix in ("spec.json", "status.json", "status.reserve", "err"):
            try:
                os.unlink(self._path(job_id, suffix))
            except FileNotFoundError:
                pass

    def close(self) -> None:
        """Stop watching. Shepherds are NOT signalled: jobs outlive a daemon stop or restart."""
        if self._forkserver is not None:
            self._forkserver.close()
        self._remove_all(self._doomed)  # outcomes committed: nothing to keep them for
        self._doomed = []
        self._starting.clear()  # unconfirmed: the next daemon finds them (find_unrecorded)
        if self._pidfds_read and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._pidfds.fileno())
        self._pidfds_read = False
        for watch in self._watched.values():
            self._unwatch(watch)
        self._watched.clear()
        self._pidfds.close()

    def _write(self, kind: str, path: str, data: bytes) -> None:
        if not self._spares.write(kind, path, data):
            self._write_private(path, data)

    @staticmethod
    def _write_private(path: str, data: bytes) -> None:
        """Written in place (no temporary file and rename): nothing reads a runner file
        before the shepherd it is for was started, after the write."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as f:  # a large environment may need several writes
            f.write(data)


def _reap(pidfd: int, pid: int) -> None:
    """Collect the shepherd if it is our child; adopted ones belong to init."""
    try:
        if hasattr(os, "P_PIDFD"):
            os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
        else:
            os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
