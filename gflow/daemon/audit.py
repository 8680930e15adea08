"""The audit trail: every mutating request as one JSON line in the daily daemon log.

The server calls `record` once per audited request, after the handler answered (so the
line says what happened, not what was asked). The daily log handler writes the entry's
fields beside the message; `read` finds them again for `gctl audit`. A request never
fails because its audit line could not be written: logging swallows its own errors.
"""
from __future__ import annotations

import glob
import logging
import os
import time
from typing import Iterable, Iterator, Optional

import msgspec

from ..protocol import ActionResult, AuditEntry, GflowError, RedoResult, SubmitResult
from .identity import Caller

log = logging.getLogger("gflow.audit")

# request fields that name what a request acts on, in the order they are reported
_TARGET_FIELDS = ("ids", "id", "ref", "target", "user", "scope", "name", "indices", "gpu", "pid")


def targets(params, result) -> list:
    """What a request acted on: ids and names from its params, plus ids it created."""
    out: list = []
    for name in _TARGET_FIELDS:
        value = getattr(params, name, None)
        if value is None or value is msgspec.UNSET:
            continue
        if isinstance(value, (list, tuple)):
            out.extend(value)
        else:
            out.append(value)
    if isinstance(result, SubmitResult):
        out.extend(job_id for job_id, _ in result.jobs)
    elif isinstance(result, RedoResult):
        out.append(result.job.id)
        out.extend(new for _, new, _ in result.cascade)
    return out


def outcome(result, error: Optional[GflowError]) -> str:
    if error is not None:
        return f"error: {error.message}"
    if isinstance(result, ActionResult) and result.errors:
        refused = ", ".join(f"{job_id}: {why}" for job_id, why in result.errors)
        return f"partial: refused {refused}"
    return "ok"


def record(caller: Caller, method: str, params, result=None, error: Optional[GflowError] = None,
           now: Optional[float] = None) -> AuditEntry:
    entry = AuditEntry(
        time=time.time() if now is None else now, uid=caller.uid, user=caller.user,
        method=method, targets=targets(params, result), result=outcome(result, error),
    )
    log.info("%s by %s (uid %d): %s", method, caller.user, caller.uid, entry.result,
             extra={"audit": msgspec.structs.asdict(entry)})
    return entry


_LINE = msgspec.json.Decoder(dict)


def parse(lines: Iterable[bytes]) -> Iterator[AuditEntry]:
    """Audit entries among daily-log lines; other lines and damaged ones are skipped."""
    for line in lines:
        if b'"gflow.audit"' not in line:
            continue
        try:
            fields = _LINE.decode(line).get("fields", {})
            yield msgspec.convert({k: fields[k] for k in AuditEntry.__struct_fields__}, AuditEntry)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, AttributeError, TypeError):
            continue


def read(logs_dir: str, since: Optional[float], user: Optional[str]) -> list[AuditEntry]:
    """Entries of the kept daily logs, oldest first, filtered by time and caller name."""
    out: list[AuditEntry] = []
    for path in sorted(glob.glob(os.path.join(glob.escape(logs_dir), "daemon.????-??-??.log"))):
        try:
            with open(path, "rb") as f:
                for entry in parse(f):
                    if since is not None and entry.time < since:
                        continue
                    if user is not None and entry.user != user:
                        continue
                    out.append(entry)
        except OSError:
            continue
    out.sort(key=lambda e: e.time)
    return out
