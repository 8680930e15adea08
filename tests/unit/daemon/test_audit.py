"""The audit trail's pieces alone: what a request targets, how it ended, and reading the
daily log back (damaged and foreign lines skipped)."""
from __future__ import annotations

import logging

import msgspec

from gflow.daemon import audit
from gflow.daemon.daylog import DailyJsonHandler
from gflow.daemon.identity import Caller
from gflow.protocol import ActionResult, GflowError, IdsParams, SubmitResult, UpdateParams

ADMIN = Caller(pid=1, uid=0, gid=0, user="root", admin=True)


def test_targets_and_outcomes():
    assert audit.targets(IdsParams(ids=[3, 4]), None) == [3, 4]
    assert audit.targets(UpdateParams(ids=[5]), None) == [5]  # UNSET fields are not targets
    assert audit.targets(None, SubmitResult(jobs=[(7, "a"), (8, "b")])) == [7, 8]
    assert audit.outcome(ActionResult(done=[3]), None) == "ok"
    assert audit.outcome(ActionResult(done=[3], errors=[(4, "not yours")]), None) == "partial: refused 4: not yours"
    assert audit.outcome(None, GflowError("forbidden", "no")) == "error: no"


def test_entries_round_trip_through_the_daily_log(tmp_path):
    handler = DailyJsonHandler(str(tmp_path))
    logger = logging.getLogger("gflow.audit")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        first = audit.record(ADMIN, "jobs.cancel", IdsParams(ids=[1]), ActionResult(done=[1]), now=1000.0)
        logging.getLogger("gflow.server").warning("not an audit line")
        second = audit.record(ADMIN, "jobs.hold", IdsParams(ids=[2]), ActionResult(done=[2]), now=2000.0)
    finally:
        logger.removeHandler(handler)
        handler.close()
    (day,) = tmp_path.glob("daemon.*.log")
    with open(day, "ab") as f:
        f.write(b'{"target": "gflow.audit", "fields": {"method": "broken"}}\n{not json\n')
    assert audit.read(str(tmp_path), None, None) == [first, second]
    assert audit.read(str(tmp_path), 1500.0, None) == [second]
    assert audit.read(str(tmp_path), None, "alice") == []
    line = msgspec.json.decode(day.read_bytes().splitlines()[0])
    assert line["target"] == "gflow.audit" and line["fields"]["uid"] == 0 and line["fields"]["targets"] == [1]
