"""Size limits and forbidden bytes in what a client asks the daemon to store or run.

Numbers and list lengths are bounded by the protocol Structs while decoding; what is left
here needs a sum or a scan: text sizes in bytes (what the OS and SQLite see), whole
environments, and NUL bytes, which no path, argument or environment entry can carry (the
kernel would refuse it at launch, long after the submission was acknowledged).
Each problem is one `LimitError` whose message names the field and the limit.
"""
from __future__ import annotations

from typing import Iterable, Optional

from ..protocol import (
    MAX_COMMAND_BYTES,
    MAX_ENV_BYTES,
    MAX_PATH_BYTES,
    JobSpec,
    RedoParams,
    SubmitParams,
    UpdateParams,
)


class LimitError(ValueError):
    pass


def _size(text: str) -> int:
    # characters bound bytes from below and above (x4): skip the encode for short text
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def check_text(field: str, text: Optional[str], limit: int) -> None:
    if text is None:
        return
    if "\0" in text:
        raise LimitError(f"{field} contains a NUL byte, which no command, path or name may hold")
    if len(text) > limit or _size(text) > limit:
        raise LimitError(f"{field} is {_size(text):,} bytes; the daemon accepts at most {limit:,}")


def check_words(field: str, words: Iterable[str]) -> None:
    """Short texts (names, dependency refs, addresses) are length-bounded while decoding."""
    for word in words:
        if "\0" in word:
            raise LimitError(f"{field} contains a NUL byte")


def check_env(field: str, env: Optional[dict[str, str]]) -> None:
    if env is None:
        return
    total = 0
    for name, value in env.items():
        if "\0" in name or "\0" in value or "=" in name:
            raise LimitError(f"{field}: variable {name[:64]!r} has a NUL byte or '=' in its name, or a NUL in its value")
        total += _size(name) + _size(value) + 2
    if total > MAX_ENV_BYTES:
        raise LimitError(f"{field} is {total:,} bytes; the daemon accepts at most {MAX_ENV_BYTES:,} per environment")


def check_parameters(field: str, parameters: dict[str, str]) -> None:
    total = 0
    for name, value in parameters.items():
        if "\0" in name or "\0" in value:
            raise LimitError(f"{field}: parameter {name[:64]!r} contains a NUL byte")
        total += _size(name) + _size(value)
    if total > MAX_COMMAND_BYTES:
        raise LimitError(f"{field} are {total:,} bytes; the daemon accepts at most {MAX_COMMAND_BYTES:,}")


def check_spec(spec: JobSpec, where: str) -> None:
    check_text(f"{where}.command", spec.command, MAX_COMMAND_BYTES)
    check_text(f"{where}.script", spec.script, MAX_PATH_BYTES)
    check_text(f"{where}.run_dir", spec.run_dir, MAX_PATH_BYTES)
    check_env(f"{where}.env", spec.env)
    check_parameters(f"{where}.parameters", spec.parameters)
    check_words(where, [w for w in (spec.name, spec.conda_env, spec.project) if w is not None])
    check_words(f"{where}.depends_on", spec.depends_on)
    check_words(f"{where}.notify", spec.notify_emails + spec.notify_on)


def check_submit(params: SubmitParams) -> None:
    check_env("env", params.env)
    for i, spec in enumerate(params.jobs):
        check_spec(spec, f"jobs[{i}]")


def check_update(params: UpdateParams) -> None:
    for field, limit in (("command", MAX_COMMAND_BYTES), ("script", MAX_PATH_BYTES)):
        value = getattr(params, field)
        if isinstance(value, str):
            check_text(field, value, limit)
    if isinstance(params.conda_env, str):
        check_words("conda_env", [params.conda_env])
    if isinstance(params.parameters, dict):
        check_parameters("parameters", params.parameters)


def check_redo(params: RedoParams) -> None:
    check_env("env", params.env)
    check_words("redo", [w for w in (params.ref, params.depends_on, params.conda_env) if w is not None])
