# PYTHON_ARGCOMPLETE_OK
"""ginfo: which GPUs are idle and which job holds the others (like sinfo)."""
from __future__ import annotations

import argparse
import sys

from .common import Parser, add_global_options, add_version, connect, run

PROG = "ginfo"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="GPU allocation overview: idle, reserved, restricted and allocated GPUs.")
    add_version(parser, PROG)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="count", default=0, help=argparse.SUPPRESS)
    add_global_options(parser)
    return parser


def rows(info) -> list[list[str]]:
    """Idle GPUs in one row (shared ones with room count as idle), then GPUs kept for a
    reservation or excluded by `gctl set-gpus`, then one row per holder: a job, each shared
    GPU with its jobs and the VRAM left, or a reason (an unmanaged process, …)."""
    idle = [g.index for g in info.gpus if g.available and g.allowed and g.reserved_for is None]
    out = []
    if idle:
        out.append(["gpu", str(len(idle)), ",".join(map(str, idle)), "idle", ""])
    reserved: dict[tuple[int, str], list[int]] = {}
    for g in info.gpus:
        if g.available and g.allowed and g.reserved_for is not None:
            reserved.setdefault((g.reservation_id, g.reserved_for), []).append(g.index)
    for (rid, user), indices in sorted(reserved.items(), key=lambda kv: min(kv[1])):
        out.append(["gpu", str(len(indices)), ",".join(map(str, indices)), "reserved",
                    f"({user}, reservation {rid})"])
    for r in info.count_reservations:
        out.append(["gpu", str(r.count), "any", "reserved", f"({r.user}, reservation {r.id})"])
    restricted = [g.index for g in info.gpus if g.available and not g.allowed]
    if restricted:
        out.append(["gpu", str(len(restricted)), ",".join(map(str, restricted)), "restricted",
                    "(gctl set-gpus)"])
    groups: dict[tuple[str, str], list[int]] = {}
    for g in info.gpus:
        if g.shared:
            state = "shared"
            label = ", ".join(f"{i} ({n})" for i, n in zip(g.job_ids, g.run_names))
            if g.free_mb is not None:
                label += f"; {_mb(g.free_mb)} free"
        elif g.available:
            continue
        elif g.job_ids:
            state, label = "allocated", f"{g.job_ids[0]} ({g.run_names[0]})"
        else:
            state, label = "allocated", f"({g.reason or 'unknown'})"
        if g.beside_pids:
            label += f"; shared with pid {','.join(map(str, g.beside_pids))}"
        groups.setdefault((state, label), []).append(g.index)
    for (state, label), indices in sorted(groups.items(), key=lambda kv: min(kv[1])):
        out.append(["gpu", str(len(indices)), ",".join(map(str, indices)), state, label])
    return out


def _mb(mb: int) -> str:
    return f"{mb // 1024}G" if mb and mb % 1024 == 0 else f"{mb}M"


def render(table: list[list[str]]) -> str:
    header = ["PARTITION", "GPUS", "NODES", "STATE", "JOB(REASON)"]
    widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
    lines = [" " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + " " for r in [header] + table]
    return "\n".join(lines)


def cmd(args) -> int:
    with connect(args) as client:
        info = client.gpus()
    if args.json:
        from .common import print_json

        print_json(info)
        return 0
    if info.gpus:
        print(render(rows(info)))
    else:  # say why, rather than print nothing (upstream's silence looked like a hang or a bug)
        print(f"No GPUs: {info.no_gpus or 'none detected'}.")
    return 0


def main(argv=None) -> int:
    return run(PROG, build_parser, cmd, argv)


if __name__ == "__main__":
    sys.exit(main())
