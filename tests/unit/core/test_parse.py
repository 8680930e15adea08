import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from gflow.core.parse import (
    ParseError,
    expand_params,
    normalize_project,
    parse_array,
    parse_begin,
    parse_dependency,
    parse_dependency_list,
    parse_id_list,
    parse_job_ref,
    parse_kv,
    parse_memory,
    parse_notify_on,
    parse_param,
    parse_param_csv,
    parse_since,
    parse_time_limit,
    validate_email,
)

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc


def error_of(fn, *args) -> str:
    with pytest.raises(ParseError) as info:
        fn(*args)
    return str(info.value)


def test_parse_error_is_value_error():
    assert issubclass(ParseError, ValueError)


# ---------------------------------------------------------------------------- time limit
@pytest.mark.parametrize(
    "text, seconds",
    [
        ("30", 1800),
        ("0", 0),
        ("+5", 300),
        ("0:30", 30),
        ("0:90", 90),
        ("2:05", 125),
        ("1:30:00", 5400),
        ("1:75:00", 1 * 3600 + 75 * 60),
        ("25:00:00", 90000),
        ("00:00:07", 7),
        ("007", 420),
    ],
)
def test_time_limit_valid(text, seconds):
    assert parse_time_limit(text) == seconds


@pytest.mark.parametrize(
    "text, seconds",
    [("4h", 4 * 3600), ("90m", 5400), ("1h30m", 5400), ("7d", 7 * 86400), ("2w", 14 * 86400),
     ("45s", 45), ("1-00:00:00", 86400), ("2-12", 60 * 3600), ("1-02:03", 26 * 3600 + 180),
     ("0-00:00:30", 30), ("4H", 4 * 3600), (" 90m ", 5400)],
)
def test_time_limit_speaks_the_one_duration_grammar(text, seconds):
    assert parse_time_limit(text) == seconds


EXAMPLES = "use e.g. 90m, 4h, 7d, 1h30m, HH:MM:SS or D-HH:MM:SS"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "no length of time given"),
        ("abc", "'abc' is not a length of time"),
        ("1.5", "'.' is not a unit (s, m, h, d or w)"),
        ("-5", "'-5' is not a length of time"),
        ("4x", "'x' is not a unit (s, m, h, d or w)"),
        ("1h5", "'5' at the end has no unit"),
        ("99999999999999999999", "longer than a century"),
        ("x:30", "minutes must be a whole number, not 'x'"),
        ("5:", "seconds must be a whole number, not nothing"),
        ("1:00:00:00", "too many ':' fields"),
        ("1-xx:00", "hours must be a whole number, not 'xx'"),
    ],
)
def test_time_limit_errors_are_plain_words(text, reason):
    message = error_of(parse_time_limit, text)
    assert message == f"{reason}; {EXAMPLES}"
    assert "invalid digit" not in message and "parse integer" not in message


# -------------------------------------------------------------------------------- memory
@pytest.mark.parametrize(
    "text, mb",
    [
        ("100", 100),
        ("0", 0),
        ("4G", 4096),
        ("4g", 4096),
        ("1024M", 1024),
        ("512m", 512),
        ("  8G  ", 8192),
        ("8 G", 8192),
        ("16  m", 16),
        ("100000G", 100000 * 1024),
    ],
)
def test_memory_valid(text, mb):
    assert parse_memory(text) == mb


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Memory limit cannot be empty"),
        ("   ", "Memory limit cannot be empty"),
        ("1.5G", "Invalid memory value in GB format: invalid digit found in string"),
        ("G", "Invalid memory value in GB format: cannot parse integer from empty string"),
        ("-1G", "Invalid memory value in GB format: invalid digit found in string"),
        ("2.5M", "Invalid memory value in MB format: invalid digit found in string"),
        ("xM", "Invalid memory value in MB format: invalid digit found in string"),
        ("4GB", "Invalid memory format. Expected formats: 100G, 1024M, or 100 (MB): invalid digit found in string"),
        ("4K", "Invalid memory format. Expected formats: 100G, 1024M, or 100 (MB): invalid digit found in string"),
        ("1T", "Invalid memory format. Expected formats: 100G, 1024M, or 100 (MB): invalid digit found in string"),
        ("1.5", "Invalid memory format. Expected formats: 100G, 1024M, or 100 (MB): invalid digit found in string"),
        ("lots", "Invalid memory format. Expected formats: 100G, 1024M, or 100 (MB): invalid digit found in string"),
    ],
)
def test_memory_errors(text, message):
    assert error_of(parse_memory, text) == message


