"""`gctl reserve`, `gctl quota` and `gctl gpu-process` on a real daemon (fake GPU backend, or
the stand-in pynvml where NVML matters).

Reservation starts must be on :00/:30 and not in the past; the daemon accepts a start in the
current half-hour slot ("from now"), which is how an *active* reservation is made here. Edge
timers (a reservation that starts later) are covered by the pure `next_edge` unit tests.
"""
from __future__ import annotations

import json
import os
import pwd
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gflow.protocol import Job, JobState

from gflow_testing import wait_for

FAKES = Path(__file__).resolve().parents[1] / "fakes"
ME = pwd.getpwuid(os.getuid()).pw_name
OTHER = "nobody" if ME != "nobody" else "root"
FOUR_GPUS = "gpu:\n  backend: fake\n  count: 4\ntimezone: UTC\n"


def _slot(offset_slots: int = 0) -> datetime:
    """The UTC half-hour slot containing now, shifted by whole slots."""
    now = datetime.now(timezone.utc)
    if (29 - now.minute % 30) * 60 + (60 - now.second) < 5:
        time.sleep(6)  # about to roll over: use the next slot rather than race it
        now = datetime.now(timezone.utc)
    base = now.replace(minute=now.minute - now.minute % 30, second=0, microsecond=0)
    return base + timedelta(minutes=30 * offset_slots)


