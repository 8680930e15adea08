"""gflowd's process: take the single-instance lock, listen on the Unix socket, serve frames.

Start-up, the accept loop, signal handling and shutdown live here; everything a request
does lives in `handlers/` and `engine.py`. A misbehaving client (garbage, oversized or
truncated frames, silence) only ever loses its own connection.
"""
from __future__ import annotations

import asyncio
import grp
import inspect
import logging
import os
import signal
import socket
import sqlite3
from typing import Optional

import msgspec

from ..config import Config
from ..paths import DaemonPaths
from ..protocol import (
    HEADER,
    ErrorCode,
    GflowError,
    Request,
    Response,
    RpcError,
    frame,
)
from . import audit, identity, systemd
from .engine import Engine
from .executor import Executor
from .gpu import open_backend
from .gpu_poll import GpuPoll
from .handlers import Method, load as load_handlers
from .instancelock import InstanceLock, LockBusy
from .policy import Policy
from . import statedir
from .retention import Retention
from .store import JobStore, StoreError, is_corruption

log = logging.getLogger("gflow.server")
RELOAD_GRACE_SECS = 5.0


class StartupError(Exception):
    pass


class Server:
    def __init__(self, config: Config, dirs: DaemonPaths, force_empty_state: bool = False):
        self.config = config
        self.force_empty_state = force_empty_state
        self.dirs = dirs
        self.system = dirs.mode == "system"
        self.daemon_uid = os.geteuid()
        self.methods: dict[str, Method] = load_handlers()
        self.engine: Optional[Engine] = None
        self.policy: Optional[Policy] = None
        self.retention: Optional[Retention] = None
        self._stop: Optional[asyncio.Event] = None
        self._locks = [InstanceLock(dirs.lock)]
        if os.path.abspath(dirs.socket_lock) != os.path.abspath(dirs.lock):
            self._locks.append(InstanceLock(dirs.socket_lock))
        self._decode_request = msgspec.msgpack.Decoder(Request).decode
        self._encode = msgspec.msgpack.Encoder().encode
        self._param_decoders: dict[str, msgspec.msgpack.Decoder] = {}
        self.gpu_poll: Optional[GpuPoll] = None
        self._memory_task: Optional[asyncio.Task] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._notify = systemd.take_notify_socket()
        self.owns_socket_file = True
        self.handover_fd: Optional[int] = None  # set by request_reload: the listener to pass on
        self._connections: set[asyncio.Task] = set()  # served now (a reload lets them finish)

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
        self._stop = asyncio.Event()
        server = self._server = await self._start()
        if self.engine.gpus.devices():
            self.gpu_poll = GpuPoll(self.engine, self.policy, self.config.daemon.gpu_poll_interval_secs)
            self.gpu_poll.start()
        self._memory_task = asyncio.create_task(self._watch_memory())
        # SPEC 6.6: SIGTERM, SIGINT and SIGHUP stop the daemon, SIGUSR2 hands over (save and
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
            self.policy.close()
            self.retention.close()
            self.engine.close()
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
            self.engine = Engine(
                self.config,
                self.dirs,
                self.store,
                open_backend(self.config.gpu),
                lambda on_exit: Executor(self.dirs.runners_dir, on_exit),
            )
            self.policy = Policy(self.store, self.config, self.engine)
            self.engine.policy = self.policy
            self.engine.on_clock_step.append(self.policy.clock_stepped)
            self.retention = Retention(self.engine, self.store, self.config)
            self.engine.start()
            self.policy.start()
            self.retention.start()
            return server
        except sqlite3.DatabaseError as e:
            if server is not None:
                server.close()
                if self.owns_socket_file:  # never the socket systemd made for the unit
                    try:
                        os.unlink(self.dirs.socket)
                    except FileNotFoundError:
                        pass
            if self.engine is not None:
                self.engine.executor.close()
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
        self.engine.on_launch.append(lambda jobs: wake.set() if any(j.memory_limit_mb for j in jobs) else None)
        while True:
            wake.clear()
            targets = self.engine.memory_targets()
            if not targets:
                await wake.wait()
                continue
            for job_id, used in await loop.run_in_executor(None, memwatch.over_limit, targets):
                self.engine.memory_exceeded(job_id, used)
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

    def _stop_on_signal(self, sig: int) -> None:
        log.info("%s received: stopping (running jobs keep running)", signal.Signals(sig).name)
        self.request_stop()

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    # ------------------------------------------------------------------ connections
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(asyncio.current_task())
        try:
            caller = self._identify(writer)
            if caller is None:
                await self._send(writer, Response(id=0, error=RpcError(
                    code=ErrorCode.FORBIDDEN,
                    message="this gflowd is a personal daemon of another user; it accepts only its owner and root",
                )))
                return
            while True:
                header = await reader.readexactly(HEADER.size)
                (length,) = HEADER.unpack(header)
                if length > self.config.daemon.max_frame_bytes:
                    await self._send(writer, Response(id=0, error=RpcError(
                        code=ErrorCode.TOO_LARGE,
                        message=f"frame of {length} bytes exceeds the limit of {self.config.daemon.max_frame_bytes}",
                    )))
                    return
                body = await reader.readexactly(length)
                try:
                    request = self._decode_request(body)
                except (msgspec.DecodeError, msgspec.ValidationError) as e:
                    await self._send(writer, Response(id=0, error=RpcError(
                        code=ErrorCode.BAD_REQUEST, message=f"undecodable request: {e}",
                    )))
                    return
                response = await self._dispatch(caller, request)
                await self._send(writer, response)
                if request.method == "hello" and response.error is not None:
                    # another protocol version: what it sends next cannot be read safely, and
                    # clients pipeline their first request behind hello
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._connections.discard(asyncio.current_task())

    def _identify(self, writer: asyncio.StreamWriter) -> Optional[identity.Caller]:
        sock: socket.socket = writer.get_extra_info("socket")
        pid, uid, gid = identity.peer_credentials(sock)
        if not identity.may_connect(uid, self.daemon_uid, self.system):
            log.warning("refused connection from uid %d (pid %d)", uid, pid)
            return None
        admin = identity.is_admin(uid, self.daemon_uid, self.config.daemon.admin_group if self.system else None)
        return identity.Caller(pid=pid, uid=uid, gid=gid, user=identity.user_name(uid), admin=admin)

    async def _send(self, writer: asyncio.StreamWriter, response: Response) -> None:
        writer.write(frame(self._encode(response)))
        await writer.drain()

    async def _dispatch(self, caller: identity.Caller, request: Request) -> Response:
        method = self.methods.get(request.method)
        params = None
        try:
            if method is None:
                raise GflowError(ErrorCode.UNKNOWN_METHOD, f"unknown method '{request.method}'")
            if method.admin:
                identity.require_admin(caller, method.what)
            params = self._decode_params(method, request.params)
            result = method.fn(self, caller, params)
            if inspect.isawaitable(result):
                result = await result
            if method.audit:
                audit.record(caller, method.name, params, result)
            return Response(id=request.id, result=result)
        except GflowError as e:
            if method is not None and method.audit:
                audit.record(caller, method.name, params, error=e)
            return Response(id=request.id, error=e.to_wire())
        except Exception as e:  # a bug must cost one request, never the daemon
            log.exception("internal error in %s", request.method)
            if method is not None and method.audit:
                audit.record(caller, method.name, params, error=GflowError(ErrorCode.INTERNAL, f"internal error: {e}"))
            return Response(id=request.id, error=RpcError(code=ErrorCode.INTERNAL, message=f"internal error: {e}"))

    def _decode_params(self, method: Method, raw: msgspec.Raw):
        decoder = self._param_decoders.get(method.name)
        if decoder is None:
            decoder = self._param_decoders[method.name] = msgspec.msgpack.Decoder(method.params)
        try:
            return decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            raise GflowError(ErrorCode.BAD_REQUEST, f"invalid parameters for {method.name}: {e}") from None


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
