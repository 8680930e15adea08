"""A hostile account and the daemon's connections: idle floods, silent and trickling
clients, and jobs launched while the daemon is out of file descriptors."""
from __future__ import annotations

import resource

from gflow.protocol import JobState

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from gflow_testing import wait_for  # noqa: E402
from security._attack import (  # noqa: F401  (make_system_daemon is a fixture)
    Attack,
    acknowledged_job,
    assert_others_served,
    daemon_process,
    make_system_daemon,
)

pytestmark = NEEDS_ROOT

CAP = 64  # the default daemon.max_connections_per_user


def test_an_idle_connection_flood_is_capped_per_user(make_system_daemon, accounts):
    attack = "300 idle connections from one account"
    daemon = make_system_daemon()
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    fds_before = daemon_process(daemon).num_fds()
    with Attack(daemon, bob, f"""
        conns = [connect() for _ in range(300)]
        codes = set()
        for s in conns[{CAP}:]:  # beyond the cap: refused at once, then closed
            s.settimeout(10)
            try:
                frames = until_closed(s)
                codes.add(frames[0]["error"]["code"] if frames else "closed-silently")
            except OSError:
                codes.add("kept-open")
                break
        print("ready", *sorted(codes))
        hold()
    """, attack) as a:
        assert a.figures() == ["busy"], f"{attack}: connections beyond the cap were not refused: {a.figures()}"
        held = daemon_process(daemon).num_fds() - fds_before
        assert held <= CAP + 8, f"{attack}: the daemon holds {held} more fds (cap {CAP})"
        assert_others_served(daemon, alice, job_id, attack)


def test_a_connection_that_never_asks_is_closed(make_system_daemon, accounts):
    attack = "a connection that never sends a request"
    daemon = make_system_daemon(first_request_timeout_secs=1)
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    with Attack(daemon, bob, """
        s = connect()
        s.settimeout(60)
        try:
            until_closed(s)
            print("ready closed")
        except OSError:
            print("ready open")
        hold()
    """, attack) as a:
        assert a.figures() == ["closed"], f"{attack}: the daemon kept it open"
        assert_others_served(daemon, alice, job_id, attack)


def test_a_trickling_request_is_closed(make_system_daemon, accounts):
    attack = "slowloris: a request sent one byte at a time"
    daemon = make_system_daemon(frame_timeout_secs=2)
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    with Attack(daemon, bob, """
        s = session()
        data = frame({"id": 2, "method": "jobs.list", "params": {}}) * 1000
        s.settimeout(0.2)
        state = "open"
        for i in range(600):  # two minutes at most
            try:
                s.send(data[i:i + 1])
                s.recv(65536)  # anything (an error frame, the hang-up) means it gave up on us
                state = "closed"
                break
            except socket.timeout:
                continue
            except OSError:
                state = "closed"
                break
        print("ready", state)
        hold()
    """, attack) as a:
        assert a.figures() == ["closed"], f"{attack}: the daemon waited for it forever"
        assert_others_served(daemon, alice, job_id, attack)


def test_a_job_launched_out_of_file_descriptors_waits_instead_of_failing(make_system_daemon, accounts):
    attack = "the daemon's fd table filled by one account's connections"
    daemon = make_system_daemon(max_connections_per_user=100000, first_request_timeout_secs=600)
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    proc = daemon_process(daemon)
    with daemon.client() as root:  # opened before the fds run out
        root.identity
        limit = proc.num_fds() + 32
        proc.rlimit(resource.RLIMIT_NOFILE, (limit, limit))
        with Attack(daemon, bob, """
            conns = [connect() for _ in range(200)]
            print("ready")
            hold()
        """, attack):
            wait_for(lambda: proc.num_fds() >= limit, timeout=60, what="the daemon to run out of fds")
            root.release([job_id])
            log = daemon.base / "daemon.log"

            def launched_or_deferred():
                if "not launched now" in log.read_text(errors="replace"):
                    return True
                return root.get(job_id).state is not JobState.QUEUED

            wait_for(launched_or_deferred, timeout=60, what="the launch attempt")
            job = root.get(job_id)
            assert job.state is not JobState.FAILED, f"{attack}: the job failed for good: {job.reason}"
            assert "not launched now" in log.read_text(errors="replace"), f"{attack}: the fds never ran out"
        (job,) = root.wait([job_id], timeout=120)
        assert job.state is JobState.FINISHED, f"{attack}: the job ended {job.state.value} ({job.reason})"
    out = daemon.run(alice, "gqueue")
    assert out.returncode == 0, f"{attack}: another account's gqueue failed: {out.stderr}"
