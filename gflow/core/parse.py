"""Parsers for user-supplied values.

Every function is pure: the current time is always an argument, so results are reproducible.
Errors are `ParseError`s whose text is the one-line user-facing message; where upstream prints a
`Caused by:` chain the cause is appended as `<msg>: <cause>`.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal

from .times import parse_duration
from .ids import MAX_ID_LIST, U32_MAX, U64_MAX, ParseError, _uint, parse_id_list, parse_job_ref  # noqa: F401

MAX_ARRAY_TASKS = 100_000
MAX_RANGE_VALUES = 10_000


def _u32(text: str) -> int:
    value = _uint(text)
    if value > U32_MAX:
        raise ValueError("number too large to fit in target type")
    return value


def _uint_or(text: str, message: str) -> int:
    try:
        return _uint(text)
    except ValueError as e:
        raise ParseError(f"{message}: {e}") from None


# ------------------------------------------------------------------------------------- 2.1
def parse_time_limit(text: str) -> int:
    """Time limit in seconds (the `times` grammar); a bare number means minutes, as in Slurm."""
    return parse_duration(text, bare_unit=60)


# ------------------------------------------------------------------------------------- 2.2
def parse_memory(text: str) -> int:
    """Memory size in MB (`4G`, `512M`, `512`)."""
    value = text.strip()
    if not value:
        raise ParseError("Memory limit cannot be empty")
    number, factor, error = value, 1, "Invalid memory format. Expected formats: 100G, 1024M, or 100 (MB)"
    if value[-1] in "Gg":
        number, factor, error = value[:-1], 1024, "Invalid memory value in GB format"
    elif value[-1] in "Mm":
        number, error = value[:-1], "Invalid memory value in MB format"
    try:
        return _uint(number.strip()) * factor
    except ValueError as e:
        raise ParseError(f"{error}: {e}") from None


def parse_dependency(text: str) -> int | str:
    """The value of `--depends-on`."""
    value = text.strip()
    if not value:
        raise ParseError("Dependency value cannot be empty")
    try:
        return parse_job_ref(value) if value.startswith("@") else _u32(value)
    except (ParseError, ValueError):
        raise ParseError(f"Invalid dependency value: {value}") from None


def parse_dependency_list(text: str) -> list[int | str]:
    """The value of `--depends-on-all/any`: comma list, blank items skipped, order kept."""
    refs: list[int | str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.startswith("@"):
            try:
                ref = parse_job_ref(item)
            except ParseError:
                raise ParseError(f"Invalid dependency ID: {item}") from None
        else:
            try:
                ref = _u32(item)
            except ValueError as e:
                raise ParseError(f"Invalid dependency ID: {item}: {e}") from None
        if ref not in refs:
            refs.append(ref)
    if not refs:
        raise ParseError("Dependency list cannot be empty")
    return refs


# ------------------------------------------------------------------------------------- 2.5


def _system_zone_matches(now: datetime) -> bool:
    """True when `now` carries a fixed offset equal to the system zone's offset at that instant.

    `datetime.now().astimezone()` yields such a fixed offset; resolving other dates with it
    would be an hour off across a DST change, so the system zone (which knows the rules) is
    used instead. A genuine zone (ZoneInfo) passed in is always honoured as is.
    """
    if not isinstance(now.tzinfo, timezone):
        return False
    system = datetime.fromtimestamp(now.timestamp()).astimezone().utcoffset()
    return system == now.utcoffset()


def _local_timestamp(naive: datetime, now: datetime, text: str) -> float:
    """Unix time of a wall-clock time in the zone of `now`; DST gaps and folds are errors."""
    if _system_zone_matches(now):
        stamps = {naive.replace(fold=fold).timestamp() for fold in (0, 1)}
    else:
        stamps = {naive.replace(tzinfo=now.tzinfo, fold=fold).timestamp() for fold in (0, 1)}
    if len(stamps) != 1:
        raise ParseError(f"Ambiguous or invalid local time: {text}")
    return stamps.pop()


def _strptime(text: str, formats) -> datetime | None:
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


_BEGIN_GENERIC = "Invalid begin time. Expected HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], or now+N[s|m|h|d]"


def parse_begin(text: str, now: datetime) -> float:
    """Earliest start time (unix seconds) from `now+N[smhd]`, a local date/time or `HH:MM`.

    The forms are tried in upstream's order: `now+`/`+`; text holding a `T` or a space is
    `DATE<T or space>TIME`; a 10-character text with `-` at index 4 is a date; anything else
    must be a clock time (so `25:00` gets the generic message, as upstream).
    """
    value = text.strip()
    if not value:
        raise ParseError("Begin time cannot be empty")
    if value.startswith(("now+", "+")):
        rest = (value[4:] if value.startswith("now+") else value[1:]).strip()
        try:  # a bare number is minutes, as upstream
            offset = parse_duration(rest, bare_unit=60)
        except ParseError as e:
            raise ParseError(f"Invalid begin time now+{rest}: {e}") from None
        try:
            stamp = now.timestamp() + offset
            datetime.fromtimestamp(stamp, timezone.utc)  # reject instants past year 9999
            return stamp
        except (ValueError, OverflowError, OSError):
            raise ParseError("Invalid begin time. Expected now+N[s|m|h|d] (e.g. now+30, now+2h)") from None
    cut = min((i for i in (value.find("T"), value.find(" ")) if i >= 0), default=-1)
    if cut >= 0:
        day = _strptime(value[:cut].strip(), ("%Y-%m-%d",))
        if day is None:
            raise ParseError("Invalid begin date. Expected YYYY-MM-DD")
        clock = _strptime(value[cut + 1 :].strip(), ("%H:%M:%S", "%H:%M"))
        if clock is None:
            raise ParseError("Invalid begin time. Expected HH:MM[:SS]")
        return _local_timestamp(datetime.combine(day.date(), clock.time()), now, value)
    if len(value) == 10 and value[4] == "-":
        naive = _strptime(value, ("%Y-%m-%d",))
        if naive is None:
            raise ParseError("Invalid begin date. Expected YYYY-MM-DD")
        return _local_timestamp(naive, now, value)
    clock = _strptime(value, ("%H:%M:%S", "%H:%M"))
    if clock is None:
        raise ParseError(_BEGIN_GENERIC)
    stamp = _local_timestamp(datetime.combine(now.date(), clock.time()), now, value)
    if stamp > now.timestamp():
        return stamp
    return _local_timestamp(datetime.combine(now.date() + timedelta(days=1), clock.time()), now, value)


# ------------------------------------------------------------------------------------- 2.6
_SINCE_ERROR = (
    "Invalid time format. Expected a length of time ago (90m, 4h, 2d, 3w, 1-00:00:00), "
    "'today', 'yesterday', an ISO date or a Unix timestamp"
)


def _midnight(day: date, tz: tzinfo | None) -> float:
    """Start of `day` in `tz` (None = the system's local zone)."""
    return datetime.combine(day, datetime.min.time(), tz).timestamp()


def parse_since(text: str, now: float, tz: tzinfo | None = None) -> float:
    """Lower time bound (unix seconds) for listings and statistics.

    `today`/`yesterday` and ISO dates without an offset use the local zone `tz` (None = the
    system zone) rather than upstream's UTC.
    """
    raw = text.strip()
    value = raw.lower()
    if value in ("today", "yesterday"):
        day = datetime.fromtimestamp(now, tz).date()
        if value == "yesterday":
            day -= timedelta(days=1)
        return _midnight(day, tz)
    try:
        return float(_uint(value))  # a bare number is a Unix time
    except ValueError:
        pass
    if value[:1].isdigit() and value[-1:].isalpha() and "-" not in value and ":" not in value:  # 90m, 7d: ago
        try:
            return now - parse_duration(value)
        except ParseError as e:
            raise ParseError(f"Invalid time '{raw}': {e}") from None
    iso = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        try:  # Slurm's D-HH:MM:SS and clock forms: that long ago
            return now - parse_duration(value)
        except ParseError:
            raise ParseError(_SINCE_ERROR) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz) if tz is not None else parsed
    return parsed.timestamp()