# ------------------------------------------------------------------------------ id lists
@pytest.mark.parametrize(
    "text, ids",
    [
        ("5", [5]),
        ("0", [0]),
        ("1,3,5", [1, 3, 5]),
        ("5,1,3", [1, 3, 5]),
        ("1-3", [1, 2, 3]),
        ("4-4", [4]),
        ("0-1,3,5-6", [0, 1, 3, 5, 6]),
        ("1-3,2-4,3", [1, 2, 3, 4]),
        (" 1 , 2 ,3 ", [1, 2, 3]),
        ("  7-8  ", [7, 8]),
    ],
)
def test_id_list_valid(text, ids):
    assert parse_id_list(text) == ids


@pytest.mark.parametrize(
    "text, message",
    [
        ("abc", "Invalid job ID or range: abc: Not a number: abc"),
        ("1,x", "Invalid job ID or range: 1,x: Not a number: x"),
        ("", "Invalid job ID or range: : Not a number: "),
        ("1,,2", "Invalid job ID or range: 1,,2: Not a number: "),
        ("3-", "Invalid job ID or range: 3-: Not a number: 3-"),
        ("-3", "Invalid job ID or range: -3: Not a number: -3"),
        ("1..3", "Invalid job ID or range: 1..3: Not a number: 1..3"),
        ("1-2-3", "Invalid job ID or range: 1-2-3: Not a number: 1-2-3"),
        ("5-3", "Invalid job ID or range: 5-3: Start of the range cannot be bigger than the end: 5-3"),
        ("1,9-2", "Invalid job ID or range: 1,9-2: Start of the range cannot be bigger than the end: 9-2"),
    ],
)
def test_id_list_errors(text, message):
    assert error_of(parse_id_list, text) == message


def test_gpu_index_wording():
    assert parse_id_list("0-1,3", what="GPU index") == [0, 1, 3]
    assert error_of(parse_id_list, "a", "GPU index") == "Invalid GPU index or range: a: Not a number: a"
    assert (
        error_of(parse_id_list, "3-1", "GPU index")
        == "Invalid GPU index or range: 3-1: Start of the range cannot be bigger than the end: 3-1"
    )


def test_id_list_refuses_huge_ranges():
    assert len(parse_id_list("1-100000")) == 100000
    assert error_of(parse_id_list, "1-4000000000") == (
        "Invalid job ID or range: 1-4000000000: Range too large (max 100000 IDs): 1-4000000000"
    )


# ------------------------------------------------------------------- job refs / deps
@pytest.mark.parametrize(
    "text, ref",
    [("7", 7), ("0", 0), (" 12 ", 12), ("@", "@"), ("@~1", "@~1"), ("@~2", "@~2"), ("@~03", "@~3")],
)
def test_job_ref_valid(text, ref):
    assert parse_job_ref(text) == ref


@pytest.mark.parametrize("text", ["@~0", "@~", "@~x", "@-1", "@1", "~1", "abc", "-1", "1.0", "", "@@"])
def test_job_ref_invalid(text):
    assert error_of(parse_job_ref, text) == (
        f"Invalid job reference '{text}'. Expected a job ID, '@' or '@~N' (N >= 1)"
    )


@pytest.mark.parametrize("text, ref", [("5", 5), (" 5 ", 5), ("@", "@"), ("@~4", "@~4")])
def test_dependency_valid(text, ref):
    assert parse_dependency(text) == ref


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Dependency value cannot be empty"),
        ("   ", "Dependency value cannot be empty"),
        ("abc", "Invalid dependency value: abc"),
        ("@~0", "Invalid dependency value: @~0"),
        ("1,2", "Invalid dependency value: 1,2"),
        # job ids are 32-bit, as upstream's
        ("4294967296", "Invalid dependency value: 4294967296"),
    ],
)
def test_dependency_errors(text, message):
    assert error_of(parse_dependency, text) == message


