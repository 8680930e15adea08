"""The one schema of gflow: wire frames, RPC requests and replies, and the stored job record.

The daemon, the `Client`, the SQLite store and the HTTP shim all use these Structs, so a
field is described exactly once. Requests carry no identity fields on purpose: the daemon
learns who is calling from SO_PEERCRED, and there is simply no place to put an owner.
"""
from __future__ import annotations

import enum
import struct
from typing import Annotated, Any, Literal, Optional

import msgspec
from msgspec import Meta, Struct

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
HEADER = struct.Struct(">I")

Priority = Annotated[int, Meta(ge=0, le=255)]
NonNegative = Annotated[int, Meta(ge=0)]
Positive = Annotated[int, Meta(ge=1)]


class JobState(str, enum.Enum):
    QUEUED = "Queued"
    HOLD = "Hold"
    RUNNING = "Running"
    FINISHED = "Finished"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    TIMEOUT = "Timeout"

    @property
    def code(self) -> str:
        return STATE_CODES[self]

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @classmethod
    def parse(cls, text: str) -> "JobState":
        """Accept SPEC 2.12 spellings, and (unlike upstream, 8.13) any letter case."""
        state = _STATE_NAMES.get(text.strip().lower())
        if state is None:
            raise ValueError(
                f"invalid state '{text}' (expected one of: "
                + ", ".join(f"{s.value}/{s.code}" for s in cls)
                + ")"
            )
        return state


STATE_CODES = {
    JobState.QUEUED: "PD",
    JobState.HOLD: "H",
    JobState.RUNNING: "R",
    JobState.FINISHED: "CD",
    JobState.FAILED: "F",
    JobState.CANCELLED: "CA",
    JobState.TIMEOUT: "TO",
}
TERMINAL_STATES = frozenset(
    {JobState.FINISHED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT}
)
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.HOLD, JobState.RUNNING})
_STATE_NAMES = {s.value.lower(): s for s in JobState} | {
    c.lower(): s for s, c in STATE_CODES.items()
}


class Reason(str, enum.Enum):
    """Why a job waits or ended. DependencyFailed and SystemError carry a suffix `:<detail>`."""

    WAITING_FOR_START_TIME = "WaitingForStartTime"
    WAITING_FOR_DEPENDENCY = "WaitingForDependency"
    WAITING_FOR_GPU = "WaitingForGpu"
    WAITING_FOR_MEMORY = "WaitingForMemory"
    WAITING_FOR_RESOURCES = "WaitingForResources"
    WAITING_FOR_QUOTA = "WaitingForQuota"
    CANCELLED_BY_USER = "CancelledByUser"
    DEPENDENCY_FAILED = "DependencyFailed"
    SYSTEM_ERROR = "SystemError"
    TIME_LIMIT = "TimeLimitExceeded"
    MEMORY_LIMIT = "MemoryLimitExceeded"
    RUNNER_VANISHED = "RunnerVanished"
    LAUNCH_FAILED = "LaunchFailed"


REASON_LABELS = {
    "WaitingForStartTime": "BeginTime",
    "WaitingForDependency": "Dependency",
    "WaitingForGpu": "Resources",
    "WaitingForMemory": "Resources",
    "WaitingForResources": "Resources",
    "WaitingForQuota": "Quota",
    "CancelledByUser": "-",
}


def reason_label(reason: str | None) -> str | None:
    """The short label gqueue shows for a stored reason (SPEC 3.3)."""
    if reason is None:
        return None
    if reason in REASON_LABELS:
        return REASON_LABELS[reason]
    return reason  # DependencyFailed:5, SystemError:msg, ... are shown as stored


class DependencyMode(str, enum.Enum):
    ALL = "All"
    ANY = "Any"


class GpuSharing(str, enum.Enum):
    EXCLUSIVE = "Exclusive"
    SHARED = "Shared"


# --------------------------------------------------------------------------- job record


