"""Whole-process start-up of the everyday commands, side by side with the interpreter floor
and (when installed in /tmp/up, `pip install runqd==0.4.18`) upstream's binaries.

    python3 -m venv /tmp/gfb && /tmp/gfb/bin/pip install -q .
    /tmp/gfb/bin/python bench/cli_startup.py --bin /tmp/gfb/bin [--rounds 41] [--upstream /tmp/up/bin]

Each round runs every command once, alternating ours and upstream's, so a noisy machine
slows both alike; the figures are medians over the rounds (ms, fork to exit):

  floor        python -I -S -c pass (the interpreter alone) and this venv's `python -c pass`
  gqueue       on an empty queue
  gbatch true  submits a job (which runs and ends at once; the round then waits 0.3 s)
  gjob show ID a job submitted for tomorrow (--begin now+1d)
  gcancel ID   that job
  complete     `gjob show <TAB>` through argcomplete (ours only)

Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _daemon import BenchDaemon, add_bin_option, machine_note  # noqa: E402


def _timed(argv, env, cwd) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
    return elapsed, out.stdout


class Upstream:
    """runqd's daemon in the foreground, in its own HOME and port, stopped by its pid."""

    def __init__(self, bin_dir: Path, port: int = 59813):
        self.bin = bin_dir
        self.base = Path(tempfile.mkdtemp(prefix="gfup", dir="/tmp"))
        home = self.base / "home"
        (home / ".config" / "gflow").mkdir(parents=True)
        (home / ".config" / "gflow" / "gflow.toml").write_text(
            f'[daemon]\nhost = "127.0.0.1"\nport = {port}\n\n[executor]\ntype = "process"\n')
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GFLOW_", "XDG_", "TMUX"))}
        self.env["HOME"] = str(home)
        self.cwd = str(home)
        log = open(self.base / "daemon.log", "ab")
        self.proc = subprocess.Popen([str(bin_dir / "gflow"), "__multicall", "gflowd"], env=self.env,
                                     cwd=self.cwd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while subprocess.run([str(bin_dir / "gqueue")], env=self.env, capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("upstream gflowd did not start: " + (self.base / "daemon.log").read_text()[-1000:])
            time.sleep(0.1)

    def argv(self, tool: str) -> list[str]:
        return [str(self.bin / tool)]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)


_SUBMITTED = re.compile(r"Submitted batch job (\d+)")


def _round(side, results: dict, label: str) -> None:
    env, cwd = side.env, str(side.home if isinstance(side, BenchDaemon) else side.cwd)
    t, _ = _timed(side.argv("gqueue"), env, cwd)
    results.setdefault((label, "gqueue"), []).append(t)
    t, _ = _timed(side.argv("gbatch") + ["true"], env, cwd)
    results.setdefault((label, "gbatch true"), []).append(t)
    # let that job start and end before the next command: its launch (a process of the
    # daemon's) would otherwise compete for the CPUs with the command being measured
    time.sleep(0.3)
    _, out = _timed(side.argv("gbatch") + ["--begin", "now+1d", "true"], env, cwd)
    job = _SUBMITTED.search(out).group(1)  # upstream's `gjob show` takes no `@`
    t, _ = _timed(side.argv("gjob") + ["show", job], env, cwd)
    results.setdefault((label, "gjob show ID"), []).append(t)
    t, _ = _timed(side.argv("gcancel") + [job], env, cwd)
    results.setdefault((label, "gcancel ID"), []).append(t)
    if isinstance(side, BenchDaemon):  # argcomplete, as the shell calls it on <TAB>
        line = "gjob show "
        complete = dict(env, _ARGCOMPLETE="1", _ARGCOMPLETE_SHELL="bash", _ARGCOMPLETE_IFS="\n", COMP_LINE=line,
                        COMP_POINT=str(len(line)), _ARGCOMPLETE_STDOUT_FILENAME="/dev/null")
        t, _ = _timed(side.argv("gjob"), complete, cwd)
        results.setdefault((label, "complete 'gjob show <TAB>'"), []).append(t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bin_option(parser)
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--upstream", default="/tmp/up/bin", help="runqd's bin directory (skipped if absent)")
    args = parser.parse_args()
    python = str(Path(args.bin) / "python")
    floors = {"python3 -I -S -c pass": [sys.executable, "-I", "-S", "-c", "pass"],
              "venv python -c pass": [python, "-c", "pass"]}
    upstream_bin = Path(args.upstream)
    results: dict = {}
    ours = BenchDaemon(args.bin).start()
    theirs = Upstream(upstream_bin) if (upstream_bin / "gqueue").exists() else None
    try:
        for _ in range(2):  # warm the page cache and .pyc files
            _round(ours, {}, "")
            if theirs:
                _round(theirs, {}, "")
        for _ in range(args.rounds):
            for name, argv in floors.items():
                results.setdefault(("floor", name), []).append(_timed(argv, None, None)[0])
            _round(ours, results, "gflow")
            if theirs:
                _round(theirs, results, "upstream")
    finally:
        ours.stop()
        if theirs:
            theirs.close()
    print(machine_note())
    print(f"# median wall time of {args.rounds} alternating rounds, whole process (ms)")
    for name in floors:
        print(f"{'floor: ' + name:34s} {statistics.median(results[('floor', name)]) * 1000:7.1f}")
    print(f"{'command':34s} {'gflow':>7s} {'upstream':>9s} {'ratio':>6s}")
    for command in ("gqueue", "gbatch true", "gjob show ID", "gcancel ID", "complete 'gjob show <TAB>'"):
        mine = statistics.median(results[("gflow", command)]) * 1000
        line = f"{command:34s} {mine:7.1f}"
        if theirs and ("upstream", command) in results:
            up = statistics.median(results[("upstream", command)]) * 1000
            line += f" {up:9.1f} {mine / up:6.2f}"
        print(line)


if __name__ == "__main__":
    main()
