"""Helpers for the state and recovery attacks of tests/security: restarting the system daemon
after it was killed, and checking that other accounts are still served."""
from __future__ import annotations

import re
import time

from gflow.client import Client, DaemonUnavailable


def submitted_ids(stdout: str) -> list[int]:
    return [int(m) for m in re.findall(r"Submitted batch job (\d+)", stdout)]


def kill_9(daemon) -> None:
    daemon.proc.kill()
    daemon.proc.wait(15)


def start_and_wait(daemon, timeout: float = 30.0) -> None:
    """Start the system daemon again and return once its socket answers (a socket file left
    by a killed daemon exists before the new one serves)."""
    daemon.start()
    deadline = time.monotonic() + timeout
    while True:
        if daemon.proc.poll() is not None:
            raise AssertionError("gflowd exited during start-up: " + (daemon.base / "daemon.log").read_text()[-2000:])
        try:
            Client(str(daemon.socket)).connect().close()
            return
        except DaemonUnavailable:
            if time.monotonic() > deadline:
                raise AssertionError("gflowd did not answer after a restart") from None
            time.sleep(0.02)


def others_still_served(daemon, account, attack: str) -> None:
    """Another account's `gqueue` answers after the attack."""
    out = daemon.run(account, "gqueue")
    assert out.returncode == 0, f"after {attack}, {account.name}'s gqueue failed: {out.stderr.strip()}"
