"""The spine on a real daemon: submit, run, log, list, cancel, hold, restart, crash, limits."""
from __future__ import annotations

import os
import pwd
import signal
import socket
import struct
import time

import pytest

from gflow.protocol import JobSpec, JobState

from gflow_testing import status_written, wait_for


def _spec(command: str, cwd: str, **fields) -> JobSpec:
    return JobSpec(command=command, run_dir=cwd, env={"PATH": os.environ["PATH"]}, **fields)


def test_submit_runs_and_logs_output(daemon):
    out = daemon.cli("gbatch", "-n", "hello", "echo", "hello from gflow", check=True)
    assert out.stdout.strip() == "Submitted batch job 1 (gjob-1-hello)"
    with daemon.client() as c:
        (job,) = c.wait([1], timeout=20)
    assert job.state is JobState.FINISHED
    assert job.exit_code == 0
    log = daemon.cli("gjob", "log", "1", check=True)
    assert log.stdout == "hello from gflow\n"
    assert daemon.cli("gjob", "log", "@", check=True).stdout == "hello from gflow\n"


def test_stdout_and_stderr_both_logged_and_exit_code_recorded(daemon):
    daemon.cli("gbatch", "sh -c 'echo out; echo err >&2; exit 3'", check=True)
    with daemon.client() as c:
        (job,) = c.wait([1], timeout=20)
        assert job.state is JobState.FAILED and job.exit_code == 3
        assert c.log(1) == b"out\nerr\n" or sorted(c.log(1).split()) == [b"err", b"out"]
    listing = daemon.cli("gqueue", "-a", "-f", "JOBID,ST", check=True).stdout
    assert listing.splitlines()[1].split() == ["1", "F"]


def test_owner_comes_from_the_kernel_not_USER(daemon):
    me = pwd.getpwuid(os.getuid()).pw_name
    daemon.cli("gbatch", "true", env={"USER": "nobody", "LOGNAME": "nobody"}, check=True)
    show = daemon.cli("gjob", "show", "1", check=True).stdout
    assert f"SubmittedBy={me}" in show
    with daemon.client() as c:
        job = c.get(1)
    assert job.owner_uid == os.getuid() and job.user == me


def test_acknowledged_jobs_survive_kill_9(daemon):
    with daemon.client() as c:
        ids = [c.submit("true", hold=True, env={}) for _ in range(200)]
    assert ids == list(range(1, 201))
    daemon.stop(signal.SIGKILL)
    daemon.start()
    with daemon.client() as c:
        jobs = c.list()
    assert [j.id for j in jobs] == ids
    assert all(j.state is JobState.HOLD for j in jobs)
    # ids are never reused after a crash
    assert "Submitted batch job 201" in daemon.cli("gbatch", "true", check=True).stdout


def test_running_job_survives_restart(daemon):
    daemon.cli("gbatch", "sleep", "3", check=True)
    with daemon.client() as c:
        wait_for(lambda: c.get(1).state is JobState.RUNNING)
    daemon.stop()
    daemon.start()
    with daemon.client() as c:
        assert c.get(1).state is JobState.RUNNING
        (job,) = c.wait([1], timeout=20)
    assert job.state is JobState.FINISHED


def test_exit_while_daemon_down_is_recorded(daemon):
    marker, started = daemon.base / "go", daemon.base / "started"
    daemon.cli("gbatch", f"sh -c 'touch {started}; while [ ! -e {marker} ]; do sleep 0.05; done; exit 3'",
               check=True)
    wait_for(started.exists)  # Running is recorded before the shepherd is asked for
    daemon.stop(signal.SIGKILL)
    marker.touch()
    wait_for(lambda: status_written(daemon.state_dir / "runners", 1))
    daemon.start()
    with daemon.client() as c:
        (job,) = c.wait([1], timeout=20)
    assert job.state is JobState.FAILED
    assert job.exit_code == 3


def _background_child(daemon) -> int:
    """Submit a job that leaves a `sleep 300` in the background; its pid once it runs."""
    pidfile = daemon.base / "child.pid"
    daemon.cli("gbatch", f"sh -c 'sleep 300 & echo $! > {pidfile}; wait'", check=True)
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip())
    return int(pidfile.read_text())


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_cancel_running_job_kills_its_process_group(daemon):
    child = _background_child(daemon)
    out = daemon.cli("gcancel", "1", check=True)
    assert out.stdout.strip() == "Job 1 cancelled."
    with daemon.client() as c:
        assert c.get(1).state is JobState.CANCELLED
        assert c.get(1).reason == "CancelledByUser"
    wait_for(lambda: _gone(child), timeout=10)


