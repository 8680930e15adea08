# PYTHON_ARGCOMPLETE_OK
"""gbatch: submit a command or a script (like sbatch).

    gbatch [OPTIONS] COMMAND [ARGS...]     gbatch [OPTIONS] script.sh
    gbatch [OPTIONS] - < script.sh         gbatch new NAME

Everything after the first positional belongs to the command. Scripts may carry
`# GFLOW --option` directives; the command line wins over them.
"""
from __future__ import annotations

import os
import sys
import time

from .common import U32_MAX, CliError, add_global_options, add_version, connect, run
from .gbatch_spec import _dependency_flag, _jobs
from .options import integer

PROG = "gbatch"

# what only the command line can say: how to submit, not what (a script cannot ask to be
# waited for or previewed, nor choose the daemon)
NOT_DIRECTIVES = ("words", "dry_run", "wait", "socket", "config", "debug")


_priority = integer("--priority <PRIORITY>", 0, 255)


def _path(text: str) -> str:
    """A file name: an empty one is a usage error, as upstream (clap's path parser)."""
    if not text:
        import argparse

        raise argparse.ArgumentTypeError("a value is required for '--param-file <PARAM_FILE>' but none was supplied")
    return text


def _once_actions():
    from .argparser import Once, OnceTrue

    return Once, OnceTrue


def _add_job_options(p: argparse.ArgumentParser) -> None:  # noqa: F821
    """The options shared by the command line and `# GFLOW` directives."""
    _Once, _OnceTrue = _once_actions()
    p.add_argument("-g", "--gpus", "--gres", action=_Once, type=integer("--gpus <NUMS>", 0, U32_MAX, prefix="gpu:"), metavar="N", help="GPUs to allocate (default 0; Slurm's gpu:N works too)")
    p.add_argument("--shared", action=_OnceTrue, default=None, help="share GPUs with other shared jobs (needs --gpu-memory)")
    p.add_argument("--gpu-memory", "--max-gpu-mem", "--max-gpu-memory", action=_Once, metavar="MEM", help="per-GPU memory budget, e.g. 20G")
    p.add_argument("-m", "--memory", "--max-mem", "--max-memory", action=_Once, metavar="MEM", help="host memory budget, e.g. 16G or 4096")
    p.add_argument("-t", "--time", "--time-limit", "--timelimit", action=_Once, metavar="TIME", help="time limit: 4h, 90m, 1h30m, 2d, HH:MM:SS, D-HH:MM:SS or minutes")
    p.add_argument("-p", "--priority", "--nice", action=_Once, type=_priority, metavar="0-255", help="higher runs first (default 10)")
    p.add_argument("-c", "--conda-env", action=_Once, metavar="ENV", help="conda environment to activate")
    p.add_argument("-P", "--project", action=_Once, metavar="CODE", help="project code")
    p.add_argument("--begin", action=_Once, metavar="TIME", help="not before: HH:MM, YYYY-MM-DD[THH:MM], now+DURATION (now+90m, now+2h)")
    p.add_argument("--notify-email", action="append", metavar="ADDR", help="email recipient (repeatable)")
    p.add_argument("--notify-on", action="append", metavar="EVENTS", help="events that trigger the emails")
    p.add_argument("--allow-pending", action=_OnceTrue, default=False,
                   help="queue even if the job needs more than this machine or its limits allow "
                        "today (it waits, reason NeverFits)")


