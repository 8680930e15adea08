"""GPU methods: info (anyone), set_allowed (admins)."""
from __future__ import annotations

from ...protocol import GpuInfo, GpusResult, SetGpusParams
from . import rpc


@rpc("gpus.info")
def info(ctx, caller, params) -> GpusResult:
    engine = ctx.engine
    holders = engine.gpu_holders()
    policy = ctx.policy
    allowed = engine.allowed_gpus
    gpus = []
    for gpu in engine.gpus.devices():
        holder = holders.get(gpu.index)
        gpus.append(GpuInfo(
            index=gpu.index,
            memory_mb=gpu.memory_mb,
            available=gpu.available and holder is None,
            allowed=allowed is None or gpu.index in allowed,
            reason=None if holder else engine.gpus.reason(gpu.index) or policy.ignore_reason(gpu.index),
            job_ids=[holder.id] if holder else [],
            run_names=[holder.run_name] if holder else [],
        ))
    return GpusResult(
        gpus=gpus,
        allowed=sorted(allowed) if allowed is not None else None,
        strategy=ctx.config.daemon.gpu_allocation_strategy,
        backend=engine.gpus.name,
    )


@rpc("gpus.set_allowed", SetGpusParams, admin=True, writes=True)
def set_allowed(ctx, caller, params: SetGpusParams) -> None:
    ctx.engine.set_allowed_gpus(params.indices)
