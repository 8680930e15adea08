"""The admin and reporting calls of `gflow.client.Client` (GPUs, groups, quotas, reservations,
statistics, purge, audit), apart so that client.py keeps the connection and the job calls.

`Client` inherits `AdminMethods`; every method here goes through `Client.invoke`. Like the
client, nothing is imported at module level that the CLI's hot commands would pay for: each
method imports its protocol Struct when called.
"""
from __future__ import annotations

TYPE_CHECKING = False  # `typing` is not imported at run time: CLI start-up
if TYPE_CHECKING:
    from typing import Optional, Sequence

    from .config import QuotaLimits
    from .core.quotas import QuotaRow
    from .core.reservations import Reservation
    from .core.stats import Stats, StatsTable
    from .protocol import (AuditEntry, CreateReservationParams, GpusResult, IgnoredProcess, PurgeResult, QuotaScope,
                           SetLimitResult)


class AdminMethods:
    """Mixed into `Client`, which supplies `invoke`."""

    # ------------------------------------------------------------------ GPUs and groups
    def gpus(self) -> GpusResult:
        """Each GPU: whether it is free, allowed, shared or reserved, and why not when none."""
        return self.invoke("gpus.info")

    def set_gpus(self, indices: Optional[Sequence[int]]) -> None:
        """Let gflow use only these GPU indices (None: all of them); admins only."""
        from .protocol import SetGpusParams

        self.invoke("gpus.set_allowed", SetGpusParams(indices=list(indices) if indices is not None else None))

    def ignore_gpu_process(self, gpu: int, pid: int) -> IgnoredProcess:
        """Schedule on `gpu` as if process `pid` were not there (admins only)."""
        from .protocol import GpuProcess

        return self.invoke("gpus.ignore", GpuProcess(gpu=gpu, pid=pid))

    def unignore_gpu_process(self, gpu: int, pid: int) -> None:
        """Drop an `ignore_gpu_process` override (admins only)."""
        from .protocol import GpuProcess

        self.invoke("gpus.unignore", GpuProcess(gpu=gpu, pid=pid))

    def ignored_gpu_processes(self) -> list[IgnoredProcess]:
        return self.invoke("gpus.ignored")

    def set_group_limit(self, target: str, limit: int) -> SetLimitResult:
        """How many jobs of a group may run at once; `target` is a group id or a member job's id."""
        from .protocol import SetLimitParams

        return self.invoke("groups.set_limit", SetLimitParams(target=str(target), limit=limit))

    # ------------------------------------------------------------------ quotas
    def quotas(self) -> list[QuotaRow]:
        """Every quota subject with its limits and current use."""
        return self.invoke("quotas.list")

    def set_quota(self, scope: QuotaScope, name: Optional[str] = None, **limits: Optional[int]) -> QuotaLimits:
        """Override limits of one subject (admins only); `limits` are max_running_jobs,
        max_running_gpus, max_queued_jobs. `name` is the user or project, None for the
        `default_user`/`default_project` scopes. Returns the limits now in force."""
        from .protocol import QuotaSetParams

        return self.invoke("quotas.set", QuotaSetParams(scope=scope, name=name, **limits))

    def remove_quota(self, scope: QuotaScope, name: Optional[str] = None) -> None:
        """Drop one subject's runtime override (admins only)."""
        from .protocol import QuotaSubject

        self.invoke("quotas.remove", QuotaSubject(scope=scope, name=name))

    # ------------------------------------------------------------------ reservations
    def reservations(
        self, user: Optional[str] = None, status: Optional[str] = None, active: bool = False
    ) -> list[Reservation]:
        """Reservations, optionally of one user, in one status, or only those in force now."""
        from .protocol import ListReservationsParams

        return self.invoke("reservations.list", ListReservationsParams(user=user, status=status, active=active))

    def reservation(self, reservation_id: int) -> Optional[Reservation]:
        """One reservation, or None when there is no such id."""
        from .protocol import ReservationRef

        return self.invoke("reservations.get", ReservationRef(id=reservation_id))

    def create_reservation(self, params: CreateReservationParams) -> Reservation:
        """Reserve GPUs (a count or named indices) for a user over a window (admins only)."""
        return self.invoke("reservations.create", params)

    def cancel_reservation(self, reservation_id: int) -> Reservation:
        """Cancel a pending or active reservation (admins, or its own user)."""
        from .protocol import ReservationRef

        return self.invoke("reservations.cancel", ReservationRef(id=reservation_id))

    # ------------------------------------------------------------------ statistics
    def stats(
        self, users: Optional[Sequence[str]] = None, since: Optional[float] = None, project: Optional[str] = None
    ) -> Stats:
        """Totals over the jobs of `users` (None: everyone), submitted since `since`, of `project`."""
        from .protocol import StatsParams

        return self.invoke("stats.get", StatsParams(users=_listed(users), since=since, project=project))

    def stats_by(
        self,
        by: str = "user",
        users: Optional[Sequence[str]] = None,
        since: Optional[float] = None,
        project: Optional[str] = None,
    ) -> StatsTable:
        """The same totals, one row per user or per project (`by`)."""
        from .protocol import StatsByParams

        return self.invoke("stats.by", StatsByParams(users=_listed(users), since=since, project=project, by=by))

    # ------------------------------------------------------------------ administration
    def purge(self, before: float, user: Optional[str] = None, dry_run: bool = False) -> PurgeResult:
        """Forget finished jobs that ended before `before` (unix seconds) and their logs;
        an admin may name any user (None: everyone), others purge only their own."""
        from .protocol import PurgeParams

        return self.invoke("jobs.purge", PurgeParams(before=before, user=user, dry_run=dry_run))

    def audit(self, since: Optional[float] = None, user: Optional[str] = None) -> list[AuditEntry]:
        """Audited requests (admins only), oldest first."""
        from .protocol import AuditParams

        return self.invoke("audit.read", AuditParams(since=since, user=user))


def _listed(items):
    return list(items) if items is not None else None
