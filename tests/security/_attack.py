"""Shared by the resource-bound tests: a hostile account's scripts, and the checks that run
after every attack (another account is still served, nothing acknowledged was lost).

An attack runs as a separate process under the hostile account's uid (the daemon counts and
limits per uid, so it must really be another account). It sets itself up, prints one line
("ready ..." plus figures), then holds its connections until the test closes its stdin.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from accounts import Account, SystemDaemon  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from gflow_testing import kill_processes_under

# what every attack script starts with: raw frames on the daemon's socket
PRELUDE = textwrap.dedent('''
    import os, socket, struct, sys, time
    import msgspec
    SOCK = os.environ["GFLOW_SOCKET"]
    enc = msgspec.msgpack.encode

    def frame(obj):
        body = enc(obj)
        return struct.pack(">I", len(body)) + body

    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(SOCK)
        return s

    def hello(s):
        s.sendall(frame({"id": 1, "method": "hello", "params": {"protocol": PROTOCOL}}))

    def session():
        """A connection past its hello."""
        s = connect()
        hello(s)
        reply(s)
        return s

    def recv_exact(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def reply(s):
        (n,) = struct.unpack(">I", recv_exact(s, 4))
        return msgspec.msgpack.decode(recv_exact(s, n))

    def until_closed(s):
        """Read until the daemon hangs up; the frames it sent on the way."""
        got = []
        try:
            while True:
                got.append(reply(s))
        except (EOFError, ConnectionError):
            return got

    def hold():
        sys.stdout.flush()
        sys.stdin.read()
''')


def make_daemon_factory(tmp_dirs: list, daemons: list, runtime):
    python, pythonpath = runtime

    def start(**daemon_keys) -> SystemDaemon:
        base = Path(tempfile.mkdtemp(prefix="gfsec", dir="/tmp"))
        base.chmod(0o755)
        tmp_dirs.append(base)
        daemon = SystemDaemon(base, python, pythonpath)
        extra = "".join(f"  {key}: {value}\n" for key, value in daemon_keys.items())
        daemon.config.write_text(
            f"daemon:\n  socket: {daemon.socket}\n  state_dir: {daemon.state_dir}\n{extra}"
            "gpu:\n  backend: fake\n  count: 2\n"
        )
        daemons.append(daemon.start())
        _until_answering(daemon)
        return daemon

    return start


def _until_answering(daemon: SystemDaemon) -> None:
    """The socket file can exist a moment before the daemon listens on it."""
    from gflow.client import Client, DaemonUnavailable

    deadline = time.monotonic() + 20
    while True:
        try:
            with Client(str(daemon.socket)) as client:
                client.identity
            return
        except DaemonUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.fixture
def make_system_daemon(runtime, accounts):
    """`make_system_daemon(key=value, ...)`: a system daemon as root with extra `daemon:`
    settings (smaller timeouts keep the tests short)."""
    tmp_dirs: list[Path] = []
    daemons: list[SystemDaemon] = []
    yield make_daemon_factory(tmp_dirs, daemons, runtime)
    for daemon in daemons:
        daemon.stop()
    kill_processes_under(*tmp_dirs)
    for base in tmp_dirs:
        shutil.rmtree(base, ignore_errors=True)


class Attack:
    """One attack script running as `account`; a context manager that ends it."""

    def __init__(self, daemon: SystemDaemon, account: Account, script: str, name: str):
        from gflow.protocol import PROTOCOL_VERSION

        self.name = name
        source = f"PROTOCOL = {PROTOCOL_VERSION}\n" + PRELUDE + textwrap.dedent(script)
        self.proc = subprocess.Popen(
            [daemon.python, "-c", source],
            env=daemon.env(account), cwd=account.home, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            user=account.uid, group=account.gid, extra_groups=account.groups,
        )
        self.ready = self.proc.stdout.readline().strip()
        if not self.ready.startswith("ready"):
            self.proc.kill()
            raise AssertionError(f"{name}: the attack could not be set up: {self.ready!r} {self.proc.stderr.read()}")

    def __enter__(self) -> "Attack":
        return self

    def __exit__(self, *exc) -> None:
        self.end()

    def end(self) -> str:
        """Close the attacker's connections; what it printed after `ready`."""
        if self.proc.poll() is None:
            try:
                out, err = self.proc.communicate("", timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
            self.rest = out
            return out
        return ""

    def figures(self) -> list[str]:
        return self.ready.split()[1:]


def daemon_process(daemon: SystemDaemon) -> psutil.Process:
    return psutil.Process(daemon.proc.pid)


def rss_mb(daemon: SystemDaemon) -> float:
    return daemon_process(daemon).memory_info().rss / 2**20


def acknowledged_job(daemon: SystemDaemon, victim: Account) -> int:
    """A held job of the victim, acknowledged before the attack, checked after it."""
    out = daemon.run(victim, "gbatch", "--hold", "true")
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[3])


def assert_others_served(daemon: SystemDaemon, victim: Account, job_id: int, attack: str) -> None:
    """Another account's `gqueue` answers, and the job it had acknowledged is still there."""
    try:
        out = subprocess.run(
            [daemon.python, "-m", "gflow", "gqueue", "-a", "-f", "JOBID,ST", "-j", str(job_id)],
            env=daemon.env(victim), cwd=victim.home, capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL, user=victim.uid, group=victim.gid, extra_groups=victim.groups,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{attack}: another account's gqueue got no answer") from None
    assert out.returncode == 0, f"{attack}: another account's gqueue failed: {out.stderr.strip()}"
    assert str(job_id) in out.stdout, f"{attack}: acknowledged job {job_id} is missing: {out.stdout!r}"
