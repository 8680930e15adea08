"""Quotas as pure functions: effective limits, the running-limit gate used by the
scheduler, the queue-depth gate used at submission, and the rows of `gctl quota list` (their
text is `gflow.cli.render.quotas`).

Limits come from two layers: config `quota` (read at daemon start) and the runtime overrides
that `gctl quota set` persists. Each limit field of the override wins over the config's field;
a named subject is then laid over its default (`users[name]` over `default_user`). A field that
is None everywhere means "unlimited".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal, Optional, Sequence

import msgspec

from ..config import QuotaConfig, QuotaLimits
from ..protocol import Job, JobState

LIMIT_FIELDS = ("max_running_jobs", "max_running_gpus", "max_queued_jobs")
Scope = Literal["user", "project", "default_user", "default_project"]
SCOPES: tuple[str, ...] = ("user", "project", "default_user", "default_project")
PENDING_STATES = (JobState.QUEUED, JobState.HOLD)
EMPTY = QuotaLimits()


class QuotaError(ValueError):
    """A refused quota operation; str() is the message for the user."""


# --------------------------------------------------------------------------- layering
def overlay(base: QuotaLimits, top: QuotaLimits) -> QuotaLimits:
    """`top`'s fields where set, else `base`'s."""
    return QuotaLimits(**{
        name: getattr(top, name) if getattr(top, name) is not None else getattr(base, name)
        for name in LIMIT_FIELDS
    })


def is_empty(limits: QuotaLimits) -> bool:
    return all(getattr(limits, name) is None for name in LIMIT_FIELDS)


def _overlay_named(base: dict[str, QuotaLimits], top: dict[str, QuotaLimits]) -> dict[str, QuotaLimits]:
    names = sorted(set(base) | set(top))
    return {n: overlay(base.get(n, EMPTY), top.get(n, EMPTY)) for n in names}


def effective(config: QuotaConfig, overrides: QuotaConfig) -> QuotaConfig:
    """Config base overlaid field-by-field by the runtime overrides (per-name entries too)."""
    return QuotaConfig(
        default_user=overlay(config.default_user, overrides.default_user),
        default_project=overlay(config.default_project, overrides.default_project),
        users=_overlay_named(config.users, overrides.users),
        projects=_overlay_named(config.projects, overrides.projects),
    )


def user_limits(eff: QuotaConfig, user: str) -> QuotaLimits:
    return overlay(eff.default_user, eff.users.get(user, EMPTY))


def project_limits(eff: QuotaConfig, project: Optional[str]) -> Optional[QuotaLimits]:
    """None for jobs without a project: they have no project quota."""
    if project is None:
        return None
    return overlay(eff.default_project, eff.projects.get(project, EMPTY))


def has_running_limits(eff: QuotaConfig) -> bool:
    """False when no running limit exists anywhere, so the scheduler may skip the gate."""
    every = [eff.default_user, eff.default_project, *eff.users.values(), *eff.projects.values()]
    return any(l.max_running_jobs is not None or l.max_running_gpus is not None for l in every)


def has_zero_running_jobs(eff: QuotaConfig) -> bool:
    """True when some subject may run no job at all (`max_running_jobs: 0`)."""
    every = [eff.default_user, eff.default_project, *eff.users.values(), *eff.projects.values()]
    return any(l.max_running_jobs == 0 for l in every)


def has_queue_limits(eff: QuotaConfig) -> bool:
    every = [eff.default_user, eff.default_project, *eff.users.values(), *eff.projects.values()]
    return any(l.max_queued_jobs is not None for l in every)


# --------------------------------------------------------------------------- overrides
def _check_subject(scope: str, name: Optional[str]) -> None:
    if scope not in SCOPES:
        raise QuotaError(f"unknown quota scope '{scope}' (expected one of: {', '.join(SCOPES)})")
    named = scope in ("user", "project")
    if named and not (name and name.strip()):
        raise QuotaError(f"'name' is required for scope '{scope.capitalize()}'")  # upstream's words
    if not named and name is not None:
        raise QuotaError(f"the {scope} quota takes no name")


def merge_override(overrides: QuotaConfig, scope: str, name: Optional[str], limits: QuotaLimits) -> QuotaConfig:
    """The overrides with `limits`' set fields merged into one subject's entry."""
    _check_subject(scope, name)
    if is_empty(limits):
        raise QuotaError(
            "provide at least one of --max-running-jobs, --max-running-gpus, --max-queued-jobs"
        )
    if scope == "default_user":
        return msgspec.structs.replace(overrides, default_user=overlay(overrides.default_user, limits))
    if scope == "default_project":
        return msgspec.structs.replace(overrides, default_project=overlay(overrides.default_project, limits))
    table = dict(overrides.users if scope == "user" else overrides.projects)
    table[name] = overlay(table.get(name, EMPTY), limits)
    return msgspec.structs.replace(overrides, **{"users" if scope == "user" else "projects": table})


def remove_override(overrides: QuotaConfig, scope: str, name: Optional[str]) -> QuotaConfig:
    """The overrides without that subject's entry (a default is reset to empty).
    Raises QuotaError when there was nothing to remove."""
    _check_subject(scope, name)
    missing = QuotaError("no matching quota override")
    if scope in ("default_user", "default_project"):
        if is_empty(getattr(overrides, scope)):
            raise missing
        return msgspec.structs.replace(overrides, **{scope: EMPTY})
    key = "users" if scope == "user" else "projects"
    table = dict(getattr(overrides, key))
    if table.pop(name, None) is None:
        raise missing
    return msgspec.structs.replace(overrides, **{key: table})


def subject_limits(overrides: QuotaConfig, scope: str, name: Optional[str]) -> QuotaLimits:
    """One subject's override entry (empty when it has none)."""
    if scope in ("default_user", "default_project"):
        return getattr(overrides, scope)
    return (overrides.users if scope == "user" else overrides.projects).get(name or "", EMPTY)


