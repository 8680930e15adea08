"""gflowd's process: take the single-instance lock, listen on the Unix socket, serve frames.

Start-up, the accept loop, signal handling and shutdown live here; everything a request
does lives in `handlers/` and the parts `app.py` wires. A misbehaving client (garbage, oversized or
truncated frames, silence) only ever loses its own connection.
"""
from __future__ import annotations

import asyncio
import grp
import logging
import os
import signal
import socket
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import msgspec

from ..config import Config
from ..paths import DaemonPaths
from ..protocol import (
    HEADER,
    ErrorCode,
    Request,
    Response,
    RpcError,
    frame,
)
from . import identity, systemd
from .app import App
from .app import build as build_app
from .events import Started
from .executors.process import Executor
from .gpu import open_backend
from .gpu_poll import GpuPoll
from .dispatch import TOO_DEEP, Context, Dispatcher, Dropped, send_stream
from .handlers import Stream
from .instancelock import InstanceLock, LockBusy
from .intake import ConnectionCount, RequestBudget, raise_fd_limit
from .logread import LogReader
from .ratelimit import RateLimitedLog
from . import statedir
from .store import JobStore, StoreError, is_corruption

log = logging.getLogger("gflow.server")
RELOAD_GRACE_SECS = 5.0

# bytes a reply may leave in our buffer before we wait for the client to read them
_WRITE_HIGH_WATER = 256 * 1024


class StartupError(Exception):
    pass


