"""The `Client` as a script uses it: one typed method per RPC method, answering the Structs
the method table names, against a real daemon (fake GPU backend)."""
from __future__ import annotations

import ast
import inspect
import os
import pwd
import re
import time
from pathlib import Path

import pytest

from gflow import client as client_module
from gflow import methods
from gflow.config import QuotaLimits
from gflow.core.quotas import QuotaRow
from gflow.core.reservations import Reservation
from gflow.core.stats import Stats, StatsTable
from gflow.protocol import CreateReservationParams, GflowError, GpusResult

ME = pwd.getpwuid(os.getuid()).pw_name
FOUR_GPUS = "gpu:\n  backend: fake\n  count: 4\n"
CLI = Path(client_module.__file__).resolve().parent / "cli"

# methods a script has no use for calling by name, each with the reason
NOT_CLIENT_METHODS: dict[str, str] = {}


def _methods_called_by_client() -> set[str]:
    """Method names the `Client` sends from its own code (string constants in its methods),
    including those of the classes it inherits them from (`AdminMethods`)."""
    found = set()
    for cls in client_module.Client.__mro__[:-1]:  # not `object`
        tree = ast.parse(inspect.getsource(cls))
        found |= {
            node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in methods.METHODS
        }
    return found


def test_every_method_in_the_table_has_a_client_method():
    missing = set(methods.METHODS) - set(NOT_CLIENT_METHODS) - _methods_called_by_client()
    assert not missing, f"add a typed Client method (or a reason in NOT_CLIENT_METHODS) for {sorted(missing)}"


def test_clis_send_typed_requests_through_client_methods():
    """No CLI names a method with `client.call(...)`: only the lean hot path (`call_lean`, plain
    maps encoded without msgspec) speaks method names directly."""
    offenders = [
        f"{path.relative_to(CLI)}:{n}"
        for path in sorted(CLI.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.call\(", line)
    ]
    assert not offenders, offenders


def test_gpus_come_back_as_a_struct(make_daemon):
    d = make_daemon(FOUR_GPUS)
    with d.client() as c:
        info = c.gpus()
        assert isinstance(info, GpusResult)
        assert sorted(g.index for g in info.gpus) == [0, 1, 2, 3]
        # ignoring needs NVML's process list (test_gctl covers it with the stand-in pynvml)
        with pytest.raises(GflowError, match="NVML is unavailable"):
            c.ignore_gpu_process(2, 4242)
        assert c.ignored_gpu_processes() == []


def test_quotas_set_list_and_remove(daemon):
    with daemon.client() as c:
        limits = c.set_quota("user", ME, max_running_jobs=3)
        assert isinstance(limits, QuotaLimits) and limits.max_running_jobs == 3
        rows = c.quotas()
        assert all(isinstance(r, QuotaRow) for r in rows)
        assert [r.limits.max_running_jobs for r in rows if r.scope == "user" and r.name == ME] == [3]
        c.remove_quota("user", ME)
        assert not [r for r in c.quotas() if r.scope == "user" and r.name == ME and r.limits.max_running_jobs == 3]


def test_reservations_round_trip(make_daemon):
    d = make_daemon(FOUR_GPUS)
    start = (int(time.time()) // 1800 + 2) * 1800  # a whole half-hour slot, an hour ahead
    with d.client() as c:
        made = c.create_reservation(CreateReservationParams(user=ME, gpu_count=1, start=start, duration=1800))
        assert isinstance(made, Reservation) and made.user == ME
        assert [r.id for r in c.reservations(user=ME)] == [made.id]
        assert c.reservation(made.id).id == made.id
        assert c.reservation(made.id + 1000) is None
        assert c.cancel_reservation(made.id).id == made.id
        with pytest.raises(GflowError):
            c.cancel_reservation(made.id + 1000)


def test_stats_of_a_finished_job(daemon):
    with daemon.client() as c:
        (job,) = c.wait([c.submit("true")], timeout=30)
        assert job.state.value == "Finished"
        stats = c.stats(users=[ME])
        assert isinstance(stats, Stats) and stats.user == ME and stats.completed_jobs == 1
        table = c.stats_by("user")
        assert isinstance(table, StatsTable)