@pytest.mark.parametrize(
    "text, refs",
    [
        ("1,2,3", [1, 2, 3]),
        ("3, 1", [3, 1]),
        ("1,,2,", [1, 2]),
        (",5", [5]),
        ("@,@~2,4", ["@", "@~2", 4]),
        ("2,2,@,@", [2, "@"]),
    ],
)
def test_dependency_list_valid(text, refs):
    assert parse_dependency_list(text) == refs


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Dependency list cannot be empty"),
        (" , ,", "Dependency list cannot be empty"),
        ("1,x", "Invalid dependency ID: x: invalid digit found in string"),
        ("1,4294967296", "Invalid dependency ID: 4294967296: number too large to fit in target type"),
        ("1, @~0", "Invalid dependency ID: @~0"),
        ("1-3", "Invalid dependency ID: 1-3: invalid digit found in string"),
    ],
)
def test_dependency_list_errors(text, message):
    assert error_of(parse_dependency_list, text) == message


# ---------------------------------------------------------------------------- begin time
NOW = datetime(2026, 3, 10, 14, 30, 15, tzinfo=BERLIN)  # 13:30:15 UTC


def berlin(*args) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


@pytest.mark.parametrize(
    "text, delta",
    [
        ("now+30", 30 * 60),
        ("+30", 30 * 60),
        ("now+0", 0),
        ("now+45s", 45),
        ("now+10m", 600),
        ("now+2h", 7200),
        ("+2h", 7200),
        ("now+3d", 3 * 86400),
        ("  now+1h  ", 3600),
        # spaces inside the amount are trimmed, as upstream
        ("now+ 5", 300),
        ("now+5 h", 5 * 3600),
    ],
)
def test_begin_relative(text, delta):
    assert parse_begin(text, NOW) == NOW.timestamp() + delta


def test_begin_relative_ignores_dst():
    before_change = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    assert parse_begin("now+1d", before_change) == before_change.timestamp() + 86400


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-04-01 09:15", berlin(2026, 4, 1, 9, 15)),
        ("2026-04-01 09:15:30", berlin(2026, 4, 1, 9, 15, 30)),
        ("2026-04-01T09:15", berlin(2026, 4, 1, 9, 15)),
        ("2026-04-01T09:15:30", berlin(2026, 4, 1, 9, 15, 30)),
        ("2026-01-15 08:00", berlin(2026, 1, 15, 8, 0)),  # winter offset
        ("2026-04-01", berlin(2026, 4, 1)),
        ("2020-01-01", berlin(2020, 1, 1)),  # past instants are accepted
        ("16:00", berlin(2026, 3, 10, 16, 0)),  # later today
        ("16:00:05", berlin(2026, 3, 10, 16, 0, 5)),
        ("09:00", berlin(2026, 3, 11, 9, 0)),  # already passed: tomorrow
        ("14:30:15", berlin(2026, 3, 11, 14, 30, 15)),  # exactly now is not the future
        ("14:30:16", berlin(2026, 3, 10, 14, 30, 16)),
    ],
)
def test_begin_absolute_local(text, expected):
    assert parse_begin(text, NOW) == expected


def test_begin_next_occurrence_crosses_month_end():
    now = datetime(2026, 3, 31, 23, 0, tzinfo=BERLIN)
    assert parse_begin("01:00", now) == berlin(2026, 4, 1, 1, 0)


def test_begin_with_fixed_offset_zone():
    nepal = timezone(timedelta(hours=5, minutes=45))
    now = datetime(2026, 3, 10, 12, 0, tzinfo=nepal)
    assert parse_begin("2026-03-11 00:00", now) == datetime(2026, 3, 10, 18, 15, tzinfo=UTC).timestamp()


