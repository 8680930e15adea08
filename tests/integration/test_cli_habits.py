"""Issue 13: honest exit codes, directives that honour every submission option, upstream and
Slurm habits, driven through the real CLIs against a real daemon."""
from __future__ import annotations

import json

import pytest

from gflow_testing import wait_for


def _submit(daemon, *argv: str, cwd=None) -> int:
    out = daemon.cli("gbatch", *argv, check=True, cwd=cwd)
    return int(out.stdout.strip().splitlines()[-1].split()[3])


def _job(daemon, job_id: int):
    with daemon.client() as c:
        return c.get(job_id)


def _error(out, code: int = 1) -> str:
    assert out.returncode == code, out
    assert "Traceback" not in out.stderr
    return out.stderr.strip().splitlines()[0]


# ------------------------------------------------------------------------- exit codes
def test_unknown_job_ids_exit_1(daemon):
    assert _error(daemon.cli("gjob", "log", "999999")) == "Log for job 999999 is not available."
    assert daemon.cli("gjob", "show", "999999").returncode == 1
    assert daemon.cli("gjob", "hold", "999999").returncode == 1
    assert daemon.cli("gjob", "release", "999999").returncode == 1
    assert daemon.cli("gjob", "update", "999999", "-p", "5").returncode == 1
    # a known job that has not started has no log yet: not an error
    held = _submit(daemon, "--hold", "true")
    out = daemon.cli("gjob", "log", str(held))
    assert out.returncode == 0 and out.stderr.strip() == f"Log for job {held} is not available."


def test_gjob_wait_timeout_exits_124_as_timeout_1(daemon):
    held = _submit(daemon, "--hold", "true")
    out = daemon.cli("gjob", "wait", str(held), "--timeout", "0.2")
    assert out.returncode == 124 and out.stdout == f"Job {held} Hold\n"
    out = daemon.cli("gjob", "wait", str(held), "--timeout", "soon")
    assert _error(out).startswith("gjob: error: --timeout 'soon': 'soon' is not a length of time")
    done = _submit(daemon, "true")
    assert daemon.cli("gjob", "wait", str(done), "--timeout", "1m").returncode == 0


def test_gjob_wait_help_explains_its_arguments(daemon):
    text = daemon.cli("gjob", "wait", "--help", check=True).stdout
    assert "124" in text and "--timeout DURATION" in text and "ONE|LIST" in text


def test_gflowd_status_exits_3_when_not_running(make_daemon):
    d = make_daemon(start=False)
    out = d.cli("gflowd", "status", env={"GFLOW_SOCKET": str(d.socket)})
    assert out.returncode == 3 and "Not running" in out.stdout


def test_reservation_get_of_unknown_id_exits_1(daemon):
    out = daemon.cli("gctl", "reserve", "get", "424242")
    assert out.returncode == 1 and "Reservation 424242 not found." in out.stdout


def test_gqueue_refuses_unknown_fields_and_users(daemon):
    assert _error(daemon.cli("gqueue", "-f", "JOBID,BOGUS")) == (
        "gqueue: error: unknown field 'BOGUS' in --format (valid: "
        "JOBID,NAME,ST,TIME,TIMELIMIT,MEMORY,NODES,NODELIST(REASON),USER,PROJECT,START)")
    assert _error(daemon.cli("gqueue", "-u", "no-such-user-13")) == (
        "gqueue: error: unknown user 'no-such-user-13' (no such account on this machine)")
    # lower case and empty names (an empty column, as upstream) are fine
    assert daemon.cli("gqueue", "-f", "jobid,,st").returncode == 0


# ------------------------------------------------------------------------- directives
def test_directives_honour_dependencies_and_every_option(daemon, tmp_path):
    parent = _submit(daemon, "--hold", "true")
    script = tmp_path / "child.sh"
    script.write_text(
        "#!/bin/bash\n"
        f"# GFLOW --depends-on={parent}\n"
        "# GFLOW --name 'my run' --max-retries 2\n"
        "# GFLOW --priority=42 --time 90m\n"
        "echo hi\n"
    )
    child = _submit(daemon, str(script))
    job = _job(daemon, child)
    assert job.depends_on_ids == [parent] and job.state.value == "Queued"
    assert job.reason == "WaitingForDependency"
    assert job.max_retries == 2 and job.priority == 42 and job.time_limit == 5400
    assert job.run_name == f"gjob-{child}-my_run"
    # the command line wins over a directive
    other = _submit(daemon, "-p", "7", str(script))
    assert _job(daemon, other).priority == 7


def test_directive_array_and_params(daemon, tmp_path):
    script = tmp_path / "arr.sh"
    script.write_text("#!/bin/bash\n# GFLOW --array 1-3 --hold\necho $GFLOW_ARRAY_TASK_ID\n")
    out = daemon.cli("gbatch", str(script), check=True)
    assert out.stdout.count("Submitted batch job") == 3


@pytest.mark.parametrize(
    "lines, message",
    [
        (["--gpus 1", "--bogus"], "# GFLOW directive on line 3: unrecognized arguments: --bogus"),
        (["--priority 5 stray"], "# GFLOW directive on line 2: unexpected word 'stray' (directives hold options only)"),
        (["--dry-run"], "# GFLOW directive on line 2: '--dry-run' can only be given on the command line"),
    ],
)
def test_a_bad_directive_is_an_error_naming_its_line(daemon, tmp_path, lines, message):
    script = tmp_path / "bad.sh"
    script.write_text("#!/bin/bash\n" + "".join(f"# GFLOW {line}\n" for line in lines) + "echo hi\n")
    assert _error(daemon.cli("gbatch", str(script))) == f"gbatch: error: {message}"


