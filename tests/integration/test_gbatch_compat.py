"""gbatch against upstream 0.4.18's observable behaviour (SPEC 1.1, 2.x): option grammar,
value messages, directives, subcommands and `--dry-run` — each case here once differed."""
from __future__ import annotations

import pytest

from gflow_testing import Daemon, kill_leftover_jobs


@pytest.fixture(scope="module")
def shared():
    """One daemon for the cases below; none of them leaves a job behind except where said."""
    import shutil
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="gf", dir="/tmp"))
    base.chmod(0o755)
    d = Daemon(base / "d").start()
    yield d
    d.stop()
    kill_leftover_jobs(d)
    shutil.rmtree(base, ignore_errors=True)


def one_line_error(out, code: int = 1) -> str:
    assert out.returncode == code, out
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("gbatch: error: ")
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("(see "))
    return lines[0]


# ------------------------------------------------------------------- command-line grammar
@pytest.mark.parametrize(
    "argv, shown",
    [
        (["-p", "1", "-p", "2"], "--priority <PRIORITY>"),
        (["-g", "1", "--gres", "2"], "--gpus <NUMS>"),
        (["--shared", "--shared", "--gpu-memory", "1G"], "--shared"),
        (["-n", "a", "-J", "b"], "--name <NAME>"),
        (["--dry-run", "--dry-run"], "--dry-run"),
        (["--array", "1-2", "--array", "3-4"], "--array <ARRAY>"),
        (["-t", "1", "--time-limit", "2"], "--time <TIME>"),
    ],
)
def test_a_repeated_option_is_a_usage_error(shared, argv, shown):
    out = shared.cli("gbatch", "--begin", "now+60", *argv, "true")
    line = one_line_error(out, code=2)
    assert f"the argument '{shown}' cannot be used multiple times" in line


def test_repeatable_options_stay_repeatable(shared):
    out = shared.cli("gbatch", "--dry-run", "--param", "a=1", "--param", "b=2", "--notify-email", "a@b",
                     "--notify-email", "c@d", "--notify-on", "job_failed", "--notify-on", "job_completed",
                     "echo", "{a}{b}")
    assert out.returncode == 0 and "  [1] echo '12' (GPUs: 0)" in out.stdout


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["-p", "256"], "invalid value '256' for '--priority <PRIORITY>': 256 is not in 0..=255"),
        (["-p", "abc"], "invalid value 'abc' for '--priority <PRIORITY>': invalid digit found in string"),
        (["-p", ""], "invalid value '' for '--priority <PRIORITY>': cannot parse integer from empty string"),
        (["-g", "-1"], "invalid value '-1' for '--gpus <NUMS>': -1 is not in 0..=4294967295"),
        (["-g", "4294967296"], "'--gpus <NUMS>': 4294967296 is not in 0..=4294967295"),
        (["--max-retries", "99999999999"], "'--max-retries <MAX_RETRIES>': 99999999999 is not in 0..=4294967295"),
        (["--max-concurrent", "x"], "'--max-concurrent <MAX_CONCURRENT>': invalid digit found in string"),
        (["--param-file", ""], "a value is required for '--param-file <PARAM_FILE>' but none was supplied"),
    ],
)
def test_bad_integer_values_use_upstream_wording(shared, argv, needle):
    out = shared.cli("gbatch", "--dry-run", *argv, "true")
    assert needle in one_line_error(out, code=2)


def test_largest_u32_is_accepted(shared):
    out = shared.cli("gbatch", "--dry-run", "-g", "4294967295", "true")
    assert out.returncode == 0 and "(GPUs: 4294967295)" in out.stdout


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--array", ""], "Invalid array format. Expected format like '1-10'."),
        (["--array", "1-2-3"], "Invalid array end index: invalid digit found in string"),
        (["--array=-1-2"], "Invalid array start index: cannot parse integer from empty string"),
        (["--array", "1-4294967296"], "Invalid array end index: number too large to fit in target type"),
        (["--depends-on", "4294967296"], "Invalid dependency value: 4294967296"),
        (["--depends-on-all", "1,x"], "Invalid dependency ID: x: invalid digit found in string"),
        (["--memory", "4K"], "Invalid memory format. Expected formats: 100G, 1024M, or 100 (MB): invalid digit"),
        (["--begin", "25:00"], "Invalid begin time. Expected HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], or now+N[s|m|h|d]"),
        (["--begin", "10:00:00:00"], "Invalid begin time. Expected HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], or now+N"),
        (["--begin", "now + 5"], "Invalid begin date. Expected YYYY-MM-DD"),
        (["--begin", "2026-01-01T25:00"], "Invalid begin time. Expected HH:MM[:SS]"),
        (["--begin", "now+5x"], "Invalid begin time now+5x: 'x' is not a unit (s, m, h, d or w)"),
        (["--time", "4x"], "--time '4x': 'x' is not a unit (s, m, h, d or w); use e.g. 90m, 4h"),
    ],
)
def test_bad_values_are_runtime_errors_with_upstream_messages(shared, argv, needle):
    out = shared.cli("gbatch", "--dry-run", *argv, "true")
    assert needle in one_line_error(out)


