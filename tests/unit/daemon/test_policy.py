"""Policy (quotas, reservations, the GPU-process ignore list) without a daemon: constructed
with only its declared dependencies (stub views of the jobs and the GPUs, an event bus) and a
real store in a temporary directory."""
from __future__ import annotations

from datetime import datetime, timezone

from gflow.protocol import Job


class _Views:
    """The two read-only views Policy is given (jobs: JobsView, GPUs: GpusView) and the
    event bus, counting the settings changes it announces (each one asks for a pass)."""

    def __init__(self, gpus: int = 4):
        from gflow.core.scheduler import Gpu
        from gflow.daemon.events import EventBus, SettingsChanged

        self.running: list[Job] = []
        self.active: list[Job] = []
        self.allowed_gpus = None
        self._devices = [Gpu(index=i) for i in range(gpus)]
        self.events = EventBus()
        self.passes = 0
        self.events.subscribe(SettingsChanged, lambda _: setattr(self, "passes", self.passes + 1))

    def running_jobs(self):
        return list(self.running)

    def active_jobs(self):
        return self.active

    def devices(self):
        return self._devices


def _policy(tmp_path, config=None, clock=None):
    from gflow.config import Config
    from gflow.daemon.policy import Policy
    from gflow.daemon.store import JobStore

    store = JobStore(str(tmp_path / "gflow.db"))
    views = _Views()
    extra = {"clock": clock} if clock else {}
    return Policy(store, config or Config(), views, views, views.events, **extra), store, views


def test_policy_persists_every_change_and_asks_for_a_pass(tmp_path):
    from gflow.config import QuotaLimits
    from gflow.daemon.policy import Policy

    t0 = datetime(2030, 1, 1, 10, 0, tzinfo=timezone.utc).timestamp()
    p, store, engine = _policy(tmp_path, clock=lambda: t0 - 3600)
    p.set_quota("user", "alice", QuotaLimits(max_running_jobs=1))
    p.create_reservation("alice", 2, None, t0, 3600)
    p.create_reservation("bob", None, [3], t0, 1800)
    assert engine.passes == 3
    again = Policy(store, p.config, engine, engine, engine.events, clock=lambda: t0 + 60)  # as after a restart
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
    allows = p.quota_gate()
    assert allows(Job(id=2, user="alice", gpus=1), running)
    running.append(Job(id=2, user="alice", gpus=1))  # the scheduler admitted it
    assert not allows(Job(id=3, user="alice", gpus=1), running)
    assert p.quota_gate()(Job(id=3, user="alice", gpus=1), [])  # a new pass starts afresh
    # the same list object in a later pass, refilled with other jobs: a fresh tally
    running[:] = [Job(id=7, user="bob", gpus=1), Job(id=8, user="bob", gpus=1)]
    assert p.quota_gate()(Job(id=3, user="alice", gpus=1), running)


def test_policy_without_running_quotas_gives_the_pass_no_gate(tmp_path):
    p, _, _ = _policy(tmp_path)
    assert p.quota_gate() is None


def test_ignore_entries_lapse_when_the_process_leaves_the_gpu():
    from gflow.daemon.policy import split_ignored

    pids = {0: [10, 11], 1: [12]}
    visible, kept = split_ignored(pids, {(0, 10), (1, 99)})
    assert visible == {0: [11], 1: [12]} and kept == {(0, 10)}
    assert split_ignored(None, {(0, 10)}) == (None, {(0, 10)})  # query failed: keep all
