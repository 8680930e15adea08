"""Exact-output tests for the job views of gflow.cli.render against the samples of SPEC 5."""
from __future__ import annotations

import calendar
import csv
import io
import json
import time

import pytest
import yaml

from gflow.cli.render import formats, queue, show, table, tree
from gflow.protocol import DependencyMode, GpuSharing, Job, JobState

# 2026-02-04 12:00:00 UTC, a fixed "now" for every test
NOW = float(calendar.timegm((2026, 2, 4, 12, 0, 0)))

ALL_FIELDS = "JOBID,NAME,ST,TIME,TIMELIMIT,MEMORY,NODES,NODELIST(REASON),USER,PROJECT,REASON,BOGUS".split(",")
TREE_FIELDS = ["JOBID", "NAME", "ST", "NODELIST(REASON)"]


def job(id: int, state: JobState = JobState.QUEUED, **kw) -> Job:
    kw.setdefault("run_name", f"gjob-{id}")
    kw.setdefault("user", "tester")
    kw.setdefault("submitted_at", NOW - 600)
    return Job(id=id, state=state, **kw)


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def cell(j: Job, field: str, color: bool = False) -> str:
    """One cell as gqueue draws it: its table builds whole columns, its tree row by row; both
    must agree."""
    in_table = queue.gqueue_table([j], [field], NOW, color).split("\n")[1][1:].rstrip()
    in_tree = tree.gqueue_tree([j], [field], NOW, color).split("\n")[1][1:].rstrip()
    assert in_table == in_tree
    return in_table


# --------------------------------------------------------------------------- table


def test_table_blank_style_pads_and_keeps_trailing_space():
    out = table.table(["A", "LONGER"], [["xyz", "1"], ["", "22"]])
    assert out.split("\n") == [
        " A     LONGER ",
        " xyz   1      ",
        "       22     ",
    ]


def test_table_width_ignores_ansi_and_counts_wide_characters():
    out = table.table(["N", "X"], [["\x1b[1;32mR\x1b[0m", "a"], ["训练", "b"]])
    lines = out.split("\n")
    assert lines[0] == " N      X "
    assert lines[1] == " \x1b[1;32mR\x1b[0m      a "
    assert lines[2] == " 训练   b "


def test_table_header_only():
    assert table.table(["JOBID", "NAME"], []) == " JOBID   NAME "


# --------------------------------------------------------------------------- cells


def test_all_columns_sample_is_byte_exact():
    jobs = [
        job(1, JobState.FINISHED, started_at=NOW - 60, finished_at=NOW - 53, gpu_ids=[]),
        job(3, reason="WaitingForStartTime", scheduled_at=NOW + 3600),
        job(7, JobState.RUNNING, started_at=NOW - 2, time_limit=20, gpu_ids=[], alive=True),
        job(9, JobState.RUNNING, run_name="gjob-9-my_run_1_x", started_at=NOW - 1,
            gpu_ids=[], project="proj1"),
    ]
    assert queue.gqueue_table(jobs, ALL_FIELDS, NOW, color=False) == "\n".join([
        " JOBID   NAME                ST   TIME       TIMELIMIT   MEMORY   NODES   NODELIST(REASON)   USER     PROJECT   REASON   BOGUS ",
        " 1       gjob-1              CD   00:00:07   UNLIMITED   -        0       -                  tester   -                        ",
        " 3       gjob-3              PD   -          UNLIMITED   -        0       (BeginTime)        tester   -                        ",
        " 7       gjob-7 ○            R    00:00:02   00:00:20    -        0                          tester   -                        ",
        " 9       gjob-9-my_run_1_x   R    00:00:01   UNLIMITED   -        0                          tester   proj1                    ",
    ])


def test_default_columns_sample():
    jobs = [
        job(3, reason="WaitingForStartTime"),
        job(5, JobState.RUNNING, run_name="gjob-5-train", started_at=NOW - 2, gpu_ids=[], alive=True),
        job(6, run_name="gjob-6-eval", reason="WaitingForDependency"),
        job(12, JobState.HOLD),
    ]
    assert queue.gqueue_table(jobs, queue.DEFAULT_FIELDS, NOW) == "\n".join([
        " JOBID   NAME             ST   TIME       NODES   NODELIST(REASON) ",
        " 3       gjob-3           PD   -          0       (BeginTime)      ",
        " 5       gjob-5-train ○   R    00:00:02   0                        ",
        " 6       gjob-6-eval      PD   -          0       (Dependency)     ",
        " 12      gjob-12          H    -          0       (JobHeldUser)    ",
    ])


