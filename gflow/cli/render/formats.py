"""`gqueue -o json|yaml|csv`: the per-job record and its three documents. json/csv/yaml
are imported where they are used."""
from __future__ import annotations

import functools
import re
from typing import Sequence

from gflow.core import display
from gflow.protocol import Job

from .queue import _elapsed, pending_label

# --------------------------------------------------------------------------- machine formats


def job_record(job: Job, now: float) -> dict:
    """The per-job object of `gqueue -o json|yaml`; optional keys only if set."""
    record: dict = {
        "id": job.id,
        "name": job.run_name or "-",
        "state": job.state.value,
        "time": _elapsed(job, now),
        "gpus": list(job.gpu_ids or []),
        "user": job.user,
    }
    if job.project:
        record["project"] = job.project
    if job.submitted_at:
        record["submitted_at"] = display.rfc3339(job.submitted_at)
    reason = pending_label(job)
    if reason is not None:
        record["reason"] = reason
    if job.memory_limit_mb is not None:
        record["memory_mb"] = job.memory_limit_mb
    if job.time_limit is not None:
        record["time_limit"] = display.clock(job.time_limit)
    return record


def _document(jobs: Sequence[Job], now: float) -> dict:
    records = [job_record(job, now) for job in jobs]
    return {"jobs": records, "total": len(records), "timestamp": display.rfc3339_now_nanos(now)}


def gqueue_json(jobs: Sequence[Job], now: float) -> str:
    """Byte for byte `json.dumps(doc, indent=2, ensure_ascii=False)`, whose indenting encoder
    is pure Python (~10x slower for 10,000 jobs); msgspec is loaded anyway."""
    import msgspec

    return msgspec.json.format(msgspec.json.encode(_document(jobs, now)), indent=2).decode()


def gqueue_yaml(jobs: Sequence[Job], now: float) -> str:
    """YAML as upstream's serde_yaml writes it: strings are quoted only when a YAML 1.2 reader
    would take them for null, a boolean or a number (not timestamps or `12:00:00`), and the
    document ends with its newline, which the caller's own newline turns into a blank line."""
    import yaml

    return yaml.dump(_document(jobs, now), Dumper=_yaml_dumper(), sort_keys=False, allow_unicode=True)


# What serde_yaml reads as something other than a string (YAML 1.2 core schema, Rust number
# syntax): such strings are written quoted.
_YAML_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_YAML_BOOL = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
_YAML_INT = r"[-+]?(?:[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+|0b[01]+)"  # compiled on first use, not at start-up
_YAML_FLOAT = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"


def _yaml_plain_tag(value: str) -> str:
    if value in _YAML_NULL:
        return "tag:yaml.org,2002:null"
    if value in _YAML_BOOL:
        return "tag:yaml.org,2002:bool"
    digits = value.lstrip("+-")
    leading_zero = len(digits) > 1 and digits[0] == "0" and digits.isdigit()  # `007` is a string
    if not leading_zero and re.fullmatch(_YAML_INT, value):
        return "tag:yaml.org,2002:int"
    if not leading_zero and re.fullmatch(_YAML_FLOAT, value):
        return "tag:yaml.org,2002:float"
    return "tag:yaml.org,2002:str"


@functools.cache
def _yaml_dumper():
    """The Dumper class, built on first use (a class over PyYAML's: never at start-up)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def resolve(self, kind, value, implicit):
            if kind is yaml.ScalarNode and implicit[0]:
                # quoted when either a YAML 1.2 reader (serde_yaml) or a YAML 1.1 one
                # (PyYAML: timestamps, `12:34:56` as a base-60 number) would read the
                # plain text as anything but this string
                tag = _yaml_plain_tag(value)
                if tag == "tag:yaml.org,2002:str":
                    tag = super().resolve(kind, value, implicit)
                return tag
            return super().resolve(kind, value, implicit)

    return Dumper


# upstream's columns first, then what the JSON and YAML records carry too
CSV_FIELDS = ["id", "name", "state", "time", "gpus", "user", "submitted_at", "reason", "time_limit",
              "project", "memory_mb"]


def gqueue_csv(jobs: Sequence[Job], now: float) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for job in jobs:
        record = job_record(job, now)
        record["gpus"] = "[" + ",".join(str(i) for i in record["gpus"]) + "]"
        writer.writerow([record.get(key, "-") for key in CSV_FIELDS])
    return out.getvalue().rstrip("\n")

