"""Runner files recycled as spares: rewritten and renamed into place, never created anew."""
from __future__ import annotations

import errno
import os

import pytest

from gflow.daemon.executors import spares
from gflow.daemon.executors.spares import Spares


def _spare(directory, kind: str, number: int, data: bytes = b"old") -> str:
    path = os.path.join(directory, f"spare.{kind}.{number}")
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_without_spares_the_caller_creates_the_file(tmp_path):
    pool = Spares(str(tmp_path))
    assert not pool.write("spec", str(tmp_path / "1.spec.json"), b"{}")
    assert not (tmp_path / "1.spec.json").exists()


def test_a_spare_is_rewritten_and_renamed_into_place(tmp_path):
    spare = _spare(tmp_path, "spec", 3, b"x" * 100)  # longer than the new content
    inode = os.stat(spare).st_ino
    pool = Spares(str(tmp_path))  # taken over from the directory
    assert pool.count("spec") == 1
    target = tmp_path / "7.spec.json"
    assert pool.write("spec", str(target), b'{"job_id": 7}')
    assert target.read_bytes() == b'{"job_id": 7}'
    assert target.stat().st_ino == inode and not os.path.exists(spare)
    assert pool.count("spec") == 0


def test_only_spare_names_are_taken_over(tmp_path):
    _spare(tmp_path, "reserve", 1)
    _spare(tmp_path, "bogus", 2)
    (tmp_path / "1.spec.json").write_text("{}")
    (tmp_path / "spare.spec.x").write_text("")
    pool = Spares(str(tmp_path))
    assert (pool.count("spec"), pool.count("reserve"), pool.count("err")) == (0, 1, 0)
    # new names never collide with those already there
    assert pool.reserve("reserve") == str(tmp_path / "spare.reserve.3")


def test_recycled_files_join_the_pool_up_to_its_size(tmp_path):
    pool = Spares(str(tmp_path), keep=2)
    names = [pool.reserve("reserve") for _ in range(3)]
    assert names[2] is None  # two promised already: the third file is deleted
    for n, name in enumerate(names):
        path = tmp_path / f"{n}.status.reserve"
        path.write_bytes(b"{}")
        kept = spares.recycle(str(path), name)
        assert not path.exists()
        if name is not None:
            pool.returned("reserve", kept)
    assert pool.count("reserve") == 2
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(n) for n in names[:2])


def test_a_missing_file_is_not_a_spare(tmp_path):
    pool = Spares(str(tmp_path))
    name = pool.reserve("spec")
    pool.returned("spec", spares.recycle(str(tmp_path / "9.spec.json"), name))
    assert pool.count("spec") == 0 and os.listdir(tmp_path) == []


def test_a_spare_that_fails_is_deleted_and_the_error_raised(tmp_path, monkeypatch):
    spare = _spare(tmp_path, "spec", 1)
    pool = Spares(str(tmp_path))

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spares.os, "pwrite", full)
    with pytest.raises(OSError) as e:
        pool.write("spec", str(tmp_path / "1.spec.json"), b"{}")
    assert e.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == [] and not os.path.exists(spare)
    assert pool.count("spec") == 0


def test_take_and_put_back(tmp_path):
    spare = _spare(tmp_path, "err", 5)
    pool = Spares(str(tmp_path))
    assert pool.take("err") == spare and pool.take("err") is None
    pool.put_back("err", spare)
    assert pool.count("err") == 1
