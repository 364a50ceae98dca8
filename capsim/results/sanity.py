"""Checks after every run: what makes a figure of the run say less than it seems to.

Each check is a rule stated here and in the report, run on the scenario as parsed and on
the run's time series and summary; each finding names the platform, the workload, the
check and the numbers behind it (``summary.json`` → ``checks``; the report and ``capsim
run`` print them under the verdict). A finding is not an error: the run is what the
scenario asked for, and the verdict stays what its rules say; it says why a figure
should not be read as an answer.

* ``target_unreachable``: an autoscaler's CPU target is above the most CPU a replica
  can use — ``concurrency`` requests at a time, each on one core at most, within the
  pod's CPU cap (its limit, else its request; on VMs the app's share of the cores), plus
  its idle CPU; or, on VMs, the guest OS on top. The CPU metric then never reaches the
  target and the autoscaler never scales up on it.
* ``never_scaled``: an autoscaled workload kept one size for the whole run: the load
  never exercised its autoscaler, so the run says nothing about how it scales.
* ``at_ceiling``: the autoscaler wanted its maximum for a share of the time; with the
  latency over the SLO's threshold or requests dropped at the ceiling, the maximum is
  too low for the load (no setting of the target can meet the SLO under it).
* ``idle_latency_over_slo``: even the lowest p95 of any row is above the SLO's
  threshold: latency no replica count improves (the work per request, the queueing of
  one replica at its lightest load) misses the SLO.
* ``value_target_runaway``: an HPA's Object or External metric has a ``Value`` target
  on a service total that adding pods does not lower (the arrivals, the requests served
  or in the service); upstream proposes ``ceil(value/target × ready pods)``, so above the
  target the HPA keeps multiplying up to maxReplicas and below it shrinks to
  minReplicas; an ``AverageValue`` target divides the total among the pods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capsim.results.summary import interval_lengths_s
from capsim.scenario import KubernetesPlatform, Scenario, ServiceWorkload, VmPlatform
from capsim.scenario.manifests import HpaTemplate
from capsim.scenario.platforms import KubernetesWorkload, hpa_template, pod_template

__all__ = ["CHECK_RULES", "Finding", "sanity_checks"]

CHECK_RULES = {
    "target_unreachable": "an autoscaler's CPU target above the most CPU a replica can use "
    "(concurrency × one core, within its CPU cap, plus idle CPU; on VMs with the guest OS)",
    "never_scaled": "an autoscaled workload that kept one size for the whole run",
    "at_ceiling": "an autoscaler at its maximum for part of the run, and whether the SLO's "
    "latency threshold was passed or requests were dropped there",
    "idle_latency_over_slo": "the lowest p95 of any row above the SLO's threshold",
    "value_target_runaway": "an Object or External metric with a Value target on a service "
    "total that does not fall as pods are added (arrival_rate, requests_per_second, "
    "requests_in_flight): upstream multiplies the ready pods by value/target",
}
"""Each check and its rule, as the report states them."""


@dataclass(frozen=True)
class Finding:
    """One check that found something, on one workload of one platform."""

    platform: str
    workload: str
    check: str  # a key of CHECK_RULES
    message: str

    def as_dict(self) -> dict[str, str]:
        return {
            "platform": self.platform,
            "workload": self.workload,
            "check": self.check,
            "message": self.message,
        }


def sanity_checks(
    scenario: Scenario, summary: Mapping[str, Any], timeseries: pd.DataFrame
) -> list[Finding]:
    """Every check on every service of every platform, in platform then workload order."""
    found: list[Finding] = []
    services = {w.name: w for w in scenario.workloads if isinstance(w, ServiceWorkload)}
    for name, platform in sorted(scenario.platforms.items()):
        entries = summary["platforms"].get(name, {}).get("workloads", {})
        for workload_name, workload in sorted(services.items()):
            if workload_name not in platform.workloads or workload_name not in entries:
                continue
            rows = timeseries[
                (timeseries["platform"] == name) & (timeseries["workload"] == workload_name)
            ].sort_values("time_s", kind="stable")
            limits = _scaling(scenario, platform, workload)
            messages = []
            messages += _value_targets(scenario, platform, workload)
            if limits is not None:
                messages += _target(limits, workload)
                messages += _never_scaled(limits, rows)
                messages += _ceiling(limits, rows, workload)
            messages += _idle_latency(rows, workload)
            found += [Finding(name, workload_name, check, text) for check, text in messages]
    return found


@dataclass(frozen=True)
class _Scaling:
    """What the checks need of a workload's autoscaler."""

    kind: str  # "HPA" or "autoscaling group"
    minimum: int
    maximum: int  # in replicas (app instances)
    target_pct: float | None  # a CPU utilization target, % of the request (VMs: of the vCPUs)
    most_pct: float  # the most CPU a replica can use, in the target's unit
    why: str  # how ``most_pct`` comes about


