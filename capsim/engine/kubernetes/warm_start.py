"""The warm start of a Kubernetes platform at time 0.

Each HPA starts at what its CPU metrics would ask for the first tick's load, clamped to
its bounds (at least one replica); fixed-size workloads at their size. Each pool starts
with its ``min_nodes``; the starting pods are scheduled on them, adding ready nodes where
they do not fit (the first pool with room under ``max_nodes``). Those pods have run and
been Ready for a day, with their images pulled; a pod that finds no node stays Pending.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from capsim.engine.kubernetes.cluster import Cluster
from capsim.engine.kubernetes.hpa_controller import HpaController
from capsim.models.packing import Node, PodRequest, choose_node
from capsim.scenario import KubernetesPlatform, ServiceWorkload

__all__ = ["LONG_AGO_S", "initial_hpa_replicas", "place_warm"]

LONG_AGO_S = -86_400.0  # when the starting pods were created, ran and turned Ready

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def initial_hpa_replicas(
    controller: HpaController, first_rates: FloatArray, workloads: Sequence[object]
) -> dict[int, int]:
    """Workload index → replicas, for each workload an HPA scales: the replicas its cpu
    metrics want for ``first_rates`` (requests/s per service), within its bounds."""
    out: dict[int, int] = {}
    for h, s in enumerate(controller.hpa_services):
        w = controller.services[s]
        workload = workloads[w]
        assert isinstance(workload, ServiceWorkload)
        demand_cores = first_rates[s] * workload.cpu_ms_per_request / 1000.0
        needed = 1
        for row in (r for r in controller.rows_of[h] if r.resource == "cpu"):
            per_pod_m = row.request_milli * row.target / 100.0 if row.utilization else row.target
            needed = max(needed, math.ceil(demand_cores * 1000.0 / per_pod_m))
        low, high = int(controller.min_replicas[h]), int(controller.max_replicas[h])
        out[w] = min(max(needed, low), high)
    return out


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
    """A new ready node of the first pool with room for ``request`` (CPU, memory and GPUs)
    and under its max."""
    for pool in platform.node_pools:
        if (
            cluster.nodes.count(pool.name) < pool.max_nodes
            and request.cpu_m <= pool.allocatable_cpu_millicores
            and request.memory_b <= pool.allocatable_memory_bytes
            and request.gpu <= pool.gpu
        ):
            return cluster.add_node(pool.name, 0.0, ready_s=0.0)
    return None
