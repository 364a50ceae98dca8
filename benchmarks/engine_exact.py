"""Benchmark: ``service_model: exact`` against the default expected model, in one run.

The scenario of ``engine_nasa_30d.py`` (one service behind an HPA on the NASA July 1995
per-minute trace, ×150: about 1,000 req/s at the peak, 40 ms per request) over its first
two days, on Kubernetes, once per service model; each is run ``--repeat`` times and the
median is printed with the requests simulated per wall second of the exact mode.

Run: ``.venv/bin/python benchmarks/engine_exact.py [--days 2] [--repeat 3]``; figures go
to ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from engine_nasa_30d import scenario as nasa_scenario

import capsim


def scenario(model: str, days: float) -> capsim.Scenario:
    return nasa_scenario("kubernetes", int(days * 86_400), model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    capsim.run(scenario("exact", 0.05))  # compile outside the timings
    timings: dict[str, list[float]] = {"expected": [], "exact": []}
    summaries = {}
    for _ in range(args.repeat):
        for model in timings:
            start = time.perf_counter()
            result = capsim.run(scenario(model, args.days))
            timings[model].append(time.perf_counter() - start)
            summaries[model] = result.summary["platforms"]["kubernetes"]["workloads"]["web"]
    print(f"NASA-HTTP July 1995 ×150, first {args.days:g} days, Kubernetes, {args.repeat} runs")
    for model, runs in timings.items():
        web = summaries[model]
        line = (
            f"{model:<9} median {statistics.median(runs):6.2f} s (min {min(runs):.2f}, "
            f"max {max(runs):.2f})  p95 {web['latency_p95_ms']:.1f} ms"
        )
        if model == "exact":
            rate = web["requests_arrived"] / statistics.median(runs)
            line += (
                f" ± {web['latency_p95_ci95_ms']:.1f}, {web['requests_arrived']:,.0f} "
                f"requests, {rate:,.0f} requests per wall second"
            )
        print(line)
    ratio = statistics.median(timings["exact"]) / statistics.median(timings["expected"])
    print(f"exact / expected: {ratio:.1f}×")


if __name__ == "__main__":
    main()
