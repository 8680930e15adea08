"""Side-by-side findings against upstream 0.4.18 (SPEC 1.4-1.8): gcancel, gctl, gstats and
gflowd messages, exit codes and layouts that a script comparing both tools would see."""
from __future__ import annotations

import os
import pwd
import tomllib

FOUR_GPUS = "gpu:\n  backend: fake\n  count: 4\ntimezone: UTC\n"


def _err(proc) -> str:
    return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""


def _submit(d, *args) -> int:
    out = d.cli("gbatch", *args, check=True).stdout
    return int(out.split()[3])


# --------------------------------------------------------------------------- gcancel
def test_gcancel_dry_run_lists_a_dependent_even_when_it_is_in_the_list(daemon):
    a = _submit(daemon, "--hold", "true")
    b = _submit(daemon, "--hold", "-d", str(a), "true")
    out = daemon.cli("gcancel", "--dry-run", f"{a},{b}", check=True).stdout.splitlines()
    # upstream prints the blocked line under its parent and then the dependent's own line
    assert out == [f"{a}\tHold\tok", f"{b}\tHold\tblocked\t{a}", f"{b}\tHold\tok"]


def test_gcancel_errors_say_failed_to_cancel_job(daemon):
    missing = daemon.cli("gcancel", "99")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.strip() == "gcancel: error: Failed to cancel job: Job 99 not found"
    a = _submit(daemon, "--hold", "true")
    daemon.cli("gcancel", str(a), check=True)
    again = daemon.cli("gcancel", str(a))
    assert again.returncode == 1
    assert _err(again) == f"gcancel: error: Failed to cancel job: Job {a} is already Cancelled and cannot be cancelled"
    dry = daemon.cli("gcancel", "--dry-run", "99")
    assert dry.returncode == 1 and _err(dry) == "gcancel: error: Job 99 not found"


def test_gcancel_finish_and_fail_together_report_the_finish(daemon):
    # upstream accepts both hidden flags at once and reports the finish only (not exit 2)
    out = daemon.cli("gcancel", "--finish", "99", "--fail", "98")
    assert out.returncode == 1 and _err(out) == "gcancel: error: Failed to finish job: Job 99 not found"


# --------------------------------------------------------------------------- gctl
def test_gctl_set_gpus_daemon_refusal_has_upstream_context(make_daemon):
    d = make_daemon(FOUR_GPUS)
    out = d.cli("gctl", "set-gpus", "0,9")
    assert out.returncode == 1
    assert _err(out) == "gctl: error: Failed to set GPU configuration: Invalid GPU indices [9] (only 4 GPUs detected)"
    assert d.cli("gctl", "set-gpus", "0,2", check=True).stdout == "GPU restriction updated: only GPUs [0, 2] will be used\n"


def test_gctl_set_limit_messages_and_usage(daemon):
    bad = daemon.cli("gctl", "set-limit", "abc", "2")
    assert bad.returncode == 1
    assert _err(bad) == "gctl: error: Failed to set group max_concurrency: Invalid UUID format: 'abc'"
    uuid = "123e4567-e89b-12d3-a456-426614174000"
    unknown = daemon.cli("gctl", "set-limit", uuid, "2")
    assert unknown.returncode == 1
    assert _err(unknown) == f"gctl: error: Failed to set group max_concurrency: No jobs found with group_id '{uuid}'"
    # a job id: the lookup errors stand alone
    assert _err(daemon.cli("gctl", "set-limit", "99", "2")) == "gctl: error: Job 99 not found"
    lone = _submit(daemon, "--hold", "true")
    assert _err(daemon.cli("gctl", "set-limit", str(lone), "2")) == f"gctl: error: Job {lone} is not part of a group"
    # N is unsigned: a negative limit is a usage error, as in upstream
    assert daemon.cli("gctl", "set-limit", str(lone), "-1").returncode == 2
    out = daemon.cli("gbatch", "--hold", "--array", "1-2", "--max-concurrent", "1", "true", check=True).stdout
    group = out.split("group_id: ")[1].split()[0]
    member = lone + 2
    done = daemon.cli("gctl", "set-limit", f"+{member}", "3", check=True).stdout.splitlines()
    assert done == [f"Found job {member} in group '{group}'",
                    f"Updated max_concurrency to 3 for group '{group}' (2 jobs affected)"]


# --------------------------------------------------------------------------- gstats
def test_gstats_unknown_output_is_an_error_like_gqueue(daemon):
    for value in ("xml", ""):
        out = daemon.cli("gstats", "-o", value)
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr == f"gstats: error: Invalid output format '{value}'. Valid options: table, json, csv\n"
    assert daemon.cli("gstats", "-o", "TABLE", check=True).stdout.startswith("Usage Statistics  user: ")
    assert daemon.cli("gstats", "-o", "CSV", check=True).stdout.startswith("metric,value\n")


# --------------------------------------------------------------------------- gflowd
def test_gflowd_override_validation_reads_as_upstream(make_daemon):
    d = make_daemon(start=False)
    bad = d.cli("gflowd", "up", "--gpu-allocation-strategy", "bogus")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "gflowd: error: Invalid GPU allocation strategy 'bogus'. Use 'sequential' or 'random'."
    zero = d.cli("gflowd", "restart", "--gpu-poll-interval-secs", "0")
    assert zero.returncode == 1
    assert zero.stderr.strip() == "gflowd: error: Invalid GPU poll interval '0'. Use a value of at least 1 second."
    assert d.cli("gflowd", "up", "--gpu-poll-interval-secs", "x").returncode == 2
    assert not d.socket.exists()


