"""Scenarios as typed objects: the schema (pydantic), load sources and traces, batch job
streams, delay distributions and the Kubernetes manifest schemas (no cluster client).

Everything a scenario file can say is parsed here, once, at the edge; the engine, the
fast path and the analysis only ever see the frozen objects.
"""

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
from capsim.scenario.schema import Scenario, load_scenario, parse_scenario
from capsim.scenario.workloads import BatchArrivals, BatchWorkload, ServiceWorkload, Slo

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
]
