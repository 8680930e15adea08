"""The method table (`gflow.methods`) is the one list of methods: every entry has exactly one
handler, every handler is in it, and its flags are what the daemon enforces."""
from __future__ import annotations

import pytest

from gflow import methods
from gflow.daemon import handlers


def test_every_method_has_one_handler_and_every_handler_a_table_entry():
    registered = handlers.load()
    assert set(registered) == set(methods.METHODS)


def test_the_daemon_takes_admin_and_writes_from_the_table():
    from gflow import protocol

    for name, method in handlers.load().items():
        params, _result, *flags = methods.METHODS[name]
        assert method.params is (getattr(protocol, params) if params else protocol.Empty), name
        assert method.admin == ("admin" in flags), name
        assert method.writes == ("writes" in flags), name
        assert method.audit == ("writes" in flags or "audit" in flags), name


def test_only_read_only_methods_may_travel_with_hello():
    for name in methods.PIPELINE_SAFE:
        assert not {"admin", "writes", "audit"} & set(methods.METHODS[name][2:]), name


def test_a_handler_for_a_method_missing_from_the_table_is_refused():
    with pytest.raises(KeyError):
        handlers.rpc("jobs.teleport")


def test_every_result_named_in_the_table_resolves_to_a_type():
    for name in methods.METHODS:
        methods.result_type(name)  # raises on a name that no module defines


def test_results_nest_and_reach_core_modules():
    from typing import Optional

    from gflow import protocol
    from gflow.core.reservations import Reservation

    assert methods.result_type("jobs.list") == list[protocol.Job]
    assert methods.result_type("reservations.get") == Optional[Reservation]
    assert methods.result_type("jobs.resolve") is int
    assert methods.result_type("daemon.shutdown") is None


def test_a_handler_that_declares_its_answer_declares_the_table_s_result_type():
    import typing

    checked = 0
    for name, method in handlers.load().items():
        declared = typing.get_type_hints(method.fn).get("return", "undeclared")
        if declared == "undeclared":
            continue
        expected = methods.result_type(name)
        assert declared == (type(None) if expected is None else expected), name
        checked += 1
    assert checked >= len(methods.METHODS) // 2  # most handlers say what they answer
