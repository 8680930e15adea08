"""Host-memory limits of running jobs (`--memory`): the resident memory of each limited job's
process tree, measured off the event loop. The kernel offers no event for "a process tree grew
past N bytes" without a delegated cgroup, so this is the one periodic check, and it runs only
while some running job has a limit."""
from __future__ import annotations

from typing import Iterable, NamedTuple

import psutil

CHECK_INTERVAL_SECS = 2.0


class Target(NamedTuple):
    job_id: int
    shepherd_pid: int
    limit_mb: int


def tree_rss_mb(shepherd_pid: int) -> float:
    """Resident memory (MB) of everything the shepherd runs; the shepherd itself is ours and
    not counted. Shared pages count once per process, so this errs on the high side."""
    try:
        processes = psutil.Process(shepherd_pid).children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue  # ended meanwhile
    return total / (1024 * 1024)


def over_limit(targets: Iterable[Target]) -> list[tuple[int, float]]:
    """(job id, MB in use) for every target above its limit."""
    found = []
    for target in targets:
        used = tree_rss_mb(target.shepherd_pid)
        if used > target.limit_mb:
            found.append((target.job_id, used))
    return found
