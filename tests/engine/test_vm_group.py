"""A VM group under the same kind of step: the alarm-driven trajectory, worked by hand.

Setup: VMs of 2 vCPU with no hypervisor overhead and a 100m guest OS, so the app gets
1.9 cores. The app runs at concurrency 2 and 100 ms CPU per request, so a server runs at
0.95 cores and a VM serves 19 req/s. Target 50 %, min 2, boot 40 s, warm-up 120 s.

* Load 10 req/s: two VMs at (0.5 + 0.1) / 2 = 30 %, held at the minimum. At t = 600 the
  load steps to 76 req/s (200 % of the two VMs' 38 req/s). Saturated VMs read
  (1.9 + 0.1) / 2 = 100 %.
* **780: 2 → 4.** The datapoints of 660, 720 and 780 are 3 of 3 above 50 %.
  ceil(2 × 100 / 50) = 4.
* 840, 900: still 100 %, but only the 2 warmed VMs count, so ceil(2 × 100 / 50) = 4
  adds nothing. The new VMs are in service at 820 and warm at 940.
* **960: 4 → 8.** Four warmed VMs at 100 %.
* **1140: 8 → 13.** The backlog (8360 requests, from 38 req/s of excess over 600–820)
  drains at 76 req/s from 1000 and is gone in tick 1109. The period (1080, 1140] then
  averages 30 s at 1.9 and 30 s at 0.95 app cores: 1.425 → (1.425 + 0.1) / 2 = 76.25 %.
  ceil(8 × 76.25 / 50) = 13.
* At 1020 the period is 100 % again. Only the 4 warmed VMs count: ceil(4 × 100 / 50)
  is exactly 8, so nothing changes, even with float noise in the 100 %.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import capsim
from capsim.results.simulate import run

SCENARIO: dict[str, Any] = {
    "name": "vm-step",
    "seed": 1,
    "duration": "1200s",
    "tick": "1s",
    "workloads": [
        {
            "kind": "service",
            "name": "web",
            "load": {"type": "step", "before": 10, "after": 76, "at": "600s"},
            "cpu_ms_per_request": 100,
            "concurrency": 2,
            "timeout": "300s",
        }
    ],
    "platforms": {
        "vm": {
            "kind": "vm",
            "instance": {
                "vcpu": 2,
                "memory": "4Gi",
                "price_per_hour": 0.1,
                "boot": "40s",
                "guest_os_cpu": "100m",
                "hypervisor_overhead_pct": 0,
            },
            "workloads": {
                "web": {
                    "autoscaling": {
                        "target_pct": 50,
                        "min": 2,
                        "max": 20,
                        "warmup": "120s",
                        "cooldown": "300s",
                    }
                }
            },
        }
    },
}


def test_alarm_trajectory(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    result = run(capsim.load_scenario(path))
    scales = result.events[result.events.kind == "scale"]
    trajectory = [
        (float(e.time_s), int(e["from"]), int(e["to"]), e.reason) for _, e in scales.iterrows()
    ]
    assert trajectory == [
        (780.0, 2, 4, "AlarmHigh"),
        (960.0, 4, 8, "AlarmHigh"),
        (1140.0, 8, 13, "AlarmHigh"),
    ]
    booted = result.events[result.events.kind == "vm_in_service"]
    assert list(booted.time_s[:2]) == [820.0, 820.0]
