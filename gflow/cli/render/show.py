"""The `gjob show` block.

Written against any object with `protocol.Job`'s attributes, enums or their plain string
values alike: `gjob show` renders the lean `JobView` (no msgspec import), tests and scripts
a decoded `Job`. The fields are named here on purpose: which ones a person sees, under which
upstream label, in which section, and when an empty one is left out are choices of display;
a new job field is shown once a line here says how.
"""
from __future__ import annotations

from gflow.core import display
from gflow.core.states import CODES, TERMINAL, reason_label


def _text(value) -> str:
    """An enum's value, or the string the lean decoder left there."""
    return getattr(value, "value", value)


def _command_lines(job) -> list[str]:
    """Script, then the command; a parameterised template also shows its substitution."""
    lines = []
    if job.script:
        lines.append(f"Script={job.script}")
    command = job.command
    if command is None:
        return lines
    if not job.parameters or "{" not in command:
        lines.append(f"Command={command}")
        return lines
    from gflow.core.names import missing_placeholders, substitute

    lines.append(f"Command(template)={command}")
    missing = missing_placeholders(command, job.parameters)
    if missing:
        lines.append(f"Command(actual)=Error: Missing parameter values: {', '.join(missing)}")
    else:
        lines.append(f"Command(actual)={substitute(command, job.parameters)}")
    return lines


def _set(job, *fields) -> list[str]:
    """`Label=value` for each (label, attribute, format or None) whose value is not None."""
    lines = []
    for label, name, fmt in fields:
        value = getattr(job, name)
        if value is not None:
            lines.append(f"{label}={value if fmt is None else fmt(value)}")
    return lines


def _details(job) -> list[str]:
    state = _text(job.state)
    lines = [f"ID={job.id}", f"State={state} ({CODES[state]})"]
    if job.reason:
        label = reason_label(job.reason)
        # Tables show a user cancel as `-`; here the stored name says more.
        lines.append(f"Reason={job.reason if label == '-' else label}")
    lines += [f"Priority={job.priority}", f"SubmittedBy={job.user}"]
    if job.project:
        lines.append(f"Project={job.project}")
    if job.max_retries > 0:
        lines.append(f"MaxRetries={job.max_retries}")
    if job.group_id:
        lines.append(f"GroupID={job.group_id}")
    lines += _set(job, ("RedoneFrom", "redone_from", None), ("RetriedFrom", "retried_from", None))
    return lines + _command_lines(job)


def _parameters(job) -> list[str]:
    return [f"{key}={job.parameters[key]}" for key in sorted(job.parameters)]


def _resources(job) -> list[str]:
    lines = [f"GPUs={job.gpus}", f"GPUSharing={_text(job.gpu_sharing_mode).lower()}"]
    lines += _set(
        job,
        ("GPUMemoryLimit", "gpu_memory_limit_mb", display.memory),
        ("GPUIDs", "gpu_ids", lambda ids: ",".join(str(i) for i in ids)),
        ("MemoryLimit", "memory_limit_mb", display.memory),
    )
    if job.conda_env:
        lines.append(f"CondaEnv={job.conda_env}")
    return lines


def _execution(job) -> list[str]:
    lines = [f"WorkingDir={job.run_dir}", f"TmuxSession={job.run_name}"]
    if job.notify_emails:
        lines.append("NotifyEmail=" + ",".join(job.notify_emails))
    if job.notify_on:
        lines.append("NotifyOn=" + ",".join(job.notify_on))
    return lines


def _dependencies(job) -> list[str]:
    lines = []
    # Mode and AutoCancel only mean something when there are dependencies; upstream also
    # printed them for plain array jobs because its defaults were "stored".
    if job.depends_on_ids:
        lines.append("DependsOn=" + ",".join(str(d) for d in job.depends_on_ids))
        lines.append(f"Mode={_text(job.dependency_mode)}")
        if job.auto_cancel_on_dependency_failure:
            lines.append("AutoCancel=enabled")
    if job.task_id is not None:
        lines.append(f"TaskID={job.task_id}")
    return lines


