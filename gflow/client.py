"""`gflow.client.Client`: the RPC client every CLI uses, and a public API for scripts.

    from gflow.client import Client
    with Client() as c:
        job_id = c.submit("python train.py", gpus=1, name="train")
        (job,) = c.wait([job_id])
        print(job.state, c.log(job_id).decode())

The daemon identifies the caller from the socket itself, so nothing here sends a user name.
"""
from __future__ import annotations

import _socket  # the C module: `socket` itself costs ~3 ms of imports (enum, selectors)
import os
from typing import Iterable, Optional, Sequence

import msgspec

from . import paths
from .protocol import (
    HEADER,
    PROTOCOL_VERSION,
    ActionResult,
    ErrorCode,
    GflowError,
    Hello,
    HelloResult,
    IdsParams,
    Job,
    JobRef,
    JobSpec,
    JobState,
    ListParams,
    LogParams,
    LogResult,
    ReleaseParams,
    RpcError,
    StatusResult,
    SubmitParams,
    SubmitResult,
    WaitParams,
    frame,
)

__all__ = ["Client", "DaemonUnavailable", "GflowError", "JobSpec", "find_socket"]


class DaemonUnavailable(GflowError):
    def __init__(self, message: str):
        super().__init__("unavailable", message)


class _Reply(msgspec.Struct, kw_only=True):
    id: int
    result: msgspec.Raw = msgspec.Raw(b"\xc0")
    error: Optional[RpcError] = None
    more: bool = False


_EMPTY_ARRAY = b"\x90"  # msgpack for []

# Read-only methods may travel in the same round trip as `hello` (the reply to hello is read
# first, so a version mismatch is still reported before anything else). A method that changes
# state always waits for the hello reply before it is sent.
_PIPELINE_SAFE = frozenset({
    "jobs.list", "jobs.get", "jobs.resolve", "jobs.log", "jobs.wait", "daemon.status",
    "gpus.info", "stats.get",
})


def _listening(path: str) -> bool:
    """Whether a daemon accepts on `path` (a crashed one leaves its socket file behind)."""
    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def find_socket(explicit: Optional[str] = None) -> str:
    """`--socket`, then `$GFLOW_SOCKET`, then a personal daemon's socket, then the system one."""
    if explicit:
        return explicit
    env = os.environ.get("GFLOW_SOCKET")
    if env:
        return env
    user = paths.user_socket()
    system = os.path.exists(paths.SYSTEM_SOCKET)
    if os.path.exists(user) and (not system or _listening(user)):
        return user  # only probed when there is a choice: a plain CLI call pays no extra connect
    if system:
        return paths.SYSTEM_SOCKET
    configured = _configured_socket()
    return configured or user


def _configured_socket() -> Optional[str]:
    """Config may move the socket (`daemon.socket`); read only when the defaults are absent,
    so ordinary CLI calls never pay for YAML."""
    files = paths.user_config_files() + ([paths.SYSTEM_CONFIG] if os.path.exists(paths.SYSTEM_CONFIG) else [])
    if not files and not any(k.startswith("GFLOW_DAEMON__") for k in os.environ):
        return None
    from .config import ConfigError, load

    for system in (False, True):
        try:
            sock = load(system=system).daemon.socket
        except ConfigError:
            continue
        if sock and os.path.exists(sock):
            return sock
    return None


