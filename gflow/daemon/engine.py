"""The Engine: the scheduler's state and every change to it, owned by the one asyncio loop
(no locks). It is assembled from one part per concern, each in `jobs/`:

- `table.py`      the active jobs, their indexes, committing changes (and undoing them in
                  memory when the disk is full);
- `creation.py`   submissions and the new jobs of `gjob redo`;
- `lifecycle.py`  the transitions: hold, release, update, a group's limit, exits, retries,
                  and `end`, the one way a job becomes terminal;
- `scheduling.py` the scheduling pass, launching, and the timers (with `queue.py`, what the
                  pass keeps between passes, and `admission.py`, what could ever start).

Which jobs a request may change (ownership, state, each id alone) is decided by its handler
(`handlers/`), which then asks for the transition. The lifecycle calls into scheduling (a
pass, a timer) and the table; scheduling reports what it cannot decide (a failed launch, a
time limit reached) as events on `events`, and the table calls neither. Every transition is
announced once on `events` after its commit.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Callable, Optional

from .. import paths as gpaths
from ..config import Config
from ..core import fairshare
from ..protocol import Job, JobState
from .events import EventBus, SettingsChanged
from .executors import runspec
from .executors.base import Executor, ExitStatus
from .gpu import GpuBackend
from .jobs.creation import Creation
from .jobs.lifecycle import Lifecycle
from .jobs.scheduling import Scheduling
from .jobs.table import USAGE_KEY, JobTable
from .later import Later
from .launchretry import LaunchRetries
from .policy import Policy
from .refusals import bad_request
from .jobs.queue import SchedulingState
from .store import DiskFull, JobStore
from .wallclock import ClockStepWatch, WallTimers

log = logging.getLogger("gflow.engine")


class Engine(Lifecycle, Creation, Scheduling, JobTable):
    def __init__(
        self,
        config: Config,
        dirs: gpaths.DaemonPaths,
        store: JobStore,
        gpus: GpuBackend,
        executor_factory: Callable[[Callable[[int, ExitStatus], None]], Executor],
        policy: Optional[Callable[["Engine"], "Policy"]] = None,
    ):
        self.config = config
        self.dirs = dirs
        self.store = store
        self.gpus = gpus
        self.executor = executor_factory(self._on_exit)
        # every transition, announced after its commit (see events.py)
        self.events = EventBus()
        self.daemon_uid = os.geteuid()
        self.started_at = time.time()
        self.jobs: dict[int, Job] = {}  # active: Queued, Hold, Running
        # dependency id -> active jobs naming it, so a failure finds its dependents without
        # scanning every job (auto-cancel, retries); maintained by _activate/_deactivate
        self._dependents: dict[int, set[int]] = {}
        self._names: set[str] = set()  # run names of active jobs: a new name colliding with one gets a suffix
        self._launch_queue: list[Job] = []
        self.sched = SchedulingState()  # ordered queue and running index for the pass
        self.stopping: dict[int, Job] = {}  # terminal, but the process is still winding down
        self._terminal_states: dict[int, JobState] = {}
        # begin times and time limits are wall-clock instants: re-armed when the clock steps
        self._timers = WallTimers()
        self._clock_watch = ClockStepWatch(self._clock_stepped, lambda: len(self._timers) > 0)
        self._waiters: dict[int, list[asyncio.Future]] = {}
        self._pass_pending = False
        self.next_id = store.max_id() + 1
        # config and `gflowd up --gpus` win over a runtime `gctl set-gpus` (upstream 8.23)
        runtime = store.get_meta("allowed_gpus")
        configured = config.daemon.gpus if config.daemon.gpus is not None else runtime
        self.allowed_gpus: Optional[set[int]] = self._valid_gpu_set(configured)
        # quotas and reservations, made for this engine (it reads the running jobs); without
        # a factory the engine runs with no quotas or reservations
        self.policy: Optional["Policy"] = None
        # fair-share ledger: user -> (GPU-seconds, when last decayed); saved with
        # the commit that records the terminal job it was charged for
        self.usage: fairshare.Ledger = {
            user: (float(u), float(t)) for user, (u, t) in store.get_meta(USAGE_KEY, {}).items()
        }
        self._usage_changed = False
        self.host_memory_mb = _host_memory_mb()
        # a full state disk: work to save again later, and the jobs whose exit is known (in
        # their status file) but not yet recorded
        self._later = Later()
        self._unrecorded_exits: set[int] = set()
        self._launch_retries = LaunchRetries()
        self._subscribe_lifecycle()
        if policy is not None:
            try:
                self.policy = policy(self)
            except BaseException:  # an unreadable database: no shepherd watch left behind
                self.executor.close()
                raise

    def _valid_gpu_set(self, indices) -> Optional[set[int]]:
        """Drop indices the machine does not have; nothing left means every GPU."""
        if indices is None:
            return None
        present = {g.index for g in self.gpus.devices()}
        kept = {i for i in indices if i in present}
        dropped = sorted(set(indices) - kept)
        if dropped:
            log.warning("ignoring GPU indices %s: only %d GPUs detected", dropped, len(present))
        return kept or None

    def set_allowed_gpus(self, indices: Optional[list[int]]) -> None:
        if indices is not None and not indices:
            # at start-up an empty set means every GPU: refused here, so the daemon never
            # runs with a set that means the opposite after a restart
            raise bad_request("no GPU given: an empty set would let no GPU job start; name at least one GPU, or 'all'")
        if indices is not None:
            present = {g.index for g in self.gpus.devices()}
            bad = sorted(set(indices) - present)
            if bad:
                raise bad_request(f"Invalid GPU indices {bad} (only {len(present)} GPUs detected)")
        self.store.set_meta("allowed_gpus", indices)
        self.allowed_gpus = set(indices) if indices is not None else None
        self.events.emit(SettingsChanged("allowed_gpus"))
        self.request_pass()  # a settings change may let waiting jobs start (upstream 8.16)

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        """Load active jobs, re-adopt running ones, arm timers and run a first pass."""
        self._clock_watch.start()
        loaded = self.store.load_active()
        for job in loaded:
            self._activate(job)
        # Admitted but without a recorded shepherd: the previous daemon died mid-launch.
        launched = self.executor.find_unrecorded(
            [j.id for j in loaded if j.state is JobState.RUNNING and j.runner_pid is None]
        )
        requeued: list[Job] = []
        # all loaded first: a vanished runner's retry or cascade must see its dependents
        for job in loaded:
            if job.state is JobState.RUNNING:
                if job.runner_pid is None:
                    if job.id not in launched:  # never started: back to the queue, not failed
                        job.state, job.started_at, job.gpu_ids, job.reason = JobState.QUEUED, None, None, None
                        self.sched.requeued(job)
                        self.executor.remove_files(job.id)  # now: it may be relaunched at once
                        requeued.append(job)
                        self._arm_begin(job)
                        continue
                    shepherd = launched[job.id]
                    if shepherd is None:  # ended, or vanished: its status file decides
                        self.executor.collect(job.id)
                        continue
                    job.runner_pid, job.runner_started = shepherd
                    requeued.append(job)
                self.executor.adopt(job.id, job.runner_pid, job.runner_started or 0.0)
                self._arm_time_limit(job)
            elif job.state is JobState.QUEUED:
                self._arm_begin(job)
        if requeued:
            log.warning("recovered %d job(s) the previous daemon was launching when it stopped", len(requeued))
        self._save_facts(requeued)
        self.request_pass()

    def close(self) -> None:
        # Admitted but not yet started (the launch queue drains a slice per loop turn):
        # back to the queue, rather than found "vanished" and failed at the next start.
        unlaunched = [
            j for j in self._launch_queue
            if self.jobs.get(j.id) is j and j.state is JobState.RUNNING and j.runner_pid is None
        ]
        for job in unlaunched:
            job.state, job.started_at, job.gpu_ids, job.reason = JobState.QUEUED, None, None, None
            self.sched.requeued(job)
        self._launch_queue = []
        try:
            self._commit(unlaunched, rollback=False)
        except DiskFull as e:  # still Running without a shepherd: the next start requeues them
            log.error("%s", e.message)
        self._later.close()
        self._timers.clear()
        self._clock_watch.close()
        self.executor.close()

    def log_path(self, job: Job, create_dir: bool = False) -> str:
        return runspec.log_path(self.dirs.logs_dir, job, self.daemon_uid, create_dir)


def _host_memory_mb() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 16 * 1024
