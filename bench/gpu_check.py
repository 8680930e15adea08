#!/usr/bin/env python3
"""GPU check for a real NVIDIA machine: one screen saying whether gflow sees and hands out the
GPUs the way the driver and CUDA number them, and whether it notices a foreign process.

    .venv/bin/python bench/gpu_check.py [--bin DIR] [--timeout 60]

1. NVML: the GPUs, their memory and UUIDs, as gflow's daemon will see them.
2. One job per GPU on a private daemon (user mode, temporary directory): each prints the
   CUDA_VISIBLE_DEVICES and GFLOW_GPU_UUIDS it got and what `nvidia-smi -L` says about that
   device, and, with PyTorch or CuPy, the name and UUID of what CUDA calls device 0. The lines
   should name the same GPU: eyeball them (a mismatch means jobs land on the wrong GPU).
3. With PyTorch or CuPy: a CUDA process started outside gflow on GPU 0 must show as
   `unmanaged(pid=…)`, keep a GPU job off GPU 0, and be ignored after `gctl gpu-process ignore`.
Nothing here is part of the test suite; no GPU is needed anywhere else.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

from _daemon import BenchDaemon, add_bin_option, machine_note

JOB = r'''
import os, shutil, subprocess
visible, uuids = os.environ.get("CUDA_VISIBLE_DEVICES", ""), os.environ.get("GFLOW_GPU_UUIDS", "")
print(f"CUDA_VISIBLE_DEVICES={visible} CUDA_DEVICE_ORDER={os.environ.get('CUDA_DEVICE_ORDER')} GFLOW_GPU_UUIDS={uuids}")
if shutil.which("nvidia-smi") and uuids:
    out = subprocess.run(["nvidia-smi", "-L", "-i", uuids.split(",")[0]], capture_output=True, text=True)
    print("nvidia-smi:", (out.stdout or out.stderr).strip())
try:
    import torch
    p = torch.cuda.get_device_properties(0)
    print("torch device 0:", p.name, "GPU-" + str(getattr(p, "uuid", "?")))
except ImportError:
    try:
        import cupy
        print("cupy device 0:", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
    except ImportError:
        print("(no torch or cupy: CUDA's own numbering not checked)")
'''

FOREIGN = r'''
import sys, time
try:
    import torch
    x = torch.empty(256 * 1024 * 1024, dtype=torch.uint8, device="cuda:0")
except ImportError:
    import cupy
    x = cupy.empty(256 * 1024 * 1024, dtype=cupy.uint8)
print("ready", flush=True)
time.sleep(600)
'''


def _say(text: str = "") -> None:
    print(text, flush=True)


def nvml_inventory() -> list[tuple[int, str, int, str]]:
    try:
        import pynvml
    except ImportError:
        raise SystemExit("gpu_check: nvidia-ml-py (pynvml) is not installed: nothing to check here")
    try:
        pynvml.nvmlInit()
    except Exception as e:
        raise SystemExit(f"gpu_check: NVML is not available ({e}): this check needs an NVIDIA driver")
    out = []
    for i in range(pynvml.nvmlDeviceGetCount()):
        h = pynvml.nvmlDeviceGetHandleByIndex(i)
        name = pynvml.nvmlDeviceGetName(h)
        uuid = pynvml.nvmlDeviceGetUUID(h)
        out.append((i, name.decode() if isinstance(name, bytes) else name,
                    pynvml.nvmlDeviceGetMemoryInfo(h).total // 2**20,
                    uuid.decode() if isinstance(uuid, bytes) else uuid))
    if not out:
        raise SystemExit("gpu_check: NVML works but reports no GPU")
    return out


def _has_cuda_python() -> bool:
    for module in ("torch", "cupy"):
        if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0:
            return True
    return False


def _wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bin_option(ap)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each step")
    opts = ap.parse_args()
    gpus = nvml_inventory()
    _say(machine_note())
    _say("1. NVML")
    for i, name, mb, uuid in gpus:
        _say(f"   GPU {i}: {name}, {mb} MiB, {uuid}")
    config = "daemon:\n  gpu_poll_interval_secs: 1\n"
    d = BenchDaemon(opts.bin, config=config, gpu="  backend: nvml\n")
    if os.environ.get("GFLOW_FAKE_NVML"):  # a dry run of this script with tests/fakes/pynvml.py
        d.env.update(GFLOW_FAKE_NVML=os.environ["GFLOW_FAKE_NVML"], PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    with d, d.client() as c:
        info = c.call("gpus.info")
        _say(f"   gflowd sees {len(info['gpus'])} GPU(s), backend {info['backend']}")
        if len(info["gpus"]) != len(gpus):
            _say("gpu_check: the daemon does not see the GPUs NVML reports; see its log:")
            _say(d.log_text()[-1500:])
            return 1
        _say("2. One job per GPU (each line should name the same device three times)")
        command = f"{shlex.quote(sys.executable)} -c {shlex.quote(JOB)}"
        ids = [c.submit(command, gpus=1, name=f"check{i}") for i, *_ in gpus]
        for job in c.wait(ids, timeout=opts.timeout):
            text = (c.log(job.id) or b"").decode(errors="replace").strip().replace("\n", "\n        ")
            _say(f"   job {job.id} on GPU {job.gpu_ids} ({job.state.value}):\n        {text}")
        if not _has_cuda_python():
            _say("3. Foreign process: skipped (neither PyTorch nor CuPy is importable)")
            return 0
        _say("3. A CUDA process outside gflow on GPU 0")
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpus[0][3], CUDA_DEVICE_ORDER="PCI_BUS_ID")
        foreign = subprocess.Popen([sys.executable, "-c", FOREIGN], env=env, stdout=subprocess.PIPE, text=True)
        try:
            foreign.stdout.readline()
            reason = _wait(lambda: c.call("gpus.info")["gpus"][0]["reason"], opts.timeout)
            _say(f"   pid {foreign.pid}: GPU 0 shows {reason!r} (want unmanaged(pid={foreign.pid}))")
            d.cli("gctl", "set-gpus", "0")
            job_id = c.submit("true", gpus=1, name="blocked")
            waiting = _wait(lambda: c.get(job_id).reason, opts.timeout)
            _say(f"   a --gpus 1 job restricted to GPU 0 waits: {waiting!r} (want 'Unmanaged: pid {foreign.pid}')")
            d.cli("gctl", "gpu-process", "ignore", "--gpu", "0", "--pid", str(foreign.pid))
            (job,) = c.wait([job_id], timeout=opts.timeout)
            _say(f"   after `gctl gpu-process ignore`: the job ends {job.state.value} on GPU {job.gpu_ids}")
        finally:
            foreign.kill()
            foreign.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
