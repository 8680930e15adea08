"""The RPC methods, each named once with what it may do: the one table the client and the
daemon's dispatch read (the daemon registers one handler per name and refuses a handler for
a name missing here; a test checks both ways).

- admin:    only an admin may call it (refused before its handler runs)
- writes:   it changes state (recorded in the audit trail)
- audit:    recorded in the audit trail although it writes no job state
- pipeline: read-only, so a client may send it in the same round trip as `hello`

Plain data, no imports: the lean CLI path reads it without the schema library.
"""

METHODS = {
    "hello": (),
    "daemon.status": ("pipeline",),
    "daemon.reload": ("admin", "audit"),
    "daemon.shutdown": ("admin", "audit"),
    "jobs.submit": ("writes",),
    "jobs.list": ("pipeline",),
    "jobs.get": ("pipeline",),
    "jobs.resolve": ("pipeline",),
    "jobs.cancel": ("writes",),
    "jobs.hold": ("writes",),
    "jobs.release": ("writes",),
    "jobs.update": ("writes",),
    "jobs.redo": ("writes",),
    "jobs.outcome": ("writes",),
    "jobs.wait": ("pipeline",),
    "jobs.log": ("pipeline",),
    "jobs.purge": ("writes",),
    "groups.set_limit": ("writes",),
    "gpus.info": ("pipeline",),
    "gpus.set_allowed": ("admin", "writes"),
    "gpus.ignore": ("admin", "writes"),
    "gpus.unignore": ("admin", "writes"),
    "gpus.ignored": (),
    "quotas.list": (),
    "quotas.set": ("admin", "writes"),
    "quotas.remove": ("admin", "writes"),
    "reservations.list": (),
    "reservations.get": (),
    "reservations.create": ("admin", "writes"),
    "reservations.cancel": ("writes",),
    "stats.get": ("pipeline",),
    "stats.by": (),
    "audit.read": ("admin",),
}

PIPELINE_SAFE = frozenset(name for name, flags in METHODS.items() if "pipeline" in flags)
