"""The warm start of a Kubernetes platform at time 0.

Each HPA starts at the size it settles at for the first tick's load: a size its next
sync keeps, on the CPU (idle CPU included), memory, requests in flight and requests per
second its warm pods report (:func:`settled_hpa_size`, :mod:`capsim.engine.warm`);
fixed-size workloads at their size. Each pool starts with its ``min_nodes``; the
starting pods are scheduled on them, adding ready nodes where they do not fit (of the pool
the cluster autoscaler's expanders choose for the pod, under ``max_nodes``). Those pods
have run and been Ready for a day, with their images pulled; a pod that finds no node
stays Pending.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from capsim.engine.kubernetes.cluster import Cluster
from capsim.engine.kubernetes.cluster_autoscaler import pool_limits
from capsim.engine.kubernetes.hpa_controller import HpaController, MetricRow
from capsim.engine.kubernetes.keda import ScaledObjectRun
from capsim.engine.recorder import PlatformRecorder
from capsim.engine.warm import ReplicaProfile, WarmSize, replica_usage, settle
from capsim.hpa import (
    Tolerances,
    average_value_replicas,
    resource_replicas_counts,
    value_replicas,
)
from capsim.models.keda import keda_step
from capsim.models.packing import Node, PodRequest, choose_node, plan_scale_up
from capsim.scenario import KubernetesPlatform, ServiceWorkload

__all__ = [
    "LONG_AGO_S",
    "initial_hpa_replicas",
    "place_warm",
    "settled_hpa_size",
    "steady_pods_metrics",
    "steady_service_metrics",
    "warm_keda",
]

LONG_AGO_S = -86_400.0  # when the starting pods were created, ran and turned Ready

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def initial_hpa_replicas(
    controller: HpaController,
    first_rates: FloatArray,
    workloads: Sequence[object],
    cpu_limit_cores: Sequence[float],
    recorder: PlatformRecorder | None = None,
    routing: Sequence[str] | None = None,
    accelerators: Sequence[tuple[float, float | None]] | None = None,
) -> dict[int, int]:
    """Workload index → replicas, for each workload an HPA scales: the size its HPA
    settles at for ``first_rates`` (requests/s per service); see :func:`settled_hpa_size`.

    ``cpu_limit_cores`` is each workload's CPU cap per replica (by workload index), and
    ``accelerators`` its GPUs and their memory (MiB, None: not stated). A size
    that is no fixed point (the decisions cycle) is noted in ``recorder``'s decision log
    as a ``warm_start`` event at time 0.
    """
    out: dict[int, int] = {}
    for h, s in enumerate(controller.hpa_services):
        w = controller.services[s]
        workload = workloads[w]
        assert isinstance(workload, ServiceWorkload)
        size = settled_hpa_size(
            controller.rows_of[h],
            min_replicas=int(controller.min_replicas[h]),
            max_replicas=int(controller.max_replicas[h]),
            tolerance_up=float(controller.tol_up[h]),
            tolerance_down=float(controller.tol_down[h]),
            arrival_rate=float(first_rates[s]),
            profile=ReplicaProfile.of(
                workload,
                cpu_limit_cores[w],
                "random" if routing is None else routing[w],
                (0.0, None) if accelerators is None else accelerators[w],
            ),
        )
        out[w] = size.replicas
        if not size.converged and recorder is not None:
            recorder.event(
                0.0,
                workload.name,
                "warm_start",
                size.seen[0],
                size.replicas,
                "NoFixedPoint",
                size.note("the HPA"),
            )
    return out


def warm_keda(
    runs: Sequence[ScaledObjectRun],
    desired: IntArray,
    first_rates: FloatArray,
    workloads: Sequence[object],
    cpu_limit_cores: Sequence[float],
    routing: Sequence[str],
    accelerators: Sequence[tuple[float, float | None]] | None = None,
) -> None:
    """KEDA at time 0, after the HPA's warm size: a ScaledObject inactive at the first
    tick's load (its triggers' steady values, :func:`steady_service_metrics`) has been
    scaled to zero (or idle) long ago; an active one was last active now."""
    for run in runs:
        workload = workloads[run.workload]
        assert isinstance(workload, ServiceWorkload)
        size = int(desired[run.workload])
        profile = ReplicaProfile.of(
            workload,
            cpu_limit_cores[run.workload],
            routing[run.workload],
            (0.0, None) if accelerators is None else accelerators[run.workload],
        )
        steady = steady_service_metrics(float(first_rates[run.service]), size, profile)
        active = run.active({name: round(value * 1000.0) for name, value in steady.items()})
        step = keda_step(run.config, active, size, None, 0.0)
        run.last_active_s = step.last_active_s
        if step.replicas is not None:
            desired[run.workload] = step.replicas


def steady_pods_metrics(
    arrival_rate: float, replicas: int, profile: ReplicaProfile
) -> dict[str, float]:
    """The Pods metrics each of ``replicas`` warm pods of ``profile`` reports when
    ``arrival_rate`` requests/s arrive steadily: ``requests_in_flight`` (mean requests in
    the pod, in service plus queued, by Little's law) and ``requests_per_second`` (served
    per pod), by the steady state of :func:`capsim.engine.warm.replica_usage`: its memory
    counts the requests in a replica (at one MiB per request and none fixed), its CPU
    without idle CPU the work served (never capped: a replica serves at most its cores'
    worth). ``gpu_utilization`` (%): a GPU service's work served over its GPUs (work
    conservation); an LLM replica taken as busy in proportion to its requests in flight
    up to one (it runs passes whenever it holds a sequence: an approximation of the warm
    start only). ``kv_cache_usage`` (0-1): an LLM replica's running requests (in flight
    up to its batch) times a mean request's tokens over the cache."""
    counting = dataclasses.replace(
        profile, memory_mib=0.0, memory_mib_per_request=1.0, idle_cpu_cores=0.0
    )
    usage = replica_usage(arrival_rate, replicas, counting)
    in_flight = usage.memory_mib
    gpu_pct = kv_share = 0.0
    if profile.kv_share_per_request is not None:  # LLM: busy while a sequence runs
        gpu_pct = 100.0 * min(1.0, in_flight)
        kv_share = min(in_flight, profile.concurrency) * profile.kv_share_per_request
    elif profile.servers is not None:  # GPU service: work conservation
        work_s = profile.cpu_ms_per_request / 1000.0
        gpu_pct = 100.0 * min(1.0, usage.served_per_s * work_s / profile.servers)
    return {
        "gpu_utilization": gpu_pct,
        "kv_cache_usage": min(kv_share, 1.0),
        "requests_in_flight": usage.memory_mib,
        "requests_per_second": (
            usage.cpu_cores / (profile.cpu_ms_per_request / 1000.0)
            if profile.host_cpu_ms_per_request is None
            else usage.served_per_s  # (the CPU is not the work)
        ),
    }