def build_parser() -> argparse.ArgumentParser:  # noqa: F821
    import argparse

    from .argparser import Parser

    _Once, _OnceTrue = _once_actions()
    parser = Parser(
        prog=PROG,
        description="Submit a job: a command, a script file, or a script on stdin.",
        epilog="Subcommand: `gbatch new NAME` writes a template script NAME.sh.",
    )
    add_version(parser, PROG)
    _add_job_options(parser)
    parser.add_argument("-n", "--name", "-J", "--job-name", action=_Once, metavar="NAME", help="run name (job N is named gjob-N-NAME)")
    deps = parser.add_mutually_exclusive_group()
    deps.add_argument("-d", "--depends-on", "--dependency", action=_Once, metavar="ID",
                      help="start after this job succeeds (id, @, @~N); Slurm's afterok:ID[:ID…], afterany:…, afternotok:… too")
    deps.add_argument("--depends-on-all", action=_Once, metavar="IDS", help="start after all of these succeed")
    deps.add_argument("--depends-on-any", action=_Once, metavar="IDS", help="start after any of these succeeds")
    parser.add_argument("--no-auto-cancel", action=_OnceTrue, default=False, help="stay queued if a dependency fails")
    parser.add_argument("--array", action=_Once, metavar="SPEC", help="one job per task id: 1-10, 1,3,5, 1-9:2; 1-100%%4: at most 4 at once")
    parser.add_argument("--param", action="append", metavar="K=SPEC", help="sweep: k=v1,v2 or k=start:stop[:step] (repeatable)")
    parser.add_argument("--param-file", action=_Once, type=_path, metavar="CSV", help="sweep over the rows of a CSV file with a header")
    parser.add_argument("--name-template", action=_Once, metavar="TEMPLATE", help="run name for sweep jobs, e.g. lr{lr}")
    parser.add_argument("--max-concurrent", action=_Once, type=integer("--max-concurrent <MAX_CONCURRENT>", 0, U32_MAX), metavar="N", help="at most N jobs of this array/sweep run at once")
    parser.add_argument("--max-retries", action=_Once, type=integer("--max-retries <MAX_RETRIES>", 0, U32_MAX), metavar="N", help="resubmit a failed job up to N times")
    parser.add_argument("--auto-close", action=_OnceTrue, default=False, help="tmux executor: close the session after success")
    parser.add_argument("-H", "--hold", action=_OnceTrue, default=False, help="submit in the Hold state")
    parser.add_argument("--dry-run", action=_OnceTrue, default=False, help="show what would be submitted; submit nothing")
    parser.add_argument("-D", "--chdir", action=_Once, metavar="DIR", help="run the job in DIR (default: the current directory)")
    parser.add_argument("-W", "--wait", action=_OnceTrue, default=False, help="wait for the jobs to end; exit with the first failure's code")
    add_global_options(parser)
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND | SCRIPT", help="what to run")
    from . import completers

    completers.attach(parser, {dest: completers.job_ids for dest in ("depends_on", "depends_on_all", "depends_on_any")})
    return parser


def build_directive_parser() -> argparse.ArgumentParser:  # noqa: F821
    """gbatch's own parser, whose errors name the directive line being read."""
    parser = build_parser()

    def error(message: str):
        raise CliError(f"# GFLOW directive on line {parser.directive_line}: {message}")

    parser.error = error
    parser.directive_line = 0
    return parser


# ---------------------------------------------------------------------------- input
def _read_input(args) -> tuple[str | None, str | None, str | None]:
    """(command, script path, script text) as upstream reads them."""
    words = args.words
    if words and words[0] == "--":
        words = words[1:]
    if words == ["-"] or (not words and not sys.stdin.isatty()):
        content = sys.stdin.read()
        if not content.strip():
            raise CliError("No content provided via stdin")
        directory = os.environ.get("TMPDIR") or "/tmp"
        path = os.path.join(directory, f"gflow_stdin_{int(time.time() * 1e6)}.sh")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        return None, path, content
    if not words:
        if args.param:
            raise CliError("--param needs a command to run")
        raise CliError(
            "The following required arguments were not provided: a COMMAND, a SCRIPT, or '-' for stdin "
            "(gbatch [OPTIONS] COMMAND [ARGS...] | gbatch [OPTIONS] SCRIPT | gbatch [OPTIONS] - < script.sh)"
        )
    if len(words) == 1 and os.path.lexists(words[0]):
        path = os.path.join(os.getcwd(), words[0]) if not os.path.isabs(words[0]) else words[0]
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError as e:
            # a directory or an unreadable file: its directives cannot be read (upstream:
            # `Failed to read script file` + the OS error)
            raise CliError(f"Failed to read script file: {words[0]}: {e.strerror or e}") from None
        return None, path, text
    from ..core.quoting import shell_join

    if len(words) == 1 and any(c.isspace() for c in words[0]):
        # one quoted shell line (`gbatch "a && b"`): run it as written, not as a program name
        return words[0], None, None
    return shell_join(words), None, None


