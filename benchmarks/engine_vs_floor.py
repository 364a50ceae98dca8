"""Benchmark: the engine against its SimPy floor (issue "Fast": within 5×).

The floor is a bare SimPy loop with one process per periodic job of the engine's own
schedule on the same scenario — the load tick, the record row, the metrics scrape, the
HPA sync and the cluster autoscaler, at the periods the scenario gives them — each
process doing nothing but waiting for its next instant. It is what any SimPy engine of
this schedule costs before doing model work. Both sides run in this process, in turn,
``--repeat`` times; the medians and their ratio are printed. The scenario is
``engine_nasa_30d.py``'s Kubernetes platform over ``--days`` (default 3) of the trace.

Also printed: the engine's simulated seconds per wall second on that span.

Run: ``.venv/bin/python benchmarks/engine_vs_floor.py [--days 3] [--repeat 3]``; figures
go to ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Generator
from typing import Any

import simpy
from engine_nasa_30d import scenario as nasa_scenario

import capsim
from capsim.scenario import KubernetesPlatform
from capsim.scenario.grid import run_grid


def schedule(days: float) -> tuple[float, list[tuple[str, float]]]:
    """The run's length and its periodic jobs (name, period in seconds)."""
    scenario = nasa_scenario("kubernetes", int(days * 86_400))
    platform = scenario.platforms["kubernetes"]
    assert isinstance(platform, KubernetesPlatform)
    grid = run_grid(scenario, "benchmark")
    jobs = [
        ("load tick", grid.tick_s),
        ("record", grid.record_every_s),
        ("metrics scrape", platform.metrics.metric_resolution_s),
        ("HPA sync", platform.metrics.sync_period_s),
    ]
    if platform.cluster_autoscaler.enabled:
        jobs.append(("cluster autoscaler", platform.cluster_autoscaler.scan_interval_s))
    return scenario.duration_s, jobs


def floor(duration_s: float, jobs: list[tuple[str, float]]) -> int:
    """Run the bare loop; returns the number of events it processed."""
    env = simpy.Environment()
    count = [0]

    def periodic(period_s: float) -> Generator[simpy.Event, Any, None]:
        while True:
            count[0] += 1
            yield env.timeout(period_s)

    for _, period_s in jobs:
        env.process(periodic(period_s))
    env.run(until=duration_s)
    return count[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    duration_s, jobs = schedule(args.days)
    scenario = nasa_scenario("kubernetes", int(args.days * 86_400))
    capsim.run(nasa_scenario("kubernetes", 3600))  # load compiled code outside the timings
    engine: list[float] = []
    bare: list[float] = []
    events = 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        capsim.run(scenario)
        engine.append(time.perf_counter() - start)
        start = time.perf_counter()
        events = floor(duration_s, jobs)
        bare.append(time.perf_counter() - start)
    e, f = statistics.median(engine), statistics.median(bare)
    print(f"NASA-HTTP July 1995 ×150, {args.days:g} days, Kubernetes; {args.repeat} runs each")
    print("schedule: " + ", ".join(f"{name} every {p:g} s" for name, p in jobs))
    print(f"engine  median {e:6.2f} s (min {min(engine):.2f}, max {max(engine):.2f}), "
          f"{duration_s / e:,.0f} simulated s per wall s")  # fmt: skip
    print(f"floor   median {f:6.2f} s (min {min(bare):.2f}, max {max(bare):.2f}), "
          f"{events:,} events")  # fmt: skip
    print(f"engine / floor: {e / f:.1f}× (goal ≤ 5×)")


if __name__ == "__main__":
    main()
