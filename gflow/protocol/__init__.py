"""The one schema of gflow: wire frames, RPC requests and replies, and the stored job record.

The daemon, the `Client`, the SQLite store and the HTTP shim all use these Structs, so a
field is described exactly once. Requests carry no identity fields on purpose: the daemon
learns who is calling from SO_PEERCRED, and there is simply no place to put an owner.
"""
from __future__ import annotations

import enum
import struct
from typing import Annotated, Any, Literal, Optional, Union

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from ..core.states import ACTIVE, REASON_LABELS, STATES, TERMINAL, parse_state, reason_label  # noqa: F401
from ..errors import ErrorCode, GflowError  # noqa: F401 - part of the schema's public names

from ..wire import PROTOCOL_VERSION  # noqa: E402,F401 - the lean client needs it without msgspec
HEADER = struct.Struct(">I")

# --------------------------------------------------------------------------- limits
# What one request may carry. The daemon is shared: without bounds one account's request
# could hold the loop for seconds or fill memory, and values past what SQLite or the clock
# can hold would surface later as crashes in unrelated code. Checked while decoding (numbers,
# list lengths) and by `gflow.core.limits` (text sizes, NUL bytes); documented in README.
MAX_BATCH_JOBS = 100_000  # jobs per submission (the CLI caps arrays alike)
MAX_IDS = 100_000  # job ids per cancel/hold/release/update/wait/list request
MAX_INT = 2**53  # ids, counts and sizes: exact in JSON, far inside SQLite's 64 bits
MAX_SECONDS = 100 * 365 * 86400  # durations (time limits, waits)
MAX_TIMESTAMP = 1e11  # Unix seconds, the year 5138: finite, and within datetime's range
MAX_COMMAND_BYTES = 1024 * 1024
MAX_PATH_BYTES = 4096  # run dir, script path (PATH_MAX)
MAX_NAME_CHARS = 512  # job names, projects, conda environments, users, refs
MAX_ENV_VARS = 4096
MAX_ENV_BYTES = 1024 * 1024  # one environment snapshot, names and values together
MAX_PARAMETERS = 1024  # `--param` entries; their text counts toward the command limit
MAX_LIST_ITEMS = 1024  # dependencies, notification addresses and events per job

Priority = Annotated[int, Meta(ge=0, le=255)]
NonNegative = Annotated[int, Meta(ge=0, le=MAX_INT)]
Positive = Annotated[int, Meta(ge=1, le=MAX_INT)]
JobId = NonNegative
Seconds = Annotated[int, Meta(ge=0, le=MAX_SECONDS)]
Timestamp = Annotated[float, Meta(ge=0, le=MAX_TIMESTAMP)]  # also refuses NaN and inf
Duration = Annotated[float, Meta(ge=0, le=MAX_SECONDS)]
Ids = Annotated[list[JobId], Meta(max_length=MAX_IDS)]
ShortText = Annotated[str, Meta(max_length=MAX_NAME_CHARS)]
ShortList = Annotated[list[ShortText], Meta(max_length=MAX_LIST_ITEMS)]
Env = Annotated[dict[str, str], Meta(max_length=MAX_ENV_VARS)]
Parameters = Annotated[dict[ShortText, str], Meta(max_length=MAX_PARAMETERS)]


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
        """Accept every documented spelling, and (unlike upstream) any letter case."""
        return cls(parse_state(text))


STATE_CODES = {JobState(name): code for name, code in STATES}
TERMINAL_STATES = frozenset(JobState(name) for name in TERMINAL)
ACTIVE_STATES = frozenset(JobState(name) for name in ACTIVE)


class Reason(str, enum.Enum):
    """Why a job waits or ended. DependencyFailed and SystemError carry a suffix `:<detail>`."""

    WAITING_FOR_START_TIME = "WaitingForStartTime"
    WAITING_FOR_DEPENDENCY = "WaitingForDependency"
    WAITING_FOR_GPU = "WaitingForGpu"
    WAITING_FOR_MEMORY = "WaitingForMemory"
    WAITING_FOR_RESOURCES = "WaitingForResources"
    WAITING_FOR_QUOTA = "WaitingForQuota"
    RESERVED = "Reserved"  # stored as `Reserved:<reservation id>`, shown as is
    CANCELLED_BY_USER = "CancelledByUser"
    DEPENDENCY_FAILED = "DependencyFailed"
    SYSTEM_ERROR = "SystemError"
    MEMORY_LIMIT = "MemoryLimitExceeded"
    RUNNER_VANISHED = "RunnerVanished"


class DependencyMode(str, enum.Enum):
    ALL = "All"  # every dependency finished successfully (Slurm's afterok)
    ANY = "Any"  # one of them did
    AFTER_ANY = "AfterAny"  # every dependency ended, however (Slurm's afterany)
    AFTER_NOT_OK = "AfterNotOk"  # every dependency ended unsuccessfully (Slurm's afternotok)


class GpuSharing(str, enum.Enum):
    EXCLUSIVE = "Exclusive"
    SHARED = "Shared"


# --------------------------------------------------------------------------- job record


