"""Errors that travel between daemon and client as `{code, message}`.

Kept apart from `protocol` (which needs msgspec, enum and typing) so a CLI that only has to
print a refusal does not pay for the schema library's import.
"""
from __future__ import annotations


class ErrorCode:
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    UNKNOWN_METHOD = "unknown_method"
    VERSION = "version_mismatch"
    READ_ONLY = "read_only"
    INTERNAL = "internal"
    TOO_LARGE = "too_large"
    DISK_FULL = "disk_full"  # the state filesystem is full: nothing was changed; retry later


class GflowError(Exception):
    """An error that travels to the client as `{code, message}`."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_wire(self):
        from .protocol import RpcError

        return RpcError(code=self.code, message=self.message)
