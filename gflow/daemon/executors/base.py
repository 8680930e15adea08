"""What the daemon asks of an executor, and what it tells it: the seam a second executor
(tmux sessions) plugs into without the lifecycle knowing which one runs a job.

The lifecycle hands an executor a `RunSpec` (built by `runspec.build`, the only place that
turns a Job into a command line and environment) and hears back through the `on_exit`
callback given at construction, once per job, with an `ExitStatus`. Everything else an
executor does (signalling, watching, files it keeps) is its own business.
"""
from __future__ import annotations

import asyncio
from typing import Callable, Optional, Protocol

import msgspec


class RunSpec(msgspec.Struct, kw_only=True):
    job_id: int
    argv: list[str]
    cwd: str
    env: dict[str, str]  # the complete environment of the job
    uid: int
    gid: int
    user: str
    drop_privileges: bool  # True in system mode: setgid/initgroups/setuid in the child
    log_path: str
    grace_secs: float = 5.0


class ExitStatus(msgspec.Struct, kw_only=True):
    exit_code: Optional[int]  # 128+N when killed by signal N; None when unknown
    signal: Optional[int]
    started_at: Optional[float]
    finished_at: float
    launch_error: Optional[str] = None  # the job never ran (exit_code 127 then)
    vanished: bool = False  # shepherd gone without leaving a status
    cpu_secs: Optional[float] = None  # user + system CPU time of the job (older shepherds: None)


# how an executor reports an ended job (called in the loop, once per job)
OnExit = Callable[[int, ExitStatus], None]


class Executor(Protocol):
    def launch(self, spec: RunSpec) -> "asyncio.Future[tuple[int, float]]":
        """Start the job. The future gives (a pid that identifies its runner, that runner's
        start time), or the OSError/RuntimeError that kept it from starting; until it is done
        the job counts as watched and stop requests for it are kept for the runner. Raises
        OSError (and KeyError/ValueError/RuntimeError) when it could not even be asked for."""

    def adopt(self, job_id: int, pid: int, create_time: float) -> None:
        """Watch a runner started by an earlier daemon (or report its end through on_exit)."""

    def collect(self, job_id: int) -> None:
        """Report through on_exit how a job whose runner is gone ended."""

    def find_unrecorded(self, job_ids: list[int]) -> dict[int, Optional[tuple[int, float]]]:
        """Of jobs admitted without a recorded runner, those whose runner did start."""

    def is_watched(self, job_id: int) -> bool:
        """Whether the job's runner is known to be alive (it still holds its resources)."""

    def cancel(self, job_id: int) -> bool: ...

    def timeout(self, job_id: int) -> bool: ...

    def kill(self, job_id: int) -> bool:
        """Stop at once, without the grace period (a memory limit)."""

    def cleanup(self, job_id: int) -> None:
        """Forget a job whose end is recorded (its runner files go)."""

    def remove_files(self, job_id: int) -> None: ...

    def close(self) -> None: ...
