"""A stand-in for `pynvml` (nvidia-ml-py) so the real NVML adapter runs without a GPU.

Devices and their compute processes come from the JSON file named by $GFLOW_FAKE_NVML
(`{"memory_mb": [81920, 81920], "processes": {"1": [4242]}}`), re-read on every call so a
test can make a foreign process appear and disappear. `"fail": {"1": "GPU is lost"}` makes
the process query of GPU 1 raise NVMLError; `"crash": "text"` makes every process query
raise a RuntimeError (not an NVMLError: a driver surprise the daemon must survive).
`"uuids": [...]` names the devices (default GPU-fake-<index>).
"""
import json
import os
from types import SimpleNamespace


class NVMLError(Exception):
    pass


def _state():
    path = os.environ.get("GFLOW_FAKE_NVML")
    if not path:
        raise NVMLError("Driver Not Loaded")
    with open(path) as f:
        return json.load(f)


def nvmlInit():
    _state()


def nvmlShutdown():
    pass


def nvmlDeviceGetCount():
    return len(_state()["memory_mb"])


def nvmlDeviceGetHandleByIndex(index):
    if index >= nvmlDeviceGetCount():
        raise NVMLError("Invalid Argument")
    return index


def nvmlDeviceGetMemoryInfo(handle):
    total = _state()["memory_mb"][handle] * 1024 * 1024
    return SimpleNamespace(total=total, used=0, free=total)


def nvmlDeviceGetName(handle):
    return f"Fake GPU {handle}"


def nvmlDeviceGetUUID(handle):
    uuids = _state().get("uuids")
    return uuids[handle] if uuids else f"GPU-fake-{handle}"


def nvmlDeviceGetComputeRunningProcesses(handle):
    state = _state()
    if state.get("crash"):
        raise RuntimeError(state["crash"])
    if str(handle) in state.get("fail", {}):
        raise NVMLError(state["fail"][str(handle)])
    pids = state.get("processes", {}).get(str(handle), [])
    return [SimpleNamespace(pid=p, usedGpuMemory=None) for p in pids]
