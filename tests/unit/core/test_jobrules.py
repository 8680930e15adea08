"""Job invariants, each asked from one place by the CLI, the daemon, update and redo."""
from __future__ import annotations

from gflow.core import jobrules


def test_a_shared_job_declares_gpu_memory_above_zero():
    assert jobrules.shared_gpu_memory(False, None) is None
    assert jobrules.shared_gpu_memory(True, 1024) is None
    assert jobrules.shared_gpu_memory(True, None) == (
        "Shared jobs must set a GPU memory limit. Use --gpu-memory (alias: --max-gpu-mem) with --shared.")
    assert jobrules.shared_gpu_memory(True, None, existing=True) == (
        "Shared jobs must keep a GPU memory limit (--gpu-memory / --max-gpu-mem).")
    assert jobrules.shared_gpu_memory(True, 0) == "Shared jobs need a GPU memory limit above 0 (--gpu-memory)."
    assert jobrules.shared_gpu_memory(True, 0, existing=True) == jobrules.SHARED_GPU_MEMORY_ZERO


def test_a_job_runs_exactly_one_of_command_and_script():
    assert jobrules.runs_one_thing("true", None) is None
    assert jobrules.runs_one_thing(None, "/x.sh") is None
    assert jobrules.runs_one_thing(None, None) == jobrules.runs_one_thing("a", "/b") \
        == "a job needs exactly one of a command or a script"


def test_missing_dependency_message():
    assert jobrules.missing_dependency(7) == "Dependency job 7 does not exist"