# ----------------------------------------------------------------------------------- 2.9.4
def parse_array(text: str) -> list[int]:
    """Array task ids: `1-10` (upstream), plus Slurm-like `1,3,5`, `1-9:2` and mixtures."""
    tasks: set[int] = set()
    for item in text.strip().split(","):
        item = item.strip()
        if "-" not in item:
            try:
                tasks.add(_u32(item))
            except ValueError:
                raise ParseError("Invalid array format. Expected format like '1-10'.") from None
        else:
            start_text, _, rest = item.partition("-")
            end_text, colon, step_text = rest.partition(":")
            try:
                start = _u32(start_text.strip())
            except ValueError as e:
                raise ParseError(f"Invalid array start index: {e}") from None
            try:
                end = _u32(end_text.strip())
            except ValueError as e:
                raise ParseError(f"Invalid array end index: {e}") from None
            try:
                step = _uint(step_text.strip()) if colon else 1
            except ValueError:
                step = 0
            if step == 0:
                raise ParseError("Invalid array step")
            if start > end:
                raise ParseError("Array start index cannot be greater than end index")
            if (end - start) // step + 1 > MAX_ARRAY_TASKS:
                raise ParseError(f"Array too large (max {MAX_ARRAY_TASKS} tasks)")
            tasks.update(range(start, end + 1, step))
        if len(tasks) > MAX_ARRAY_TASKS:
            raise ParseError(f"Array too large (max {MAX_ARRAY_TASKS} tasks)")
    return sorted(tasks)


# ------------------------------------------------------------------------------ 2.9.1-2.9.3
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _decimals(text: str) -> int:
    """Digits after the point once trailing zeros are dropped (`0.250` -> 2, `1e-3` -> 3)."""
    return max(0, -Decimal(text).normalize().as_tuple().exponent)