@pytest.mark.parametrize(
    "state, kw, expected",
    [
        (JobState.RUNNING, {"gpu_ids": [0, 2]}, "0,2"),
        (JobState.RUNNING, {"gpu_ids": []}, ""),
        (JobState.QUEUED, {}, "(Resources)"),
        (JobState.QUEUED, {"reason": "WaitingForGpu"}, "(Resources)"),
        (JobState.QUEUED, {"reason": "WaitingForQuota"}, "(Quota)"),
        (JobState.HOLD, {}, "(JobHeldUser)"),
        (JobState.CANCELLED, {}, "-"),
        (JobState.CANCELLED, {"reason": "CancelledByUser"}, "-"),
        (JobState.CANCELLED, {"reason": "DependencyFailed:5"}, "(DependencyFailed:5)"),
        (JobState.FAILED, {"reason": "RunnerVanished"}, "-"),
        (JobState.FINISHED, {"gpu_ids": [1]}, "-"),
    ],
)
def test_nodelist_reason(state, kw, expected):
    assert cell(job(1, state, **kw), "NODELIST(REASON)") == expected


def test_other_cells():
    j = job(4, JobState.QUEUED, run_name="", memory_limit_mb=2560, time_limit=90000, gpus=2)
    assert cell(j, "NAME") == "-"
    assert cell(j, "MEMORY") == "2.5G"
    assert cell(j, "TIMELIMIT") == "25:00:00"
    assert cell(j, "NODES") == "2"
    assert cell(j, "USER") == "tester"
    assert cell(j, "PROJECT") == "-"
    assert cell(j, "jobid") == ""  # matching is case-sensitive
    assert cell(j, "REASON") == ""
    # liveness marker only when the daemon says the runner is alive
    assert cell(job(5, JobState.RUNNING, alive=False), "NAME") == "gjob-5"


def test_colour_only_when_asked():
    running = job(1, JobState.RUNNING, started_at=NOW, alive=True)
    assert cell(running, "ST", color=False) == "R"
    assert cell(running, "ST", color=True) == "\x1b[32;1mR\x1b[0m"
    assert cell(running, "NAME", color=True) == "gjob-1 \x1b[32m○\x1b[0m"
    styles = {s: cell(job(1, s), "ST", color=True) for s in JobState}
    assert styles[JobState.FINISHED] == "\x1b[2mCD\x1b[0m"
    assert styles[JobState.QUEUED] == "\x1b[3mPD\x1b[0m"
    assert styles[JobState.HOLD] == "\x1b[1mH\x1b[0m"
    assert styles[JobState.FAILED] == "\x1b[31;1mF\x1b[0m"
    assert styles[JobState.TIMEOUT] == "\x1b[4mTO\x1b[0m"
    assert styles[JobState.CANCELLED] == "\x1b[9mCA\x1b[0m"
    # coloured tables keep the same alignment as plain ones
    plain = queue.gqueue_table([running], ["ST", "JOBID"], NOW)
    coloured = queue.gqueue_table([running], ["ST", "JOBID"], NOW, color=True)
    assert table.strip_ansi(coloured) == plain


# --------------------------------------------------------------------------- group view


def test_grouped_view_includes_hold_between_queued_and_finished():
    jobs = [
        job(1, JobState.FINISHED, started_at=NOW - 10, finished_at=NOW - 5),
        job(2, JobState.HOLD),
        job(3, JobState.RUNNING, started_at=NOW - 3, gpu_ids=[]),
        job(4),
        job(5, JobState.RUNNING, started_at=NOW - 4, gpu_ids=[0]),
    ]
    fields = ["JOBID", "ST"]
    assert queue.gqueue_grouped(jobs, fields, NOW) == "\n".join([
        "Running (2)",
        "─" * 60,
        " JOBID   ST ",
        " 3       R  ",
        " 5       R  ",
        "",
        "Queued (1)",
        "─" * 60,
        " JOBID   ST ",
        " 4       PD ",
        "",
        "Hold (1)",
        "─" * 60,
        " JOBID   ST ",
        " 2       H  ",
        "",
        "Finished (1)",
        "─" * 60,
        " JOBID   ST ",
        " 1       CD ",
    ])


