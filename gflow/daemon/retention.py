"""History retention: `gctl purge` and the daily purge of config `retention: {days: N}`.

A purge forgets finished jobs and removes their logs, but keeps what accounting needs:
their ids stay used (the store remembers the highest) and their sums stay in `gstats`
totals (`core.stats.Totals` per user and project, saved with the deletion in one
transaction). The fair-share ledger is separate state and is not touched.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Protocol

import msgspec

from ..config import Config
from ..core.stats import Totals, totals
from ..protocol import ErrorCode, GflowError, Job, PurgeParams, PurgeResult
from .identity import Caller
from .store import MAX_PURGED_ID_KEY, JobStore

log = logging.getLogger("gflow.retention")

PURGED_KEY = "purged_totals"  # [[user, project, Totals], ...]
DAY = 86400.0


class Finished(Protocol):
    """What a purge asks of the job table."""

    def purgeable(self, job: Job) -> bool: ...

    def forget(self, ids: Iterable[int]) -> None: ...


@dataclass(eq=False)
class Retention:
    table: Finished
    store: JobStore
    config: Config
    log_path: Callable[[Job], str]
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.purged: dict[tuple[str, Optional[str]], Totals] = self._load()
        self._timer: Optional[asyncio.TimerHandle] = None

    def _load(self) -> dict[tuple[str, Optional[str]], Totals]:
        raw = self.store.get_meta(PURGED_KEY, [])
        try:
            rows = msgspec.convert(raw, list[tuple[str, Optional[str], Totals]])
        except msgspec.ValidationError as e:
            log.error("stored purge totals unreadable (%s); gstats totals omit purged jobs", e)
            return {}
        return {(user, project): t for user, project, t in rows}

    # ------------------------------------------------------------------ purge
    def purge(self, caller: Caller, params: PurgeParams) -> PurgeResult:
        if caller.admin:
            users = None if params.user is None else [params.user]
        elif params.user in (None, caller.user):
            users = [caller.user]
        else:
            raise GflowError(
                ErrorCode.FORBIDDEN,
                f"only an admin may purge another user's jobs ({params.user}); "
                "users may purge their own finished jobs",
            )
        return self.purge_before(params.before, users, params.dry_run)

    def purge_before(self, before: float, users: Optional[list[str]], dry_run: bool = False) -> PurgeResult:
        jobs = [j for j in self.store.finished_before(before, users) if self.table.purgeable(j)]
        ids = [j.id for j in jobs]
        if dry_run or not jobs:
            return PurgeResult(ids=ids, dry_run=dry_run)
        merged = dict(self.purged)
        for key, group in _by_owner(jobs).items():
            kept = totals(group, self.clock())
            merged[key] = merged[key].add(kept) if key in merged else kept
        highest = max(int(self.store.get_meta(MAX_PURGED_ID_KEY, 0)), max(ids))
        rows = [[user, project, t] for (user, project), t in sorted(merged.items(), key=_order)]
        self.store.purge(ids, {PURGED_KEY: rows, MAX_PURGED_ID_KEY: highest})
        self.purged = merged
        self.table.forget(ids)
        removed = sum(self._remove_log(j) for j in jobs)
        log.info("purged %d finished jobs that ended before %s (%d logs removed)",
                 len(ids), time.strftime("%Y-%m-%d %H:%M", time.localtime(before)), removed)
        return PurgeResult(ids=ids, logs_removed=removed)

    def _remove_log(self, job: Job) -> int:
        try:
            os.unlink(self.log_path(job))
        except FileNotFoundError:
            return 0
        except OSError as e:
            log.warning("job %d: log not removed: %s", job.id, e)
            return 0
        return 1

    def purged_totals(self, users: Optional[Iterable[str]] = None, project: Optional[str] = None,
                      match_project: bool = False) -> dict[tuple[str, Optional[str]], Totals]:
        """Kept sums of purged jobs, per (user, project), filtered like a stats query."""
        wanted = None if users is None else set(users)
        return {
            key: t for key, t in self.purged.items()
            if (wanted is None or key[0] in wanted) and (not match_project or key[1] == project)
        }

    # ------------------------------------------------------------------ daily purge
    def start(self) -> None:
        if self.config.retention.days is None:
            return
        asyncio.get_running_loop().call_soon(self._daily)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _daily(self) -> None:
        days = self.config.retention.days
        try:
            self.purge_before(self.clock() - days * DAY, None)
        except Exception:  # noqa: BLE001 - a failed purge must not stop the daemon; retried tomorrow
            log.exception("daily purge failed")
        self._timer = asyncio.get_running_loop().call_later(DAY, self._daily)


def _by_owner(jobs: list[Job]) -> dict[tuple[str, Optional[str]], list[Job]]:
    out: dict[tuple[str, Optional[str]], list[Job]] = {}
    for job in jobs:
        out.setdefault((job.user, job.project), []).append(job)
    return out


def _order(item):
    (user, project), _ = item
    return (user, project or "")
