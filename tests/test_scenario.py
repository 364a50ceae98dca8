"""Scenarios: a valid file becomes typed objects with units; bad ones give one clear error."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from capsim.data import EXAMPLES_DIR, SCENARIOS_DIR, TRACES_DIR
from capsim.scenario import (
    KubernetesPlatform,
    ScenarioError,
    ServiceWorkload,
    VmPlatform,
    gke_reserved,
    load_scenario,
)

ROOT = Path(__file__).resolve().parents[1]
TRACE = TRACES_DIR / "nasa_http_1995-07_per_minute.csv"

BASE: dict[str, Any] = {
    "name": "web-compare",
    "seed": 7,
    "duration": "24h",
    "workloads": [
        {
            "kind": "service",
            "name": "web",
            "load": {"type": "trace", "path": str(TRACE), "column": "requests_per_s", "scale": 40},
            "cpu_ms_per_request": 25,
            "concurrency": 4,
            "timeout": "10s",
            "slo": {"p95_latency_ms": 300},
        },
        {
            "kind": "batch",
            "name": "train",
            "arrivals": {"poisson_per_hour": 2},
            "workers": 4,
            "cpu": 2,
            "memory": "4Gi",
            "duration": {"distribution": "lognormal", "median": "20m", "p99": "1h"},
            "gang": True,
        },
    ],
    "platforms": {
        "k8s": {
            "kind": "kubernetes",
            "node_pools": [
                {
                    "name": "general",
                    "vcpu": 4,
                    "memory": "16Gi",
                    "price_per_hour": 0.19,
                    "min_nodes": 1,
                    "max_nodes": 10,
                },
            ],
            "workloads": {
                "web": {
                    "pod": {"cpu_request": "500m", "cpu_limit": 1, "memory_request": "512Mi"},
                    "hpa": {
                        "minReplicas": 2,
                        "maxReplicas": 30,
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
                },
                "train": {"pod": {"cpu_request": 2, "memory_request": "4Gi"}},
            },
        },
        "vm": {
            "kind": "vm",
            "instance": {"vcpu": 2, "memory": "4Gi", "price_per_hour": 0.096},
            "workloads": {
                "web": {"autoscaling": {"target_pct": 50, "min": 2, "max": 20}},
                "train": {"instance": {"vcpu": 4, "memory": "16Gi", "price_per_hour": 0.19}},
            },
        },
    },
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_valid_scenario_has_units_in_attributes(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE))
    assert scenario.duration_s == 86400.0
    web = scenario.workload("web")
    assert isinstance(web, ServiceWorkload)
    assert web.timeout_s == 10.0
    train = scenario.workload("train")
    assert train.kind == "batch"
    assert (train.cpu_millicores, train.memory_bytes) == (2000, 4 * 2**30)
    k8s = scenario.platforms["k8s"]
    assert isinstance(k8s, KubernetesPlatform)
    pool = k8s.node_pools[0]
    assert pool.vcpu_millicores == 4000
    pod = k8s.workloads["web"].pod
    assert pod is not None
    assert (pod.cpu_request_millicores, pod.cpu_limit_millicores) == (500, 1000)
    hpa = k8s.workloads["web"].hpa
    assert hpa is not None
    assert (hpa.min_replicas, hpa.max_replicas) == (2, 30)
    assert hpa.parsed_behavior is None  # no behavior: the legacy path
    assert k8s.metrics.sync_period_s == 15.0
    assert k8s.cluster_autoscaler.scale_down_unneeded_s == 600.0
    vm = scenario.platforms["vm"]
    assert isinstance(vm, VmPlatform)
    # 2 vCPU less 2 % hypervisor overhead less 100m guest OS = 1860m for the app.
    assert vm.instance.app_cpu_millicores == pytest.approx(1860.0)
    assert vm.workloads["web"].autoscaling is not None
    assert vm.workloads["web"].autoscaling.cooldown_s == 300.0


@pytest.mark.parametrize(
    ("vcpu", "memory_gib", "cpu_m", "memory_mib"),
    [
        # 8 vCPU: 60 + 10 + 10 + 4 × 2.5 = 90m. 32 GiB: 1 + 0.8 + 0.8 + 16 × 0.06 GiB
        # = 3.56 GiB = 3645.44 MiB, + 100 MiB eviction = 3745.44 MiB.
        (8000, 32, 90, 3745.44),
        # 2 vCPU: 60 + 10 = 70m. 4 GiB: 25 % = 1024 MiB + 100.
        (2000, 4, 70, 1124.0),
        # 1 vCPU: 60m. 256 GiB: 1 + .8 + .8 + 6.72 + 128 × 0.02 = 11.88 GiB + 100 MiB.
        (1000, 256, 60, 11.88 * 1024 + 100),
    ],
)
def test_gke_reservation_rule(vcpu: int, memory_gib: int, cpu_m: int, memory_mib: float) -> None:
    reserved = gke_reserved(vcpu, memory_gib * 2**30)
    assert reserved.cpu_millicores == cpu_m
    assert reserved.memory_bytes / 2**20 == pytest.approx(memory_mib, abs=0.01)


def edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def k8s(d: dict[str, Any]) -> dict[str, Any]:
    platform: dict[str, Any] = d["platforms"]["k8s"]
    return platform


def web_load(d: dict[str, Any]) -> dict[str, Any]:
    load: dict[str, Any] = d["workloads"][0]["load"]
    return load


BAD_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("wrong type", lambda d: d.update(seed="seven"), "seed: Input should be a valid integer"),
    (
        "unknown field",
        lambda d: d["workloads"][0].update(colour="red"),
        "workloads[0].colour: unknown field",
    ),
    ("negative duration", lambda d: d.update(duration="-1h"), "duration: not a duration: '-1h'"),
    (
        "zero duration",
        lambda d: d.update(duration=0),
        "duration: must be a positive duration, got 0",
    ),
    (
        "bad quantity",
        lambda d: d["platforms"]["vm"]["instance"].update(vcpu="two"),
        "platforms.vm.instance.vcpu: not a quantity: 'two'",
    ),
    (
        "node pool min > max",
        lambda d: k8s(d)["node_pools"][0].update(min_nodes=20),
        "platforms.k8s.node_pools[0]: min_nodes (20) > max_nodes (10)",
    ),
    (
        "hpa min > max",
        lambda d: k8s(d)["workloads"]["web"]["hpa"].update(minReplicas=40),
        "platforms.k8s.workloads.web.hpa.maxReplicas: must be greater than or equal to "
        "`minReplicas` (40), got 30",
    ),
    (
        "vm min > max",
        lambda d: d["platforms"]["vm"]["workloads"]["web"]["autoscaling"].update(min=30),
        "platforms.vm.workloads.web.autoscaling: min (30) > max (20)",
    ),
    (
        "missing trace",
        lambda d: web_load(d).update(path="traces/nope.csv"),
        "workloads[0].load.path: file not found: traces/nope.csv",
    ),
    ("unknown load type", lambda d: web_load(d).update(type="sine"), "workloads[0].load"),
    (
        "unknown workload on a platform",
        lambda d: k8s(d)["workloads"].update(
            db={"pod": {"cpu_request": 1, "memory_request": "1Gi"}}
        ),
        "platforms.k8s.workloads: unknown workload(s) ['db']",
    ),
    (
        "workload missing on a platform",
        lambda d: d["platforms"]["vm"]["workloads"].pop("train"),
        "platforms.vm.workloads: no configuration for workload(s) ['train']",
    ),
    (
        "two scaling modes",
        lambda d: k8s(d)["workloads"]["web"].update(replicas=3),
        "give only one of hpa, hpa_manifest, keda, keda_manifest and replicas",
    ),
    (
        "pod fits nowhere",
        lambda d: k8s(d)["workloads"]["train"]["pod"].update(cpu_request=8),
        "platforms.k8s.workloads.train.pod: requests fit on no node pool",
    ),
    (
        "limit below request",
        lambda d: k8s(d)["workloads"]["web"]["pod"].update(cpu_limit="100m"),
        "platforms.k8s.workloads.web.pod: cpu_limit must be >= cpu_request",
    ),
    (
        "bad hpa behavior",
        lambda d: k8s(d)["workloads"]["web"]["hpa"].update(behavior={"scaleUp": {"policies": []}}),
        "platforms.k8s.workloads.web.hpa.behavior.scaleUp.policies: must specify at least one",
    ),
    (
        "missing hpa manifest",
        lambda d: k8s(d)["workloads"]["web"].update(hpa=None, hpa_manifest="nope.yaml"),
        "platforms.k8s.workloads.web.hpa_manifest: file not found: nope.yaml",
    ),
    (
        "bad distribution",
        lambda d: d["workloads"][1].update(
            duration={"distribution": "lognormal", "median": "1h", "p99": "1m"}
        ),
        "workloads[1].duration: p99 (60 s) must be >= median (3600 s)",
    ),
    (
        "duplicate names",
        lambda d: d["workloads"][1].update(name="web"),
        "workloads[1].name: workload names must be unique, 'web' repeats workloads[0]",
    ),
    ("bad name", lambda d: d.update(name="Web Compare"), "name: String should match pattern"),
    (
        "arrivals both ways",
        lambda d: d["workloads"][1]["arrivals"].update(times=["1h"]),
        "workloads[1].arrivals: give exactly one of poisson_per_hour, times and path",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_scenario_gives_one_clear_error(
    tmp_path: Path, case: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = write(tmp_path, edit(change))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_platform_named_like_a_union_tag_keeps_its_name(tmp_path: Path) -> None:
    # The platform is called "vm" and its kind is "vm": only the tag leaves the path.
    path = write(tmp_path, edit(lambda d: d["platforms"]["vm"]["instance"].update(vcpu=-1)))
    with pytest.raises(ScenarioError, match=r": platforms\.vm\.instance\.vcpu: "):
        load_scenario(path)


def test_trace_problems_are_named(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp,requests_per_s\n0,1\n60,\n120,3\n")
    data = edit(lambda d: web_load(d).update(path="t.csv", column="requests_per_s"))
    with pytest.raises(ScenarioError, match=r"workloads\[0\]\.load: .*gap"):
        load_scenario(write(tmp_path, data))


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml: not valid YAML \(line 2"):
        load_scenario(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ScenarioError, match="expected a mapping at the top level"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "missing.yaml")


def test_hpa_manifest_path_is_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "hpa.yaml").write_text((EXAMPLES_DIR / "web-hpa.yaml").read_text())
    data = edit(lambda d: k8s(d)["workloads"]["web"].update(hpa=None, hpa_manifest="hpa.yaml"))
    scenario = load_scenario(write(tmp_path, data))
    platform = scenario.platforms["k8s"]
    assert isinstance(platform, KubernetesPlatform)
    assert platform.workloads["web"].hpa_manifest == Path("hpa.yaml")


@pytest.mark.parametrize("path", sorted((SCENARIOS_DIR).glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_scenarios_load(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.platforms


def test_default_delays_are_distributions(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE))
    k8s_platform = scenario.platforms["k8s"]
    assert isinstance(k8s_platform, KubernetesPlatform)
    pod = k8s_platform.workloads["web"].pod
    assert pod is not None
    assert pod.container_start.mean_s == pytest.approx(2.0, rel=0.2)
    assert k8s_platform.node_pools[0].provision.mean_s > 60.0
    vm_platform = scenario.platforms["vm"]
    assert isinstance(vm_platform, VmPlatform)
    assert vm_platform.instance.boot.mean_s > 35.0
