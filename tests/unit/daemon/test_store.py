"""SQLite store: round trips, raw listing, schema versions, never overwriting bad data."""
from __future__ import annotations

import sqlite3

import pytest

from gflow.daemon.store import MEMORY, SCHEMA_VERSION, JobStore, StoreError
from gflow.protocol import Job, JobState


def _job(i, state=JobState.QUEUED, user="a", **kw):
    return Job(id=i, state=state, user=user, owner_uid=1000, submitted_at=float(i), **kw)


def test_round_trip_and_queries(tmp_path):
    store = JobStore(str(tmp_path / "g.db"))
    store.write(new=[_job(1), _job(2, user="b"), _job(3, group_id="g1")], envs={1: {"K": "V"}})
    assert store.max_id() == 3
    assert store.get_env(1) == {"K": "V"} and store.get_env(2) == {}
    done = store.get(2)
    done.state = JobState.FINISHED
    store.write(changed=[done])
    assert [j.id for j in store.load_active()] == [1, 3]
    assert store.state_of(2) is JobState.FINISHED and store.state_of(9) is None
    assert len(store.query_rows(states=[JobState.FINISHED])) == 1
    assert len(store.query_rows(users=["a"], since=2.0)) == 1
    assert [j.id for j in store.group_jobs("g1")] == [3]
    assert store.recent_ids_of(1000, 2) == [3, 2]
    store.set_meta("allowed_gpus", [0, 1])
    assert store.get_meta("allowed_gpus") == [0, 1]
    store.close()
    reopened = JobStore(str(tmp_path / "g.db"))
    assert reopened.get(3).group_id == "g1"


def test_an_in_memory_store_keeps_jobs_and_touches_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = JobStore(MEMORY)
    store.write(new=[_job(1), _job(2, user="b")], envs={1: {"K": "V"}})
    assert store.max_id() == 2 and store.get_env(1) == {"K": "V"}
    assert [j.id for j in store.load_active()] == [1, 2]
    assert list(tmp_path.iterdir()) == []


def test_new_and_changed_jobs_commit_together_or_not_at_all(tmp_path):
    store = JobStore(str(tmp_path / "g.db"))
    store.write(new=[_job(1), _job(2)])
    failed = store.get(1)
    failed.state = JobState.FAILED
    with pytest.raises(sqlite3.IntegrityError):  # the "retry" reuses an existing id
        store.write(new=[_job(2)], changed=[failed])
    assert store.state_of(1) is JobState.QUEUED  # the failure was not recorded without its retry
    store.write(new=[_job(3)], changed=[failed])
    assert store.state_of(1) is JobState.FAILED and store.state_of(3) is JobState.QUEUED


def test_schema_version_is_recorded(tmp_path):
    JobStore(str(tmp_path / "g.db")).close()
    db = sqlite3.connect(tmp_path / "g.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused_not_touched(tmp_path):
    path = tmp_path / "g.db"
    JobStore(str(path)).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this gflow"):
        JobStore(str(path))


def test_corrupt_database_is_kept_and_refused(tmp_path):
    path = tmp_path / "g.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="a copy was kept"):
        JobStore(str(path))
    assert path.read_bytes().startswith(b"this is not a database")
    assert list(tmp_path.glob("g.db.corrupt.*"))


def test_an_environment_is_decoded_once_read_only_and_forgotten_with_its_purge(tmp_path):
    store = JobStore(str(tmp_path / "g.db"))
    store.write(new=[_job(1), _job(2, env_from=1)], envs={1: {"K": "V"}})
    env = store.get_env(1)
    assert env == {"K": "V"} and store.get_env(1) is env, "the shared row was read again"
    with pytest.raises(TypeError):
        env["K"] = "changed"  # type: ignore[index]  # shared by every launch that reads it
    store.purge([1, 2], {})
    assert store.get_env(1) == {}


def test_a_deferred_row_a_commit_writes_again_is_written_once_and_the_newer(tmp_path):
    store = JobStore(str(tmp_path / "g.db"))
    store.write(new=[_job(1), _job(2)])
    first, second = store.get(1), store.get(2)
    first.state, second.state = JobState.RUNNING, JobState.RUNNING
    store.defer([first, second])  # their shepherds' pids
    assert store.deferred_since is not None
    first.state = JobState.FINISHED
    before = store.db.total_changes
    store.write(changed=[first])
    assert store.db.total_changes - before == 2, "a deferred row was written twice in one commit"
    assert store.state_of(1) is JobState.FINISHED and store.state_of(2) is JobState.RUNNING
    assert store.deferred_since is None
