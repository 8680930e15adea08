"""A hostile account's requests: oversized, out of range, NUL-laden, deeply nested, or a
flood of bad ones. Each is refused with `bad_request` naming the limit, the daemon logs no
traceback, and a huge batch does not stop others from being served."""
from __future__ import annotations

import json

import msgspec

from accounts import NEEDS_ROOT  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)
from security._attack import (  # noqa: F401  (make_system_daemon is a fixture)
    Attack,
    acknowledged_job,
    assert_others_served,
    make_system_daemon,
)

pytestmark = NEEDS_ROOT

# attack -> (params of jobs.submit, or (method, params)), the text the refusal must name
SPEC = {"command": "true", "run_dir": "/"}
BAD_REQUESTS = {
    "a batch of 100,001 jobs": ({"jobs": [SPEC] * 100_001}, "100000"),
    "a 2 MiB command": ({"jobs": [dict(SPEC, command="x" * (2 << 20))]}, "1,048,576"),
    "a 1M-character name": ({"jobs": [dict(SPEC, name="n" * 1_000_000)]}, "512"),
    "scheduled_at=inf": ({"jobs": [dict(SPEC, scheduled_at=float("inf"))]}, "scheduled_at"),
    "scheduled_at=NaN": ({"jobs": [dict(SPEC, scheduled_at=float("nan"))]}, "scheduled_at"),
    "gpus=2**63": ({"jobs": [dict(SPEC, gpus=2**63)]}, "gpus"),
    "time_limit=2**64-1": ({"jobs": [dict(SPEC, time_limit=2**64 - 1)]}, "time_limit"),
    "a NUL in the run dir": ({"jobs": [dict(SPEC, run_dir="/tmp\0/x")]}, "NUL"),
    "a NUL in the command": ({"jobs": [dict(SPEC, command="echo a\0b")]}, "NUL"),
    "a NUL in an environment value": ({"jobs": [SPEC], "env": {"A": "x\0y"}}, "NUL"),
    "a 2 MiB environment": ({"jobs": [SPEC], "env": {f"V{i}": "v" * 1024 for i in range(2048)}}, "1,048,576"),
    "cancel of id 2**63": (("jobs.cancel", {"ids": [2**63]}), "ids"),
    "release at -inf": (("jobs.release", {"ids": [1], "at": float("-inf")}), "at"),
    "wait with a NaN timeout": (("jobs.wait", {"ids": [1], "timeout": float("nan")}), "timeout"),
}


def test_oversized_and_out_of_range_requests_are_bad_requests(make_system_daemon, accounts):
    daemon = make_system_daemon()
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    requests = []
    for name, (request, _) in BAD_REQUESTS.items():
        method, params = request if isinstance(request, tuple) else ("jobs.submit", request)
        requests.append({"id": len(requests) + 2, "method": method, "params": params})
    batch = daemon.base / "requests.msgpack"  # too big for a command line
    batch.write_bytes(msgspec.msgpack.encode(requests))
    batch.chmod(0o644)
    with Attack(daemon, bob, f"""
        import json
        s = session()
        answers = []
        for request in msgspec.msgpack.decode(open({str(batch)!r}, "rb").read()):
            s.sendall(frame(request))
            answers.append(reply(s).get("error") or {{}})
        print("ready", json.dumps(answers))
        hold()
    """, "bad requests") as a:
        answers = json.loads(a.ready.split(" ", 1)[1])
        for (name, (_, names)), error in zip(BAD_REQUESTS.items(), answers):
            assert error.get("code") == "bad_request", f"{name}: answered {error or 'success'}"
            assert names in error["message"], f"{name}: the refusal does not name the limit: {error['message']}"
        assert_others_served(daemon, alice, job_id, "bad requests")
    log = (daemon.base / "daemon.log").read_text(errors="replace")
    assert "Traceback" not in log, f"bad requests: the daemon logged a traceback:\n{log[-2000:]}"


def test_deep_nesting_and_a_flood_of_bad_refs_cost_nothing(make_system_daemon, accounts):
    attack = "msgpack nested 1000 deep, then 2,000 bad jobs.get refs"
    daemon = make_system_daemon()
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    with Attack(daemon, bob, """
        s = session()
        nested = b"\\x83" + enc("id") + enc(2) + enc("method") + enc("jobs.list") + enc("params") + b"\\x91" * 1000 + b"\\x90"
        s.sendall(struct.pack(">I", len(nested)) + nested)
        try:
            deep = reply(s).get("error", {}).get("code", "none")
        except (EOFError, OSError):
            deep = "hung-up"
        s = session()
        refs = ["99999999999999999999999", "-1", "@~0", "abc", "1" * 400, "\\u00b2", "@~99999999999999999999"]
        codes = set()
        for i in range(2000):
            s.sendall(frame({"id": i + 3, "method": "jobs.get", "params": {"ref": refs[i % len(refs)]}}))
            codes.add(reply(s).get("error", {}).get("code", "ok"))
        print("ready", deep, *sorted(codes))
        hold()
    """, attack) as a:
        deep, *codes = a.figures()
        assert deep == "bad_request", f"{attack}: deep nesting answered {deep}"
        assert "internal" not in codes, f"{attack}: bad refs were internal errors: {codes}"
        assert_others_served(daemon, alice, job_id, attack)
    log = (daemon.base / "daemon.log").read_text(errors="replace")
    assert "Traceback" not in log, f"{attack}: the daemon logged tracebacks:\n{log[-2000:]}"


def test_a_huge_batch_lets_others_be_served_meanwhile(make_system_daemon, accounts):
    attack = "one jobs.submit of 100,000 jobs"
    daemon = make_system_daemon()
    alice, bob = accounts["alice"], accounts["bob"]
    job_id = acknowledged_job(daemon, alice)
    with Attack(daemon, bob, f"""
        big = session()
        big.sendall(frame({{"id": 2, "method": "jobs.submit",
                           "params": {{"jobs": [{{"command": "true", "run_dir": "/", "hold": True}}] * 100_000}}}}))
        other = session()
        other.sendall(frame({{"id": 2, "method": "jobs.list", "params": {{"ids": [{job_id}]}}}}))
        import select
        order = []
        pending = {{big: "batch", other: "other"}}
        while pending:
            ready, _, _ = select.select(list(pending), [], [])
            for s in ready:
                answer = reply(s)
                if s is big:
                    made = len(answer["result"]["jobs"])
                order.append(pending.pop(s))
        print("ready", made, *order)
        hold()
    """, attack) as a:
        made, *order = a.figures()
        assert made == "100000", f"{attack}: the batch was not acknowledged whole ({made})"
        assert order == ["other", "batch"], f"{attack}: nobody else was served until it was done"
        assert_others_served(daemon, alice, job_id, attack)
    with daemon.client() as root:
        assert len(root.list(users=[bob.name])) == 100_000, f"{attack}: acknowledged jobs are missing"
