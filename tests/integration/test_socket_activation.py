"""systemd socket activation: the daemon serves a listening socket passed as fd 3."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

from gflow_testing import tool_argv, wait_for

from gflow.protocol import JobState


def test_daemon_serves_an_inherited_socket(make_daemon):
    d = make_daemon(start=False)
    d.socket.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(d.socket))
    listener.listen(16)
    os.chmod(d.socket, 0o640)  # the unit's SocketMode=, which the daemon must keep
    # like systemd: fd 3, LISTEN_PID = the pid that execs the daemon
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
    d.wait_ready()
    assert oct(os.stat(d.socket).st_mode & 0o777) == oct(0o640)
    with d.client() as c:
        job_id = c.submit("printenv LISTEN_FDS || echo none", env={"PATH": os.environ["PATH"]})
        (job,) = c.wait([job_id], timeout=20)
        assert job.state is JobState.FINISHED
        assert c.log(job_id) == b"none\n"  # the activation variables are not leaked to jobs
    d.stop()
    assert d.socket.exists()  # systemd owns the socket file; the daemon leaves it
