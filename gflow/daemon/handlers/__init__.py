"""RPC methods: one function per method, registered here with its params Struct.

A reader who wants "what happens on jobs.cancel" opens `jobs.py` and finds `cancel`.
Admin-only methods are marked at registration, so authorisation of daemon control is
decided in one table rather than inside each handler.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ...protocol import Empty


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., Any]
    params: type
    admin: bool
    writes: bool

    @property
    def what(self) -> str:
        """The action in a person's words, for refusals (a method name means nothing to a user)."""
        return ADMIN_ACTIONS.get(self.name, "This operation")


# what a refused admin-only method was about to do, as `gctl`/`gflowd` users know it
ADMIN_ACTIONS = {
    "daemon.shutdown": "Stopping the daemon",
    "gpus.set_allowed": "Choosing which GPUs gflow may use (gctl set-gpus)",
    "gpus.ignore": "Ignoring a GPU process (gctl gpu-process ignore)",
    "gpus.unignore": "Un-ignoring a GPU process (gctl gpu-process unignore)",
    "quotas.set": "Setting a quota (gctl quota set)",
    "quotas.remove": "Removing a quota (gctl quota remove)",
    "reservations.create": "Creating a reservation (gctl reserve create)",
}


METHODS: dict[str, Method] = {}


def rpc(name: str, params: type = Empty, *, admin: bool = False, writes: bool = False):
    def register(fn):
        METHODS[name] = Method(name, fn, params, admin, writes)
        return fn

    return register


def load() -> dict[str, Method]:
    from . import daemon, gpus, gpus_ignore, groups, jobs, quotas, reservations, stats  # noqa: F401  (registration happens on import)

    return METHODS
