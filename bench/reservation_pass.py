"""Cost of the aggregate reservation rule in one scheduling pass (pure `core.scheduler.plan`).

    python bench/reservation_pass.py [--jobs 10000] [--gpus 8]

Prints the time of a pass over N queued 1-GPU jobs of several users with 4 of 8 GPUs busy,
without reservations and with two Active ones (a count and an index reservation).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gflow.core.reservations import Reservation, ReservationGate  # noqa: E402
from gflow.core.scheduler import Gpu, PassInput, plan  # noqa: E402
from gflow.protocol import Job, JobState  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    users = ["alice", "bob", "carol", "dave"]
    gpus = [Gpu(i) for i in range(args.gpus)]
    running = [Job(id=10**6 + i, user=users[i % 4], gpus=1, state=JobState.RUNNING, gpu_ids=[i])
               for i in range(args.gpus // 2)]
    queue = [Job(id=i, user=users[i % 4], gpus=1) for i in range(1, args.jobs + 1)]
    active = [Reservation(id=1, user="alice", start=0, duration=3600, gpu_count=2),
              Reservation(id=2, user="bob", start=0, duration=3600, gpu_indices=[args.gpus - 1])]
    use: dict[str, list[int]] = {}
    for j in running:
        use.setdefault(j.user, []).extend(j.gpu_ids)

    def timed(with_gate: bool) -> float:
        samples = []
        for _ in range(args.repeat):
            gate = ReservationGate(active, range(args.gpus), use) if with_gate else None
            t0 = time.perf_counter()
            plan(PassInput(candidates=list(queue), running=list(running), gpus=gpus, reservations=gate))
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples) * 1000

    print(f"pass over {args.jobs} queued GPU jobs, {args.gpus} GPUs (median of {args.repeat}):")
    print(f"  no reservation:           {timed(False):8.2f} ms")
    print(f"  two active reservations:  {timed(True):8.2f} ms")


if __name__ == "__main__":
    main()
