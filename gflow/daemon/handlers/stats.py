"""stats.get and stats.by: usage statistics (gstats). Anyone may ask about anyone, as with
jobs.list. Jobs removed by a purge still count through their kept sums (without --since:
their submission times are gone)."""
from __future__ import annotations

import time

import msgspec

from ...core.stats import StatsTable, Totals, breakdown, compute
from ...protocol import Job, StatsByParams, StatsParams
from . import rpc


def _jobs(ctx, params: StatsParams) -> list[Job]:
    # the same listing as jobs.list (every state), so both always agree on which jobs exist
    raw = ctx.table.encoded_jobs(None, params.users, None, params.since)
    decoder = msgspec.msgpack.Decoder(Job)
    jobs = [decoder.decode(blob) for blob in raw]
    if params.project is not None:
        jobs = [j for j in jobs if j.project == params.project]
    return jobs


def _purged(ctx, params: StatsParams) -> dict:
    if params.since is not None or ctx.retention is None:
        return {}
    return ctx.retention.purged_totals(params.users, params.project, params.project is not None)


@rpc("stats.get")
def get(ctx, caller, params: StatsParams):
    purged = Totals()
    for kept in _purged(ctx, params).values():
        purged = purged.add(kept)
    stats = compute(_jobs(ctx, params), time.time(), purged)
    # one named user is echoed back; a list of several has no single name to show
    stats.user = params.users[0] if params.users is not None and len(params.users) == 1 else None
    stats.since = int(params.since) if params.since is not None else None
    return stats


@rpc("stats.by")
def by(ctx, caller, params: StatsByParams) -> StatsTable:
    table = breakdown(_jobs(ctx, params), time.time(), params.by, _purged(ctx, params))
    table.since = int(params.since) if params.since is not None else None
    return table
