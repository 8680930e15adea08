"""Typed events of the job lifecycle, and the bus that hands them to subscribers.

The lifecycle emits each event once per transition, after the transition is committed, so a
subscriber never sees a change the store might still refuse. Subscribers today: `gjob wait`
(Ended), the memory watch and the GPU poll (Started, GpusFreed), the policy's reservation
timer (ClockStepped), the scheduling pass (SettingsChanged). Notifications, an SSE stream,
metrics or an audit feed attach the same way. Three events are reports to the lifecycle from
below it: LaunchFailed and TimeLimitReached from scheduling, ProcessExited from the executor;
they are emitted instead of calling into the lifecycle, which keeps the dependencies one way.

A synchronous subscriber runs inside the loop and must be quick (set a flag, wake a task).
Anything slower subscribes with `queue()`: it reads a bounded queue at its own pace, and
when it falls that far behind the oldest events are dropped rather than the loop waiting.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable, Optional

from ..protocol import Job, JobState
from .executors.base import ExitStatus

log = logging.getLogger("gflow.events")


@dataclass(frozen=True)
class _JobsEvent:
    jobs: tuple[Job, ...]


class Submitted(_JobsEvent):
    """New jobs were created (a submission, a redo, or a retry of a failed attempt)."""


class Held(_JobsEvent):
    """Queued jobs were put on hold."""


class Released(_JobsEvent):
    """Held jobs were released (Queued again: never announced as Submitted a second time)."""


class Started(_JobsEvent):
    """Shepherds were started for these Running jobs (one event per launch slice)."""


@dataclass(frozen=True)
class Ended:
    """A job reached a terminal state; `reason` is the stored reason (None for most ends)."""

    job: Job
    state: JobState
    reason: Optional[str]


@dataclass(frozen=True)
class SettingsChanged:
    """A daemon setting that can change what may run (allowed GPUs, quotas, a reservation
    made, cancelled, starting or ending): the scheduling side answers with a pass."""

    what: str


@dataclass(frozen=True)
class GpusFreed:
    gpus: frozenset[int]


@dataclass(frozen=True)
class ClockStepped:
    pass


@dataclass(frozen=True)
class LaunchFailed:
    """The executor could not start an admitted job; the lifecycle ends it."""

    job: Job
    reason: str


@dataclass(frozen=True)
class TimeLimitReached:
    job_id: int


@dataclass(frozen=True)
class ProcessExited:
    """The executor's report that a job's process ended (once per job); the lifecycle
    records it. The executor is built before the parts that use it, so it reports here
    rather than holding a reference to the lifecycle."""

    job_id: int
    status: ExitStatus


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[type, list[Callable]] = {}

    def subscribe(self, kind: type, fn: Callable) -> None:
        """`fn(event)` runs in the loop at each emit of `kind`: it must not block."""
        self._subscribers.setdefault(kind, []).append(fn)

    def queue(self, *kinds: type, maxsize: int = 1024) -> "asyncio.Queue":
        """A bounded queue of the events of `kinds`, for a subscriber that may be slow."""
        q: asyncio.Queue = asyncio.Queue(maxsize)

        def put(event) -> None:
            if q.full():
                q.get_nowait()  # the oldest goes: a slow reader never holds up the loop
                log.warning("an event subscriber is behind; dropped an event")
            q.put_nowait(event)

        for kind in kinds:
            self.subscribe(kind, put)
        return q

    def emit(self, event) -> None:
        for fn in self._subscribers.get(type(event), ()):
            fn(event)
