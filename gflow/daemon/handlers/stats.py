"""stats.get: usage statistics (gstats). Anyone may ask about anyone, as with jobs.list."""
from __future__ import annotations

import time
from typing import Optional

import msgspec
from msgspec import Struct

from ...core.stats import compute
from ...protocol import Job, ShortList, Timestamp
from . import rpc


class StatsParams(Struct, kw_only=True, forbid_unknown_fields=True):
    users: Optional[ShortList] = None  # None = every user
    since: Optional[Timestamp] = None  # only jobs submitted at/after this unix time


@rpc("stats.get", StatsParams)
def get(ctx, caller, params: StatsParams):
    # the same listing as jobs.list (every state), so both always agree on which jobs exist
    raw = ctx.engine.encoded_jobs(None, params.users, None, params.since)
    decoder = msgspec.msgpack.Decoder(Job)
    jobs = [decoder.decode(blob) for blob in raw]
    stats = compute(jobs, time.time())
    # one named user is echoed back; a list of several has no single name to show
    stats.user = params.users[0] if params.users is not None and len(params.users) == 1 else None
    stats.since = int(params.since) if params.since is not None else None
    return stats
