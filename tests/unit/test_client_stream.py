"""Replies the daemon streams in several frames are joined by the client."""
import msgspec

from gflow.wire import join_arrays as _join_arrays


def test_parts_of_a_streamed_list_join_into_one_array():
    parts = [msgspec.Raw(msgspec.msgpack.encode(list(range(a, b)))) for a, b in [(0, 3), (3, 3), (3, 70000), (70000, 70020)]]
    assert msgspec.msgpack.decode(_join_arrays(parts)) == list(range(70020))


def test_the_lean_client_takes_a_streamed_frames_result_without_decoding_it():
    from gflow.protocol import Response
    from gflow.wire import split_reply

    part = msgspec.msgpack.encode(Response(id=3, more=True, result=[1, 2]))
    assert split_reply(part) == ({"id": 3, "more": True}, msgspec.msgpack.encode([1, 2]))
    last = msgspec.msgpack.encode(Response(id=3, result=[3]))
    assert split_reply(last) == ({"id": 3}, msgspec.msgpack.encode([3]))
