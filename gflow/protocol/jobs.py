"""Jobs on the wire: the fields a job is made from (JobRequest), the stored Job record (id +
those fields + run state), the JobSpec a client sends (those fields + what only a request
has), and the params and results of the job methods. Re-exported by `gflow.protocol`."""
from __future__ import annotations

import typing
from typing import Annotated, Optional, Union

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from . import (
    DependencyMode,
    Duration,
    Env,
    GpuSharing,
    Ids,
    JobId,
    JobState,
    MAX_BATCH_JOBS,
    MAX_LIST_ITEMS,
    NonNegative,
    Parameters,
    Positive,
    Priority,
    Seconds,
    ShortList,
    ShortText,
    Timestamp,
)


# --------------------------------------------------------------------------- job record


class JobRequest(Struct, kw_only=True):
    """What a job is asked to be: the fields a client's `JobSpec` sends and the stored `Job`
    keeps, under one name each, declared only here. Submit, retries and redo copy them by
    iterating this Struct's fields (`core/lineage.py`), so a new job field is one line here
    (plus the CLI flag that sets it). Inheritance keeps `Job` and `JobSpec` flat on the wire
    and in the store.

    The types are the request's, constraints included: they check what a client sends. A
    `Job` has the same fields without the constraints (`_unchecked`): a stored row is never
    refused for a bound (one bad row would break every listing, or the daemon's start), and
    a listing of 10,000 jobs pays for no checks.
    """

    # what to run
    command: Optional[str] = None
    script: Optional[str] = None
    conda_env: Optional[ShortText] = None
    run_dir: str = "/"
    parameters: Parameters = {}
    task_id: Optional[NonNegative] = None
    # resources and limits
    priority: Priority = 10
    gpus: NonNegative = 0
    gpu_memory_limit_mb: Optional[NonNegative] = None
    memory_limit_mb: Optional[NonNegative] = None
    time_limit: Optional[Seconds] = None
    # a request asks for at least 1; a stored job may hold 0 (its group waits for `gctl set-limit`)
    max_concurrent: Optional[Positive] = None
    # dependencies and timing
    dependency_mode: DependencyMode = DependencyMode.ALL
    auto_cancel_on_dependency_failure: bool = True
    scheduled_at: Optional[Timestamp] = None
    max_retries: NonNegative = 0
    # bookkeeping and notifications
    project: Optional[ShortText] = None
    notify_emails: ShortList = []
    notify_on: ShortList = []
    auto_close_tmux: bool = False


def _without_meta(tp):
    """A type with its `Annotated[..., Meta(...)]` constraints left out, at any depth."""
    if typing.get_origin(tp) is Annotated:
        return _without_meta(typing.get_args(tp)[0])
    args = typing.get_args(tp)
    if not args:
        return tp
    inner = tuple(_without_meta(a) for a in args)
    return Union[inner] if typing.get_origin(tp) is Union else typing.get_origin(tp)[inner]


def _unchecked(request: type[Struct]) -> type[Struct]:
    """A subclass of `request` that redeclares each of its fields without constraints."""
    fields = [
        (f.name, _without_meta(f.type),
         f.default if f.default_factory is msgspec.NODEFAULT else msgspec.field(default_factory=f.default_factory))
        for f in msgspec.structs.fields(request)
    ]
    return msgspec.defstruct(f"Stored{request.__name__}", fields, bases=(request,), kw_only=True,
                             module=__name__)


class Job(_unchecked(JobRequest), kw_only=True, omit_defaults=True, gc=False):  # no cycles; 100k of them stay out of GC passes
    """A job as stored and as sent to clients: its id, the `JobRequest` fields it was made
    from, what the daemon resolved for it, and its run state. Times are Unix seconds (float)."""

    id: int
    state: JobState = JobState.QUEUED
    reason: Optional[str] = None
    # who: always from SO_PEERCRED at submission, never from the client
    owner_uid: int = -1
    user: str = "unknown"
    # resolved from the request: the sanitised `--name` (kept so redo and retries can name
    # their job alike), the dependency tokens as ids, `shared` as a mode, the request's group
    run_name: str = ""
    requested_name: Optional[str] = None
    depends_on_ids: list[int] = []
    gpu_sharing_mode: GpuSharing = GpuSharing.EXCLUSIVE
    group_id: Optional[str] = None
    # lineage
    redone_from: Optional[int] = None
    retried_from: Optional[int] = None
    # run state
    gpu_ids: Optional[list[int]] = None
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


class JobSpec(JobRequest, kw_only=True, forbid_unknown_fields=True):
    """What a client asks for: the `JobRequest` fields and what the daemon resolves or acts
    on once (the environment, the name, dependency tokens, holding). Dependency tokens may
    be ids or `@`/`@~N` shorthands, resolved by the daemon against the caller's own jobs."""

    # a request must say where to run (a stored job reads "/" when its row leaves it out)
    run_dir: str
    # None: the request's shared `SubmitParams.env` (a 10,000-job array sends it once)
    env: Optional[Env] = None
    name: Optional[ShortText] = None
    shared: bool = False
    depends_on: ShortList = []
    hold: bool = False
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
    # queue the new jobs even if this machine cannot run them today (see JobSpec.allow_pending)
    allow_pending: bool = False


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
