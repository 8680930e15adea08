"""Machine formats share one time encoding (ISO 8601 with its offset), carry the same fields,
and parse back: YAML through PyYAML gives what the JSON gives."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import yaml

ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


def _submit(daemon, *argv) -> int:
    return int(daemon.cli("gbatch", *argv, check=True).stdout.split()[3])


def test_yaml_parses_back_to_the_json_values(daemon):
    _submit(daemon, "--hold", "-t", "12:34:56", "-n", "007", "-P", "proj", "true")
    _submit(daemon, "--hold", "-n", "true", "true")  # a name YAML would read as a boolean
    as_json = json.loads(daemon.cli("gqueue", "-o", "json", "-f", "JOBID", check=True).stdout)
    as_yaml = yaml.safe_load(daemon.cli("gqueue", "-o", "yaml", check=True).stdout)
    as_json.pop("timestamp"), as_yaml.pop("timestamp")
    assert as_yaml == as_json
    first = as_json["jobs"][0]
    assert first["time_limit"] == "12:34:56" and first["project"] == "proj"
    import re

    assert re.match(ISO, first["submitted_at"])


def test_csv_carries_time_limit_and_project(daemon):
    _submit(daemon, "--hold", "-t", "90m", "-P", "proj", "-m", "1G", "true")
    rows = list(csv.DictReader(io.StringIO(daemon.cli("gqueue", "-o", "csv", check=True).stdout)))
    assert rows[0]["time_limit"] == "01:30:00" and rows[0]["project"] == "proj" and rows[0]["memory_mb"] == "1024"


def test_gjob_show_json_uses_the_same_time_encoding(daemon):
    job = _submit(daemon, "--hold", "true")
    shown = json.loads(daemon.cli("gjob", "show", "--json", str(job), check=True).stdout)[0]
    listed = json.loads(daemon.cli("gqueue", "-o", "json", check=True).stdout)["jobs"][0]
    assert shown["submitted_at"] == listed["submitted_at"]
    # every field, defaults too, and no instant as an epoch number
    assert shown["priority"] == 10 and shown["started_at"] is None and shown["dependency_mode"] == "All"
    stats = json.loads(daemon.cli("gstats", "-o", "json", "-t", "1h", check=True).stdout)
    import re as _re

    assert _re.match(ISO, stats["since"])
    import re

    assert re.match(ISO, shown["submitted_at"])


def test_empty_queue_is_an_empty_document(daemon):
    assert json.loads(daemon.cli("gqueue", "-o", "json", check=True).stdout)["jobs"] == []
    assert daemon.cli("gqueue", "-o", "csv", check=True).stdout.startswith("id,name,state,")


def test_watch_on_a_pipe_writes_one_json_document_per_refresh(daemon):
    _submit(daemon, "--hold", "true")
    from gflow_testing import tool_argv

    proc = subprocess.Popen(tool_argv("gqueue") + ["-w", "--interval", "0.05", "-o", "json"], env=daemon.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(daemon.home))
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
    finally:
        proc.terminate()
        proc.wait(10)
    for line in lines:
        assert "\x1b" not in line
        assert json.loads(line)["jobs"][0]["state"] == "Hold"


def test_watch_table_on_a_dumb_terminal_has_no_escape_codes(daemon):
    import pty

    _submit(daemon, "--hold", "true")
    from gflow_testing import tool_argv

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(tool_argv("gqueue") + ["-w", "--interval", "0.05"], env=dict(daemon.env, TERM="dumb"),
                            stdout=secondary, stderr=subprocess.PIPE, cwd=str(daemon.home))
    os.close(secondary)
    try:
        seen = b""
        while seen.count(b"Last updated") < 2:
            seen += os.read(primary, 4096)
    finally:
        proc.terminate()
        proc.wait(10)
        os.close(primary)
    assert b"\x1b" not in seen
