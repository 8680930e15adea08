"""A log that says each kind of message at most once per interval.

A hostile or broken client can make the same error happen thousands of times a second
(accept failures at the fd limit, a flood of bad requests hitting a bug); one line per
interval, with a count of what was left out, keeps the log readable and the disk intact.
"""
from __future__ import annotations

import logging
import time
from typing import Callable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval_secs: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 1024):
        self._log = logger
        self._interval = interval_secs
        self._clock = clock
        self._max_keys = max_keys
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, level: int, key: str, message: str, *args, exc_info=None) -> bool:
        """Log unless `key` was logged less than an interval ago; True when logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        if last is None and len(self._last) >= self._max_keys:
            self._forget(now)
        self._last[key] = now
        dropped = self._suppressed.pop(key, 0)
        if dropped:
            message += f" ({dropped} similar messages suppressed in the last {self._interval:g} s)"
        self._log.log(level, message, *args, exc_info=exc_info)
        return True

    def _forget(self, now: float) -> None:
        # keys are bounded so that varied messages cannot grow this table without end
        for key in [k for k, t in self._last.items() if now - t >= self._interval]:
            del self._last[key]
            self._suppressed.pop(key, None)
        if len(self._last) >= self._max_keys:
            self._last.clear()
            self._suppressed.clear()
