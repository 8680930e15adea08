"""Test helpers: a real gflowd in a temporary directory, the CLIs as subprocesses, waiting."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("gflowd", "gbatch", "gqueue", "gjob", "gcancel", "ginfo", "gctl", "gstats")


def tool_argv(tool: str) -> list[str]:
    """The installed console script when present (what users run), else `python -m gflow`."""
    script = Path(sys.executable).parent / tool
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "gflow", tool]


class Daemon:
    """A user-mode gflowd with its own HOME, XDG dirs and config."""

    def __init__(self, base: Path, config: str = ""):
        self.base = base
        self.home = base / "home"
        self.runtime = base / "run"
        for d in (self.home, self.runtime, self.home / ".config" / "gflow"):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        (self.home / ".config" / "gflow" / "gflow.yaml").write_text(
            ("" if "gpu:" in config else "gpu:\n  backend: none\n") + config
        )
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("GFLOW_", "XDG_")) and k not in ("HOME",)
        }
        self.env.update(
            HOME=str(self.home),
            XDG_RUNTIME_DIR=str(self.runtime),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            PYTHONPATH=str(ROOT),
            # clients prefer a live system daemon; one on the host machine must not capture
            # the CLIs of a test that talks to its own daemon
            GFLOW_SYSTEM_SOCKET=str(base / "no-system-daemon.sock"),
        )
        self.socket = self.runtime / "gflow" / "gflowd.sock"
        self.state_dir = self.home / ".local" / "share" / "gflow"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> "Daemon":
        log = open(self.base / "daemon.log", "ab")
        self.proc = subprocess.Popen(
            tool_argv("gflowd") + ["up", "--foreground"],
            env=self.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        from gflow.client import Client, DaemonUnavailable

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"gflowd exited: {self.log_text()[-2000:]}")
            try:
                Client(str(self.socket)).connect().close()
                return
            except DaemonUnavailable:
                time.sleep(0.02)
        raise RuntimeError(f"gflowd not ready: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        p = self.base / "daemon.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self, sig: int = 15) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self):
        from gflow.client import Client

        return Client(str(self.socket)).connect()

    def cli(self, tool: str, *args: str, input: str | None = None, env: dict | None = None,
            cwd: str | None = None, check: bool = False, user: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        full_env = dict(self.env, **(env or {}))
        proc = subprocess.run(
            tool_argv(tool) + list(args), env=full_env, input=input, text=True,
            capture_output=True, cwd=cwd or str(self.home), timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL, user=user,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{tool} {args} failed ({proc.returncode}): {proc.stderr}")
        return proc


def kill_leftover_jobs(d: Daemon) -> None:
    """Shepherds outlive the daemon by design; tests must not leave them behind."""
    kill_processes_under(d.base)


def kill_processes_under(*bases) -> None:
    """Kill every process whose command line names one of `bases` (a test daemon's
    directories): its jobs, shepherds and launcher."""
    import psutil

    names = [str(base) for base in bases]
    for proc in psutil.process_iter(["cmdline"]):
        if any(name in part for name in names for part in (proc.info.get("cmdline") or [])):
            try:
                proc.kill()
            except psutil.Error:
                pass


def status_written(runners_dir: Path, job_id: int) -> bool:
    """Whether a job's shepherd has left how it ended: filled in place in its reserve, or as
    ``<id>.status.json`` where it had none."""
    for name in (f"{job_id}.status.reserve", f"{job_id}.status.json"):
        try:
            if (runners_dir / name).read_bytes()[:1] == b"{":
                return True
        except OSError:
            pass
    return False


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll a condition from a test (the daemon itself never polls)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
