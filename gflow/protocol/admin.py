"""Params and results of the administration methods: job groups, quotas, reservations, the
GPU-process ignore list and statistics (`gctl`, `gstats`). Re-exported by `gflow.protocol`;
the result rows computed by pure logic (QuotaRow, Reservation, Stats) stay with it in core."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from msgspec import Meta, Struct

from . import MAX_INT, NonNegative, ShortList, ShortText, Timestamp


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
