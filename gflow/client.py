"""`gflow.client.Client`: the RPC client every CLI uses, and a public API for scripts.

    from gflow.client import Client
    with Client() as c:
        job_id = c.submit("python train.py", gpus=1, name="train")
        (job,) = c.wait([job_id])
        print(job.state, c.log(job_id).decode())

The daemon identifies the caller from the socket itself, so nothing here sends a user name.

msgspec and the protocol Structs are imported on first typed use: the CLI's hot commands
(`gqueue`, `gbatch`, `gcancel`, `gjob show`) exchange plain maps through `call_lean`, encoded
by `gflow.wire`, and never pay for the schema library's import.
"""
from __future__ import annotations

import _socket  # the C module: `socket` itself costs ~3 ms of imports (enum, selectors)
import os

from . import paths, wire
from .methods import PIPELINE_SAFE, result_type
from .client_admin import AdminMethods
from .errors import ErrorCode, GflowError

TYPE_CHECKING = False  # `typing` is not imported at run time: CLI start-up
if TYPE_CHECKING:
    from typing import Iterable, Optional, Sequence

    from .protocol import (ActionResult, HelloResult, Job, JobSpec, JobState, LogResult, RedoParams, RedoResult,
                           StatusResult, SubmitResult, UpdateParams, UpdateResult)

__all__ = ["Client", "DaemonUnavailable", "GflowError", "JobSpec", "find_socket", "locate_socket"]


class DaemonUnavailable(GflowError):
    def __init__(self, message: str):
        super().__init__("unavailable", message)


def __getattr__(name):  # `from gflow.client import JobSpec` without importing msgspec up front
    if name == "JobSpec":
        from .protocol import JobSpec

        return JobSpec
    raise AttributeError(name)


_REPLY_DECODER: list = []


def _reply_decoder():
    """msgspec's typed decoder of a reply envelope, built on the first typed call."""
    if not _REPLY_DECODER:
        import msgspec

        from .protocol import RawResponse

        _REPLY_DECODER.append(msgspec.msgpack.Decoder(RawResponse).decode)
    return _REPLY_DECODER[0]


_HEADER_SIZE = 4  # frames: 4-byte big-endian length, then the msgpack body


_EMPTY_ARRAY = b"\x90"  # msgpack for []

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
    return locate_socket(explicit)[0]


def locate_socket(explicit: Optional[str] = None) -> tuple[str, str]:
    """(socket, why it was chosen). One daemon per machine: `--socket`, `$GFLOW_SOCKET` or a
    socket your config names win; otherwise a live system daemon, so a personal daemon
    left over from a quickstart never silently takes jobs away from the shared scheduler
    (its quotas, reservations and GPU bookkeeping); then your personal daemon."""
    if explicit:
        return explicit, "--socket"
    env = os.environ.get("GFLOW_SOCKET")
    if env:
        return env, "GFLOW_SOCKET"
    named = _user_config_socket()
    if named:
        return named, "daemon.socket in your config"
    user = paths.user_socket()
    system = paths.system_socket()
    if os.path.exists(system):
        # probed only when a personal socket competes: a plain CLI call pays no extra connect
        if not os.path.exists(user) or _listening(system):
            return system, "system daemon"
    if os.path.exists(user):
        return user, "personal daemon"
    configured = _configured_socket()
    if configured:
        return configured, "daemon.socket in the system config"
    return user, "personal daemon (default)"


def _user_config_socket() -> Optional[str]:
    """`daemon.socket` of the user's own config; the YAML is parsed only when the file
    mentions a socket at all, so ordinary CLI calls never pay for it."""
    files = paths.user_config_files()
    if not files or not any(_mentions_socket(f) for f in files):
        return None
    from .config import ConfigError, load

    try:
        return load(system=False).daemon.socket
    except ConfigError:
        return None


