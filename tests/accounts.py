"""Real accounts and a root system daemon in a temporary directory (a pytest plugin, loaded by
tests/conftest.py, shared by tests/multiuser and tests/security).

These tests need root: they create Unix accounts (`useradd`), run the CLIs as those accounts
(subprocess `user=`/`group=`/`extra_groups=`), and check the uids jobs really run under.
Other accounts cannot execute an interpreter under /root (pyenv), so a world-readable runtime
is assembled: a Python everyone may run, plus copies of gflow and its dependencies.
"""
from __future__ import annotations

import grp
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gflow_testing import kill_processes_under

ROOT = Path(__file__).resolve().parents[1]
# our test accounts never collide with real ones; two suites run side by side on one machine
# (two checkouts) need different prefixes, or one run's teardown deletes the other's accounts
PREFIX = os.environ.get("GFLOW_TEST_ACCOUNT_PREFIX", "gft")
NAMES = ("alice", "bob", "carol")
ADMIN_GROUP = "gflow-admin"
DEPENDENCIES = ("msgspec", "yaml", "_yaml", "psutil", "argcomplete", "pynvml")

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0, reason="multi-user tests need root to create accounts and switch users"
)


@dataclass
class Account:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def groups(self) -> list[int]:
        return os.getgrouplist(self.name, self.gid)


def _world_executable(path: str) -> bool:
    real = os.path.realpath(path)
    parts = Path(real).parents
    return all(os.stat(p).st_mode & 0o001 for p in parts) and bool(os.stat(real).st_mode & 0o001)


def _user_python() -> str:
    """An interpreter of our minor version that other accounts may execute (compiled
    dependencies such as msgspec are built for this minor version)."""
    candidates = [sys.executable, f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}", "/usr/bin/python3"]
    for candidate in candidates:
        if not os.path.exists(candidate) or not _world_executable(candidate):
            continue
        version = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        ).stdout.strip()
        if version == str(tuple(sys.version_info[:2])):
            return candidate
    pytest.skip(f"no Python {sys.version_info[0]}.{sys.version_info[1]} that other accounts can execute")


@pytest.fixture(scope="session")
def runtime():
    """(python, PYTHONPATH) usable by every account."""
    base = Path(tempfile.mkdtemp(prefix="gflow-mu-", dir="/tmp"))
    base.chmod(0o755)
    lib = base / "lib"
    shutil.copytree(ROOT / "gflow", lib / "gflow", ignore=shutil.ignore_patterns("__pycache__"))
    for name in DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, lib / origin.parent.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, lib / origin.name)
    for path in [base, *base.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield _user_python(), str(lib)
    shutil.rmtree(base, ignore_errors=True)


def _ensure_account(name: str, groups: list[str]) -> Account:
    full = PREFIX + name
    try:
        pwd.getpwnam(full)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", full], check=True)
    for group in groups:
        subprocess.run(["usermod", "-aG", group, full], check=True)
    entry = pwd.getpwnam(full)
    return Account(full, entry.pw_uid, entry.pw_gid, entry.pw_dir)


@pytest.fixture(scope="session")
def accounts() -> dict[str, Account]:
    created_group = False
    try:
        grp.getgrnam(ADMIN_GROUP)
    except KeyError:
        subprocess.run(["groupadd", ADMIN_GROUP], check=True)
        created_group = True
    made = {
        "alice": _ensure_account("alice", []),
        "bob": _ensure_account("bob", []),
        "carol": _ensure_account("carol", [ADMIN_GROUP]),
    }
    yield made
    for account in made.values():
        subprocess.run(["userdel", "--remove", account.name], capture_output=True)
    if created_group:
        subprocess.run(["groupdel", ADMIN_GROUP], capture_output=True)


class SystemDaemon:
    """`gflowd up --system --foreground` as root, with socket and state in a temp dir."""

    def __init__(self, base: Path, python: str, pythonpath: str, config: str = "", gpus: int = 2):
        self.base = base
        self.python = python
        self.pythonpath = pythonpath
        self.socket = base / "run" / "gflowd.sock"
        self.state_dir = base / "state"
        self.config = base / "gflow.yaml"
        self.config.write_text(
            f"daemon:\n  socket: {self.socket}\n  state_dir: {self.state_dir}\n"
            f"gpu:\n  backend: fake\n  count: {gpus}\n" + config
        )
        self.proc: subprocess.Popen | None = None

    def env(self, account: Account | None = None, **extra) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "PYTHONPATH": self.pythonpath,
            "GFLOW_SOCKET": str(self.socket),
            "LANG": "C.UTF-8",
        }
        if account is not None:
            env.update(HOME=account.home, USER=account.name, LOGNAME=account.name)
        env.update(extra)
        return env

    def start(self) -> "SystemDaemon":
        log = open(self.base / "daemon.log", "ab")
        self.proc = subprocess.Popen(
            [self.python, "-m", "gflow", "gflowd", "-c", str(self.config), "up", "--system", "--foreground"],
            env=self.env(HOME="/root"), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd="/",
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.base / "daemon.log").read_text())
            if self.socket.exists():
                return self
            time.sleep(0.02)
        raise RuntimeError("system daemon did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    def run(self, account: Account | None, tool: str, *args: str, cwd: str | None = None,
            env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """Run a CLI as `account` (None: as root)."""
        kwargs = {}
        if account is not None:
            kwargs = dict(user=account.uid, group=account.gid, extra_groups=account.groups)
        return subprocess.run(
            [self.python, "-m", "gflow", tool, *args],
            env=dict(self.env(account), **(env or {})),
            cwd=cwd or (account.home if account else "/"),
            capture_output=True, text=True, timeout=60, input=input,
            stdin=None if input is not None else subprocess.DEVNULL, **kwargs,
        )

    def client(self):
        from gflow.client import Client

        return Client(str(self.socket)).connect()


def running_system_daemon(runtime, prefix: str = "gfsys", **options):
    """A started SystemDaemon in a fresh temp dir (a generator for fixtures): stopped, its
    leftover processes killed and its directory removed afterwards."""
    python, pythonpath = runtime
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    daemon = SystemDaemon(base, python, pythonpath, **options).start()
    try:
        yield daemon
    finally:
        daemon.stop()
        kill_processes_under(base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def system_daemon(runtime, accounts):
    yield from running_system_daemon(runtime)
