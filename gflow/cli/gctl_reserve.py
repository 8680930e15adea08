"""`gctl reserve create|list|get|cancel`: GPU reservations, with times read in the configured
time zone (split from gctl.py, which keeps the other administration commands)."""
from __future__ import annotations

from .common import CliError, Parser, print_json
from .gctl import _call
from .options import unsigned


def add_parser(sub) -> None:
    rs = sub.add_parser("reserve", help="GPU reservations: GPUs set aside for one user during a time window")
    cmds = rs.add_subparsers(dest="reserve_command", metavar="COMMAND", required=True, parser_class=Parser)

    create = cmds.add_parser("create", help="reserve GPUs for a user (admins)")
    create.add_argument("--user", required=True, help="the user the GPUs are reserved for")
    which = create.add_mutually_exclusive_group()
    which.add_argument("--gpus", type=unsigned, metavar="N", help="number of GPUs (any free ones)")
    which.add_argument("--gpu-spec", metavar="SPEC", help="GPU indices: 0, 0,2, 0-3")
    create.add_argument("--start", required=True, metavar="TIME",
                        help="'YYYY-MM-DD HH:MM', RFC 3339 ('2026-01-28T14:00:00Z') on :00 or :30, "
                             "or 'now' (the current half-hour slot)")
    create.add_argument("--duration", required=True, metavar="DUR", help="1h, 30m, 2h30m (multiples of 30m)")
    create.add_argument("--timezone", metavar="TZ", help="zone of --start (default: config timezone, else local)")
    create.set_defaults(handler=cmd_reserve_create)

    lst = cmds.add_parser("list", help="reservations, as a table or a timeline")
    lst.add_argument("--user", help="only this user's reservations")
    lst.add_argument("--status", metavar="STATUS", help="pending, active, completed or cancelled")
    lst.add_argument("--active", action="store_true", help="only reservations in effect now")
    lst.add_argument("--timeline", action="store_true", help="draw an 80-column timeline")
    lst.add_argument("--range", metavar="R", help="timeline window: 48h, -24h, -12h:+12h (with --timeline)")
    lst.add_argument("--from", dest="from_", metavar="TIME", help="timeline start (with --to and --timeline)")
    lst.add_argument("--to", metavar="TIME", help="timeline end (with --from and --timeline)")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(handler=cmd_reserve_list, usage=lst.error)

    get = cmds.add_parser("get", help="one reservation in detail")
    get.add_argument("id", metavar="ID", type=unsigned)
    get.add_argument("--json", action="store_true", help="machine-readable output")
    get.set_defaults(handler=cmd_reserve_get)

    cancel = cmds.add_parser("cancel", help="cancel a pending or active reservation")
    cancel.add_argument("id", metavar="ID", type=unsigned)
    cancel.set_defaults(handler=cmd_reserve_cancel)


def _zone(args):
    """`--timezone`, else config `timezone` (user config, then the system one), else local."""
    from ..core.reservations import resolve_zone

    name = getattr(args, "timezone", None)
    if name is None:
        name = _config_timezone(args)
    return resolve_zone(name)


def _config_timezone(args):
    import os

    from .. import paths
    from ..config import ConfigError, load

    try:
        tz = load(extra=args.config).timezone
        if tz is None and os.path.exists(paths.SYSTEM_CONFIG):
            tz = load(system=True).timezone
    except ConfigError as e:
        raise CliError(str(e)) from None
    return tz


# --------------------------------------------------------------------------- GPUs, groups
def cmd_reserve_create(args, client) -> int:
    from ..core.parse import parse_id_list
    from ..core.reservations import parse_duration, parse_time
    from ..protocol import CreateReservationParams

    if args.gpus is None and args.gpu_spec is None:
        raise CliError("Must specify either --gpus or --gpu-spec")
    import time

    start = parse_time(args.start, _zone(args), now=time.time())
    duration = parse_duration(args.duration)
    params = CreateReservationParams(user=args.user, start=start, duration=duration)
    if args.gpu_spec is not None:
        params.gpu_indices = parse_id_list(args.gpu_spec, what="GPU index")
    else:
        params.gpu_count = args.gpus
    r = _call("Failed to create reservation", client.create_reservation, params)
    print("Reservation created successfully.")
    print(f"  ReservationID={r.id}")
    return 0


def cmd_reserve_list(args, client) -> int:
    import time

    from ..core import reservations as core

    if not args.timeline and (args.range is not None or args.from_ is not None or args.to is not None):
        args.usage("--range/--from/--to can only be used with --timeline")
    if args.range is not None and (args.from_ is not None or args.to is not None):
        args.usage("--range cannot be combined with --from/--to")
    if (args.from_ is None) != (args.to is None):
        args.usage("--from and --to must be used together")
    zone = _zone(args)
    found = _call("Failed to list reservations", client.reservations, args.user, args.status, args.active)
    found.sort(key=lambda r: r.id)
    if args.json:
        print_json(found)
        return 0
    if not found:
        print("No reservations found.")
        return 0
    if args.timeline:
        # the window is read only when there is something to draw, as upstream does
        now = time.time()
        from .render.reservations import render_timeline

        window = core.window_from(now, zone, args.range, args.from_, args.to)
        print(render_timeline(found, now, window, zone))
        return 0
    from .render.reservations import TABLE_HEADERS, table_rows
    from .render.table import table

    print(table(TABLE_HEADERS, table_rows(found, zone)))
    return 0


def cmd_reserve_get(args, client) -> int:
    from .render.reservations import render_detail

    r = _call("Failed to get reservation", client.reservation, args.id)
    if args.json:
        print_json(r)
        return 0
    if r is None:
        print(f"Reservation {args.id} not found.")
        return 1
    print(render_detail(r, _zone(args)))
    return 0


def cmd_reserve_cancel(args, client) -> int:
    _call("Failed to cancel reservation", client.cancel_reservation, args.id)
    print(f"Reservation {args.id} cancelled successfully.")
    return 0


# --------------------------------------------------------------------------- quota
