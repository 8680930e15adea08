# PYTHON_ARGCOMPLETE_OK
"""gflowd: run the daemon, or manage it (init, up, down, restart, status).

`gflowd up` detaches and returns once the socket answers; `gflowd up --foreground` is the
daemon itself (what systemd and tests run). `--system` selects the shared, root-run daemon.
Stopping or restarting never kills jobs: their shepherds keep running and are re-adopted.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from .common import add_standard_commands, CliError, Parser, add_version, run

PROG = "gflowd"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="The gflow daemon and its lifecycle.")
    add_version(parser, PROG)
    parser.add_argument("-c", "--config", metavar="PATH", help="extra config file (YAML or TOML)")
    parser.add_argument("--system", action="store_true", help="the shared system daemon (root only)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="count", default=0, help=argparse.SUPPRESS)
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def lifecycle(name, help_text, aliases=()):
        p = sub.add_parser(name, help=help_text, aliases=list(aliases))
        p.add_argument("--system", action="store_true", default=argparse.SUPPRESS,
                       help="the shared system daemon (root only)")
        p.add_argument("-c", "--config", metavar="PATH", default=argparse.SUPPRESS, help="extra config file")
        return p

    up = lifecycle("up", "start the daemon in the background", aliases=["start"])
    up.add_argument("--foreground", action="store_true", help="run in the foreground (systemd, tests)")
    up.add_argument("--gpus", metavar="SPEC", help="GPU indices the scheduler may use, e.g. 0-3 or 0,2")
    up.add_argument("--gpu-allocation-strategy", choices=["sequential", "random"], type=str.lower)
    lifecycle("down", "stop the daemon (jobs keep running)", aliases=["stop"])
    restart = lifecycle("restart", "stop, then start the daemon (jobs keep running)", aliases=["reload"])
    restart.add_argument("--gpus", metavar="SPEC")
    restart.add_argument("--gpu-allocation-strategy", choices=["sequential", "random"], type=str.lower)
    lifecycle("status", "show whether the daemon runs, and where")
    init = lifecycle("init", "write a starter config file")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument("--yes", action="store_true", help="no questions (the only mode)")
    init.add_argument("--gpus", metavar="SPEC")
    init.add_argument("--executor", choices=["process", "tmux"], default="process")
    add_standard_commands(sub)
    return parser


def _load(args):
    from ..config import ConfigError, load

    try:
        config = load(extra=args.config, system=args.system)
    except ConfigError as e:
        raise CliError(str(e)) from None
    overrides = {}
    if getattr(args, "gpus", None):
        from ..core.parse import parse_id_list

        try:
            overrides["gpus"] = parse_id_list(args.gpus, what="GPU index")
        except ValueError as e:
            raise CliError(str(e)) from None
    if getattr(args, "gpu_allocation_strategy", None):
        overrides["gpu_allocation_strategy"] = args.gpu_allocation_strategy
    if overrides:
        import msgspec

        config = msgspec.structs.replace(config, daemon=msgspec.structs.replace(config.daemon, **overrides))
    return config


def _dirs(args, config):
    from ..paths import daemon_paths

    if args.system and os.geteuid() != 0:
        raise CliError("the system daemon must be started by root (plain `gflowd up` runs your own)")
    return daemon_paths(args.system, config.daemon.socket, config.daemon.state_dir)


def _running_pid(dirs):
    from ..daemon.server import holder_pid

    return holder_pid(dirs.lock)


def cmd_foreground(args) -> int:
    from ..daemon.server import StartupError, run_foreground

    config = _load(args)
    try:
        return run_foreground(config, _dirs(args, config))
    except StartupError as e:
        raise CliError(str(e)) from None


def cmd_up(args) -> int:
    if args.foreground:
        return cmd_foreground(args)
    config = _load(args)
    dirs = _dirs(args, config)
    pid = _running_pid(dirs)
    if pid is not None:
        print(f"gflowd is already running (PID {pid}).")
        print("Use `gflowd restart` to restart it.")
        return 0
    os.makedirs(dirs.logs_dir, mode=0o755 if args.system else 0o700, exist_ok=True)
    argv = [sys.executable, "-m", "gflow.cli.gflowd"]
    if args.config:
        argv += ["-c", os.path.abspath(args.config)]
    argv += ["up", "--foreground"] + (["--system"] if args.system else [])
    if getattr(args, "gpus", None):
        argv += ["--gpus", args.gpus]
    if getattr(args, "gpu_allocation_strategy", None):
        argv += ["--gpu-allocation-strategy", args.gpu_allocation_strategy]
    with open(dirs.daemon_log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True,
        )
    _wait_until_serving(proc, dirs)
    print(f"gflowd started ({dirs.mode} mode, PID {proc.pid}).")
    print(f"Socket: {dirs.socket}")
    print(f"Logs: {dirs.daemon_log}")
    return 0


def _wait_until_serving(proc, dirs) -> None:
    """Poll until the socket answers: this is a one-off CLI wait for a child, not the daemon."""
    from ..client import Client, DaemonUnavailable

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CliError(f"gflowd exited during start-up: {_last_log_line(dirs.daemon_log)}")
        try:
            Client(dirs.socket, timeout=2).connect().close()
            return
        except DaemonUnavailable:
            time.sleep(0.02)
    raise CliError(f"gflowd did not answer within {START_TIMEOUT:.0f}s; see {dirs.daemon_log}")


def _last_log_line(path: str) -> str:
    try:
        with open(path, "rb") as f:
            lines = [l for l in f.read()[-4096:].decode(errors="replace").splitlines() if l.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(no log)"


def cmd_down(args) -> int:
    config = _load(args)
    dirs = _dirs(args, config)
    pid = _running_pid(dirs)
    if pid is None:
        print("gflowd is not running.")
        return 0
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise CliError(f"not allowed to stop gflowd (PID {pid}); it belongs to another user") from None
    deadline = time.monotonic() + STOP_TIMEOUT
    while _running_pid(dirs) is not None:
        if time.monotonic() > deadline:
            raise CliError(f"gflowd (PID {pid}) did not stop within {STOP_TIMEOUT:.0f}s")
        time.sleep(0.02)
    print("gflowd stopped.")
    return 0


def cmd_restart(args) -> int:
    args.foreground = False
    cmd_down(args)
    return cmd_up(args)


def cmd_status(args) -> int:
    from ..client import Client, DaemonUnavailable
    from ..core.display import uptime

    config = _load(args)
    dirs = _dirs(args, config) if args.system else None
    sock = dirs.socket if dirs else None
    try:
        with Client(sock or config.daemon.socket, timeout=5) as client:
            st = client.status()
    except DaemonUnavailable:
        print("Status: Not running")
        print("The gflowd daemon is not running.")
        return 0
    print("Status: Running")
    print(f"The gflowd daemon is running in {st.mode} mode (PID {st.pid}).")
    print(f"Socket:    {st.socket}")
    print(f"State:     {st.state_dir}")
    print(f"Version:   {st.version}")
    print(f"PID:       {st.pid}")
    print(f"Uptime:    {uptime(st.uptime_secs)}")
    print(f"Executor:  {st.executor}")
    print(f"GPUs:      {st.gpu_total} total, {st.gpu_available} available")
    return 0


_TEMPLATE = """\
# gflow configuration (YAML). Every key is optional; see the README for all of them.
daemon:
  gpu_allocation_strategy: sequential
{gpus}executor:
  type: {executor}
