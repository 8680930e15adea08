"""Timers for wall-clock instants (begin times, time limits) that survive clock steps.

asyncio's timers run on the monotonic clock, so a deadline given in wall-clock time and
turned into a delay goes wrong when the wall clock is stepped (NTP's first sync, an admin's
`date -s`, a resumed VM): stepped back, the timer fires early; stepped forward, it fires late.
Two guards: a timer that fires before its wall-clock instant re-arms for the rest, and a clock
step re-arms every timer. Linux announces steps through a timerfd armed with
TFD_TIMER_CANCEL_ON_SET (an event, nothing polled); where that is unavailable, the offset
between the wall and monotonic clocks is compared every few seconds, only while timers wait.
"""
from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import time
from typing import Callable, Hashable, Optional

log = logging.getLogger("gflow.wallclock")

# a timer up to this early is treated as on time (float rounding of the delay)
_EARLY_TOLERANCE = 0.001
# offset changes above this count as a step (slewing moves far less between two checks)
STEP_TOLERANCE = 1.0
DRIFT_CHECK_SECS = 5.0

Clock = Callable[[], float]
CallLater = Callable[[float, Callable[[], None]], "asyncio.TimerHandle"]


def stepped(previous_offset: float, offset: float, tolerance: float = STEP_TOLERANCE) -> bool:
    """Whether the wall clock was stepped between two readings of wall minus monotonic."""
    return abs(offset - previous_offset) > tolerance


class WallTimers:
    """Keyed one-shot timers at wall-clock instants. `clock` is the wall clock and
    `call_later` the monotonic scheduler; both are injectable, so tests step a fake clock."""

    def __init__(self, clock: Clock = time.time, call_later: Optional[CallLater] = None):
        self.clock = clock
        self._call_later = call_later
        self._timers: dict[Hashable, tuple[float, Callable[[], None], asyncio.TimerHandle]] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._timers

    def __len__(self) -> int:
        return len(self._timers)

    def due(self, key: Hashable) -> Optional[float]:
        entry = self._timers.get(key)
        return entry[0] if entry else None

    def arm(self, key: Hashable, when: float, callback: Callable[[], None]) -> None:
        self.cancel(key)
        handle = self._schedule(max(0.0, when - self.clock()), key)
        self._timers[key] = (when, callback, handle)

    def cancel(self, key: Hashable) -> None:
        entry = self._timers.pop(key, None)
        if entry is not None:
            entry[2].cancel()

    def clear(self) -> None:
        for _, _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def clock_stepped(self) -> None:
        """The wall clock jumped: every delay is recomputed from the instants."""
        if self._timers:
            log.info("wall clock stepped: %d timer(s) re-armed", len(self._timers))
        for key, (when, callback, handle) in list(self._timers.items()):
            handle.cancel()
            self._timers[key] = (when, callback, self._schedule(max(0.0, when - self.clock()), key))

    def _schedule(self, delay: float, key: Hashable):
        call_later = self._call_later or asyncio.get_running_loop().call_later
        return call_later(delay, lambda: self._fire(key))

    def _fire(self, key: Hashable) -> None:
        entry = self._timers.get(key)
        if entry is None:
            return
        when, callback, _ = entry
        left = when - self.clock()
        if left > _EARLY_TOLERANCE:  # the wall clock went back since the timer was armed
            self._timers[key] = (when, callback, self._schedule(left, key))
            return
        del self._timers[key]
        callback()


class ClockStepWatch:
    """Calls `on_step` when the wall clock is stepped: a CANCEL_ON_SET timerfd on Linux, else
    a drift check every DRIFT_CHECK_SECS while `active()` says timers wait."""

    def __init__(self, on_step: Callable[[], None], active: Callable[[], bool]):
        self.on_step = on_step
        self.active = active
        self._fd: Optional[int] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._check: Optional[asyncio.TimerHandle] = None
        self._offset = time.time() - time.monotonic()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._fd = _timerfd_cancel_on_set()
        except OSError as e:
            log.info("no timerfd clock-step events (%s): checking the clock every %.0f s while timers wait",
                     e, DRIFT_CHECK_SECS)
            return
        self._loop.add_reader(self._fd, self._on_timerfd)

    def poke(self) -> None:
        """A timer was armed: without a timerfd, make sure the drift check runs."""
        if self._fd is None and self._check is None and self._loop is not None:
            self._offset = time.time() - time.monotonic()
            self._check = self._loop.call_later(DRIFT_CHECK_SECS, self._on_check)

    def close(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None
        if self._fd is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None

    def _on_timerfd(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.ECANCELED:
                raise
        # ECANCELED: the clock was set; either way arm it again for the next step
        _arm_cancel_on_set(self._fd)
        self.on_step()

    def _on_check(self) -> None:
        self._check = None
        offset = time.time() - time.monotonic()
        if stepped(self._offset, offset):
            self.on_step()
        self._offset = offset
        if self.active():
            self._check = self._loop.call_later(DRIFT_CHECK_SECS, self._on_check)


# --------------------------------------------------------------------------- timerfd (ctypes)
_CLOCK_REALTIME = 0
_TFD_TIMER_ABSTIME = 1
_TFD_TIMER_CANCEL_ON_SET = 2
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_LIBC = []


def _libc():
    if _LIBC:
        return _LIBC[0]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
    _LIBC.append(libc)
    return libc


def _timerfd_cancel_on_set() -> int:
    try:
        libc = _libc()
        fd = libc.timerfd_create(_CLOCK_REALTIME, _TFD_NONBLOCK | _TFD_CLOEXEC)
    except (OSError, AttributeError) as e:
        raise OSError(errno.ENOSYS, f"timerfd unavailable: {e}") from None
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    try:
        _arm_cancel_on_set(fd)
    except OSError:
        os.close(fd)
        raise
    return fd


def _arm_cancel_on_set(fd: int) -> None:
    """An absolute CLOCK_REALTIME timer a century away: it never expires, it exists so that
    the kernel cancels it (and wakes us) whenever the clock is set."""
    far = _Itimerspec(_Timespec(0, 0), _Timespec(int(time.time()) + 100 * 365 * 86400, 0))
    if _libc().timerfd_settime(fd, _TFD_TIMER_ABSTIME | _TFD_TIMER_CANCEL_ON_SET, ctypes.byref(far), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