# --------------------------------------------------------------------------- running limits
@dataclass
class Usage:
    jobs: int = 0
    gpus: int = 0


@dataclass
class RunningUsage:
    """Running jobs and GPUs per user and per project; `add` keeps it current during a pass."""

    users: dict[str, Usage] = field(default_factory=dict)
    projects: dict[str, Usage] = field(default_factory=dict)

    @classmethod
    def of(cls, running: Iterable[Job]) -> "RunningUsage":
        usage = cls()
        for job in running:
            usage.add(job)
        return usage

    def add(self, job: Job) -> None:
        u = self.users.setdefault(job.user, Usage())
        u.jobs += 1
        u.gpus += job.gpus
        if job.project is not None:
            p = self.projects.setdefault(job.project, Usage())
            p.jobs += 1
            p.gpus += job.gpus

    def user(self, name: str) -> Usage:
        return self.users.get(name) or Usage()

    def project(self, name: str) -> Usage:
        return self.projects.get(name) or Usage()


def _within(limits: QuotaLimits, used: Usage, gpus: int) -> bool:
    if limits.max_running_jobs is not None and used.jobs >= limits.max_running_jobs:
        return False
    if limits.max_running_gpus is not None and used.gpus + gpus > limits.max_running_gpus:
        return False
    return True


def allows_usage(job: Job, usage: RunningUsage, eff: QuotaConfig) -> bool:
    """May `job` start now? Users by `job.user`, projects only for jobs that have one."""
    if not _within(user_limits(eff, job.user), usage.user(job.user), job.gpus):
        return False
    plimits = project_limits(eff, job.project)
    if plimits is not None and not _within(plimits, usage.project(job.project), job.gpus):
        return False
    return True


# --------------------------------------------------------------------------- queue depth
def pending_counts(active_jobs: Iterable[Job]) -> tuple[dict[str, int], dict[str, int]]:
    """Queued + Hold jobs per user and per project."""
    users: dict[str, int] = {}
    projects: dict[str, int] = {}
    for job in active_jobs:
        if job.state in PENDING_STATES:
            users[job.user] = users.get(job.user, 0) + 1
            if job.project is not None:
                projects[job.project] = projects.get(job.project, 0) + 1
    return users, projects


def queue_rejection(new_jobs: Sequence[Job], active_jobs: Iterable[Job], eff: QuotaConfig) -> Optional[str]:
    """The message rejecting a submission, or None. Jobs earlier in the same batch count as
    pending, and one rejection rejects the whole batch."""
    users, projects = pending_counts(active_jobs)
    for job in new_jobs:
        limit = user_limits(eff, job.user).max_queued_jobs
        pending = users.get(job.user, 0)
        if limit is not None and pending >= limit:
            return f"quota exceeded for user '{job.user}': {pending}/{limit} queued jobs"
        plimits = project_limits(eff, job.project)
        if plimits is not None and plimits.max_queued_jobs is not None:
            pending = projects.get(job.project, 0)
            if pending >= plimits.max_queued_jobs:
                return f"quota exceeded for project '{job.project}': {pending}/{plimits.max_queued_jobs} queued jobs"
        users[job.user] = users.get(job.user, 0) + 1
        if job.project is not None:
            projects[job.project] = projects.get(job.project, 0) + 1
    return None


# --------------------------------------------------------------------------- gctl quota list
class QuotaRow(msgspec.Struct, kw_only=True):
    """One subject of `gctl quota list`: effective limits and current use."""

    scope: str
    name: str = ""  # empty for the defaults
    limits: QuotaLimits = EMPTY
    running_jobs: int = 0
    running_gpus: int = 0
    queued_jobs: int = 0


def status_rows(eff: QuotaConfig, running: Iterable[Job], active_jobs: Iterable[Job]) -> list[QuotaRow]:
    """Users with a configured entry, running usage or pending jobs (by name), then projects
    likewise, then the two defaults (always)."""
    usage = RunningUsage.of(running)
    pend_users, pend_projects = pending_counts(active_jobs)
    rows: list[QuotaRow] = []
    for name in sorted(set(eff.users) | {u for u, v in usage.users.items() if v.jobs} | set(pend_users)):
        used = usage.user(name)
        rows.append(QuotaRow(
            scope="user", name=name, limits=user_limits(eff, name),
            running_jobs=used.jobs, running_gpus=used.gpus, queued_jobs=pend_users.get(name, 0),
        ))
    for name in sorted(set(eff.projects) | {p for p, v in usage.projects.items() if v.jobs} | set(pend_projects)):
        used = usage.project(name)
        rows.append(QuotaRow(
            scope="project", name=name, limits=project_limits(eff, name) or EMPTY,
            running_jobs=used.jobs, running_gpus=used.gpus, queued_jobs=pend_projects.get(name, 0),
        ))
    rows.append(QuotaRow(scope="default_user", limits=eff.default_user))
    rows.append(QuotaRow(scope="default_project", limits=eff.default_project))
    return rows
