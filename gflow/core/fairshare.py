"""Fair-share: each user's GPU-seconds, halved every half-life, and the factor
that orders candidates of one priority band (a heavy user's jobs go after a light user's).

The ledger maps user -> (usage in GPU-seconds, when it was last decayed); it is plain data so
the daemon can persist it as is.
"""
from __future__ import annotations

from typing import Iterable

from ..protocol import Job

Ledger = dict[str, tuple[float, float]]


def decayed(usage: float, since: float, now: float, half_life: float) -> float:
    """Usage recorded at `since`, seen at `now`; a half-life <= 0 forgets everything."""
    if half_life <= 0:
        return 0.0
    return usage * 2.0 ** (-max(0.0, now - since) / half_life)


def charge(ledger: Ledger, job: Job, now: float, half_life: float) -> bool:
    """Account a job that reached a terminal state: gpus x runtime onto its owner's usage.
    Jobs that never started or asked for no GPU cost nothing (returns False)."""
    if job.gpus < 1 or job.started_at is None:
        return False
    runtime = max(0.0, (job.finished_at or now) - job.started_at)
    usage, since = ledger.get(job.user, (0.0, now))
    ledger[job.user] = (decayed(usage, since, now, half_life) + job.gpus * runtime, now)
    return True


def factors(ledger: Ledger, running: Iterable[Job], now: float, half_life: float) -> dict[str, float]:
    """Factor per user with usage: 2^(-(share of total usage) x n), n = users with usage;
    users absent from the answer have factor 1 (as everyone does while nobody has usage)."""
    effective = {
        user: decayed(usage, since, now, half_life) for user, (usage, since) in ledger.items()
    }
    for job in running:
        if job.gpus >= 1 and job.started_at is not None:
            effective[job.user] = effective.get(job.user, 0.0) + job.gpus * max(0.0, now - job.started_at)
    users = {user: usage for user, usage in effective.items() if usage > 0}
    total = sum(users.values())
    if total <= 0:
        return {}
    n = len(users)
    return {user: 2.0 ** (-(usage / total) * n) for user, usage in users.items()}
