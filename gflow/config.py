"""Typed configuration: YAML (ours) or TOML (upstream's `gflow.toml`), layered and validated.

Every file is decoded by msgspec into the same Structs, so an unknown key or a wrong type
is an error that names the key path and the file. Layers, lowest first: built-in defaults,
the default file(s), `--config`, then `GFLOW_SECTION__KEY` environment variables.
"""
from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Optional

import msgspec
from msgspec import Meta, Struct

from . import paths

PositiveInt = Annotated[int, Meta(ge=1)]
NonNegativeInt = Annotated[int, Meta(ge=0)]
PositiveSecs = Annotated[float, Meta(gt=0, le=86400)]


class _Section(Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class FairShare(_Section):
    enabled: bool = True
    half_life_secs: int = 604800


class DaemonConfig(_Section):
    host: str = "localhost"  # only for the optional HTTP shim and upstream configs
    port: int = 59000
    socket: Optional[str] = None
    state_dir: Optional[str] = None
    socket_group: Optional[str] = None
    admin_group: str = "gflow-admin"
    gpus: Optional[list[NonNegativeInt]] = None
    gpu_allocation_strategy: Literal["sequential", "random"] = "sequential"
    gpu_poll_interval_secs: PositiveInt = 10
    fair_share: FairShare = FairShare()
    max_frame_bytes: PositiveInt = 64 * 1024 * 1024
    kill_grace_secs: Annotated[float, Meta(ge=0)] = 5.0
    # bounds that keep one account from starving the others (README "Sharing one machine")
    max_connections_per_user: PositiveInt = 64  # root and admins are not counted
    first_request_timeout_secs: PositiveSecs = 10.0  # a connection that never asks is closed
    frame_timeout_secs: PositiveSecs = 30.0  # a request must arrive whole within this
    send_timeout_secs: PositiveSecs = 30.0  # a client that stops reading its answer is dropped
    max_buffered_request_bytes: PositiveInt = 128 * 1024 * 1024  # all unfinished requests
    max_log_read_bytes: PositiveInt = 64 * 1024 * 1024  # one `gjob log` answer
    log_read_timeout_secs: PositiveSecs = 10.0


class ExecutorConfig(_Section):
    type: Literal["process", "tmux"] = "process"


class GpuConfig(_Section):
    """`nvml` (default) asks the driver; `fake` serves tests and demos; `none` disables GPUs."""

    backend: Literal["nvml", "fake", "none"] = "nvml"
    count: NonNegativeInt = 0
    memory_mb: NonNegativeInt = 81920


class ProjectsConfig(_Section):
    known_projects: list[str] = []
    require_project: bool = False


class QuotaLimits(_Section):
    max_running_jobs: Optional[NonNegativeInt] = None
    max_running_gpus: Optional[NonNegativeInt] = None
    max_queued_jobs: Optional[NonNegativeInt] = None


class QuotaConfig(_Section):
    default_user: QuotaLimits = QuotaLimits()
    default_project: QuotaLimits = QuotaLimits()
    users: dict[str, QuotaLimits] = {}
    projects: dict[str, QuotaLimits] = {}


class Webhook(_Section):
    url: str
    events: list[str] = msgspec.field(default_factory=lambda: ["*"])
    filter_users: Optional[list[str]] = None
    headers: dict[str, str] = {}
    timeout_secs: PositiveInt = 10
    max_retries: NonNegativeInt = 3


class EmailTarget(_Section):
    smtp_url: str
    from_: str = msgspec.field(name="from")
    to: list[str] = []
    events: list[str] = msgspec.field(default_factory=lambda: ["*"])
    filter_users: Optional[list[str]] = None
    subject_prefix: Optional[str] = None
    timeout_secs: PositiveInt = 10
    max_retries: NonNegativeInt = 3


class NotificationsConfig(_Section):
    enabled: bool = False
    max_concurrent_deliveries: NonNegativeInt = 16
    webhooks: list[Webhook] = []
    emails: list[EmailTarget] = []


class SchedulerConfig(_Section):
    # true: the first job short of GPUs holds the GPUs that free up first, and later jobs
    # may start only where they cannot delay it; false: upstream's plain greedy pass
    backfill: bool = True
    # how many jobs short of GPUs, in order, get such a reservation in one pass (Slurm's
    # bf_max_job_test): more protects more big jobs from starving, at more cost per pass
    backfill_depth: PositiveInt = 8


class HttpConfig(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 59000
    allow_remote: bool = False


class RetentionConfig(_Section):
    days: Optional[PositiveInt] = None  # finished jobs older than this are purged daily


class Config(_Section):
    timezone: Optional[str] = None
    retention: RetentionConfig = RetentionConfig()
    daemon: DaemonConfig = DaemonConfig()
    executor: ExecutorConfig = ExecutorConfig()
    gpu: GpuConfig = GpuConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    projects: ProjectsConfig = ProjectsConfig()
    quota: QuotaConfig = QuotaConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    http: HttpConfig = HttpConfig()


class ConfigError(Exception):
    pass


def not_acted_on(config: Config) -> list[str]:
    """Settings a config may carry (upstream's files have them; so will later versions) that
    this daemon validates but does not act on yet: one warning each, for whoever starts it,
    so nobody waits for a webhook or a tmux session that will never come."""
    warnings = []
    if config.notifications != NotificationsConfig():
        warnings.append("config `notifications` is not supported yet: no webhook or email will be sent")
    if config.http != HttpConfig():
        warnings.append("config `http` is not supported yet: no HTTP server will be started")
    if config.executor.type == "tmux":
        warnings.append("config `executor.type: tmux` is not supported yet: jobs run as plain processes")
    return warnings


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        if path.endswith(".toml"):
            data = msgspec.toml.decode(raw)
        else:
            data = msgspec.yaml.decode(raw) if raw.strip() else {}
    except msgspec.DecodeError as e:
        raise ConfigError(f"invalid config file {path}: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid config file {path}: the top level must be a mapping")
    _validate(data, path)
    return data


def _validate(data: dict[str, Any], origin: str) -> Config:
    daemon = data.get("daemon")
    strategy = daemon.get("gpu_allocation_strategy") if isinstance(daemon, dict) else None
    if isinstance(strategy, str):
        # strategy names are case-insensitive: `Random` in a file or in
        # GFLOW_DAEMON__GPU_ALLOCATION_STRATEGY means `random`
        data = dict(data, daemon=dict(daemon, gpu_allocation_strategy=strategy.strip().lower()))
    try:
        return msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as e:
        raise ConfigError(f"invalid configuration in {origin}: {_readable(e)}") from None


def _readable(error: msgspec.ValidationError) -> str:
    # msgspec says "... - at `$.daemon.port`"; people read key paths without the `$.`
    return str(error).replace("`$.", "`").replace("`$`", "the top level")


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_LIST_KEYS = {"gpus", "known_projects", "events", "filter_users", "to"}


def env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """`GFLOW_DAEMON__PORT=1` → {"daemon": {"port": "1"}}; only known top-level keys count,
    so variables such as GFLOW_SOCKET or GFLOW_ARRAY_TASK_ID are not config."""
    known = set(Config.__struct_fields__)
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("GFLOW_"):
            continue
        keys = name[len("GFLOW_"):].lower().split("__")
        if keys[0] not in known:
            continue
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        leaf = keys[-1]
        node[leaf] = [v.strip() for v in value.split(",") if v.strip()] if leaf in _LIST_KEYS else value
    return out


def load(extra: str | None = None, system: bool = False, environ: dict[str, str] | None = None) -> Config:
    """Build the effective config. A missing `--config` file is skipped with a warning on
    stderr, as upstream does (the default file and the environment still apply)."""
    files = [paths.SYSTEM_CONFIG] if system and os.path.exists(paths.SYSTEM_CONFIG) else []
    if not system:
        files = paths.user_config_files()
    if extra:
        if os.path.exists(extra):
            files.append(extra)
        else:
            import sys

            print(f'Warning: Config file "{extra}" not found.', file=sys.stderr)
    data: dict[str, Any] = {}
    for path in files:
        data = _merge(data, _read_file(path))
    env = env_overrides(os.environ if environ is None else environ)
    if env:
        data = _merge(data, env)
    return _validate(data, "environment (GFLOW_* variables)" if env else "configuration")