def steady_service_metrics(
    arrival_rate: float, replicas: int, profile: ReplicaProfile
) -> dict[str, float]:
    """The service-wide metrics of Object and External metrics
    (:data:`~capsim.scenario.manifests.SIMULATED_SERVICE_METRICS`) when ``arrival_rate``
    requests/s arrive steadily at ``replicas`` warm pods: the requests waiting (Little's
    law over the wait, :func:`capsim.engine.warm.replica_usage`), in the service and
    served per second (:func:`steady_pods_metrics`, times the pods), and the arrivals."""
    pods = steady_pods_metrics(arrival_rate, replicas, profile)
    queued = replica_usage(arrival_rate, replicas, profile).queued
    return {
        "queue_length": replicas * queued,
        "requests_in_flight": replicas * pods["requests_in_flight"],
        "requests_per_second": replicas * pods["requests_per_second"],
        "arrival_rate": arrival_rate,
    }


def _value_proposal(
    row: MetricRow, replicas: int, totals: dict[str, int], tolerances: Tolerances
) -> int:
    """An Object or External metric's proposal at ``replicas`` warm pods (all Ready)."""
    usage = totals[row.resource]
    if row.value_target:
        return value_replicas(replicas, replicas, replicas, usage, row.target, tolerances)
    return average_value_replicas(replicas, usage, row.target, tolerances)[0]


