"""gqueue and gjob output against a real daemon, where the format follows upstream byte for byte
(SPEC 1.2, 1.3, 5.1, 5.2): the cases found by running upstream 0.4.18 side by side."""
from __future__ import annotations

import shutil

import pytest

from gflow.protocol import JobState

from gflow_testing import wait_for

TMUX_WARNING = (
    "Warning: --tmux only filters jobs with live tmux sessions; the current executor is 'process'. "
    'Use `[executor] type = "tmux"` in gflow.toml to enable tmux jobs.\n'
)


def submit(daemon, *args: str) -> int:
    out = daemon.cli("gbatch", *args, check=True).stdout
    return int(out.split()[3])


@pytest.fixture
def queued(daemon):
    """Three jobs that wait an hour: 1, 2 and 3 (3 depends on 1 and 2)."""
    submit(daemon, "--begin", "now+1h", "-P", "yes", "-t", "12:00:00", "true")
    submit(daemon, "--begin", "now+1h", "-P", "123", "true")
    submit(daemon, "--depends-on-all", "1,2", "true")
    return daemon


def test_job_filter_skips_items_that_are_not_ids(queued):
    out = queued.cli("gqueue", "-j", "2,x", "-f", "JOBID", check=True).stdout
    assert out == " JOBID \n 2     \n"
    # nothing valid left: no filter at all
    out = queued.cli("gqueue", "-j", "x,y", "-f", "JOBID", check=True).stdout
    assert out == " JOBID \n 1     \n 2     \n 3     \n"


def test_empty_format_names_are_empty_columns(queued):
    out = queued.cli("gqueue", "-j", "1", "-f", "JOBID,,ST", check=True).stdout
    assert out == " JOBID      ST \n 1          PD \n"
    assert queued.cli("gqueue", "-j", "1", "-f", ",", check=True).stdout == "     \n     \n"


def test_empty_state_list_shows_every_state(queued):
    queued.cli("gcancel", "2", check=True)
    out = queued.cli("gqueue", "-s", "", "-f", "JOBID,ST", check=True).stdout
    assert out.split("\n")[1:3] == [" 1       PD ", " 2       CA "]


def test_yaml_output_parses_back_with_any_reader(queued):
    out = queued.cli("gqueue", "-o", "YAML", "-j", "1,2", check=True).stdout
    lines = out.split("\n")
    assert "  project: 'yes'" in lines and "  project: '123'" in lines
    assert "  time_limit: '12:00:00'" in lines
    stamps = [l for l in lines if l.startswith("  submitted_at: ")]
    assert len(stamps) == 2 and all(l[16:].endswith("Z'") for l in stamps)
    assert lines[-3].startswith("timestamp: '20")
    assert out.endswith("\n\n")  # the document's newline and the line's own, as upstream


def test_unknown_output_format_exits_1(queued):
    out = queued.cli("gqueue", "-o", "xml")
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == "gqueue: error: Invalid output format 'xml'. Valid options: table, json, csv, yaml\n"


def test_interval_without_watch_is_a_usage_error(daemon):
    out = daemon.cli("gqueue", "--interval", "3")
    assert out.returncode == 2 and out.stderr.startswith("gqueue: error: ") and "--watch" in out.stderr
    assert len(out.stderr.splitlines()) == 1


def test_tmux_filter_warning_is_upstreams(queued):
    out = queued.cli("gqueue", "-T")
    assert (out.returncode, out.stdout, out.stderr) == (0, "No jobs found.\n", TMUX_WARNING)


def test_watch_header_starts_at_column_0_and_a_pipe_gets_no_escape_codes(queued):
    import subprocess

    with pytest.raises(subprocess.TimeoutExpired) as e:
        queued.cli("gqueue", "-w", "--interval", "5", "-j", "1", "-f", "JOBID", timeout=1.5)
    out = e.value.stdout.decode() if isinstance(e.value.stdout, bytes) else e.value.stdout
    assert out.startswith("Last updated: ")
    head, _, rest = out.partition("\n")
    assert head.endswith("  [Refreshing every 5s. Press Ctrl+C to exit]")
    assert rest.startswith("\n JOBID \n 1     \n")


def test_tree_reference_row_without_jobid_first_is_all_dashes(queued):
    out = queued.cli("gqueue", "-t", "-f", "NAME,JOBID", check=True).stdout
    assert out.split("\n") == [
        " NAME     JOBID ",
        " gjob-1   1     ",
        " gjob-3   3     ",
        " gjob-2   2     ",
        " -        -     ",
        "",
    ]


