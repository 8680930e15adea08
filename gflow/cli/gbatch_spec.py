"""gbatch's job specs: the parsed options (command line and `# GFLOW` directives merged)
turned into the per-job field dicts sent to `jobs.submit`, with the value parsers, the
dependency forms (ids, `@` shorthands, Slurm's `afterok:…`) and the expansion of `--array`
and `--param`/`--param-file` sweeps into one job each.

Apart from gbatch.py, which keeps the parser, the reading of the input and the submission.
Every `gbatch` imports this module, so like gbatch it imports nothing heavy up front: the
value parsers (re, datetime, decimal) load only when an option needs one.
"""
from __future__ import annotations

import os

from .common import CliError
from .options import flag_value as _flag


def _dependency_flag(args) -> str | None:
    for flag, value in (("--depends-on", args.depends_on), ("--depends-on-all", args.depends_on_all),
                        ("--depends-on-any", args.depends_on_any)):
        if value is not None:
            return flag
    return None


def _dependency(text: str) -> int | str:
    """`--depends-on`: anything starting with `@` goes to the daemon to resolve (`@x`, `@~0`
    get its `Cannot resolve dependency` answer, as upstream)."""
    from ..core import parse

    value = text.strip()
    return value if value.startswith("@") else parse.parse_dependency(value)


def _dependency_list(text: str) -> list[int | str]:
    """`--depends-on-all/any`: ids checked here, `@…` items left for the daemon."""
    from ..core import parse

    refs: list[int | str] = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            for ref in [item] if item.startswith("@") else parse.parse_dependency_list(item):
                if ref not in refs:
                    refs.append(ref)
    return refs or parse.parse_dependency_list(text)  # all blank: its "cannot be empty" error


_VALUE_OPTIONS = ("time", "memory", "gpu_memory", "begin", "shared", "notify_email", "notify_on",
                  "depends_on", "depends_on_all", "depends_on_any", "project")


_SLURM_MODES = {"afterok": "All", "afterany": "AfterAny", "afternotok": "AfterNotOk"}


def _slurm_dependency(text: str) -> tuple[list[str], str]:
    """Slurm's `afterok:1:2`, `afterany:3`, `afternotok:4` (several of one kind may be joined
    with `,`): the job refs and the protocol's dependency mode."""
    mode = None
    refs: list[str] = []
    for part in text.strip().split(","):
        kind, _, ids = part.strip().partition(":")
        wanted = _SLURM_MODES.get(kind.lower())
        if wanted is None:
            raise ValueError(f"'{kind}' is not a dependency type gflow knows (use afterok, afterany or afternotok)")
        if mode is not None and wanted != mode:
            raise ValueError("one dependency type per job (afterok, afterany or afternotok), not a mix")
        mode = wanted
        items = [item for item in ids.split(":") if item.strip()]
        if not items:
            raise ValueError(f"'{part.strip()}' names no job (e.g. {kind.lower()}:12)")
        for item in items:
            ref = str(_dependency(item))
            if ref not in refs:
                refs.append(ref)
    return refs, mode or "All"


