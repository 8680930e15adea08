"""The daemon's object graph, wired in one place. Each part is constructed with exactly what
it uses, and the arrows run one way:

    creation -> lifecycle -> scheduling -> policy -> table
                                     \\-> machine   (GPUs, allowed GPUs, host memory)

with the store, the executor and the event bus below them all. What a lower part must tell a
higher one travels as an event: the executor's exits (ProcessExited), a failed launch and a
reached time limit (LaunchFailed, TimeLimitReached) to the lifecycle; a settings change
(SettingsChanged, from the policy and the machine) to scheduling, which runs a pass.

The server owns the socket and calls `build` once the store is open; the unit tests build the
same graph around a stub executor.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..config import Config
from ..paths import DaemonPaths
from .events import ClockStepped, EventBus, ProcessExited
from .executors.base import Executor, ExitStatus, OnExit
from .gpu import GpuBackend
from .jobs.creation import Creation
from .jobs.lifecycle import Lifecycle
from .jobs.scheduling import Scheduling
from .jobs.table import JobTable
from .later import Later
from .machine import Machine
from .policy import Policy
from .retention import Retention
from .store import JobStore


@dataclass
class App:
    config: Config
    dirs: DaemonPaths
    store: JobStore
    events: EventBus
    executor: Executor
    later: Later
    table: JobTable
    machine: Machine
    policy: Policy
    scheduling: Scheduling
    lifecycle: Lifecycle
    creation: Creation
    retention: Retention
    started_at: float = field(default_factory=time.time)

    def start(self) -> None:
        self.scheduling.start()
        self.policy.start()
        self.retention.start()

    def close(self) -> None:
        """The parts that own timers or processes, top first (the store is the server's)."""
        self.policy.close()
        self.retention.close()
        self.scheduling.close()
        self.later.close()
        self.executor.close()


def build(
    config: Config,
    dirs: DaemonPaths,
    store: JobStore,
    gpus: GpuBackend,
    executor: Callable[[OnExit], Executor],
) -> App:
    events = EventBus()

    def exited(job_id: int, status: ExitStatus) -> None:
        events.emit(ProcessExited(job_id, status))

    run = executor(exited)
    try:
        later = Later()
        table = JobTable(store, run, later)
        machine = Machine(gpus, store, events, config.daemon.gpus)
        policy = Policy(store, config, table, machine, events)
    except BaseException:  # an unreadable database: no shepherd watch left behind
        run.close()
        raise
    scheduling = Scheduling(table, run, machine, policy, events, config, dirs.logs_dir)
    lifecycle = Lifecycle(table, scheduling, policy, machine, run, events, config)
    creation = Creation(table, lifecycle, policy, machine, events, config)
    # the wall clock jumped: the reservation-edge timer's delay was computed from the old time
    events.subscribe(ClockStepped, lambda _: policy.clock_stepped())
    retention = Retention(table, store, config, scheduling.log_path)
    return App(config, dirs, store, events, run, later, table, machine, policy, scheduling,
               lifecycle, creation, retention)