def test_log_of_unknown_job_is_not_available(daemon):
    out = daemon.cli("gjob", "log", "99")
    assert (out.returncode, out.stdout, out.stderr) == (1, "", "Log for job 99 is not available.\n")


@pytest.mark.parametrize("args,message", [
    (["log", "x"], "gjob: error: Invalid job ID: x\n"),
    (["log", "1,2"], "gjob: error: Invalid job ID: 1,2\n"),
    (["redo", "x"], "gjob: error: Invalid job ID: x\n"),
    (["log", "@~0"],
     "gjob: error: Failed to resolve job ID '@~0': Cannot resolve dependency '@~0' for user '{user}'\n"),
    (["redo", "@~5"],
     "gjob: error: Failed to resolve job ID '@~5': Cannot resolve dependency '@~5' for user '{user}'\n"),
    (["show", "1,@~5"],
     "gjob: error: Failed to resolve job ID '@~5': Cannot resolve dependency '@~5' for user '{user}'\n"),
])
def test_bad_job_references(queued, args, message):
    import getpass

    out = queued.cli("gjob", *args)
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == message.format(user=getpass.getuser())


def test_show_prints_blocks_in_order_around_an_unknown_id(queued):
    out = queued.cli("gjob", "show", "1,99,2")
    assert out.returncode == 1 and out.stderr == "Error: Job 99 not found\n"
    blocks = out.stdout.split("\n\n" + "=" * 80 + "\n\n")
    assert [b.split("\n")[1] for b in blocks] == ["  ID=1", "  ID=2"]
    assert out.stdout.endswith("\n") and not out.stdout.endswith("\n\n")


def test_redo_with_at_resolves_first(daemon):
    job = submit(daemon, "true")
    with daemon.client() as c:
        wait_for(lambda: c.get(job).state is JobState.FINISHED)
    out = daemon.cli("gjob", "redo", "@", check=True).stdout
    assert out.startswith(f"Resubmitting job {job} with parameters:\n")


# --------------------------------------------------------------------------- tmux sessions

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (tests/run.sh installs it as root)")


@pytest.fixture
def tmux(daemon, short_tmp):
    """A private tmux server for the CLIs run by `daemon.cli`."""
    import subprocess

    sock_dir = short_tmp / "tmx"
    sock_dir.mkdir()
    env = {"TMUX_TMPDIR": str(sock_dir)}
    daemon.env = dict(daemon.env, **env)
    daemon.env.pop("TMUX", None)

    def new(name):
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "sleep 60"], env=daemon.env, check=True)

    yield new
    subprocess.run(["tmux", "kill-server"], env=daemon.env, capture_output=True)


def test_close_sessions_without_filters(daemon):
    out = daemon.cli("gjob", "close-sessions")
    assert (out.returncode, out.stdout) == (0, "")
    assert out.stderr == "gjob close-sessions: no filters specified (see gjob close-sessions --help)\n"


@needs_tmux
def test_close_sessions_by_ids_and_all(daemon, tmux):
    done = [submit(daemon, "true") for _ in range(3)]
    with daemon.client() as c:
        c.wait(done, timeout=20)
    tmux("gjob-1")
    tmux("gjob-9")
    tmux("other")
    out = daemon.cli("gjob", "close", "-j", "1-3", check=True)
    assert out.stdout == "gjob-1\ngjob-2\ngjob-3\n"
    assert out.stderr == (
        "gjob close-sessions: closing 3 session(s)\n"
        "gjob close-sessions: Closed=1 AlreadyClosed=2 Failed=0\n"
    )
    assert daemon.cli("gjob", "close-sessions", "-p", "nomatch").stderr == "gjob close-sessions: no matching sessions\n"
    out = daemon.cli("gjob", "close-sessions", "-a", check=True)
    assert out.stdout == "gjob-9\n"
    assert daemon.cli("gjob", "close-sessions", "-a").stderr == "gjob close-sessions: no sessions to close\n"


@needs_tmux
def test_tmux_filter_keeps_jobs_with_a_live_session(queued, tmux):
    tmux("gjob-2")
    out = queued.cli("gqueue", "-T", "-f", "JOBID")
    assert (out.stdout, out.stderr) == (" JOBID \n 2     \n", TMUX_WARNING)


def test_attach_errors(queued):
    out = queued.cli("gjob", "attach", "99")
    assert out.returncode == 1 and out.stderr == "Error: Job 99 not found\n"
    out = queued.cli("gjob", "a", "@", env={"TMUX_TMPDIR": str(queued.base)})
    assert out.returncode == 1 and out.stderr == "Error: Tmux session 'gjob-3' for job 3 does not exist\n"
