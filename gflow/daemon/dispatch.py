"""From a decoded request to its response: find the method's handler, check admin-only
methods, decode the params with the method's Struct, call the handler with a typed
`Context`, record the audit line, and turn any failure into an error reply (a bug costs one
request, never the daemon). The socket side (framing, streaming, limits) is server.py's."""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional

import msgspec

from ..config import Config
from ..paths import DaemonPaths
from ..protocol import ErrorCode, GflowError, Request, Response, RpcError
from . import audit, identity
from .app import App
from .executors.base import Executor
from .gpu_poll import GpuPoll
from .handlers import Method, load as load_handlers
from .jobs.creation import Creation
from .jobs.lifecycle import Lifecycle
from .jobs.scheduling import Scheduling
from .jobs.table import JobTable
from .logread import LogReader
from .machine import Machine
from .policy import Policy
from .retention import Retention

TOO_DEEP = (
    f"request nested too deeply: the daemon decodes at most about {sys.getrecursionlimit()} levels "
    "of msgpack arrays and maps (no gflow request needs more than a handful)"
)


class Dropped(Exception):
    """The connection was cut on our side (a client that stopped reading)."""


_NOTHING = object()


@dataclass
class Context:
    """What a handler may reach (rather than the whole server): the parts of the daemon's
    object graph (see app.py) it asks for a change or reads from, and the server's own."""

    config: Config
    dirs: DaemonPaths
    table: JobTable  # lookups, the active jobs
    creation: Creation  # submit, redo
    lifecycle: Lifecycle  # every transition, `end`
    scheduling: Scheduling  # a pass, where a job's log goes
    executor: Executor  # how a running job is stopped (a handler picks cancel or kill)
    machine: Machine  # GPUs, allowed GPUs
    policy: Policy
    retention: Retention
    started_at: float
    gpu_poll: Optional[GpuPoll]  # None on a machine without GPUs
    log_reader: Optional[LogReader]
    request_stop: Callable[[], None]
    request_reload: Callable[[], None]

    @classmethod
    def of(cls, app: App, gpu_poll: Optional[GpuPoll], log_reader: Optional[LogReader],
           request_stop: Callable[[], None], request_reload: Callable[[], None]) -> "Context":
        return cls(
            app.config, app.dirs, app.table, app.creation, app.lifecycle, app.scheduling,
            app.executor, app.machine, app.policy, app.retention, app.started_at,
            gpu_poll, log_reader, request_stop, request_reload,
        )


class Dispatcher:
    def __init__(self, log_internal: Callable[[str, Exception], None]):
        self.methods: dict[str, Method] = load_handlers()
        self._log_internal = log_internal
        self._param_decoders: dict[str, msgspec.msgpack.Decoder] = {}

    async def dispatch(self, ctx: Context, caller: identity.Caller, request: Request) -> Response:
        method = self.methods.get(request.method)
        params = None
        try:
            if method is None:
                raise GflowError(ErrorCode.UNKNOWN_METHOD, f"unknown method '{request.method}'")
            if method.admin:
                identity.require_admin(caller, method.what)
            params = self._decode_params(method, request.params)
            result = method.fn(ctx, caller, params)
            if inspect.isawaitable(result):
                result = await result
            if method.audit:
                audit.record(caller, method.name, params, result)
            return Response(id=request.id, result=result)
        except GflowError as e:
            if method is not None and method.audit:
                audit.record(caller, method.name, params, error=e)
            return Response(id=request.id, error=e.to_wire())
        except RecursionError:
            return Response(id=request.id, error=RpcError(code=ErrorCode.BAD_REQUEST, message=TOO_DEEP))
        except Exception as e:  # a bug must cost one request, never the daemon
            self._log_internal(request.method, e)
            if method is not None and method.audit:
                audit.record(caller, method.name, params, error=GflowError(ErrorCode.INTERNAL, f"internal error: {e}"))
            return Response(id=request.id, error=RpcError(code=ErrorCode.INTERNAL, message=f"internal error: {e}"))

    def _decode_params(self, method: Method, raw: msgspec.Raw):
        decoder = self._param_decoders.get(method.name)
        if decoder is None:
            decoder = self._param_decoders[method.name] = msgspec.msgpack.Decoder(method.params)
        try:
            return decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            raise GflowError(ErrorCode.BAD_REQUEST, f"invalid parameters for {method.name}: {e}") from None


async def send_stream(send: Callable[[Response], Awaitable[None]], request: Request, parts,
                      log_internal: Callable[[str, Exception], None]) -> bool:
    """Send a Stream reply a part per frame (`more=True` on all but the last), pulling each
    part only once the previous one has left; True when it ended in an error."""
    pending = _NOTHING
    error: Optional[RpcError] = None
    try:
        if hasattr(parts, "__aiter__"):
            async for part in parts:
                if pending is not _NOTHING:
                    await send(Response(id=request.id, result=pending, more=True))
                pending = part
        else:
            for part in parts:
                if pending is not _NOTHING:
                    await send(Response(id=request.id, result=pending, more=True))
                pending = part
    except GflowError as e:
        error = e.to_wire()
    except (Dropped, ConnectionError):
        raise
    except Exception as e:  # a bug must cost one request, never the daemon
        log_internal(request.method, e)
        error = RpcError(code=ErrorCode.INTERNAL, message=f"internal error: {e}")
    finally:
        closer = getattr(parts, "aclose", None) or getattr(parts, "close", None)
        if closer is not None:
            result = closer()
            if inspect.isawaitable(result):
                await result
    if error is not None:
        await send(Response(id=request.id, error=error))
        return True
    await send(Response(id=request.id, result=[] if pending is _NOTHING else pending))
    return False
