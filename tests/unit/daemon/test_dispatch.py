"""Dispatch: a request reaches its handler with a typed Context, or is refused with the right
error code before any handler runs; a bug in a handler costs that request only."""
from __future__ import annotations

import asyncio
import dataclasses
import os

import msgspec
import pytest

from gflow.daemon import identity
from gflow.daemon.dispatch import Dispatcher
from gflow.protocol import ErrorCode, IdsParams, JobState, Request

from engine_stub import context, make_engine, submit


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(tmp_path)
    yield eng
    eng.close()


def person(admin: bool) -> identity.Caller:
    uid = os.geteuid()
    return identity.Caller(pid=os.getpid(), uid=uid, gid=os.getegid(), user=identity.user_name(uid), admin=admin)


def request(method: str, params) -> Request:
    return Request(id=7, method=method, params=msgspec.Raw(msgspec.msgpack.encode(params)))


def dispatch(engine, caller, req, **broken):
    errors: list = []
    dispatcher = Dispatcher(lambda method, e: errors.append((method, e)))
    ctx = dataclasses.replace(context(engine), **broken)
    return asyncio.run(dispatcher.dispatch(ctx, caller, req)), errors


def test_a_cancel_reaches_its_handler_and_ends_the_job(engine):
    async def main():
        engine.start()
        job_id = submit(engine, hold=True)
        dispatcher = Dispatcher(lambda method, e: None)
        reply = await dispatcher.dispatch(context(engine), person(False), request("jobs.cancel", IdsParams(ids=[job_id])))
        return job_id, reply

    job_id, reply = asyncio.run(main())
    assert reply.id == 7 and reply.error is None and reply.result.done == [job_id]
    assert engine.store.state_of(job_id) is JobState.CANCELLED


def test_unknown_methods_admin_methods_and_bad_params_are_refused(engine):
    reply, _ = dispatch(engine, person(False), request("jobs.teleport", {}))
    assert reply.error.code == ErrorCode.UNKNOWN_METHOD
    reply, _ = dispatch(engine, person(False), request("daemon.shutdown", {}))
    assert reply.error.code == ErrorCode.FORBIDDEN
    reply, _ = dispatch(engine, person(False), request("jobs.cancel", {"ids": "all"}))
    assert reply.error.code == ErrorCode.BAD_REQUEST and "invalid parameters for jobs.cancel" in reply.error.message


def test_a_handler_bug_is_an_internal_error_of_that_request(engine):
    reply, errors = dispatch(engine, person(True), request("quotas.list", {}), policy=None)  # a broken context
    assert reply.error.code == ErrorCode.INTERNAL and [m for m, _ in errors] == ["quotas.list"]
