"""Attacks on the single-instance lock: another account holding it so the system daemon cannot
(re)start, and a second daemon on the same state directory (it would run every job twice)."""
from __future__ import annotations

import subprocess

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from state_attacks import one_line_error, others_still_served, start_and_wait, start_refused

pytestmark = NEEDS_ROOT

_HOLD = """
import fcntl, os, sys, threading
opened = []
for path in sys.argv[1:]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        continue
    opened.append(path)
    # blocks while the daemon holds it, and takes it the moment the daemon stops
    threading.Thread(target=fcntl.flock, args=(fd, fcntl.LOCK_SH), daemon=True).start()
print(opened, flush=True)
sys.stdin.read()
"""


def test_another_account_cannot_hold_the_lock(system_daemon, accounts):
    bob = accounts["bob"]
    locks = [str(system_daemon.state_dir / "gflowd.lock"), str(system_daemon.socket.parent / "gflowd.lock")]
    holder = subprocess.Popen(
        [system_daemon.python, "-c", _HOLD, *locks], user=bob.uid, group=bob.gid,
        env=system_daemon.env(bob), cwd=bob.home, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        held = holder.stdout.readline().strip()
        system_daemon.stop()
        start_and_wait(system_daemon)  # `gflowd --system restart`
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert held == "[]", f"bob can open and hold the daemon's lock file(s) {held}"
    others_still_served(system_daemon, bob, "holding the lock")


def test_a_second_daemon_on_the_same_state_dir_is_refused(system_daemon, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    other = system_daemon.base / "other.yaml"
    other.write_text(system_daemon.config.read_text().replace(
        str(system_daemon.socket), str(system_daemon.base / "run2" / "gflowd.sock")))
    refused = start_refused(system_daemon, config=other)
    line = one_line_error(refused, "a second daemon on the same state directory")
    assert str(system_daemon.state_dir) in line and f"PID {system_daemon.proc.pid}" in line, (
        f"the refusal does not name the state directory and the running daemon: {line}"
    )
    assert not (system_daemon.base / "run2" / "gflowd.sock").exists(), "the refused daemon left a socket"
    out = system_daemon.run(alice, "gbatch", "true")
    assert out.returncode == 0, f"after a second daemon was refused, a submission failed: {out.stderr}"
    others_still_served(system_daemon, bob, "a second daemon on the same state directory")
