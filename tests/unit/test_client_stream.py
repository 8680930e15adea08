"""Replies the daemon streams in several frames are joined by the client."""
import msgspec

from gflow.wire import join_arrays as _join_arrays


def test_parts_of_a_streamed_list_join_into_one_array():
    parts = [msgspec.Raw(msgspec.msgpack.encode(list(range(a, b)))) for a, b in [(0, 3), (3, 3), (3, 70000), (70000, 70020)]]
    assert msgspec.msgpack.decode(_join_arrays(parts)) == list(range(70020))
