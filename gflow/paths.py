"""Where gflow keeps its socket, state and config, in user mode and in system mode.

User mode follows XDG (an empty variable counts as unset); system mode uses the FHS paths
that the packaged unit expects. Config keys `daemon.socket` / `daemon.state_dir` move either.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

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


def user_config_files() -> list[str]:
    """Existing user config files, lowest precedence first (TOML for upstream users, then YAML)."""
    base = config_dir()
    names = ("gflow.toml", "gflow.yaml", "gflow.yml")
    return [p for p in (os.path.join(base, n) for n in names) if os.path.exists(p)]


@dataclass(frozen=True)
class DaemonPaths:
    mode: str  # "user" | "system"
    socket: str
    state_dir: str

    @property
    def lock(self) -> str:
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
