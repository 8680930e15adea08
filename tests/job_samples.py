"""A value for every `protocol.JobRequest` field, unlike its default and valid for its type: the
tests that a new field is carried from a request to its job and on to retries and redos
get one without being edited."""
from __future__ import annotations

import msgspec
from msgspec import inspect

from gflow.protocol import JobRequest, JobSpec


def _sample(name: str, info: inspect.Type, default):
    if isinstance(info, inspect.UnionType):
        return _sample(name, next(t for t in info.types if not isinstance(t, inspect.NoneType)), default)
    if isinstance(info, inspect.BoolType):
        return not default
    if isinstance(info, inspect.IntType):  # inside every bound we use (Priority is 0-255)
        return 8 if default == 7 else 7
    if isinstance(info, inspect.FloatType):
        return 1234.5
    if isinstance(info, inspect.StrType):
        return f"{name}-sample"
    if isinstance(info, inspect.EnumType):
        return next(member for member in info.cls if member != default)
    if isinstance(info, inspect.ListType):
        return [_sample(name, info.item_type, None)]
    if isinstance(info, inspect.DictType):
        return {_sample(name, info.key_type, None): _sample(name, info.value_type, None)}
    raise AssertionError(f"JobRequest.{name}: add a sample for {info!r} in tests/job_samples.py")


def requested_values(**fixed) -> dict:
    """Every JobRequest field name -> a non-default value (`fixed` replaces some)."""
    values = {}
    for field in msgspec.structs.fields(JobRequest):
        default = field.default if field.default is not msgspec.NODEFAULT else None
        if field.default_factory is not msgspec.NODEFAULT:
            default = field.default_factory()
        values[field.name] = _sample(field.name, inspect.type_info(field.type), default)
    values.update(fixed)
    return values


def spec_with(values: dict, **request_only) -> JobSpec:
    """A JobSpec carrying `values`, checked as the daemon decodes a client's request."""
    return msgspec.convert(msgspec.to_builtins({**values, **request_only}), JobSpec)
