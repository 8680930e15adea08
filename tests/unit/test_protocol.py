"""The wire schema: states, strict requests with no room for identity, frames."""
from __future__ import annotations

import msgspec
import pytest

from gflow import protocol
from gflow.protocol import JobSpec, JobState


@pytest.mark.parametrize("text,state", [
    ("PD", JobState.QUEUED), ("pd", JobState.QUEUED), ("Queued", JobState.QUEUED), ("queued", JobState.QUEUED),
    ("H", JobState.HOLD), ("R", JobState.RUNNING), ("running", JobState.RUNNING), ("CD", JobState.FINISHED),
    ("F", JobState.FAILED), ("CA", JobState.CANCELLED), ("TO", JobState.TIMEOUT), (" Timeout ", JobState.TIMEOUT),
])
def test_state_spellings(text, state):
    assert JobState.parse(text) is state


def test_unknown_state_is_an_error():
    with pytest.raises(ValueError, match="invalid state 'bogus'"):
        JobState.parse("bogus")


def test_codes_and_terminality():
    assert [s.code for s in JobState] == ["PD", "H", "R", "CD", "F", "CA", "TO"]
    assert {s for s in JobState if s.is_terminal} == protocol.TERMINAL_STATES


@pytest.mark.parametrize("field", ["owner", "owner_uid", "user", "uid", "submitted_by"])
def test_requests_have_no_room_for_identity(field):
    raw = msgspec.msgpack.encode({"command": "true", "run_dir": "/", field: "alice"})
    with pytest.raises(msgspec.ValidationError, match=field):
        msgspec.msgpack.decode(raw, type=JobSpec)


def test_priority_bounds_are_validated_by_decoding():
    raw = msgspec.msgpack.encode({"command": "true", "run_dir": "/", "priority": 256})
    with pytest.raises(msgspec.ValidationError, match="priority"):
        msgspec.msgpack.decode(raw, type=JobSpec)


def test_frame_is_length_prefixed():
    assert protocol.frame(b"abc") == b"\x00\x00\x00\x03abc"


def test_reason_labels():
    assert protocol.reason_label("WaitingForGpu") == "Resources"
    assert protocol.reason_label("WaitingForStartTime") == "BeginTime"
    assert protocol.reason_label("DependencyFailed:5") == "DependencyFailed:5"
    assert protocol.reason_label(None) is None
