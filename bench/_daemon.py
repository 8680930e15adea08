"""Shared by the bench scripts: a private user-mode gflowd in a temporary directory.

    with BenchDaemon() as d:            # starts `gflowd up --foreground`, waits for the socket
        with d.client() as c: ...       # gflow.client.Client on that socket
        d.cli("gqueue", "-a")           # a CLI as a subprocess, with the daemon's environment
        d.pid                           # the daemon's pid (for psutil)

Every script accepts `--bin DIR`: the directory holding the console scripts to run
(default: beside this interpreter, i.e. the project's .venv). Point it at a regular
(non-editable) install, e.g. `python3 -m venv /tmp/gfb && /tmp/gfb/bin/pip install .`,
to measure start-up without the editable install's import hook.

The bench scripts print figures; they never assert timings.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:  # an interpreter with gflow installed measures that gflow (e.g. an older release)
    import gflow  # noqa: F401
except ImportError:
    sys.path.insert(0, str(ROOT))


def add_bin_option(parser) -> None:
    parser.add_argument(
        "--bin", metavar="DIR", default=str(Path(sys.executable).parent),
        help="directory with the gflow console scripts (default: this interpreter's)",
    )


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summary_ms(values) -> str:
    ms = [v * 1000 for v in values]
    return (f"p50 {statistics.median(ms):7.1f} ms   p95 {percentile(ms, 95):7.1f} ms   "
            f"min {min(ms):7.1f} ms   max {max(ms):7.1f} ms   (n={len(ms)})")


def machine_note() -> str:
    import platform

    load = os.getloadavg()
    return (f"# {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
            f"{platform.platform()}")


class BenchDaemon:
    def __init__(self, bin_dir: str | None = None, config: str = "", keep: bool = False,
                 gpu: str = "  backend: none\n"):
        self.bin_dir = Path(bin_dir or Path(sys.executable).parent)
        # short (socket paths); elsewhere with GFLOW_BENCH_DIR, e.g. where a real daemon's state
        # would be: a filesystem's costs (creating a file) differ between its directories
        self.base = Path(tempfile.mkdtemp(prefix="gfbench", dir=os.environ.get("GFLOW_BENCH_DIR", "/tmp")))
        self.home = self.base / "home"
        self.runtime = self.base / "run"
        (self.home / ".config" / "gflow").mkdir(parents=True)
        self.runtime.mkdir(mode=0o700)
        (self.home / ".config" / "gflow" / "gflow.yaml").write_text("gpu:\n" + gpu + config)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GFLOW_", "XDG_", "PYTHON")) and k != "HOME"}
        self.env.update(
            HOME=str(self.home),
            XDG_RUNTIME_DIR=str(self.runtime),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
        )
        self.socket = str(self.runtime / "gflow" / "gflowd.sock")
        self.state_dir = self.home / ".local" / "share" / "gflow"
        self.keep = keep
        self.proc: subprocess.Popen | None = None

    # ------------------------------------------------------------------ tools
    def argv(self, tool: str) -> list[str]:
        script = self.bin_dir / tool
        if not script.exists():
            raise SystemExit(f"bench: no {tool} in {self.bin_dir} (use --bin DIR)")
        return [str(script)]

    def cli(self, tool: str, *args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(
            self.argv(tool) + list(args), env=self.env, cwd=str(self.home), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out

    def timed_cli(self, tool: str, *args: str) -> float:
        """Wall time of one whole CLI process (fork to exit), output discarded."""
        t0 = time.perf_counter()
        out = subprocess.run(self.argv(tool) + list(args), env=self.env, cwd=str(self.home),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({out.returncode}): {out.stderr.decode()}")
        return elapsed

    def client(self):
        from gflow.client import Client

        return Client(self.socket).connect()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 20.0) -> "BenchDaemon":
        from gflow.client import Client, DaemonUnavailable

        log = open(self.base / "daemon.log", "ab")
        self.proc = subprocess.Popen(self.argv("gflowd") + ["up", "--foreground"], env=self.env,
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     cwd=str(self.home), start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gflowd exited:\n{self.log_text()[-2000:]}")
            try:
                Client(self.socket).connect().close()
                return self
            except DaemonUnavailable:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gflowd not ready:\n{self.log_text()[-2000:]}")
                time.sleep(0.02)

    def log_text(self) -> str:
        p = self.base / "daemon.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def _terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> "BenchDaemon":
        """Stop the daemon (SIGTERM) and start it again on the same state."""
        self._terminate()
        return self.start()

    def stop(self) -> None:
        self._terminate()
        self._kill_shepherds()
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def _kill_shepherds(self) -> None:
        """Shepherds outlive their daemon by design: end the ones this run started, by pid."""
        import psutil

        for proc in psutil.process_iter(["cmdline"]):
            try:
                if any(str(self.base) in part for part in proc.info.get("cmdline") or []):
                    proc.kill()
            except psutil.Error:
                pass

    def __enter__(self) -> "BenchDaemon":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def specs(n: int, command: str = "true", **fields):
    """n JobSpecs for Client.submit_many, with this process's cwd and environment."""
    from gflow.protocol import JobSpec

    env, cwd = dict(os.environ), os.getcwd()
    return [JobSpec(command=command, run_dir=cwd, env=env, **fields) for _ in range(n)]