# --------------------------------------------------------------------------- tree view


def test_tree_sample_with_reference_row_is_byte_exact():
    jobs = [
        job(42, run_name="gjob-42-A", reason="WaitingForStartTime"),
        job(43, run_name="gjob-43-B", reason="WaitingForStartTime"),
        job(44, run_name="gjob-44-C", reason="WaitingForDependency", depends_on_ids=[42, 43]),
    ]
    assert tree.gqueue_tree(jobs, queue.DEFAULT_FIELDS, NOW) == "\n".join([
        " JOBID            NAME        ST   TIME   NODES   NODELIST(REASON) ",
        " 42               gjob-42-A   PD   -      0       (BeginTime)      ",
        " ╰─44             gjob-44-C   PD   -      0       (Dependency)     ",
        " 43               gjob-43-B   PD   -      0       (BeginTime)      ",
        " ╰─→ see job 44   -           -    -      -       -                ",
    ])


def retry_chain() -> list[Job]:
    """26 failed, 28 and 29 are its retries, 27 was re-pointed from 26 to 29 (SPEC 3.7)."""
    return [
        job(26, JobState.FAILED, run_name="gjob-26-flaky"),
        job(27, JobState.CANCELLED, reason="DependencyFailed:29", depends_on_ids=[29]),
        job(28, JobState.FAILED, redone_from=26, retried_from=26),
        job(29, JobState.FAILED, redone_from=26, retried_from=28),
    ]


def test_tree_redo_links_are_dashed_and_continue_with_blanks():
    assert tree.gqueue_tree(retry_chain(), TREE_FIELDS, NOW) == "\n".join([
        " JOBID    NAME            ST   NODELIST(REASON)      ",
        " 26       gjob-26-flaky   F    -                     ",
        " ├┄28     gjob-28         F    -                     ",
        " ╰┄29     gjob-29         F    -                     ",
        "   ╰─27   gjob-27         CA   (DependencyFailed:29) ",
    ])


def test_tree_redo_sample_lines_are_byte_exact_in_a_wider_listing():
    """The SPEC sample is an excerpt of a longer listing: its column widths come from other
    rows. Add rows of those widths and the four sample lines must appear verbatim."""
    extra = [
        job(9, JobState.RUNNING, run_name="gjob-9-my_run_1_x", started_at=NOW, gpu_ids=[]),
        job(40),
        job(41, depends_on_ids=[40]),
        job(42, depends_on_ids=[40]),
        job(43, depends_on_ids=[42, 41]),  # reference under 41: "│ ╰─→ see job 43" (16 wide)
    ]
    lines = tree.gqueue_tree(retry_chain() + extra, TREE_FIELDS, NOW).split("\n")
    sample = [
        " 26                 gjob-26-flaky       F    -                     ",
        " ├┄28               gjob-28             F    -                     ",
        " ╰┄29               gjob-29             F    -                     ",
        "   ╰─27             gjob-27             CA   (DependencyFailed:29) ",
    ]
    start = lines.index(sample[0])
    assert lines[start : start + 4] == sample
    assert " │ ╰─→ see job 43   -                   -    -                     " in lines


def test_tree_deeper_levels_use_pipe_continuation():
    jobs = [
        job(1),
        job(2, depends_on_ids=[1]),
        job(3, depends_on_ids=[2]),
        job(4, depends_on_ids=[3]),
        job(5, depends_on_ids=[2]),
        job(6, depends_on_ids=[1]),
        job(7, depends_on_ids=[6]),
    ]
    lines = tree.gqueue_tree(jobs, ["JOBID"], NOW).split("\n")
    assert [line.rstrip() for line in lines] == [
        " JOBID",
        " 1",
        " ├─2",
        " │ ├─3",
        " │ │ ╰─4",
        " │ ╰─5",
        " ╰─6",
        "   ╰─7",
    ]


def test_tree_redo_link_becomes_dashed_reference_when_job_has_a_dependency_parent():
    jobs = [job(1, JobState.FAILED), job(2), job(3, redone_from=1, depends_on_ids=[2])]
    assert tree.gqueue_tree(jobs, ["JOBID", "ST"], NOW) == "\n".join([
        " JOBID           ST ",
        " 1               F  ",
        " ╰┄→ see job 3   -  ",
        " 2               PD ",
        " ╰─3             PD ",
    ])


