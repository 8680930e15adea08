"""The structured daemon log: JSON lines, one file a day, the newest seven kept (SPEC 6.2)."""
from __future__ import annotations

import json
import logging
import time

from gflow.daemon.daylog import DailyJsonHandler

DAY = 86400


def _record(message: str, created: float) -> logging.LogRecord:
    record = logging.LogRecord("gflow.server", logging.INFO, __file__, 1, message, (), None)
    record.created = created
    return record


def test_one_json_line_per_record(tmp_path):
    handler = DailyJsonHandler(str(tmp_path))
    now = time.time()
    handler.emit(_record("gflowd serving", now))
    handler.close()
    (path,) = tmp_path.iterdir()
    assert path.name == time.strftime("daemon.%Y-%m-%d.log", time.localtime(now))
    (line,) = path.read_text().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["target"] == "gflow.server"
    assert entry["fields"] == {"message": "gflowd serving"} and entry["timestamp"][:4].isdigit()


def test_a_file_per_day_and_only_the_newest_seven_are_kept(tmp_path):
    (tmp_path / "daemon.out.log").write_text("plain\n")  # not one of ours
    handler = DailyJsonHandler(str(tmp_path))
    start = time.time() - 20 * DAY
    for day in range(10):
        handler.emit(_record(f"day {day}", start + day * DAY))
    handler.close()
    kept = sorted(p.name for p in tmp_path.iterdir() if p.name != "daemon.out.log")
    assert len(kept) == 7
    assert kept[-1] == time.strftime("daemon.%Y-%m-%d.log", time.localtime(start + 9 * DAY))
    assert (tmp_path / "daemon.out.log").exists()