def _minute(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M")


def _err(proc) -> str:
    return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""


# --------------------------------------------------------------------------- registration
def test_mutating_methods_are_admin_only_at_registration():
    from gflow.daemon.handlers import METHODS, gpus_ignore, quotas, reservations  # noqa: F401

    admin = {name for name, m in METHODS.items() if m.admin}
    assert {"quotas.set", "quotas.remove", "reservations.create", "gpus.ignore", "gpus.unignore"} <= admin
    # reading is open; cancelling checks "own reservation or admin" inside the handler
    assert not ({"quotas.list", "reservations.list", "reservations.get", "reservations.cancel",
                 "gpus.ignored"} & admin)


# --------------------------------------------------------------------------- CLI validation
def test_usage_errors_exit_2_and_bad_values_exit_1_before_any_daemon_call(make_daemon):
    d = make_daemon(FOUR_GPUS, start=False)  # nothing listens: validation comes first
    both = d.cli("gctl", "reserve", "create", "--user", ME, "--gpus", "1", "--gpu-spec", "0",
                 "--start", "2030-01-01 10:00", "--duration", "1h")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    neither = d.cli("gctl", "reserve", "create", "--user", ME, "--start", "2030-01-01 10:00", "--duration", "1h")
    assert neither.returncode == 1 and _err(neither) == "gctl: error: Must specify either --gpus or --gpu-spec"
    cases = {
        ("--start", "2030-01-01 10:15"):
            "Reservation time must be on the hour (:00) or half-hour (:30). Got: 2030-01-01 10:15",
        ("--duration", "45m"):
            "Reservation duration must be a multiple of 30 minutes (e.g., 30m, 1h, 1h30m, 2h). Got: 45m",
        ("--timezone", "Mars/Base"): "Invalid timezone: Mars/Base",
    }
    for (flag, value), message in cases.items():
        args = {"--start": "2030-01-01 10:00", "--duration": "1h", flag: value}
        out = d.cli("gctl", "reserve", "create", "--user", ME, "--gpus", "1",
                    *[x for kv in args.items() for x in kv])
        assert out.returncode == 1 and _err(out) == f"gctl: error: {message}", out.stderr
    for args in (["--range", "2h"], ["--timeline", "--range", "2h", "--from", "x", "--to", "y"],
                 ["--timeline", "--from", "2030-01-01 10:00"]):
        assert d.cli("gctl", "reserve", "list", *args).returncode == 2
    two = d.cli("gctl", "quota", "set", "--user", "a", "--project", "b", "--max-running-jobs", "1")
    assert two.returncode == 2
    none = d.cli("gctl", "quota", "set", "--max-running-jobs", "1")
    assert none.returncode == 1 and _err(none) == (
        "gctl: error: select exactly one subject: --user, --project, --default-user or --default-project"
    )
    nothing = d.cli("gctl", "quota", "set", "--user", "a")
    assert nothing.returncode == 1 and _err(nothing) == (
        "gctl: error: provide at least one of --max-running-jobs, --max-running-gpus, --max-queued-jobs"
    )
    assert d.cli("gctl", "quota", "set", "--user", "a", "--max-running-jobs", "-1").returncode == 2
    assert d.cli("gctl", "gpu-process", "ignore", "--gpu", "0").returncode == 2


# --------------------------------------------------------------------------- reservations
def test_reservation_create_list_get_cancel(make_daemon):
    d = make_daemon(FOUR_GPUS)
    start = _slot(4)
    end = start + timedelta(hours=2)
    made = d.cli("gctl", "reserve", "create", "--user", ME, "--gpus", "2",
                 "--start", _minute(start), "--duration", "2h", check=True)
    assert made.stdout.splitlines() == ["Reservation created successfully.", "  ReservationID=1"]
    iso = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    d.cli("gctl", "reserve", "create", "--user", OTHER, "--gpu-spec", "0-1",
          "--start", iso, "--duration", "1h30m", check=True)
    clash = d.cli("gctl", "reserve", "create", "--user", OTHER, "--gpus", "1",
                  "--start", _minute(start + timedelta(minutes=30)), "--duration", "30m")
    assert clash.returncode == 1 and _err(clash) == (
        "gctl: error: Failed to create reservation: Reservation conflicts: 2 GPUs explicitly reserved, "
        "2 GPUs reserved by count, cannot reserve 1 more (available: 2)"
    )
    taken = d.cli("gctl", "reserve", "create", "--user", ME, "--gpu-spec", "1,3",
                  "--start", _minute(start), "--duration", "1h")
    assert _err(taken) == ("gctl: error: Failed to create reservation: "
                           "GPU index 1 is already reserved during this time period")
    past = d.cli("gctl", "reserve", "create", "--user", ME, "--gpus", "1",
                 "--start", _minute(_slot(-2)), "--duration", "1h")
    assert _err(past) == "gctl: error: Failed to create reservation: Start time cannot be in the past"
    ghost = d.cli("gctl", "reserve", "create", "--user", "no-such-user-xyz", "--gpus", "1",
                  "--start", _minute(start), "--duration", "1h")
    assert _err(ghost) == ("gctl: error: Failed to create reservation: "
                           "no such user 'no-such-user-xyz' on this machine")

    fmt = "%Y-%m-%d %H:%M:%S"
    table = d.cli("gctl", "reserve", "list", check=True).stdout.splitlines()
    assert all(l.startswith(" ") and l.endswith(" ") for l in table)  # SPEC 5 blank style
    assert [l.split() for l in table] == [
        ["ID", "USER", "GPUS", "START", "END", "STATUS"],
        ["1", ME, "2", *start.strftime(fmt).split(), *end.strftime(fmt).split(), "Pending"],
        ["2", OTHER, "0,1", *start.strftime(fmt).split(),
         *(start + timedelta(minutes=90)).strftime(fmt).split(), "Pending"],
    ]
    assert [l.split()[0] for l in d.cli("gctl", "reserve", "list", "--user", OTHER, check=True).stdout.splitlines()[1:]] == ["2"]
    assert d.cli("gctl", "reserve", "list", "--active", check=True).stdout == "No reservations found.\n"

    detail = d.cli("gctl", "reserve", "get", "1", check=True).stdout.splitlines()
    assert detail[:8] == [
        "Reservation Details:", "  ID=1", f"  User={ME}", "  GPUCount=2",
        f"  StartTime={start.strftime(fmt)} UTC", f"  EndTime={end.strftime(fmt)} UTC",
        "  Duration=2h", "  Status=Pending",
    ]
    assert detail[8].startswith("  CreatedAt=") and detail[8].endswith(" UTC") and len(detail) == 9
    missing = d.cli("gctl", "reserve", "get", "99")
    assert missing.returncode == 1 and missing.stdout == "Reservation 99 not found.\n"

    assert d.cli("gctl", "reserve", "cancel", "1", check=True).stdout == "Reservation 1 cancelled successfully.\n"
    again = d.cli("gctl", "reserve", "cancel", "1")
    assert again.returncode == 1 and _err(again) == "gctl: error: Failed to cancel reservation: Reservation already cancelled"
    assert _err(d.cli("gctl", "reserve", "cancel", "99")) == (
        "gctl: error: Failed to cancel reservation: Reservation 99 not found"
    )
    cancelled = d.cli("gctl", "reserve", "list", "--status", "CANCELLED", check=True).stdout.splitlines()
    assert [l.split()[0] for l in cancelled[1:]] == ["1"]
    assert "  CancelledAt=" in d.cli("gctl", "reserve", "get", "1", check=True).stdout
    bad = d.cli("gctl", "reserve", "list", "--status", "soon")
    assert _err(bad) == "gctl: error: Failed to list reservations: Invalid status: soon"

    timeline = d.cli("gctl", "reserve", "list", "--timeline", "--range", "-1h:+4h", check=True).stdout
    lines = timeline.split("\n")
    assert lines[0] == "" and lines[1].startswith("GPU Reservations Timeline (") and lines[2] == "═" * 80
    assert f"\n{OTHER} " in timeline and "  └─ Pending (" in timeline and ") GPU: GPU[0,1]\n" in timeline
    assert "Summary: 0 active, 1 pending | 0 GPUs currently reserved" in timeline
    data = json.loads(d.cli("gctl", "reserve", "list", "--json", check=True).stdout)
    # cancelled ones leave the list (`--status cancelled` shows them); Pending has its status
    assert [r["id"] for r in data] == [2] and data[0]["gpu_indices"] == [0, 1]
    assert data[0]["status"] == "Pending"

    # persisted before the reply; ids are never reused, even after a restart
    d.stop()
    d.start()
    assert [l.split()[0] for l in d.cli("gctl", "reserve", "list", check=True).stdout.splitlines()[1:]] == ["2"]
    again = d.cli("gctl", "reserve", "create", "--user", ME, "--gpus", "1",
                  "--start", _minute(start), "--duration", "1h", check=True)
    assert "  ReservationID=3" in again.stdout


def test_an_active_reservation_for_another_user_keeps_gpu_jobs_waiting(make_daemon):
    d = make_daemon(FOUR_GPUS)
    d.cli("gctl", "reserve", "create", "--user", OTHER, "--gpu-spec", "0-3",
          "--start", _minute(_slot()), "--duration", "1h", check=True)
    assert "  Status=Active" in d.cli("gctl", "reserve", "get", "1", check=True).stdout
    d.cli("gbatch", "--gpus", "1", "true", check=True)
    d.cli("gbatch", "true", check=True)  # 0-GPU jobs are never affected
    with d.client() as c:
        assert c.wait([2], timeout=20)[0].state is JobState.FINISHED
        wait_for(lambda: c.get(1).reason == "Reserved:1")
        assert c.get(1).state is JobState.QUEUED
        # cancelling is a settings change: the waiting job starts at once
        d.cli("gctl", "reserve", "cancel", "1", check=True)
        (job,) = c.wait([1], timeout=10)
        assert job.state is JobState.FINISHED and job.gpu_ids == [0]


def test_own_index_reservation_pins_the_owners_jobs(make_daemon):
    d = make_daemon(FOUR_GPUS)
    d.cli("gctl", "reserve", "create", "--user", ME, "--gpu-spec", "2",
          "--start", _minute(_slot()), "--duration", "30m", check=True)
    d.cli("gbatch", "--gpus", "1", "true", check=True)
    d.cli("gbatch", "--gpus", "2", "true", check=True)
    with d.client() as c:
        (job,) = c.wait([1], timeout=20)
        assert job.gpu_ids == [2]  # its own reserved GPU first
        (job,) = c.wait([2], timeout=20)
        assert job.state is JobState.FINISHED  # more than reserved: its reservation plus free ones


# --------------------------------------------------------------------------- quotas
def test_max_running_jobs_serialises_jobs(make_daemon):
    d = make_daemon("quota:\n  default_user:\n    max_running_jobs: 1\n")
    with d.client() as c:
        ids = [c.submit("sleep 0.5", env={"PATH": os.environ["PATH"]}) for _ in range(3)]
        wait_for(lambda: c.get(ids[2]).reason == "WaitingForQuota")
        jobs = c.wait(ids, timeout=30)
    assert all(j.state is JobState.FINISHED for j in jobs)
    jobs.sort(key=lambda j: j.started_at)
    assert [j.id for j in jobs] == ids
    for before, after in zip(jobs, jobs[1:]):
        assert after.started_at >= before.finished_at  # never two at once
        assert after.started_at - before.finished_at < 1.0  # and no polling gap (upstream 8.3)


def test_quota_set_lets_waiting_jobs_start_at_once(make_daemon):
    d = make_daemon("quota:\n  default_user:\n    max_running_jobs: 1\n")
    with d.client() as c:
        env = {"PATH": os.environ["PATH"]}
        first = c.submit("sleep 60", env=env)
        second = c.submit("true", env=env)
        wait_for(lambda: c.get(second).reason == "WaitingForQuota")
        out = d.cli("gctl", "quota", "set", "--user", ME, "--max-running-jobs", "2", check=True)
        assert out.stdout.splitlines() == [f"Updated user quota '{ME}'", "  max_running_jobs = 2"]
        # nothing else happens in the daemon: only the pass after the change can start it
        (job,) = c.wait([second], timeout=5)
        assert job.state is JobState.FINISHED
        c.cancel([first])


def test_max_queued_jobs_rejects_a_submission_and_a_whole_batch(make_daemon):
    d = make_daemon()
    d.cli("gctl", "quota", "set", "--default-user", "--max-queued-jobs", "2", check=True)
    d.cli("gbatch", "--hold", "true", check=True)
    batch = d.cli("gbatch", "--hold", "--array", "1-2", "true")
    assert batch.returncode == 1 and f"quota exceeded for user '{ME}': 2/2 queued jobs" in batch.stderr
    d.cli("gbatch", "--hold", "true", check=True)
    third = d.cli("gbatch", "--hold", "true")
    assert third.returncode == 1 and f"quota exceeded for user '{ME}': 2/2 queued jobs" in third.stderr
    with d.client() as c:
        assert [j.id for j in c.list()] == [1, 2]  # the batch left nothing behind


def test_quota_list_set_remove(make_daemon):
    d = make_daemon(
        "quota:\n  default_user: {max_running_jobs: 1, max_queued_jobs: 3}\n"
        "  projects:\n    cv: {max_running_jobs: 5}\n"
    )
    d.cli("gbatch", "--hold", "-P", "ml", "true", check=True)
    d.cli("gbatch", "--hold", "-P", "ml", "true", check=True)
    assert d.cli("gctl", "quota", "list", check=True).stdout.splitlines() == [
        "SCOPE           NAME                  JOBS      GPUS    QUEUED",
        f"{'user':<15} {ME:<16} {'0/1':>9} {'0/-':>9} {'2/3':>9}",
        "project         cv                     0/5       0/-       0/-",
        "project         ml                     0/-       0/-       2/-",
        "default_user    *                        1         -         3",
        "default_project *                        -         -         -",
        "",
        "Cells are used/limit; `-` means unlimited. Fallback rows show the limit only.",
    ]
    out = d.cli("gctl", "quota", "set", "--project", "ml", "--max-running-gpus", "4",
                "--max-queued-jobs", "10", "--max-running-jobs", "2", check=True)
    assert out.stdout.splitlines() == [
        "Updated project quota 'ml'", "  max_running_jobs = 2", "  max_running_gpus = 4",
        "  max_queued_jobs  = 10",
    ]
    out = d.cli("gctl", "quota", "set", "--default-project", "--max-running-jobs", "7", check=True)
    assert out.stdout.splitlines() == ["Updated default_project quota", "  max_running_jobs = 7"]
    d.stop()
    d.start()  # runtime overrides persist
    rows = d.cli("gctl", "quota", "list", check=True).stdout.splitlines()
    assert "project         ml                     0/2       0/4      2/10" in rows
    assert "default_project *                        7         -         -" in rows
    gone = d.cli("gctl", "quota", "remove", "--project", "ml", check=True)
    assert gone.stdout == "Removed project quota override 'ml'\n"
    assert d.cli("gctl", "quota", "remove", "--default-project", check=True).stdout == (
        "Removed default_project quota override\n"
    )
    again = d.cli("gctl", "quota", "remove", "--project", "ml")
    assert again.returncode == 1 and _err(again) == "gctl: error: Failed to remove quota: no matching quota override"
    assert "project         ml                     0/-       0/-       2/-" in (
        d.cli("gctl", "quota", "list", check=True).stdout.splitlines()
    )


# --------------------------------------------------------------------------- gpu-process
def test_gpu_process_without_nvml(make_daemon):
    d = make_daemon(FOUR_GPUS)
    out = d.cli("gctl", "gpu-process", "ignore", "--gpu", "0", "--pid", "1")
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "Warning: manually ignoring a GPU process is unsafe.",
        "gflow may schedule onto that GPU even though the process is still attached.",
        "This override is runtime-only and will be cleared after gflowd restarts.",
        "gctl: error: Failed to ignore GPU process: NVML is unavailable; GPU process inspection is not supported",
    ]
    assert d.cli("gctl", "gpu-process", "list", check=True).stdout == "No ignored GPU processes\n"
    missing = d.cli("gctl", "gpu-process", "unignore", "--gpu", "0", "--pid", "5")
    assert _err(missing) == (
        "gctl: error: Failed to unignore GPU process: Ignore override for PID 5 on GPU 0 was not found"
    )