def test_a_killed_shepherd_takes_its_payload_with_it(daemon):
    """kill -9 of a shepherd: the job fails as vanished and its processes do not run on
    unsupervised (beside a retry, on the same GPUs)."""
    child = _background_child(daemon)
    with daemon.client() as c:
        os.kill(c.get(1).runner_pid, signal.SIGKILL)
        (job,) = c.wait([1], timeout=10)
    assert job.state is JobState.FAILED
    wait_for(lambda: _gone(child), timeout=10)


def test_time_limit_gives_timeout(daemon):
    daemon.cli("gbatch", "--time", "0:01", "sleep", "60", check=True)
    with daemon.client() as c:
        (job,) = c.wait([1], timeout=20)
    assert job.state is JobState.TIMEOUT
    assert job.finished_at - job.started_at < 5


def test_gpu_job_on_a_machine_without_gpus_is_refused_or_waits_if_allowed(daemon):
    out = daemon.cli("gbatch", "--gpus", "1", "true")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("gbatch: error: job can never start: 1 GPU > 0 allowed. Use --allow-pending")
    daemon.cli("gbatch", "--allow-pending", "--gpus", "1", "true", check=True)
    daemon.cli("gbatch", "--gpus", "0", "true", check=True)
    with daemon.client() as c:
        (second,) = c.wait([2], timeout=20)
        assert second.state is JobState.FINISHED
        first = c.get(1)
    assert first.id == 1 and first.state is JobState.QUEUED and first.reason == "NeverFits: 1 GPU > 0 allowed"
    row = daemon.cli("gqueue", check=True).stdout.splitlines()[1]
    assert row.rstrip().endswith("(NeverFits: 1 GPU > 0 allowed)")


def test_hold_release_and_priority_order(daemon):
    daemon.cli("gbatch", "--hold", "true", check=True)
    assert "Job 1 released back to queue." in daemon.cli("gjob", "release", "1", check=True).stdout
    with daemon.client() as c:
        assert c.wait([1], timeout=20)[0].state is JobState.FINISHED
    daemon.cli("gbatch", "--begin", "now+1h", "true", check=True)
    assert daemon.cli("gjob", "hold", "2", check=True).stdout.strip() == "Job 2 put on hold."
    bad = daemon.cli("gjob", "hold", "2")
    assert bad.returncode != 0 and "cannot be held" in bad.stderr


def test_gqueue_views(daemon):
    daemon.cli("gbatch", "-n", "a", "--begin", "now+1h", "true", check=True)
    daemon.cli("gbatch", "-n", "b", "true", check=True)
    with daemon.client() as c:
        c.wait([2], timeout=20)
    active = daemon.cli("gqueue", check=True).stdout.splitlines()
    assert active[0].split() == ["JOBID", "NAME", "ST", "TIME", "NODES", "NODELIST(REASON)"]
    assert [l.split()[0] for l in active[1:]] == ["1"]
    assert active[1].split()[-1] == "(BeginTime)"
    everything = daemon.cli("gqueue", "-a", "-f", "JOBID,NAME,ST,USER", check=True).stdout.splitlines()
    assert [l.split()[:3] for l in everything[1:]] == [["1", "gjob-1-a", "PD"], ["2", "gjob-2-b", "CD"]]
    assert daemon.cli("gqueue", "-s", "CD", "-f", "JOBID", check=True).stdout.split()[1:] == ["2"]
    assert daemon.cli("gqueue", "-a", "-j", "2", "-f", "JOBID", check=True).stdout.split()[1:] == ["2"]
    assert daemon.cli("gqueue", "-u", "nobody", check=True).stdout.strip() == "No jobs found."


def test_gcancel_lists_ranges_and_dry_run(daemon):
    for _ in range(7):
        daemon.cli("gbatch", "--hold", "true", check=True)
    dry = daemon.cli("gcancel", "--dry-run", "1,3,5-7", check=True).stdout.splitlines()
    assert dry == [f"{i}\tHold\tok" for i in (1, 3, 5, 6, 7)]
    out = daemon.cli("gcancel", "1,3,5-7", check=True).stdout.splitlines()
    assert out == [f"Job {i} cancelled." for i in (1, 3, 5, 6, 7)]
    with daemon.client() as c:
        states = {j.id: j.state for j in c.list()}
    assert states[2] is JobState.HOLD and states[5] is JobState.CANCELLED
    again = daemon.cli("gcancel", "5")
    assert again.returncode == 1 and "already Cancelled" in again.stderr


