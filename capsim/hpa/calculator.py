"""The HPA replica calculator: one metric's replica proposal, as upstream computes it.

Re-expressed from ``pkg/controller/podautoscaler/replica_calculator.go`` and
``metrics/utilization.go`` (see ``HPA.md`` §3–4). Modelling notes:

* Utilization is ``floor(100 · Σusage / Σrequest)`` over the ready pods with samples, an
  integer percent, and that integer is what the tolerance test and ``ceil`` use.
* The fast path multiplies by the number of ready pods with samples; the conservative
  path (missing or, on a scale-up, unready pods) fills those pods in, recomputes, and
  multiplies by the number of sample entries (filled pods and samples of unknown pods).
* Replica arithmetic is IEEE float64 then ``ceil``; averages are int64 integer division.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from capsim.hpa.types import MetricSample, MetricsError, PodInfo, ReplicaResult, Tolerances

__all__ = [
    "PodGroups",
    "cpu_sample_unready",
    "cpu_unready_rule",
    "group_pods",
    "pods_metric_replicas",
    "resource_replicas",
]


@dataclass(frozen=True)
class PodGroups:
    """Upstream ``groupPods`` output: ready pods with samples and the named pod sets."""

    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def cpu_sample_unready(
    *,
    ready: bool | None,
    start_s: float | None,
    ready_transition_s: float,
    sample_time_s: float,
    window_s: float,
    now: float,
    cpu_initialization_period_s: float,
    initial_readiness_delay_s: float,
    same_instant_s: float = 0.0,
) -> bool:
    """The readiness and start-up rule that applies to CPU only (``HPA.md`` §3.2 step 4):
    True when the pod's CPU sample is left out and the pod counts as unready.

    ``ready`` is the pod's Ready condition (None: no condition), ``start_s`` its
    ``status.startTime`` (None: not started), ``ready_transition_s`` the condition's last
    transition (``-inf`` when unknown). Inside the CPU initialization period only a Ready
    pod with one full metric window collected since it became Ready counts; afterwards
    only a pod that is not Ready and has never been Ready since its start is left out.

    ``same_instant_s``: times closer than this count as equal (the engine's float clock;
    upstream compares exactly, which is the default 0).
    """
    if ready is None or start_s is None:
        return True
    return cpu_unready_rule(
        ready,
        start_s,
        ready_transition_s,
        sample_time_s,
        window_s,
        now,
        cpu_initialization_period_s,
        initial_readiness_delay_s,
        same_instant_s,
    )


def cpu_unready_rule(
    ready: bool,
    start_s: float,
    ready_transition_s: float,
    sample_time_s: float,
    window_s: float,
    now: float,
    cpu_initialization_period_s: float,
    initial_readiness_delay_s: float,
    same_instant_s: float,
) -> bool:
    """:func:`cpu_sample_unready` for a pod that has a Ready condition and a start time:
    plain numbers and a bool, so the fast path's compiled kernel runs this very rule."""
    if start_s + cpu_initialization_period_s > now + same_instant_s:
        return (not ready) or sample_time_s + same_instant_s < ready_transition_s + window_s
    return (not ready) and (
        start_s + initial_readiness_delay_s > ready_transition_s + same_instant_s
    )


def _is_unready_cpu_pod(
    pod: PodInfo,
    sample: MetricSample,
    now: float,
    cpu_initialization_period_s: float,
    initial_readiness_delay_s: float,
) -> bool:
    transition = -math.inf if pod.ready_transition_time is None else pod.ready_transition_time
    return cpu_sample_unready(
        ready=pod.ready,
        start_s=pod.start_time,
        ready_transition_s=transition,
        sample_time_s=sample.timestamp,
        window_s=sample.window_s,
        now=now,
        cpu_initialization_period_s=cpu_initialization_period_s,
        initial_readiness_delay_s=initial_readiness_delay_s,
    )