class Job(Struct, kw_only=True, omit_defaults=True, gc=False):  # no cycles; 100k of them stay out of GC passes
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
    # the sanitised `--name` request, kept so redo and retries can name their job alike
    requested_name: Optional[str] = None
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
    cpu_secs: Optional[float] = None  # user + system CPU time, recorded when the job ended
    runner_pid: Optional[int] = None
    runner_started: Optional[float] = None  # psutil create_time, to never trust a bare pid
    alive: Optional[bool] = None  # transient, only in answers for Running jobs
    # transient: the backfill scheduler's expected start of the job it holds GPUs for
    planned_start: Optional[float] = None
    # the job whose stored environment this one runs with: a batch stores its snapshot once,
    # and retries/redos reuse their source's (None: the job's own row)
    env_from: Optional[int] = None

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
    # None: the request's shared `SubmitParams.env` (a 10,000-job array sends it once)
    env: Optional[Env] = None
    conda_env: Optional[ShortText] = None
    parameters: Parameters = {}
    task_id: Optional[NonNegative] = None
    name: Optional[ShortText] = None
    priority: Priority = 10
    gpus: NonNegative = 0
    shared: bool = False
    gpu_memory_limit_mb: Optional[NonNegative] = None
    memory_limit_mb: Optional[NonNegative] = None
    time_limit: Optional[Seconds] = None
    depends_on: ShortList = []
    dependency_mode: DependencyMode = DependencyMode.ALL
    auto_cancel_on_dependency_failure: bool = True
    scheduled_at: Optional[Timestamp] = None
    hold: bool = False
    max_retries: NonNegative = 0
    project: Optional[ShortText] = None
    notify_emails: ShortList = []
    notify_on: ShortList = []
    auto_close_tmux: bool = False
    max_concurrent: Optional[Positive] = None
    # queue it even if it exceeds what the machine or its limits allow today
    allow_pending: bool = False


class SubmitParams(Struct, kw_only=True, forbid_unknown_fields=True):
    jobs: Annotated[list[JobSpec], Meta(max_length=MAX_BATCH_JOBS)]
    # environment snapshot for every job whose spec carries none; stored once per request
    env: Optional[Env] = None
    # one group (fresh UUID) for all jobs of this request, limited to max_concurrent
    group_max_concurrent: Optional[NonNegative] = None


class SubmitResult(Struct, kw_only=True):
    jobs: list[tuple[int, str]]  # (id, run_name)
    group_id: Optional[str] = None


class ListParams(Struct, kw_only=True, forbid_unknown_fields=True):
    states: Optional[list[JobState]] = None  # None = every state
    users: Optional[ShortList] = None  # None = every user
    ids: Optional[Ids] = None
    since: Optional[Timestamp] = None


class IdsParams(Struct, kw_only=True, forbid_unknown_fields=True):
    ids: Ids


class JobRef(Struct, kw_only=True, forbid_unknown_fields=True):
    """One job by id or by `@`/`@~N` shorthand (resolved against the caller's jobs)."""

    ref: ShortText


class ReleaseParams(Struct, kw_only=True, forbid_unknown_fields=True):
    ids: Ids
    at: Optional[Timestamp] = None


class ActionResult(Struct, kw_only=True):
    """Per-id outcome of cancel/hold/release: ok ids and per-id error messages."""

    done: list[int] = []
    errors: list[tuple[int, str]] = []


class LogParams(Struct, kw_only=True, forbid_unknown_fields=True):
    ref: ShortText
    first: Optional[Positive] = None
    last: Optional[Positive] = None
    max_bytes: Positive = 64 * 1024 * 1024


class LogResult(Struct, kw_only=True):
    job_id: int
    path: str
    content: Optional[bytes] = None  # None: no log yet


class WaitParams(Struct, kw_only=True, forbid_unknown_fields=True):
    ids: Ids
    timeout: Optional[Duration] = None


class UpdateParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields of `gjob update`; UNSET = leave alone, None = clear (where clearing makes sense).

    Dependencies are one list (`depends_on_ids` + `dependency_mode`): unlike upstream
    there is no second slot that an update could forget to replace.
    """

    ids: Ids
    command: Union[str, UnsetType] = UNSET
    script: Union[str, UnsetType] = UNSET
    gpus: Union[NonNegative, UnsetType] = UNSET
    conda_env: Union[Optional[ShortText], UnsetType] = UNSET
    priority: Union[Priority, UnsetType] = UNSET
    parameters: Union[Parameters, UnsetType] = UNSET  # replaces the whole map
    time_limit: Union[Optional[Seconds], UnsetType] = UNSET
    memory_limit_mb: Union[Optional[NonNegative], UnsetType] = UNSET
    gpu_memory_limit_mb: Union[Optional[NonNegative], UnsetType] = UNSET
    depends_on_ids: Union[Annotated[list[Positive], Meta(max_length=MAX_LIST_ITEMS)], UnsetType] = UNSET
    dependency_mode: Union[DependencyMode, UnsetType] = UNSET
    auto_cancel_on_dependency_failure: Union[bool, UnsetType] = UNSET
    max_concurrent: Union[Optional[Positive], UnsetType] = UNSET
    max_retries: Union[Optional[NonNegative], UnsetType] = UNSET  # None: back to 0
    # accept new resources this machine cannot provide today (see JobSpec.allow_pending)
    allow_pending: bool = False


class UpdateResult(Struct, kw_only=True):
    """Per id: the fields that changed (upstream's order), or why nothing did."""

    updated: list[tuple[int, list[str]]] = []
    errors: list[tuple[int, str]] = []


class RedoParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """`gjob redo`: a new job from a finished one, with optional overrides."""

    ref: ShortText  # id, `@` or `@~N`
    gpus: Optional[NonNegative] = None
    priority: Optional[Priority] = None
    depends_on: Optional[ShortText] = None  # replaces the dependencies with this one job (id, @, @~N)
    clear_deps: bool = False  # wins over depends_on
    time_limit: Optional[Seconds] = None
    memory_limit_mb: Optional[NonNegative] = None
    gpu_memory_limit_mb: Optional[NonNegative] = None
    conda_env: Optional[ShortText] = None
    cascade: bool = False
    # the caller's environment; None: the source job's stored one
    env: Optional[Env] = None


class RedoResult(Struct, kw_only=True):
    source_id: int
    job: Job  # the new job, as created
    # --cascade: (old id, new id, new run name), in the order they were created
    cascade: list[tuple[int, int, str]] = []
    # dependents --cascade left alone: (id, why), e.g. another user's job
    skipped: list[tuple[int, str]] = []


class OutcomeParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """`gcancel --finish/--fail`: report how a Running job's payload ended."""

    id: JobId
    success: bool


class Empty(Struct, forbid_unknown_fields=True):
    pass


class Hello(Struct, kw_only=True, forbid_unknown_fields=True):
    protocol: int
    client: ShortText = "gflow"


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
    jobs_active: int = 0
    gpu_poll_ok_at: Optional[float] = None  # last GPU process query that fully answered
    gpu_poll_error: Optional[str] = None  # the last one's failure, while it fails


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
    more: bool = False  # streaming: further frames follow for this id
    error: Optional[RpcError] = None
    # last on the wire: the lean client takes the result's bytes as the rest of the frame
    result: Any = None


class RawResponse(Response, kw_only=True):
    """A `Response` as the client reads it: the result left encoded until the caller says
    which type it is (decoded once, straight into that type)."""

    result: msgspec.Raw = msgspec.Raw(b"\xc0")


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


# --------------------------------------------------------------------------- GPUs


class GpuInfo(Struct, kw_only=True):
    index: int
    memory_mb: Optional[int] = None
    available: bool = True
    allowed: bool = True
    reason: Optional[str] = None  # e.g. unmanaged(pid=1234)
    job_ids: list[int] = []  # every holder: one exclusive job, or each shared one
    run_names: list[str] = []
    shared: bool = False  # held by shared jobs only: still takes shared jobs
    free_mb: Optional[int] = None  # shared: VRAM budget left for more shared jobs
    beside_pids: list[int] = []  # foreign processes next to the holding job(s)
    # an Active reservation of this very GPU (`--gpu-spec`): its id and user
    reservation_id: Optional[int] = None
    reserved_for: Optional[str] = None


class CountReservation(Struct, kw_only=True, array_like=True):
    """An Active reservation of a number of GPUs (any of them): id, user, count."""

    id: int
    user: str
    count: int


class GpusResult(Struct, kw_only=True):
    gpus: list[GpuInfo]
    allowed: Optional[list[int]] = None
    strategy: str = "sequential"
    backend: str = "none"
    count_reservations: list[CountReservation] = []
    no_gpus: Optional[str] = None  # why the list is empty: no driver, none detected, configured so


class SetGpusParams(Struct, kw_only=True, forbid_unknown_fields=True):
    indices: Optional[list[Annotated[int, Meta(ge=0)]]] = None  # None = all GPUs


# --------------------------------------------------------------------------- administration


class PurgeParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """`gctl purge`: forget finished jobs that ended before `before` (unix seconds)."""

    before: float
    user: Optional[str] = None  # None: every user for an admin, the caller otherwise
    dry_run: bool = False


class PurgeResult(Struct, kw_only=True):
    ids: list[int]  # purged (or, with dry_run, that would be)
    logs_removed: int = 0
    dry_run: bool = False


class AuditParams(Struct, kw_only=True, forbid_unknown_fields=True):
    since: Optional[float] = None  # unix seconds
    user: Optional[str] = None  # the caller's name


class AuditEntry(Struct, kw_only=True):
    """One audited request: who (from the kernel), what, on what, and how it ended."""

    time: float
    uid: int
    user: str
    method: str
    targets: list[Union[int, str]] = []
    result: str = "ok"


# the administration methods' Structs live in their own module; every name stays importable
# from `gflow.protocol`
from .admin import (  # noqa: E402,F401
    CreateReservationParams,
    GpuProcess,
    IgnoredProcess,
    ListReservationsParams,
    QuotaScope,
    QuotaSetParams,
    QuotaSubject,
    ReservationRef,
    SetLimitParams,
    SetLimitResult,
    StatsByParams,
    StatsParams,
)
