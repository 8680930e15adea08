import asyncio
import os

import pytest

from gflow.daemon.logread import CHUNK, LogReader, first_lines_end, last_lines_start, open_log
from gflow.protocol import GflowError


def _fd(path, data: bytes) -> int:
    path.write_bytes(data)
    return os.open(path, os.O_RDONLY)


@pytest.mark.parametrize("data", [b"", b"a\nb\nc\n", b"a\nb\nc", b"\n\n\n", b"x" * (3 * CHUNK) + b"\nend\n"])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_first_and_last_lines_match_splitting_the_whole_file(tmp_path, data, n):
    fd = _fd(tmp_path / "log", data)
    try:
        lines = data.splitlines(keepends=True)
        assert data[:first_lines_end(fd, n, 1 << 30)] == b"".join(lines[:n])
        assert data[last_lines_start(fd, len(data), n, 1 << 30):] == b"".join(lines[-n:])
    finally:
        os.close(fd)


def test_scans_stop_at_the_cap(tmp_path):
    fd = _fd(tmp_path / "log", b"\0" * (4 * CHUNK))  # one endless line, like a sparse file
    try:
        assert first_lines_end(fd, 1, CHUNK + 5) == CHUNK + 5
        assert last_lines_start(fd, 4 * CHUNK, 1, CHUNK + 5) == 3 * CHUNK - 5
    finally:
        os.close(fd)


def test_only_a_regular_file_with_one_link_owned_by_the_owner_is_opened(tmp_path):
    uid = os.geteuid()
    log = tmp_path / "1.log"
    assert open_log(str(log), uid) is None  # not started yet
    log.write_text("ok\n")
    fd, size = open_log(str(log), uid)
    os.close(fd)
    assert size == 3
    with pytest.raises(GflowError, match="belongs to uid"):
        open_log(str(log), uid + 1)
    os.link(log, tmp_path / "copy")
    with pytest.raises(GflowError, match="2 hard links"):
        open_log(str(log), uid)
    fifo = tmp_path / "2.log"
    os.mkfifo(fifo)
    with pytest.raises(GflowError, match="not a regular file"):
        open_log(str(fifo), uid)  # and it did not block
    link = tmp_path / "3.log"
    link.symlink_to(log)
    with pytest.raises(GflowError, match="symbolic link"):
        open_log(str(link), uid)


def test_the_reader_streams_the_tail_within_the_cap(tmp_path):
    log = tmp_path / "1.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(100_000)))

    async def read(**kw):
        reader = LogReader(cap=CHUNK * 2, timeout_secs=10)
        try:
            return [c async for c in reader.read(os.geteuid(), str(log), os.geteuid(), max_bytes=1 << 30, **kw)]
        finally:
            reader.close()

    whole = asyncio.run(read(first=None, last=None))
    assert len(whole) == 2 and b"".join(whole) == log.read_bytes()[-2 * CHUNK:]
    assert b"".join(asyncio.run(read(first=2, last=None))) == b"line 0\nline 1\n"
    assert b"".join(asyncio.run(read(first=None, last=1))) == b"line 99999\n"
    log.unlink()
    assert asyncio.run(read(first=None, last=None)) == [None]  # no log yet
