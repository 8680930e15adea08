"""Quota methods: list (anyone), set and remove (admins). `gctl quota`."""
from __future__ import annotations

from ...config import QuotaLimits
from ...protocol import QuotaSetParams, QuotaSubject
from ...core.quotas import QuotaRow
from . import rpc

@rpc("quotas.list")
def list_quotas(ctx, caller, params) -> list[QuotaRow]:
    return ctx.policy.quota_rows()


@rpc("quotas.set")
def set_quota(ctx, caller, params: QuotaSetParams) -> QuotaLimits:
    limits = QuotaLimits(
        max_running_jobs=params.max_running_jobs,
        max_running_gpus=params.max_running_gpus,
        max_queued_jobs=params.max_queued_jobs,
    )
    return ctx.policy.set_quota(params.scope, params.name, limits)


@rpc("quotas.remove")
def remove_quota(ctx, caller, params: QuotaSubject) -> None:
    ctx.policy.remove_quota(params.scope, params.name)
