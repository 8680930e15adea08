"""What the state and recovery hardening costs: the status reserve written before every
launch, the one-off scan of the process table for unrecorded shepherds after a crash, and the
start-up repair of file modes. Prints figures; asserts nothing."""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gflow.daemon import statedir  # noqa: E402
from gflow.daemon.executors.process import Executor  # noqa: E402
from gflow.daemon.executors.statusfile import RESERVE_BYTES as STATUS_RESERVE_BYTES  # noqa: E402
from gflow.paths import DaemonPaths  # noqa: E402


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    import psutil

    with tempfile.TemporaryDirectory() as base:
        ex = Executor(os.path.join(base, "runners"), lambda *a: None)
        path = os.path.join(base, "runners", "1.status.reserve")
        reserve = _timed(lambda: ex._write_private(path, b" " * STATUS_RESERVE_BYTES), 2000)
        print(f"status reserve per launch     : median {statistics.median(reserve) * 1e6:7.1f} us  (n=2000)")
        scan = _timed(lambda: ex._live_shepherds(), 20)
        print(f"shepherd scan at a crash start: median {statistics.median(scan) * 1e3:7.1f} ms  "
              f"({len(psutil.pids())} processes, n=20)")
        dirs = DaemonPaths("user", os.path.join(base, "s.sock"), os.path.join(base, "state"))
        old = os.umask(0o022)
        try:
            statedir.prepare(dirs)
            for i in range(1000):
                open(os.path.join(dirs.state_dir, f"gflow.db.backup.v{i}"), "w").close()
            repair = _timed(lambda: statedir.prepare(dirs), 20)
        finally:
            os.umask(old)
        print(f"start-up mode repair          : median {statistics.median(repair) * 1e3:7.2f} ms  "
              "(state dir with 1,000 files, n=20)")


if __name__ == "__main__":
    main()