def _mentions_socket(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return b"socket" in f.read(65536)
    except OSError:
        return False


def _configured_socket() -> Optional[str]:
    """Config may move the socket (`daemon.socket`); read only when the defaults are absent,
    so ordinary CLI calls never pay for YAML."""
    files = paths.user_config_files() + ([paths.SYSTEM_CONFIG] if os.path.exists(paths.SYSTEM_CONFIG) else [])
    if not files and not any(k.startswith("GFLOW_DAEMON__") for k in os.environ):
        return None
    from .config import ConfigError, load

    for system in (True,):
        try:
            sock = load(system=system).daemon.socket
        except ConfigError:
            continue
        if sock and os.path.exists(sock):
            return sock
    return None


class Client(AdminMethods):
    """The connection and the calls every user makes; the admin and reporting calls
    (GPUs, groups, quotas, reservations, statistics, purge, audit) come from `AdminMethods`."""

    def __init__(self, socket_path: Optional[str] = None, timeout: Optional[float] = None):
        self.socket_path = find_socket(socket_path)
        self.timeout = timeout
        self._sock: Optional[_socket.socket] = None
        self._next_id = 0
        self._encoder = None  # msgspec's, on the first typed request
        self._identity = None  # HelloResult, or the raw bytes of one until asked for
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
        # the `protocol.Hello` Struct, field for field
        self._hello_id = self._send("hello", {"protocol": wire.PROTOCOL_VERSION, "client": "gflow"})
        return self

    @property
    def identity(self) -> Optional[HelloResult]:
        """Who the daemon says we are (uid, user, admin) and its version; None before connect."""
        if self._hello_id is not None:
            self._finish_hello()
        if isinstance(self._identity, bytes):
            import msgspec

            from .protocol import HelloResult

            self._identity = msgspec.msgpack.decode(self._identity, type=HelloResult)
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
        import msgspec

        parts = self._call_parts(method, params)
        # several parts: a streamed list (a big listing), joined into one array
        raw = parts[0] if len(parts) == 1 else wire.join_arrays(parts)
        if result_type is None:
            return msgspec.msgpack.decode(raw)
        return msgspec.msgpack.decode(raw, type=result_type)

    def invoke(self, method: str, params=None):
        """Send one request and decode its answer as the type the method table names for it
        (`gflow.methods`): every typed method below is one line over this."""
        return self.call(method, params, result_type(method))

    def _call_parts(self, method: str, params) -> list:
        """The undecoded result of each frame of the reply: one, or several when the daemon
        streams a big answer (`more` on every frame but the last)."""
        request_id = self._request(method, params)
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

    def call_lean(self, method: str, params: Optional[dict] = None) -> bytes:
        """Send a request of plain values (the fields of the method's params Struct; see
        `gflow.cli.lean`) and return the raw msgpack of its result, without msgspec."""
        request_id = self._request(method, params)
        parts = []
        while True:
            envelope, result = self._receive_lean()
            error = envelope.get("error")
            if error is not None:
                raise GflowError(error.get("code", ErrorCode.INTERNAL), error.get("message", "unknown error"))
            if envelope.get("id") != request_id:
                self.close()
                raise DaemonUnavailable(f"gflowd answered request {envelope.get('id')}, expected {request_id}")
            parts.append(result if result is not None else b"\xc0")
            if not envelope.get("more"):
                return parts[0] if len(parts) == 1 else wire.join_arrays(parts)

    def _request(self, method: str, params) -> int:
        if self._sock is None:
            self.connect()
        if self._hello_id is not None and method not in PIPELINE_SAFE:
            # a method that changes state waits for the hello reply (a version mismatch is
            # reported first); a read-only one travels in the same round trip
            self._finish_hello()
        request_id = self._send(method, params if params is not None else {})
        if self._hello_id is not None:
            self._finish_hello()
        return request_id

    def _send(self, method: str, params) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        try:
            body = wire.packb(message)
        except TypeError:  # Structs inside: msgspec's job
            if self._encoder is None:
                import msgspec

                self._encoder = msgspec.msgpack.Encoder().encode
            body = self._encoder(message)
        try:
            self._sock.sendall(len(body).to_bytes(_HEADER_SIZE, "big") + body)
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
            envelope, _ = wire.split_reply(self._read_frame())
        except (OSError, ValueError):
            return
        error = envelope.get("error")
        if isinstance(error, dict):
            self.close()
            raise GflowError(error.get("code", ErrorCode.INTERNAL), error.get("message", "unknown error"))

    def _receive(self):
        frame = self._receive_frame()
        import msgspec

        try:
            return _reply_decoder()(frame)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            self.close()
            raise DaemonUnavailable(f"gflowd sent an undecodable reply: {e}") from None

    def _receive_lean(self) -> tuple[dict, Optional[bytes]]:
        frame = self._receive_frame()
        try:
            return wire.split_reply(frame)
        except ValueError as e:
            self.close()
            raise DaemonUnavailable(f"gflowd sent an undecodable reply: {e}") from None

    def _receive_frame(self) -> bytes:
        try:
            return self._read_frame()
        except (ConnectionError, OSError) as e:
            self.close()
            raise DaemonUnavailable(f"lost the connection to gflowd: {e}") from None

    def _finish_hello(self) -> None:
        self._hello_id = None
        envelope, result = self._receive_lean()
        error = envelope.get("error")
        if error is not None:
            self.close()  # refused, or a version mismatch: nothing more on this connection
            raise GflowError(error.get("code", ErrorCode.INTERNAL), error.get("message", "unknown error"))
        self._identity = result

    def _read_frame(self) -> bytes:
        length = int.from_bytes(self._recv_exactly(_HEADER_SIZE), "big")
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
        from .protocol import JobSpec

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
        from .protocol import SubmitParams

        return self.invoke("jobs.submit", SubmitParams(jobs=list(specs), group_max_concurrent=max_concurrent))

    def list(
        self,
        states: Optional[Iterable[JobState]] = None,
        users: Optional[Iterable[str]] = None,
        ids: Optional[Iterable[int]] = None,
        since: Optional[float] = None,
    ) -> list[Job]:
        import msgspec

        from .protocol import Job, ListParams

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
        from .protocol import JobRef

        return self.invoke("jobs.get", JobRef(ref=str(ref)))

    def resolve(self, ref: int | str) -> int:
        from .protocol import JobRef

        return self.invoke("jobs.resolve", JobRef(ref=str(ref)))

    def cancel(self, ids: Iterable[int]) -> ActionResult:
        from .protocol import IdsParams

        return self.invoke("jobs.cancel", IdsParams(ids=list(ids)))

    def hold(self, ids: Iterable[int]) -> ActionResult:
        from .protocol import IdsParams

        return self.invoke("jobs.hold", IdsParams(ids=list(ids)))

    def release(self, ids: Iterable[int], at: Optional[float] = None) -> ActionResult:
        from .protocol import ReleaseParams

        return self.invoke("jobs.release", ReleaseParams(ids=list(ids), at=at))

    def log(self, ref: int | str, first: Optional[int] = None, last: Optional[int] = None) -> Optional[bytes]:
        """The job's output so far, or None if it has not started yet."""
        import msgspec

        from .protocol import LogParams, LogResult

        # streamed: a chunk of the log per frame
        parts = self._call_parts("jobs.log", LogParams(ref=str(ref), first=first, last=last))
        chunks = [msgspec.msgpack.decode(part, type=LogResult).content for part in parts]
        if chunks == [None]:
            return None
        return b"".join(chunk for chunk in chunks if chunk)

    def wait(self, ids: Iterable[int], timeout: Optional[float] = None) -> list[Job]:
        """Block until every job is in a terminal state (or `timeout` seconds pass)."""
        from .protocol import WaitParams

        return self.invoke("jobs.wait", WaitParams(ids=list(ids), timeout=timeout))

    def update(self, params: UpdateParams) -> UpdateResult:
        """Change fields of Queued or Held jobs (`gjob update`): per job, what changed or why not."""
        return self.invoke("jobs.update", params)

    def redo(self, params: RedoParams) -> RedoResult:
        """Resubmit a finished job, optionally with changes and its dependents (`gjob redo`)."""
        return self.invoke("jobs.redo", params)

    def report_outcome(self, job_id: int, success: bool) -> None:
        """Record a Running job's outcome by hand (`gcancel --finish/--fail`); a payload still
        running is stopped."""
        from .protocol import OutcomeParams

        self.invoke("jobs.outcome", OutcomeParams(id=job_id, success=success))

    # ------------------------------------------------------------------ daemon
    def status(self) -> StatusResult:
        """The daemon's version, uptime and job counts."""
        return self.invoke("daemon.status")

    def shutdown(self) -> None:
        """Stop the daemon (admins only)."""
        self.invoke("daemon.shutdown")

    def reload(self) -> None:
        """Hand the socket to a fresh daemon image that rereads the config (admins only); the
        answer comes once the old one no longer accepts."""
        self.invoke("daemon.reload")


def is_not_found(error: GflowError) -> bool:
    return error.code == ErrorCode.NOT_FOUND
