"""A job turned into what an executor runs: the one place that builds a `RunSpec` (command
line, environment, identity, log file) from a Job, whichever executor runs it."""
from __future__ import annotations

import os
import pwd
import shlex
from typing import Callable, Mapping, Optional

from ...core import names
from ...protocol import Job
from .. import statedir
from .base import RunSpec


def log_path(logs_dir: str, job: Job, daemon_uid: int, create_dir: bool = False) -> str:
    """Jobs of the daemon's own account log to logs/<id>.log; other owners get a
    per-user directory they own, so the daemon never writes in a place they control."""
    if job.owner_uid == daemon_uid:
        directory = logs_dir
    else:
        directory = os.path.join(logs_dir, str(job.owner_uid))
    if create_dir:
        statedir.owned_log_dir(directory, job.owner_uid)
    return os.path.join(directory, f"{job.id}.log")


def build(
    job: Job,
    env: Mapping[str, str],
    gpu_uuid: Callable[[int], Optional[str]],
    logs_dir: str,
    daemon_uid: int,
    grace_secs: float,
    passwd: Callable[[int], pwd.struct_passwd] = pwd.getpwuid,
) -> RunSpec:
    """`env` is the job's stored environment snapshot (a copy this adds the job's own to);
    `passwd` looks up the owner's account (KeyError when there is none)."""
    entry = passwd(job.owner_uid)
    env = dict(env)
    env.update(
        HOME=entry.pw_dir,
        USER=entry.pw_name,
        LOGNAME=entry.pw_name,
        SHELL=entry.pw_shell or "/bin/sh",
        GFLOW_JOB_ID=str(job.id),
        GFLOW_JOB_NAME=job.run_name,
        GFLOW_ARRAY_TASK_ID=str(job.task_id if job.task_id is not None else 0),
        CUDA_VISIBLE_DEVICES=",".join(str(i) for i in job.gpu_ids or []),
        # CUDA numbers devices fastest-first unless told otherwise; NVML (our indices)
        # numbers them by PCI bus: on a mixed machine index 1 could be another GPU
        CUDA_DEVICE_ORDER="PCI_BUS_ID",
    )
    uuids = [gpu_uuid(i) for i in job.gpu_ids or []]
    if uuids and all(uuids):
        env["GFLOW_GPU_UUIDS"] = ",".join(uuids)
    if job.script is not None:
        payload = f"bash {shlex.quote(job.script)}"
    else:
        payload = names.substitute(job.command or "", job.parameters) if job.parameters else job.command or ""
    if job.conda_env:
        payload = (
            'eval "$(conda shell.bash hook 2>/dev/null)"; '
            f"conda activate {shlex.quote(job.conda_env)} && {payload}"
        )
    argv = ["bash", job.script] if job.script is not None and not job.conda_env else ["bash", "-c", payload]
    return RunSpec(
        job_id=job.id,
        argv=argv,
        cwd=job.run_dir,
        env=env,
        uid=entry.pw_uid,
        gid=entry.pw_gid,
        user=entry.pw_name,
        drop_privileges=entry.pw_uid != daemon_uid,
        log_path=log_path(logs_dir, job, daemon_uid, create_dir=True),
        grace_secs=grace_secs,
    )