def test_tree_without_jobid_first_draws_no_connectors():
    jobs = [job(1), job(2), job(3, depends_on_ids=[1, 2])]
    # the reference row is all `-` unless JOBID comes first (upstream draws its pointer there)
    assert tree.gqueue_tree(jobs, ["ST", "JOBID"], NOW) == "\n".join([
        " ST   JOBID ",
        " PD   1     ",
        " PD   3     ",
        " PD   2     ",
        " -    -     ",
    ])


def test_tree_reference_text_only_in_the_first_jobid_column():
    jobs = [job(1), job(2), job(3, depends_on_ids=[1, 2])]
    assert tree.gqueue_tree(jobs, ["JOBID", "JOBID"], NOW).split("\n")[-1] == " ╰─→ see job 3   -     "


def test_tree_parents_outside_the_listing_make_roots_and_cycles_still_show():
    jobs = [job(5, depends_on_ids=[99]), job(7, depends_on_ids=[8]), job(8, depends_on_ids=[7])]
    out = tree.gqueue_tree(jobs, ["JOBID"], NOW)
    assert out.split("\n") == [" JOBID ", " 5     ", " 7     ", " ╰─8   "]


# --------------------------------------------------------------------------- sort / limit


def test_sort_keys():
    a = job(1, JobState.RUNNING, run_name="b", gpus=2, priority=5, started_at=NOW - 10)
    b = job(2, JobState.QUEUED, run_name="c", gpus=0, priority=20)
    c = job(3, JobState.HOLD, run_name="a", gpus=1, priority=1, started_at=NOW - 20)
    d = job(4, JobState.FINISHED, run_name="d", gpus=0, priority=10, started_at=NOW - 30)
    jobs = [d, c, b, a]

    def ids(key):
        return [j.id for j in queue.sort_jobs(jobs, key)]

    assert ids("id") == [1, 2, 3, 4]
    assert ids("STATE") == [2, 3, 1, 4]
    assert ids("time") == [2, 4, 3, 1]
    assert ids("name") == [3, 1, 2, 4]
    assert ids("gpus") == ids("nodes") == [2, 4, 3, 1]
    assert ids("Priority") == [3, 1, 4, 2]
    assert {"id", "state", "time", "name", "gpus", "nodes", "priority"} == queue.SORT_KEYS
    with pytest.raises(ValueError):
        queue.sort_jobs(jobs, "bogus")


def test_limit_jobs():
    jobs = [job(i) for i in range(1, 6)]
    kept, banner = queue.limit_jobs(jobs, 2)
    assert [j.id for j in kept] == [1, 2]
    assert banner == "Showing first 2 of 5 jobs (use --all or -n 0 to show all)"
    kept, banner = queue.limit_jobs(jobs, -3)
    assert [j.id for j in kept] == [3, 4, 5]
    assert banner == "Showing last 3 of 5 jobs (use --all or -n 0 to show all)"
    for n in (0, 5, 9, -5, -9):
        kept, banner = queue.limit_jobs(jobs, n)
        assert len(kept) == 5 and banner is None


# --------------------------------------------------------------------------- machine formats


SAMPLE_SUBMIT = float(calendar.timegm((2026, 11, 24, 11, 34, 33)))


def csv_jobs() -> list[Job]:
    return [
        job(10, JobState.RUNNING, submitted_at=SAMPLE_SUBMIT, started_at=NOW - 36, gpu_ids=[]),
        job(11, reason="WaitingForDependency", submitted_at=SAMPLE_SUBMIT, depends_on_ids=[10]),
    ]


def test_csv_sample_is_byte_exact():
    assert formats.gqueue_csv(csv_jobs(), NOW) == "\n".join([
        "id,name,state,time,gpus,user,submitted_at,reason,time_limit,project,memory_mb",
        "10,gjob-10,Running,00:00:36,[],tester,2026-11-24T11:34:33Z,-,-,-,-",
        "11,gjob-11,Queued,-,[],tester,2026-11-24T11:34:33Z,Dependency,-,-,-",
    ])


