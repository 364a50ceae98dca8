"""Scenarios as typed objects: the schema (pydantic), load sources and traces, batch job
streams, delay distributions and the Kubernetes manifest schemas (no cluster client).

Everything a scenario file can say is parsed here, once, at the edge; the engine, the
fast path and the analysis only ever see the frozen objects.
"""

from capsim.scenario.schema import (
    BatchArrivals,
    BatchWorkload,
    ClusterAutoscaler,
    KubernetesPlatform,
    KubernetesWorkload,
    MetricsPipeline,
    NodePool,
    PodTemplate,
    Scenario,
    ScenarioError,
    ServiceWorkload,
    Slo,
    VmAutoscaling,
    VmInstance,
    VmPlatform,
    VmWorkload,
    gke_reserved,
    load_scenario,
    parse_scenario,
    pod_template,
)

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
    "load_scenario",
    "parse_scenario",
    "pod_template",
]
