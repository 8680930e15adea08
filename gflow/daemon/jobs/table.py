"""The job table: the active jobs in memory, their indexes, and saving changes to the store.

Active jobs (Queued, Hold, Running) live in `jobs`; a terminal job leaves memory (it is read
back from SQLite on demand) except while its process is still being stopped (`stopping`),
when it keeps holding its resources. Nothing here decides a transition: the lifecycle and
the scheduling pass do, and commit through `commit`, which on a full disk puts memory back
as stored. The table calls no other part: it is the bottom of lifecycle -> scheduling ->
table.

It also owns what is saved with the jobs and read by several parts: the next job id, the
fair-share ledger (saved with the commit that records the terminal job it was charged for),
the scheduler's indexes (`sched`, kept in step with every job that enters or leaves the
active set) and the work a full disk deferred (`later`).
"""
from __future__ import annotations

import logging
from typing import Iterable, Optional

import msgspec

from ...core import fairshare
from ...protocol import ACTIVE_STATES, MAX_IDS, MAX_INT, TERMINAL_STATES, Job, JobState
from .. import identity
from ..executors.base import Executor
from ..later import Later
from ..memwatch import Target
from ..refusals import bad_request, not_found
from ..store import DiskFull, JobStore
from .queue import SchedulingState

log = logging.getLogger("gflow.engine")
USAGE_KEY = "fair_share_usage"


