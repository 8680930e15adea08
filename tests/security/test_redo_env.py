"""Attack: an admin's `gjob redo --current-env` on another user's job would run that user's
command, as that user, with the admin's environment (tokens, keys). Only the owner may use
--current-env; an admin's redo runs with the job's stored environment."""
from __future__ import annotations

from pathlib import Path

from gflow.protocol import JobState

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from state_attacks import others_still_served, submitted_ids

pytestmark = NEEDS_ROOT


def _finish(daemon, job_id: int) -> None:
    with daemon.client() as c:
        (job,) = c.wait([job_id], timeout=60)
    assert job.state is JobState.FINISHED, (job.id, job.state, job.reason)


def _redo_id(stdout: str) -> int:
    return submitted_ids(stdout)[0]


def test_admin_redo_never_carries_the_admins_environment(system_daemon, accounts):
    alice, bob, carol = accounts["alice"], accounts["bob"], accounts["carol"]
    seen = Path(alice.home) / "token.txt"
    seen.unlink(missing_ok=True)  # the accounts outlive one test
    out = system_daemon.run(alice, "gbatch", "echo $API_TOKEN >> token.txt", env={"API_TOKEN": "alice-token"})
    assert out.returncode == 0, out.stderr
    (job_id,) = submitted_ids(out.stdout)
    _finish(system_daemon, job_id)

    refused = system_daemon.run(carol, "gjob", "redo", str(job_id), "--current-env", env={"API_TOKEN": "carol-token"})
    assert refused.returncode != 0 and "only the owner" in refused.stderr, (
        f"admin redo --current-env ran alice's job with carol's environment: {refused.stdout}{refused.stderr}"
    )
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr

    redo = system_daemon.run(carol, "gjob", "redo", str(job_id), env={"API_TOKEN": "carol-token"})
    assert redo.returncode == 0, redo.stderr
    _finish(system_daemon, _redo_id(redo.stdout))
    mine = system_daemon.run(alice, "gjob", "redo", str(job_id), "--current-env", env={"API_TOKEN": "alice-new"})
    assert mine.returncode == 0, f"the owner's redo --current-env was refused: {mine.stderr}"
    _finish(system_daemon, _redo_id(mine.stdout))
    assert seen.read_text().split() == ["alice-token", "alice-token", "alice-new"], (
        f"an admin's redo did not run with the stored environment: {seen.read_text().split()}"
    )
    others_still_served(system_daemon, bob, "admin redo --current-env")
