"""`gflowd service install|uninstall`: the systemd user unit that hosts the personal daemon,
and the systemctl helpers `gflowd up`/`down` use when that unit is installed.

Apart from gflowd.py, which keeps the daemon's lifecycle; the helpers shared with it
(`_load`, `_dirs`, `_running_pid`, `_override_argv`) are imported from there on use, since
gflowd imports this module.
"""
from __future__ import annotations

import os
import subprocess
import sys

from .common import CliError

UNIT_NAME = "gflowd.service"


def _unit_path() -> str:
    """`<parent of CONFIG>/systemd/user/gflowd.service`."""
    from .. import paths

    return os.path.join(os.path.dirname(paths.config_dir()), "systemd", "user", UNIT_NAME)


def _systemd_available() -> bool:
    import shutil

    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return bool(shutil.which("systemctl") and runtime
                and os.path.exists(os.path.join(runtime, "systemd", "private")))


def _unit_installed() -> bool:
    return os.path.exists(_unit_path()) and _systemd_available()


def _systemctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", "--user", *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _login_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "$USER"


def _unit_word(word: str) -> str:
    """One ExecStart argument in systemd's syntax (double quotes when needed, `%` doubled)."""
    word = word.replace("%", "%%")
    if word and all(c.isalnum() or c in "-_./=,:+@" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(args) -> str:
    from .gflowd import _override_argv

    argv = [sys.executable, "-m", "gflow.cli.gflowd"]
    if args.config:
        argv += ["-c", os.path.abspath(args.config)]
    reload = argv + ["reload"]
    argv += ["up", "--foreground"] + _override_argv(args)
    return (
        "[Unit]\n"
        "Description=GFlow daemon\n"
        "After=network.target\n"
        "\n"
        "[Service]\n"
        "Type=notify\n"
        f"ExecStart={' '.join(_unit_word(w) for w in argv)}\n"
        "# re-executes the daemon in place: the socket stays open and running jobs go on\n"
        f"ExecReload={' '.join(_unit_word(w) for w in reload)}\n"
        "# jobs run under shepherds in this unit's cgroup: stopping the daemon must not kill them\n"
        "KillMode=process\n"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def cmd_service(args) -> int:
    """`gflowd service install|uninstall`: a systemd user unit for the
    personal daemon. The system daemon uses the packaged unit instead."""
    from .gflowd import _dirs, _load, _running_pid

    if args.system:
        raise CliError("the system daemon comes with the Debian package (gflowd.service, gflowd.socket): "
                       "`make deb`, `apt-get install ./dist/gflow_*.deb`, `systemctl enable --now gflowd.socket`")
    if args.service_command == "install":
        config = _load(args)  # overrides and configuration are checked before anything changes
        if not _systemd_available():
            raise CliError(
                "systemd user services are not available here (no user systemd manager). "
                "Run the daemon directly with `gflowd up` instead, or log in through a session that has "
                f"one ($XDG_RUNTIME_DIR/systemd/private); `loginctl enable-linger {_login_name()}` "
                "(an admin may need to run it) keeps a manager running from boot."
            )
        pid = _running_pid(_dirs(args, config))
        if pid is not None and not _unit_installed():
            raise CliError(f"gflowd is already running (PID {pid}) outside systemd; run `gflowd down` first")
        path = _unit_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(unit_text(args))
        os.replace(tmp, path)
        for step in (("daemon-reload",), ("enable", "--now", UNIT_NAME)):
            done = _systemctl(*step)
            if done.returncode != 0:
                raise CliError(f"systemctl --user {' '.join(step)} failed: {done.stderr.strip()}")
        print("gflowd systemd user service installed and started.")
        print(f"Unit: {path}")
        print("gflowd will auto-start on login and restart on crash.")
        print(f"To start it at boot without logging in: loginctl enable-linger {_login_name()}")
        return 0
    if not _systemd_available():
        raise CliError("systemd user services are not available on this system.")
    _systemctl("stop", UNIT_NAME)  # errors ignored, as upstream, except the removal below
    _systemctl("disable", UNIT_NAME)
    try:
        os.unlink(_unit_path())
    except FileNotFoundError:
        pass
    except OSError as e:
        raise CliError(f"cannot remove {_unit_path()}: {e.strerror}") from None
    _systemctl("daemon-reload")
    print("gflowd systemd user service removed.")
    return 0
