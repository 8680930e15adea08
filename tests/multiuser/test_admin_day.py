"""An administrator's day on one shared machine (real accounts, a root system daemon with
four fake GPUs): reservations that protect GPUs, one daemon per machine, views across users."""
from __future__ import annotations

import json

import pytest

from gflow.protocol import JobState

from accounts import NEEDS_ROOT, running_system_daemon  # noqa: E402  (tests/ is on sys.path)
from gflow_testing import wait_for  # noqa: E402

pytestmark = NEEDS_ROOT


@pytest.fixture
def four_gpus(runtime, accounts):
    yield from running_system_daemon(runtime, prefix="gfadm", gpus=4)


def _ok(out):
    assert out.returncode == 0, out.stderr
    return out.stdout


def _submit(daemon, account, *args) -> int:
    return int(_ok(daemon.run(account, "gbatch", *args)).split()[3])


def test_a_count_reservation_protects_a_gpu_from_other_users_jobs(four_gpus, accounts):
    """The issue's repro: bob fills the four GPUs, then alice gets a 1-GPU reservation.
    It is honoured as soon as one of bob's jobs ends: alice's job takes that GPU, bob's
    fifth job keeps waiting, with a reason that names the reservation."""
    alice, bob = accounts["alice"], accounts["bob"]
    d = four_gpus
    bobs = [_submit(d, bob, "--gpus", "1", "sleep 60") for _ in range(4)]
    with d.client() as c:
        wait_for(lambda: all(c.get(i).state is JobState.RUNNING for i in bobs), timeout=20)
    _ok(d.run(None, "gctl", "reserve", "create", "--user", alice.name, "--gpus", "1",
              "--start", "now", "--duration", "2h"))
    listed = _ok(d.run(None, "gctl", "reserve", "list"))
    assert "Active (waiting for 1 GPU)" in listed, listed
    mine = _submit(d, alice, "--gpus", "1", "sleep 30")
    fifth = _submit(d, bob, "--gpus", "1", "sleep 30")
    with d.client() as c:
        wait_for(lambda: c.get(fifth).reason == "Reserved:1", timeout=20)
        queue = _ok(d.run(bob, "gqueue", "-f", "JOBID,NODELIST(REASON)"))
        assert any(line.split() == [str(fifth), "(Reserved:1)"] for line in queue.splitlines()), queue
        assert c.get(mine).state is JobState.QUEUED
        _ok(d.run(bob, "gcancel", str(bobs[0])))
        job = wait_for(lambda: (j := c.get(mine)).state is JobState.RUNNING and j, timeout=20)
        freed = c.get(bobs[0]).finished_at
        print(f"alice's job started {job.started_at - freed:.3f} s after bob's GPU was freed")
        assert job.gpu_ids == c.get(bobs[0]).gpu_ids
        assert c.get(fifth).state is JobState.QUEUED
    assert "Active" in _ok(d.run(None, "gctl", "reserve", "list"))
    assert "waiting for" not in _ok(d.run(None, "gctl", "reserve", "list"))
    _ok(d.run(None, "gcancel", *map(str, bobs[1:] + [mine, fifth])))


