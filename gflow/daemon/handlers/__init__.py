"""RPC methods: one function per method, registered here with its params Struct.

A reader who wants "what happens on jobs.cancel" opens `jobs.py` and finds `cancel`.
Admin-only methods are marked at registration, so authorisation of daemon control is
decided in one table rather than inside each handler.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterable, Callable, Iterable, Union

from ...methods import METHODS as TABLE
from ... import protocol
from ...protocol import Empty


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., Any]
    params: type
    admin: bool
    writes: bool
    audit: bool  # one line in the audit trail per request (daemon/audit.py)

    @property
    def what(self) -> str:
        """The action in a person's words, for refusals (a method name means nothing to a user)."""
        return ADMIN_ACTIONS.get(self.name, "This operation")


# what a refused admin-only method was about to do, as `gctl`/`gflowd` users know it
ADMIN_ACTIONS = {
    "daemon.shutdown": "Stopping the daemon",
    "daemon.reload": "Reloading the daemon (gflowd reload)",
    "gpus.set_allowed": "Choosing which GPUs gflow may use (gctl set-gpus)",
    "gpus.ignore": "Ignoring a GPU process (gctl gpu-process ignore)",
    "gpus.unignore": "Un-ignoring a GPU process (gctl gpu-process unignore)",
    "quotas.set": "Setting a quota (gctl quota set)",
    "quotas.remove": "Removing a quota (gctl quota remove)",
    "reservations.create": "Creating a reservation (gctl reserve create)",
    "audit.read": "Reading the audit log (gctl audit)",
}


class Stream:
    """A reply sent as several frames, one per part: every frame but the last says
    `more=True`. The server pulls a part only when the previous one has left, so a big
    answer (a 100k-job listing, a log) never sits whole in memory; the client joins parts."""

    def __init__(self, parts: Union[Iterable[Any], AsyncIterable[Any]]):
        self.parts = parts


METHODS: dict[str, Method] = {}


def rpc(name: str):
    """Register the handler of `name`. Its params Struct and what it may do (admin-only,
    writes, audited) come from the one method table, `gflow.methods`."""
    params_name, _result, *flags = TABLE[name]  # a handler for a method the table does not name is a bug
    params = getattr(protocol, params_name) if params_name is not None else Empty

    def register(fn):
        writes = "writes" in flags
        METHODS[name] = Method(name, fn, params, "admin" in flags, writes, writes or "audit" in flags)
        return fn

    return register


def load() -> dict[str, Method]:
    from . import admin, daemon, gpus, gpus_ignore, groups, jobs, quotas, reservations, stats  # noqa: F401  (registration happens on import)

    return METHODS
