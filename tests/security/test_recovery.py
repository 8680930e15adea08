"""Attack/failure: `kill -9` of the system daemon while a big batch is being launched. After
the restart every job runs exactly once: never-started jobs go back to the queue, shepherds
already started are adopted, nothing is failed `RunnerVanished` that did not vanish."""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from gflow.protocol import JobState

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from state_attacks import kill_9, others_still_served, start_and_wait, submitted_ids

pytestmark = NEEDS_ROOT

BATCH = 128


def _first_payload_ran(ran: Path) -> None:
    deadline = time.monotonic() + 60
    while not (ran.exists() and ran.stat().st_size):
        assert time.monotonic() < deadline, "no payload of the batch started"
        time.sleep(0.002)


@pytest.mark.parametrize("moment", ["at-the-reply", "after-the-first-payload"])
def test_kill_9_mid_launch_runs_every_job_exactly_once(system_daemon, accounts, moment):
    alice, bob = accounts["alice"], accounts["bob"]
    ran = Path(alice.home) / "ran.txt"
    ran.unlink(missing_ok=True)
    out = system_daemon.run(alice, "gbatch", "--array", f"1-{BATCH}", "echo $GFLOW_JOB_ID >> ran.txt")
    assert out.returncode == 0, out.stderr
    ids = submitted_ids(out.stdout)
    assert len(ids) == BATCH, out.stdout
    # the daemon is admitting and spawning the batch (a slice per loop turn) right now;
    # after the first payload, some shepherds exist that the database does not name yet
    if moment == "after-the-first-payload":
        _first_payload_ran(ran)
    kill_9(system_daemon)
    start_and_wait(system_daemon)
    with system_daemon.client() as c:
        jobs = c.wait(ids, timeout=180)
    bad = [(j.id, j.state.value, j.reason) for j in jobs if j.state is not JobState.FINISHED]
    assert not bad, f"kill -9 mid-launch ({moment}): {len(bad)} of {BATCH} jobs did not finish normally: {bad[:8]}"
    runs = Counter(int(line) for line in ran.read_text().split())
    twice = sorted(i for i, n in runs.items() if n > 1)
    never = sorted(set(ids) - set(runs))
    assert not twice and not never, (
        f"kill -9 mid-launch ({moment}): payloads ran twice {twice[:8]} / never {never[:8]}"
    )
    others_still_served(system_daemon, bob, "kill -9 mid-launch")
