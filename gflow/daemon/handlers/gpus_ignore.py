"""GPU-process ignore list (`gctl gpu-process`, SPEC 4.6): ignore and unignore (admins),
ignored (anyone). Runtime only: the list is empty after a daemon restart."""
from __future__ import annotations

import asyncio
from typing import Annotated

from msgspec import Meta, Struct

from . import rpc

NonNegative = Annotated[int, Meta(ge=0)]


class GpuProcess(Struct, kw_only=True, forbid_unknown_fields=True):
    gpu: NonNegative
    pid: NonNegative


class IgnoredProcess(Struct, kw_only=True):
    gpu: int
    pid: int


async def _refresh(ctx):
    """Ask NVML now (in a worker thread) so the answer reflects the GPU as it is, and apply
    the ignore list at once instead of at the next poll."""
    backend = ctx.engine.gpus
    pids = await asyncio.get_running_loop().run_in_executor(None, backend.compute_pids)
    return backend, pids


def _apply(ctx, backend, pids) -> None:
    visible = ctx.policy.observe_gpu_processes(pids)
    backend.apply_processes(visible, set(ctx.engine.gpu_holders()))
    ctx.engine.request_pass()


@rpc("gpus.ignore", GpuProcess, admin=True, writes=True)
async def ignore(ctx, caller, params: GpuProcess) -> IgnoredProcess:
    backend, pids = await _refresh(ctx)
    ctx.policy.ignore_gpu_process(params.gpu, params.pid, pids)
    _apply(ctx, backend, pids)
    return IgnoredProcess(gpu=params.gpu, pid=params.pid)


@rpc("gpus.unignore", GpuProcess, admin=True, writes=True)
async def unignore(ctx, caller, params: GpuProcess) -> None:
    ctx.policy.unignore_gpu_process(params.gpu, params.pid)
    backend, pids = await _refresh(ctx)
    _apply(ctx, backend, pids)


@rpc("gpus.ignored")
def ignored(ctx, caller, params) -> list[IgnoredProcess]:
    return [IgnoredProcess(gpu=g, pid=p) for g, p in ctx.policy.ignored_processes()]
