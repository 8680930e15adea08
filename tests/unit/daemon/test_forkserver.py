"""The fork server that starts shepherds: what happens when it dies, hangs or outlives its
daemon. Every job still runs exactly once, under a shepherd the daemon watches."""
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil

from gflow.daemon.executors import launcher
from gflow.daemon.executors.process import Executor

from executor_testing import Exits, make_spec, run, sh, wait_for_text, wait_gone


def _server(ex: Executor) -> psutil.Process:
    assert ex._forkserver is not None and ex._forkserver.pid, "no fork server is running"
    return psutil.Process(ex._forkserver.pid)


async def _served(tmp_path: Path) -> tuple[Exits, Executor]:
    """An executor whose fork server runs (it served job 1, which has ended)."""
    exits = Exits()
    ex = Executor(str(tmp_path / "runners"), exits)
    await ex.launch(make_spec(tmp_path, 1, ["true"]))
    await exits.wait(1)
    return exits, ex


def test_shepherds_are_forked_by_the_server_in_sessions_of_their_own(tmp_path):
    async def body():
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        # the payload's session is its shepherd's (field 6 of /proc/<pid>/stat)
        pid, created = await ex.launch(make_spec(tmp_path, 1, sh("cut -d' ' -f6 /proc/$$/stat > sid; sleep 0.5")))
        server = _server(ex)
        shepherd = psutil.Process(pid)
        facts = (shepherd.ppid() == server.pid, os.getsid(server.pid) != server.pid,
                 abs(shepherd.create_time() - created) < 0.05)
        status = await exits.wait(1)
        ex.close()
        return pid, facts, status

    pid, facts, status = run(body())
    assert facts == (True, True, True), "forked by the server (not a session leader), same start time"
    assert status.exit_code == 0
    assert int((tmp_path / "sid").read_text()) == pid, "the shepherd did not lead a session of its own"


def test_a_dead_server_is_replaced_and_the_next_job_runs(tmp_path):
    async def body():
        exits, ex = await _served(tmp_path)
        first = _server(ex)
        first.kill()
        first.wait(10)
        pid, _ = await ex.launch(make_spec(tmp_path, 2, sh("sleep 0.3; echo ran")))
        second = _server(ex).pid
        replaced = second != first.pid and psutil.Process(pid).ppid() == second
        status = await exits.wait(2)
        ex.close()
        return replaced, status

    replaced, status = run(body())
    assert replaced, "the second job was not forked by a new server"
    assert status.exit_code == 0
    assert (tmp_path / "2.log").read_text() == "ran\n"


def test_a_server_lost_before_it_read_the_request_leaves_the_job_to_a_spawned_shepherd(tmp_path):
    async def body():
        exits, ex = await _served(tmp_path)
        server = _server(ex)
        server.suspend()  # asked, never answers
        started = ex.launch(make_spec(tmp_path, 2, sh("echo $PPID > ppid; echo once >> runs")))
        assert ex.is_watched(2), "a job being started already holds its resources"
        server.kill()  # dies with the request unread
        pid, _ = await asyncio.wait_for(started, 15)
        status = await exits.wait(2)
        ex.close()
        return server.pid, pid, status

    server_pid, pid, status = run(body())
    assert status.exit_code == 0
    assert (tmp_path / "runs").read_text() == "once\n"
    assert int((tmp_path / "ppid").read_text()) == pid, "the payload ran under the shepherd reported"
    assert pid != server_pid


def test_a_silent_server_is_given_up_and_the_job_still_runs_once(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "ANSWER_TIMEOUT", 0.5)

    async def body():
        exits, ex = await _served(tmp_path)
        server = _server(ex)
        server.suspend()
        started = ex.launch(make_spec(tmp_path, 2, sh("echo once >> runs")))
        await asyncio.wait_for(started, 15)
        status = await exits.wait(2)
        gone = wait_gone(server.pid, 5)
        ex.close()
        return gone, status

    gone, status = run(body())
    assert gone, "the hung server was left behind"
    assert status.exit_code == 0
    assert (tmp_path / "runs").read_text() == "once\n"


def test_a_cancel_sent_while_the_shepherd_is_being_forked_reaches_the_job(tmp_path):
    async def body():
        exits, ex = await _served(tmp_path)
        started = ex.launch(make_spec(tmp_path, 2, ["sleep", "30"], grace_secs=5.0))
        assert not started.done() and ex.cancel(2), "the cancel was not kept for the shepherd"
        await started
        status = await exits.wait(2)
        ex.close()
        return status

    status = run(body())
    assert status.signal == signal.SIGTERM, status


def test_a_restarted_daemon_finds_forked_shepherds_it_never_recorded(tmp_path):
    """The daemon died after asking for shepherds and before saving their pids: the next one
    stops the old server, then finds each shepherd by its fd 2 (`<id>.err`) and adopts it."""
    runners = str(tmp_path / "runners")

    async def body():
        a = Executor(runners, Exits())
        pid, created = await a.launch(make_spec(tmp_path, 7, sh("echo ready; sleep 1; echo done")))
        await wait_for_text(tmp_path / "7.log", "ready")
        old_server = _server(a).pid
        a._forkserver._disconnect()  # as a crash leaves it: no goodbye, the pid file stays
        exits = Exits()
        b = Executor(runners, exits)
        found = b.find_unrecorded([7, 8])
        server_gone = wait_gone(old_server, 10)
        b.adopt(7, *found[7])
        status = await exits.wait(7)
        a.close()
        b.close()
        return (pid, created), found, server_gone, status

    (pid, created), found, server_gone, status = run(body())
    assert 8 not in found, "a job never asked for was taken as started"
    assert found[7][0] == pid and abs(found[7][1] - created) < 0.05
    assert server_gone, "the old fork server was not stopped before the search"
    assert status.exit_code == 0 and (tmp_path / "7.log").read_text() == "ready\ndone\n"


def test_the_server_leaves_with_its_daemon(tmp_path):
    async def body():
        ex = Executor(str(tmp_path / "runners"), Exits())
        await ex.launch(make_spec(tmp_path, 1, ["true"]))
        server = _server(ex).pid
        ex.close()
        return server

    server = run(body())
    assert wait_gone(server, 10)
    assert not Path(tmp_path / "runners" / "forkserver.pid").exists()


def test_the_server_reaps_each_shepherd_once_it_has_ended(tmp_path):
    async def body():
        exits = Exits()
        ex = Executor(str(tmp_path / "runners"), exits)
        pids = [(await ex.launch(make_spec(tmp_path, job_id, ["true"])))[0] for job_id in (1, 2, 3)]
        for job_id in (1, 2, 3):
            await exits.wait(job_id)
        server = _server(ex)
        deadline = asyncio.get_running_loop().time() + 10
        while asyncio.get_running_loop().time() < deadline and any(psutil.pid_exists(p) for p in pids):
            await asyncio.sleep(0.01)  # reaped in the server's own time: nothing to await here
        left = [p for p in pids if psutil.pid_exists(p)]
        alive = server.is_running()
        ex.close()
        return left, alive

    left, alive = run(body())
    assert left == [], "ended shepherds left as zombies of the fork server"
    assert alive
