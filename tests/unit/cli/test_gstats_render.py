"""Exact output of gstats' renderers against SPEC 5.6."""
from __future__ import annotations

import calendar
import json
import time

import pytest

from gflow.cli.gstats import build_parser, render_csv, render_json, render_table
from gflow.cli.render.table import strip_ansi
from gflow.core.stats import Stats, TopJob

# the numbers of the SPEC 5.6 table sample
SAMPLE = Stats(
    user="tester", since=None, total_jobs=22, completed_jobs=14, failed_jobs=1, cancelled_jobs=3,
    timeout_jobs=1, running_jobs=1, queued_jobs=2, avg_wait_secs=0.4, avg_runtime_secs=8.25,
    total_gpu_hours=0.0, jobs_with_gpus=0, avg_gpus_per_job=0.0, peak_gpu_usage=0,
    success_rate=14 / 19 * 100,
    top_jobs=[TopJob(id=10, name="gjob-10", runtime_secs=39.5, gpus=0)],
)

SAMPLE_TABLE = """\
Usage Statistics  user: tester  since: all time  active: 3
────────────────────────────────────────────────────────────────────────

Job Status
  Total Jobs:      22
  Completed:       14 (74%)
  Failed:          1 (5%)
  Cancelled:       3 (16%)
  Timeout:         1 (5%)
  Running:         1 (5%)
  Queued:          2 (9%)

Efficiency
  Avg Wait Time:   00:00:00
  Avg Runtime:     00:00:08
  Total GPU-Hours: 0.0h
  Success Rate:    73.7%

GPU Usage
  Jobs with GPUs:  0 (0%)
  Avg GPUs/Job:    0.0
  Peak GPU Usage:  0

Top Jobs by Runtime
  #    JOBID  NAME                                 RUNTIME  GPUS
  ──────────────────────────────────────────────────────────────
  1.      10  gjob-10                             00:00:39     0"""


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_table_matches_spec_sample():
    assert render_table(SAMPLE, False) == SAMPLE_TABLE


def test_table_colour_is_only_bold_and_dim():
    coloured = render_table(SAMPLE, True)
    assert "\x1b[1m" in coloured and "\x1b[2m" in coloured
    assert strip_ansi(coloured) == SAMPLE_TABLE
    assert "\x1b[" not in render_table(SAMPLE, False)


def test_table_without_terminal_or_active_jobs(utc):
    since = calendar.timegm((2026, 2, 4, 9, 30, 0))
    stats = Stats(user=None, since=since, total_jobs=1, avg_wait_secs=None, avg_runtime_secs=None,
                  jobs_with_gpus=1, avg_gpus_per_job=2.0, peak_gpu_usage=2, total_gpu_hours=1.3)
    assert render_table(stats, False) == """\
Usage Statistics  user: all users  since: 2026-02-04 09:30  active: 0
────────────────────────────────────────────────────────────────────────

Job Status
  Total Jobs:      1
  Completed:       0
  Failed:          0
  Cancelled:       0

Efficiency
  Avg Wait Time:   -
  Avg Runtime:     -
  Total GPU-Hours: 1.3h
  Success Rate:    0.0%

GPU Usage
  Jobs with GPUs:  1 (100%)
  Avg GPUs/Job:    2.0
  Peak GPU Usage:  2"""


def test_top_jobs_long_names_unnamed_and_wide_columns():
    stats = Stats(user="u", total_jobs=2, completed_jobs=2, success_rate=100.0, top_jobs=[
        TopJob(id=123456, name="x" * 35, runtime_secs=100 * 3600, gpus=12345),
        TopJob(id=7, name=None, runtime_secs=61, gpus=1),
    ])
    tail = render_table(stats, False).split("\n")[-4:]
    assert tail == [
        "  #    JOBID  NAME                                  RUNTIME   GPUS",
        "  " + "─" * (50 + 9 + 5),
        "  1.  123456  " + "x" * 31 + "...  100:00:00  12345",
        "  2.       7  <unnamed>                            00:01:01      1",
    ]


def test_csv():
    assert render_csv(SAMPLE) == """\
metric,value
total_jobs,22
completed_jobs,14
failed_jobs,1
cancelled_jobs,3
timeout_jobs,1
running_jobs,1
queued_jobs,2
avg_wait_secs,0.4
avg_runtime_secs,8.2
total_gpu_hours,0.00
jobs_with_gpus,0
avg_gpus_per_job,0.00
peak_gpu_usage,0
success_rate,73.7"""


def test_csv_null_averages_are_empty():
    lines = render_csv(Stats()).split("\n")
    assert "avg_wait_secs," in lines and "avg_runtime_secs," in lines


def test_json_is_pretty_and_unrounded():
    text = render_json(SAMPLE)
    assert text.startswith('{\n  "user": "tester",\n  "since": null,\n')
    doc = json.loads(text)
    assert doc["success_rate"] == 14 / 19 * 100
    assert doc["top_jobs"] == [{"id": 10, "name": "gjob-10", "runtime_secs": 39.5, "gpus": 0}]


def test_parser_options():
    parser = build_parser()
    args = parser.parse_args(["-a", "-t", "1h", "-o", "JSON"])
    assert (args.all_users, args.since, args.output, args.user) == (True, "1h", "json", None)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["-u", "bob", "-a"])
    assert exc.value.code == 2
    # SPEC 1.7: any other output value renders the table (upstream does not refuse it)
    assert parser.parse_args(["-o", "yaml"]).output == "yaml"
