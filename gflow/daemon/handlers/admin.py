"""History and accountability: `jobs.purge` (admins; users for their own finished jobs)
and `audit.read` (admins)."""
from __future__ import annotations

from ...protocol import AuditEntry, AuditParams, PurgeParams, PurgeResult
from .. import audit
from . import rpc


@rpc("jobs.purge")
def purge(ctx, caller, params: PurgeParams) -> PurgeResult:
    # not admin-only at registration: a user may purge their own finished jobs
    return ctx.retention.purge(caller, params)


@rpc("audit.read")
def read_audit(ctx, caller, params: AuditParams) -> list[AuditEntry]:
    return audit.read(ctx.dirs.logs_dir, params.since, params.user)
