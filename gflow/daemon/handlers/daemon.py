"""Daemon-level methods: hello, status, reload, shutdown."""
from __future__ import annotations

import os
import time

from ... import __version__
from ...protocol import PROTOCOL_VERSION, ErrorCode, GflowError, Hello, HelloResult, StatusResult
from . import rpc


@rpc("hello")
def hello(ctx, caller, params: Hello) -> HelloResult:
    if params.protocol != PROTOCOL_VERSION:
        raise GflowError(
            ErrorCode.VERSION,
            f"protocol version mismatch: client speaks {params.protocol}, gflowd {__version__} "
            f"speaks {PROTOCOL_VERSION}; use the gflow CLIs that match the running daemon",
        )
    return HelloResult(
        protocol=PROTOCOL_VERSION, version=__version__, uid=caller.uid, user=caller.user,
        admin=caller.admin, mode=ctx.dirs.mode,
    )


@rpc("daemon.status")
def status(ctx, caller, params) -> StatusResult:
    devices = ctx.machine.devices()
    busy = set(ctx.table.gpu_holders())
    poll = ctx.gpu_poll
    return StatusResult(
        version=__version__,
        pid=os.getpid(),
        uptime_secs=time.time() - ctx.started_at,
        mode=ctx.dirs.mode,
        socket=ctx.dirs.socket,
        state_dir=ctx.dirs.state_dir,
        executor="process",  # the only executor; a configured tmux is reported at start-up
        gpu_total=len(devices),
        gpu_available=sum(1 for g in devices if g.available and g.index not in busy),
        jobs_active=len(ctx.table.jobs),
        gpu_poll_ok_at=poll.last_ok if poll is not None else None,
        gpu_poll_error=poll.last_error if poll is not None else None,
    )


@rpc("daemon.reload")
def reload(ctx, caller, params) -> None:
    """Re-execute in place (see daemon/systemd.py); the reply goes out before the old image
    stops, and the listener stops accepting first, so the caller's next connection is
    answered by the new image."""
    ctx.request_reload()
    return None


@rpc("daemon.shutdown")
def shutdown(ctx, caller, params) -> None:
    ctx.request_stop()
    return None