class JobTable:
    def __init__(self, store: JobStore, executor: Executor, later: Later):
        self.store = store
        self.executor = executor  # asked only whether a job's process is still watched
        self.later = later
        self.jobs: dict[int, Job] = {}  # active: Queued, Hold, Running
        self.stopping: dict[int, Job] = {}  # terminal, but the process is still winding down
        # dependency id -> active jobs naming it, so a failure finds its dependents without
        # scanning every job (auto-cancel, retries); maintained by activate/deactivate
        self.dependents: dict[int, set[int]] = {}
        self.names: set[str] = set()  # run names of active jobs: a new name colliding with one gets a suffix
        self.sched = SchedulingState()  # ordered queue and running index for the pass
        self._terminal_states: dict[int, JobState] = {}
        # jobs whose exit is known (in their status file) but not yet recorded: a rollback
        # keeps them stopping, holding their resources
        self.unrecorded_exits: set[int] = set()
        self.next_id = store.max_id() + 1
        # fair-share ledger: user -> (GPU-seconds, when last decayed)
        self.usage: fairshare.Ledger = self._stored_usage()
        self.usage_changed = False

    def _stored_usage(self) -> fairshare.Ledger:
        return {user: (float(u), float(t)) for user, (u, t) in self.store.get_meta(USAGE_KEY, {}).items()}

    # ------------------------------------------------------------------ lookups
    def find(self, job_id: int) -> Optional[Job]:
        job = self.jobs.get(job_id) or self.stopping.get(job_id)
        if job is not None or not 0 <= job_id <= MAX_INT:  # SQLite cannot even look beyond
            return job
        return self.store.get(job_id)

    def get(self, job_id: int) -> Job:
        job = self.find(job_id)
        if job is None:
            raise not_found(job_id)
        return job

    def state_of(self, job_id: int) -> Optional[JobState]:
        job = self.jobs.get(job_id) or self.stopping.get(job_id)
        if job is not None:
            return job.state
        state = self._terminal_states.get(job_id)
        if state is None:
            state = self.store.state_of(job_id)
            if state is not None and state in TERMINAL_STATES:
                self._terminal_states[job_id] = state
        return state

    def purgeable(self, job: Job) -> bool:
        """A finished job may be forgotten unless an active job depends on it or its
        process is still winding down."""
        return job.id not in self.stopping and not self.dependents.get(job.id)

    def forget(self, ids: Iterable[int]) -> None:
        for job_id in ids:
            self._terminal_states.pop(job_id, None)

    def resolve_ref(self, caller: identity.Caller, ref: str | int) -> int:
        """An id, or `@` / `@~N` against the caller's own jobs (`@~1` is `@`, as upstream)."""
        if isinstance(ref, int):
            return ref
        text = ref.strip()
        if text.isascii() and text.isdigit():  # "²" is a digit to isdigit, not to int()
            job_id = int(text)
            if job_id > MAX_INT:  # beyond any id (and SQLite's integers): no such job
                raise not_found(job_id)
            return job_id
        count = None
        if text == "@":
            count = 1
        elif text.startswith("@~") and text[2:].isascii() and text[2:].isdigit() and 1 <= int(text[2:]) <= MAX_IDS:
            count = int(text[2:])
        if count is not None:
            ids = self.store.recent_ids_of(caller.uid, count)
            if len(ids) == count:
                return ids[-1]
        raise bad_request(f"Cannot resolve dependency '{text}' for user '{caller.user}'")

    def deps_of(self, job_id: int) -> list[int]:
        job = self.jobs.get(job_id) or self.find(job_id)
        return list(job.depends_on_ids) if job is not None else []

    # ------------------------------------------------------------------ what the policy reads
    def running_jobs(self) -> list[Job]:
        """Jobs holding resources: Running, and terminal ones whose process is winding down."""
        jobs = [j for j in self.jobs.values() if j.state is JobState.RUNNING]
        return jobs + list(self.stopping.values())

    def active_jobs(self) -> Iterable[Job]:
        return self.jobs.values()

    def gpu_holders(self) -> dict[int, Job]:
        holders: dict[int, Job] = {}
        for job in list(self.sched.running.values()) + list(self.stopping.values()):
            for i in job.gpu_ids or []:
                holders.setdefault(i, job)
        return holders

    def gpu_holders_all(self) -> dict[int, list[Job]]:
        """Every job on each GPU (several shared jobs may hold one)."""
        holders: dict[int, list[Job]] = {}
        for job in list(self.sched.running.values()) + list(self.stopping.values()):
            for i in job.gpu_ids or []:
                holders.setdefault(i, []).append(job)
        return holders

    def memory_targets(self) -> list[Target]:
        """Running jobs with a host-memory limit and a live shepherd to measure under."""
        return [
            Target(job.id, job.runner_pid, job.memory_limit_mb)
            for job in self.jobs.values()
            if job.memory_limit_mb and job.state is JobState.RUNNING and job.runner_pid
            and self.executor.is_watched(job.id)
        ]

    # ------------------------------------------------------------------ indexes
    def activate(self, job: Job) -> None:
        self.jobs[job.id] = job
        self.names.add(job.run_name)
        self.index(job)
        self.sched.activated(job)

    def deactivate(self, job: Job) -> None:
        if self.jobs.pop(job.id, None) is not None:
            self.names.discard(job.run_name)
            self.unindex(job)
            self.sched.deactivated(job)

    def index(self, job: Job) -> None:
        for dep in job.depends_on_ids:
            self.dependents.setdefault(dep, set()).add(job.id)

    def unindex(self, job: Job) -> None:
        for dep in job.depends_on_ids:
            waiting = self.dependents.get(dep)
            if waiting is not None:
                waiting.discard(job.id)
                if not waiting:
                    del self.dependents[dep]

    def mark_terminal(self, job: Job, was_running: bool) -> None:
        """A job just made terminal in memory (the caller commits): out of the active set,
        and stopping while its process winds down."""
        self.deactivate(job)
        if was_running and self.executor.is_watched(job.id):
            self.stopping[job.id] = job
        self._terminal_states[job.id] = job.state

    # ------------------------------------------------------------------ saving
    def commit(self, jobs: list[Job], rollback: bool = True) -> None:
        """Save changed jobs. On a full disk nothing was saved: with `rollback` the jobs are
        put back in memory as stored (a refused decision); without, memory keeps what it
        says (facts about processes, saved later) and DiskFull is raised either way."""
        if jobs:
            try:
                self.store.write(changed=unique(jobs), meta=self.changed_meta())
            except DiskFull:
                if rollback:
                    self.rollback(jobs)
                else:
                    self.usage_changed = True
                raise

    def save_facts(self, jobs: list[Job]) -> None:
        """Commit what happened to processes (launched, found, requeued); retried until the
        disk has room."""
        try:
            self.commit(jobs, rollback=False)
        except DiskFull as e:
            log.error("%s", e.message)
            self.later.add(("facts", jobs[0].id), lambda: self.save_facts(jobs))

    def rollback(self, jobs: list[Job]) -> None:
        """Undo in memory the change a failed commit did not save: every job becomes its stored
        self again, in place (the launch queue and timers hold these objects). Timers need no
        re-arming: the lifecycle disarms them only once an end is committed."""
        self.usage = self._stored_usage()
        self.usage_changed = False
        for job in unique(jobs):
            stored = self.store.get(job.id)
            self.deactivate(job)
            self.stopping.pop(job.id, None)
            self._terminal_states.pop(job.id, None)
            if stored is None:
                continue
            for field in job.__struct_fields__:
                setattr(job, field, getattr(stored, field))
            if job.state in ACTIVE_STATES:
                self.activate(job)
            else:
                self._terminal_states[job.id] = job.state
                if self.executor.is_watched(job.id) or job.id in self.unrecorded_exits:
                    self.stopping[job.id] = job  # its process still holds its resources

    def changed_meta(self) -> Optional[dict]:
        if not self.usage_changed:
            return None
        self.usage_changed = False
        return {USAGE_KEY: self.usage}

    # ------------------------------------------------------------------ listing
    def encoded_jobs(self, states, users, ids, since) -> list[msgspec.Raw]:
        """Active jobs from memory (with liveness), finished ones straight from SQLite."""
        encode = msgspec.msgpack.encode
        wanted = set(states) if states is not None else None
        out: dict[int, bytes] = {}
        id_set = set(ids) if ids is not None else None
        user_set = set(users) if users is not None else None
        for job in self.jobs.values():
            if wanted is not None and job.state not in wanted:
                continue
            if id_set is not None and job.id not in id_set:
                continue
            if user_set is not None and job.user not in user_set:
                continue
            if since is not None and job.submitted_at < since:
                continue
            if job.state is JobState.RUNNING:
                job = msgspec.structs.replace(job, alive=self.executor.is_watched(job.id))
            out[job.id] = encode(job)
        terminal = TERMINAL_STATES if wanted is None else wanted & TERMINAL_STATES
        rows = self.store.query_rows(terminal, users, ids, since) if terminal else []
        if not out:  # nothing active matched: the stored rows are already in id order
            return [msgspec.Raw(blob) for _, blob in rows]
        for job_id, blob in rows:
            out.setdefault(job_id, blob)  # stopping jobs are terminal and already stored
        return [msgspec.Raw(out[k]) for k in sorted(out)]


def unique(jobs: list[Job]) -> list[Job]:
    seen: dict[int, Job] = {}
    for job in jobs:
        seen[job.id] = job
    return list(seen.values())
