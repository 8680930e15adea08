"""RPC methods: one function per method, registered here with its params Struct.

A reader who wants "what happens on jobs.cancel" opens `jobs.py` and finds `cancel`.
Admin-only methods are marked at registration, so authorisation of daemon control is
decided in one table rather than inside each handler.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from ...protocol import Empty


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., Any]
    params: type
    admin: bool
    writes: bool
    audit: bool  # one line in the audit trail per request (daemon/audit.py)


METHODS: dict[str, Method] = {}


def rpc(name: str, params: type = Empty, *, admin: bool = False, writes: bool = False,
        audit: Optional[bool] = None):
    """`audit` defaults to `writes`: every request that changes something is recorded."""
    def register(fn):
        METHODS[name] = Method(name, fn, params, admin, writes, writes if audit is None else audit)
        return fn

    return register


def load() -> dict[str, Method]:
    from . import admin, daemon, gpus, gpus_ignore, groups, jobs, quotas, reservations, stats  # noqa: F401  (registration happens on import)

    return METHODS
