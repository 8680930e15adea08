"""Attack: another account reads the job database (every job's environment, secrets included)
or holds a read transaction on it. The state directory and the daemon's files are private,
and an install from before that rule is repaired when the daemon starts."""
from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from state_attacks import others_still_served, run_as, start_and_wait

pytestmark = NEEDS_ROOT

_READ_ALL = """
import os, sqlite3, sys
found = []
for root, dirs, files in os.walk(sys.argv[1]):
    for name in files:
        try:
            with open(os.path.join(root, name), "rb") as f:
                if sys.argv[2].encode() in f.read():
                    found.append(name)
        except OSError:
            pass
try:
    db = sqlite3.connect("file:" + sys.argv[1] + "/gflow.db?mode=ro", uri=True)
    db.execute("BEGIN")
    db.execute("SELECT count(*) FROM jobs").fetchone()
    found.append("read transaction on gflow.db")
except sqlite3.Error:
    pass
print(found)
"""


def _modes(state: Path) -> dict[str, int]:
    paths = [state, state / "logs", state / "gflow.db", state / "gflow.db-wal", state / "gflow.db-shm",
             state / "gflowd.lock", state / "logs" / "daemon.out.log"]
    return {str(p.relative_to(state.parent)): stat.S_IMODE(p.stat().st_mode) for p in paths if p.exists()}


def _loose(modes: dict[str, int]) -> dict[str, str]:
    """Files another account may read, directories it may list."""
    return {p: oct(m) for p, m in modes.items() if m & 0o066}


def test_other_accounts_cannot_read_the_state(system_daemon, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    secret = f"s3cret-{uuid.uuid4().hex}"
    out = system_daemon.run(alice, "gbatch", "true", env={"API_TOKEN": secret})
    assert out.returncode == 0, out.stderr
    stolen = run_as(system_daemon, bob, _READ_ALL, str(system_daemon.state_dir), secret)
    assert stolen.stdout.strip() == "[]", f"bob read alice's environment from the state: {stolen.stdout.strip()}"
    loose = _loose(_modes(system_daemon.state_dir))
    assert not loose, f"state files readable by other accounts: {loose}"
    others_still_served(system_daemon, bob, "reading the state files")


def test_an_old_install_is_made_private_at_start_up(system_daemon, accounts):
    bob = accounts["bob"]
    system_daemon.stop()
    state = system_daemon.state_dir
    (state / "logs" / "daemon.out.log").write_text("from an older gflowd\n")
    for path in _modes(state):  # as an install from before the rule left them
        full = state.parent / path
        os.chmod(full, 0o755 if full.is_dir() else 0o644)
    start_and_wait(system_daemon)
    modes = _modes(state)
    assert not _loose(modes), f"an old install's state stays readable after a restart: {_loose(modes)}"
    assert modes["state"] == 0o711 and modes["state/logs"] == 0o711, (
        f"system-mode state dirs must be traversable only (0711) for the owners' log dirs: {modes}"
    )
    others_still_served(system_daemon, bob, "a restart over an old install")
