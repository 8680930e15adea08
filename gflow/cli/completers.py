"""Value completion for argcomplete: job ids (yours, active first, described by name and
state), states, gqueue fields, output formats, users and reservation ids.

Each completer answers from the daemon when it needs to and is silent when it cannot reach
it: a completion must never print an error into the user's command line.
"""
from __future__ import annotations

MAX_FINISHED = 30  # after the active ones, your most recent ended jobs (`gjob log`, `redo`)


def _comma_aware(prefix: str, choices) -> dict:
    """Complete the last item of a comma list (`-s R,P` → `R,PD`, `R,Queued`)."""
    head, comma, last = prefix.rpartition(",")
    lead = head + comma
    if isinstance(choices, dict):
        return {lead + c: d for c, d in choices.items() if c.lower().startswith(last.lower())}
    return {lead + c: "" for c in choices if c.lower().startswith(last.lower())}


def _client(parsed_args):
    from ..client import Client

    return Client(getattr(parsed_args, "socket", None), timeout=2).connect()


def _my_jobs(parsed_args) -> list[dict]:
    """Your jobs as plain maps: every active one, then your most recent ended ones."""
    import os
    import pwd

    from ..core.states import ACTIVE, TERMINAL
    from . import lean

    try:
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        me = str(os.geteuid())
    with _client(parsed_args) as client:
        active = lean.decode(client.call_lean("jobs.list", lean.list_params(list(ACTIVE), [me])))
        ended = lean.decode(client.call_lean("jobs.list", lean.list_params(list(TERMINAL), [me])))
    ended.sort(key=lambda j: j.get("id", 0), reverse=True)
    return sorted(active, key=lambda j: j.get("id", 0)) + ended[:MAX_FINISHED]


def job_ids(prefix, parsed_args=None, **_):
    """Job ids with `run name (state)` as the description shells show beside them."""
    try:
        jobs = _my_jobs(parsed_args)
    except Exception:  # no daemon, refused, anything: no suggestions rather than noise
        return {}
    choices = {str(j["id"]): f"{j.get('run_name') or '-'} ({j.get('state', 'Queued')})" for j in jobs}
    choices.update({"@": "your latest job", "@~2": "your job before that"})
    return _comma_aware(prefix, choices)


def states(prefix, **_):
    from ..core.states import STATES

    choices = {code: name for name, code in STATES}
    choices.update({name: code for name, code in STATES})
    return _comma_aware(prefix, choices)


def gqueue_fields(prefix, **_):
    from .gqueue import FIELDS

    return _comma_aware(prefix, FIELDS)


def outputs(*names: str):
    def complete(prefix, **_):
        return [n for n in names if n.startswith(prefix.lower())]

    return complete


def users(prefix, **_):
    """Accounts people log in with (uid 0 and ≥ 1000), plus `all`."""
    import pwd

    names = sorted({p.pw_name for p in pwd.getpwall() if p.pw_uid == 0 or 1000 <= p.pw_uid < 65534})
    return _comma_aware(prefix, ["all", *names])


def reservation_ids(prefix, parsed_args=None, **_):
    try:
        from ..wire import unpackb

        with _client(parsed_args) as client:
            found = unpackb(client.call_lean("reservations.list", {}))
    except Exception:
        return {}
    return {str(r["id"]): f"{r.get('user', '?')} {r.get('status', '')}".strip()
            for r in found if str(r.get("id", "")).startswith(prefix)}


def attach(parser, by_dest: dict) -> None:
    """Give every argument whose dest is in `by_dest` (in `parser` and its subcommands) that
    completer; one call per tool keeps the parsers' own lines untouched."""
    seen = set()
    stack = [parser]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for action in current._actions:
            completer = by_dest.get(action.dest)
            if completer is not None:
                action.completer = completer
            if isinstance(action.choices, dict):  # subcommands
                stack.extend(action.choices.values())