def _nvml_daemon(make_daemon, state: Path, **content):
    state.write_text(json.dumps(content))
    d = make_daemon("gpu:\n  backend: nvml\ndaemon:\n  gpu_poll_interval_secs: 1\n", start=False)
    d.env["PYTHONPATH"] = f"{FAKES}:{d.env['PYTHONPATH']}"
    d.env["GFLOW_FAKE_NVML"] = str(state)
    return d.start()


def test_gpu_process_ignore_list_unignore(make_daemon, short_tmp):
    d = _nvml_daemon(make_daemon, short_tmp / "nvml.json", memory_mb=[1000, 1000], processes={"1": [4242]})
    bad_index = d.cli("gctl", "gpu-process", "ignore", "--gpu", "7", "--pid", "4242")
    assert _err(bad_index) == ("gctl: error: Failed to ignore GPU process: "
                               "Invalid GPU index 7 (scheduler does not manage that GPU)")
    bad_pid = d.cli("gctl", "gpu-process", "ignore", "--gpu", "0", "--pid", "4242")
    assert _err(bad_pid) == "gctl: error: Failed to ignore GPU process: PID 4242 is not currently running on GPU 0"
    out = d.cli("gctl", "gpu-process", "ignore", "--gpu", "1", "--pid", "4242", check=True)
    assert out.stdout == "Ignoring GPU process PID 4242 on GPU 1\n"
    assert out.stderr.splitlines()[-1] == "Warning: override applied for GPU 1 PID 4242."
    listing = d.cli("gctl", "gpu-process", "list", check=True)
    assert listing.stdout == "gpu=1\tpid=4242\n" and "unsafe" in listing.stderr
    out = d.cli("gctl", "gpu-process", "unignore", "--gpu", "1", "--pid", "4242", check=True)
    assert out.stdout == "Removed GPU process ignore override for PID 4242 on GPU 1\n"
    assert d.cli("gctl", "gpu-process", "list", check=True).stdout == "No ignored GPU processes\n"