def _timing(job, now: float) -> list[str]:
    lines = []
    if job.time_limit is not None:
        lines.append(f"TimeLimit={display.clock(job.time_limit)}")
    submitted = f"Submitted={display.job_time(job.submitted_at)}"
    if job.started_at is not None:
        submitted += f" (waited {display.clock(job.started_at - job.submitted_at)})"
    lines.append(submitted)
    if job.scheduled_at is not None:
        lines.append(f"BeginTime={display.job_time(job.scheduled_at)}")
    if job.planned_start is not None and job.started_at is None:
        lines.append(f"StartTime≈{display.job_time(job.planned_start)}")  # the backfill plan
    started = job.started_at
    if started is not None and job.finished_at is not None:
        lines.append(f"Started={display.job_time(started)}")
        runtime = display.clock(job.finished_at - started)
        lines.append(f"Finished={display.job_time(job.finished_at)} (runtime {runtime})")
    elif started is not None and _text(job.state) == "Running":
        lines.append(f"Started={display.job_time(started)} (running {display.clock(now - started)} so far)")
    if _text(job.state) in TERMINAL and job.exit_code is not None:
        lines.append(f"ExitCode={job.exit_code}")
    return lines


def job_show(job, now: float) -> str:
    """The `gjob show` block plus project, reason, begin time, lineage and exit
    code, which upstream left out. Empty optional sections are omitted."""
    sections = [
        ("Job Details", _details(job)),
        ("Parameters", _parameters(job)),
        ("Resources", _resources(job)),
        ("Execution", _execution(job)),
        ("Dependencies", _dependencies(job)),
        ("Timing", _timing(job, now)),
    ]
    blocks = [
        f"{title}:\n" + "\n".join(f"  {line}" for line in lines)
        for title, lines in sections
        if lines
    ]
    return "\n\n".join(blocks)


def show_separator() -> str:
    """Joiner between several `gjob show` blocks: blank line, 80 `=`, blank line."""
    return "\n\n" + "=" * 80 + "\n\n"


def redo_summary(result, cleared_deps: bool, cascade: bool) -> str:
    """What `gjob redo` prints for a `protocol.RedoResult`: the new job's parameters, its id,
    and the dependents brought back with `--cascade`."""
    job = result.job
    lines = [f"Resubmitting job {result.source_id} with parameters:"]
    if job.script is not None:
        lines.append(f"  Script={job.script}")
    else:
        lines.append(f"  Command={job.command}")
    lines.append(f"  GPUs={job.gpus}")
    if _text(job.gpu_sharing_mode) == "Shared":
        lines.append("  GPUSharing=shared")
    lines.append(f"  Priority={job.priority}")
    if job.conda_env:
        lines.append(f"  CondaEnv={job.conda_env}")
    lines += ["  " + line for line in _set(
        job,
        ("TimeLimit", "time_limit", display.clock),
        ("MemoryLimit", "memory_limit_mb", display.memory),
        ("GPUMemoryLimit", "gpu_memory_limit_mb", display.memory),
    )]
    if cleared_deps:
        lines.append("  Dependencies=(cleared)")
    elif job.depends_on_ids:
        lines.append("  DependsOn=" + ",".join(str(d) for d in job.depends_on_ids))
    if job.parameters:
        lines.append("  Parameters:")
        lines += [f"    {k}={v}" for k, v in sorted(job.parameters.items())]
    lines += ["", f"Submitted batch job {job.id} ({job.run_name})"]
    if cascade:
        if result.cascade:
            lines += ["", f"Cascading to {len(result.cascade)} dependent job(s)..."]
            lines += [f"  Job {old} → Job {new} ({name})" for old, new, name in result.cascade]
            lines += ["", "Cascade complete."]
        else:
            lines += ["", "No dependent jobs to cascade."]
    return "\n".join(lines)
