"""argcomplete completes job ids (yours, active first, with descriptions), states, fields,
formats and users: the completer is called the way a shell calls it, through COMP_LINE."""
from __future__ import annotations

import subprocess
import sys


def _complete(daemon, line: str, shell: str = "bash") -> list[str]:
    tool = line.split()[0]
    env = dict(daemon.env, _ARGCOMPLETE="1", _ARGCOMPLETE_IFS="\n", COMP_LINE=line,
               COMP_POINT=str(len(line)), _ARGCOMPLETE_SHELL=shell, _ARGCOMPLETE_SUPPRESS_SPACE="1")
    out = subprocess.run(["bash", "-c", 'exec "$@" 8>&1 9>/dev/null', "_", sys.executable, "-m", f"gflow.cli.{tool}"],
                         env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
                         cwd=str(daemon.home))
    return [c.strip() for c in out.stdout.split("\n") if c.strip()]


def _ids(daemon, line: str, shell: str = "bash") -> list[str]:
    """The job-id candidates (options such as --help come first in the list)."""
    return [c for c in _complete(daemon, line, shell) if c[:1].isdigit()]


def _submit(daemon, *argv) -> int:
    return int(daemon.cli("gbatch", *argv, check=True).stdout.split()[3])


def test_job_ids_complete_active_first_with_descriptions(daemon):
    done = _submit(daemon, "-n", "old", "true")
    with daemon.client() as c:
        c.wait([done], timeout=30)
    held = _submit(daemon, "--hold", "-n", "train", "true")
    assert _ids(daemon, "gjob show ") == [str(held), str(done)]
    assert _ids(daemon, "gcancel ")[:1] == [str(held)]
    # zsh shows the description beside the id
    described = _complete(daemon, "gjob log ", shell="zsh")
    assert f"{held}:gjob-{held}-train (Hold)" in described
    assert f"{done}:gjob-{done}-old (Finished)" in described
    assert _ids(daemon, f"gbatch --depends-on {held}") == [str(held)]
    assert _ids(daemon, f"gcancel 999,{held}") == [f"999,{held}"]


def test_states_fields_formats_and_users(daemon):
    assert set(_complete(daemon, "gqueue -s C")) == {"CD", "CA", "Cancelled"}
    # bash gets the parentheses escaped
    assert set(_complete(daemon, "gqueue -f JOBID,NO")) == {"JOBID,NODES", "JOBID,NODELIST\\(REASON\\)"}
    assert _complete(daemon, "gqueue -o y") == ["yaml"]
    assert _complete(daemon, "gstats -o c") == ["csv"]
    assert "all" in _complete(daemon, "gqueue -u a")


def test_no_daemon_means_no_suggestions_and_no_noise(make_daemon):
    d = make_daemon(start=False)
    assert _ids(d, "gjob show ") == []
