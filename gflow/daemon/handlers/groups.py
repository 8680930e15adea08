"""Job-group methods: set_limit (`gctl set-limit`)."""
from __future__ import annotations

import uuid

from ...protocol import ErrorCode, GflowError, SetLimitParams, SetLimitResult
from .. import identity
from ..refusals import bad_request
from . import rpc


@rpc("groups.set_limit")
def set_limit(ctx, caller, params: SetLimitParams) -> SetLimitResult:
    """The group is named by its id or by one of its jobs; the caller must own every member."""
    table = ctx.table
    found_job = None
    text = params.target.strip()
    if text.isascii() and text.isdigit():
        job = table.get(int(text))
        if not job.group_id:
            raise bad_request(f"Job {job.id} is not part of a group")
        found_job, group_id = job.id, job.group_id
    else:
        try:
            group_id = str(uuid.UUID(text))
        except ValueError:
            raise bad_request(f"Invalid UUID format: '{text}'") from None
    members = [table.jobs.get(j.id) or table.stopping.get(j.id) or j for j in table.store.group_jobs(group_id)]
    if not members:
        raise GflowError(ErrorCode.NOT_FOUND, f"No jobs found with group_id '{group_id}'")
    for job in members:
        identity.require_owner(caller, job, "set-limit")
    ctx.lifecycle.set_group_limit(members, params.limit)
    return SetLimitResult(group_id=group_id, updated=len(members), found_job=found_job)
