"""The warm start at time 0 and HPA defaulting, checked on small hand-built platforms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

import capsim
from capsim.engine.kubernetes import KubernetesSim
from capsim.scenario import KubernetesPlatform
from capsim.scenario.inputs import prepare_inputs
from capsim.scenario.manifests import HpaTemplate


def gpu_service(hpa: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GPU service on a platform whose first pool has no GPUs."""
    web: dict[str, Any] = {"pod": {"cpu_request": "1", "memory_request": "1Gi", "gpu": 1}}
    web |= {"hpa": hpa} if hpa is not None else {"replicas": 3}
    return {
        "name": "warm",
        "duration": "10m",
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "cpu_ms_per_request": 50,
                "load": {"type": "constant", "rate": 20},
            }
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "general",
                        "vcpu": 8,
                        "memory": "32Gi",
                        "price_per_hour": 0.4,
                        "max_nodes": 4,
                    },
                    {
                        "name": "gpu",
                        "vcpu": 8,
                        "memory": "32Gi",
                        "gpu": 1,
                        "price_per_hour": 0.9,
                        "max_nodes": 4,
                    },
                ],
                "workloads": {"web": web},
            }
        },
    }


def started(tmp_path: Path, data: dict[str, Any]) -> KubernetesSim:
    path = tmp_path / "warm.yaml"
    path.write_text(yaml.safe_dump(data))
    scenario = capsim.load_scenario(path)
    platform = scenario.platforms["k8s"]
    assert isinstance(platform, KubernetesPlatform)
    sim = KubernetesSim("k8s", platform, prepare_inputs(scenario), np.random.default_rng(0))
    sim.setup()
    return sim


def test_warm_gpu_pods_start_on_gpu_nodes_only(tmp_path: Path) -> None:
    """Three 1-GPU pods, a GPU-less pool listed first: three GPU nodes, none overcommitted."""
    sim = started(tmp_path, gpu_service())
    nodes = sim.cluster.nodes.nodes
    assert sorted(n.pool for n in nodes) == ["gpu", "gpu", "gpu"]
    assert all(n.used_gpu <= n.gpu for n in nodes)
    assert int(sim.cluster.pods.ready[0]) == 3


def test_an_empty_metrics_list_is_defaulted_like_none(tmp_path: Path) -> None:
    """autoscaling/v2 defaulting: no metrics, or ``metrics: []``, means CPU at 80 %."""
    for spec in ({"maxReplicas": 5}, {"maxReplicas": 5, "metrics": []}):
        (metric,) = HpaTemplate.model_validate(spec).metrics
        assert (metric.type, metric.resource_name) == ("Resource", "cpu")
        assert metric.target.average_utilization == 80
    sim = started(tmp_path, gpu_service({"minReplicas": 1, "maxReplicas": 5, "metrics": []}))
    assert [(r.resource, r.target) for r in sim.hpas.rows] == [("cpu", 80)]


def test_a_null_metrics_list_is_defaulted_too() -> None:
    (metric,) = HpaTemplate.model_validate({"maxReplicas": 5, "metrics": None}).metrics
    assert (metric.resource_name, metric.target.average_utilization) == ("cpu", 80)