def group_pods(
    pods: Sequence[PodInfo],
    metrics: Mapping[str, MetricSample],
    *,
    resource: str,
    now: float,
    cpu_initialization_period_s: float,
    initial_readiness_delay_s: float,
) -> PodGroups:
    """Classify pods as upstream ``groupPods`` does, in its order of checks.

    Deleted or Failed → ignored; Pending → unready; no sample → missing; for ``cpu`` only,
    the readiness and start-up timing rules → unready; everything else counts as ready.
    """
    ready_count = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleted or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        sample = metrics.get(pod.name)
        if sample is None:
            missing.add(pod.name)
            continue
        if resource == "cpu" and _is_unready_cpu_pod(
            pod, sample, now, cpu_initialization_period_s, initial_readiness_delay_s
        ):
            unready.add(pod.name)
            continue
        ready_count += 1
    return PodGroups(ready_count, frozenset(unready), frozenset(missing), frozenset(ignored))


def _utilization_ratio(
    values: Mapping[str, int], requests: Mapping[str, int], target_utilization: int
) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio``: (ratio, integer utilization %, raw average milli).

    Sums run over sample entries of known pods only (entries without a request are
    samples of pods that do not exist).
    """
    usage_total = 0
    request_total = 0
    entries = 0
    for name, value in values.items():
        request = requests.get(name)
        if request is None:
            continue
        usage_total += value
        request_total += request
        entries += 1
    if request_total == 0:
        raise MetricsError("no metrics returned matched known pods")
    utilization = (usage_total * 100) // request_total
    return utilization / target_utilization, utilization, usage_total // entries


def _usage_ratio(values: Mapping[str, int], target_milli: int) -> tuple[float, int]:
    """``GetMetricUsageRatio``: (ratio, integer average) over every sample entry."""
    average = sum(values.values()) // len(values)
    return average / target_milli, average


def _pod_requests(pods: Sequence[PodInfo], resource: str) -> dict[str, int]:
    """``calculateRequests``: every listed pod needs a request, ignored pods included."""
    requests: dict[str, int] = {}
    for pod in pods:
        if pod.request_milli is None:
            raise MetricsError(f"missing request for {resource} in pod {pod.name}")
        requests[pod.name] = pod.request_milli
    return requests


def _grouped_samples(
    pods: Sequence[PodInfo],
    metrics: Mapping[str, MetricSample],
    resource: str,
    now: float,
    cpu_initialization_period_s: float,
    initial_readiness_delay_s: float,
) -> tuple[PodGroups, dict[str, int]]:
    """Group pods and keep the samples the first pass uses (ready pods, unknown pods)."""
    if not metrics:
        raise MetricsError(
            f"unable to get metrics for resource {resource or 'pods'}: "
            "no metrics returned from resource metrics API"
        )
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    groups = group_pods(
        pods,
        metrics,
        resource=resource,
        now=now,
        cpu_initialization_period_s=cpu_initialization_period_s,
        initial_readiness_delay_s=initial_readiness_delay_s,
    )
    dropped = groups.ignored | groups.unready
    values = {name: s.value_milli for name, s in metrics.items() if name not in dropped}
    if not values:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    return groups, values


def _decide(
    current_replicas: int,
    groups: PodGroups,
    values: dict[str, int],
    ratio: float,
    tolerances: Tolerances,
    missing_fill_on_scale_down: Mapping[str, int],
    recompute: Callable[[Mapping[str, int]], float],
) -> tuple[int, float, str]:
    """Fast path, or the conservative path with filled-in pods (``HPA.md`` §3.5–3.6)."""
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(ratio):
            return current_replicas, ratio, "within-tolerance"
        return math.ceil(ratio * groups.ready_count), ratio, "ready-pods"
    filled = dict(values)
    if ratio < 1.0:
        filled.update(missing_fill_on_scale_down)
    elif ratio > 1.0:
        filled.update(dict.fromkeys(groups.missing, 0))
    if scale_up_with_unready:
        filled.update(dict.fromkeys(groups.unready, 0))
    new_ratio = recompute(filled)
    if tolerances.is_within(new_ratio):
        return current_replicas, new_ratio, "conservative-within-tolerance"
    if (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current_replicas, new_ratio, "conservative-direction-flip"
    new_replicas = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (
        new_ratio > 1.0 and new_replicas < current_replicas
    ):
        return current_replicas, new_ratio, "conservative-against-ratio"
    return new_replicas, new_ratio, "conservative"


def resource_replicas(
    current_replicas: int,
    pods: Sequence[PodInfo],
    metrics: Mapping[str, MetricSample],
    *,
    target_utilization: int | None = None,
    target_average_value_milli: int | None = None,
    tolerances: Tolerances = Tolerances(),  # noqa: B008 - frozen value object
    now: float,
    resource: str = "cpu",
    cpu_initialization_period_s: float = 300.0,
    initial_readiness_delay_s: float = 30.0,
) -> ReplicaResult:
    """Replica proposal for a ``Resource`` metric (``GetResourceReplicas`` /
    ``GetRawResourceReplicas``).

    Give exactly one target: ``target_utilization`` (percent of request) or
    ``target_average_value_milli``. ``metrics`` may hold samples of pods that are not in
    ``pods`` (they count in the conservative path, as upstream). Raises
    :class:`MetricsError` where upstream returns an error.
    """
    if (target_utilization is None) == (target_average_value_milli is None):
        raise ValueError("give exactly one of target_utilization and target_average_value_milli")
    groups, values = _grouped_samples(
        pods, metrics, resource, now, cpu_initialization_period_s, initial_readiness_delay_s
    )
    if target_average_value_milli is not None:
        return _plain_replicas(
            current_replicas, groups, values, target_average_value_milli, tolerances
        )
    assert target_utilization is not None
    if target_utilization <= 0:
        raise ValueError(f"target_utilization must be > 0, got {target_utilization}")
    requests = _pod_requests(pods, resource)
    ratio, utilization, raw_average = _utilization_ratio(values, requests, target_utilization)
    fallback_percent = max(100, target_utilization)
    missing_fill = {name: requests[name] * fallback_percent // 100 for name in groups.missing}
    replicas, decided_ratio, path = _decide(
        current_replicas,
        groups,
        values,
        ratio,
        tolerances,
        missing_fill,
        lambda filled: _utilization_ratio(filled, requests, target_utilization)[0],
    )
    return _result(replicas, utilization, raw_average, decided_ratio, path, groups)


def pods_metric_replicas(
    current_replicas: int,
    pods: Sequence[PodInfo],
    metrics: Mapping[str, MetricSample],
    *,
    target_average_value_milli: int,
    tolerances: Tolerances = Tolerances(),  # noqa: B008 - frozen value object
    now: float,
) -> ReplicaResult:
    """Replica proposal for a custom ``Pods`` metric with an AverageValue target
    (``GetMetricReplicas``): no readiness timing rules, no requests needed."""
    groups, values = _grouped_samples(pods, metrics, "", now, 0.0, 0.0)
    return _plain_replicas(current_replicas, groups, values, target_average_value_milli, tolerances)


def _plain_replicas(
    current_replicas: int,
    groups: PodGroups,
    values: dict[str, int],
    target_milli: int,
    tolerances: Tolerances,
) -> ReplicaResult:
    """``calcPlainMetricReplicas``: missing pods count as the target on a scale-down."""
    if target_milli <= 0:
        raise ValueError(f"target average value must be > 0, got {target_milli}")
    ratio, average = _usage_ratio(values, target_milli)
    missing_fill = dict.fromkeys(groups.missing, target_milli)
    replicas, decided_ratio, path = _decide(
        current_replicas,
        groups,
        values,
        ratio,
        tolerances,
        missing_fill,
        lambda filled: _usage_ratio(filled, target_milli)[0],
    )
    return _result(replicas, None, average, decided_ratio, path, groups)


def _result(
    replicas: int,
    utilization: int | None,
    raw_average: int,
    ratio: float,
    path: str,
    groups: PodGroups,
) -> ReplicaResult:
    return ReplicaResult(
        replicas=replicas,
        utilization=utilization,
        raw_average_milli=raw_average,
        ratio=ratio,
        path=path,
        ready_pods=groups.ready_count,
        unready_pods=len(groups.unready),
        missing_pods=len(groups.missing),
        ignored_pods=len(groups.ignored),
    )
