#!/usr/bin/env python3
"""What one job costs the fork server and its shepherd, without a daemon in the way.

    .venv/bin/python bench/forkserver.py [--jobs 2000] [--in-flight 8] [--dir /tmp]

Starts `gflow/daemon/executors/forkserver.py` on a socket of our own, writes the runner files
of --jobs `bash -c true` jobs (the daemon's own: no identity switch) into a fresh directory
under --dir, and asks for their shepherds, --in-flight at a time, each end awaited on the pidfd
the server passes back. Prints jobs/s, and per job: the server's CPU and page faults, and those
of its reaped children (each shepherd with its job: the shepherd waits for its job, so the
job's are in its own children's). Figures only; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from _daemon import ROOT, machine_note

FORKSERVER = ROOT / "gflow" / "daemon" / "executors" / "forkserver.py"
# as the daemon starts it: the shepherds' request signals blocked from their first instruction
MASK = {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGALRM, signal.SIGHUP}


def _write_runner_files(runners: str, logs: str, job_id: int, env: dict[str, str]) -> None:
    spec = dict(job_id=job_id, uid=os.getuid(), gid=os.getgid(), user="bench",
                drop_privileges=False, log_path=f"{logs}/{job_id}.log", cwd=logs,
                argv=["bash", "-c", "true"], env=env, grace_secs=5.0,
                status_path=f"{runners}/{job_id}.status.json",
                status_reserve=f"{runners}/{job_id}.status.reserve")
    with open(f"{runners}/{job_id}.spec.json", "w") as f:
        json.dump(spec, f)
    with open(f"{runners}/{job_id}.status.reserve", "w") as f:
        f.write(" " * 512)


def _counters(pid: int) -> tuple[int, int, float, float]:
    """(faults, children's faults, CPU s, children's CPU s) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[7]), int(fields[8]), (int(fields[11]) + int(fields[12])) / tick,
            (int(fields[13]) + int(fields[14])) / tick)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--in-flight", type=int, default=8)
    ap.add_argument("--dir", default=os.environ.get("GFLOW_BENCH_DIR", "/tmp"))
    opts = ap.parse_args()
    print(machine_note())
    base = tempfile.mkdtemp(prefix="gfbench", dir=opts.dir)
    runners, logs = f"{base}/runners", f"{base}/logs"
    os.mkdir(runners, 0o700)
    os.mkdir(logs)
    env = {k: os.environ[k] for k in ("PATH", "LANG", "HOME") if k in os.environ}
    for job_id in range(opts.jobs):
        _write_runner_files(runners, logs, job_id, env)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, MASK)
    server = subprocess.Popen([sys.executable, "-I", "-S", str(FORKSERVER), runners],
                              stdin=theirs, stdout=subprocess.DEVNULL)
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    theirs.close()
    try:
        running: set[int] = set()
        sent = ended = 0
        before = None
        t0 = time.perf_counter()
        while ended < opts.jobs:
            while sent < opts.jobs and len(running) < opts.in_flight:
                ours.send(b"%d" % sent)
                sent += 1
                answer, fds, _, _ = socket.recv_fds(ours, 256, 1)
                if not fds:
                    raise SystemExit(f"the fork server refused: {answer!r}")
                if before is None:  # from the first answer: the server's start-up left out
                    before = _counters(server.pid)
                running.add(fds[0])
            for fd in select.select(list(running), [], [])[0]:
                os.close(fd)
                running.discard(fd)
                ended += 1
        span = time.perf_counter() - t0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _children(server.pid):
            time.sleep(0.01)  # until the last are reaped: only then are their counters the server's
        after = _counters(server.pid)
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(base, ignore_errors=True)
    n = opts.jobs
    print(f"{n:,} `bash -c true` jobs, {opts.in_flight} at a time, under {opts.dir}: {n / span:,.0f} jobs/s   "
          f"server {(after[2] - before[2]) * 1000 / n:.2f} ms/job {(after[0] - before[0]) / n:.0f} faults/job   "
          f"shepherd + job {(after[3] - before[3]) * 1000 / n:.2f} ms/job {(after[1] - before[1]) / n:.0f} faults/job")
    return 0


def _children(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except OSError:
        return []


if __name__ == "__main__":
    sys.exit(main())
