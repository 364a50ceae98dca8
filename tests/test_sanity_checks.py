"""Checks after every run (``capsim.results.sanity``): each fires where the scenario makes
a figure misleading, with the numbers worked out by hand, and stays quiet otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import capsim
from capsim.analysis.compare import compare
from capsim.cli import main as cli


def _run(tmp_path: Path, data: dict[str, Any]) -> capsim.RunResult:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return capsim.run(capsim.load_scenario(path))


def _found(result: capsim.RunResult) -> dict[str, str]:
    return {c["check"]: c["message"] for c in result.summary["checks"]}


def _service(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "service",
        "name": "api",
        "load": {"type": "diurnal", "base": 20, "peak": 120, "period": "2h"},
        "cpu_ms_per_request": 60,
        "slo": {"p95_latency_ms": 500},
        **fields,
    }


def test_the_issues_vm_group_that_cannot_scale(tmp_path: Path) -> None:
    """Concurrency 4 on 8-vCPU VMs, 60 % target (issue 17): the app's cores are 8 × 0.98 −
    0.1 = 7.74, so a VM is busy at most 4 + 0.1 (guest OS) = 4.1 of 8 vCPUs: 51.25 %."""
    result = _run(
        tmp_path,
        {
            "name": "stuck",
            "duration": "2h",
            "tick": "60s",
            "workloads": [_service(concurrency=4)],
            "platforms": {
                "vms": {
                    "kind": "vm",
                    "instance": {"vcpu": 8, "memory": "32Gi", "price_per_hour": 0.4},
                    "workloads": {"api": {"autoscaling": {"target_pct": 60, "min": 2, "max": 20}}},
                }
            },
        },
    )
    found = _found(result)
    assert "a replica uses at most 51 %" in found["target_unreachable"]
    assert "CPU target of 60 %" in found["target_unreachable"]
    assert found["never_scaled"].startswith("the autoscaling group never scaled: 2 replica(s)")
    # printed with the verdict, and in the report
    lines = compare(result).checks
    assert any(line.startswith("vms · api: the autoscaling group's CPU target") for line in lines)


def _kubernetes(tmp_path: Path, name: str, service: dict[str, Any], hpa: dict[str, Any]) -> Any:
    return _run(
        tmp_path,
        {
            "name": name,
            "duration": "2h",
            "tick": "60s",
            "workloads": [service],
            "platforms": {
                "k8s": {
                    "kind": "kubernetes",
                    "node_pools": [
                        {
                            "name": "pool",
                            "vcpu": 16,
                            "memory": "64Gi",
                            "price_per_hour": 0.8,
                            "min_nodes": 1,
                            "max_nodes": 20,
                        }
                    ],
                    "workloads": {
                        "api": {
                            "pod": {"cpu_request": "2", "memory_request": "1Gi"},
                            "hpa": hpa,
                        }
                    },
                }
            },
        },
    )


def _cpu_hpa(target: int, low: int, high: int) -> dict[str, Any]:
    return {
        "minReplicas": low,
        "maxReplicas": high,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target},
                },
            }
        ],
    }


@pytest.mark.parametrize(("target", "fires"), [(50, True), (49, False)])
def test_an_hpa_target_a_pod_cannot_reach(tmp_path: Path, target: int, fires: bool) -> None:
    """One request at a time on a 2-core pod without a limit (capped at its request): at
    most 1 of 2 cores, 50 % of the request. A 50 % target is never passed; 49 % is."""
    result = _kubernetes(tmp_path, f"t{target}", _service(), _cpu_hpa(target, 2, 40))
    found = _found(result)
    assert ("target_unreachable" in found) is fires
    if fires:
        assert "a replica uses at most 50 %" in found["target_unreachable"]


def test_a_ceiling_too_low_and_latency_no_replica_fixes(tmp_path: Path) -> None:
    """maxReplicas 2 for a load needing 4 cores at its peak (5/s × 0.8 s; a 60 % target
    on 2-core pods wants 4 / 1.2 → 4 pods): at the ceiling with latency over the
    threshold. 800 ms of work per request against a 500 ms SLO: even idle, p95 is about
    800 × ln 20 ≈ 2.4 s. (Four requests at a time: a pod can use 100 % of its request.)"""
    result = _kubernetes(
        tmp_path,
        "low-max",
        _service(
            concurrency=4,
            cpu_ms_per_request=800,
            load={"type": "diurnal", "base": 1, "peak": 5, "period": "2h"},
        ),
        _cpu_hpa(60, 1, 2),
    )
    found = _found(result)
    assert "wanted its maximum of 2" in found["at_ceiling"]
    assert "the maximum is too low for this load" in found["at_ceiling"]
    assert "p95 never went below" in found["idle_latency_over_slo"]
    assert "above the SLO's 500 ms" in found["idle_latency_over_slo"]


def test_a_sound_configuration_raises_nothing(tmp_path: Path) -> None:
    """Four requests at a time on 2-core pods, a 60 % target, room to grow: quiet."""
    result = _kubernetes(tmp_path, "sound", _service(concurrency=4), _cpu_hpa(60, 2, 40))
    assert result.summary["checks"] == []
    assert compare(result).checks == []


def test_capsim_run_prints_the_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = {
        "name": "printed",
        "duration": "1h",
        "tick": "60s",
        "workloads": [_service(cpu_ms_per_request=800, load={"type": "constant", "rate": 1})],
        "platforms": {
            "vms": {
                "kind": "vm",
                "instance": {"vcpu": 2, "memory": "4Gi", "price_per_hour": 0.1},
                "workloads": {"api": {"instances": 2}},
            }
        },
    }
    path = tmp_path / "printed.yaml"
    path.write_text(yaml.safe_dump(data))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "\nchecks:\n  - vms · api: p95 never went below" in out
    page = (tmp_path / "r" / "index.html").read_text()
    assert "p95 never went below" in page
    assert "idle_latency_over_slo: the lowest p95 of any row above the SLO" in page
