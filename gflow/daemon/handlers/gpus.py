"""GPU methods: info (anyone), set_allowed (admins)."""
from __future__ import annotations

from ...protocol import GpuInfo, GpuSharing, GpusResult, SetGpusParams
from . import rpc


@rpc("gpus.info")
def info(ctx, caller, params) -> GpusResult:
    engine = ctx.engine
    holders = engine.gpu_holders_all()
    policy = ctx.policy
    allowed = engine.allowed_gpus
    backend = engine.gpus
    gpus = []
    for gpu in backend.devices():
        jobs = sorted(holders.get(gpu.index, []), key=lambda j: j.id)
        shared = bool(jobs) and all(j.gpu_sharing_mode is GpuSharing.SHARED for j in jobs)
        free_mb = None
        if shared and gpu.memory_mb is not None:
            free_mb = max(0, gpu.memory_mb - sum(j.gpu_memory_limit_mb or 0 for j in jobs))
        gpus.append(GpuInfo(
            index=gpu.index,
            memory_mb=gpu.memory_mb,
            # a GPU held only by shared jobs still takes shared jobs (SPEC 4.6)
            available=(gpu.available and not jobs) or (shared and free_mb != 0),
            allowed=allowed is None or gpu.index in allowed,
            reason=None if jobs else backend.reason(gpu.index) or policy.ignore_reason(gpu.index),
            job_ids=[j.id for j in jobs],
            run_names=[j.run_name for j in jobs],
            shared=shared,
            free_mb=free_mb,
            beside_pids=list(backend.beside(gpu.index)) if jobs else [],
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
