"""`gjob update` and `gjob redo`: their options, the checking of those values into the one
UpdateParams or RedoParams sent (before connecting, so a typo never half-applies), and the
reports of what changed.

Apart from gjob.py so that the hot `gjob show` never loads them; gjob imports this module
when one of these subcommands runs, and the helpers shared with the other subcommands
(`_one_ref`, `_resolve`, `_resolved`) are imported from gjob on use.
"""
from __future__ import annotations

import sys

from .common import U32_MAX, CliError
from .gjob import LIST_HELP, PROG
from .options import flag_value as _flag, integer

_priority = integer("--priority <PRIORITY>", 0, 255)


def add_update(sub) -> None:
    p = sub.add_parser(
        "update", aliases=["u"], help="change queued or held jobs",
        description="Change queued or held jobs. The same changes apply to every id in LIST.",
    )
    p.add_argument("ids", metavar="LIST", help=LIST_HELP)
    p.add_argument("-c", "--command", metavar="CMD", help="new command (a script job becomes a command job)")
    p.add_argument("-s", "--script", metavar="PATH", help="new script (a command job becomes a script job)")
    p.add_argument("-g", "--gpus", type=integer("--gpus <N>", 0, U32_MAX), metavar="N", help="GPUs to allocate")
    p.add_argument("-e", "--conda-env", metavar="ENV", help="conda environment")
    p.add_argument("--clear-conda-env", action="store_true", help="no conda environment")
    p.add_argument("-p", "--priority", type=_priority, metavar="0-255", help="priority")
    p.add_argument("-t", "--time-limit", metavar="TIME", help="time limit: HH:MM:SS, MM:SS or minutes")
    p.add_argument("--clear-time-limit", action="store_true", help="no time limit")
    p.add_argument("-m", "--memory-limit", metavar="MEM", help="host memory budget, e.g. 16G")
    p.add_argument("--clear-memory-limit", action="store_true", help="no host memory budget")
    p.add_argument("--gpu-memory", "--max-gpu-mem", metavar="MEM", help="per-GPU memory budget")
    p.add_argument("--clear-gpu-memory-limit", action="store_true", help="no per-GPU memory budget")
    p.add_argument("--allow-pending", action="store_true",
                   help="accept resources this machine cannot provide today (the job waits)")
    p.add_argument("-d", "--depends-on", metavar="IDS", help="replace dependencies (all must succeed)")
    p.add_argument("--depends-on-all", metavar="IDS", help="replace dependencies: all must succeed")
    p.add_argument("--depends-on-any", metavar="IDS", help="replace dependencies: one success is enough")
    p.add_argument("--auto-cancel-on-dep-failure", action="store_true", help="cancel when a dependency fails")
    p.add_argument("--no-auto-cancel-on-dep-failure", action="store_true", help="stay queued when a dependency fails")
    p.add_argument("--max-concurrent", type=integer("--max-concurrent <N>", 1, U32_MAX), metavar="N", help="this job's group limit")
    p.add_argument("--clear-max-concurrent", action="store_true", help="no group limit for this job")
    p.add_argument("--max-retries", type=integer("--max-retries <N>", 0, U32_MAX), metavar="N", help="automatic retries after a failure")
    p.add_argument("--clear-max-retries", action="store_true", help="no automatic retries")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="replace ALL parameters with these (repeatable)")


def add_redo(sub) -> None:
    p = sub.add_parser(
        "redo", help="submit a finished job again",
        description="Submit a new job doing what a finished, failed, cancelled or timed-out job did.",
    )
    p.add_argument("ref", metavar="ONE", help="job id, @ or @~N")
    p.add_argument("-g", "--gpus", type=integer("--gpus <N>", 0, U32_MAX), metavar="N", help="GPUs for the new job")
    p.add_argument("-p", "--priority", type=_priority, metavar="0-255", help="priority for the new job")
    p.add_argument("-d", "--depends-on", metavar="ONE", help="depend on this job instead (id, @, @~N)")
    p.add_argument("-t", "--time", metavar="TIME", help="time limit for the new job")
    p.add_argument("-m", "--memory", metavar="MEM", help="host memory budget for the new job")
    p.add_argument("--gpu-memory", "--max-gpu-mem", metavar="MEM", help="per-GPU memory budget")
    p.add_argument("-e", "--conda-env", metavar="ENV", help="conda environment for the new job")
    p.add_argument("--clear-deps", action="store_true", help="no dependencies (wins over -d)")
    p.add_argument("--cascade", action="store_true", help="also redo the jobs cancelled because this one failed")
    p.add_argument("--current-env", action="store_true",
                   help="run with this shell's environment instead of the original job's")
    p.add_argument("--allow-pending", action="store_true",
                   help="queue it even if this machine cannot run it today (the job waits)")