def test_an_ignored_process_frees_its_gpu_until_it_is_gone(make_daemon, short_tmp):
    state = short_tmp / "nvml.json"
    d = _nvml_daemon(make_daemon, state, memory_mb=[1000, 1000], processes={"1": [4242]})
    with d.client() as c:
        wait_for(lambda: c.call("gpus.info")["gpus"][1]["available"] is False)
        d.cli("gbatch", "--gpus", "2", "true", check=True)
        wait_for(lambda: c.get(1).reason == "Unmanaged: pid 4242")
        d.cli("gctl", "gpu-process", "ignore", "--gpu", "1", "--pid", "4242", check=True)
        (job,) = c.wait([1], timeout=10)  # a pass right after the override
        assert job.state is JobState.FINISHED and job.gpu_ids == [0, 1]
        # job 1 has ended: once the GPU it gave back was looked at, nothing holds it
        gpu1 = wait_for(lambda: (lambda g: g if g["available"] else None)(c.call("gpus.info")["gpus"][1]))
        assert gpu1["reason"] == "manual_ignore(gpu=1,pid=4242)"
        # the process ends: its entry lapses at the next poll
        state.write_text(json.dumps({"memory_mb": [1000, 1000]}))
        wait_for(lambda: c.call("gpus.ignored") == [], timeout=10)