# ------------------------------------------------------------------------- habits
def test_gqueue_all_with_states_and_limit(daemon):
    a = _submit(daemon, "--hold", "true")
    b = _submit(daemon, "--hold", "true")
    c = _submit(daemon, "--hold", "true")
    daemon.cli("gcancel", str(a), check=True)
    out = daemon.cli("gqueue", "-a", "-s", "CA", "-f", "JOBID", check=True)
    assert out.stdout.split() == ["JOBID", str(a)]
    out = daemon.cli("gqueue", "-a", "-n", "2", "-f", "JOBID", check=True)
    assert out.stdout.splitlines()[0] == "Showing first 2 of 3 jobs (use --all or -n 0 to show all)"
    assert [line.strip() for line in out.stdout.splitlines()[2:]] == ["JOBID", str(a), str(b)]


def test_gcancel_takes_at_shorthands(daemon):
    first = _submit(daemon, "--hold", "true")
    second = _submit(daemon, "--hold", "true")
    out = daemon.cli("gcancel", "@", check=True)
    assert out.stdout == f"Job {second} cancelled.\n"
    out = daemon.cli("gcancel", "@~2", check=True)
    assert out.stdout == f"Job {first} cancelled.\n"


def test_slurm_spellings(daemon, tmp_path):
    job = _submit(daemon, "--hold", "--time", "1-00:00:00", "--gres=gpu:0", "true")
    assert _job(daemon, job).time_limit == 86400
    assert _job(daemon, _submit(daemon, "--hold", "-t", "4h", "true")).time_limit == 4 * 3600
    a = _submit(daemon, "--hold", "true")
    b = _submit(daemon, "--hold", "true")
    dep = _job(daemon, _submit(daemon, f"--dependency=afterok:{a}:{b}", "true"))
    assert dep.depends_on_ids == [a, b] and dep.dependency_mode.value == "All"
    assert _job(daemon, _submit(daemon, f"--dependency=afterany:{a}", "true")).dependency_mode.value == "AfterAny"
    assert _job(daemon, _submit(daemon, f"--dependency=afternotok:{a}", "true")).dependency_mode.value == "AfterNotOk"
    assert _error(daemon.cli("gbatch", "--dependency=afterburn:1", "true")).endswith(
        "'afterburn' is not a dependency type gflow knows (use afterok, afterany or afternotok)")
    out = daemon.cli("gbatch", "--array", "1-6%2", "--hold", "true", check=True)
    assert out.stdout.count("Submitted batch job") == 6
    first = int(out.stdout.splitlines()[-6].split()[3])
    assert _job(daemon, first).max_concurrent == 2
    workdir = tmp_path / "work"
    workdir.mkdir()
    assert _job(daemon, _submit(daemon, "--hold", "-D", str(workdir), "true")).run_dir == str(workdir)
    assert _error(daemon.cli("gbatch", "--chdir", str(tmp_path / "nope"), "true")).endswith("no such directory")


def test_afterany_runs_after_a_failure_and_afternotok_only_after_one(daemon):
    failing = _submit(daemon, "false")
    after_any = _submit(daemon, f"--dependency=afterany:{failing}", "true")
    after_not_ok = _submit(daemon, f"--dependency=afternotok:{failing}", "true")
    ok = _submit(daemon, "true")
    never = _submit(daemon, f"--dependency=afternotok:{ok}", "true")
    with daemon.client() as c:
        states = {j.id: j.state.value for j in c.wait([after_any, after_not_ok, never], timeout=30)}
    assert states == {after_any: "Finished", after_not_ok: "Finished", never: "Cancelled"}


# ------------------------------------------------------------------------- new-user paths
@pytest.mark.parametrize("tool", ["gjob", "gctl"])
def test_bare_tool_of_subcommands_prints_its_help(daemon, tool):
    out = daemon.cli(tool)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"usage: {tool}") and "COMMAND" in out.stderr and "error" not in out.stderr


def test_second_up_suggests_reload_only_when_it_is_not_a_restart(daemon):
    from gflow.cli import gflowd

    out = daemon.cli("gflowd", "up", check=True)
    if gflowd.COMMANDS["reload"] is gflowd.COMMANDS["restart"]:
        hint = "Use `gflowd restart` to restart it (running jobs keep running)."
    else:
        hint = "Use `gflowd reload` to hot-reload or `gflowd restart` to restart it."
    assert out.stdout.splitlines() == ["gflowd is already running.", hint]


def test_init_system_suggests_system_commands_and_no_shim_address(make_daemon):
    d = make_daemon(start=False)
    target = d.base / "system.yaml"
    out = d.cli("gflowd", "-c", str(target), "init", "--system", "--yes", check=True)
    assert "  1. Start the daemon: gflowd up --system" in out.stdout.splitlines()
    assert "Host:" not in out.stdout and "Port:" not in out.stdout
    import yaml

    daemon_section = yaml.safe_load(target.read_text()).get("daemon", {})
    assert "host" not in daemon_section and "port" not in daemon_section