def test_begin_fixed_offset_of_system_zone_follows_dst(monkeypatch):
    """`datetime.now().astimezone()` has a fixed offset; summer dates must still use summer time."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        now = datetime(2026, 1, 10, 12, 0, tzinfo=BERLIN).astimezone()
        assert isinstance(now.tzinfo, timezone)
        assert parse_begin("2026-07-01 12:00", now) == datetime(2026, 7, 1, 10, 0, tzinfo=UTC).timestamp()
        assert error_of(parse_begin, "2026-03-29 02:30", now) == (
            "Ambiguous or invalid local time: 2026-03-29 02:30"
        )
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("text", ["2026-03-29 02:30", "2026-10-25 02:30", "2026-10-25T02:30:00"])
def test_begin_dst_gap_or_overlap(text):
    assert error_of(parse_begin, text, NOW) == f"Ambiguous or invalid local time: {text}"


def test_begin_dst_gap_for_next_occurrence():
    now = datetime(2026, 3, 28, 23, 0, tzinfo=BERLIN)
    assert error_of(parse_begin, "02:30", now) == "Ambiguous or invalid local time: 02:30"


NOW_ERROR = "Invalid begin time. Expected now+N[s|m|h|d] (e.g. now+30, now+2h)"
GENERIC_ERROR = "Invalid begin time. Expected HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], or now+N[s|m|h|d]"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Begin time cannot be empty"),
        ("   ", "Begin time cannot be empty"),
        ("now+5x", f"Invalid begin time now+5x: 'x' is not a unit (s, m, h, d or w); {EXAMPLES}"),
        ("now+", f"Invalid begin time now+: no length of time given; {EXAMPLES}"),
        ("+", f"Invalid begin time now+: no length of time given; {EXAMPLES}"),
        ("now+1.5h", f"Invalid begin time now+1.5h: '.' is not a unit (s, m, h, d or w); {EXAMPLES}"),
        ("now+-1", f"Invalid begin time now+-1: '-1' is not a length of time; {EXAMPLES}"),
        ("now+h", f"Invalid begin time now+h: 'h' is not a length of time; {EXAMPLES}"),
        ("now+99999999999999d", f"Invalid begin time now+99999999999999d: longer than a century; {EXAMPLES}"),
        ("2026-13-01", "Invalid begin date. Expected YYYY-MM-DD"),
        ("2026-02-30", "Invalid begin date. Expected YYYY-MM-DD"),
        ("2026-aa-01", "Invalid begin date. Expected YYYY-MM-DD"),
        # a clock time that does not parse gets the generic message (upstream's order)
        ("25:00", GENERIC_ERROR),
        ("12:61", GENERIC_ERROR),
        ("12:00:00:00", GENERIC_ERROR),
        # text with a space or a `T` is DATE<sep>TIME: its date part must parse first
        ("now + 5", "Invalid begin date. Expected YYYY-MM-DD"),
        ("Tue", "Invalid begin date. Expected YYYY-MM-DD"),
        ("2026-04-01T", "Invalid begin time. Expected HH:MM[:SS]"),
        ("2026-04-01 25:00", "Invalid begin time. Expected HH:MM[:SS]"),
        ("tomorrow", GENERIC_ERROR),
        ("now", GENERIC_ERROR),
        ("now-5", GENERIC_ERROR),
        ("2026/04/01", GENERIC_ERROR),
        ("1700000000", GENERIC_ERROR),
    ],
)
def test_begin_errors(text, message):
    assert error_of(parse_begin, text, NOW) == message


# ---------------------------------------------------------------------------- since spec
NOW_TS = datetime(2026, 3, 10, 0, 30, tzinfo=BERLIN).timestamp()  # 2026-03-09 23:30 UTC
SINCE_ERROR = (
    "Invalid time format. Expected a length of time ago (90m, 4h, 2d, 3w, 1-00:00:00), "
    "'today', 'yesterday', an ISO date or a Unix timestamp"
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1h", NOW_TS - 3600),
        ("0h", NOW_TS),
        ("2d", NOW_TS - 2 * 86400),
        ("3w", NOW_TS - 21 * 86400),
        ("24H", NOW_TS - 86400),
        (" 2D ", NOW_TS - 2 * 86400),
        ("1700000000", 1700000000.0),
        ("0", 0.0),
        # local (Berlin) midnight, not UTC midnight (which would still be 2026-03-09)
        ("today", berlin(2026, 3, 10)),
        ("TODAY", berlin(2026, 3, 10)),
        ("yesterday", berlin(2026, 3, 9)),
        ("2026-01-01", berlin(2026, 1, 1)),
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
        ("2026-01-01t06:00:00z", datetime(2026, 1, 1, 6, tzinfo=UTC).timestamp()),
        ("2026-01-01T00:00:00+02:00", datetime(2025, 12, 31, 22, tzinfo=UTC).timestamp()),
        ("2026-07-01 12:00", berlin(2026, 7, 1, 12, 0)),
        # the one duration grammar: minutes, sums, Slurm's days-hours
        ("90m", NOW_TS - 5400),
        ("1h30m", NOW_TS - 5400),
        ("1-00:00:00", NOW_TS - 86400),
    ],
)
def test_since_valid(text, expected):
    assert parse_since(text, NOW_TS, BERLIN) == expected


def test_since_yesterday_is_a_calendar_day_across_dst():
    now = datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN).timestamp()
    assert parse_since("yesterday", now, BERLIN) == berlin(2026, 3, 28)
    assert parse_since("today", now, BERLIN) - parse_since("yesterday", now, BERLIN) == 86400
    assert parse_since("today", now + 86400, BERLIN) - parse_since("today", now, BERLIN) == 23 * 3600


def test_since_defaults_to_system_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        now = datetime(2026, 3, 10, 3, 0, tzinfo=UTC).timestamp()  # 2026-03-09 23:00 in New York
        ny = ZoneInfo("America/New_York")
        assert parse_since("today", now) == datetime(2026, 3, 9, tzinfo=ny).timestamp()
        assert parse_since("2026-01-01", now) == datetime(2026, 1, 1, tzinfo=ny).timestamp()
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    "text", ["", "-1h", "h", "tomorrow", "now", "2026-13-01", "abc", "+"]
)
def test_since_errors(text):
    assert error_of(parse_since, text, NOW_TS, BERLIN) == SINCE_ERROR


def test_since_errors_name_the_bad_unit():
    assert error_of(parse_since, "1y", NOW_TS, BERLIN) == f"Invalid time '1y': 'y' is not a unit (s, m, h, d or w); {EXAMPLES}"


# --------------------------------------------------------------------------------- array
@pytest.mark.parametrize(
    "text, tasks",
    [
        ("1-3", [1, 2, 3]),
        ("0-0", [0]),
        ("5-5", [5]),
        ("1,3,5", [1, 3, 5]),
        ("7", [7]),
        ("1-9:2", [1, 3, 5, 7, 9]),
        ("0-10:5", [0, 5, 10]),
        ("1-10:4", [1, 5, 9]),
        ("1-3,7", [1, 2, 3, 7]),
        ("7,1-3,2", [1, 2, 3, 7]),
        (" 1 - 2 , 4 ", [1, 2, 4]),
        ("1-100000", list(range(1, 100001))),
    ],
)
def test_array_valid(text, tasks):
    assert parse_array(text) == tasks


FORMAT_ERROR = "Invalid array format. Expected format like '1-10'."


@pytest.mark.parametrize(
    "text, message",
    [
        ("", FORMAT_ERROR),
        ("abc", FORMAT_ERROR),
        ("1-2-3", "Invalid array end index: invalid digit found in string"),
        ("1:5", FORMAT_ERROR),
        ("1,,2", FORMAT_ERROR),
        ("a-5", "Invalid array start index: invalid digit found in string"),
        ("-5", "Invalid array start index: cannot parse integer from empty string"),
        ("1-b", "Invalid array end index: invalid digit found in string"),
        ("1-", "Invalid array end index: cannot parse integer from empty string"),
        ("1-1.5", "Invalid array end index: invalid digit found in string"),
        ("5-1", "Array start index cannot be greater than end index"),
        ("1-9:0", "Invalid array step"),
        ("1-9:x", "Invalid array step"),
        ("1-9:", "Invalid array step"),
        ("0-100000", "Array too large (max 100000 tasks)"),
        ("1-60000,100000-160000", "Array too large (max 100000 tasks)"),
        # task ids are 32-bit, as upstream's
        ("1-18446744073709551615", "Invalid array end index: number too large to fit in target type"),
        ("4294967296-4294967297", "Invalid array start index: number too large to fit in target type"),
    ],
)
def test_array_errors(text, message):
    assert error_of(parse_array, text) == message


# ------------------------------------------------------------------------------ --param
@pytest.mark.parametrize(
    "text, expected",
    [
        ("lr=0.001,0.01", ("lr", ["0.001", "0.01"])),
        (" bs = 32 , 64 ,, ", ("bs", ["32", "64"])),
        ("model=resnet", ("model", ["resnet"])),
        ("expr=a=b,c", ("expr", ["a=b", "c"])),
        ("x=1:3", ("x", ["1", "2", "3"])),
        ("x=3:1", ("x", ["3", "2", "1"])),
        ("x=0:1:0.25", ("x", ["0", "0.25", "0.50", "0.75", "1"])),
        ("x=0:10:2.5", ("x", ["0", "2.5", "5", "7.5", "10"])),
        ("x=1:0:-0.5", ("x", ["1", "0.5", "0"])),
        ("x=0:1:0.3", ("x", ["0", "0.3", "0.6", "0.9"])),
        ("x=0:0.3:0.1", ("x", ["0", "0.1", "0.2", "0.3"])),
        ("x=0:1:0.250", ("x", ["0", "0.25", "0.50", "0.75", "1"])),
        ("x=0.5:3", ("x", ["0.5", "1.5", "2.5"])),
        ("x=0.15:1:0.5", ("x", ["0.15", "0.65"])),
        ("x=-1:1", ("x", ["-1", "0", "1"])),
        ("x=-0.5:0.5:0.5", ("x", ["-0.5", "0", "0.5"])),
        ("x=1e-3:3e-3:1e-3", ("x", ["0.001", "0.002", "0.003"])),
        ("x=5:5", ("x", ["5"])),
        ("x= 1 : 2 ", ("x", ["1", "2"])),
        ("x=1:10000", ("x", [str(i) for i in range(1, 10001)])),
        # a colon in a non-numeric value is not a range
        ("url=http://host", ("url", ["http://host"])),
        ("t=a:b:c", ("t", ["a:b:c"])),
        ("t=1:2:3:4", ("t", ["1:2:3:4"])),
        ("t=1:2,3", ("t", ["1:2", "3"])),
    ],
)
def test_param_valid(text, expected):
    assert parse_param(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr", "Invalid param format. Expected 'name=val1,val2,...'"),
        ("", "Invalid param format. Expected 'name=val1,val2,...'"),
        ("=1,2", "Parameter name cannot be empty"),
        ("  =1", "Parameter name cannot be empty"),
        ("x=", "Parameter must have at least one value"),
        ("x= , ,", "Parameter must have at least one value"),
        ("x=1:5:0", "Step cannot be zero"),
        ("x=1:5:-1", "Step direction doesn't match start/stop"),
        ("x=5:1:1", "Step direction doesn't match start/stop"),
        ("x=1:10001", "Range too large (max 10000 values)"),
        ("x=0:1:0.00001", "Range too large (max 10000 values)"),
    ],
)
def test_param_errors(text, message):
    assert error_of(parse_param, text) == message


def test_expand_params_first_varies_slowest():
    params = [("lr", ["0.001", "0.01"]), ("bs", ["32", "64"])]
    assert expand_params(params) == [
        {"lr": "0.001", "bs": "32"},
        {"lr": "0.001", "bs": "64"},
        {"lr": "0.01", "bs": "32"},
        {"lr": "0.01", "bs": "64"},
    ]


def test_expand_params_rows_times_cli_with_override():
    rows = [{"model": "a", "lr": "1"}, {"model": "b", "lr": "2"}]
    assert expand_params([("lr", ["9"]), ("seed", ["1", "2"])], rows) == [
        {"model": "a", "lr": "9", "seed": "1"},
        {"model": "a", "lr": "9", "seed": "2"},
        {"model": "b", "lr": "9", "seed": "1"},
        {"model": "b", "lr": "9", "seed": "2"},
    ]


def test_expand_params_rows_only_keep_file_order():
    rows = [{"x": "3"}, {"x": "1"}]
    result = expand_params([], rows)
    assert result == rows
    result[0]["x"] = "changed"
    assert rows[0]["x"] == "3"  # copies, not the caller's dicts


def test_expand_params_single():
    assert expand_params([("x", ["1"])]) == [{"x": "1"}]


# ---------------------------------------------------------------------------- --param-file
def test_param_csv_rows_trimmed_in_order():
    text = "model , lr\n resnet , 0.1 \nvit,0.01\n\n"
    assert parse_param_csv(text) == [{"model": "resnet", "lr": "0.1"}, {"model": "vit", "lr": "0.01"}]


def test_param_csv_quoted_cells_and_bom():
    text = '\ufeffname,args\n"a, b","--x ""y"""\r\n'
    assert parse_param_csv(text) == [{"name": "a, b", "args": '--x "y"'}]