# --------------------------------------------------------------------------- Policy, no daemon
class _StubEngine:
    """What Policy reads from the engine: jobs, stopping, GPU devices, request_pass."""

    def __init__(self, gpus: int = 4):
        from gflow.core.scheduler import Gpu

        self.jobs, self.stopping, self.passes = {}, {}, 0
        self.allowed_gpus = None
        self._devices = [Gpu(index=i) for i in range(gpus)]
        self.gpus = self

    def devices(self):
        return self._devices

    def request_pass(self):
        self.passes += 1


def _policy(tmp_path, config=None, clock=None):
    from gflow.config import Config
    from gflow.daemon.policy import Policy
    from gflow.daemon.store import JobStore

    store = JobStore(str(tmp_path / "gflow.db"))
    engine = _StubEngine()
    return Policy(store, config or Config(), engine, **({"clock": clock} if clock else {})), store, engine


def test_policy_persists_every_change_and_asks_for_a_pass(tmp_path):
    from gflow.config import QuotaLimits
    from gflow.daemon.policy import Policy

    t0 = datetime(2030, 1, 1, 10, 0, tzinfo=timezone.utc).timestamp()
    p, store, engine = _policy(tmp_path, clock=lambda: t0 - 3600)
    p.set_quota("user", "alice", QuotaLimits(max_running_jobs=1))
    p.create_reservation("alice", 2, None, t0, 3600)
    p.create_reservation("bob", None, [3], t0, 1800)
    assert engine.passes == 3
    again = Policy(store, p.config, engine, clock=lambda: t0 + 60)  # as after a restart
    assert again.quota_overrides.users["alice"] == QuotaLimits(max_running_jobs=1)
    assert [(r.id, r.status.value) for r in again.list_reservations()] == [(1, "Active"), (2, "Active")]
    gate = again.reservation_gate([])
    assert gate.permit("carol", 1, [0, 1, 2, 3]) == ([0], None)
    assert gate.permit("carol", 2, [0, 1, 2, 3]) == (None, 1)  # alice's claim holds two of 0-2
    assert gate.permit("bob", 1, [0, 1, 2, 3])[0][0] == 3
    assert again.create_reservation("carol", 1, None, t0 + 3600, 1800).id == 3


