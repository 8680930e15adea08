"""Helpers for the state and recovery attacks of tests/security: restarting the system daemon
after it was killed, and checking that other accounts are still served."""
from __future__ import annotations

import re
import subprocess
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
    wait_answers(daemon, timeout)


def wait_answers(daemon, timeout: float = 30.0) -> None:
    """Until the daemon just started answers. The socket path may still lead to the killed
    one's listener for a moment (held by a child it was spawning), so its PID is checked."""
    deadline = time.monotonic() + timeout
    while True:
        if daemon.proc.poll() is not None:
            raise AssertionError("gflowd exited during start-up: " + (daemon.base / "daemon.log").read_text()[-2000:])
        try:
            with Client(str(daemon.socket), timeout=2) as c:
                if c.status().pid == daemon.proc.pid:
                    return
        except (DaemonUnavailable, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("gflowd did not answer after a restart") from None
        time.sleep(0.02)


def others_still_served(daemon, account, attack: str) -> None:
    """Another account's `gqueue` answers after the attack."""
    out = daemon.run(account, "gqueue")
    assert out.returncode == 0, f"after {attack}, {account.name}'s gqueue failed: {out.stderr.strip()}"


def run_as(daemon, account, code: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """A Python snippet run by `account` (the runtime's interpreter, which every account may
    execute)."""
    return subprocess.run(
        [daemon.python, "-c", code, *args], user=account.uid, group=account.gid,
        extra_groups=account.groups, env=daemon.env(account), cwd=account.home,
        capture_output=True, text=True, timeout=60, **kwargs,
    )


def foreground(daemon, *extra: str, config=None) -> list[str]:
    """The command line of `gflowd up --system --foreground` for this daemon's config."""
    return [daemon.python, "-m", "gflow", "gflowd", "-c", str(config or daemon.config),
            "up", "--system", "--foreground", *extra]


def start_refused(daemon, *extra: str, config=None) -> subprocess.CompletedProcess:
    """Run a daemon start that must end by itself (a refusal); a daemon that serves instead is
    killed after a while and reported as such."""
    proc = subprocess.Popen(foreground(daemon, *extra, config=config), env=daemon.env(HOME="/root"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, cwd="/")
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the daemon started instead of refusing: {err[-1000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def one_line_error(result: subprocess.CompletedProcess, attack: str) -> str:
    """The `gflowd: error: …` line of a refused start; no traceback anywhere."""
    text = result.stdout + result.stderr
    assert result.returncode != 0, f"{attack}: the daemon start did not fail: {text[-500:]}"
    assert "Traceback" not in text, f"{attack}: a traceback instead of a one-line error: {text[-2000:]}"
    lines = [line for line in result.stderr.splitlines() if line.startswith("gflowd: error:")]
    assert len(lines) == 1, f"{attack}: no one-line `gflowd: error:` message: {text[-1000:]}"
    return lines[0]
