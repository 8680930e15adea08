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
from .gflowd_init import cmd_init
from .gflowd_service import UNIT_NAME, _systemctl, _unit_installed, cmd_service
from .options import unsigned

PROG = "gflowd"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0  # SIGTERM, wait up to 5 s, then SIGKILL


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
    _add_force_empty_state(up)
    up.add_argument("--personal", action="store_true",
                    help="start your own daemon even though the system daemon runs (reach it with --socket)")
    _add_overrides(up)
    lifecycle("down", "stop the daemon (jobs keep running)", aliases=["stop"])
    restart = lifecycle("restart", "stop, then start the daemon (jobs keep running)")
    _add_force_empty_state(restart)
    _add_overrides(restart)
    reload = lifecycle("reload", "re-execute the daemon in place, keeping its socket and the running jobs")
    _add_overrides(reload)
    lifecycle("status", "show whether the daemon runs, and where")
    service = lifecycle("service", "run gflowd as a systemd user service")
    service_sub = service.add_subparsers(dest="service_command", metavar="ACTION", required=True)
    _add_overrides(service_sub.add_parser("install", help="install, enable and start the user unit"))
    service_sub.add_parser("uninstall", help="stop, disable and remove the user unit")
    init = lifecycle("init", "write a starter config file")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument("--yes", action="store_true", help="no questions (the only mode)")
    init.add_argument("--advanced", action="store_true", help=argparse.SUPPRESS)  # wizard only upstream
    init.add_argument("--host", metavar="HOST", help="address of the optional HTTP shim / upstream clients")
    init.add_argument("--port", metavar="PORT", type=_port, help="TCP port of the optional HTTP shim")
    init.add_argument("--timezone", metavar="TZ", help="zone for reservation times (default: local)")
    _add_overrides(init)
    init.add_argument("--executor", choices=["process", "tmux"], default="process")
    add_standard_commands(sub)
    return parser


