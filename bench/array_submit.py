#!/usr/bin/env python3
"""Submit time of one big array: `gbatch --array 1-N true` against a fresh daemon.

    python bench/array_submit.py [--tasks 10000] [--hold] [--run]

Starts a private user-mode gflowd in a temporary directory, times the gbatch command end
to end (process start to exit, as `time` would), checks that it made N jobs in one request,
and prints the figure. `--hold` submits held jobs (no launches competing for the CPU while
gbatch prints); `--run` also waits until every task has finished and prints that time too.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tool(name: str) -> list[str]:
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", "gflow", name]


def _kill_shepherds(base: Path) -> None:
    """Shepherds outlive their daemon by design; end the ones this run started (by pid)."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        if any(str(base) in part for part in proc.info.get("cmdline") or []):
            try:
                proc.kill()
            except psutil.Error:
                pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--hold", action="store_true", help="submit held (measure submission alone)")
    ap.add_argument("--run", action="store_true", help="also wait for every task to finish")
    ap.add_argument("--repeat", type=int, default=1)
    opts = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="gfb", dir="/tmp"))
    home, runtime = base / "home", base / "run"
    (home / ".config" / "gflow").mkdir(parents=True)
    runtime.mkdir(mode=0o700)
    (home / ".config" / "gflow" / "gflow.yaml").write_text("gpu:\n  backend: none\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GFLOW_", "XDG_"))}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), PYTHONPATH=str(ROOT))
    sock = runtime / "gflow" / "gflowd.sock"
    log = open(base / "daemon.log", "wb")
    daemon = subprocess.Popen(tool("gflowd") + ["up", "--foreground"], env=env, stdout=log,
                              stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    from gflow.client import Client, DaemonUnavailable
    from gflow.protocol import JobState

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                Client(str(sock)).connect().close()
                break
            except DaemonUnavailable:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    print((base / "daemon.log").read_text(), file=sys.stderr)
                    return 1
                time.sleep(0.02)
        argv = tool("gbatch") + (["--hold"] if opts.hold else []) + ["--array", f"1-{opts.tasks}", "true"]
        figures = []
        first_id = 1
        for _ in range(opts.repeat):
            t0 = time.perf_counter()
            out = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=str(home))
            elapsed = time.perf_counter() - t0
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1
            lines = [l for l in out.stdout.splitlines() if l.startswith("Submitted batch job")]
            assert len(lines) == opts.tasks, f"{len(lines)} jobs submitted"
            figures.append(elapsed)
            print(f"gbatch --array 1-{opts.tasks} true{' (held)' if opts.hold else ''}: "
                  f"{elapsed:.3f} s end to end ({opts.tasks / elapsed:,.0f} jobs/s)")
            if opts.run and not opts.hold:
                ids = list(range(first_id, first_id + opts.tasks))
                with Client(str(sock)) as c:
                    jobs = c.wait(ids, timeout=3600)
                done = time.perf_counter() - t0
                bad = [j.id for j in jobs if j.state is not JobState.FINISHED]
                print(f"  all {opts.tasks} tasks finished {done:.1f} s after submission"
                      + (f" ({len(bad)} not Finished)" if bad else ""))
            first_id += opts.tasks
        if len(figures) > 1:
            print(f"best {min(figures):.3f} s, median {sorted(figures)[len(figures) // 2]:.3f} s")
    finally:
        daemon.terminate()
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        _kill_shepherds(base)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