def test_a_personal_daemon_never_takes_jobs_from_the_live_system_daemon(four_gpus, accounts):
    """alice once ran the quickstart (a personal daemon); now the system daemon runs. Her
    quickstart path (`gflowd up`, then `gbatch`) lands on the system daemon, and root sees
    her job with `gqueue -u all`."""
    alice = accounts["alice"]
    d = four_gpus
    # clients find the system daemon where the package puts it; here, in the test's temp dir
    env = {"GFLOW_SOCKET": "", "GFLOW_SYSTEM_SOCKET": str(d.socket)}
    personal = _ok(d.run(alice, "gflowd", "up", "--personal", env=env))
    assert "gflowd started (user mode" in personal
    try:
        up = _ok(d.run(alice, "gflowd", "up", env=env))
        assert f"The system gflowd is running on this machine (socket {d.socket})." in up
        assert "no personal daemon was started" in up
        status = _ok(d.run(alice, "gflowd", "status", env=env))
        assert "running in system mode" in status and "Clients:   use this daemon (system daemon)" in status
        debug = d.run(alice, "gqueue", "--debug", env=env)
        assert f"using gflowd at {d.socket} (system daemon)" in debug.stderr
        job = int(_ok(d.run(alice, "gbatch", "--wait", "echo hi", env=env)).split()[3])
        everyone = _ok(d.run(None, "gqueue", "-u", "all", "-a", "-f", "JOBID,USER"))
        assert [str(job), alice.name] in [line.split() for line in everyone.splitlines()]
        # the personal daemon is still reachable when named
        mine = d.run(alice, "gqueue", "--socket", _personal_socket(alice), env=env)
        assert mine.returncode == 0 and "No jobs found." in mine.stdout
    finally:
        d.run(alice, "gflowd", "down", env=env)


def _personal_socket(account) -> str:
    return f"{account.home}/.local/state/gflow/gflowd.sock"


def test_an_admins_cancel_of_alices_job_is_audited_with_the_admins_uid(four_gpus, accounts):
    alice, carol = accounts["alice"], accounts["carol"]  # carol is in the admin group
    d = four_gpus
    job = _submit(d, alice, "sleep 60")
    _ok(d.run(carol, "gcancel", str(job)))
    refused = d.run(alice, "gctl", "audit")
    assert refused.returncode == 1 and "admin" in refused.stderr
    entries = json.loads(_ok(d.run(None, "gctl", "audit", "--since", "1h", "--json")))
    cancel = [e for e in entries if e["method"] == "jobs.cancel"]
    assert cancel == [{"time": cancel[0]["time"], "uid": carol.uid, "user": carol.name,
                       "method": "jobs.cancel", "targets": [job], "result": "ok"}]
    submit = [e for e in entries if e["method"] == "jobs.submit"]
    assert submit[0]["uid"] == alice.uid and submit[0]["targets"] == [job]
    only_carol = json.loads(_ok(d.run(None, "gctl", "audit", "--user", carol.name, "--json")))
    assert {e["user"] for e in only_carol} == {carol.name}


def _clock_secs(text: str) -> int:
    if text == "-":
        return 0
    days, _, rest = text.rpartition("-")
    h, m, s = map(int, rest.split(":"))
    return (int(days) if days else 0) * 86400 + h * 3600 + m * 60 + s