def _merge_directives(args, script_text: str) -> None:
    """Fill what the command line left unset from the script's `# GFLOW` directives: every
    submission option may be one (`--depends-on`, `--array`, `--param`, `--name`, ...)."""
    from ..core.directives import directive_lines

    lines = directive_lines(script_text)
    if not lines:
        return
    parser = build_directive_parser()
    parsed = None
    for number, tokens in lines:
        parser.directive_line = number
        for token in tokens:
            if token in ("-h", "--help", "-V", "--version"):
                parser.error(f"'{token}' has no meaning in a script")
        # one namespace for all lines: an option given twice is refused as on the command line
        parsed = parser.parse_args(tokens, namespace=parsed)
        if parsed.words:
            parser.error(f"unexpected word '{parsed.words[0]}' (directives hold options only)")
        for dest in NOT_DIRECTIVES[1:]:
            if getattr(parsed, dest) != parser.get_default(dest):
                parser.error(f"'{_flag_of(parser, dest)}' can only be given on the command line")
    dependency_dests = ("depends_on", "depends_on_all", "depends_on_any")
    given = [d for d in dependency_dests if getattr(parsed, d) is not None]
    if len(given) > 1:
        raise CliError(f"# GFLOW directives: '{_flag_of(parser, given[0])}' and '{_flag_of(parser, given[1])}' "
                       "cannot be used together")
    cli_has_dependency = any(getattr(args, d) is not None for d in dependency_dests)
    for dest, value in vars(parsed).items():
        if dest in NOT_DIRECTIVES or dest.startswith("_"):
            continue
        if dest in dependency_dests and cli_has_dependency:
            continue  # the command line's dependency replaces the script's whole
        default = parser.get_default(dest)
        if value == default:
            continue
        if dest == "notify_email":
            args.notify_email = list(dict.fromkeys(value + (args.notify_email or [])))
        elif getattr(args, dest, default) == default:
            setattr(args, dest, value)


def _flag_of(parser, dest: str) -> str:
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            return next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
    return dest


def _dry_run(jobs: list[dict], mode: str) -> None:
    from ..core.names import substitute

    def what(job):
        return job["script"] if job["script"] else job["command"]

    if mode == "single":
        print("Would submit 1 batch job:")
        print(f"  [1] {what(jobs[0])} (GPUs: {jobs[0]['gpus']})")
    elif mode == "array":
        print(f"Would submit {len(jobs)} array job(s):")
        for i, job in enumerate(jobs, 1):
            print(f"  [{i}] {what(job)} (GPUs: {job['gpus']}, task_id: {job['task_id']})")
    else:
        print(f"Would submit {len(jobs)} batch job(s):")
        for i, job in enumerate(jobs, 1):
            shown = job["script"] or substitute(job["command"], job["parameters"])
            print(f"  [{i}] {shown} (GPUs: {job['gpus']})")


def _run_dir(args) -> str:
    if args.chdir is None:
        return os.getcwd()
    path = os.path.abspath(os.path.expanduser(args.chdir))
    if not os.path.isdir(path):
        raise CliError(f"--chdir '{args.chdir}': no such directory")
    return path


def write_template(name: str) -> int:
    path = name if name.endswith(".sh") else f"{name}.sh"
    if os.path.exists(path):
        raise CliError(f"File '{path}' already exists.")
    body = """#!/bin/bash
# ============================================================
#  gflow job script
# ============================================================
# Directives: change '## GFLOW' to '# GFLOW' to activate one.
# Options given on the gbatch command line win over directives.

## GFLOW --conda-env=myenv
# Conda environment to activate (default: none)
## GFLOW --gpus=1
# GPUs to allocate (default: 0)
## GFLOW --priority=50
# Priority 0-255, higher runs first (default: 10)
## GFLOW --time=1:30:00
# Time limit HH:MM:SS, MM:SS or minutes (default: unlimited)
## GFLOW --memory=4G
# Host memory budget (default: unlimited)

echo "Starting gflow job..."
echo "Running on node: $HOSTNAME"
echo "Job finished successfully."
"""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
    with os.fdopen(fd, "w") as f:
        f.write(body)
    return 0