"""


def cmd_init(args) -> int:
    from .. import paths

    target = args.config or (paths.SYSTEM_CONFIG if args.system else os.path.join(paths.config_dir(), "gflow.yaml"))
    if os.path.exists(target) and not args.force:
        raise CliError(f"Config file already exists: {target} (use --force to overwrite)")
    gpus = ""
    if args.gpus:
        from ..core.parse import parse_id_list

        try:
            gpus = f"  gpus: {parse_id_list(args.gpus, what='GPU index')}\n"
        except ValueError as e:
            raise CliError(str(e)) from None
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    tmp = f"{target}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(_TEMPLATE.format(gpus=gpus, executor=args.executor))
    os.replace(tmp, target)
    print(f"Configuration saved to: {target}")
    print()
    print("Next steps:")
    print("  1. Start the daemon: gflowd up")
    print("  2. Check status: gflowd status")
    print("  3. Submit a job: gbatch echo hello")
    return 0


COMMANDS = {
    None: cmd_foreground,
    "up": cmd_up, "start": cmd_up,
    "down": cmd_down, "stop": cmd_down,
    "restart": cmd_restart, "reload": cmd_restart,
    "status": cmd_status,
    "init": cmd_init,
}


def main(argv=None) -> int:
    def dispatch(args):
        if args.command is None:
            args.foreground = True
        return COMMANDS[args.command](args)

    return run(PROG, build_parser, dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