def settled_hpa_size(
    rows: Sequence[MetricRow],
    *,
    min_replicas: int,
    max_replicas: int,
    tolerance_up: float,
    tolerance_down: float,
    arrival_rate: float,
    profile: ReplicaProfile,
) -> WarmSize:
    """The size an HPA with metric ``rows`` settles at when ``arrival_rate`` requests/s
    arrive steadily at replicas of ``profile``.

    One step is one HPA sync on the metrics ``N`` warm, Ready, long-running pods report
    (:func:`capsim.engine.warm.replica_usage`: served CPU plus idle CPU, capped at the
    limit, and memory; :func:`steady_pods_metrics` for the Pods metrics; the per-pod
    samples rounded to milli-units as the scrapes do): every metric through
    :func:`capsim.hpa.resource_replicas_counts` with the tolerances (a Pods metric as an
    AverageValue, as upstream), the largest proposal, clamped to
    ``[min_replicas, max_replicas]``. The first guess is the largest of the CPU demand
    without idle CPU over the CPU target per pod, the arrivals over a requests/s target,
    and the requests in service (``λ × cpu_ms``, no queue) over an in-flight target (at
    least one replica, within the bounds): each at most the size its metric asks for.
    Assumes every warm pod finds a node (a Pending pod would count as unready).
    """

    tolerances = Tolerances(scale_down=tolerance_down, scale_up=tolerance_up)

    def clamp(n: int) -> int:
        return min(max(n, min_replicas), max_replicas)

    def step(n: int) -> int:
        usage = replica_usage(arrival_rate, n, profile)
        samples = {
            "cpu": round(usage.cpu_cores * 1000.0),
            "memory": round(usage.memory_mib * 2**20 * 1000.0),
        }
        if any(row.pods_metric for row in rows):
            pods = steady_pods_metrics(arrival_rate, n, profile)
            samples |= {name: round(value * 1000.0) for name, value in pods.items()}
        totals = {}
        if any(row.service_metric for row in rows):
            found = steady_service_metrics(arrival_rate, n, profile)
            totals = {name: round(value * 1000.0) for name, value in found.items()}
        proposals = []
        for row in rows:
            if row.service_metric:
                if row.source == row.service:  # another service's metric: not sized here
                    proposals.append(_value_proposal(row, n, totals, tolerances))
                continue
            sample = samples[row.resource]
            replicas, ok = resource_replicas_counts(
                n,
                n,
                0,
                0,
                n * sample,
                row.request_milli,
                target_utilization=row.target if row.utilization else None,
                target_average_value_milli=None if row.utilization else row.target,
                tolerance_up=tolerance_up,
                tolerance_down=tolerance_down,
            )
            if ok:
                proposals.append(replicas)
        return clamp(max(proposals)) if proposals else n

    host_ms = profile.host_cpu_ms_per_request
    demand_cores = (
        arrival_rate * (profile.cpu_ms_per_request if host_ms is None else host_ms) / 1000.0
    )
    guess = 1
    for row in rows:
        if row.resource == "cpu":
            per_pod_m = row.request_milli * row.target / 100.0 if row.utilization else row.target
            guess = max(guess, math.ceil(demand_cores * 1000.0 / per_pod_m))
        elif row.pods_metric and row.resource == "requests_per_second":
            guess = max(guess, math.floor(arrival_rate * 1000.0 / row.target))
        elif row.pods_metric and row.resource == "requests_in_flight":
            guess = max(guess, math.floor(demand_cores * 1000.0 / row.target))
    return settle(clamp(guess), step)


def place_warm(
    cluster: Cluster, platform: KubernetesPlatform, desired: IntArray, names: Sequence[str]
) -> None:
    """The starting nodes and the ``desired`` pods of every workload, ready at time 0."""
    for pool in platform.node_pools:
        for _ in range(pool.min_nodes):
            cluster.add_node(pool.name, 0.0, ready_s=0.0)
    pods = cluster.pods
    for w, count in enumerate(desired):
        request = cluster.requests[w]
        for _ in range(int(count)):
            pod = cluster.new_pod(w, LONG_AGO_S)
            node = choose_node(cluster.nodes.nodes, request, cluster.scheduler)
            if node is None:
                node = _warm_node_for(cluster, platform, request)
            if node is None:
                pods.pending.append(pod)
                continue
            node.add(pod.id, request)
            pods.bind(pod, node, LONG_AGO_S)
            pod.running_s = LONG_AGO_S
            pods.mark_ready(pod, LONG_AGO_S)
            node.images.add(names[w])


def _warm_node_for(
    cluster: Cluster, platform: KubernetesPlatform, request: PodRequest
) -> Node | None:
    """A new ready node for ``request``: of the pool the cluster autoscaler's expanders
    would grow for it (among those it may use, fits and that are under their max)."""
    counts = {pool.name: cluster.nodes.count(pool.name) for pool in platform.node_pools}
    chain = platform.cluster_autoscaler.expander_chain
    wanted = plan_scale_up([request], [], pool_limits(platform), counts, chain, cluster.draw)
    if not wanted:
        return None
    (pool_name,) = wanted
    return cluster.add_node(pool_name, 0.0, ready_s=0.0)