class Job(Struct, kw_only=True, omit_defaults=True):
    """A job as stored and as sent to clients. Times are Unix seconds (float)."""

    id: int
    state: JobState = JobState.QUEUED
    reason: Optional[str] = None
    # what to run
    command: Optional[str] = None
    script: Optional[str] = None
    conda_env: Optional[str] = None
    run_dir: str = "/"
    parameters: dict[str, str] = {}
    task_id: Optional[int] = None
    # who: always from SO_PEERCRED at submission, never from the client
    owner_uid: int = -1
    user: str = "unknown"
    # naming and bookkeeping
    run_name: str = ""
    project: Optional[str] = None
    redone_from: Optional[int] = None
    retried_from: Optional[int] = None
    max_retries: int = 0
    auto_close_tmux: bool = False
    notify_emails: list[str] = []
    notify_on: list[str] = []
    # dependencies and timing
    depends_on_ids: list[int] = []
    dependency_mode: DependencyMode = DependencyMode.ALL
    auto_cancel_on_dependency_failure: bool = True
    scheduled_at: Optional[float] = None
    # resources
    priority: int = 10
    gpus: int = 0
    gpu_sharing_mode: GpuSharing = GpuSharing.EXCLUSIVE
    gpu_memory_limit_mb: Optional[int] = None
    memory_limit_mb: Optional[int] = None
    time_limit: Optional[int] = None  # seconds
    gpu_ids: Optional[list[int]] = None
    group_id: Optional[str] = None
    max_concurrent: Optional[int] = None
    # lifecycle
    submitted_at: float = 0.0
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    exit_code: Optional[int] = None
    exit_signal: Optional[int] = None
    runner_pid: Optional[int] = None
    runner_started: Optional[float] = None  # psutil create_time, to never trust a bare pid
    alive: Optional[bool] = None  # transient, only in answers for Running jobs

    @property
    def code(self) -> str:
        return self.state.code


# --------------------------------------------------------------------------- requests


class JobSpec(Struct, kw_only=True, forbid_unknown_fields=True):
    """What a client asks for. Dependency tokens may be ids or `@`/`@~N` shorthands,
    resolved by the daemon against the caller's own jobs."""

    command: Optional[str] = None
    script: Optional[str] = None
    run_dir: str
    env: dict[str, str] = {}
    conda_env: Optional[str] = None
    parameters: dict[str, str] = {}
    task_id: Optional[int] = None
    name: Optional[str] = None
    priority: Priority = 10
    gpus: NonNegative = 0
    shared: bool = False
    gpu_memory_limit_mb: Optional[NonNegative] = None
    memory_limit_mb: Optional[NonNegative] = None
    time_limit: Optional[NonNegative] = None
    depends_on: list[str] = []
    dependency_mode: DependencyMode = DependencyMode.ALL
    auto_cancel_on_dependency_failure: bool = True
    scheduled_at: Optional[float] = None
    hold: bool = False
    max_retries: NonNegative = 0
    project: Optional[str] = None
    notify_emails: list[str] = []
    notify_on: list[str] = []
    auto_close_tmux: bool = False
    max_concurrent: Optional[Positive] = None


class SubmitParams(Struct, kw_only=True, forbid_unknown_fields=True):
    jobs: list[JobSpec]
    # one group (fresh UUID) for all jobs of this request, limited to max_concurrent
    group_max_concurrent: Optional[Positive] = None


class SubmitResult(Struct, kw_only=True):
    jobs: list[tuple[int, str]]  # (id, run_name)
    group_id: Optional[str] = None


class ListParams(Struct, kw_only=True, forbid_unknown_fields=True):
    states: Optional[list[JobState]] = None  # None = every state
    users: Optional[list[str]] = None  # None = every user
    ids: Optional[list[int]] = None
    since: Optional[float] = None


class IdsParams(Struct, kw_only=True, forbid_unknown_fields=True):
    ids: list[int]


class JobRef(Struct, kw_only=True, forbid_unknown_fields=True):
    """One job by id or by `@`/`@~N` shorthand (resolved against the caller's jobs)."""

    ref: str