@pytest.mark.parametrize("text", ["", "\n\n", "a,b\n", "a,b\n\n"])
def test_param_csv_no_rows(text):
    assert error_of(parse_param_csv, text) == "CSV file contains no data rows"


def test_param_csv_ragged():
    assert error_of(parse_param_csv, "a,b\n1,2\n3\n") == (
        "CSV error: line 3: found record with 1 fields, but the header has 2 fields"
    )
    assert error_of(parse_param_csv, "a\n1,2\n").startswith("CSV error: line 2:")


# ------------------------------------------------------------------------------ parse_kv
@pytest.mark.parametrize(
    "text, pair", [("lr=0.1", ("lr", "0.1")), (" lr =0.1", ("lr", "0.1")), ("a=b=c", ("a", "b=c")), ("a=", ("a", ""))]
)
def test_kv_valid(text, pair):
    assert parse_kv(text) == pair


@pytest.mark.parametrize("text", ["lr", "=1", " =1", ""])
def test_kv_errors(text):
    assert error_of(parse_kv, text) == f"Invalid parameter format '{text}'. Expected KEY=VALUE"


# ------------------------------------------------------------------------------ projects
REQUIRED = "Project is required by configuration. Provide --project (CLI) or a non-empty `project` field."


@pytest.mark.parametrize(
    "text, known, required, expected",
    [
        ("ml", [], False, "ml"),
        ("  ml  ", [], False, "ml"),
        ("", [], False, None),
        ("   ", [], False, None),
        (None, [], False, None),
        ("ml", ["ml", "cv"], True, "ml"),
        ("x" * 64, [], False, "x" * 64),
    ],
)
def test_project_valid(text, known, required, expected):
    assert normalize_project(text, known, required) == expected