def test_policy_quota_tally_counts_the_passes_admissions(tmp_path):
    from gflow.config import Config, QuotaConfig, QuotaLimits

    config = Config(quota=QuotaConfig(default_user=QuotaLimits(max_running_gpus=2)))
    p, _, _ = _policy(tmp_path, config)
    running = [Job(id=1, user="alice", gpus=1)]
    assert p.quota_allows(Job(id=2, user="alice", gpus=1), running)
    running.append(Job(id=2, user="alice", gpus=1))  # the scheduler admitted it
    assert not p.quota_allows(Job(id=3, user="alice", gpus=1), running)
    assert p.quota_allows(Job(id=3, user="alice", gpus=1), [])  # a new pass starts afresh


def test_ignore_entries_lapse_when_the_process_leaves_the_gpu():
    from gflow.daemon.policy import split_ignored

    pids = {0: [10, 11], 1: [12]}
    visible, kept = split_ignored(pids, {(0, 10), (1, 99)})
    assert visible == {0: [11], 1: [12]} and kept == {(0, 10)}
    assert split_ignored(None, {(0, 10)}) == (None, {(0, 10)})  # query failed: keep all


def test_gpu_views_show_reserved_and_restricted_gpus(make_daemon):
    d = make_daemon(FOUR_GPUS)
    d.cli("gctl", "set-gpus", "0-2", check=True)
    d.cli("gctl", "reserve", "create", "--user", OTHER, "--gpu-spec", "1",
          "--start", "now", "--duration", "1h", check=True)
    d.cli("gctl", "reserve", "create", "--user", ME, "--gpus", "1",
          "--start", "now", "--duration", "1h", check=True)
    rows = [l.strip().split(None, 4) for l in d.cli("ginfo", check=True).stdout.splitlines()[1:]]
    assert rows == [
        ["gpu", "2", "0,2", "idle"],
        ["gpu", "1", "1", "reserved", f"({OTHER}, reservation 1)"],
        ["gpu", "1", "any", "reserved", f"({ME}, reservation 2)"],
        ["gpu", "1", "3", "restricted", "(gctl set-gpus)"],
    ]
    assert d.cli("gctl", "show-gpus", check=True).stdout.splitlines() == [
        "0\tavailable", f"1\tavailable\treserved({OTHER},1)", "2\tavailable", "3\tavailable\trestricted",
    ]
    # creation counts against the allowed set: 3 allowed, 1 index- and 1 count-reserved
    full = d.cli("gctl", "reserve", "create", "--user", ME, "--gpus", "2", "--start", "now", "--duration", "1h")
    assert full.returncode == 1 and "(available: 2)" in full.stderr


