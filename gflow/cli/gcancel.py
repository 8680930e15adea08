# PYTHON_ARGCOMPLETE_OK
"""gcancel: cancel jobs by id list (`42`, `1,3,5-7`, `@`, `@~2`; several arguments are fine too).

Hidden: `--finish ID` / `--fail ID` record a Running job's outcome by hand (owner or admin);
the daemon then stops a payload that is still running. An explicit fail is never retried.
"""
from __future__ import annotations

import sys

from .common import CliError, add_global_options, add_version, connect, run

PROG = "gcancel"


def build_parser() -> argparse.ArgumentParser:  # noqa: F821
    import argparse

    from .argparser import Parser
    from .options import number

    job_id = number("invalid job id '{}'", signs="")
    parser = Parser(prog=PROG, description="Cancel queued, held or running jobs.")
    add_version(parser, PROG)
    parser.add_argument("ids", nargs="*", metavar="LIST",
                        help="job ids and ranges: 42, 1,2,3, 1-5, 1,3,5-7; @ is your latest job, @~N your Nth most recent")
    parser.add_argument("--dry-run", action="store_true", help="show what would be cancelled, and what depends on it")
    parser.add_argument("--cancel", "--kill", action="store_true", help=argparse.SUPPRESS)
    # upstream accepts both at once and then reports the finish only
    parser.add_argument("--finish", type=job_id, metavar="ID", help=argparse.SUPPRESS)
    parser.add_argument("--fail", type=job_id, metavar="ID", help=argparse.SUPPRESS)
    add_global_options(parser)
    from . import completers

    completers.attach(parser, {"ids": completers.job_ids})
    return parser


def parse_ids(words: list[str]) -> list:
    """Ids (sorted) then `@`/`@~N` references, which the daemon resolves against your jobs."""
    from ..core.ids import parse_id_list, parse_job_ref

    ids: set[int] = set()
    refs: list[str] = []
    for word in words:
        items = word.split(",")
        for item in items:
            if item.strip().startswith("@"):
                ref = parse_job_ref(item)
                if ref not in refs:
                    refs.append(ref)
        plain = ",".join(item for item in items if not item.strip().startswith("@"))
        if plain.strip() or len(refs) == 0:
            ids.update(parse_id_list(plain))
    return sorted(ids) + refs


def _resolve(client, refs: list) -> list[int]:
    from ..errors import GflowError
    from . import lean

    ids = {ref for ref in refs if isinstance(ref, int)}
    for ref in refs:
        if isinstance(ref, str):
            try:
                ids.add(lean.decode(client.call_lean("jobs.resolve", lean.job_ref(ref))))
            except GflowError as e:
                raise CliError(e.message) from None
    return sorted(ids)


def cmd(args) -> int:
    if args.finish is not None or args.fail is not None:
        return _report_outcome(args)
    if not args.ids:
        raise CliError("No command specified. Use --finish <id>, --fail <id>, or provide job IDs to cancel")
    from . import lean

    refs = parse_ids(args.ids)
    with connect(args) as client:
        ids = _resolve(client, refs)
        if args.dry_run:
            return _dry_run(client, ids)
        result = lean.decode(client.call_lean("jobs.cancel", lean.ids_params(ids)))  # protocol.ActionResult
    for job_id in result.get("done", []):
        print(f"Job {job_id} cancelled.")
    for job_id, message in result.get("errors", []):
        # upstream words it `Failed to cancel job: <why>`
        print(f"{PROG}: error: Failed to cancel job: {message}", file=sys.stderr)
    return 1 if result.get("errors") else 0


def _report_outcome(args) -> int:
    from ..protocol import GflowError

    success = args.finish is not None
    job_id = args.finish if success else args.fail
    with connect(args) as client:
        try:
            client.report_outcome(job_id, success)
        except GflowError as e:
            raise CliError(f"Failed to {'finish' if success else 'fail'} job: {e.message}") from None
    return 0


def _dry_run(client, ids: list[int]) -> int:
    from ..protocol import ACTIVE_STATES, JobState

    jobs = {j.id: j for j in client.list(ids=ids)}
    waiting = [j for j in client.list(states=[JobState.QUEUED, JobState.HOLD]) if j.depends_on_ids]
    status = 0
    for job_id in ids:
        job = jobs.get(job_id)
        if job is None:
            print(f"{PROG}: error: Job {job_id} not found", file=sys.stderr)
            status = 1
            continue
        ok = job.state in ACTIVE_STATES
        print(f"{job_id}\t{job.state.value}\t{'ok' if ok else 'invalid'}")
        if ok:
            # every waiting dependent, also one listed itself (as upstream); unlike upstream
            # a job with several dependencies is found too
            for dep in waiting:
                if job_id in dep.depends_on_ids:
                    print(f"{dep.id}\t{dep.state.value}\tblocked\t{job_id}")
    return status


def main(argv=None) -> int:
    if argv is None:  # the gcancel process itself: see gqueue.main
        import gc

        gc.disable()
        from .common import exit_now

        exit_now(run(PROG, build_parser, cmd, argv, fast=PROG))
    return run(PROG, build_parser, cmd, argv, fast=PROG)


if __name__ == "__main__":
    sys.exit(main())
