"""Resident memory of a job's process tree, as the memory watch measures it."""
from __future__ import annotations

import subprocess
import sys
import time

import psutil

from gflow.daemon import memwatch


def test_tree_rss_counts_descendants_and_flags_only_jobs_over_their_limit(tmp_path):
    ready = tmp_path / "ready"
    child = f"b = bytearray(80 * 2**20); open({str(ready)!r}, 'w').close(); import time; time.sleep(30)"
    # a stand-in shepherd: the memory sits in its grandchild
    parent = subprocess.Popen(["sh", "-c", f'{sys.executable} -c "{child}"; :'])
    try:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        used = memwatch.tree_rss_mb(parent.pid)
        assert 80 <= used < 200
        targets = [memwatch.Target(1, parent.pid, 50), memwatch.Target(2, parent.pid, 500)]
        assert [job for job, _ in memwatch.over_limit(targets)] == [1]
    finally:
        for proc in psutil.Process(parent.pid).children(recursive=True):
            proc.kill()
        parent.kill()
        parent.wait()
    assert memwatch.tree_rss_mb(parent.pid) == 0.0  # gone: nothing to count