def _scaling(
    scenario: Scenario, platform: KubernetesPlatform | VmPlatform, w: ServiceWorkload
) -> _Scaling | None:
    """The workload's autoscaler on ``platform``; None when it has a fixed size."""
    config = platform.workloads[w.name]
    idle = w.idle_cpu_millicores / 1000.0
    if isinstance(platform, VmPlatform):
        assert not isinstance(config, KubernetesWorkload)
        scaling = config.autoscaling
        if scaling is None:
            return None
        instance = platform.instance_for(w.name)
        vcpus = instance.vcpu_millicores / 1000.0
        app_cores = instance.app_cpu_millicores / 1000.0 / config.per_vm
        busy = min(w.concurrency, app_cores) + idle
        guest = instance.guest_os_cpu_millicores / 1000.0
        most = 100.0 * (busy * config.per_vm + guest) / vcpus
        why = (
            f"{config.per_vm} app instance(s) of {w.concurrency} request(s) at a time on "
            f"{app_cores:g} of the VM's cores each, plus the guest OS's {guest:g}, of "
            f"{vcpus:g} vCPUs"
        )
        return _Scaling(
            "autoscaling group",
            scaling.min_instances * config.per_vm,
            scaling.max_instances * config.per_vm,
            scaling.target_pct,
            most,
            why,
        )
    assert isinstance(config, KubernetesWorkload)
    if not config.autoscaled:
        return None
    hpa = hpa_template(config, scenario.base_dir, w.name)
    pod = pod_template(w, config)
    cap = (pod.cpu_limit_millicores or pod.cpu_request_millicores) / 1000.0
    request = pod.cpu_request_millicores / 1000.0
    most = 100.0 * (min(w.concurrency, cap) + idle) / request if request > 0 else math.inf
    why = (
        f"{w.concurrency} request(s) at a time within a CPU cap of {cap:g} cores"
        + (f", plus {idle:g} idle" if idle else "")
        + f", against a request of {request:g} cores"
    )
    return _Scaling("HPA", hpa.min_replicas, hpa.max_replicas, _cpu_target(hpa), most, why)


_NOT_LOWERED_BY_PODS = {
    "arrival_rate": "adding pods does not lower it",
    "requests_per_second": "adding pods does not lower it",
    "requests_in_flight": "adding pods lowers it only to the requests in service "
    "(arrivals × time per request)",
}


def _value_targets(
    scenario: Scenario, platform: KubernetesPlatform | VmPlatform, w: ServiceWorkload
) -> list[tuple[str, str]]:
    """``value_target_runaway`` findings of the workload's HPA (module docstring)."""
    config = platform.workloads[w.name]
    if not isinstance(config, KubernetesWorkload) or not config.autoscaled:
        return []
    found = []
    for index, metric in enumerate(hpa_template(config, scenario.base_dir, w.name).metrics):
        name = metric.metric_name if metric.type in ("Object", "External") else ""
        if name in _NOT_LOWERED_BY_PODS and metric.target.type == "Value":
            found.append(
                (
                    "value_target_runaway",
                    f"metrics[{index}]: a Value target on the {metric.type} metric {name}: the "
                    f"HPA proposes ceil({name}/target × ready pods) and "
                    f"{_NOT_LOWERED_BY_PODS[name]}, so it keeps multiplying towards "
                    "maxReplicas while above the target and shrinks towards minReplicas "
                    "below it; use an AverageValue target (the total per pod)",
                )
            )
    return found