class Server:
    def __init__(self, config: Config, dirs: DaemonPaths, force_empty_state: bool = False):
        self.config = config
        self.force_empty_state = force_empty_state
        self.dirs = dirs
        self.system = dirs.mode == "system"
        self.daemon_uid = os.geteuid()
        self._dispatcher = Dispatcher(self._log_internal)
        self.context: Optional[Context] = None  # what handlers reach, once the state is loaded
        self.app: Optional[App] = None  # the daemon's object graph, once the state is loaded
        self._stop: Optional[asyncio.Event] = None
        self._locks = [InstanceLock(dirs.lock)]
        if os.path.abspath(dirs.socket_lock) != os.path.abspath(dirs.lock):
            self._locks.append(InstanceLock(dirs.socket_lock))
        self._decode_request = msgspec.msgpack.Decoder(Request).decode
        self._encode = msgspec.msgpack.Encoder().encode
        self.gpu_poll: Optional[GpuPoll] = None
        self._memory_task: Optional[asyncio.Task] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._notify = systemd.take_notify_socket()
        self.owns_socket_file = True
        self.handover_fd: Optional[int] = None  # set by request_reload: the listener to pass on
        self._connections: set[asyncio.Task] = set()  # served now (a reload lets them finish)
        daemon = config.daemon
        self._per_user = ConnectionCount(daemon.max_connections_per_user)
        self._request_bytes = RequestBudget(daemon.max_buffered_request_bytes, daemon.max_frame_bytes)
        self._log_limited = RateLimitedLog(log)
        self.log_reader = LogReader(daemon.max_log_read_bytes, daemon.log_read_timeout_secs)
        # the memory watch and the GPU poll each have a thread of their own: nothing a
        # client asks (a log read stuck on a FIFO, say) can delay limits being enforced
        self.gpu_pool = ThreadPoolExecutor(1, thread_name_prefix="gflow-gpu")
        self._memory_pool = ThreadPoolExecutor(1, thread_name_prefix="gflow-memwatch")
        self._nofile_soft: Optional[int] = None

    # ------------------------------------------------------------------ lifecycle
    def prepare(self) -> None:
        """Everything that can fail before serving, with clear messages."""
        socket_dir = os.path.dirname(self.dirs.socket)
        try:
            statedir.prepare(self.dirs)  # umask 077 from here on
            make_dir(socket_dir, 0o755 if self.system else 0o700)
        except (statedir.StateDirError, OSError) as e:
            raise StartupError(f"cannot use the state directory {self.dirs.state_dir}: {e}") from None
        self._take_locks()
        self._nofile_soft = raise_fd_limit()
        try:
            statedir.check_not_emptied(self.dirs, self.force_empty_state)
            self.store = JobStore(self.dirs.database)
        except (StoreError, statedir.StateDirError) as e:
            self._release_locks()
            raise StartupError(str(e)) from None

    def _take_locks(self) -> None:
        taken = []
        for lock in self._locks:
            try:
                lock.acquire()
            except LockBusy as e:
                for held in taken:
                    held.release()
                if lock.path == self.dirs.lock:
                    what = f"gflowd is already running on the state directory {self.dirs.state_dir}"
                else:
                    what = f"gflowd is already running on the socket {self.dirs.socket}"
                raise StartupError(
                    f"{what}: its lock {e.path} is held by {e.holder}; "
                    "use `gflowd status`, or `gflowd down` first"
                ) from None
            except OSError as e:
                for held in taken:
                    held.release()
                raise StartupError(f"cannot open the lock file {lock.path}: {e.strerror}") from None
            taken.append(lock)

    def _release_locks(self) -> None:
        for lock in reversed(self._locks):
            lock.release()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_exception)
        self._stop = asyncio.Event()
        server = self._server = await self._start()
        app = self.app
        if app.machine.devices():
            self.gpu_poll = GpuPoll(app.table, app.machine.gpus, app.events, app.scheduling.request_pass,
                                    app.policy, self.config.daemon.gpu_poll_interval_secs, self.gpu_pool)
            self.gpu_poll.start()
        self.context = Context.of(app, self.gpu_poll, self.log_reader, self.request_stop, self.request_reload)
        self._memory_task = asyncio.create_task(self._watch_memory())
        # SIGTERM, SIGINT and SIGHUP stop the daemon, SIGUSR2 hands over (save and
        # exit keeping the runners). Every change is already committed and jobs are never
        # killed by a stop, so all four end the same graceful way.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
            loop.add_signal_handler(sig, self._stop_on_signal, sig)
        if self.config.executor.type == "tmux":
            log.warning("executor.type 'tmux' is not available in this gflow; jobs run with the process "
                        "executor (output goes to the log file directly)")
        log.info("gflowd serving on %s (%s mode, pid %d)", self.dirs.socket, self.dirs.mode, os.getpid())
        systemd.notify(self._notify, "READY=1", f"STATUS=serving on {self.dirs.socket}")
        try:
            await self._stop.wait()
        finally:
            if self.handover_fd is None:
                systemd.notify(self._notify, "STOPPING=1")
            server.close()
            if self.gpu_poll is not None:
                self.gpu_poll.close()
            self._memory_task.cancel()
            self.log_reader.close()
            self.gpu_pool.shutdown(wait=False)
            self._memory_pool.shutdown(wait=False)
            app.close()
            if self.owns_socket_file and self.handover_fd is None:
                try:
                    os.unlink(self.dirs.socket)
                except FileNotFoundError:
                    pass
            self.store.close()
            self._release_locks()
            log.info("gflowd stopped; running jobs keep running and are re-adopted at the next start")

    async def _start(self) -> asyncio.AbstractServer:
        """Open the socket, load the state, re-adopt jobs. A database found unreadable on the
        way (a corrupt page) ends the start-up with one line, and no socket is left behind."""
        server = None
        try:
            server = await self._listen()
            app = build_app(
                self.config,
                self.dirs,
                self.store,
                open_backend(self.config.gpu),
                lambda on_exit: Executor(self.dirs.runners_dir, on_exit, nofile_soft=self._nofile_soft),
            )
            self.app = app
            app.start()
            return server
        except sqlite3.DatabaseError as e:
            if server is not None:
                server.close()
                if self.owns_socket_file:  # never the socket systemd made for the unit
                    try:
                        os.unlink(self.dirs.socket)
                    except FileNotFoundError:
                        pass
            if self.app is not None:
                self.app.executor.close()
            if is_corruption(e):
                message = str(self.store.corruption_error(e))
            else:
                message = f"cannot read the job database {self.dirs.database}: {e}"
            self.store.close()
            self._release_locks()
            raise StartupError(message) from None

    async def _watch_memory(self) -> None:
        """Enforce `--memory` (see memwatch); idle until a limited job runs."""
        from . import memwatch

        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        app = self.app
        app.events.subscribe(
            Started, lambda e: wake.set() if any(j.memory_limit_mb for j in e.jobs) else None
        )
        while True:
            wake.clear()
            targets = app.table.memory_targets()
            if not targets:
                await wake.wait()
                continue
            for job_id, used in await loop.run_in_executor(self._memory_pool, memwatch.over_limit, targets):
                app.lifecycle.memory_exceeded(job_id, used)
            await asyncio.sleep(memwatch.CHECK_INTERVAL_SECS)

    async def _listen(self) -> asyncio.AbstractServer:
        inherited = systemd.listen_socket()
        if inherited is not None:
            # socket activation (systemd made the socket with the unit's mode and owner), or
            # our own reload, which hands over the socket it made
            sock, self.owns_socket_file = inherited
            return await asyncio.start_unix_server(self._client, sock=sock, backlog=1024)
        if os.path.exists(self.dirs.socket) or os.path.islink(self.dirs.socket):
            os.unlink(self.dirs.socket)  # stale: we hold the lock, so nobody serves it
        # created owner-only, then opened up as configured: no window with the umask's mode
        old_umask = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(self._client, path=self.dirs.socket, backlog=1024)
        finally:
            os.umask(old_umask)
        self._secure_socket()
        return server

    def request_reload(self) -> None:
        """Stop accepting, stop cleanly, then re-execute (run_foreground) with the listening
        socket: connections made meanwhile queue in its backlog for the new image."""
        if self._server is None or self.handover_fd is not None:
            return
        listener = self._server.sockets[0].fileno()
        self.handover_fd = os.dup(listener)  # outlives server.close()
        # stop accepting, but leave the server open: a connection accepted in this loop turn
        # still has to attach to it (a closed asyncio server drops it with a reset)
        asyncio.get_running_loop().remove_reader(listener)
        systemd.notify(self._notify, "RELOADING=1", "STATUS=reloading")
        log.info("reload requested: re-executing with the listening socket (running jobs keep running)")
        asyncio.get_running_loop().create_task(self._stop_when_served())

    async def _stop_when_served(self) -> None:
        """Connections already accepted finish (one-shot CLI calls take milliseconds); ones
        still open after the grace period (a long `gjob wait`) are closed, as on any stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RELOAD_GRACE_SECS
        while True:
            # sockets accepted just before the listener closed become connection tasks only a
            # few loop turns later; closing them unread would reset the client
            for _ in range(10):
                await asyncio.sleep(0)
            if not self._connections or loop.time() >= deadline:
                break
            await asyncio.wait(set(self._connections), timeout=deadline - loop.time())
        self.request_stop()

    def _secure_socket(self) -> None:
        path = self.dirs.socket
        if not self.system:
            os.chmod(path, 0o600)
            return
        group = self.config.daemon.socket_group
        if group:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise StartupError(f"daemon.socket_group: no such group '{group}'") from None
            os.chown(path, -1, gid)
            os.chmod(path, 0o660)
        else:
            os.chmod(path, 0o666)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        """asyncio reports accept() failures (EMFILE at the fd limit) here, once per try:
        at most one line per kind every few seconds."""
        error = context.get("exception")
        key = f"loop-{context.get('message', '')}-{type(error).__name__}"
        self._log_limited(logging.ERROR, key, "%s%s", context.get("message", "event loop error"),
                          f": {error}" if error is not None else "")

    def _stop_on_signal(self, sig: int) -> None:
        log.info("%s received: stopping (running jobs keep running)", signal.Signals(sig).name)
        self.request_stop()

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    # ------------------------------------------------------------------ connections
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(asyncio.current_task())
        caller: Optional[identity.Caller] = None
        admitted = False
        try:
            caller = self._identify(writer)
            if caller is None:
                self._refuse(writer, ErrorCode.FORBIDDEN,
                             "this gflowd is a personal daemon of another user; it accepts only its owner and root")
                return
            if not self._per_user.admit(caller.uid, caller.admin):
                self._log_limited(logging.WARNING, f"conn-cap-{caller.uid}",
                                  "refused a connection of %s: %d already open (daemon.max_connections_per_user)",
                                  caller.user, self._per_user.of(caller.uid))
                self._refuse(writer, ErrorCode.BUSY,
                             f"too many connections from {caller.user}: at most "
                             f"{self._per_user.per_user} per user (daemon.max_connections_per_user)")
                return
            admitted = True
            # replies are written a part at a time and drained: this is how much may wait
            # in our buffer for a slow reader before we wait for it
            writer.transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
            first = True
            while True:
                body = await self._read_frame(reader, writer, caller, first)
                if body is None:
                    return
                first = False
                try:
                    request = self._decode_request(body)
                except (msgspec.DecodeError, msgspec.ValidationError) as e:
                    await self._send(writer, Response(id=0, error=RpcError(
                        code=ErrorCode.BAD_REQUEST, message=f"undecodable request: {e}",
                    )))
                    return
                except RecursionError:
                    await self._send(writer, Response(id=0, error=RpcError(
                        code=ErrorCode.BAD_REQUEST, message=TOO_DEEP)))
                    return
                del body
                failed = await self._answer(writer, caller, request)
                if request.method == "hello" and failed:
                    # another protocol version: what it sends next cannot be read safely, and
                    # clients pipeline their first request behind hello
                    return
        except (asyncio.IncompleteReadError, ConnectionError, Dropped):
            pass
        finally:
            if admitted:
                self._per_user.leave(caller.uid)
            writer.close()
            self._connections.discard(asyncio.current_task())

    async def _read_frame(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          caller: identity.Caller, first: bool) -> Optional[bytes]:
        """The next request's body; None when the connection is to be closed. Between
        requests a client may stay silent (scripts keep a Client open); a connection that
        never asks anything, or a request that trickles in, is closed."""
        daemon = self.config.daemon
        try:
            start = await asyncio.wait_for(reader.readexactly(1), daemon.first_request_timeout_secs if first else None)
        except asyncio.TimeoutError:
            self._refuse(writer, ErrorCode.BAD_REQUEST,
                         f"no request within {daemon.first_request_timeout_secs:g} s (daemon.first_request_timeout_secs)")
            return None
        held = [0]  # bytes reserved for this request, released whatever happens
        try:
            return await asyncio.wait_for(self._receive(reader, writer, caller, start, held), daemon.frame_timeout_secs)
        except asyncio.TimeoutError:
            self._log_limited(logging.INFO, f"slow-{caller.uid}", "closed a connection of %s: its request did not "
                              "arrive within %g s (daemon.frame_timeout_secs)", caller.user, daemon.frame_timeout_secs)
            self._refuse(writer, ErrorCode.BAD_REQUEST,
                         f"request not received within {daemon.frame_timeout_secs:g} s (daemon.frame_timeout_secs)")
            return None
        finally:
            self._request_bytes.release(caller.uid, held[0])

    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       caller: identity.Caller, start: bytes, held: list[int]) -> Optional[bytes]:
        (length,) = HEADER.unpack(start + await reader.readexactly(HEADER.size - 1))
        limit = self.config.daemon.max_frame_bytes
        if length > limit:
            await self._send(writer, Response(id=0, error=RpcError(
                code=ErrorCode.TOO_LARGE,
                message=f"frame of {length} bytes exceeds the limit of {limit} (daemon.max_frame_bytes)",
            )))
            return None
        # reserved before reading: the body accumulates in the stream reader's buffer
        held[0] = await self._request_bytes.reserve(caller.uid, caller.admin, length)
        return await reader.readexactly(length)

    def _refuse(self, writer: asyncio.StreamWriter, code: str, message: str) -> None:
        """A last word before closing, without waiting for a client that may never read it."""
        try:
            writer.write(frame(self._encode(Response(id=0, error=RpcError(code=code, message=message)))))
        except (ConnectionError, RuntimeError):
            pass

    async def _answer(self, writer: asyncio.StreamWriter, caller: identity.Caller, request: Request) -> bool:
        """Dispatch one request and send its reply (several frames for a Stream); True when
        the reply was an error."""
        response = await self._dispatcher.dispatch(self.context, caller, request)
        if not isinstance(response.result, Stream):
            await self._send(writer, response)
            return response.error is not None
        return await send_stream(lambda r: self._send(writer, r), request, response.result.parts, self._log_internal)

    def _identify(self, writer: asyncio.StreamWriter) -> Optional[identity.Caller]:
        sock: socket.socket = writer.get_extra_info("socket")
        pid, uid, gid = identity.peer_credentials(sock)
        if not identity.may_connect(uid, self.daemon_uid, self.system):
            log.warning("refused connection from uid %d (pid %d)", uid, pid)
            return None
        admin = identity.is_admin(uid, self.daemon_uid, self.config.daemon.admin_group if self.system else None)
        return identity.Caller(pid=pid, uid=uid, gid=gid, user=identity.user_name(uid), admin=admin)

    async def _send(self, writer: asyncio.StreamWriter, response: Response) -> None:
        """Write one frame; a client that leaves it unread for send_timeout_secs is dropped,
        so what it did not read stops costing memory."""
        transport = writer.transport
        if transport.is_closing():
            # the client left mid-stream: stop building pages nobody will read
            raise ConnectionResetError("the client closed the connection")
        writer.write(frame(self._encode(response)))
        if transport.get_write_buffer_size() <= _WRITE_HIGH_WATER:
            return
        timeout = self.config.daemon.send_timeout_secs
        try:
            await asyncio.wait_for(writer.drain(), timeout)
        except asyncio.TimeoutError:
            self._log_limited(logging.INFO, "drop-reader", "dropped a connection that did not read its reply "
                              "for %g s (daemon.send_timeout_secs)", timeout)
            transport.abort()
            raise Dropped() from None

    def _log_internal(self, method: str, error: Exception) -> None:
        # a client that found a bug may repeat it thousands of times a second
        self._log_limited(logging.ERROR, f"internal-{method}-{type(error).__name__}",
                          "internal error in %s", method, exc_info=error)


def make_dir(path: str, mode: int) -> None:
    """makedirs with exactly `mode` for what it creates: the unit's UMask=0077 must not make
    the system daemon's socket and log directories unreachable for its users."""
    created = not os.path.isdir(path)
    os.makedirs(path, mode=mode, exist_ok=True)
    if created:
        os.chmod(path, mode)


def run_foreground(config: Config, dirs: DaemonPaths, force_empty_state: bool = False) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = Server(config, dirs, force_empty_state)
    try:
        server.prepare()
        from .daylog import DailyJsonHandler

        logging.getLogger().addHandler(DailyJsonHandler(dirs.logs_dir))
    except (StartupError, OSError) as e:
        log.error("%s", e)
        raise StartupError(str(e)) from None
    try:
        asyncio.run(server.serve())
    except StartupError as e:
        log.error("%s", e)
        raise
    if server.handover_fd is not None:
        logging.shutdown()
        systemd.reexec(server.handover_fd, server.owns_socket_file, server._notify)
    return 0