def test_csv_quotes_gpu_lists_with_commas():
    j = job(3, JobState.FINISHED, started_at=NOW - 5, finished_at=NOW, gpu_ids=[0, 1], submitted_at=0.0)
    line = formats.gqueue_csv([j], NOW).split("\n")[1]
    assert line == '3,gjob-3,Finished,00:00:05,"[0,1]",tester,-,-,-,-,-'
    assert next(csv.reader(io.StringIO(line)))[4] == "[0,1]"


def test_json_structure():
    jobs = csv_jobs() + [
        job(12, JobState.HOLD, project="proj1", memory_limit_mb=512, time_limit=3600,
            submitted_at=SAMPLE_SUBMIT),
        job(13, JobState.CANCELLED, reason="CancelledByUser", submitted_at=SAMPLE_SUBMIT),
    ]
    text = formats.gqueue_json(jobs, NOW + 0.5)
    assert text.startswith('{\n  "jobs": [\n    {\n      "id": 10,')
    doc = json.loads(text)
    assert list(doc) == ["jobs", "total", "timestamp"]
    assert doc["total"] == 4
    assert doc["timestamp"] == "2026-02-04T12:00:00.500000000+00:00"
    assert doc["jobs"][0] == {
        "id": 10, "name": "gjob-10", "state": "Running", "time": "00:00:36", "gpus": [],
        "user": "tester", "submitted_at": "2026-11-24T11:34:33Z",
    }
    assert list(doc["jobs"][2]) == [
        "id", "name", "state", "time", "gpus", "user", "project", "submitted_at", "reason",
        "memory_mb", "time_limit",
    ]
    assert doc["jobs"][2]["reason"] == "JobHeldUser"
    assert doc["jobs"][2]["memory_mb"] == 512
    assert doc["jobs"][2]["time_limit"] == "01:00:00"
    assert doc["jobs"][1]["reason"] == "Dependency"
    assert doc["jobs"][3]["reason"] == "-"


def test_yaml_has_the_json_structure():
    text = formats.gqueue_yaml(csv_jobs(), NOW)
    assert text.startswith("jobs:\n- id: 10\n  name: gjob-10\n")
    assert yaml.load(text, Loader=_NoTimestampLoader) == json.loads(formats.gqueue_json(csv_jobs(), NOW))


class _NoTimestampLoader(yaml.SafeLoader):
    """Reads plain RFC 3339 stamps back as the strings they were written from."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def test_yaml_quotes_what_any_reader_would_misread():
    """Strings a YAML 1.2 reader (serde_yaml) or a YAML 1.1 one (PyYAML: timestamps, `yes`,
    `12:00:00` as base 60) would read as something else are quoted, so the YAML parses back
    to the JSON's values; the document keeps its final newline."""
    j = job(17, time_limit=12 * 3600, project="yes", submitted_at=SAMPLE_SUBMIT, reason="WaitingForStartTime")
    k = job(18, project="123", submitted_at=SAMPLE_SUBMIT, reason="WaitingForStartTime")
    text = formats.gqueue_yaml([j, k], NOW)
    assert text.endswith("\ntimestamp: '2026-02-04T12:00:00.000000000+00:00'\n")
    lines = text.split("\n")
    assert lines[:11] == [
        "jobs:",
        "- id: 17",
        "  name: gjob-17",
        "  state: Queued",
        "  time: '-'",
        "  gpus: []",
        "  user: tester",
        "  project: 'yes'",
        "  submitted_at: '2026-11-24T11:34:33Z'",
        "  reason: BeginTime",
        "  time_limit: '12:00:00'",
    ]
    assert "  project: '123'" in lines
    assert yaml.safe_load(text) == json.loads(formats.gqueue_json([j, k], NOW))


@pytest.mark.parametrize("value,quoted", [
    ("a-b", False), ("gjob-3", False), ("Queued", False),
    # what PyYAML (YAML 1.1) would read as a boolean, a number or a date
    ("on", True), ("007", True), ("1_000", True), ("12:34:56", True), ("2026-01-01", True),
    ("true", True), ("~", True), ("null", True), ("0x1F", True), ("1.5", True), ("1e3", True),
    (".inf", True), ("-", True), ("", True), ("a: b", True),
])
def test_yaml_string_quoting_rules(value, quoted):
    text = yaml.dump({"k": value}, Dumper=formats._yaml_dumper())
    assert (text.strip() != f"k: {value}".strip()) is quoted, text
    if quoted:
        assert yaml.safe_load(text)["k"] == value


