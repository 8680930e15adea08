"""GPU methods: info (anyone), set_allowed (admins)."""
from __future__ import annotations

from ...protocol import CountReservation, GpuInfo, GpusResult, SetGpusParams
from . import rpc


@rpc("gpus.info")
def info(ctx, caller, params) -> GpusResult:
    engine = ctx.engine
    holders = engine.gpu_holders()
    policy = ctx.policy
    allowed = engine.allowed_gpus
    active = policy.active_reservations()
    by_index = {i: r for r in active if r.gpu_indices for i in r.gpu_indices}
    gpus = []
    for gpu in engine.gpus.devices():
        holder = holders.get(gpu.index)
        reservation = by_index.get(gpu.index)
        gpus.append(GpuInfo(
            index=gpu.index,
            memory_mb=gpu.memory_mb,
            available=gpu.available and holder is None,
            allowed=allowed is None or gpu.index in allowed,
            reason=None if holder else engine.gpus.reason(gpu.index) or policy.ignore_reason(gpu.index),
            job_ids=[holder.id] if holder else [],
            run_names=[holder.run_name] if holder else [],
            reservation_id=reservation.id if reservation else None,
            reserved_for=reservation.user if reservation else None,
        ))
    return GpusResult(
        gpus=gpus,
        allowed=sorted(allowed) if allowed is not None else None,
        strategy=ctx.config.daemon.gpu_allocation_strategy,
        backend=engine.gpus.name,
        count_reservations=[CountReservation(id=r.id, user=r.user, count=r.gpu_count)
                            for r in active if r.gpu_indices is None and r.gpu_count],
        no_gpus=None if gpus else _why_no_gpus(ctx.config.gpu, engine.gpus.name),
    )


def _why_no_gpus(cfg, backend: str) -> str:
    if cfg.backend == "none":
        return "GPU support is turned off in the config (gpu: {backend: none})"
    if cfg.backend == "fake":
        return "the fake GPU backend is configured with count 0"
    if backend == "nvml":
        return "the NVIDIA driver reports no GPUs"
    return "no NVIDIA driver: NVML could not be loaded (see the daemon log)"


@rpc("gpus.set_allowed", SetGpusParams, admin=True, writes=True)
def set_allowed(ctx, caller, params: SetGpusParams) -> None:
    ctx.engine.set_allowed_gpus(params.indices)