def _port(text: str) -> int:
    value = unsigned(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not in 0..=65535")
    return value


def _add_force_empty_state(p) -> None:
    p.add_argument("--force-empty-state", action="store_true",
                   help="start even though the job database is empty (0 bytes) while job logs exist")


def _add_overrides(p) -> None:
    """`--gpus`, `--gpu-allocation-strategy`, `--gpu-poll-interval-secs`; the
    values are checked by _overrides() so that the errors read as upstream's (exit 1)."""
    p.add_argument("--gpus", metavar="SPEC", help="GPU indices the scheduler may use, e.g. 0-3 or 0,2")
    p.add_argument("--gpu-allocation-strategy", metavar="STRATEGY", help="sequential (default) or random")
    p.add_argument("--gpu-poll-interval-secs", metavar="N", type=unsigned, help="GPU occupancy poll period (>= 1)")


def _overrides(args) -> dict:
    overrides = {}
    if getattr(args, "gpus", None):
        from ..core.parse import parse_id_list

        try:
            overrides["gpus"] = parse_id_list(args.gpus, what="GPU index")
        except ValueError as e:
            raise CliError(str(e)) from None
    strategy = getattr(args, "gpu_allocation_strategy", None)
    if strategy is not None:
        if strategy.strip().lower() not in ("sequential", "random"):
            raise CliError(f"Invalid GPU allocation strategy '{strategy}'. Use 'sequential' or 'random'.")
        overrides["gpu_allocation_strategy"] = strategy.strip().lower()
    interval = getattr(args, "gpu_poll_interval_secs", None)
    if interval is not None:
        if interval < 1:
            raise CliError(f"Invalid GPU poll interval '{interval}'. Use a value of at least 1 second.")
        overrides["gpu_poll_interval_secs"] = interval
    return overrides


def _load(args):
    from ..config import ConfigError, load

    try:
        config = load(extra=args.config, system=args.system)
    except ConfigError as e:
        raise CliError(str(e)) from None
    overrides = _overrides(args)
    if overrides:
        import msgspec

        config = msgspec.structs.replace(config, daemon=msgspec.structs.replace(config.daemon, **overrides))
    return config


def _override_argv(args) -> list[str]:
    """The overrides again, for a daemon command line (detached start, systemd unit)."""
    argv = []
    if getattr(args, "gpus", None):
        argv += ["--gpus", args.gpus]
    if getattr(args, "gpu_allocation_strategy", None):
        argv += ["--gpu-allocation-strategy", args.gpu_allocation_strategy]
    if getattr(args, "gpu_poll_interval_secs", None) is not None:
        argv += ["--gpu-poll-interval-secs", str(args.gpu_poll_interval_secs)]
    return argv


def _dirs(args, config):
    from ..paths import daemon_paths

    if args.system and os.geteuid() != 0:
        raise CliError("the system daemon must be started by root (plain `gflowd up` runs your own)")
    return daemon_paths(args.system, config.daemon.socket, config.daemon.state_dir)


def _running_pid(dirs):
    from ..daemon.instancelock import holder_pid

    # the socket-side lock too: a daemon from before the lock moved into the state directory
    pid = holder_pid(dirs.lock)
    return pid if pid is not None else holder_pid(dirs.socket_lock)


def _warn_not_acted_on(config) -> None:
    from ..config import not_acted_on

    for warning in not_acted_on(config):
        print(f"Warning: {warning}", file=sys.stderr)


def cmd_foreground(args) -> int:
    from ..daemon.server import StartupError, run_foreground

    config = _load(args)
    _warn_not_acted_on(config)  # into the daemon's log (or the journal)
    try:
        return run_foreground(config, _dirs(args, config), getattr(args, "force_empty_state", False))
    except StartupError as e:
        raise CliError(str(e)) from None


def cmd_up(args) -> int:
    if args.foreground:
        return cmd_foreground(args)
    config = _load(args)
    dirs = _dirs(args, config)
    if not args.system and not getattr(args, "personal", False) and _system_daemon_live(dirs):
        return 0
    _warn_not_acted_on(config)  # on the terminal of whoever starts it
    if not args.system and _unit_installed():  # systemd hosting first
        if _systemctl("is-active", "--quiet", UNIT_NAME).returncode == 0:
            print("gflowd is already running (systemd user service).")
            print("Use `gflowd restart` to restart it.")
            return 0
        print("Starting via systemd user service...")
        done = _systemctl("start", UNIT_NAME)
        if done.returncode != 0:
            raise CliError(f"systemctl --user start {UNIT_NAME} failed: {done.stderr.strip()}")
        _wait_until_serving(None, dirs)
        print("gflowd started (systemd user service).")
        return 0
    pid = _running_pid(dirs)
    if pid is not None:
        print("gflowd is already running.")
        if COMMANDS.get("reload") is COMMANDS.get("restart"):  # `reload` is only another name
            print("Use `gflowd restart` to restart it (running jobs keep running).")
        else:
            print("Use `gflowd reload` to hot-reload or `gflowd restart` to restart it.")
        return 0
    # the daemon repairs modes at start-up; what is created here is private from the start
    old_umask = os.umask(0o077)
    try:
        os.makedirs(dirs.logs_dir, mode=0o711 if args.system else 0o700, exist_ok=True)
        out_fd = os.open(dirs.daemon_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise CliError(f"cannot open {dirs.daemon_log}: {e.strerror}") from None
    finally:
        os.umask(old_umask)
    argv = [sys.executable, "-m", "gflow.cli.gflowd"]
    if args.config:
        argv += ["-c", os.path.abspath(args.config)]
    argv += ["up", "--foreground"] + (["--system"] if args.system else []) + _override_argv(args)
    if getattr(args, "force_empty_state", False):
        argv.append("--force-empty-state")
    with open(out_fd, "ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True,
        )
    _wait_until_serving(proc, dirs)
    print(f"gflowd started ({dirs.mode} mode, PID {proc.pid}).")
    print(f"Socket: {dirs.socket}")
    print(f"Logs: {dirs.daemon_log}")
    return 0


def _system_daemon_live(dirs) -> bool:
    """One daemon per machine: a personal daemon beside a live system one would schedule
    the same GPUs without its quotas and reservations, and clients talk to the system one
    anyway. Says so (exit 0: a daemon serves you) instead of starting a second."""
    from .. import paths
    from ..client import _listening

    system = paths.system_socket()
    if dirs.socket == system or not _listening(system):
        return False
    print(f"The system gflowd is running on this machine (socket {system}).")
    print("Your jobs go to it; no personal daemon was started.")
    print("To run your own anyway: `gflowd up --personal`, then reach it with "
          f"`--socket {dirs.socket}` or GFLOW_SOCKET.")
    return True


def _wait_until_serving(proc, dirs) -> None:
    """Poll until the socket answers: this is a one-off CLI wait for a child, not the daemon."""
    from ..client import Client, DaemonUnavailable

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
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
    if not args.system and _unit_installed() and _systemctl("is-active", "--quiet", UNIT_NAME).returncode == 0:
        done = _systemctl("stop", UNIT_NAME)  # the unit has KillMode=process: jobs keep running
        if done.returncode != 0:
            raise CliError(f"systemctl --user stop {UNIT_NAME} failed: {done.stderr.strip()}")
        print("gflowd stopped.")
        return 0
    pid = _running_pid(dirs)
    if pid is None:
        print("gflowd stopped.")  # as upstream: stopping is idempotent
        return 0
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise CliError(f"not allowed to stop gflowd (PID {pid}); it belongs to another user") from None
    deadline = time.monotonic() + STOP_TIMEOUT
    killed = False
    while _running_pid(dirs) is not None:
        if time.monotonic() > deadline:
            if killed:
                raise CliError(f"gflowd (PID {pid}) did not exit after SIGKILL")
            # Safe: every change is committed before its reply, jobs run under
            # shepherds that outlive the daemon, and the kernel releases the lock.
            print(f"gflowd (PID {pid}) did not exit within {STOP_TIMEOUT:.0f}s, sending SIGKILL",
                  file=sys.stderr)
            if _running_pid(dirs) == pid:  # the lock still names it: never a recycled pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed, deadline = True, time.monotonic() + STOP_TIMEOUT
        time.sleep(0.02)
    print("gflowd stopped.")
    return 0


def cmd_restart(args) -> int:
    args.foreground = False
    cmd_down(args)
    return cmd_up(args)


STATUS_NOT_RUNNING = 3  # LSB init-script convention: scripts tell "stopped" from "broken"


def cmd_reload(args) -> int:
    """Ask the running daemon to re-execute itself (daemon/systemd.py); the systemd unit's
    ExecReload= runs this too. Returns once the new image answers."""
    from ..client import Client, DaemonUnavailable
    from ..protocol import GflowError

    if _override_argv(args):
        # the re-executed daemon keeps its command line: new overrides need a fresh start
        print("Overrides given: restarting instead (running jobs keep running).")
        return cmd_restart(args)
    config = _load(args)  # a broken config file fails here, while the daemon still runs
    dirs = _dirs(args, config)
    if _running_pid(dirs) is None:
        raise CliError("gflowd is not running; start it with `gflowd up`")
    try:
        with Client(dirs.socket, timeout=START_TIMEOUT) as client:
            client.reload()
        # the old image stopped accepting before it answered: this is the new one
        with Client(dirs.socket, timeout=START_TIMEOUT) as client:
            st = client.status()
    except DaemonUnavailable:
        raise CliError(f"gflowd did not come back after the reload; see {dirs.daemon_log}") from None
    except GflowError as e:
        raise CliError(str(e)) from None
    print(f"gflowd reloaded (PID {st.pid}); running jobs kept running.")
    return 0


def cmd_status(args) -> int:
    from ..client import Client, DaemonUnavailable
    from ..core.display import uptime

    from ..client import locate_socket

    config = _load(args)
    dirs = _dirs(args, config) if args.system else None
    sock, why = locate_socket((dirs.socket if dirs else None) or config.daemon.socket)
    try:
        with Client(sock, timeout=5) as client:
            st = client.status()
    except DaemonUnavailable:
        print("Status: Not running")
        print("The gflowd daemon is not running.")
        return STATUS_NOT_RUNNING
    print("Status: Running")
    print(f"The gflowd daemon is running in {st.mode} mode (PID {st.pid}).")
    print(f"Socket:    {st.socket}")
    print(f"State:     {st.state_dir}")
    print(f"Version:   {st.version}")
    print(f"PID:       {st.pid}")
    print(f"Uptime:    {uptime(st.uptime_secs)}")
    print(f"Executor:  {st.executor}")
    print(f"GPUs:      {st.gpu_total} total, {st.gpu_available} available")
    print(f"Clients:   use this daemon ({why})")
    if st.gpu_poll_ok_at is not None or st.gpu_poll_error is not None:
        import time

        ok = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.gpu_poll_ok_at)) if st.gpu_poll_ok_at else "never"
        print(f"GPU poll:  last success {ok}" + (f"; failing: {st.gpu_poll_error}" if st.gpu_poll_error else ""))
    return 0


COMMANDS = {
    None: cmd_foreground,
    "up": cmd_up, "start": cmd_up,
    "down": cmd_down, "stop": cmd_down,
    "restart": cmd_restart, "reload": cmd_reload,
    "status": cmd_status,
    "init": cmd_init,
    "service": cmd_service,
}


def main(argv=None) -> int:
    def dispatch(args):
        if args.command is None:
            args.foreground = True
        return COMMANDS[args.command](args)

    return run(PROG, build_parser, dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