def test_empty_machine_outputs():
    assert json.loads(formats.gqueue_json([], NOW))["jobs"] == []
    assert formats.gqueue_csv([], NOW) == "id,name,state,time,gpus,user,submitted_at,reason,time_limit,project,memory_mb"


# --------------------------------------------------------------------------- gjob show


T0 = float(calendar.timegm((2026, 2, 4, 10, 0, 0)))  # 02/04-10:00:00 UTC


def test_show_command_job_queued(utc):
    j = Job(
        id=7, user="alice", run_name="gjob-7", run_dir="/home/alice/w", command="python train.py",
        submitted_at=T0, reason="WaitingForStartTime", scheduled_at=T0 + 7200, project="proj1",
    )
    assert show.job_show(j, NOW) == "\n".join([
        "Job Details:",
        "  ID=7",
        "  State=Queued (PD)",
        "  Reason=BeginTime",
        "  Priority=10",
        "  SubmittedBy=alice",
        "  Project=proj1",
        "  Command=python train.py",
        "",
        "Resources:",
        "  GPUs=0",
        "  GPUSharing=exclusive",
        "",
        "Execution:",
        "  WorkingDir=/home/alice/w",
        "  TmuxSession=gjob-7",
        "",
        "Timing:",
        "  Submitted=02/04-10:00:00",
        "  BeginTime=02/04-12:00:00",
    ])


def test_show_command_without_braces_stays_plain_even_with_parameters(utc):
    j = Job(id=1, command="echo hi", parameters={"lr": "0.1"}, submitted_at=T0, run_name="gjob-1")
    lines = show.job_show(j, NOW).split("\n")
    assert "  Command=echo hi" in lines
    assert lines[lines.index("Parameters:") + 1] == "  lr=0.1"


def test_show_parameter_job_has_template_and_actual(utc):
    j = Job(
        id=16, command="python train.py --lr {lr} --bs {bs}", parameters={"lr": "0.1", "bs": "32"},
        submitted_at=T0, run_name="gjob-16-lr0_1", run_dir="/w",
    )
    text = show.job_show(j, NOW)
    assert text.split("\n\n")[:2] == [
        "\n".join([
            "Job Details:",
            "  ID=16",
            "  State=Queued (PD)",
            "  Priority=10",
            "  SubmittedBy=unknown",
            "  Command(template)=python train.py --lr {lr} --bs {bs}",
            "  Command(actual)=python train.py --lr 0.1 --bs 32",
        ]),
        "Parameters:\n  bs=32\n  lr=0.1",
    ]


def test_show_parameter_job_with_missing_values(utc):
    j = Job(id=2, command="run {a} {b} {c}", parameters={"b": "1"}, submitted_at=T0)
    assert "  Command(actual)=Error: Missing parameter values: a, c" in show.job_show(j, NOW).split("\n")


def test_show_finished_job_timing_and_resources(utc):
    j = Job(
        id=3, state=JobState.FINISHED, script="/home/alice/run.sh", run_name="gjob-3-train",
        run_dir="/home/alice", user="alice", priority=20, max_retries=2, group_id="g-uuid",
        gpus=2, gpu_ids=[0, 1], gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=8192,
        memory_limit_mb=1536, conda_env="torch", notify_emails=["a@x", "b@x"],
        notify_on=["job_failed", "job_completed"], time_limit=3600, redone_from=1, retried_from=2,
        submitted_at=T0, started_at=T0 + 65, finished_at=T0 + 65 + 3725, exit_code=0,
    )
    assert show.job_show(j, NOW) == "\n".join([
        "Job Details:",
        "  ID=3",
        "  State=Finished (CD)",
        "  Priority=20",
        "  SubmittedBy=alice",
        "  MaxRetries=2",
        "  GroupID=g-uuid",
        "  RedoneFrom=1",
        "  RetriedFrom=2",
        "  Script=/home/alice/run.sh",
        "",
        "Resources:",
        "  GPUs=2",
        "  GPUSharing=shared",
        "  GPUMemoryLimit=8G",
        "  GPUIDs=0,1",
        "  MemoryLimit=1.5G",
        "  CondaEnv=torch",
        "",
        "Execution:",
        "  WorkingDir=/home/alice",
        "  TmuxSession=gjob-3-train",
        "  NotifyEmail=a@x,b@x",
        "  NotifyOn=job_failed,job_completed",
        "",
        "Timing:",
        "  TimeLimit=01:00:00",
        "  Submitted=02/04-10:00:00 (waited 00:01:05)",
        "  Started=02/04-10:01:05",
        "  Finished=02/04-11:03:10 (runtime 01:02:05)",
        "  ExitCode=0",
    ])