class Client:
    def __init__(self, socket_path: Optional[str] = None, timeout: Optional[float] = None):
        self.socket_path = find_socket(socket_path)
        self.timeout = timeout
        self._sock: Optional[_socket.socket] = None
        self._next_id = 0
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode_reply = msgspec.msgpack.Decoder(_Reply).decode
        self._identity: Optional[HelloResult] = None
        self._hello_id: Optional[int] = None  # hello sent, its reply not read yet

    # ------------------------------------------------------------------ connection
    def connect(self) -> "Client":
        """Open the connection and send `hello`; its reply is read with the first answer
        (or when `identity` is asked for), so a CLI call costs one round trip, not two."""
        if self._sock is not None:
            return self
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise DaemonUnavailable(
                "Could not connect to gflowd server. Is the server running? "
                f"(socket {self.socket_path}; start it with 'gflowd up')"
            ) from None
        except PermissionError:
            sock.close()
            raise DaemonUnavailable(f"permission denied on {self.socket_path}") from None
        except OSError as e:
            sock.close()
            raise DaemonUnavailable(f"cannot connect to gflowd at {self.socket_path}: {e}") from None
        self._sock = sock
        self._identity = None
        self._hello_id = self._send("hello", Hello(protocol=PROTOCOL_VERSION))
        return self

    @property
    def identity(self) -> Optional[HelloResult]:
        """Who the daemon says we are (uid, user, admin) and its version; None before connect."""
        if self._hello_id is not None:
            self._finish_hello()
        return self._identity

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._hello_id = None

    def __enter__(self) -> "Client":
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, params=None, result_type=None):
        """Send one request and return its decoded result (raises GflowError on an error)."""
        parts = self._call_parts(method, params)
        if len(parts) > 1:
            # a streamed list (a big listing): its parts are arrays, joined into one
            return self._result(_Reply(id=0, result=msgspec.Raw(_join_arrays(parts))), result_type)
        return self._result(_Reply(id=0, result=parts[0]), result_type)

    def _call_parts(self, method: str, params) -> list[msgspec.Raw]:
        """The undecoded result of each frame of the reply: one, or several when the daemon
        streams a big answer (`more` on all but the last frame)."""
        if self._sock is None:
            self.connect()
        if self._hello_id is not None and method not in _PIPELINE_SAFE:
            self._finish_hello()
        request_id = self._send(method, params if params is not None else {})
        if self._hello_id is not None:
            self._finish_hello()
        parts = []
        while True:
            reply = self._receive()
            if reply.id != request_id and reply.error is None:
                self.close()
                raise DaemonUnavailable(f"gflowd answered request {reply.id}, expected {request_id}")
            if reply.error is not None:
                raise GflowError(reply.error.code, reply.error.message)
            parts.append(reply.result)
            if not reply.more:
                return parts

    def _send(self, method: str, params) -> int:
        self._next_id += 1
        body = self._encode({"id": self._next_id, "method": method, "params": params})
        try:
            self._sock.sendall(frame(body))
        except OSError as e:
            # the daemon may have refused us (at accept, or in answer to hello) and hung up:
            # its last frame is still in our receive buffer and says why
            self._raise_pending_error()
            self.close()
            raise DaemonUnavailable(f"lost the connection to gflowd: {e}") from None
        return self._next_id

    def _raise_pending_error(self) -> None:
        self._hello_id = None
        try:
            self._sock.setblocking(False)
            reply = self._decode_reply(self._read_frame())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return
        if reply.error is not None:
            self.close()
            raise GflowError(reply.error.code, reply.error.message)

    def _receive(self) -> _Reply:
        try:
            return self._decode_reply(self._read_frame())
        except (ConnectionError, OSError) as e:
            self.close()
            raise DaemonUnavailable(f"lost the connection to gflowd: {e}") from None

    def _finish_hello(self) -> None:
        self._hello_id = None
        reply = self._receive()
        try:
            self._identity = self._result(reply, HelloResult)
        except GflowError:
            self.close()  # refused, or a version mismatch: nothing more on this connection
            raise

    @staticmethod
    def _result(reply: _Reply, result_type):
        if reply.error is not None:
            raise GflowError(reply.error.code, reply.error.message)
        if result_type is None:
            return msgspec.msgpack.decode(reply.result)
        return msgspec.msgpack.decode(reply.result, type=result_type)

    def _read_frame(self) -> bytes:
        header = self._recv_exactly(HEADER.size)
        (length,) = HEADER.unpack(header)
        return self._recv_exactly(length)

    def _recv_exactly(self, n: int) -> bytes:
        sock = self._sock
        if sock is None:
            raise ConnectionError("not connected")
        first = sock.recv(min(n, 1 << 22))
        if len(first) == n:
            return first
        buf = bytearray(first)
        while len(buf) < n:
            if not first:
                raise ConnectionError("gflowd closed the connection")
            first = sock.recv(min(n - len(buf), 1 << 22))
            buf += first
        return bytes(buf)

    # ------------------------------------------------------------------ jobs
    def submit(
        self,
        command: Optional[str] = None,
        *,
        script: Optional[str] = None,
        cwd: Optional[str] = None,
        env: Optional[dict[str, str]] = None,
        **fields,
    ) -> int:
        """Submit one job; `fields` are those of `protocol.JobSpec` (name, gpus, priority,
        time_limit in seconds, depends_on, ...). Returns the new job id."""
        spec = JobSpec(
            command=command,
            script=script,
            run_dir=cwd or os.getcwd(),
            env=dict(os.environ) if env is None else env,
            **fields,
        )
        return self.submit_many([spec]).jobs[0][0]

    def submit_many(self, specs: Sequence[JobSpec], max_concurrent: Optional[int] = None) -> SubmitResult:
        """Submit several jobs in one request and one transaction (all or nothing)."""
        return self.call(
            "jobs.submit", SubmitParams(jobs=list(specs), group_max_concurrent=max_concurrent), SubmitResult
        )

    def list(
        self,
        states: Optional[Iterable[JobState]] = None,
        users: Optional[Iterable[str]] = None,
        ids: Optional[Iterable[int]] = None,
        since: Optional[float] = None,
    ) -> list[Job]:
        params = ListParams(
            states=list(states) if states is not None else None,
            users=list(users) if users is not None else None,
            ids=list(ids) if ids is not None else None,
            since=since,
        )
        raw = self.call("jobs.list", params, msgspec.Raw)
        if len(raw) == 1 and bytes(raw) == _EMPTY_ARRAY:
            # nothing listed (the usual personal queue): no need to build msgspec's decoder
            # for list[Job], ~1 ms of a gqueue call
            return []
        return msgspec.msgpack.decode(raw, type=list[Job])

    def get(self, ref: int | str) -> Job:
        """One job by id or `@` / `@~N`."""
        return self.call("jobs.get", JobRef(ref=str(ref)), Job)

    def resolve(self, ref: int | str) -> int:
        return self.call("jobs.resolve", JobRef(ref=str(ref)), int)

    def cancel(self, ids: Iterable[int]) -> ActionResult:
        return self.call("jobs.cancel", IdsParams(ids=list(ids)), ActionResult)

    def hold(self, ids: Iterable[int]) -> ActionResult:
        return self.call("jobs.hold", IdsParams(ids=list(ids)), ActionResult)

    def release(self, ids: Iterable[int], at: Optional[float] = None) -> ActionResult:
        return self.call("jobs.release", ReleaseParams(ids=list(ids), at=at), ActionResult)

    def log(self, ref: int | str, first: Optional[int] = None, last: Optional[int] = None) -> Optional[bytes]:
        """The job's output so far, or None if it has not started yet."""
        parts = self._call_parts("jobs.log", LogParams(ref=str(ref), first=first, last=last))
        chunks = [msgspec.msgpack.decode(part, type=LogResult).content for part in parts]
        if chunks == [None]:
            return None
        return b"".join(chunk for chunk in chunks if chunk)

    def wait(self, ids: Iterable[int], timeout: Optional[float] = None) -> list[Job]:
        """Block until every job is in a terminal state (or `timeout` seconds pass)."""
        return self.call("jobs.wait", WaitParams(ids=list(ids), timeout=timeout), list[Job])

    # ------------------------------------------------------------------ daemon
    def status(self) -> StatusResult:
        return self.call("daemon.status", None, StatusResult)

    def shutdown(self) -> None:
        self.call("daemon.shutdown")


def _join_arrays(parts: list[msgspec.Raw]) -> bytes:
    """One msgpack array holding the items of several (the parts of a streamed list)."""
    count, bodies = 0, []
    for part in parts:
        data = bytes(part)
        tag = data[0]
        if 0x90 <= tag <= 0x9F:
            n, skip = tag & 0x0F, 1
        elif tag == 0xDC:
            n, skip = int.from_bytes(data[1:3], "big"), 3
        elif tag == 0xDD:
            n, skip = int.from_bytes(data[1:5], "big"), 5
        else:
            raise GflowError(ErrorCode.INTERNAL, "gflowd streamed a reply that is not a list")
        count += n
        bodies.append(memoryview(data)[skip:])
    header = bytes([0xDD]) + count.to_bytes(4, "big")
    return b"".join([header, *bodies])


def is_not_found(error: GflowError) -> bool:
    return error.code == ErrorCode.NOT_FOUND
