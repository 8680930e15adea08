"""systemd socket activation: the daemon serves a listening socket passed as fd 3."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

from gflow_testing import tool_argv, wait_for

from gflow.protocol import JobState


def _start_on_inherited_socket(d, mode=None) -> None:
    """Start `d` as systemd would: its listening socket on fd 3, LISTEN_PID = the pid that
    execs the daemon."""
    d.socket.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(d.socket))
    listener.listen(16)
    if mode is not None:
        os.chmod(d.socket, mode)
    launcher = textwrap.dedent(f"""
        import os, sys
        os.dup2({listener.fileno()}, 3)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())
        os.execv(sys.argv[1], sys.argv[1:])
    """)
    argv = tool_argv("gflowd")
    if len(argv) == 1:
        argv = [sys.executable] + argv
    d.proc = subprocess.Popen(
        [sys.executable, "-c", launcher, *argv, "up", "--foreground"],
        env=d.env, pass_fds=(listener.fileno(),), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    listener.close()


def test_daemon_serves_an_inherited_socket(make_daemon):
    d = make_daemon(start=False)
    _start_on_inherited_socket(d, mode=0o640)  # the unit's SocketMode=, which the daemon must keep
    d.wait_ready()
    assert oct(os.stat(d.socket).st_mode & 0o777) == oct(0o640)
    with d.client() as c:
        job_id = c.submit("printenv LISTEN_FDS || echo none", env={"PATH": os.environ["PATH"]})
        (job,) = c.wait([job_id], timeout=20)
        assert job.state is JobState.FINISHED
        assert c.log(job_id) == b"none\n"  # the activation variables are not leaked to jobs
    d.stop()
    assert d.socket.exists()  # systemd owns the socket file; the daemon leaves it


def _notify_socket(path) -> socket.socket:
    """A stand-in for systemd's notification socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(30)  # a hang fails the test instead of blocking the suite
    return sock


def _next_state(sock: socket.socket) -> set[str]:
    return set(sock.recv(4096).decode().split("\n"))


def test_inherited_socket_and_notify_ready(make_daemon, short_tmp):
    d = make_daemon(start=False)
    notify = _notify_socket(short_tmp / "notify")
    d.env["NOTIFY_SOCKET"] = str(short_tmp / "notify")
    _start_on_inherited_socket(d)
    assert "READY=1" in _next_state(notify)  # sent once the inherited socket is served
    with d.client() as c:
        job_id = c.submit("printenv NOTIFY_SOCKET || echo none", env={"PATH": os.environ["PATH"]})
        (job,) = c.wait([job_id], timeout=20)
        assert c.log(job_id) == b"none\n"  # a job cannot report for the daemon
    d.stop()
    assert "STOPPING=1" in _next_state(notify)


def test_reload_keeps_running_jobs_and_answers_clients_meanwhile(make_daemon, short_tmp):
    import signal
    import threading

    from gflow.client import Client

    d = make_daemon(start=False)
    notify = _notify_socket(short_tmp / "notify")
    d.env["NOTIFY_SOCKET"] = str(short_tmp / "notify")
    d.start()
    assert "READY=1" in _next_state(notify)
    pid = d.proc.pid
    gate = short_tmp / "gate"
    os.mkfifo(gate)
    with d.client() as c:
        job_id = c.submit(f"read line < {gate}; echo after-$line", env={"PATH": os.environ["PATH"]})
        wait_for(lambda: c.get(job_id).state is JobState.RUNNING, timeout=20)

    reload = subprocess.Popen(tool_argv("gflowd") + ["reload"], env=d.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert "RELOADING=1" in _next_state(notify)
    # freeze the daemon between the old image and the new one's READY=1, and connect then
    os.kill(pid, signal.SIGSTOP)
    connected, answer = threading.Event(), {}

    def client_during_reload():
        c = Client(str(d.socket), timeout=30).connect()
        connected.set()
        answer["status"] = c.status()
        c.close()

    thread = threading.Thread(target=client_during_reload)
    thread.start()
    assert connected.wait(30)
    os.kill(pid, signal.SIGCONT)
    assert "READY=1" in _next_state(notify)
    thread.join(30)
    assert answer["status"].pid == pid  # answered, by the re-executed daemon (same pid)
    out, err = reload.communicate(timeout=60)
    assert reload.returncode == 0, err
    assert f"gflowd reloaded (PID {pid})" in out

    with open(gate, "w") as g:  # the job started before the reload ends now
        g.write("reload\n")
    with d.client() as c:
        (job,) = c.wait([job_id], timeout=30)
        assert job.state is JobState.FINISHED
        assert c.log(job_id) == b"after-reload\n"
    d.stop()
    assert not d.socket.exists()  # the socket it made is still the daemon's to remove