class ReleaseParams(Struct, kw_only=True, forbid_unknown_fields=True):
    ids: list[int]
    at: Optional[float] = None


class ActionResult(Struct, kw_only=True):
    """Per-id outcome of cancel/hold/release: ok ids and per-id error messages."""

    done: list[int] = []
    errors: list[tuple[int, str]] = []


class LogParams(Struct, kw_only=True, forbid_unknown_fields=True):
    ref: str
    first: Optional[Positive] = None
    last: Optional[Positive] = None
    max_bytes: Positive = 64 * 1024 * 1024


class LogResult(Struct, kw_only=True):
    job_id: int
    path: str
    content: Optional[bytes] = None  # None: no log yet


class WaitParams(Struct, kw_only=True, forbid_unknown_fields=True):
    ids: list[int]
    timeout: Optional[float] = None


class UpdateParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields of `gjob update`; UNSET = leave alone, None = clear."""

    ids: list[int]
    command: Any = msgspec.UNSET
    script: Any = msgspec.UNSET
    gpus: Any = msgspec.UNSET
    conda_env: Any = msgspec.UNSET
    priority: Any = msgspec.UNSET
    parameters: Any = msgspec.UNSET
    time_limit: Any = msgspec.UNSET
    memory_limit_mb: Any = msgspec.UNSET
    gpu_memory_limit_mb: Any = msgspec.UNSET
    depends_on_ids: Any = msgspec.UNSET
    dependency_mode: Any = msgspec.UNSET
    auto_cancel_on_dependency_failure: Any = msgspec.UNSET
    max_concurrent: Any = msgspec.UNSET
    max_retries: Any = msgspec.UNSET


class Empty(Struct, forbid_unknown_fields=True):
    pass


class Hello(Struct, kw_only=True, forbid_unknown_fields=True):
    protocol: int
    client: str = "gflow"


class HelloResult(Struct, kw_only=True):
    protocol: int
    version: str
    uid: int
    user: str
    admin: bool
    mode: Literal["user", "system"]


class StatusResult(Struct, kw_only=True):
    version: str
    pid: int
    uptime_secs: float
    mode: Literal["user", "system"]
    socket: str
    state_dir: str
    executor: str
    gpu_total: int
    gpu_available: int
    read_only: bool = False
    jobs_active: int = 0


# --------------------------------------------------------------------------- envelopes


class Request(Struct, kw_only=True):
    id: int
    method: str
    params: msgspec.Raw = msgspec.Raw(b"\x80")


class RpcError(Struct, kw_only=True):
    code: str
    message: str


class Response(Struct, kw_only=True, omit_defaults=True):
    id: int
    result: Any = None
    error: Optional[RpcError] = None
    more: bool = False  # streaming: further frames follow for this id


class ErrorCode:
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    UNKNOWN_METHOD = "unknown_method"
    VERSION = "version_mismatch"
    READ_ONLY = "read_only"
    INTERNAL = "internal"
    TOO_LARGE = "too_large"


class GflowError(Exception):
    """An error that travels to the client as `{code, message}`."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_wire(self) -> RpcError:
        return RpcError(code=self.code, message=self.message)


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


# --------------------------------------------------------------------------- GPUs


class GpuInfo(Struct, kw_only=True):
    index: int
    memory_mb: Optional[int] = None
    available: bool = True
    allowed: bool = True
    reason: Optional[str] = None  # e.g. unmanaged(pid=1234)
    job_ids: list[int] = []
    run_names: list[str] = []


class GpusResult(Struct, kw_only=True):
    gpus: list[GpuInfo]
    allowed: Optional[list[int]] = None
    strategy: str = "sequential"
    backend: str = "none"


class SetGpusParams(Struct, kw_only=True, forbid_unknown_fields=True):
    indices: Optional[list[Annotated[int, Meta(ge=0)]]] = None  # None = all GPUs
