"""Scenarios as typed objects: the schema (pydantic), load sources and traces, batch job
streams, delay distributions and the Kubernetes manifest schemas (no cluster client).

Everything a scenario file can say is parsed here, once, at the edge; the engine, the
fast path and the analysis only ever see the frozen objects.

The names below load their module on first use, so importing one module of this package
(``capsim.scenario.manifests``, say) does not build the whole schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capsim._lazy import load_attribute

if TYPE_CHECKING:
    from capsim.scenario.base import ScenarioError
    from capsim.scenario.platforms import (
        ClusterAutoscaler,
        KubernetesPlatform,
        KubernetesWorkload,
        MetricsPipeline,
        NodePool,
        PodTemplate,
        VmAutoscaling,
        VmInstance,
        VmPlatform,
        VmWorkload,
        gke_reserved,
        hpa_template,
        pod_template,
    )
    from capsim.scenario.schema import Scenario, load_scenario, parse_scenario, scenario_file
    from capsim.scenario.workloads import (
        BatchArrivals,
        BatchWorkload,
        ServiceTime,
        ServiceWorkload,
        Slo,
    )

_LAZY = {
    "BatchArrivals": "capsim.scenario.workloads",
    "BatchWorkload": "capsim.scenario.workloads",
    "ClusterAutoscaler": "capsim.scenario.platforms",
    "KubernetesPlatform": "capsim.scenario.platforms",
    "KubernetesWorkload": "capsim.scenario.platforms",
    "MetricsPipeline": "capsim.scenario.platforms",
    "NodePool": "capsim.scenario.platforms",
    "PodTemplate": "capsim.scenario.platforms",
    "Scenario": "capsim.scenario.schema",
    "ScenarioError": "capsim.scenario.base",
    "ServiceTime": "capsim.scenario.workloads",
    "ServiceWorkload": "capsim.scenario.workloads",
    "Slo": "capsim.scenario.workloads",
    "VmAutoscaling": "capsim.scenario.platforms",
    "VmInstance": "capsim.scenario.platforms",
    "VmPlatform": "capsim.scenario.platforms",
    "VmWorkload": "capsim.scenario.platforms",
    "gke_reserved": "capsim.scenario.platforms",
    "hpa_template": "capsim.scenario.platforms",
    "load_scenario": "capsim.scenario.schema",
    "parse_scenario": "capsim.scenario.schema",
    "scenario_file": "capsim.scenario.schema",
    "pod_template": "capsim.scenario.platforms",
}

__all__ = [
    "BatchArrivals",
    "BatchWorkload",
    "ClusterAutoscaler",
    "KubernetesPlatform",
    "KubernetesWorkload",
    "MetricsPipeline",
    "NodePool",
    "PodTemplate",
    "Scenario",
    "ScenarioError",
    "ServiceTime",
    "ServiceWorkload",
    "Slo",
    "VmAutoscaling",
    "VmInstance",
    "VmPlatform",
    "VmWorkload",
    "gke_reserved",
    "hpa_template",
    "load_scenario",
    "parse_scenario",
    "pod_template",
    "scenario_file",
]


def __getattr__(name: str) -> Any:
    return load_attribute(__name__, globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
