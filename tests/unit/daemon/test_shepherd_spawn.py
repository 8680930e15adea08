"""A job that needs no identity switch is started by its shepherd with posix_spawn (no fork of
the shepherd's interpreter), and starts as a forked child would have: its own process group,
nothing blocked, umask 022, stdin /dev/null, output in its log, the fd limit it was given."""
from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys

from gflow.daemon.executors.recovery import SHEPHERD

# the shepherd as the fork server runs it, with fork made to fail: only posix_spawn can start it
_RUN = """
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import shepherd
def no_fork():
    raise AssertionError("the shepherd forked")
os.fork = no_fork
os._exit(shepherd.main(["shepherd", sys.argv[2]]))
"""

# grep reads its own mask, inherited from the job's shell: the shell's own (/proc/$$) is all
# blocked for moments while dash waits for a child, so reading it there failed now and then
_PROBE = ('grep -E "^SigBlk" /proc/self/status; echo "pgid=$(cut -d" " -f5 /proc/$$/stat) pid=$$"; '
          'umask; ulimit -n; readlink /proc/$$/fd/0; pwd')


def _shepherd(tmp_path, argv, cwd=None, **extra):
    extra.setdefault("env", {"PATH": os.environ["PATH"]})
    spec = dict(job_id=5, argv=argv, cwd=str(cwd or tmp_path),
                uid=os.getuid(), gid=os.getgid(), user=pwd.getpwuid(os.getuid()).pw_name,
                drop_privileges=False, log_path=str(tmp_path / "5.log"), grace_secs=5.0,
                status_path=str(tmp_path / "5.status.json"), **extra)
    path = tmp_path / "5.spec.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-I", "-S", "-c", _RUN, SHEPHERD, str(path)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "5.status.json").read_text())


def test_the_job_starts_as_a_forked_child_would(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    status = _shepherd(tmp_path, ["sh", "-c", _PROBE], cwd=work, nofile_soft=77)
    assert status["exit_code"] == 0 and status["launch_error"] is None
    lines = (tmp_path / "5.log").read_text().split("\n")
    assert lines[0].split() == ["SigBlk:", "0000000000000000"]
    pgid, pid = (field.split("=")[1] for field in lines[1].split())
    assert pgid == pid  # a process group of its own (what the shepherd signals)
    assert lines[2:6] == ["0022", "77", "/dev/null", str(work)]


def test_a_program_not_on_path_is_a_launch_error_in_the_log(tmp_path):
    status = _shepherd(tmp_path, ["no-such-program-gflow"])
    assert status["exit_code"] == 127
    assert status["launch_error"].startswith("cannot execute no-such-program-gflow:")
    assert (tmp_path / "5.log").read_text().strip() == status["launch_error"]


def test_an_unreachable_working_directory_is_a_launch_error(tmp_path):
    status = _shepherd(tmp_path, ["true"], cwd=tmp_path / "missing")
    assert status["exit_code"] == 127
    assert status["launch_error"].startswith(f"cannot enter working directory {tmp_path / 'missing'}")


def test_path_search_goes_on_past_a_candidate_that_cannot_be_executed(tmp_path):
    # as execvp: a file that is there but not executable is remembered, the search goes on
    first, second = tmp_path / "a", tmp_path / "b"
    for directory in (first, second):
        directory.mkdir()
    (first / "gflow-probe").write_text("#!/bin/sh\necho first\n")  # 0644: not executable
    (second / "gflow-probe").write_text("#!/bin/sh\necho second\n")
    (second / "gflow-probe").chmod(0o755)
    status = _shepherd(tmp_path, ["gflow-probe"], env={"PATH": f"{tmp_path / 'missing'}:{first}:{second}"})
    assert status["exit_code"] == 0 and status["launch_error"] is None
    assert (tmp_path / "5.log").read_text() == "second\n"


def test_a_candidate_found_only_unexecutable_is_a_permission_error(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "gflow-probe").write_text("#!/bin/sh\necho never\n")
    status = _shepherd(tmp_path, ["gflow-probe"], env={"PATH": f"{tmp_path / 'missing'}:{tmp_path / 'bin'}"})
    assert status["exit_code"] == 127
    assert status["launch_error"] == "cannot execute gflow-probe: Permission denied"
