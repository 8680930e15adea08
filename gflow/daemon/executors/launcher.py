"""The daemon's end of the fork server (``forkserver.py``): one long-lived process per daemon
that starts each shepherd with a fork, so a job's start costs a fork instead of a Python
interpreter start (10-20 ms of CPU each, on the path of every job).

`ForkServer.request(job_id)` asks for the shepherd of a job whose runner files are written and
returns at once; the answer arrives in the event loop: the shepherd's pid, its start time and
a pidfd for it (passed over the socket, opened by its parent before it could be reaped, so it
names that very process), or the reason nothing was started. The daemon never waits for the
server: a launch costs the loop a datagram. The server is started on first use and again if it
dies; when it cannot be started, `request` says so and the executor spawns the shepherd itself,
as before the fork server existed.

A server lost with requests unanswered (dead, or silent for ANSWER_TIMEOUT) may have forked
their shepherds: it is killed and reaped first, then the executor looks for each child (by its
fd 2, see ``forkserver.py``) before it decides anything.
"""
from __future__ import annotations

import array
import asyncio
import logging
import os
import select
import signal as _signal
import socket
import sys
import time
from typing import Callable, Optional

import psutil

log = logging.getLogger("gflow.executor")

FORKSERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forkserver.py")
# how long an answer may take on a machine under load before the server is given up for hung
ANSWER_TIMEOUT = 20.0
# after a failed start, how long the executor spawns shepherds itself before trying again
_RETRY_AFTER = 30.0
_PIDFILE = "forkserver.pid"
_CREATE_TIME_TOLERANCE = 0.05

# Blocked in a shepherd from its first instruction: a cancel sent while it is still starting
# stays pending until the job exists instead of killing the shepherd (see shepherd.py). The
# fork server runs with them blocked too, so the shepherds it forks are born that way.
SHEPHERD_MASK = {_signal.SIGTERM, _signal.SIGINT, _signal.SIGUSR1, _signal.SIGALRM, _signal.SIGHUP}
# Dispositions the daemon may have set to "ignore" (which would survive exec).
SHEPHERD_SIGDEF = {_signal.SIGPIPE, _signal.SIGXFSZ} | SHEPHERD_MASK


class Unavailable(Exception):
    """The server cannot be started now; nothing was asked of it."""


class Refused(OSError):
    """The server could not start the shepherd (fork failed, …); nothing runs."""


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def create_time(ticks: int, boot_time: float) -> float:
    """psutil's create_time for a start time in clock ticks (so adoption compares like with
    like), given ``psutil.boot_time()`` read lately: it moves when the wall clock is stepped,
    and psutil reads it afresh at each create_time, so it is read once per batch of answers
    (it reads /proc/stat: once a job was a tenth of the daemon's work for it)."""
    return ticks / _CLK_TCK + boot_time