def _dependency_ids(text: str) -> list[int]:
    ids: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if not (item.isascii() and item.isdigit()) or int(item) < 1:
            raise ValueError(f"Invalid dependency ID: {item}")
        if int(item) not in ids:
            ids.append(int(item))
    if not ids:
        raise ValueError("Dependency list cannot be empty")
    return ids


def _given(fields: dict, *options) -> None:
    """Each option given, parsed, into `fields`; one whose `--clear-…` flag is given set to
    None. An option is (field, flag, parser or None, value, cleared)."""
    for name, flag, parse, value, cleared in options:
        if value is not None:
            fields[name] = value if parse is None else _flag(flag, parse, value)
        elif cleared:
            fields[name] = None


def update_params(args):
    """The one UpdateParams sent for every id (upstream's precedence rules applied here)."""
    from ..core.parse import parse_kv, parse_memory, parse_time_limit
    from ..protocol import DependencyMode, UpdateParams

    fields: dict = {}
    if args.command is not None:
        fields["command"] = args.command
    if args.script is not None:
        import os

        fields["script"] = os.path.abspath(args.script)
    if args.param:
        fields["parameters"] = dict(_flag("--param", parse_kv, p) for p in args.param)
    _given(
        fields,
        ("gpus", None, None, args.gpus, False),
        ("conda_env", None, None, args.conda_env, args.clear_conda_env),
        ("priority", None, None, args.priority, False),
        ("time_limit", "--time-limit", parse_time_limit, args.time_limit, args.clear_time_limit),
        ("memory_limit_mb", "--memory-limit", parse_memory, args.memory_limit, args.clear_memory_limit),
        ("gpu_memory_limit_mb", "--gpu-memory", parse_memory, args.gpu_memory, args.clear_gpu_memory_limit),
        ("max_concurrent", None, None, args.max_concurrent, args.clear_max_concurrent),
        ("max_retries", None, None, args.max_retries, args.clear_max_retries),
    )
    for flag, value, mode in (
        ("--depends-on-all", args.depends_on_all, DependencyMode.ALL),
        ("--depends-on-any", args.depends_on_any, DependencyMode.ANY),
        ("--depends-on", args.depends_on, DependencyMode.ALL),
    ):
        if value is not None:
            fields["depends_on_ids"] = _flag(flag, _dependency_ids, value)
            fields["dependency_mode"] = mode
            break
    if args.auto_cancel_on_dep_failure:
        fields["auto_cancel_on_dependency_failure"] = True
    elif args.no_auto_cancel_on_dep_failure:
        fields["auto_cancel_on_dependency_failure"] = False
    if not fields:
        raise CliError("No updates specified. Use --help to see available options.")
    return UpdateParams(ids=[], allow_pending=args.allow_pending, **fields)  # ids: resolved once connected (`@` items)


def redo_params(args):
    from ..core.parse import parse_dependency, parse_memory, parse_time_limit
    from ..protocol import RedoParams
    from .gjob import _one_ref

    fields: dict = {}
    _given(
        fields,
        ("time_limit", "--time", parse_time_limit, args.time, False),
        ("memory_limit_mb", "--memory", parse_memory, args.memory, False),
        ("gpu_memory_limit_mb", "--gpu-memory", parse_memory, args.gpu_memory, False),
    )
    if args.depends_on is not None and not args.clear_deps:
        fields["depends_on"] = str(_flag("--depends-on", parse_dependency, args.depends_on))
    if args.current_env:
        import os

        fields["env"] = dict(os.environ)
    return RedoParams(
        ref=str(_one_ref(args.ref)), gpus=args.gpus, priority=args.priority, conda_env=args.conda_env,
        clear_deps=args.clear_deps, cascade=args.cascade, allow_pending=args.allow_pending, **fields,
    )


def cmd_update(args, client) -> int:
    import msgspec

    from .gjob import _resolved

    params = msgspec.structs.replace(args.prepared, ids=_resolved(client, args.ids))
    result = client.update(params)
    for job_id, fields in result.updated:
        print(f"Job {job_id} updated successfully.")
        print(f"  UpdatedFields={', '.join(fields)}")
    for job_id, message in result.errors:
        print(f"Error updating job {job_id}: Failed to update job: {message}", file=sys.stderr)
    return 1 if result.errors else 0


def cmd_redo(args, client) -> int:
    import msgspec

    from .gjob import _resolve

    params = args.prepared
    if params.ref.startswith("@"):
        params = msgspec.structs.replace(params, ref=str(_resolve(client, params.ref)))
    result = client.redo(params)
    from .render.show import redo_summary

    print(redo_summary(result, args.clear_deps, args.cascade))
    for job_id, message in result.skipped:
        print(f"{PROG}: warning: job {job_id} not redone: {message}", file=sys.stderr)
    return 0
