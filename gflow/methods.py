"""The RPC methods, each named once with what it may do: the one table the client and the
daemon's dispatch read (the daemon registers one handler per name and refuses a handler for
a name missing here; a test checks both ways).

Each entry: the name of its params Struct in `gflow.protocol` (None: it takes none), then
its flags.

- admin:    only an admin may call it (refused before its handler runs)
- writes:   it changes state (recorded in the audit trail)
- audit:    recorded in the audit trail although it writes no job state
- pipeline: read-only, so a client may send it in the same round trip as `hello`

Plain data, no imports: the lean CLI path reads it without the schema library.
"""

METHODS = {
    "hello": ("Hello",),
    "daemon.status": (None, "pipeline"),
    "daemon.reload": (None, "admin", "audit"),
    "daemon.shutdown": (None, "admin", "audit"),
    "jobs.submit": ("SubmitParams", "writes"),
    "jobs.list": ("ListParams", "pipeline"),
    "jobs.get": ("JobRef", "pipeline"),
    "jobs.resolve": ("JobRef", "pipeline"),
    "jobs.cancel": ("IdsParams", "writes"),
    "jobs.hold": ("IdsParams", "writes"),
    "jobs.release": ("ReleaseParams", "writes"),
    "jobs.update": ("UpdateParams", "writes"),
    "jobs.redo": ("RedoParams", "writes"),
    "jobs.outcome": ("OutcomeParams", "writes"),
    "jobs.wait": ("WaitParams", "pipeline"),
    "jobs.log": ("LogParams", "pipeline"),
    "jobs.purge": ("PurgeParams", "writes"),
    "groups.set_limit": ("SetLimitParams", "writes"),
    "gpus.info": (None, "pipeline"),
    "gpus.set_allowed": ("SetGpusParams", "admin", "writes"),
    "gpus.ignore": ("GpuProcess", "admin", "writes"),
    "gpus.unignore": ("GpuProcess", "admin", "writes"),
    "gpus.ignored": (None,),
    "quotas.list": (None,),
    "quotas.set": ("QuotaSetParams", "admin", "writes"),
    "quotas.remove": ("QuotaSubject", "admin", "writes"),
    "reservations.list": ("ListReservationsParams",),
    "reservations.get": ("ReservationRef",),
    "reservations.create": ("CreateReservationParams", "admin", "writes"),
    "reservations.cancel": ("ReservationRef", "writes"),
    "stats.get": ("StatsParams", "pipeline"),
    "stats.by": ("StatsByParams",),
    "audit.read": ("AuditParams", "admin"),
}

PIPELINE_SAFE = frozenset(name for name, entry in METHODS.items() if "pipeline" in entry[1:])