def cmd_submit(args) -> int:
    command, script, text = _read_input(args)
    if text:
        _merge_directives(args, text)
    jobs, mode = _jobs(args, command, script)
    from ..errors import GflowError
    from . import lean

    if args.dry_run:
        # a preview submits nothing, but `@` shorthands must name a job
        refs = [ref for ref in jobs[0].get("depends_on", ()) if ref.startswith("@")]
        if refs:
            with connect(args) as client:
                for ref in refs:
                    try:
                        client.resolve(ref)
                    except GflowError as e:
                        raise CliError(_name_rejected_flag(args, e.message)) from None
        _dry_run(jobs, mode)
        return 0

    cwd = _run_dir(args)
    # the environment snapshot travels once for the whole request, however many jobs
    specs = [dict(job, run_dir=cwd) for job in jobs]
    # 0: a group held until `gctl set-limit` (refused as never starting without --allow-pending)
    group_limit = args.max_concurrent if mode != "single" else None
    params = lean.submit_params(specs, dict(os.environ), group_limit)
    with connect(args) as client:
        try:
            result = lean.decode(client.call_lean("jobs.submit", params))  # protocol.SubmitResult
        except GflowError as e:
            raise CliError(_name_rejected_flag(args, e.message)) from None
        submitted, group_id = result["jobs"], result.get("group_id")
        lines = []
        if group_id:
            first = submitted[0][0]
            lines.append(f"Submitted {len(submitted)} batch jobs with group_id: {group_id}")
            lines.append(f"  (You can update the limit with: gctl set-limit {first} <N>)")
        lines += [f"Submitted batch job {job_id} ({run_name})" for job_id, run_name in submitted]
        print("\n".join(lines))
        if args.wait:
            sys.stdout.flush()
            return _wait(client, [j for j, _ in submitted])
    return 0


# daemon refusals that are about one flag's value, by the start of their (upstream) text
_DAEMON_FLAG_ERRORS = (
    ("Dependency job ", None),
    ("Cannot resolve dependency", None),
    ("Circular dependency", None),
    ("Project ", "--project"),
    ("Unknown project", "--project"),
)


def _name_rejected_flag(args, message: str) -> str:
    """Say which flag a daemon refusal is about when its text does not."""
    for prefix, flag in _DAEMON_FLAG_ERRORS:
        if message.startswith(prefix):
            flag = flag or _dependency_flag(args)
            if flag and flag not in message:
                return f"{flag}: {message}"
    return message


def _wait(client, ids: list[int]) -> int:
    finished = client.wait(ids)
    for job in finished:
        if job.state.value != "Finished":
            return job.exit_code if job.exit_code else 1
    return 0


def main(argv=None) -> int:
    if argv is None:  # the gbatch process itself: see gqueue.main
        import gc

        gc.disable()
        from .common import exit_now

        exit_now(_main(sys.argv[1:]))
    return _main(argv)


_SUBCOMMANDS = ("new", "completion", "help")


def _subcommand_at(argv: list[str]) -> int | None:
    """Index of `new`/`completion`/`help` when it is the first positional word, after any
    options (`gbatch -g 1 new x` creates x.sh, as upstream); `--` makes it a command."""
    if not argv or argv[0] in _SUBCOMMANDS:
        return 0 if argv else None
    parser = build_parser()

    def quiet(message):
        raise ValueError(message)

    parser.error = quiet  # a bad command line is reported by the real parse below
    try:
        args, _ = parser.parse_known_args(argv)
    except (ValueError, SystemExit):
        return None
    words = args.words
    if words and words[0] in _SUBCOMMANDS:
        return len(argv) - len(words)
    return None


def _main(argv) -> int:
    at = _subcommand_at(argv) if any(w in _SUBCOMMANDS for w in argv) else None
    if at:
        argv = argv[at:]
    if argv[:1] == ["help"]:
        if argv[1:2] == ["new"]:
            argv = ["new", "--help"]
        elif argv[1:2] == ["completion"]:
            argv = ["completion", "--help"]
        else:
            build_parser().parse_args(["--help"])  # exits 0
    if argv[:1] == ["completion"]:
        from .common import print_completion

        return print_completion(PROG, argv[1:])
    if argv[:1] == ["new"]:
        def new(args):
            return write_template(args.name)

        def build():
            from .argparser import Parser

            p = Parser(prog=f"{PROG} new", description="Write a template job script NAME.sh.")
            p.add_argument("name", metavar="NAME")
            return p

        return run(PROG, build, new, argv[1:], commands=False)
    return run(PROG, build_parser, cmd_submit, argv, fast=PROG)


if __name__ == "__main__":
    sys.exit(main())
