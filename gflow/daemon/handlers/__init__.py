"""RPC methods: one function per method, registered here with its params Struct.

A reader who wants "what happens on jobs.cancel" opens `jobs.py` and finds `cancel`.
Admin-only methods are marked at registration, so authorisation of daemon control is
decided in one table rather than inside each handler.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterable, Callable, Iterable, Union

from ...protocol import Empty


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., Any]
    params: type
    admin: bool
    writes: bool


class Stream:
    """A reply sent as several frames, one per part: every frame but the last says
    `more=True`. The server pulls a part only when the previous one has left, so a big
    answer (a 100k-job listing, a log) never sits whole in memory; the client joins parts."""

    def __init__(self, parts: Union[Iterable[Any], AsyncIterable[Any]]):
        self.parts = parts


METHODS: dict[str, Method] = {}


def rpc(name: str, params: type = Empty, *, admin: bool = False, writes: bool = False):
    def register(fn):
        METHODS[name] = Method(name, fn, params, admin, writes)
        return fn

    return register


def load() -> dict[str, Method]:
    from . import daemon, gpus, gpus_ignore, groups, jobs, quotas, reservations, stats  # noqa: F401  (registration happens on import)

    return METHODS
