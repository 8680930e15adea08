"""Job-group methods: set_limit (`gctl set-limit`)."""
from __future__ import annotations

from ...protocol import SetLimitParams, SetLimitResult
from . import rpc


@rpc("groups.set_limit")
def set_limit(ctx, caller, params: SetLimitParams) -> SetLimitResult:
    return ctx.engine.set_group_limit(caller, params.target, params.limit)
