"""The one schema of gflow: wire frames, RPC requests and replies, and the stored job record.

Here: limits, value types, states and reasons, the envelopes (Request, Response) and frames.
`jobs.py` holds the Job record and the job methods' Structs, `admin.py` those of GPUs,
groups, quotas, reservations, statistics and the audit trail; every name is importable from
`gflow.protocol`. The list of methods is `gflow.methods`.

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


class _State(str, enum.Enum):
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


# Members from the one table of state names the lean CLI path also reads: QUEUED = "Queued", ...
JobState = _State("JobState", [(name.upper(), name) for name, _ in STATES], module=__name__, qualname="JobState")
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


# the job methods' and the administration methods' Structs live in their own modules; every
# name stays importable from `gflow.protocol`
from .jobs import (  # noqa: E402,F401
    ActionResult,
    IdsParams,
    Job,
    JobRef,
    JobRequest,
    JobSpec,
    ListParams,
    LogParams,
    LogResult,
    OutcomeParams,
    RedoParams,
    RedoResult,
    ReleaseParams,
    SubmitParams,
    SubmitResult,
    UpdateParams,
    UpdateResult,
    WaitParams,
)
from .admin import (  # noqa: E402,F401
    AuditEntry,
    AuditParams,
    CountReservation,
    CreateReservationParams,
    GpuInfo,
    GpuProcess,
    GpusResult,
    IgnoredProcess,
    ListReservationsParams,
    PurgeParams,
    PurgeResult,
    QuotaScope,
    QuotaSetParams,
    QuotaSubject,
    ReservationRef,
    SetGpusParams,
    SetLimitParams,
    SetLimitResult,
    StatsByParams,
    StatsParams,
)
