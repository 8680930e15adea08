"""GPU-process ignore list (`gctl gpu-process`): ignore and unignore (admins),
ignored (anyone). Runtime only: the list is empty after a daemon restart."""
from __future__ import annotations

import dataclasses

from ...protocol import GpuProcess, IgnoredProcess
from . import rpc

async def _ask(ctx):
    """Ask the driver now (in a worker thread, applied as a poll round) so the answer
    reflects the GPU as it is; None without a process-listing backend."""
    poll = ctx.gpu_poll
    return await poll.poll() if poll is not None else None


def _reapply(ctx, answer) -> None:
    """The same answer again under the changed ignore list, so it applies at once."""
    if answer is not None:
        ctx.gpu_poll.apply(dataclasses.replace(answer, pids=dict(answer.pids)), full=True)
    ctx.scheduling.request_pass()


@rpc("gpus.ignore")
async def ignore(ctx, caller, params: GpuProcess) -> IgnoredProcess:
    answer = await _ask(ctx)
    pids = answer.pids if answer is not None and not answer.failed else None
    ctx.policy.ignore_gpu_process(params.gpu, params.pid, pids)
    _reapply(ctx, answer)
    return IgnoredProcess(gpu=params.gpu, pid=params.pid)


@rpc("gpus.unignore")
async def unignore(ctx, caller, params: GpuProcess) -> None:
    ctx.policy.unignore_gpu_process(params.gpu, params.pid)
    _reapply(ctx, await _ask(ctx))


@rpc("gpus.ignored")
def ignored(ctx, caller, params) -> list[IgnoredProcess]:
    return [IgnoredProcess(gpu=g, pid=p) for g, p in ctx.policy.ignored_processes()]
