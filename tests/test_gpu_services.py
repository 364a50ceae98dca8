"""GPU services (``gpu_ms_per_request``): the work runs on the replica's GPUs, the host
CPU apart. Checked against hand-computed figures and queueing theory, not the model's
own formulas: work conservation (GPUs busy = arrival rate × GPU time per request), the
host CPU (served × CPU per request), DCGM's utilization (busy over held), the M/M/1
processor-sharing mean response s / (1 − ρ), and the memory bound on concurrent work."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import capsim
from capsim.scenario import ScenarioError, ServiceWorkload
from capsim.scenario.schema import parse_scenario


def _scenario(
    rate: float = 15.0, replicas: int = 1, model: str = "expected", **service: Any
) -> dict[str, Any]:
    chat: dict[str, Any] = {
        "kind": "service",
        "name": "vision",
        "load": {"type": "constant", "rate": rate},
        "cpu_ms_per_request": 5,
        "gpu_ms_per_request": 40,
        "concurrency": 8,
        "timeout": "60s",
        **service,
    }
    return {
        "name": "gpu",
        "seed": 7,
        "duration": "2h",
        "service_model": model,
        "workloads": [chat],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "t4",
                        "vcpu": 8,
                        "memory": "30Gi",
                        "gpu": 1,
                        "gpu_memory": "16Gi",
                        "price_per_hour": 0.73,
                        "min_nodes": 0,
                        "max_nodes": 10,
                    }
                ],
                "workloads": {
                    "vision": {
                        "pod": {"cpu_request": "2", "memory_request": "4Gi", "gpu": 1},
                        "replicas": replicas,
                    }
                },
            }
        },
    }


def _summary(data: dict[str, Any], tmp_path: Path) -> tuple[dict[str, Any], Any]:
    result = capsim.run(parse_scenario(data, where="s.yaml", base_dir=tmp_path))
    platform = result.summary["platforms"]["k8s"]
    return platform, result.timeseries


def test_gpus_busy_are_the_work_and_the_cpu_is_the_host(tmp_path: Path) -> None:
    """15 req/s × 40 ms = 0.6 GPUs busy (work conservation, at any queue); the CPU is
    15 × 5 ms = 0.075 cores; DCGM's utilization of the one GPU held: 60 %."""
    platform, frame = _summary(_scenario(), tmp_path)
    rows = frame[frame["workload"] == "vision"]
    assert rows["gpu_used"].mean() == pytest.approx(0.6, rel=1e-9)
    assert rows["cpu_used_cores"].mean() == pytest.approx(0.075, rel=1e-9)
    assert rows["gpu_busy_pct"].mean() == pytest.approx(60.0, rel=1e-9)
    assert platform["gpu_utilization_pct"] == pytest.approx(60.0, rel=1e-6)


@pytest.mark.parametrize("model", ["expected", "exact"])
def test_mean_response_is_the_m_m_1_processor_sharing_one(tmp_path: Path, model: str) -> None:
    """One replica, one GPU, 8 slots sharing it (processor sharing), exponential work:
    E[T] = s / (1 − ρ) = 40 ms / 0.4 = 100 ms (Kleinrock), exact for the expected model's
    mean (Little) and within the sampling interval for the exact one."""
    platform, _ = _summary(_scenario(model=model), tmp_path)
    vision = platform["workloads"]["vision"]
    half = vision.get("latency_mean_ci95_ms", 0.0) if model == "exact" else 0.0
    tolerance = max(3.0 * half, 1e-6 * 100.0)
    assert abs(vision["latency_mean_ms"] - 100.0) <= tolerance


def test_gpu_memory_bounds_the_requests_in_service(tmp_path: Path) -> None:
    """16 GiB GPU, 6,000 MiB of weights, 2,000 MiB per request: ⌊(16,384 − 6,000) /
    2,000⌋ = 5 requests at once (below concurrency 8); the workload says so."""
    scenario = parse_scenario(
        _scenario(gpu_memory_mib=6000, gpu_memory_mib_per_request=2000),
        where="s.yaml",
        base_dir=tmp_path,
    )
    vision = scenario.workloads[0]
    assert isinstance(vision, ServiceWorkload)
    shape = vision.replica_shape(2.0, 1.0, 16384.0)
    assert shape.slots == 5
    assert shape.servers == 1
    assert math.isclose(shape.work_s, 0.040)
    assert shape.host_cpu_s == pytest.approx(0.005)


def test_a_gpu_service_needs_whole_gpus_and_room_for_its_weights(tmp_path: Path) -> None:
    data = _scenario()
    data["platforms"]["k8s"]["workloads"]["vision"]["pod"]["gpu"] = 0
    with pytest.raises(ScenarioError, match=r"workloads\.vision\.pod\.gpu: .*at least one"):
        parse_scenario(data, where="s.yaml", base_dir=tmp_path)
    with pytest.raises(ScenarioError, match="gpu_memory_mib 20000 does not fit"):
        parse_scenario(_scenario(gpu_memory_mib=20000), where="s.yaml", base_dir=tmp_path)
    plain = _scenario(gpu_memory_mib=100)
    del plain["workloads"][0]["gpu_ms_per_request"]
    with pytest.raises(ScenarioError, match="only for a GPU service"):
        parse_scenario(plain, where="s.yaml", base_dir=tmp_path)


def _hpa_on(data: dict[str, Any], metric: str, average_value: str) -> dict[str, Any]:
    config = data["platforms"]["k8s"]["workloads"]["vision"]
    del config["replicas"]
    config["hpa"] = {
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": metric},
                    "target": {"type": "AverageValue", "averageValue": average_value},
                },
            }
        ],
    }
    return data


def test_an_hpa_on_gpu_utilization_settles_where_the_hpa_rule_says(tmp_path: Path) -> None:
    """36 req/s × 40 ms = 1.44 GPUs busy; target 60 %: at 2 pods 72 % (ratio 1.2 →
    ⌈2.4⌉ = 3), at 3 pods 48 % (ratio 0.8 → ⌈2.4⌉ = 3): the warm size is 3. After a step
    to 60 req/s (2.4 GPUs busy) the HPA holds 4 pods at exactly 60 %."""
    data = _hpa_on(_scenario(rate=36.0), "gpu_utilization", "60")
    data["workloads"][0]["load"] = {"type": "step", "before": 36, "after": 60, "at": "30m"}
    _, frame = _summary(data, tmp_path)
    rows = frame[frame["workload"] == "vision"].set_index("time_s")
    assert rows["replicas_ready"].iloc[0] == 3
    assert rows["gpu_busy_pct"].iloc[0] == pytest.approx(48.0, rel=1e-9)
    assert rows["replicas_ready"].iloc[-1] == 4
    assert rows["gpu_busy_pct"].iloc[-1] == pytest.approx(60.0, rel=1e-9)


def test_gpu_and_kv_metrics_only_for_services_that_have_them(tmp_path: Path) -> None:
    cpu_service = _hpa_on(_scenario(), "gpu_utilization", "60")
    del cpu_service["workloads"][0]["gpu_ms_per_request"]
    with pytest.raises(ScenarioError, match=r"hpa\.metrics\[0\]\.pods\.metric\.name: only a"):
        parse_scenario(cpu_service, where="s.yaml", base_dir=tmp_path)
    gpu_service = _hpa_on(_scenario(), "kv_cache_usage", "500m")
    with pytest.raises(ScenarioError, match=r"an LLM service \(one with llm:\) reports kv_cache"):
        parse_scenario(gpu_service, where="s.yaml", base_dir=tmp_path)