def _resolve_values(args) -> dict:
    if all(getattr(args, option) is None for option in _VALUE_OPTIONS):
        return {}  # `gbatch CMD`: no need for the value parsers (re, datetime, decimal)
    from ..core import parse

    values: dict = {}
    if args.time is not None:
        values["time_limit"] = _flag("--time", parse.parse_time_limit, args.time)
    if args.memory is not None:
        values["memory_limit_mb"] = _flag("--memory", parse.parse_memory, args.memory)
    if args.gpu_memory is not None:
        values["gpu_memory_limit_mb"] = _flag("--gpu-memory", parse.parse_memory, args.gpu_memory)
    if args.begin is not None:
        from datetime import datetime

        now = datetime.now().astimezone()
        values["scheduled_at"] = _flag("--begin", lambda t: parse.parse_begin(t, now), args.begin)
    if args.shared:
        from ..core.jobrules import shared_gpu_memory

        problem = shared_gpu_memory(True, values.get("gpu_memory_limit_mb"))
        if problem:
            raise CliError(problem)
    # blank addresses are skipped, as upstream does (`--notify-email ''` adds no recipient)
    emails = [e for e in args.notify_email or [] if e.strip()]
    if emails:
        values["notify_emails"] = [_flag("--notify-email", parse.validate_email, e) for e in emails]
    if args.notify_on:
        values["notify_on"] = parse.parse_notify_on(args.notify_on)
    if args.depends_on is not None and args.depends_on.strip().lower().startswith("after"):
        refs, mode = _flag("--dependency", _slurm_dependency, args.depends_on)
        values["depends_on"] = refs
        if mode != "All":
            values["dependency_mode"] = mode
    elif args.depends_on is not None:
        values["depends_on"] = [str(_flag("--depends-on", _dependency, args.depends_on))]
    elif args.depends_on_all is not None:
        values["depends_on"] = [str(d) for d in _flag("--depends-on-all", _dependency_list, args.depends_on_all)]
    elif args.depends_on_any is not None:
        values["depends_on"] = [str(d) for d in _flag("--depends-on-any", _dependency_list, args.depends_on_any)]
        values["dependency_mode"] = "Any"
    if args.project is not None:
        # length is checked here; the known/required policy is the daemon's to apply
        _flag("--project", lambda t: parse.normalize_project(t, [], False), args.project)
        values["project"] = args.project
    return values


def _jobs(args, command, script) -> tuple[list[dict], str]:
    """Per-job field dicts (`protocol.JobSpec` fields) and the multi-job mode (single, array, param)."""
    base = dict(
        command=command,
        script=script,
        gpus=args.gpus or 0,
        shared=bool(args.shared),
        priority=10 if args.priority is None else args.priority,
        conda_env=args.conda_env or (os.environ.get("CONDA_DEFAULT_ENV") or None if command else None),
        auto_cancel_on_dependency_failure=not args.no_auto_cancel,
        max_retries=args.max_retries or 0,
        auto_close_tmux=args.auto_close,
        hold=args.hold,
        name=args.name,
        allow_pending=bool(args.allow_pending),
    )
    base.update(_resolve_values(args))
    if args.array is not None and (args.param or args.param_file):
        raise CliError(f"Cannot use both {'--param' if args.param else '--param-file'} and --array together")
    if args.array is None and not (args.param or args.param_file):
        return [base], "single"
    from ..core import names, parse

    if args.array is not None:
        spec, percent, throttle = args.array.partition("%")
        if percent:  # Slurm's `1-100%4`: the group's limit of jobs running at once
            limit = _flag("--array", _throttle, throttle)
            if args.max_concurrent is not None and args.max_concurrent != limit:
                raise CliError(f"--array '{args.array}' and --max-concurrent {args.max_concurrent} disagree")
            args.max_concurrent = limit
        return [dict(base, task_id=t) for t in _flag("--array", parse.parse_array, spec)], "array"
    if args.param or args.param_file:
        rows = None
        if args.param_file:
            try:
                with open(args.param_file, newline="") as f:
                    text = f.read()
            except OSError as e:
                raise CliError(f"--param-file '{args.param_file}': Failed to read parameter file: {e.strerror}") from None
            try:
                rows = parse.parse_param_csv(text)
            except ValueError as e:
                raise CliError(f"--param-file '{args.param_file}': {e}") from None
        combos = parse.expand_params([_flag("--param", parse.parse_param, p) for p in args.param or []], rows)
        jobs = []
        for params in combos:
            name = names.render_template(args.name_template, params) if args.name_template is not None else args.name
            jobs.append(dict(base, parameters=params, name=name))
        return jobs, "param"
    return [base], "single"


def _throttle(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"the limit after '%' must be a whole number of jobs (at least 1), not '{text}'")
    return int(text)
