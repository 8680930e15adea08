"""Daemon lifecycle (SPEC 6.6): signals, `gflowd down` escalation, `gflowd service`."""
from __future__ import annotations

import os
import signal

import pytest

from gflow.protocol import JobState

from gflow_testing import wait_for


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR2])
def test_hup_and_usr2_stop_the_daemon_gracefully_and_jobs_survive(daemon, sig):
    with daemon.client() as c:
        job_id = c.submit("sleep 2", env={})
        wait_for(lambda: c.get(job_id).state is JobState.RUNNING)
    daemon.proc.send_signal(sig)
    assert daemon.proc.wait(10) == 0  # a clean exit, not killed by the signal
    assert f"{signal.Signals(sig).name} received" in daemon.log_text()
    (day_log,) = (daemon.state_dir / "logs").glob("daemon.????-??-??.log")  # the JSON log too
    assert f'"{signal.Signals(sig).name} received' in day_log.read_text()
    assert not daemon.socket.exists()  # shut down properly: the socket is gone
    daemon.start()
    with daemon.client() as c:
        assert c.wait([job_id], timeout=20)[0].state is JobState.FINISHED


def test_down_sends_sigkill_to_a_daemon_that_does_not_exit(daemon):
    with daemon.client() as c:
        job_id = c.submit("sleep 7", env={})
        wait_for(lambda: c.get(job_id).state is JobState.RUNNING)
    pid = daemon.proc.pid
    os.kill(pid, signal.SIGSTOP)  # a hung daemon: SIGTERM stays pending
    out = daemon.cli("gflowd", "down", timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "gflowd stopped."
    assert out.stderr.strip() == f"gflowd (PID {pid}) did not exit within 5s, sending SIGKILL"
    assert daemon.proc.wait(10) == -signal.SIGKILL
    daemon.start()  # nothing was lost: the job is re-adopted and finishes
    with daemon.client() as c:
        assert c.wait([job_id], timeout=20)[0].state is JobState.FINISHED


def test_service_without_a_user_systemd_manager(daemon):
    install = daemon.cli("gflowd", "service", "install")
    assert install.returncode == 1
    assert "systemd user services are not available here (no user systemd manager)" in install.stderr
    assert "`gflowd up`" in install.stderr and "loginctl enable-linger" in install.stderr
    assert not (daemon.home / ".config" / "systemd" / "user" / "gflowd.service").exists()
    uninstall = daemon.cli("gflowd", "service", "uninstall")
    assert uninstall.returncode == 1
    assert uninstall.stderr.strip() == "gflowd: error: systemd user services are not available on this system."
    bad = daemon.cli("gflowd", "service", "install", "--gpu-poll-interval-secs", "0")
    assert "Invalid GPU poll interval '0'" in bad.stderr  # overrides are checked first


def test_settings_not_acted_on_are_warned_about_at_start(make_daemon):
    d = make_daemon("executor:\n  type: tmux\nnotifications:\n  enabled: true\n")
    log = d.log_text()
    assert "Warning: config `executor.type: tmux` is not supported yet: jobs run as plain processes" in log
    assert "Warning: config `notifications` is not supported yet" in log
    assert "`http`" not in log  # left at its defaults: nothing to say
