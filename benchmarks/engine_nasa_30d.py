"""Benchmark: the whole NASA July 1995 per-minute trace (27.6 days) through one service,
on a Kubernetes platform and on a VM platform, each timed on its own.

Goal (issue "The discrete-event engine"): ≥ 200,000 simulated seconds per wall second
per platform on the 2-core machine (the month in under 15 s); issue "Fast" raised it to
≥ 500,000. The load is scaled so the service needs about 20 replicas at its peak. Each
platform first runs one simulated hour, untimed, so the compiled code is loaded before
the timings (as ``engine_vs_floor.py`` does); reading the trace is not timed.

Run: ``.venv/bin/python benchmarks/engine_nasa_30d.py``; figures go to
``benchmarks/README.md``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import capsim
from capsim.data import TRACES_DIR
from capsim.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
TRACE = TRACES_DIR / "nasa_http_1995-07_per_minute.csv"
DURATION_S = 27 * 86_400 + 13 * 3_600 + 32 * 60  # the trace's whole span: 27d13h32m

PLATFORMS: dict[str, dict[str, Any]] = {
    "kubernetes": {
        "kind": "kubernetes",
        "node_pools": [
            {
                "name": "general",
                "vcpu": 4,
                "memory": "16Gi",
                "price_per_hour": 0.194,
                "min_nodes": 1,
                "max_nodes": 12,
            }
        ],
        "workloads": {
            "web": {
                "pod": {"cpu_request": "500m", "cpu_limit": 1, "memory_request": "512Mi"},
                "hpa": {
                    "minReplicas": 2,
                    "maxReplicas": 40,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 60},
                            },
                        }
                    ],
                },
            }
        },
    },
    "vm": {
        "kind": "vm",
        "instance": {"vcpu": 2, "memory": "2Gi", "price_per_hour": 0.0168},
        "workloads": {"web": {"autoscaling": {"target_pct": 50, "min": 2, "max": 30}}},
    },
}


def scenario(
    platform: str, duration_s: int = DURATION_S, service_model: str = "expected"
) -> capsim.Scenario:
    """The benchmark's scenario on ``platform`` (its first ``duration_s``, under
    ``service_model``)."""
    data = {
        "name": f"nasa-30d-{platform}",
        "seed": 1995,
        "duration": duration_s,
        "service_model": service_model,
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "cpu_ms_per_request": 40,
                "concurrency": 4,
                "timeout": "10s",
                # peak 6.75 req/s × 150 ≈ 1000 req/s × 40 ms ≈ 40 cores: ~20 replicas of 2 cores
                "load": {
                    "type": "trace",
                    "path": str(TRACE),
                    "column": "requests_per_s",
                    "scale": 150,
                },
            }
        ],
        "platforms": {platform: PLATFORMS[platform]},
    }
    return parse_scenario(data, where="benchmark", base_dir=ROOT)


def main() -> None:
    print(f"NASA-HTTP July 1995, {DURATION_S / 86_400:.1f} simulated days per platform")
    for platform in PLATFORMS:  # compiled code loaded (or compiled) outside the timings
        capsim.run(scenario(platform, 3_600))
    for platform in PLATFORMS:
        month = scenario(platform)  # the trace read and the scenario checked: not timed
        start = time.perf_counter()
        result = capsim.run(month)
        seconds = time.perf_counter() - start
        totals = result.summary["platforms"][platform]
        web = totals["workloads"]["web"]
        print(
            f"{platform:<11} {seconds:6.1f} s wall  {DURATION_S / seconds:>10,.0f} sim-s/s  "
            f"(goal ≥ 500,000)  replicas max {web['replicas_max']}, "
            f"p95 {web['latency_p95_ms']:.0f} ms, cost ${totals['cost_usd']:.2f}"
        )


if __name__ == "__main__":
    main()
