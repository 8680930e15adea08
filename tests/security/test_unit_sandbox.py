"""The shipped system unit's sandbox, and jobs still working inside it.

systemd is not PID 1 here, so the daemon is started under the parts of the unit that work
without it (UMask=, NoNewPrivileges=, CapabilityBoundingSet= via setpriv): the setuid drop
must still work there, jobs must see the real /tmp and their owners' homes, and what the
daemon writes must be private.
"""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from accounts import NEEDS_ROOT, SystemDaemon

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "systemd" / "gflowd.service"


def service() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("="))
    parser.optionxform = str
    parser.read(UNIT)
    return dict(parser["Service"])


def test_unit_sets_the_sandbox_it_promises():
    s = service()
    assert s.get("UMask") == "0077", "daemon files would be world-readable (no UMask=0077)"
    assert s.get("LimitNOFILE"), "no LimitNOFILE=: connections and job pidfds share the default 1024"
    assert s.get("ProtectSystem") == "full", "ProtectSystem= not full: /usr and /etc writable by the daemon"
    # what must NOT be set, or jobs break: they write their homes and share the real /tmp
    assert s.get("ProtectHome", "no") == "no", "ProtectHome= set: jobs can no longer write their homes"
    assert s.get("PrivateTmp", "no") == "no", "PrivateTmp= set: jobs lose the /tmp their owners use"
    assert s.get("PrivateDevices", "no") == "no", "PrivateDevices= set: jobs lose the GPUs"
    assert "ProtectClock" not in s and "DeviceAllow" not in s, "a device allow-list hides the GPUs from jobs"
    assert s.get("KillMode") == "process", "KillMode= not process: stopping the daemon kills every job"
    for needed in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL"):
        assert needed in s["CapabilityBoundingSet"].split(), f"{needed} dropped: jobs cannot run as their owners"


def test_systemd_rates_the_unit_medium_or_better():
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (Debian: the systemd package)")
    report = subprocess.run(["systemd-analyze", "security", "--offline=true", str(UNIT)],
                            capture_output=True, text=True).stdout
    match = re.search(r"Overall exposure level for gflowd\.service: ([\d.]+)", report)
    assert match, report
    assert float(match.group(1)) <= 5.0, f"the unit is exposed beyond MEDIUM:\n{report}"


def _sandboxed_argv() -> list[str]:
    s = service()
    argv = ["setpriv"]
    if s.get("NoNewPrivileges") == "yes":
        argv.append("--no-new-privs")
    caps = s["CapabilityBoundingSet"].split()
    argv.append("--bounding-set=-all," + ",".join("+" + c[len("CAP_"):].lower() for c in caps))
    return argv + ["--"]


@NEEDS_ROOT
def test_jobs_run_as_their_owners_inside_the_sandbox(runtime, accounts):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    python, pythonpath = runtime
    base = Path(tempfile.mkdtemp(prefix="gfsbx", dir="/tmp"))
    base.chmod(0o755)
    daemon = SystemDaemon(base, python, pythonpath)
    umask = int(service()["UMask"], 8)
    log = open(base / "daemon.log", "ab")
    daemon.proc = subprocess.Popen(
        _sandboxed_argv() + [python, "-m", "gflow", "gflowd", "-c", str(daemon.config), "up", "--system",
                             "--foreground"],
        env=daemon.env(HOME="/root"), stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd="/",
        start_new_session=True, preexec_fn=lambda: os.umask(umask),
    )
    shared_tmp = Path(tempfile.mkdtemp(prefix="gfsbx-tmp-", dir="/tmp"))
    shared_tmp.chmod(0o1777)
    try:
        deadline = time.monotonic() + 20
        while not daemon.socket.exists():  # a one-off start-up wait, as SystemDaemon.start does
            assert daemon.proc.poll() is None, (base / "daemon.log").read_text()
            assert time.monotonic() < deadline, "system daemon did not start"
            time.sleep(0.02)
        alice = accounts["alice"]
        script = (f"id -un; umask; echo home > $HOME/gfsbx-probe; echo tmp > {shared_tmp}/from-job; "
                  "grep NoNewPrivs /proc/self/status")
        out = daemon.run(alice, "gbatch", script)
        assert out.returncode == 0, out.stderr
        job_id = int(re.search(r"job (\d+)", out.stdout).group(1))
        with daemon.client() as c:
            (job,) = c.wait([job_id], timeout=30)
        text = daemon.run(alice, "gjob", "log", str(job_id)).stdout.split()
        assert text[:2] == [alice.name, "0022"], f"setuid drop under NoNewPrivileges failed: {text}"
        assert text[-2:] == ["NoNewPrivs:", "1"], "the job escaped the daemon's no-new-privileges flag"
        assert (Path(alice.home) / "gfsbx-probe").read_text() == "home\n", "job could not write its home"
        assert (shared_tmp / "from-job").read_text() == "tmp\n", "job did not see the real /tmp"
        assert os.stat(shared_tmp / "from-job").st_uid == alice.uid
        assert os.stat(daemon.state_dir / "gflow.db").st_mode & 0o077 == 0, "daemon database readable by others"
    finally:
        daemon.stop()
        shutil.rmtree(shared_tmp, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
        try:
            os.unlink(Path(accounts["alice"].home) / "gfsbx-probe")
        except FileNotFoundError:
            pass