def _cpu_target(hpa: HpaTemplate) -> float | None:
    """The HPA's CPU Utilization target (%), if it has exactly such a metric among its
    metrics (the others may still scale it, so only a CPU-only HPA is judged)."""
    targets = []
    for metric in hpa.metrics:
        resource = metric.resource if metric.type == "Resource" else None
        if resource is None or resource.name != "cpu":
            return None
        if resource.target.average_utilization is None:
            return None
        targets.append(float(resource.target.average_utilization))
    return min(targets) if targets else None


def _target(limits: _Scaling, w: ServiceWorkload) -> list[tuple[str, str]]:
    if limits.target_pct is None or limits.most_pct > limits.target_pct:
        return []
    return [
        (
            "target_unreachable",
            f"the {limits.kind}'s CPU target of {limits.target_pct:g} % cannot be reached: a "
            f"replica uses at most {limits.most_pct:.0f} % ({limits.why}), so it never "
            f"scales up on CPU; raise concurrency or lower the target",
        )
    ]


def _never_scaled(limits: _Scaling, rows: pd.DataFrame) -> list[tuple[str, str]]:
    desired = rows["replicas_desired"].to_numpy()
    if not desired.size or desired.min() != desired.max():
        return []
    return [
        (
            "never_scaled",
            f"the {limits.kind} never scaled: {int(desired[0])} replica(s) for the whole run "
            f"(min {limits.minimum}, max {limits.maximum}); the load never exercised it, so "
            "the run says nothing about how it scales",
        )
    ]


def _ceiling(limits: _Scaling, rows: pd.DataFrame, w: ServiceWorkload) -> list[tuple[str, str]]:
    time_s = rows["time_s"].to_numpy(np.float64)
    if not time_s.size:
        return []
    dt = interval_lengths_s(time_s)
    at_max = rows["replicas_desired"].to_numpy() >= limits.maximum
    if not at_max.any():
        return []
    share = 100.0 * float(dt[at_max].sum()) / float(dt.sum())
    text = f"the {limits.kind} wanted its maximum of {limits.maximum} for {share:.1f} % of the run"
    threshold = w.slo.p95_latency_ms if w.slo is not None else None
    p95 = np.nan_to_num(rows["latency_p95_ms"].to_numpy(np.float64), nan=0.0)
    slow = at_max & (p95 > threshold) if threshold is not None else np.zeros_like(at_max)
    dropped = at_max & (rows["dropped_rate"].to_numpy(np.float64) > 0)
    if slow.any() or dropped.any():
        text += (
            f"; there, p95 was over {threshold:g} ms or requests were dropped for "
            f"{100.0 * float(dt[slow | dropped].sum()) / float(dt.sum()):.1f} % of the run: "
            "the maximum is too low for this load"
            if threshold is not None
            else f"; there, requests were dropped for "
            f"{100.0 * float(dt[dropped].sum()) / float(dt.sum()):.1f} % of the run: the "
            "maximum is too low for this load"
        )
    return [("at_ceiling", text)]


def _idle_latency(rows: pd.DataFrame, w: ServiceWorkload) -> list[tuple[str, str]]:
    if w.slo is None:
        return []
    p95 = rows["latency_p95_ms"].to_numpy(np.float64)
    served = rows["served_rate"].to_numpy(np.float64) > 0
    known = p95[served & ~np.isnan(p95)]
    if not known.size or known.min() <= w.slo.p95_latency_ms:
        return []
    lowest = int(np.argmin(np.where(served & ~np.isnan(p95), p95, np.inf)))
    rate = float(rows["arrival_rate"].to_numpy(np.float64)[lowest])
    return [
        (
            "idle_latency_over_slo",
            f"p95 never went below {known.min():,.0f} ms, even at its lightest "
            f"({rate:,.3g} requests/s): above the SLO's {w.slo.p95_latency_ms:g} ms at any "
            "replica count; the latency of one request, not capacity, misses the SLO",
        )
    ]
