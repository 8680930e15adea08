"""GPU methods: info (anyone), set_allowed (admins)."""
from __future__ import annotations

from ...protocol import CountReservation, GpuInfo, GpuSharing, GpusResult, SetGpusParams
from . import rpc


@rpc("gpus.info")
def info(ctx, caller, params) -> GpusResult:
    holders = ctx.table.gpu_holders_all()
    policy = ctx.policy
    allowed = ctx.machine.allowed_gpus
    backend = ctx.machine.gpus
    active = policy.active_reservations()
    by_index = {i: r for r in active if r.gpu_indices for i in r.gpu_indices}
    gpus = []
    for gpu in backend.devices():
        jobs = sorted(holders.get(gpu.index, []), key=lambda j: j.id)
        shared = bool(jobs) and all(j.gpu_sharing_mode is GpuSharing.SHARED for j in jobs)
        free_mb = None
        if shared and gpu.memory_mb is not None:
            free_mb = max(0, gpu.memory_mb - sum(j.gpu_memory_limit_mb or 0 for j in jobs))
        reservation = by_index.get(gpu.index)
        gpus.append(GpuInfo(
            index=gpu.index,
            memory_mb=gpu.memory_mb,
            # a GPU held only by shared jobs still takes shared jobs
            available=(gpu.available and not jobs) or (shared and free_mb != 0),
            allowed=allowed is None or gpu.index in allowed,
            reason=None if jobs else backend.reason(gpu.index) or policy.ignore_reason(gpu.index),
            job_ids=[j.id for j in jobs],
            run_names=[j.run_name for j in jobs],
            shared=shared,
            free_mb=free_mb,
            beside_pids=list(backend.beside(gpu.index)) if jobs else [],
            reservation_id=reservation.id if reservation else None,
            reserved_for=reservation.user if reservation else None,
        ))
    return GpusResult(
        gpus=gpus,
        allowed=sorted(allowed) if allowed is not None else None,
        strategy=ctx.config.daemon.gpu_allocation_strategy,
        backend=backend.name,
        count_reservations=[CountReservation(id=r.id, user=r.user, count=r.gpu_count)
                            for r in active if r.gpu_indices is None and r.gpu_count],
        no_gpus=None if gpus else _why_no_gpus(ctx.config.gpu, backend.name),
    )


def _why_no_gpus(cfg, backend: str) -> str:
    if cfg.backend == "none":
        return "GPU support is turned off in the config (gpu: {backend: none})"
    if cfg.backend == "fake":
        return "the fake GPU backend is configured with count 0"
    if backend == "nvml":
        return "the NVIDIA driver reports no GPUs"
    return "no NVIDIA driver: NVML could not be loaded (see the daemon log)"


@rpc("gpus.set_allowed")
def set_allowed(ctx, caller, params: SetGpusParams) -> None:
    ctx.machine.set_allowed_gpus(params.indices)