@pytest.mark.parametrize(
    "tool,args,needle",
    [
        ("gbatch", ["--time", "abc", "true"], "is not a length of time"),
        ("gjob", ["show", "999"], "Job 999 not found"),
        ("gjob", ["hold", "5-2"], "Start of the range cannot be bigger than the end"),
        ("gcancel", ["x"], "Invalid job ID or range"),
        ("gbatch", ["--memory", "1.5G", "true"], "Invalid memory"),
        ("gjob", ["log", "@~0"], "@~0"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(daemon, tool, args, needle):
    out = daemon.cli(tool, *args)
    assert out.returncode != 0
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]
    assert "Traceback" not in out.stderr


def test_second_up_is_refused_and_stale_lock_recovered(daemon):
    out = daemon.cli("gflowd", "up", check=True)
    assert "already running" in out.stdout
    daemon.stop(signal.SIGKILL)  # leaves socket and lock file behind
    assert daemon.socket.exists()
    started = daemon.cli("gflowd", "up", check=True)
    assert "gflowd started" in started.stdout
    status = daemon.cli("gflowd", "status", check=True).stdout
    assert "Status: Running" in status and str(daemon.socket) in status
    assert daemon.cli("gflowd", "down", check=True).stdout.strip() == "gflowd stopped."
    stopped = daemon.cli("gflowd", "status")
    assert stopped.returncode == 3 and "Not running" in stopped.stdout


def _raw(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    s.settimeout(10)
    return s


def test_malformed_clients_do_not_harm_others(daemon):
    silent = _raw(daemon.socket)  # connects and sends nothing
    truncated = _raw(daemon.socket)
    truncated.sendall(struct.pack(">I", 100) + b"\x81")  # promises 100 bytes, sends 1
    huge = _raw(daemon.socket)
    huge.sendall(struct.pack(">I", 4 * 1024**3 - 1))
    garbage = _raw(daemon.socket)
    garbage.sendall(os.urandom(64))
    junk_body = _raw(daemon.socket)
    junk_body.sendall(struct.pack(">I", 8) + b"\xc1" * 8)
    # others are served normally meanwhile
    with daemon.client() as c:
        job_id = c.submit("true", env={})
        assert c.wait([job_id], timeout=20)[0].state is JobState.FINISHED
    # the oversized frame gets an error and is closed
    assert huge.recv(65536)
    assert huge.recv(65536) == b""
    assert junk_body.recv(65536)
    for s in (silent, truncated, huge, garbage, junk_body):
        s.close()
    with daemon.client() as c:
        assert c.status().pid == daemon.proc.pid


def test_unknown_method_and_bad_params_are_errors(daemon):
    from gflow.protocol import GflowError

    with daemon.client() as c:
        with pytest.raises(GflowError, match="unknown method"):
            c.call("jobs.explode")
        with pytest.raises(GflowError, match="invalid parameters"):
            c.call("jobs.cancel", {"ids": "all"})
        with pytest.raises(GflowError, match="invalid parameters"):
            c.call("jobs.submit", {"jobs": [{"command": "true", "run_dir": "/", "owner_uid": 0}]})
        assert c.status().jobs_active == 0


def test_submit_from_stdin_and_script_with_directives(daemon):
    script = daemon.home / "job.sh"
    script.write_text("#!/bin/bash\n# GFLOW --priority=33\n# GFLOW --time=5\necho from-script\n")
    daemon.cli("gbatch", str(script), check=True)
    daemon.cli("gbatch", "-", input="echo from-stdin\n", check=True)
    with daemon.client() as c:
        a, b = c.wait([1, 2], timeout=20)
        assert a.priority == 33 and a.time_limit == 300 and a.script == str(script)
        assert c.log(1) == b"from-script\n"
        assert c.log(2) == b"from-stdin\n"


def test_dry_run_submits_nothing(daemon):
    out = daemon.cli("gbatch", "--dry-run", "--gpus", "2", "python", "train.py", check=True)
    assert out.stdout.splitlines() == ["Would submit 1 batch job:", "  [1] python train.py (GPUs: 2)"]
    with daemon.client() as c:
        assert c.list() == []


def test_job_environment(daemon):
    daemon.cli(
        "gbatch", "sh -c 'echo $GFLOW_ARRAY_TASK_ID:$CUDA_VISIBLE_DEVICES:$MY_VAR:$PWD'",
        env={"MY_VAR": "from-client"}, cwd="/tmp", check=True,
    )
    with daemon.client() as c:
        c.wait([1], timeout=20)
        assert c.log(1) == b"0::from-client:/tmp\n"


def test_no_daemon_is_one_line_naming_the_socket(short_tmp):
    from gflow_testing import Daemon

    d = Daemon(short_tmp / "idle")  # configured, never started
    for argv in (["gqueue"], ["gbatch", "true"], ["gjob", "show", "1"], ["gcancel", "1"]):
        out = d.cli(*argv)
        assert out.returncode == 1, argv
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
        assert "Could not connect to gflowd server. Is the server running?" in out.stderr
        assert str(d.socket) in out.stderr
