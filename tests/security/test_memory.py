"""A hostile account against the daemon's memory: answers it never reads, requests it never
finishes, and log reads of huge files. None may raise the daemon's RSS by 100 MB."""
from __future__ import annotations

import subprocess
import threading

from gflow.protocol import JobSpec

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from security._attack import (  # noqa: F401  (make_system_daemon is a fixture)
    Attack,
    acknowledged_job,
    assert_others_served,
    make_system_daemon,
    rss_mb,
)

pytestmark = NEEDS_ROOT

BUDGET_MB = 100


class PeakRss:
    """The daemon's highest RSS while the block runs (sampled: a short peak may be missed,
    which can only make the check more lenient, never fail a correct daemon)."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.peak = 0.0
        self._done = threading.Event()

    def __enter__(self) -> "PeakRss":
        self._thread = threading.Thread(target=self._sample)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb(self.daemon))
            if self._done.wait(0.01):
                return

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def test_listings_nobody_reads_do_not_pile_up(make_system_daemon, accounts):
    attack = "40 connections asking for a 30,000-job listing and never reading it"
    daemon = make_system_daemon()
    alice, bob = accounts["alice"], accounts["bob"]
    with daemon.client() as root:
        root.submit_many([JobSpec(command="true", run_dir="/", hold=True, name=f"filler-{i}") for i in range(30_000)])
        assert len(root.list()) == 30_000  # also warms the daemon up
    job_id = acknowledged_job(daemon, alice)
    before = rss_mb(daemon)
    with Attack(daemon, bob, """
        idle = []
        for _ in range(40):
            s = connect()
            hello(s)
            s.sendall(frame({"id": 2, "method": "jobs.list", "params": {}}))
            idle.append(s)
        s = session()  # served after the others: when it is answered, they were handled
        s.sendall(frame({"id": 2, "method": "jobs.list", "params": {}}))
        n = 0
        while True:
            r = reply(s)
            n += len(r["result"])
            if not r.get("more"):
                break
        print("ready", n)
        hold()
    """, attack) as a:
        assert int(a.figures()[0]) >= 30_000, f"{attack}: the reader's own listing was incomplete"
        grown = rss_mb(daemon) - before
        assert grown < BUDGET_MB, f"{attack}: daemon RSS grew by {grown:.0f} MB"
        assert_others_served(daemon, alice, job_id, attack)
    grown = rss_mb(daemon) - before
    assert grown < BUDGET_MB, f"{attack}: daemon RSS stayed {grown:.0f} MB higher after they closed"


def test_unfinished_big_requests_are_bounded(make_system_daemon, accounts):
    attack = "16 requests announcing 64 MiB each, sent almost whole and never finished"
    daemon = make_system_daemon()
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    before = rss_mb(daemon)
    with PeakRss(daemon) as peak, Attack(daemon, bob, """
        size = 64 * 1024 * 1024 - 64
        chunk = b"\\xa0" * (1024 * 1024)
        conns, sent = [], 0
        for _ in range(16):
            s = session()
            s.sendall(struct.pack(">I", size))
            s.settimeout(1)  # the daemon stops reading what it has no room for
            try:
                for _ in range(63):
                    s.sendall(chunk)
                    sent += len(chunk)
            except (socket.timeout, OSError):
                pass
            conns.append(s)
        print("ready", sent // 2**20)
        hold()
    """, attack) as a:
        assert_others_served(daemon, alice, job_id, attack)
    grown = peak.peak - before
    assert grown < BUDGET_MB, f"{attack}: daemon RSS peaked {grown:.0f} MB higher ({a.figures()[0]} MiB sent)"


def test_log_reads_of_a_huge_sparse_file_are_bounded(make_system_daemon, accounts):
    attack = "gjob log --first 1 / --last 1 on a 256 MiB sparse file without newlines"
    daemon = make_system_daemon()
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    out = daemon.run(bob, "gbatch", "--wait", "true")
    assert out.returncode == 0, out.stderr
    bobs = out.stdout.split()[3]
    log = daemon.state_dir / "logs" / str(bob.uid) / f"{bobs}.log"
    # bob's own log directory: he may put anything there
    swap = subprocess.run(["rm", "-f", str(log)], user=bob.uid, group=bob.gid, capture_output=True, text=True)
    assert swap.returncode == 0, swap.stderr
    swap = subprocess.run(["truncate", "-s", "256M", str(log)], user=bob.uid, group=bob.gid,
                          capture_output=True, text=True)
    assert swap.returncode == 0, swap.stderr
    before = rss_mb(daemon)
    for flag in ("--first", "--last"):
        with PeakRss(daemon) as peak:
            out = daemon.run(bob, "gjob", "log", bobs, flag, "1")
        assert out.returncode == 0, f"{attack}: gjob log {flag} 1 failed: {out.stderr}"
        grown = peak.peak - before
        assert grown < BUDGET_MB, f"{attack}: daemon RSS peaked {grown:.0f} MB higher during {flag}"
    assert_others_served(daemon, alice, job_id, attack)
