"""Launch failures that mean "not now" rather than "never".

Out of file descriptors (EMFILE/ENFILE), memory or processes (ENOMEM/EAGAIN), a spawn fails,
and so does `getpwuid`: NSS cannot open /etc/passwd and says "uid not found". None of that
is the job's fault: it goes back to the queue, unstarted, and is tried again after a delay
that doubles up to a minute. Only a missing account that stays missing through
_MAX_MISSING_ACCOUNT tries (several minutes) fails the job.
"""
from __future__ import annotations

import errno
from typing import Optional

_TRANSIENT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.ENOBUFS})
_FIRST_DELAY = 1.0
_MAX_DELAY = 60.0
_MAX_MISSING_ACCOUNT = 8


class LaunchRetries:
    def __init__(self) -> None:
        self._attempts: dict[int, int] = {}

    def defer(self, job_id: int, error: BaseException) -> Optional[float]:
        """Seconds until the next try if `error` is worth retrying, else None."""
        attempts = self._attempts.get(job_id, 0)
        if isinstance(error, KeyError):
            if attempts >= _MAX_MISSING_ACCOUNT:
                return None
        elif not (isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS):
            return None
        self._attempts[job_id] = attempts + 1
        return min(_MAX_DELAY, _FIRST_DELAY * 2 ** attempts)

    def forget(self, job_id: int) -> None:
        self._attempts.pop(job_id, None)
