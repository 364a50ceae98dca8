"""The HPA in the loop: a load step from 20 % to 200 % of capacity gives the replica
trajectory worked out by hand below (sync times, start-up delays, default scale-up
policy, 300 s scale-down stabilization, the legacy path's inclusive window edge).

Setup: pods request and may use 1 core (concurrency 1, 100 ms CPU per request, so one
pod serves 10 req/s); target 50 %; minReplicas 4. Load 8 req/s (20 % of the 4 pods'
40 req/s; each pod at 20 %), stepping to 80 req/s (200 %) at t = 600 s. New pods run 2 s
after creation and are Ready 10 s later; metrics every 15 s; syncs every 15 s.

* **615: 4 → 8.** The window (600, 615] has the 4 pods saturated at 1 core, so 100 %
  and ratio 2 → 8. Allowed: default policy max(4 + 4, 2 × 4) = 8.
* **630: hold 8.** The 4 new pods (running at 617) have no sample yet (617 + 15 > 630):
  *missing*, filled with 0 on a scale-up. (4000 + 0) / 8000 = 50 % → ratio 1.
* **645: 8 → 16.** All 8 pods are saturated: 8 pods at capacity 80 req/s, plus the
  backlog. The new pods count: Ready at 627, and 627 + 15 ≤ 645. Ratio 2 → 16, allowed
  by max(8 + 4, 16).
* **660: hold 16.** The 8 new pods are missing (647 + 15 > 660) → 50 % → ratio 1.
* **675: 16 → 28.** From 627 the 8 pods run at ρ = 1 exactly: the queue keeps growing
  (as a regulated Brownian motion without drift, σ√(2t/π) per pod, on top of the 1080
  left from the overload) and holds about 1121 requests at 657. Then the 8 new pods are
  Ready: 16 in service, the rest (the queue of an M/M/1 at ρ = 0.5, 0.5 per pod, stays)
  drains at 160 − 80 = 80 req/s and is gone during tick 670. Per pod: 1.0 core for the
  ticks 660–669, 0.905 in tick 670 (144.8 served), 0.55 in tick 671 (the in-service count
  falls from 16 to 8: 88 served), then 0.5. The window (660, 675] means 0.864 → 86 % →
  ceil(1.72 × 16) = 28, allowed by max(20, 32).
* **690 to 975: hold 28.** 690 is conservative: 12 pods are missing, then the direction
  flips. From 705 on, 28 pods at 0.2857 cores → 28 % → proposal 16, but the 28s of 675
  and 690 are inside the 300 s scale-down window.
* **Scale-down to 16** with ``behavior`` (window edge strict): the last 28 (at 690) stops
  counting at 990. On the legacy path (inclusive edge) it still counts at 990, so 1005.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import capsim
from capsim.results.simulate import run

SCENARIO: dict[str, Any] = {
    "name": "hpa-step",
    "seed": 1,
    "duration": "1100s",
    "tick": "1s",
    "workloads": [
        {
            "kind": "service",
            "name": "web",
            "load": {"type": "step", "before": 8, "after": 80, "at": "600s"},
            "cpu_ms_per_request": 100,
            "concurrency": 1,
            "timeout": "300s",
        }
    ],
    "platforms": {
        "k8s": {
            "kind": "kubernetes",
            "node_pools": [
                {
                    "name": "big",
                    "vcpu": 8,
                    "memory": "32Gi",
                    "price_per_hour": 0.4,
                    "min_nodes": 5,
                    "max_nodes": 5,
                }
            ],
            "cluster_autoscaler": {"enabled": False},
            "workloads": {
                "web": {
                    "pod": {
                        "cpu_request": 1,
                        "cpu_limit": 1,
                        "memory_request": "256Mi",
                        "container_start": "2s",
                        "readiness_delay": "10s",
                    },
                    "hpa": {
                        "minReplicas": 4,
                        "maxReplicas": 40,
                        "metrics": [
                            {
                                "type": "Resource",
                                "resource": {
                                    "name": "cpu",
                                    "target": {"type": "Utilization", "averageUtilization": 50},
                                },
                            }
                        ],
                    },
                }
            },
        }
    },
}


def scale_events(tmp_path: Path, behavior: dict[str, Any] | None) -> list[tuple[float, int, int]]:
    data = yaml.safe_load(yaml.safe_dump(SCENARIO))
    if behavior is not None:
        data["platforms"]["k8s"]["workloads"]["web"]["hpa"]["behavior"] = behavior
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run(capsim.load_scenario(path))
    scales = result.events[result.events.kind == "scale"]
    return [(float(e.time_s), int(e["from"]), int(e["to"])) for _, e in scales.iterrows()]


@pytest.mark.parametrize(
    ("behavior", "down_at"), [({}, 990.0), (None, 1005.0)], ids=["default-behavior", "legacy"]
)
def test_step_trajectory(tmp_path: Path, behavior: dict[str, Any] | None, down_at: float) -> None:
    assert scale_events(tmp_path, behavior) == [
        (615.0, 4, 8),
        (645.0, 8, 16),
        (675.0, 16, 28),
        (down_at, 28, 16),
    ]