class ForkServer:
    """Asks the fork server for shepherds; answers come back in the event loop, through
    ``on_answer(job_id, (pid, create_time, pidfd) or Refused)``. A server lost with requests
    unanswered (dead, or silent for ANSWER_TIMEOUT) is killed and reaped before
    ``on_lost(job_ids)``: those shepherds may or may not have been forked."""

    def __init__(self, runners_dir: str, on_answer: Callable[[int, object], None],
                 on_lost: Callable[[list[int]], None]) -> None:
        self._dir = runners_dir
        self._on_answer = on_answer
        self._on_lost = on_lost
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._sock: Optional[socket.socket] = None
        self._pid = 0
        self._pidfd = -1
        self._down_until = 0.0
        self._waiting: dict[int, None] = {}  # job ids asked for, not yet answered (in order)
        self._watchdog: Optional[asyncio.TimerHandle] = None
        self._answered = 0  # answers so far: the watchdog sees whether any came

    @property
    def pid(self) -> int:
        return self._pid

    def request(self, job_id: int, spare_err: Optional[str] = None) -> bool:
        """Ask for the shepherd of ``job_id`` (its runner files are written), its stderr made
        from ``spare_err`` (a spare in the runners directory, see ``spares.py``) when given.
        False when the server cannot be had: nothing was asked, the caller starts it another
        way (and the spare is still the caller's)."""
        message = b"%d" % job_id
        if spare_err is not None:
            message += b" " + os.path.basename(spare_err).encode()
        for _ in range(2):
            try:
                sock = self._connected()
            except Unavailable as e:
                log.warning("%s; shepherds are spawned meanwhile", e)
                return False
            try:
                sock.send(message)
            except BlockingIOError:
                return False  # thousands unanswered: this one is spawned instead
            except OSError:
                self._lose()  # it died: it read nothing more, this request included
                continue
            self._waiting[job_id] = None
            if self._watchdog is None:
                self._arm_watchdog()
            return True
        self._down_until = time.monotonic() + _RETRY_AFTER
        log.warning("fork server unreachable; shepherds are spawned for %g s", _RETRY_AFTER)
        return False

    def _readable(self) -> None:
        sock = self._sock
        boot = psutil.boot_time()
        while sock is not None and self._sock is sock:
            fds = array.array("i")
            try:
                data, ancdata, _, _ = sock.recvmsg(256, socket.CMSG_SPACE(fds.itemsize),
                                                   socket.MSG_CMSG_CLOEXEC)
            except BlockingIOError:
                return
            except OSError:
                data, ancdata = b"", []
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            if not data:
                for fd in fds:
                    os.close(fd)
                self._lose()
                return
            self._answer(data, fds[0] if fds else None, boot)

    def _answer(self, data: bytes, pidfd: Optional[int], boot: float) -> None:
        fields = data.split(b" ", 3)
        try:
            job_id = int(fields[0])
        except ValueError:
            job_id = -1
        if job_id not in self._waiting or (fields[1:2] != [b"!"] and pidfd is None):
            if pidfd is not None:
                os.close(pidfd)
            log.error("fork server answered %r unasked; restarting it", data[:80])
            self._lose()
            return
        del self._waiting[job_id]
        self._answered += 1
        if fields[1] == b"!":
            code = int(fields[2])
            result: object = Refused(code, fields[3].decode("utf-8", "replace") if len(fields) > 3
                                     else os.strerror(code))
        else:
            result = (int(fields[1]), create_time(int(fields[2]), boot), pidfd)
        self._on_answer(job_id, result)

    def _arm_watchdog(self) -> None:
        assert self._loop is not None
        self._watchdog = self._loop.call_later(ANSWER_TIMEOUT, self._check_answers, self._answered)

    def _check_answers(self, answered_before: int) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        if self._answered == answered_before:  # nothing for a whole timeout: hung
            log.error("fork server silent for %g s with %d launches waiting; restarting it",
                      ANSWER_TIMEOUT, len(self._waiting))
            self._lose()
        else:
            self._arm_watchdog()

    def _lose(self) -> None:
        """The server is dead or useless: killed, reaped, and its unanswered requests handed
        to ``on_lost`` (after this, it forks nothing more)."""
        ids = list(self._waiting)
        self._waiting.clear()
        self._stop()
        if ids:
            self._on_lost(ids)

    # -- the server process ---------------------------------------------------------------------
    def _connected(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        if time.monotonic() < self._down_until:
            raise Unavailable("fork server failed recently")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        try:
            self._start()
        except OSError as e:
            self._down_until = time.monotonic() + _RETRY_AFTER
            raise Unavailable(f"cannot start the fork server: {e}") from None
        assert self._sock is not None
        return self._sock

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            actions = [(os.POSIX_SPAWN_DUP2, theirs.fileno(), 0),
                       (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
            actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in inheritable_fds() if fd != theirs.fileno()]
            # not in a session of its own: only its children are (how a scan tells them apart)
            pid = os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", FORKSERVER, self._dir],
                                 os.environ, file_actions=actions,
                                 setsigmask=SHEPHERD_MASK, setsigdef=SHEPHERD_SIGDEF)
        except OSError:
            ours.close()
            theirs.close()
            raise
        theirs.close()
        try:
            self._pidfd = os.pidfd_open(pid)
        except OSError:
            os.kill(pid, _signal.SIGKILL)
            os.waitpid(pid, 0)
            ours.close()
            raise
        ours.setblocking(False)
        self._pid, self._sock = pid, ours
        assert self._loop is not None
        self._loop.add_reader(ours.fileno(), self._readable)
        self._record(pid)

    def _record(self, pid: int) -> None:
        """Where the next daemon finds this server (to stop it before looking for shepherds
        that a crash left unrecorded)."""
        try:
            created = psutil.Process(pid).create_time()
            with open(os.path.join(self._dir, _PIDFILE), "w") as f:
                f.write(f"{pid} {created!r}\n")
        except (OSError, psutil.Error):
            pass

    def _stop(self) -> None:
        """Kill the server and wait for its end: once this returns, it forks nothing more."""
        self._disconnect()
        if self._pidfd >= 0:
            _kill(self._pidfd)
            self._release(10.0)

    def _release(self, timeout: float) -> bool:
        """Wait (up to `timeout`) for the server's end and reap it; whether it ended."""
        gone, _, _ = select.select([self._pidfd], [], [], timeout)
        try:
            os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            pass
        os.close(self._pidfd)
        self._pidfd, self._pid = -1, 0
        return bool(gone)

    def _disconnect(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def stop_previous(self) -> Optional[int]:
        """Kill a server left by a previous daemon (normally gone already: it leaves when its
        daemon does) and wait for its end; its pid, or None."""
        path = os.path.join(self._dir, _PIDFILE)
        try:
            with open(path) as f:
                pid_text, created_text = f.read().split()
            pid, created = int(pid_text), float(created_text)
        except (OSError, ValueError):
            return None
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None
        try:
            try:
                proc = psutil.Process(pid)
                same = abs(proc.create_time() - created) <= _CREATE_TIME_TOLERANCE and FORKSERVER in proc.cmdline()
            except psutil.Error:
                same = False
            if not same:
                return None
            _kill(pidfd)
            select.select([pidfd], [], [], 10.0)
            return pid
        finally:
            os.close(pidfd)

    def close(self) -> None:
        """The daemon stops: the server leaves when it sees its socket closed (waited for a
        moment, so it is reaped); the shepherds it started run on, and those it was asked
        for and did not confirm are found by the next daemon."""
        self._waiting.clear()
        self._disconnect()
        if self._pidfd >= 0 and self._release(2.0):
            _unlink(os.path.join(self._dir, _PIDFILE))


def _kill(pidfd: int) -> None:
    try:
        _signal.pidfd_send_signal(pidfd, _signal.SIGKILL)
    except ProcessLookupError:
        pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def inheritable_fds() -> list[int]:
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
