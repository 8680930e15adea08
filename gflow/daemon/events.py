"""Typed events of the job lifecycle, and the bus that hands them to subscribers.

The lifecycle emits each event once per transition, after the transition is committed, so a
subscriber never sees a change the store might still refuse. Subscribers today: `gjob wait`
(Ended), the memory watch and the GPU poll (Started, GpusFreed), the policy's reservation
timer (ClockStepped). Notifications, an SSE stream, metrics or an audit feed attach the same
way. Two events are the scheduling side's reports to the lifecycle (LaunchFailed,
TimeLimitReached): scheduling emits them instead of calling into the lifecycle, which keeps
the dependency one way.

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
    """A daemon setting that can change what may run (allowed GPUs, quotas, ...)."""

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
