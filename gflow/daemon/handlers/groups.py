"""Job-group methods: set_limit (`gctl set-limit`)."""
from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from ...protocol import MAX_INT, ShortText
from . import rpc


class SetLimitParams(Struct, kw_only=True, forbid_unknown_fields=True):
    target: ShortText  # a job id of the group, or the group UUID
    limit: Annotated[int, Meta(ge=0, le=MAX_INT)]


@rpc("groups.set_limit", SetLimitParams)
def set_limit(ctx, caller, params: SetLimitParams) -> dict:
    return ctx.engine.set_group_limit(caller, params.target, params.limit)
