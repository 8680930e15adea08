"""The caller's tmux server, for the CLIs (`gjob attach` / `close-sessions`, `gqueue -T`) and
a tmux executor: one place that knows how to ask tmux about sessions.

Every name is matched exactly (`=name`): tmux otherwise takes a prefix, and `gjob-1` would
find `gjob-12`.
"""
from __future__ import annotations

import os
import subprocess
from typing import Optional


def run(*args: str) -> Optional[subprocess.CompletedProcess]:
    """Run tmux on the caller's server; None when tmux is not installed."""
    try:
        return subprocess.run(["tmux", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError:
        return None


def session_exists(name: str) -> bool:
    done = run("has-session", "-t", f"={name}")
    return done is not None and done.returncode == 0


def sessions() -> set[str]:
    """Names of the live sessions; none when tmux is missing or has no server."""
    done = run("list-sessions", "-F", "#{session_name}")
    return set(done.stdout.split()) if done is not None and done.returncode == 0 else set()


def kill_session(name: str) -> bool:
    done = run("kill-session", "-t", f"={name}")
    return done is not None and done.returncode == 0


def attach(name: str) -> None:
    """Replace this process with tmux showing the session (switching, inside tmux)."""
    os.execvp("tmux", ["tmux", "switch-client" if os.environ.get("TMUX") else "attach-session", "-t", f"={name}"])
