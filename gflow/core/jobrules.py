"""Job invariants, each written once. Pure checks that return the message for the user, or
None when the job is fine; the CLI asks them before a round trip, the daemon again for every
request (a client is not trusted), `gjob update` and `gjob redo` on the job they would make.

No imports: `gbatch` asks these on its hot path.
"""
from __future__ import annotations

SHARED_NEEDS_GPU_MEMORY = (
    "Shared jobs must set a GPU memory limit. Use --gpu-memory (alias: --max-gpu-mem) with --shared."
)
SHARED_KEEPS_GPU_MEMORY = "Shared jobs must keep a GPU memory limit (--gpu-memory / --max-gpu-mem)."
SHARED_GPU_MEMORY_ZERO = "Shared jobs need a GPU memory limit above 0 (--gpu-memory)."


def shared_gpu_memory(shared: bool, gpu_memory_limit_mb: int | None, existing: bool = False) -> str | None:
    """A shared job declares the GPU memory it may use, and more than none: it is what shared
    jobs are packed onto one GPU by. `existing`: the job exists (update, redo), so a missing
    limit is one being taken away."""
    if not shared:
        return None
    if gpu_memory_limit_mb is None:
        return SHARED_KEEPS_GPU_MEMORY if existing else SHARED_NEEDS_GPU_MEMORY
    if gpu_memory_limit_mb == 0:
        return SHARED_GPU_MEMORY_ZERO
    return None


def runs_one_thing(command: str | None, script: str | None) -> str | None:
    """A job runs its command or its script: exactly one of them."""
    if (command is None) == (script is None):
        return "a job needs exactly one of a command or a script"
    return None


def missing_dependency(dep: int) -> str:
    """A job may only depend on a job the daemon knows."""
    return f"Dependency job {dep} does not exist"
