"""Benchmark: the engine's cost against the number of services (issue "Fast": linear).

``engine_cluster_day.py``'s services (diurnal loads with Poisson noise, an HPA each, one
cluster-autoscaled pool) at a 60 s tick, in two sizes, each in its own process so that
its peak memory is its own:

* 100 services × 7 days: goal ≤ 20 s wall and ≤ 1 GiB peak;
* 1,000 services × 1 day: goal ≤ 30 s wall.

Printed per size: wall seconds, peak resident memory, and wall milliseconds per
service-day (constant when the cost is linear in services × time).

Run: ``.venv/bin/python benchmarks/engine_many_services.py``; figures go to
``benchmarks/README.md``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = ((100, 7, 20.0, 1.0), (1000, 1, 30.0, None))  # services, days, goal s, goal GiB


def one(services: int, days: int) -> None:
    """Run one size in this process and print its figures as JSON."""
    sys.path.insert(0, str(HERE))
    import engine_cluster_day

    import capsim

    scenario = engine_cluster_day.scenario(
        services, duration=f"{days}d", tick="60s", max_nodes=max(60, services * 6 // 10)
    )
    start = time.perf_counter()
    capsim.run(scenario)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"seconds": seconds, "peak_gib": peak}))


def main() -> None:
    if len(sys.argv) == 3:
        one(int(sys.argv[1]), int(sys.argv[2]))
        return
    for services, days, goal_s, goal_gib in CASES:
        done = subprocess.run(
            [sys.executable, __file__, str(services), str(days)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        seconds, peak = figures["seconds"], figures["peak_gib"]
        met = seconds <= goal_s and (goal_gib is None or peak <= goal_gib)
        memory_goal = f" (goal ≤ {goal_gib:g})" if goal_gib is not None else ""
        print(
            f"{services:>5} services × {days} d: {seconds:6.1f} s wall (goal ≤ {goal_s:g}), "
            f"peak {peak:.2f} GiB{memory_goal}, "
            f"{1000 * seconds / (services * days):.1f} ms per service-day, "
            f"goal {'met' if met else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
