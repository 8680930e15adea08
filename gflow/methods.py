"""The RPC methods, each named once with what it may do: the one table the client and the
daemon's dispatch read (the daemon registers one handler per name and refuses a handler for
a name missing here; a test checks both ways).

Each entry: the name of its params Struct in `gflow.protocol` (None: it takes none), the
type of its result (None: it answers nothing; `list[X]`, `Optional[X]`; a bare name is in
`gflow.protocol`, a dotted one in that module of `gflow`, such as `core.stats.Stats` for the
rows pure logic computes), then its flags. `result_type` turns a result's name into the type.

- admin:    only an admin may call it (refused before its handler runs)
- writes:   it changes state (recorded in the audit trail)
- audit:    recorded in the audit trail although it writes no job state
- pipeline: read-only, so a client may send it in the same round trip as `hello`

Plain data, no imports: the lean CLI path reads it without the schema library.
"""

METHODS = {
    "hello": ("Hello", "HelloResult"),
    "daemon.status": (None, "StatusResult", "pipeline"),
    "daemon.reload": (None, None, "admin", "audit"),
    "daemon.shutdown": (None, None, "admin", "audit"),
    "jobs.submit": ("SubmitParams", "SubmitResult", "writes"),
    "jobs.list": ("ListParams", "list[Job]", "pipeline"),
    "jobs.get": ("JobRef", "Job", "pipeline"),
    "jobs.resolve": ("JobRef", "int", "pipeline"),
    "jobs.cancel": ("IdsParams", "ActionResult", "writes"),
    "jobs.hold": ("IdsParams", "ActionResult", "writes"),
    "jobs.release": ("ReleaseParams", "ActionResult", "writes"),
    "jobs.update": ("UpdateParams", "UpdateResult", "writes"),
    "jobs.redo": ("RedoParams", "RedoResult", "writes"),
    "jobs.outcome": ("OutcomeParams", None, "writes"),
    "jobs.wait": ("WaitParams", "list[Job]", "pipeline"),
    "jobs.log": ("LogParams", "LogResult", "pipeline"),
    "jobs.purge": ("PurgeParams", "PurgeResult", "writes"),
    "groups.set_limit": ("SetLimitParams", "SetLimitResult", "writes"),
    "gpus.info": (None, "GpusResult", "pipeline"),
    "gpus.set_allowed": ("SetGpusParams", None, "admin", "writes"),
    "gpus.ignore": ("GpuProcess", "IgnoredProcess", "admin", "writes"),
    "gpus.unignore": ("GpuProcess", None, "admin", "writes"),
    "gpus.ignored": (None, "list[IgnoredProcess]"),
    "quotas.list": (None, "list[core.quotas.QuotaRow]"),
    "quotas.set": ("QuotaSetParams", "config.QuotaLimits", "admin", "writes"),
    "quotas.remove": ("QuotaSubject", None, "admin", "writes"),
    "reservations.list": ("ListReservationsParams", "list[core.reservations.Reservation]"),
    "reservations.get": ("ReservationRef", "Optional[core.reservations.Reservation]"),
    "reservations.create": ("CreateReservationParams", "core.reservations.Reservation", "admin", "writes"),
    "reservations.cancel": ("ReservationRef", "core.reservations.Reservation", "writes"),
    "stats.get": ("StatsParams", "core.stats.Stats", "pipeline"),
    "stats.by": ("StatsByParams", "core.stats.StatsTable"),
    "audit.read": ("AuditParams", "list[AuditEntry]", "admin"),
}

PIPELINE_SAFE = frozenset(name for name, entry in METHODS.items() if "pipeline" in entry[2:])


def result_type(method: str):
    """The type `method` answers with (None: nothing), resolved on first use, so that reading
    the table never imports msgspec or the schema."""
    return _resolve(METHODS[method][1])


def _resolve(name):
    if name is None:
        return None
    if name == "int":
        return int
    for wrapper in ("list", "Optional"):
        if name.startswith(wrapper + "[") and name.endswith("]"):
            inner = _resolve(name[len(wrapper) + 1:-1])
            if wrapper == "list":
                return list[inner]
            from typing import Optional

            return Optional[inner]
    import importlib

    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module("gflow." + (module or "protocol")), attr)
