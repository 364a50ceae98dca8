"""Benchmark: 100 services for 24 h at a 1 s tick on one node pool (up to 60 nodes),
each with an HPA, under the cluster autoscaler.

Goal (issue "The discrete-event engine"): ≤ 20 s wall and ≤ 1.5 GiB peak memory on the
2-core machine. Services differ in size (CPU per request, concurrency, pod requests) and
in load: diurnal cycles of different phase and height with Poisson noise.

Run: ``.venv/bin/python benchmarks/engine_cluster_day.py``; figures go to
``benchmarks/README.md``.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

import capsim
from capsim.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
SERVICES = 100


def scenario(
    services: int = SERVICES, duration: str = "24h", tick: str = "1s", max_nodes: int = 60
) -> capsim.Scenario:
    """``services`` services (each with its HPA) for ``duration`` at ``tick`` on one pool
    of up to ``max_nodes`` nodes."""
    rng = np.random.default_rng(2024)
    workloads: list[dict[str, Any]] = []
    configs: dict[str, Any] = {}
    for i in range(services):
        name = f"svc-{i:04d}" if services > 1000 else f"svc-{i:03d}"
        cpu_ms = float(rng.choice([5, 10, 20, 40]))
        base = float(rng.uniform(2, 20))
        workloads.append(
            {
                "kind": "service",
                "name": name,
                "cpu_ms_per_request": cpu_ms,
                "concurrency": int(rng.choice([1, 2, 4])),
                "timeout": "10s",
                "load": {
                    "type": "diurnal",
                    "base": base,
                    "peak": base * float(rng.uniform(2, 6)),
                    "period": "24h",
                    "peak_at": f"{int(rng.integers(8, 20))}h",
                    "poisson": True,
                },
            }
        )
        request = str(rng.choice(["250m", "500m", "1"]))
        configs[name] = {
            "pod": {"cpu_request": request, "cpu_limit": "1", "memory_request": "256Mi"},
            "hpa": {
                "minReplicas": 1,
                "maxReplicas": 20,
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
    data = {
        "name": "cluster-day",
        "seed": 7,
        "duration": duration,
        "tick": tick,
        "workloads": workloads,
        "platforms": {
            "cluster": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "general",
                        "vcpu": 8,
                        "memory": "32Gi",
                        "price_per_hour": 0.39,
                        "min_nodes": 3,
                        "max_nodes": max_nodes,
                    }
                ],
                "workloads": configs,
            }
        },
    }
    return parse_scenario(data, where="benchmark", base_dir=ROOT)


def main() -> None:
    start = time.perf_counter()
    result = capsim.run(scenario())
    seconds = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    cluster = result.summary["platforms"]["cluster"]
    print(
        f"100 services × 24 h at 1 s: {seconds:.1f} s wall (goal ≤ 20 s), "
        f"peak memory {peak_gib:.2f} GiB (goal ≤ 1.5), nodes max {cluster['nodes_max']:.0f}, "
        f"cost ${cluster['cost_usd']:.2f}"
    )


if __name__ == "__main__":
    main()
