"""Params and results of the administration methods: job groups, quotas, reservations, the
GPU-process ignore list and statistics (`gctl`, `gstats`). Re-exported by `gflow.protocol`;
the result rows computed by pure logic (QuotaRow, Reservation, Stats) stay with it in core."""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from msgspec import Meta, Struct

from . import (
    MAX_INT,
    NonNegative,
    ShortList,
    ShortText,
    Timestamp,
)


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


# ----------------------------------------------------------------------- groups
class SetLimitParams(Struct, kw_only=True, forbid_unknown_fields=True):
    target: ShortText  # a job id of the group, or the group UUID
    limit: Annotated[int, Meta(ge=0, le=MAX_INT)]


class SetLimitResult(Struct, kw_only=True):
    group_id: str
    updated: int  # jobs of the group
    found_job: Optional[int] = None  # the job the group was named by, if it was


# ----------------------------------------------------------------------- quotas
QuotaScope = Literal["user", "project", "default_user", "default_project"]


class QuotaSubject(Struct, kw_only=True, forbid_unknown_fields=True):
    scope: QuotaScope
    name: Optional[str] = None  # required for user/project, absent for the defaults


class QuotaSetParams(QuotaSubject, kw_only=True, forbid_unknown_fields=True):
    max_running_jobs: Optional[NonNegative] = None
    max_running_gpus: Optional[NonNegative] = None
    max_queued_jobs: Optional[NonNegative] = None


# ----------------------------------------------------------------------- reservations
class ListReservationsParams(Struct, kw_only=True, forbid_unknown_fields=True):
    user: Optional[str] = None
    status: Optional[str] = None  # pending|active|completed|cancelled, any letter case
    active: bool = False  # only those inside their window now


class ReservationRef(Struct, kw_only=True, forbid_unknown_fields=True):
    id: NonNegative


class CreateReservationParams(Struct, kw_only=True, forbid_unknown_fields=True):
    user: str
    gpu_count: Optional[NonNegative] = None
    gpu_indices: Optional[list[NonNegative]] = None
    start: float  # unix seconds, parsed by the client in its own time zone
    duration: NonNegative  # seconds


# ----------------------------------------------------------------------- GPU processes
class GpuProcess(Struct, kw_only=True, forbid_unknown_fields=True):
    gpu: NonNegative
    pid: NonNegative


class IgnoredProcess(Struct, kw_only=True):
    gpu: int
    pid: int


# ----------------------------------------------------------------------- statistics
class StatsParams(Struct, kw_only=True, forbid_unknown_fields=True):
    users: Optional[ShortList] = None  # None = every user
    since: Optional[Timestamp] = None  # only jobs submitted at/after this unix time
    project: Optional[ShortText] = None  # only this project


class StatsByParams(StatsParams, kw_only=True, forbid_unknown_fields=True):
    by: Literal["user", "project"] = "user"
