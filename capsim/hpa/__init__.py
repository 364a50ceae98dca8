"""Exact ``autoscaling/v2`` HorizontalPodAutoscaler maths, as pure functions.

Re-expressed from the upstream controller (``pkg/controller/podautoscaler`` in
kubernetes/kubernetes; each module names the upstream functions it follows). No wall
clock: every function takes ``now`` in float seconds. The scalar functions decide for one HPA; the
``*_batch`` functions make the same decisions for many homogeneous deployments at
once with NumPy.

Modules: :mod:`.types` (plain data), :mod:`.calculator` (one metric's proposal),
:mod:`.behavior` (``spec.behavior`` with API defaulting), :mod:`.normalize`
(stabilization, rate limits, one controller sync), :mod:`.batch_calculator` and
:mod:`.batch_normalize` (the same decisions for many deployments at once),
:mod:`.object_metrics` (Object and External metrics' proposals).
"""

from capsim.hpa.batch_calculator import (
    BatchReplicas,
    resource_replicas_batch,
    resource_replicas_counts,
)
from capsim.hpa.batch_normalize import (
    REASONS,
    BatchBehavior,
    BatchDecision,
    BatchHistory,
    BatchNormalized,
    normalize_batch,
    reconcile_batch,
    slots_for,
)
from capsim.hpa.behavior import (
    MAX_PERIOD_S,
    MAX_STABILIZATION_WINDOW_S,
    Behavior,
    ScalingPolicy,
    ScalingRules,
)
from capsim.hpa.calculator import (
    PodGroups,
    cpu_sample_unready,
    group_pods,
    pods_metric_replicas,
    resource_replicas,
)
from capsim.hpa.normalize import (
    Decision,
    HpaHistory,
    Normalized,
    normalize_replicas,
    reconcile,
    scale_down_limit,
    scale_up_limit,
)
from capsim.hpa.object_metrics import average_value_replicas, value_replicas
from capsim.hpa.types import MetricSample, MetricsError, PodInfo, ReplicaResult, Tolerances

__all__ = [
    "MAX_PERIOD_S",
    "MAX_STABILIZATION_WINDOW_S",
    "REASONS",
    "BatchBehavior",
    "BatchDecision",
    "BatchHistory",
    "BatchNormalized",
    "BatchReplicas",
    "Behavior",
    "Decision",
    "HpaHistory",
    "MetricSample",
    "MetricsError",
    "Normalized",
    "PodGroups",
    "PodInfo",
    "ReplicaResult",
    "ScalingPolicy",
    "ScalingRules",
    "Tolerances",
    "average_value_replicas",
    "cpu_sample_unready",
    "group_pods",
    "normalize_batch",
    "normalize_replicas",
    "pods_metric_replicas",
    "reconcile",
    "reconcile_batch",
    "resource_replicas",
    "resource_replicas_batch",
    "resource_replicas_counts",
    "scale_down_limit",
    "scale_up_limit",
    "slots_for",
    "value_replicas",
]