def test_views_across_users(four_gpus, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    d = four_gpus
    ids = [
        _submit(d, alice, "--gpus", "1", "--project", "vision", "sleep 1"),
        _submit(d, alice, "--gpus", "2", "--project", "vision", "sleep 1"),
        _submit(d, alice, "--project", "nlp", "false"),
        _submit(d, bob, "--gpus", "1", "--project", "nlp", "sleep 1"),
        _submit(d, bob, "--hold", "true"),
    ]
    with d.client() as c:
        c.wait(ids[:4], timeout=60)
        c.cancel([ids[4]])

    # gqueue: a USER column as soon as several users are listed
    table = _ok(d.run(None, "gqueue", "-u", "all", "-a")).splitlines()
    assert table[0].split() == ["JOBID", "NAME", "USER", "ST", "TIME", "NODES", "NODELIST(REASON)"]
    assert {line.split()[2] for line in table[1:]} == {alice.name, bob.name}
    pair = _ok(d.run(None, "gqueue", "-u", f"{alice.name},{bob.name}", "-a")).splitlines()
    assert "USER" in pair[0].split() and len(pair) == 6
    assert "USER" not in _ok(d.run(alice, "gqueue", "-a")).splitlines()[0].split()
    vision = _ok(d.run(None, "gqueue", "-u", "all", "-a", "--project", "vision", "-f", "JOBID")).split()[1:]
    assert vision == [str(ids[0]), str(ids[1])]

    # gstats -u all -o json: per-user numbers equal a recomputation from gqueue's own JSON
    listing = json.loads(_ok(d.run(None, "gqueue", "-a", "-u", "all", "-o", "json")))["jobs"]
    stats = json.loads(_ok(d.run(None, "gstats", "-u", "all", "-o", "json")))
    assert stats["by"] == "user"
    rows = {r["user"]: r for r in stats["rows"]}
    assert set(rows) == {alice.name, bob.name}
    for user, row in rows.items():
        mine = [j for j in listing if j["user"] == user]
        count = lambda state: sum(1 for j in mine if j["state"] == state)  # noqa: E731
        assert row["total_jobs"] == len(mine)
        assert row["completed_jobs"] == count("Finished")
        assert row["failed_jobs"] == count("Failed")
        assert row["cancelled_jobs"] == count("Cancelled")
        ended = count("Finished") + count("Failed") + count("Cancelled") + count("Timeout")
        assert row["success_rate"] == pytest.approx(count("Finished") / ended * 100)
        gpu_hours = sum(len(j["gpus"]) * _clock_secs(j["time"]) for j in mine) / 3600
        assert row["total_gpu_hours"] == pytest.approx(gpu_hours, abs=len(mine) * 3 / 3600)
        assert row["jobs_with_gpus"] == sum(1 for j in mine if j["gpus"])
    assert stats["total"]["total_jobs"] == len(listing) == 5

    # the same in a table and in CSV, and per project
    text = _ok(d.run(None, "gstats", "-u", f"{alice.name},{bob.name}"))
    lines = text.splitlines()
    assert lines[0].startswith("Usage by user") and lines[1].split()[:3] == ["USER", "JOBS", "DONE"]
    assert lines[2].split()[:2] == [alice.name, "3"] and lines[3].split()[:2] == [bob.name, "2"]
    assert lines[-1].split()[:2] == ["TOTAL", "5"]
    csv_lines = _ok(d.run(None, "gstats", "-u", "all", "-o", "csv")).splitlines()
    assert csv_lines[0].startswith("user,total_jobs,completed_jobs") and csv_lines[-1].startswith("(total),5,")
    projects = json.loads(_ok(d.run(None, "gstats", "-a", "--by", "project", "-o", "json")))
    by_project = {r["project"]: r["total_jobs"] for r in projects["rows"]}
    assert by_project == {"nlp": 2, "vision": 2, None: 1}
    nlp = json.loads(_ok(d.run(None, "gstats", "-a", "--project", "nlp", "-o", "json")))
    assert nlp["total_jobs"] == 2 and nlp["failed_jobs"] == 1


def test_users_purge_only_their_own_finished_jobs(four_gpus, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    d = four_gpus
    mine = _submit(d, alice, "--wait", "true")
    theirs = _submit(d, bob, "--wait", "true")
    refused = d.run(bob, "gctl", "purge", "--before", "0d", "--user", alice.name)
    assert refused.returncode == 1
    assert refused.stderr.startswith("gctl: error: Failed to purge jobs: only an admin may purge another user's jobs")
    done = _ok(d.run(bob, "gctl", "purge", "--before", "0d"))  # no --user: bob's own only
    assert done.startswith(f"Purged 1 finished job and 1 log file: {theirs}")
    with d.client() as c:
        assert [j.id for j in c.list(states=list(JobState))] == [mine]
    assert _ok(d.run(None, "gctl", "purge", "--before", "0d", "--user", alice.name)).startswith("Purged 1 ")
    entries = json.loads(_ok(d.run(None, "gctl", "audit", "--json")))
    purges = [(e["user"], e["result"][:5]) for e in entries if e["method"] == "jobs.purge"]
    assert purges == [(bob.name, "error"), (bob.name, "ok"), ("root", "ok")]
