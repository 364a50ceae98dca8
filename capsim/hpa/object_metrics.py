"""The replica proposals of ``Object`` and ``External`` metrics, as upstream computes them.

Re-expressed from ``pkg/controller/podautoscaler/replica_calculator.go`` (``HPA.md`` §5):

* **Value target** (``GetObjectMetricReplicas``; ``GetExternalMetricReplicas`` after
  summing the series): ``ratio = usage / target``. With a current size other than 0: the
  current size when the ratio is within the tolerance band, else
  ``ceil(ratio × ready pods)``, the pods that are Running with Ready true (no timing
  rule; an error when the selector matches no pod at all). From 0: ``ceil(ratio)``, no
  tolerance (scale from zero).
* **AverageValue target** (``GetObjectPerPodMetricReplicas``,
  ``GetExternalPerPodMetricReplicas``): ``ratio = usage / (target × status replicas)``
  (the pods the Deployment has, ready or not); outside the band ``ceil(usage / target)``,
  else the status replicas. The usage reported per pod is ``ceil(usage / status
  replicas)``.

Usage and targets are int64 milli-units (``MilliValue``); ratios are float64 and replica
counts saturate at the int32 maximum, as upstream.
"""

from __future__ import annotations

import math

from capsim.hpa.types import MetricsError, Tolerances

__all__ = ["MAX_INT32", "average_value_replicas", "value_replicas"]

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


def _ceil(value: float) -> int:
    """``int32(math.Ceil(value))``, saturated at the int32 maximum (and at 0 below)."""
    if math.isnan(value):
        return 0
    if value >= MAX_INT32:
        return MAX_INT32
    return max(0, math.ceil(value))


def value_replicas(
    current_replicas: int,
    ready_pods: int,
    all_pods: int,
    usage_milli: int,
    target_milli: int,
    tolerances: Tolerances = Tolerances(),  # noqa: B008 - frozen value object
) -> int:
    """Replicas an Object or External metric with a ``Value`` target proposes (module
    docstring). ``ready_pods`` are Running and Ready, ``all_pods`` every pod the
    selector matches; raises :class:`MetricsError` when it matches none (and the size is
    not 0)."""
    if target_milli <= 0:
        raise ValueError(f"target value must be > 0, got {target_milli}")
    ratio = usage_milli / target_milli
    if current_replicas == 0:
        return _ceil(ratio)
    if tolerances.is_within(ratio):
        return current_replicas
    if all_pods == 0:
        raise MetricsError("no pods returned by selector while calculating replica count")
    return _ceil(ratio * ready_pods)


def average_value_replicas(
    status_replicas: int,
    usage_milli: int,
    target_milli: int,
    tolerances: Tolerances = Tolerances(),  # noqa: B008 - frozen value object
) -> tuple[int, int]:
    """``(replicas, usage per pod in milli-units)`` an Object or External metric with an
    ``AverageValue`` target proposes (module docstring); ``status_replicas`` is the
    Deployment's ``status.replicas``."""
    if target_milli <= 0:
        raise ValueError(f"target average value must be > 0, got {target_milli}")
    denominator = float(target_milli) * float(status_replicas)
    if denominator == 0.0:
        ratio = math.nan if usage_milli == 0 else math.inf
    else:
        ratio = usage_milli / denominator
    replicas = status_replicas
    if not tolerances.is_within(ratio):
        replicas = _ceil(usage_milli / target_milli)
    if float(usage_milli) >= float(MAX_INT64):
        per_pod = MAX_INT64
    else:
        per_pod = math.ceil(usage_milli / status_replicas) if status_replicas else 0
    return min(replicas, MAX_INT32), per_pod
