"""The daemon's runtime policy: quota overrides, GPU reservations and the GPU-process ignore list.

Owned by the loop like the job table. Rules come from `gflow.core.quotas` and
`gflow.core.reservations`; this class keeps their state, persists every change with
`store.set_meta` before the caller replies, arms a timer for the next reservation edge, and
announces every change (and every edge) as `SettingsChanged`, to which the scheduling side
answers with a pass (upstream waited for an unrelated event, 8.16). It reads the jobs and
the GPUs through two narrow read-only views given at construction, and calls nothing above
it: the scheduling pass reaches it through the `quota_gate` and the `reservation_gate` built
for each pass.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Protocol, Sequence

import msgspec

from ..config import Config, QuotaConfig, QuotaLimits
from ..core import quotas as core_quotas
from ..core import reservations as core_res
from ..core.reservations import Reservation, ReservationError, Status
from ..core.scheduler import Gpu
from ..protocol import ErrorCode, GflowError, Job
from .events import EventBus, SettingsChanged
from .identity import Caller
from .refusals import bad_request
from .store import JobStore

log = logging.getLogger("gflow.policy")

QUOTA_KEY = "quota_overrides"
RESERVATIONS_KEY = "reservations"
# finished (completed or cancelled) reservations leave the list at the next status update,
# as upstream: `gctl reserve list` shows what still matters
RETENTION_SECS = 0


def split_ignored(
    pids: Optional[dict[int, list[int]]], ignored: set[tuple[int, int]]
) -> tuple[Optional[dict[int, list[int]]], set[tuple[int, int]]]:
    """Compute pids per GPU → (pids to treat as unmanaged, ignore entries still valid).

    An entry (gpu, pid) lapses once that pid no longer runs on that GPU. When the query
    failed (None) nothing is known, so every entry is kept and None is passed on.
    """
    if pids is None:
        return None, set(ignored)
    kept = {(gpu, pid) for gpu, pid in ignored if pid in pids.get(gpu, ())}
    visible = {gpu: [p for p in procs if (gpu, p) not in kept] for gpu, procs in pids.items()}
    return visible, kept


class JobsView(Protocol):
    """What the policy reads of the jobs (the job table provides it)."""

    def running_jobs(self) -> list[Job]:
        """Jobs holding resources: Running, and ended ones whose process is winding down."""

    def active_jobs(self) -> Iterable[Job]:
        """Queued, Hold and Running jobs."""


class GpusView(Protocol):
    """What the policy reads of the machine (daemon/machine.py provides it)."""

    allowed_gpus: Optional[set[int]]

    def devices(self) -> list[Gpu]: ...


@dataclass(eq=False)
class Policy:
    store: JobStore
    config: Config
    jobs: JobsView
    gpus: GpusView
    events: EventBus
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.quota_overrides = self._load_overrides()
        self.effective = core_quotas.effective(self.config.quota, self.quota_overrides)
        self.reservations, self.next_reservation_id = self._load_reservations()
        self.ignored: set[tuple[int, int]] = set()  # runtime only
        self._timer: Optional[asyncio.TimerHandle] = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Drop reservations that finished long ago and arm the next edge timer."""
        self._prune()
        self._arm()

    def clock_stepped(self) -> None:
        """The wall clock jumped: the edge timer's delay was computed from the old time."""
        self._arm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------------ persistence
    def _load_overrides(self) -> QuotaConfig:
        raw = self.store.get_meta(QUOTA_KEY)
        if raw is None:
            return QuotaConfig()
        try:
            return msgspec.convert(raw, QuotaConfig)
        except msgspec.ValidationError as e:
            self._set_aside(QUOTA_KEY, raw, e)
            return QuotaConfig()

    def _load_reservations(self) -> tuple[list[Reservation], int]:
        raw = self.store.get_meta(RESERVATIONS_KEY)
        if raw is None:
            return [], 1
        try:
            items = msgspec.convert(raw.get("items", []), list[Reservation])
            return items, max([int(raw.get("next_id", 1))] + [r.id + 1 for r in items])
        except (msgspec.ValidationError, AttributeError, TypeError, ValueError) as e:
            self._set_aside(RESERVATIONS_KEY, raw, e)
            return [], 1

    def _set_aside(self, key: str, raw, error: Exception) -> None:
        """Never silently reset state: keep the unreadable value under another key."""
        backup = f"{key}.unreadable.{int(self.clock())}"
        log.error("stored %s unreadable (%s); kept as %s, starting without it", key, error, backup)
        self.store.set_meta(backup, raw)

    def _save_reservations(self, items: list[Reservation], next_id: int) -> None:
        self.store.set_meta(RESERVATIONS_KEY, {"next_id": next_id, "items": items})
        self.reservations, self.next_reservation_id = items, next_id

    def _changed(self, what: str) -> None:
        """A settings change may let waiting jobs start, or must stop others: announced, the
        scheduling side runs a pass."""
        self._arm()
        self.events.emit(SettingsChanged(what))

    # ------------------------------------------------------------------ quotas
    def quota_gate(self) -> Optional[Callable[[Job, list[Job]], bool]]:
        """The scheduler's quota check for one pass, or None without running-job limits. The
        pass appends the jobs it admits to one `running` list, so the gate tallies usage as
        that list grows: O(1) per candidate instead of a scan. A new pass takes a new gate."""
        if not core_quotas.has_running_limits(self.effective):
            return None
        effective = self.effective
        usage = core_quotas.RunningUsage()
        counted = 0

        def allows(job: Job, running: list[Job]) -> bool:
            nonlocal counted
            for j in running[counted:]:
                usage.add(j)
            counted = len(running)
            return core_quotas.allows_usage(job, usage, effective)

        return allows

    def check_queue_quota(self, new_jobs: Sequence[Job]) -> None:
        """Submission gate (queue depth); raises upstream's message for the whole batch."""
        if not core_quotas.has_queue_limits(self.effective):
            return
        message = core_quotas.queue_rejection(new_jobs, self.jobs.active_jobs(), self.effective)
        if message is not None:
            raise bad_request(message)

    def quota_rows(self) -> list[core_quotas.QuotaRow]:
        return core_quotas.status_rows(self.effective, self.jobs.running_jobs(), self.jobs.active_jobs())

    def _save_overrides(self, overrides: QuotaConfig) -> None:
        self.store.set_meta(QUOTA_KEY, overrides)
        self.quota_overrides = overrides
        self.effective = core_quotas.effective(self.config.quota, overrides)
        self._changed("quotas")

    def set_quota(self, scope: str, name: Optional[str], limits: QuotaLimits) -> QuotaLimits:
        try:
            overrides = core_quotas.merge_override(self.quota_overrides, scope, name, limits)
        except core_quotas.QuotaError as e:
            raise bad_request(str(e)) from None
        self._save_overrides(overrides)
        return core_quotas.subject_limits(overrides, scope, name)

    def remove_quota(self, scope: str, name: Optional[str]) -> None:
        try:
            overrides = core_quotas.remove_override(self.quota_overrides, scope, name)
        except core_quotas.QuotaError as e:
            raise GflowError(ErrorCode.NOT_FOUND, str(e)) from None
        self._save_overrides(overrides)

    # ------------------------------------------------------------------ reservations
    def active_reservations(self) -> list[Reservation]:
        now = self.clock()
        return [r for r in self.reservations if r.status_at(now) is Status.ACTIVE]

    def reservation_gate(self, running: Iterable[Job]) -> Optional[core_res.ReservationGate]:
        """For the scheduling pass: the aggregate rule over the active reservations, the
        GPUs the daemon may hand out now, and what `running` jobs already hold."""
        active = self.active_reservations()
        if not active:
            return None
        use: dict[str, list[int]] = {}
        for job in running:
            if job.gpu_ids:
                use.setdefault(job.user, []).extend(job.gpu_ids)
        allowed = self.gpus.allowed_gpus
        usable = [g.index for g in self.gpus.devices()
                  if g.available and (allowed is None or g.index in allowed)]
        return core_res.ReservationGate(active, usable, use)

    def reservation_shortfalls(self) -> dict[int, int]:
        """Active reservation id -> GPUs its holder is still waiting for."""
        gate = self.reservation_gate(self.jobs.running_jobs())
        return gate.shortfalls() if gate is not None else {}

    def list_reservations(
        self, user: Optional[str] = None, status: Optional[Status] = None, active_only: bool = False
    ) -> list[Reservation]:
        now = self.clock()
        out = []
        waiting = self.reservation_shortfalls()
        for r in sorted(self.reservations, key=lambda r: r.id):
            view = self._view(r, now, waiting)
            if user is not None and r.user != user:
                continue
            if status is not None and view.status is not status:
                continue
            if status is None and view.status is Status.CANCELLED:
                continue  # kept only to answer a second cancel; `--status cancelled` shows them
            if active_only and view.status is not Status.ACTIVE:
                continue
            out.append(view)
        return out

    def get_reservation(self, reservation_id: int) -> Optional[Reservation]:
        for r in self.reservations:
            if r.id == reservation_id:
                return self._view(r, self.clock(), self.reservation_shortfalls())
        return None

    @staticmethod
    def _view(r: Reservation, now: float, waiting: dict[int, int]) -> Reservation:
        view = r.at(now)
        if view.status is Status.ACTIVE:
            view.waiting_gpus = waiting.get(r.id, 0)
        return view

    def create_reservation(
        self,
        user: str,
        gpu_count: Optional[int],
        gpu_indices: Optional[list[int]],
        start: float,
        duration: int,
    ) -> Reservation:
        now = self.clock()
        try:
            core_res.validate_new(
                gpu_count=gpu_count, gpu_indices=gpu_indices, start=start, duration=duration,
                now=now, total_gpus=len(self.gpus.devices()), existing=self.reservations,
                allowed=self.gpus.allowed_gpus,
            )
        except ReservationError as e:
            raise bad_request(str(e)) from None
        reservation = Reservation(
            id=self.next_reservation_id,
            user=user,
            start=float(start),
            duration=int(duration),
            gpu_count=gpu_count if gpu_indices is None else None,
            gpu_indices=sorted(set(gpu_indices)) if gpu_indices is not None else None,
            created_at=now,
        )
        self._save_reservations(self.reservations + [reservation], self.next_reservation_id + 1)
        self._changed("reservations")
        return reservation.at(now)

    def cancel_reservation(self, caller: Caller, reservation_id: int) -> Reservation:
        now = self.clock()
        found = next((r for r in self.reservations if r.id == reservation_id), None)
        if found is None:
            raise GflowError(ErrorCode.NOT_FOUND, f"Reservation {reservation_id} not found")
        if not caller.admin and caller.user != found.user:
            raise GflowError(
                ErrorCode.FORBIDDEN,
                f"reservation {reservation_id} belongs to {found.user}; "
                "only its user or an admin may cancel it",
            )
        problem = core_res.cancel_problem(found, now)
        if problem is not None:
            raise GflowError(ErrorCode.CONFLICT, problem)
        cancelled = msgspec.structs.replace(found, cancelled_at=now)
        items = [cancelled if r.id == reservation_id else r for r in self.reservations]
        self._save_reservations(items, self.next_reservation_id)
        self._changed("reservations")
        return cancelled.at(now)

    def _prune(self) -> bool:
        kept = core_res.prune(self.reservations, self.clock(), RETENTION_SECS)
        if len(kept) == len(self.reservations):
            return False
        self._save_reservations(kept, self.next_reservation_id)
        return True

    def _arm(self) -> None:
        """One timer for the next start, end or prune instant of any reservation."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self.clock()
        edge = core_res.next_edge(self.reservations, now, RETENTION_SECS)
        if edge is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (tools, tests): nothing to wake
        # a hair late rather than early; an early wake-up simply re-arms for the same edge
        self._timer = loop.call_later(max(0.0, edge - now) + 0.05, self._on_edge)

    def _on_edge(self) -> None:
        self._timer = None
        try:
            self._prune()
        finally:
            self._arm()
            # a reservation started or ended: what may run changed
            self.events.emit(SettingsChanged("reservations"))

    # ------------------------------------------------------------------ GPU-process ignores
    def observe_gpu_processes(
        self, pids: Optional[dict[int, list[int]]]
    ) -> Optional[dict[int, list[int]]]:
        """For the GPU poll: drop lapsed ignore entries and return the pids that count as
        unmanaged (feed the result to `GpuBackend.apply_processes`)."""
        visible, self.ignored = split_ignored(pids, self.ignored)
        return visible

    def ignore_gpu_process(self, gpu: int, pid: int, pids: Optional[dict[int, list[int]]]) -> None:
        """`pids` is a fresh compute-process query (None: NVML cannot tell)."""
        if pids is None:
            raise bad_request("NVML is unavailable; GPU process inspection is not supported")
        if gpu not in {g.index for g in self.gpus.devices()}:
            raise bad_request(f"Invalid GPU index {gpu} (scheduler does not manage that GPU)")
        if pid not in pids.get(gpu, ()):
            raise bad_request(f"PID {pid} is not currently running on GPU {gpu}")
        self.ignored.add((gpu, pid))
        log.warning("GPU %d: process %d ignored by an administrator", gpu, pid)

    def unignore_gpu_process(self, gpu: int, pid: int) -> None:
        if (gpu, pid) not in self.ignored:
            raise GflowError(
                ErrorCode.NOT_FOUND, f"Ignore override for PID {pid} on GPU {gpu} was not found"
            )
        self.ignored.discard((gpu, pid))

    def ignored_processes(self) -> list[tuple[int, int]]:
        return sorted(self.ignored)

    def ignore_reason(self, gpu: int) -> Optional[str]:
        """`manual_ignore(gpu=<i>,pid=<p…>)` for a GPU whose only processes are ignored."""
        pids = sorted(p for g, p in self.ignored if g == gpu)
        if not pids:
            return None
        return f"manual_ignore(gpu={gpu},pid={','.join(map(str, pids))})"
