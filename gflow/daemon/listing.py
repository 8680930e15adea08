"""`jobs.list` a page at a time: active jobs from memory, finished ones from SQLite, merged
in id order, encoded only when their page is about to be sent.

A listing of 100k jobs is tens of megabytes encoded. Built whole, one request per
connection that never reads its answer would keep that much alive each; paged, a
connection holds one page. Each page is consistent on its own: a job that ends while the
listing is being sent is shown in its state at the moment its page is built, exactly once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional

import msgspec

from ..protocol import TERMINAL_STATES, Job, JobState

if TYPE_CHECKING:
    from .jobs.table import JobTable

_INFINITY = float("inf")


def pages(table: "JobTable", states: Optional[list[JobState]], users: Optional[list[str]], ids: Optional[list[int]],
          since: Optional[float], size: int) -> Iterator[list[msgspec.Raw]]:
    wanted = set(states) if states is not None else None
    id_set = set(ids) if ids is not None else None
    user_set = set(users) if users is not None else None

    def matches(job: Job) -> bool:
        return ((wanted is None or job.state in wanted)
                and (id_set is None or job.id in id_set)
                and (user_set is None or job.user in user_set)
                and (since is None or job.submitted_at >= since))

    # references only: the jobs are encoded (with their state at that time) page by page
    active = sorted((job for job in table.jobs.values() if matches(job)), key=lambda job: job.id)
    terminal = TERMINAL_STATES if wanted is None else wanted & TERMINAL_STATES
    encode = msgspec.msgpack.encode
    at, after = 0, 0
    while True:
        rows = table.store.query_rows(terminal, users, ids, since, after_id=after, limit=size) if terminal else []
        upper = rows[-1][0] if len(rows) == size else _INFINITY
        if at + size <= len(active):
            upper = min(upper, active[at + size - 1].id)
        out: dict[int, bytes] = {}
        while at < len(active) and active[at].id <= upper:
            job = active[at]
            at += 1
            if table.jobs.get(job.id) is not job or not matches(job):
                continue  # ended since the listing began: its stored row stands for it
            if job.state is JobState.RUNNING:
                job = msgspec.structs.replace(job, alive=table.executor.is_watched(job.id))
            out[job.id] = encode(job)
        for job_id, blob in rows:
            if job_id > upper:
                break
            out.setdefault(job_id, blob)
        yield [msgspec.Raw(out[k]) for k in sorted(out)]
        if upper == _INFINITY:
            return
        after = int(upper)