def test_begin_amount_may_hold_spaces(shared):
    out = shared.cli("gbatch", "--dry-run", "--begin", "now+ 5 h", "true")
    assert out.returncode == 0, out.stderr


def test_blank_notify_email_adds_no_recipient(shared):
    out = shared.cli("gbatch", "--dry-run", "--notify-email", "", "true")
    assert out.returncode == 0, out.stderr


# ------------------------------------------------------------------------- dependencies
def test_dry_run_resolves_at_shorthands(daemon):
    out = daemon.cli("gbatch", "--dry-run", "-d", "@", "true")
    assert "Cannot resolve dependency '@' for user" in one_line_error(out)
    out = daemon.cli("gbatch", "--dry-run", "--depends-on-any", "1,@", "true")
    assert "Cannot resolve dependency '@' for user" in one_line_error(out)
    daemon.cli("gbatch", "--hold", "true", check=True)
    out = daemon.cli("gbatch", "--dry-run", "-d", "@", "true", check=True)
    assert out.stdout == "Would submit 1 batch job:\n  [1] true (GPUs: 0)\n"
    with daemon.client() as c:
        assert [j.id for j in c.list()] == [1]


@pytest.mark.parametrize("ref", ["@x", "@~0", "@~"])
def test_other_at_words_go_to_the_daemon(shared, ref):
    for argv in (["-d", ref], ["--depends-on-all", f"{ref},"]):
        out = shared.cli("gbatch", *argv, "true")
        assert f"Cannot resolve dependency '{ref}' for user" in one_line_error(out)


# --------------------------------------------------------------------------- directives
@pytest.mark.parametrize(
    "directives, needle",
    [
        (["--priority=33", "--priority=34"], "the argument '--priority <PRIORITY>' cannot be used multiple times"),
        (["--shared --shared --gpu-memory 1G"], "the argument '--shared' cannot be used multiple times"),
        (["-g 1 --gres 2"], "the argument '--gpus <NUMS>' cannot be used multiple times"),
        (["--priority=abc"], "invalid value 'abc' for '--priority <PRIORITY>': invalid digit found in string"),
        (["--priority=300"], "300 is not in 0..=255"),
        (["--gpus"], "--gpus"),
    ],
)
def test_bad_directives_fail_with_exit_1(shared, tmp_path, directives, needle):
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n" + "".join(f"# GFLOW {d}\n" for d in directives) + "echo hi\n")
    out = shared.cli("gbatch", "--dry-run", str(script))
    assert needle in one_line_error(out, code=1)


def test_command_line_and_directive_may_both_set_an_option(shared, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n# GFLOW --gpus=2\necho hi\n")
    out = shared.cli("gbatch", "--dry-run", "-g", "3", str(script), check=True)
    assert f"  [1] {script} (GPUs: 3)" in out.stdout


def test_a_directory_is_not_a_readable_script(shared, tmp_path):
    (tmp_path / "adir").mkdir()
    out = shared.cli("gbatch", "--dry-run", "adir", cwd=str(tmp_path))
    assert "Failed to read script file" in one_line_error(out)


# -------------------------------------------------------------------------- subcommands
def test_new_after_options_is_the_subcommand(shared, tmp_path):
    out = shared.cli("gbatch", "-g", "1", "new", "foo", cwd=str(tmp_path))
    assert out.returncode == 0 and out.stdout == "" and (tmp_path / "foo.sh").exists()
    out = shared.cli("gbatch", "--dry-run", "new", cwd=str(tmp_path))
    assert out.returncode == 2 and "NAME" in out.stderr
    out = shared.cli("gbatch", "--dry-run", "--", "new", "x", cwd=str(tmp_path), check=True)
    assert out.stdout == "Would submit 1 batch job:\n  [1] new x (GPUs: 0)\n"
    out = shared.cli("gbatch", "--dry-run", "echo", "new", cwd=str(tmp_path), check=True)
    assert "  [1] echo new (GPUs: 0)" in out.stdout


def test_help_and_completion_words(shared):
    out = shared.cli("gbatch", "help")
    assert out.returncode == 0 and "usage: gbatch" in out.stdout.lower() and "Submitted" not in out.stdout
    out = shared.cli("gbatch", "-g", "1", "completion", "bash")
    assert out.returncode == 0 and "gbatch" in out.stdout and "Submitted" not in out.stdout


# ------------------------------------------------------------------------------- sweeps
def test_empty_name_template_names_jobs_plainly(shared):
    out = shared.cli("gbatch", "--hold", "--param", "a=1", "--name-template", "", "-n", "nm", "true", check=True)
    job_id = int(out.stdout.split()[3])
    assert out.stdout == f"Submitted batch job {job_id} (gjob-{job_id})\n"
    shared.cli("gcancel", str(job_id), check=True)
