"""The errors a request is refused with, worded once for every handler and the lifecycle."""
from __future__ import annotations

from ..errors import ErrorCode, GflowError


def bad_request(message: str) -> GflowError:
    return GflowError(ErrorCode.BAD_REQUEST, message)


def not_found(job_id: int) -> GflowError:
    return GflowError(ErrorCode.NOT_FOUND, f"Job {job_id} not found")


def conflict(message: str) -> GflowError:
    return GflowError(ErrorCode.CONFLICT, message)
