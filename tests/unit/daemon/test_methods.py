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
        params, *flags = methods.METHODS[name]
        assert method.params is (getattr(protocol, params) if params else protocol.Empty), name
        assert method.admin == ("admin" in flags), name
        assert method.writes == ("writes" in flags), name
        assert method.audit == ("writes" in flags or "audit" in flags), name


def test_only_read_only_methods_may_travel_with_hello():
    for name in methods.PIPELINE_SAFE:
        assert not {"admin", "writes", "audit"} & set(methods.METHODS[name][1:]), name


def test_a_handler_for_a_method_missing_from_the_table_is_refused():
    with pytest.raises(KeyError):
        handlers.rpc("jobs.teleport")
