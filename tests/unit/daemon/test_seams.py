"""The parts of the daemon's object graph stand on their own: each is constructed with only
its declared dependencies, the arrows run one way (creation -> lifecycle -> scheduling ->
policy -> table), and what a lower part must tell a higher one travels as an event."""
from __future__ import annotations

import asyncio
import os
import time

from gflow.config import Config, GpuConfig, QuotaConfig, QuotaLimits
from gflow.daemon import events
from gflow.daemon.app import App
from gflow.daemon.gpu import open_backend
from gflow.daemon.jobs.creation import Creation
from gflow.daemon.jobs.lifecycle import Lifecycle
from gflow.daemon.jobs.scheduling import Scheduling
from gflow.daemon.jobs.table import JobTable
from gflow.daemon.later import Later
from gflow.daemon.machine import Machine
from gflow.daemon.policy import Policy
from gflow.daemon.store import MEMORY, JobStore
from gflow.protocol import Job, JobState

from engine_stub import StubExecutor, make_engine, settled

# each part, and the parts above it that it must never reach
_ABOVE = {
    JobTable: (Policy, Scheduling, Lifecycle, Creation, App),
    Machine: (JobTable, Policy, Scheduling, Lifecycle, Creation, App),
    Policy: (Scheduling, Lifecycle, Creation, App),
    Scheduling: (Lifecycle, Creation, App),
    Lifecycle: (Creation, App),
}


def _parts(config: Config | None = None):
    """Table, machine, policy and scheduling, each built from its declared dependencies."""
    config = config or Config(gpu=GpuConfig(backend="fake", count=2))
    store = JobStore(MEMORY)
    bus = events.EventBus()
    executor = StubExecutor(lambda job_id, status: bus.emit(events.ProcessExited(job_id, status)))
    table = JobTable(store, executor, Later())
    machine = Machine(open_backend(config.gpu), store, bus, None)
    policy = Policy(store, config, table, machine, bus)
    scheduling = Scheduling(table, executor, machine, policy, bus, config, "/nonexistent-logs")
    return store, bus, executor, table, machine, policy, scheduling


def _queued(store: JobStore, table: JobTable, **fields) -> Job:
    job = Job(id=table.next_id, state=JobState.QUEUED, command="true", run_dir="/",
              owner_uid=os.geteuid(), user="someone", submitted_at=time.time(), **fields)
    job.run_name = f"job-{job.id}"
    store.write(new=[job], envs={job.id: {}})
    table.next_id += 1
    table.activate(job)
    return job


def _run(scheduling: Scheduling, main):
    try:
        return asyncio.run(main())
    finally:
        scheduling.close()


def test_no_part_holds_a_reference_to_a_part_above_it(tmp_path):
    app = make_engine(tmp_path)
    try:
        for part in (app.table, app.machine, app.policy, app.scheduling, app.lifecycle):
            above = _ABOVE[type(part)]
            held = [name for name, value in vars(part).items() if isinstance(value, above)]
            assert held == [], f"{type(part).__name__} holds {held}"
    finally:
        app.close()


def test_scheduling_alone_starts_jobs_and_reports_what_it_cannot_decide():
    """No lifecycle exists: a failed launch and a reached time limit are events, and the
    jobs stay as they were (scheduling never ends a job)."""
    store, bus, executor, table, _, _, scheduling = _parts()
    seen: list = []
    bus.subscribe(events.Started, lambda e: seen.append(("Started", [j.id for j in e.jobs])))
    bus.subscribe(events.LaunchFailed, lambda e: seen.append(("LaunchFailed", e.job.id)))
    bus.subscribe(events.TimeLimitReached, lambda e: seen.append(("TimeLimitReached", e.job_id)))

    async def main():
        limit = asyncio.Event()
        bus.subscribe(events.TimeLimitReached, lambda _: limit.set())
        scheduling.start()
        ok = _queued(store, table, gpus=1, time_limit=0.01)
        scheduling.request_pass()
        await settled()
        broken = _queued(store, table, gpus=1)
        executor.fail_launch = RuntimeError("no shell")
        scheduling.request_pass()
        await settled()
        await asyncio.wait_for(limit.wait(), 30)  # the wall-clock timer of the time limit
        return ok, broken

    ok, broken = _run(scheduling, main)
    assert seen[:2] == [("Started", [ok.id]), ("LaunchFailed", broken.id)]
    assert ("TimeLimitReached", ok.id) in seen
    assert table.jobs[ok.id].state is JobState.RUNNING and table.jobs[broken.id].state is JobState.RUNNING
    assert executor.stopped == []


def test_a_settings_change_announced_by_the_policy_brings_a_pass():
    """The policy knows no scheduler: it announces a change on the bus, and scheduling
    (subscribed at construction) admits the job the old quota held back."""
    config = Config(gpu=GpuConfig(backend="fake", count=2),
                    quota=QuotaConfig(default_user=QuotaLimits(max_running_jobs=0)))
    store, _, _, table, _, policy, scheduling = _parts(config)

    async def main():
        job = _queued(store, table, gpus=1)
        scheduling.start()
        await settled()
        assert table.jobs[job.id].state is JobState.QUEUED
        policy.set_quota("user", "someone", QuotaLimits(max_running_jobs=1))
        await settled()
        return job

    job = _run(scheduling, main)
    assert table.jobs[job.id].state is JobState.RUNNING


def test_the_lifecycle_records_an_exit_the_executor_reports_on_the_bus():
    config = Config(gpu=GpuConfig(backend="fake", count=2))
    store, bus, executor, table, machine, policy, scheduling = _parts(config)
    Lifecycle(table, scheduling, policy, machine, executor, bus, config)  # subscribes at construction
    ended: list = []
    bus.subscribe(events.Ended, lambda e: ended.append((e.job.id, e.state)))

    async def main():
        scheduling.start()
        job = _queued(store, table)
        scheduling.request_pass()
        await settled()
        executor.exited(job.id, 3)
        await settled()
        return job

    job = _run(scheduling, main)
    assert ended == [(job.id, JobState.FAILED)]
    assert store.get(job.id).exit_code == 3 and job.id not in table.jobs
