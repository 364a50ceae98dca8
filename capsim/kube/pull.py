"""Prometheus history of one Deployment → a trace the simulator reads.

The queries are the kube-prometheus / kube-state-metrics names (REFERENCE §3), each
de-duplicated before it is summed (``max by`` the series' identity), so that a target
scraped by two jobs (two Prometheus replicas behind Thanos, a kubelet scraped twice) is
counted once:

* ``cpu_cores``: ``rate(container_cpu_usage_seconds_total{container!="",image!=""}[w])``
  summed over the Deployment's pods (``container!=""`` drops the cgroup totals that would
  double-count);
* ``memory_bytes``: ``container_memory_working_set_bytes{container!=""}`` summed;
* ``replicas_ready``: ``kube_deployment_status_replicas_ready`` (or, with ``--selector``,
  the number of matching pods with CPU samples: running pods, ready or not);
* ``requests_per_s``: the user's ``--rate-query``, when given;
* ``cpu_request_cores`` / ``memory_request_bytes``: the request **per pod**
  (``kube_pod_container_resource_requests`` summed per pod, then the pods' maximum);
* ``hpa_min_replicas``, ``hpa_max_replicas``, ``hpa_current_replicas``,
  ``hpa_desired_replicas``, ``hpa_target_cpu_utilization``: the HPA that scales the
  Deployment (``kube_horizontalpodautoscaler_*``), when there is one.

Pods belong to the Deployment through ``kube_pod_owner`` (owner a ReplicaSet) joined with
``kube_replicaset_owner`` (owner the Deployment), or match a ``--selector`` pod-name
regex. A ``cluster`` label matcher narrows every query for multi-cluster stores.

Times with no data stay gaps (``NaN``, an empty CSV cell) and are reported; nothing is
interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from capsim.kube.prometheus import Prometheus, PrometheusError, label_matchers
from capsim.units import format_iso_utc

__all__ = ["PulledTrace", "Target", "pull_trace", "target_queries"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Target:
    """Which workload to pull, and how its pods are found."""

    namespace: str
    deployment: str
    selector: str | None = None  # a pod-name regex instead of the owner join
    container: str | None = None
    cluster: str | None = None
    rate_query: str | None = None
    rate_window_s: float = 300.0

    def _base(self) -> list[tuple[str, str, str]]:
        matchers = [("namespace", "=", self.namespace)]
        if self.cluster is not None:
            matchers.append(("cluster", "=", self.cluster))
        return matchers

    def pods(self) -> str:
        """A vector with one series (value 1) per pod of the Deployment, ``(namespace, pod)``,
        through the owner chain (not used with ``selector``: that filters ``pod`` directly)."""
        base = label_matchers(self._base())
        deployment = label_matchers(
            [*self._base(), ("owner_kind", "=", "Deployment"), ("owner_name", "=", self.deployment)]
        )
        return (
            "max by (namespace, pod) ("
            f'label_replace(kube_pod_owner{{{base},owner_kind="ReplicaSet"}}, '
            '"replicaset", "$1", "owner_name", "(.*)")'
            " * on (namespace, replicaset) group_left() "
            f"max by (namespace, replicaset) (kube_replicaset_owner{{{deployment}}} * 0 + 1))"
        )

    def _containers(self, extra: list[tuple[str, str, str]]) -> str:
        matchers = [*self._base(), ("container", "!=", ""), *extra]
        if self.selector is not None:
            matchers.append(("pod", "=~", self.selector))
        if self.container is not None:
            matchers.append(("container", "=", self.container))
        return label_matchers(matchers)

    def _of_pods(self, per_container: str) -> str:
        """``per_container`` (by namespace, pod, container), kept for the Deployment's pods
        (with ``selector``, the matchers already keep only those)."""
        if self.selector is not None:
            return per_container
        return f"({per_container}) * on (namespace, pod) group_left() ({self.pods()})"


def _window(seconds: float) -> str:
    return f"{round(seconds)}s"


def target_queries(target: Target) -> dict[str, str]:
    """The PromQL of every column (see the module docstring)."""
    cpu = target._of_pods(
        "max by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{"
        f"{target._containers([('image', '!=', '')])}}}[{_window(target.rate_window_s)}]))"
    )
    memory = target._of_pods(
        "max by (namespace, pod, container) (container_memory_working_set_bytes{"
        f"{target._containers([('image', '!=', '')])}}})"
    )
    base = label_matchers(target._base())

    def request(resource: str, unit: str) -> str:
        per_container = (
            "max by (namespace, pod, container) (kube_pod_container_resource_requests{"
            f"{target._containers([('resource', '=', resource), ('unit', '=', unit)])}}})"
        )
        return f"max(sum by (namespace, pod) ({target._of_pods(per_container)}))"

    hpa_of = (
        "on (namespace, horizontalpodautoscaler) group_left() "
        "max by (namespace, horizontalpodautoscaler) (kube_horizontalpodautoscaler_info{"
        f'{base},scaletargetref_kind="Deployment",scaletargetref_name={_q(target.deployment)}}})'
    )

    def hpa(metric: str, extra: str = "") -> str:
        selector = f"{base}{extra}"
        return (
            f"max(max by (namespace, horizontalpodautoscaler) "
            f"(kube_horizontalpodautoscaler_{metric}{{{selector}}}) * {hpa_of})"
        )

    queries = {
        "cpu_cores": f"sum({cpu})",
        "memory_bytes": f"sum({memory})",
        "replicas_ready": (
            f"count(max by (namespace, pod) ({cpu}))"
            if target.selector is not None
            else "max(kube_deployment_status_replicas_ready{"
            f"{label_matchers([*target._base(), ('deployment', '=', target.deployment)])}}})"
        ),
        "cpu_request_cores": request("cpu", "core"),
        "memory_request_bytes": request("memory", "byte"),
        "hpa_min_replicas": hpa("spec_min_replicas"),
        "hpa_max_replicas": hpa("spec_max_replicas"),
        "hpa_current_replicas": hpa("status_current_replicas"),
        "hpa_desired_replicas": hpa("status_desired_replicas"),
        "hpa_target_cpu_utilization": hpa(
            "spec_target_metric", ',metric_name="cpu",metric_target_type="utilization"'
        ),
    }
    if target.rate_query is not None:
        queries = {"requests_per_s": f"sum({target.rate_query})", **queries}
    return queries


def _q(text: str) -> str:
    return label_matchers([("x", "=", text)])[2:]


@dataclass(frozen=True)
class PulledTrace:
    """The trace (``timestamp`` + columns on the step grid; gaps are its NaNs) and the
    columns it lacks."""

    frame: pd.DataFrame
    step_s: float
    missing: tuple[str, ...] = ()  # columns whose query matched nothing (left out)


#: Columns that must have data, or the pull is pointless.
REQUIRED = ("cpu_cores",)


def pull_trace(
    prometheus: Prometheus, target: Target, start_s: float, end_s: float, step_s: float
) -> PulledTrace:
    """Every column over ``[start, end]`` on the step grid (see the module docstring).

    ``PrometheusError`` when the required CPU series matches nothing: the message says
    what the store has instead (deployments in the namespace, or no cAdvisor data).
    """
    grid: FloatArray = start_s + step_s * np.arange(round((end_s - start_s) / step_s) + 1.0)
    columns: dict[str, FloatArray] = {}
    missing: list[str] = []
    for name, promql in target_queries(target).items():
        series = prometheus.query_range(promql, float(grid[0]), float(grid[-1]), step_s)
        if not series:
            if name in REQUIRED:
                raise PrometheusError(_nothing_matched(prometheus, target, start_s, end_s))
            if name == "requests_per_s":
                raise PrometheusError(
                    f"--rate-query {target.rate_query!r} matched no series between "
                    f"{format_iso_utc(start_s)} and {format_iso_utc(end_s)}"
                )
            missing.append(name)
            continue
        (only,) = series  # every query is aggregated to one series
        values: FloatArray = np.full(grid.size, np.nan)
        index = np.rint((only.times_s - grid[0]) / step_s).astype(np.int64)
        inside = (index >= 0) & (index < grid.size)
        values[index[inside]] = only.values[inside]
        columns[name] = values
    frame = pd.DataFrame({"timestamp": [format_iso_utc(t) for t in grid], **columns})
    return PulledTrace(frame=frame, step_s=step_s, missing=tuple(missing))


def _nothing_matched(prometheus: Prometheus, target: Target, start_s: float, end_s: float) -> str:
    """Why the CPU query is empty, from what the store does have."""
    base = label_matchers(target._base())
    what = (
        f"pods matching {target.selector!r}"
        if target.selector is not None
        else f"Deployment {target.namespace}/{target.deployment}"
    )
    lines = [
        f"no CPU series for {what} between {format_iso_utc(start_s)} and {format_iso_utc(end_s)}"
    ]
    span = _window(end_s - start_s)
    try:
        deployments = prometheus.query(
            f"count by (deployment) (last_over_time(kube_deployment_created{{{base}}}[{span}]))",
            end_s,
        )
        cadvisor = prometheus.query(
            f"count(last_over_time(container_cpu_usage_seconds_total{{{base}}}[{span}]))", end_s
        )
    except PrometheusError:
        return lines[0]
    names = sorted(labels.get("deployment", "?") for labels, _ in deployments)
    lines.append(
        f"Deployments in namespace {target.namespace}: {names}"
        if names
        else f"no kube-state-metrics Deployments in namespace {target.namespace}"
    )
    if not cadvisor:
        lines.append(
            f"no cAdvisor CPU series (container_cpu_usage_seconds_total) in {target.namespace}"
        )
    return "; ".join(lines)