@pytest.mark.parametrize(
    "text, known, required, message",
    [
        ("", [], True, REQUIRED),
        ("  ", ["a"], True, REQUIRED),
        (None, [], True, REQUIRED),
        ("x" * 65, [], False, f"Project name too long (max 64 characters): '{'x' * 65}'"),
        ("é" * 33, [], False, f"Project name too long (max 64 characters): '{'é' * 33}'"),
        ("nlp", ["a", "b"], False, "Unknown project 'nlp'. Known projects: a, b"),
        ("A", ["a", "b"], True, "Unknown project 'A'. Known projects: a, b"),
    ],
)
def test_project_errors(text, known, required, message):
    assert error_of(normalize_project, text, known, required) == message


# --------------------------------------------------------------------------- notifications
@pytest.mark.parametrize(
    "text, expected",
    [
        ("a@b", "a@b"),
        ("alice@example.com", "alice@example.com"),
        ("  first.last+tag@mail.example.org ", "first.last+tag@mail.example.org"),
        ("Alice <alice@example.com>", "Alice <alice@example.com>"),
        ('"Doe, J" <j@x.io>', '"Doe, J" <j@x.io>'),
        ("<a@b>", "<a@b>"),
    ],
)
def test_email_valid(text, expected):
    assert validate_email(text) == expected


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "empty address"),
        ("Alice <>", "empty address"),
        ("alice", "expected exactly one '@' in the address"),
        ("a@b@c", "expected exactly one '@' in the address"),
        ("@example.com", "missing user before '@'"),
        ("alice@", "missing domain after '@'"),
        ("al ice@example.com", "invalid character in address"),
        ("Alice <a@b", "invalid character in address"),
        (".a@b", "invalid user part"),
        ("a..b@c", "invalid user part"),
        ("a@b..c", "invalid domain"),
        ("a@b_c", "invalid domain"),
    ],
)
def test_email_errors(text, why):
    assert error_of(validate_email, text) == f"Invalid --notify-email '{text}': {why}"


@pytest.mark.parametrize(
    "values, events",
    [
        ([], []),
        (["job_failed"], ["job_failed"]),
        (["Job_Failed, JOB_TIMEOUT", "job_failed"], ["job_failed", "job_timeout"]),
        (["a,,b", " ", "c"], ["a", "b", "c"]),
        (["*"], ["*"]),
        (["bogus_event"], ["bogus_event"]),
    ],
)
def test_notify_on(values, events):
    assert parse_notify_on(values) == events
