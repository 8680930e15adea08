"""Fair-share accounting and factors (SPEC 4.12)."""
from __future__ import annotations

import pytest

from gflow.core import fairshare
from gflow.core.scheduler import Gpu, PassInput, plan
from gflow.protocol import Job, JobState

WEEK = 604800


def ended(user: str, gpus: int, runtime: float, at: float = 1000.0) -> Job:
    return Job(id=1, user=user, gpus=gpus, state=JobState.FINISHED, started_at=at - runtime, finished_at=at)


def test_decay_halves_per_half_life_and_a_non_positive_half_life_forgets():
    assert fairshare.decayed(100.0, 0.0, 10.0, 10.0) == pytest.approx(50.0)
    assert fairshare.decayed(100.0, 0.0, 30.0, 10.0) == pytest.approx(12.5)
    assert fairshare.decayed(100.0, 5.0, 5.0, 10.0) == 100.0
    assert fairshare.decayed(100.0, 0.0, 1.0, 0) == 0.0


def test_charge_adds_gpu_seconds_after_decaying_the_old_usage():
    ledger: fairshare.Ledger = {"alice": (100.0, 0.0)}
    assert fairshare.charge(ledger, ended("alice", 2, 30.0, at=10.0), 10.0, 10.0)
    assert ledger["alice"] == (pytest.approx(50.0 + 60.0), 10.0)


def test_jobs_without_gpus_or_that_never_started_cost_nothing():
    ledger: fairshare.Ledger = {}
    assert not fairshare.charge(ledger, ended("bob", 0, 30.0), 1000.0, WEEK)
    never = Job(id=2, user="bob", gpus=1, state=JobState.CANCELLED, finished_at=1000.0)
    assert not fairshare.charge(ledger, never, 1000.0, WEEK)
    assert ledger == {}


def test_factor_formula():
    # total 300: alice has 1/3 with n=2 users -> 2^(-2/3); bob 2/3 -> 2^(-4/3)
    f = fairshare.factors({"alice": (100.0, 0.0), "bob": (200.0, 0.0)}, [], 0.0, WEEK)
    assert f["alice"] == pytest.approx(2 ** (-2 / 3)) and f["bob"] == pytest.approx(2 ** (-4 / 3))
    # exactly 1/n of the total gives 0.5
    assert fairshare.factors({"a": (5.0, 0.0), "b": (5.0, 0.0)}, [], 0.0, WEEK) == {"a": 0.5, "b": 0.5}
    assert fairshare.factors({}, [], 0.0, WEEK) == {}
    assert fairshare.factors({"a": (0.0, 0.0)}, [], 0.0, WEEK) == {}


def test_running_jobs_count_their_elapsed_gpu_time():
    run = Job(id=3, user="carol", gpus=2, state=JobState.RUNNING, started_at=90.0)
    cpu = Job(id=4, user="dave", gpus=0, state=JobState.RUNNING, started_at=0.0)
    f = fairshare.factors({"alice": (20.0, 100.0)}, [run, cpu], 100.0, WEEK)
    assert set(f) == {"alice", "carol"} and f["alice"] == f["carol"] == 0.5


def test_the_lighter_user_goes_first_within_a_priority_band_never_across():
    heavy = Job(id=1, user="heavy", gpus=1)
    light = Job(id=2, user="light", gpus=1)
    urgent = Job(id=3, user="heavy", gpus=1, priority=20)
    share = fairshare.factors({"heavy": (900.0, 0.0), "light": (100.0, 0.0)}, [], 0.0, WEEK)
    p = plan(PassInput(candidates=[heavy, light], running=[], gpus=[Gpu(index=0)], fair_share=share))
    assert [j.id for j, _ in p.starts] == [2]
    p = plan(PassInput(candidates=[heavy, light, urgent], running=[], gpus=[Gpu(index=0)], fair_share=share))
    assert [j.id for j, _ in p.starts] == [3]
