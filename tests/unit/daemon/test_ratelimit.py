import logging

from gflow.daemon.ratelimit import RateLimitedLog


def test_one_line_per_key_per_interval_and_the_count_left_out(caplog):
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("t"), interval_secs=10, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="t"):
        assert limited(logging.ERROR, "accept", "accept failed")
        for _ in range(1000):
            assert not limited(logging.ERROR, "accept", "accept failed")
        assert limited(logging.ERROR, "other", "something else")
        now[0] = 10.5
        assert limited(logging.ERROR, "accept", "accept failed")
    assert [r.getMessage() for r in caplog.records] == [
        "accept failed",
        "something else",
        "accept failed (1000 similar messages suppressed in the last 10 s)",
    ]


def test_the_table_of_keys_stays_bounded():
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("t"), interval_secs=10, clock=lambda: now[0], max_keys=4)
    for i in range(100):
        limited(logging.DEBUG, f"k{i}", "m")
    assert len(limited._last) <= 4
