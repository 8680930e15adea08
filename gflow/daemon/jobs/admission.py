"""Whether a job may enter the queue: the machine's capacity as the scheduler sees it, the
refusal at submission (or `gjob update`) of jobs that exceed it, and the project policy
(a new job, a redo and a retry are checked alike)."""
from __future__ import annotations

from typing import Iterable, Optional

from ...config import ProjectsConfig
from ...core import fits
from ...core import quotas as core_quotas
from ...protocol import ErrorCode, GflowError, Job
from ..machine import Machine
from ..policy import Policy
from ..refusals import bad_request


def capacity(machine: Machine, policy: Policy) -> fits.Capacity:
    allowed = machine.allowed_gpus
    gpus = [g for g in machine.devices() if allowed is None or g.index in allowed]
    sizes = [g.memory_mb for g in gpus if g.memory_mb is not None]
    return fits.Capacity(
        gpus=len(gpus),
        largest_gpu_mb=max(sizes) if sizes and len(sizes) == len(gpus) else None,
        host_memory_mb=machine.host_memory_mb,
        gpu_quota=lambda job: _gpu_quota(policy.effective, job),
        no_jobs_quota=(lambda job: _no_jobs_quota(policy.effective, job))
        if core_quotas.has_zero_running_jobs(policy.effective) else None,
    )


def project(projects: ProjectsConfig, name: Optional[str]) -> Optional[str]:
    """The job's project as the policy names it (known projects, a project required)."""
    from ...core.parse import ParseError, normalize_project

    try:
        return normalize_project(name or "", projects.known_projects, projects.require_project)
    except ParseError as e:
        raise bad_request(str(e)) from None


def _gpu_quota(effective, job: Job) -> Optional[tuple[int, str]]:
    """The tightest running-GPU quota over the job's owner and project."""
    found = []
    user = core_quotas.user_limits(effective, job.user).max_running_gpus
    if user is not None:
        found.append((user, f"the quota of user {job.user}"))
    project = core_quotas.project_limits(effective, job.project)
    if project is not None and project.max_running_gpus is not None:
        found.append((project.max_running_gpus, f"the quota of project {job.project}"))
    return min(found) if found else None


def _no_jobs_quota(effective, job: Job) -> Optional[str]:
    """The quota (owner's, then project's) that lets none of the job's kind run."""
    if core_quotas.user_limits(effective, job.user).max_running_jobs == 0:
        return f"the quota of user {job.user}"
    project = core_quotas.project_limits(effective, job.project)
    if project is not None and project.max_running_jobs == 0:
        return f"the quota of project {job.project}"
    return None


def refuse_impossible(jobs: Iterable[Job], cap: fits.Capacity, verb: str = "submit") -> None:
    """Raise for the first job that can never start (the caller skips this for
    `--allow-pending`)."""
    for job in jobs:
        why = fits.why_never(job, cap)
        if why:
            raise GflowError(
                ErrorCode.BAD_REQUEST,
                f"job can never start: {why}. Use --allow-pending to {verb} it anyway "
                f"(if the machine or its limits will change)",
            )
