"""The daemon's object graph, wired in one place: the engine (with its executor and event
bus), the policy it consults, and retention. The server owns the socket and calls `build`
once the store is open; tests build the same graph around a stub executor."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config import Config
from ..paths import DaemonPaths
from .engine import Engine
from .events import ClockStepped
from .executors.base import Executor, OnExit
from .gpu import GpuBackend
from .policy import Policy
from .retention import Retention
from .store import JobStore


@dataclass
class App:
    engine: Engine
    policy: Policy
    retention: Retention

    def start(self) -> None:
        self.engine.start()
        self.policy.start()
        self.retention.start()


def build(
    config: Config,
    dirs: DaemonPaths,
    store: JobStore,
    gpus: GpuBackend,
    executor: Callable[[OnExit], Executor],
) -> App:
    engine = Engine(config, dirs, store, gpus, executor, policy=lambda e: Policy(store, config, e))
    policy = engine.policy
    # the wall clock jumped: the reservation-edge timer's delay was computed from the old time
    engine.events.subscribe(ClockStepped, lambda _: policy.clock_stepped())
    return App(engine, policy, Retention(engine, store, config))