def test_ginfo_says_why_there_are_no_gpus(make_daemon):
    d = make_daemon()  # gpu: {backend: none}
    out = d.cli("ginfo", check=True)
    assert out.stdout == "No GPUs: GPU support is turned off in the config (gpu: {backend: none}).\n"


def test_a_count_reservation_for_another_user_holds_a_gpu_back(make_daemon):
    """The issue's repro without a second account: four GPUs, one reserved by count for
    another user; four 1-GPU jobs of ours get three, the fourth waits naming the reservation,
    and `reserve list` shows nothing is owed. With `set-gpus 0-2` the claim comes out of three."""
    d = make_daemon(FOUR_GPUS)
    d.cli("gctl", "reserve", "create", "--user", OTHER, "--gpus", "1",
          "--start", "now", "--duration", "2h", check=True)
    ids = [int(d.cli("gbatch", "--gpus", "1", "sleep", "60", check=True).stdout.split()[3]) for _ in range(4)]
    with d.client() as c:
        wait_for(lambda: c.get(ids[3]).reason == "Reserved:1")
        assert [c.get(i).state for i in ids] == [JobState.RUNNING] * 3 + [JobState.QUEUED]
        assert sorted(i for j in ids[:3] for i in c.get(j).gpu_ids) == [0, 1, 2]
        rows = d.cli("gctl", "reserve", "list", check=True).stdout.splitlines()
        assert rows[1].split()[-1] == "Active"  # GPU 3 is idle and kept: nothing owed
        d.cli("gctl", "set-gpus", "0-2", check=True)
        d.cli("gcancel", str(ids[0]), check=True)
        wait_for(lambda: c.get(ids[0]).state is JobState.CANCELLED)
        wait_for(lambda: c.get(ids[3]).reason == "Reserved:1")  # the freed GPU 0 is now the claim's
        assert c.get(ids[3]).state is JobState.QUEUED
        d.cli("gcancel", *map(str, ids[1:]), check=True)