def _float_range(start_text: str, stop_text: str, step_text: str | None) -> list[str]:
    start, stop = float(start_text), float(stop_text)
    step = float(step_text) if step_text is not None else (1.0 if start <= stop else -1.0)
    if step == 0:
        raise ParseError("Step cannot be zero")
    if (step > 0 and start > stop) or (step < 0 and start < stop):
        raise ParseError("Step direction doesn't match start/stop")
    count = int((stop - start + math.copysign(1e-10, step)) / step) + 1
    if count > MAX_RANGE_VALUES:
        raise ParseError(f"Range too large (max {MAX_RANGE_VALUES} values)")
    # Upstream counts only the step's decimals; the start's matter too (`0.15:1:0.5`).
    places = max(_decimals(start_text), _decimals(step_text or "1"))
    values = []
    for i in range(count):
        value = start + i * step
        if abs(value - round(value)) < 1e-10:
            values.append(str(int(round(value))))
        else:
            values.append(f"{value:.{places}f}")
    return values


def parse_param(text: str) -> tuple[str, list[str]]:
    """`name=a,b,c` or `name=start:stop[:step]` -> (name, values)."""
    name, eq, spec = text.partition("=")
    if not eq:
        raise ParseError("Invalid param format. Expected 'name=val1,val2,...'")
    name = name.strip()
    if not name:
        raise ParseError("Parameter name cannot be empty")
    bounds = [part.strip() for part in spec.strip().split(":")]
    # Non-numeric `a:b` (a URL, a clock time) is kept as a literal value instead of failing.
    if 2 <= len(bounds) <= 3 and "," not in spec and all(_DECIMAL.fullmatch(b) for b in bounds):
        return name, _float_range(bounds[0], bounds[1], bounds[2] if len(bounds) == 3 else None)
    values = [item.strip() for item in spec.split(",") if item.strip()]
    if not values:
        raise ParseError("Parameter must have at least one value")
    return name, values


def expand_params(
    params: list[tuple[str, list[str]]], rows: list[dict[str, str]] | None = None
) -> list[dict[str, str]]:
    """One parameter map per job: CSV rows (file order) x cartesian product of `--param`s.

    The first `--param` varies slowest; a `--param` key overrides a same-named CSV column.
    """
    names = [name for name, _ in params]
    combos = [dict(zip(names, values)) for values in itertools.product(*(v for _, v in params))]
    if rows is None:
        return combos
    return [{**row, **combo} for row in rows for combo in combos]


def parse_param_csv(text: str) -> list[dict[str, str]]:
    """Rows of a `--param-file` CSV (header row first) as parameter maps."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    try:
        for record in reader:
            if not record:
                continue  # blank line
            cells = [cell.strip() for cell in record]
            if header is None:
                header = cells
                continue
            if len(cells) != len(header):
                raise ParseError(
                    f"CSV error: line {reader.line_num}: found record with {len(cells)} fields, "
                    f"but the header has {len(header)} fields"
                )
            rows.append(dict(zip(header, cells)))
    except csv.Error as e:
        raise ParseError(f"CSV error: line {reader.line_num}: {e}") from None
    if not rows:
        raise ParseError("CSV file contains no data rows")
    return rows


def parse_kv(text: str) -> tuple[str, str]:
    """`KEY=VALUE` for `gjob update --param`."""
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise ParseError(f"Invalid parameter format '{text}'. Expected KEY=VALUE")
    return key.strip(), value


# ------------------------------------------------------------------------------------ 2.11
def normalize_project(text: str | None, known: list[str], required: bool) -> str | None:
    """Project code after the configured policy; None means no project."""
    project = (text or "").strip() or None
    if project is None:
        if required:
            raise ParseError(
                "Project is required by configuration. "
                "Provide --project (CLI) or a non-empty `project` field."
            )
        return None
    if len(project.encode()) > 64:
        raise ParseError(f"Project name too long (max 64 characters): '{project}'")
    if known and project not in known:
        raise ParseError(f"Unknown project '{project}'. Known projects: {', '.join(known)}")
    return project


# -------------------------------------------------------------------------- notifications
_MAILBOX = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>")


def _address_problem(addr: str) -> str | None:
    if addr.count("@") != 1:
        return "expected exactly one '@' in the address"
    user, domain = addr.split("@")
    if not user:
        return "missing user before '@'"
    if not domain:
        return "missing domain after '@'"
    if any(c.isspace() or ord(c) < 32 or c in '<>(),;:"[]\\' for c in addr):
        return "invalid character in address"
    if user.startswith(".") or user.endswith(".") or ".." in user:
        return "invalid user part"
    labels = domain.split(".")
    if any(not label or not all(c.isalnum() or c == "-" for c in label) for label in labels):
        return "invalid domain"
    return None


def validate_email(text: str) -> str:
    """A recipient as `user@host` or `Name <user@host>`; returned trimmed."""
    value = text.strip()
    m = _MAILBOX.fullmatch(value)
    addr = m.group("addr").strip() if m else value
    problem = "empty address" if not addr else _address_problem(addr)
    if problem:
        raise ParseError(f"Invalid --notify-email '{text}': {problem}")
    return value


def parse_notify_on(values: list[str]) -> list[str]:
    """Event names from repeated and/or comma-separated `--notify-on` values."""
    events: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip().lower()
            if name and name not in events:
                events.append(name)
    return events
