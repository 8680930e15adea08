"""Where gflow keeps its socket, state and config, in user mode and in system mode.

User mode follows XDG (an empty variable counts as unset); system mode uses the FHS paths
that the packaged unit expects. Config keys `daemon.socket` / `daemon.state_dir` move either.
"""
from __future__ import annotations

import os

SYSTEM_CONFIG = "/etc/gflow/gflow.yaml"
SYSTEM_SOCKET = "/run/gflow/gflowd.sock"
SYSTEM_STATE = "/var/lib/gflow"


def _xdg(var: str, fallback: str) -> str:
    value = os.environ.get(var, "")
    return value if value else os.path.join(os.path.expanduser("~"), fallback)


def config_dir() -> str:
    return os.path.join(_xdg("XDG_CONFIG_HOME", ".config"), "gflow")


def data_dir() -> str:
    return os.path.join(_xdg("XDG_DATA_HOME", ".local/share"), "gflow")


def runtime_dir() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime:
        return os.path.join(runtime, "gflow")
    return os.path.join(_xdg("XDG_STATE_HOME", ".local/state"), "gflow")


def user_socket() -> str:
    return os.path.join(runtime_dir(), "gflowd.sock")


def system_socket() -> str:
    """Where clients look for the system daemon: `$GFLOW_SYSTEM_SOCKET` (a non-standard
    layout, or a test's daemon in a temp dir), else the packaged path."""
    return os.environ.get("GFLOW_SYSTEM_SOCKET") or SYSTEM_SOCKET


def user_config_files() -> list[str]:
    """Existing user config files, lowest precedence first (TOML for upstream users, then YAML)."""
    base = config_dir()
    names = ("gflow.toml", "gflow.yaml", "gflow.yml")
    return [p for p in (os.path.join(base, n) for n in names) if os.path.exists(p)]


class DaemonPaths:
    """Where one daemon lives. Immutable; a plain class rather than a dataclass because
    `dataclasses` (with `inspect`) costs several ms of start-up on every CLI call."""

    __slots__ = ("mode", "socket", "state_dir")

    def __init__(self, mode: str, socket: str, state_dir: str):
        object.__setattr__(self, "mode", mode)  # "user" | "system"
        object.__setattr__(self, "socket", socket)
        object.__setattr__(self, "state_dir", state_dir)

    def __setattr__(self, name, value):
        raise AttributeError(f"DaemonPaths is immutable (cannot set {name!r})")

    def __eq__(self, other):
        if not isinstance(other, DaemonPaths):
            return NotImplemented
        return (self.mode, self.socket, self.state_dir) == (other.mode, other.socket, other.state_dir)

    def __hash__(self):
        return hash((self.mode, self.socket, self.state_dir))

    def __repr__(self):
        return f"DaemonPaths(mode={self.mode!r}, socket={self.socket!r}, state_dir={self.state_dir!r})"

    @property
    def lock(self) -> str:
        """The single-instance lock: in the state directory, because two daemons on one state
        directory would run its jobs twice, whatever sockets they serve."""
        return os.path.join(self.state_dir, "gflowd.lock")

    @property
    def socket_lock(self) -> str:
        """A second lock beside the socket: two daemons on one socket path would unlink each
        other's socket."""
        return os.path.join(os.path.dirname(self.socket), "gflowd.lock")

    @property
    def database(self) -> str:
        return os.path.join(self.state_dir, "gflow.db")

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.state_dir, "logs")

    @property
    def runners_dir(self) -> str:
        return os.path.join(self.state_dir, "runners")

    @property
    def daemon_log(self) -> str:
        return os.path.join(self.logs_dir, "daemon.out.log")


def daemon_paths(system: bool, socket: str | None = None, state_dir: str | None = None) -> DaemonPaths:
    if system:
        return DaemonPaths("system", socket or SYSTEM_SOCKET, state_dir or SYSTEM_STATE)
    return DaemonPaths("user", socket or user_socket(), state_dir or data_dir())
