"""Fees on top of the machines: a managed control plane and a load balancer, per hour held
(hand-computed), and the sizing figures stay those of the machines."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

import capsim
from capsim.analysis.compare import compare


def _data() -> dict[str, Any]:
    return {
        "name": "fees",
        "duration": "2h",
        "tick": "60s",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": {"type": "constant", "rate": 20},
                "cpu_ms_per_request": 50,
                "slo": {"p95_latency_ms": 500},
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {"name": "p", "vcpu": 4, "memory": "16Gi", "price_per_hour": 0.2,
                     "min_nodes": 1, "max_nodes": 4}
                ],
                "workloads": {
                    "web": {"pod": {"cpu_request": "1", "memory_request": "1Gi"}, "replicas": 2}
                },
            },
            "vms": {
                "kind": "vm",
                "instance": {"vcpu": 2, "memory": "4Gi", "price_per_hour": 0.1},
                "workloads": {"web": {"instances": 2}},
            },
        },
    }  # fmt: skip


def _run(tmp_path: Path, data: dict[str, Any], name: str) -> capsim.RunResult:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return capsim.run(capsim.load_scenario(path))


def test_fees_add_to_the_cost_per_hour_held(tmp_path: Path) -> None:
    """2 h of a $0.10/h control plane and a $0.025/h load balancer on Kubernetes: $0.25;
    a $0.025/h load balancer on the VMs: $0.05. The machines cost what they did."""
    plain = _run(tmp_path, _data(), "plain")
    data = copy.deepcopy(_data())
    data["platforms"]["k8s"] |= {"control_plane_per_hour": 0.10, "load_balancer_per_hour": 0.025}
    data["platforms"]["vms"]["load_balancer_per_hour"] = 0.025
    fees = _run(tmp_path, data, "fees")
    before, after = plain.summary["platforms"], fees.summary["platforms"]
    assert after["k8s"]["fees_usd"] == pytest.approx(0.25)
    assert after["vms"]["fees_usd"] == pytest.approx(0.05)
    for name in ("k8s", "vms"):
        extra = after[name]["cost_usd"] - before[name]["cost_usd"]
        assert extra == pytest.approx(after[name]["fees_usd"])
        assert after[name]["nodes_max"] == before[name]["nodes_max"]
    rows = {r.label: r for r in compare(fees).rows}
    assert rows["of which fees (control plane, load balancer)"].values == pytest.approx(
        {"k8s": 0.25, "vms": 0.05}
    )
    assert "of which fees (control plane, load balancer)" not in {
        r.label for r in compare(plain).rows
    }


def test_spot_and_committed_use_bills_by_hand(tmp_path: Path) -> None:
    """Two fixed VMs at $0.10/h for 2 h: $0.40 on demand (fees $0.05 on top). At a $0.03/h
    spot price: 0.40 × 0.3 + 0.05 = $0.17. Committing the floor (2 VMs, all the time)
    at $0.06/h: 2 × 2 × 0.06 + 0 + 0.05 = $0.29."""
    data = copy.deepcopy(_data())
    vms = data["platforms"]["vms"]
    vms["load_balancer_per_hour"] = 0.025
    vms["instance"] |= {"spot_price_per_hour": 0.03, "committed_price_per_hour": 0.06}
    result = _run(tmp_path, data, "prices")
    p = result.summary["platforms"]["vms"]
    assert p["cost_usd"] == pytest.approx(0.45)
    assert p["nodes_p5"] == 2
    assert p["cost_at_spot_usd"] == pytest.approx(0.17)
    assert p["cost_committed_floor_usd"] == pytest.approx(0.29)
    k8s = result.summary["platforms"]["k8s"]  # no alternative prices given: none
    assert k8s["cost_at_spot_usd"] is None
    assert k8s["cost_committed_floor_usd"] is None