def test_show_running_job(utc):
    j = Job(
        id=4, state=JobState.RUNNING, command="sleep 100", run_name="gjob-4", gpu_ids=[],
        submitted_at=T0, started_at=T0 + 10, exit_code=None,
    )
    blocks = show.job_show(j, NOW).split("\n\n")
    assert "  GPUIDs=" in blocks[1].split("\n")  # ran without GPUs: empty value
    assert blocks[-1] == "\n".join([
        "Timing:",
        "  Submitted=02/04-10:00:00 (waited 00:00:10)",
        "  Started=02/04-10:00:10 (running 01:59:50 so far)",
    ])


def test_show_array_job_and_dependencies(utc):
    array = Job(id=5, command="echo $GFLOW_ARRAY_TASK_ID", task_id=3, submitted_at=T0)
    assert "Dependencies:\n  TaskID=3" in show.job_show(array, NOW).split("\n\n")

    dependent = Job(
        id=6, command="echo", submitted_at=T0, depends_on_ids=[1, 23],
        dependency_mode=DependencyMode.ANY, reason="WaitingForDependency",
    )
    blocks = show.job_show(dependent, NOW).split("\n\n")
    assert "Dependencies:\n  DependsOn=1,23\n  Mode=Any\n  AutoCancel=enabled" in blocks
    assert "  Reason=Dependency" in blocks[0].split("\n")

    no_cancel = Job(
        id=7, command="echo", submitted_at=T0, depends_on_ids=[2], task_id=0,
        auto_cancel_on_dependency_failure=False,
    )
    assert "Dependencies:\n  DependsOn=2\n  Mode=All\n  TaskID=0" in show.job_show(no_cancel, NOW).split("\n\n")


def test_show_cancelled_reasons_and_failed_exit_code(utc):
    by_user = Job(id=8, state=JobState.CANCELLED, reason="CancelledByUser", submitted_at=T0, finished_at=T0 + 5)
    text = show.job_show(by_user, NOW)
    assert "  Reason=CancelledByUser" in text.split("\n")
    assert "Started=" not in text  # never started: no Started/Finished lines
    failed = Job(id=9, state=JobState.CANCELLED, reason="DependencyFailed:5", submitted_at=T0)
    assert "  Reason=DependencyFailed:5" in show.job_show(failed, NOW).split("\n")
    crashed = Job(id=10, state=JobState.FAILED, submitted_at=T0, started_at=T0 + 1,
                  finished_at=T0 + 2, exit_code=3)
    assert show.job_show(crashed, NOW).endswith("  ExitCode=3")


def test_show_separator_joins_blocks():
    sep = show.show_separator()
    assert sep == "\n\n" + "=" * 80 + "\n\n"
    assert sep.join(["A", "B"]).split("\n") == ["A", "", "=" * 80, "", "B"]


def test_redo_summary_lists_the_new_jobs_parameters_and_cascade():
    from gflow.protocol import RedoResult

    new = job(9, gpus=1, gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=2048, priority=20,
              time_limit=5400, depends_on_ids=[3], parameters={"lr": "0.1"}, command="python t.py")
    result = RedoResult(source_id=4, job=new, cascade=[(5, 10, "gjob-10")])
    assert show.redo_summary(result, cleared_deps=False, cascade=True).split("\n") == [
        "Resubmitting job 4 with parameters:",
        "  Command=python t.py", "  GPUs=1", "  GPUSharing=shared", "  Priority=20",
        "  TimeLimit=01:30:00", "  GPUMemoryLimit=2G", "  DependsOn=3", "  Parameters:", "    lr=0.1",
        "", "Submitted batch job 9 (gjob-9)",
        "", "Cascading to 1 dependent job(s)...", "  Job 5 → Job 10 (gjob-10)", "", "Cascade complete.",
    ]
    plain = show.redo_summary(RedoResult(source_id=4, job=job(9, command="x")), cleared_deps=True, cascade=True)
    assert "  Dependencies=(cleared)" in plain and plain.endswith("No dependent jobs to cascade.")
