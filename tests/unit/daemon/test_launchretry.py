import errno

from gflow.daemon.launchretry import LaunchRetries


def test_fd_and_memory_pressure_are_retried_with_a_growing_delay():
    retries = LaunchRetries()
    delays = [retries.defer(7, OSError(errno.EMFILE, "Too many open files")) for _ in range(8)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert retries.defer(8, OSError(errno.ENFILE, "")) == 1
    assert retries.defer(9, OSError(errno.ENOMEM, "")) == 1


def test_real_failures_are_not_retried():
    retries = LaunchRetries()
    assert retries.defer(7, OSError(errno.ENOENT, "no such file")) is None
    assert retries.defer(7, ValueError("embedded null byte")) is None


def test_a_missing_account_is_retried_a_few_times_then_given_up():
    retries = LaunchRetries()
    tries = [retries.defer(7, KeyError("getpwuid(): uid not found")) for _ in range(10)]
    assert None not in tries[:8] and tries[8:] == [None, None]
    retries.forget(7)
    assert retries.defer(7, KeyError("getpwuid(): uid not found")) == 1
