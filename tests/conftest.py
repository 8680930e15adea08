"""Shared fixtures: a real gflowd in a temporary directory, and the CLIs run as subprocesses."""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gflow_testing import Daemon, kill_leftover_jobs  # noqa: E402

# real accounts and a system daemon (tests/multiuser, tests/security)
pytest_plugins = ("accounts",)


@pytest.fixture
def short_tmp():
    """Unix socket paths are limited to 108 bytes: keep the base directory short."""
    path = Path(tempfile.mkdtemp(prefix="gf", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_daemon(short_tmp):
    started: list[Daemon] = []

    def factory(config: str = "", start: bool = True) -> Daemon:
        d = Daemon(short_tmp / f"d{len(started)}", config)
        started.append(d)
        return d.start() if start else d

    yield factory
    for d in started:
        d.stop()
        kill_leftover_jobs(d)


@pytest.fixture
def daemon(make_daemon) -> Daemon:
    return make_daemon()