def test_gflowd_init_writes_toml_for_a_toml_path_and_prints_the_summary(make_daemon):
    d = make_daemon(start=False)
    target = d.base / "gflow.toml"
    out = d.cli("gflowd", "-c", str(target), "init", "--yes", "--port", "59250", "--host", "0.0.0.0",
                "--gpus", "0-1", "--gpu-allocation-strategy", "Random", "--gpu-poll-interval-secs", "5",
                "--timezone", "UTC", check=True)
    assert out.stdout.splitlines() == [
        f"Configuration saved to: {target}",
        "",
        "Configuration Summary:",
        "  GPUs: 0,1",
        "  Host: 0.0.0.0",
        "  Port: 59250",
        "  GPU allocation strategy: random",
        "  GPU poll interval: 5s",
        "  Timezone: UTC",
        "",
        "Next steps:",
        "  1. Start the daemon: gflowd up",
        "  2. Check status: gflowd status",
        "  3. Submit a job: gbatch --gpus 1 script.sh",
    ]
    text = target.read_text()
    assert text.startswith("# Generated by gflowd init on ")
    data = tomllib.loads(text)
    assert data["timezone"] == "UTC"
    assert data["daemon"] == {"host": "0.0.0.0", "port": 59250, "gpus": [0, 1],
                              "gpu_allocation_strategy": "random", "gpu_poll_interval_secs": 5}
    again = d.cli("gflowd", "-c", str(target), "init", "--yes")
    assert again.returncode == 1
    assert again.stderr.strip() == f"gflowd: error: Config file already exists: {target} (use --force to overwrite)"
    bad_tz = d.cli("gflowd", "-c", str(target), "init", "--yes", "--force", "--timezone", "Mars/Base")
    assert bad_tz.returncode == 1 and bad_tz.stderr.strip() == "gflowd: error: Invalid timezone: Mars/Base"


def test_gflowd_init_default_file_is_read_back_by_the_daemon(make_daemon):
    d = make_daemon(start=False)
    target = d.home / ".config" / "gflow" / "gflow.yaml"
    target.unlink()
    out = d.cli("gflowd", "init", "--yes", check=True)
    assert out.stdout.splitlines()[0] == f"Configuration saved to: {target}"
    assert "  Timezone: local" in out.stdout.splitlines()
    target.write_text(target.read_text() + "gpu:\n  backend: none\n")
    d.start()
    assert d.cli("gqueue", check=True).stdout.strip() == "No jobs found."
    assert d.client().status().executor == "process"


def test_gflowd_init_drops_gpu_indices_the_machine_lacks(make_daemon):
    d = make_daemon(FOUR_GPUS, start=False)
    target = d.base / "x.toml"
    out = d.cli("gflowd", "-c", str(target), "init", "--yes", "--gpus", "1,7", check=True)
    assert "  GPUs: 1" in out.stdout.splitlines()
    assert "7" in out.stderr and out.stderr.startswith("Warning: ")
    assert tomllib.loads(target.read_text())["daemon"]["gpus"] == [1]
    none = d.cli("gflowd", "-c", str(target), "init", "--yes", "--force", "--gpus", "7-8")
    assert none.returncode == 1 and "Invalid GPU indices [7, 8] (only 4 GPUs detected)" in none.stderr
    detected = d.cli("gflowd", "-c", str(target), "init", "--yes", "--force", check=True)
    assert "  GPUs: 0-3 (all detected)" in detected.stdout.splitlines()


def test_gctl_timeline_window_is_read_only_when_there_is_something_to_draw(make_daemon):
    from datetime import datetime, timedelta, timezone

    d = make_daemon(FOUR_GPUS)
    # upstream answers an empty list before it looks at the window
    for args in (["--range", "7x"], ["--range", "2h:1h"], ["--from", "bad", "--to", "bad"]):
        out = d.cli("gctl", "reserve", "list", "--timeline", *args)
        assert (out.returncode, out.stdout) == (0, "No reservations found.\n"), out.stderr
    start = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%d 10:00")
    d.cli("gctl", "reserve", "create", "--user", pwd.getpwuid(os.getuid()).pw_name, "--gpus", "1", "--start", start,
          "--duration", "1h", check=True)
    bad = d.cli("gctl", "reserve", "list", "--timeline", "--range", "7x")
    # the one duration grammar's plain words (upstream: `Invalid character in duration: x`)
    assert bad.returncode == 1 and _err(bad).startswith("gctl: error: Invalid duration '7x': 'x' is not a unit")
    # a window need not be slot-aligned, and may be days long (upstream refused both)
    for spec in ("45m", "7d"):
        assert "GPU Reservations Timeline (" in d.cli("gctl", "reserve", "list", "--timeline", "--range", spec,
                                                      check=True).stdout
    backwards = d.cli("gctl", "reserve", "list", "--timeline", "--range", "2h:1h")
    assert _err(backwards) == "gctl: error: Invalid time range: end time must be after start time"


def test_gflowd_down_without_a_daemon_says_stopped(make_daemon):
    d = make_daemon(start=False)
    out = d.cli("gflowd", "down", check=True)
    assert out.stdout == "gflowd stopped.\n"
    status = d.cli("gflowd", "status")
    assert status.returncode == 3  # LSB: not running
    assert status.stdout == "Status: Not running\nThe gflowd daemon is not running.\n"
