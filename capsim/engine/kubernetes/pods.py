"""The pods of a Kubernetes platform, as bookkeeping kept at every change.

Counters of ready and scheduled pods per workload are kept with every bind, readiness
and deletion, so a tick never scans pods. The HPA's view of a pod only changes until the
pod has *settled* (Ready, with samples, and past the CPU start-up rules): settled pods
are counted, the others are kept in a list and looked at each sync
(:mod:`capsim.engine.kubernetes.metrics`).

Scale-down removes pods as a ReplicaSet does (:meth:`PodSet.scale_down_victims`):
unscheduled first, then not running, then not Ready, then the newest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capsim.models.packing import Node

__all__ = ["Pod", "PodSet"]


@dataclass(eq=False)
class Pod:
    """One pod's lifecycle times (``None`` until reached). Pods compare by identity (a
    value comparison of every field made removing one from a list slow)."""

    id: int
    workload: int
    created_s: float
    node: Node | None = None
    bound_s: float | None = None
    running_s: float | None = None
    ready_s: float | None = None
    deleted: bool = False
    settled: bool = False  # past every start-up rule: a ready pod with samples from now on


class PodSet:
    """Every live pod of a platform, per workload, with its counters."""

    def __init__(self, n_workloads: int) -> None:
        self.by_workload: list[list[Pod]] = [[] for _ in range(n_workloads)]
        self.ready = np.zeros(n_workloads, dtype=np.int64)
        self.count = np.zeros(n_workloads, dtype=np.int64)  # live pods (len(by_workload[w]))
        self.bound = np.zeros(n_workloads, dtype=np.int64)
        self.settled = np.zeros(n_workloads, dtype=np.int64)
        self.unsettled: list[list[Pod]] = [[] for _ in range(n_workloads)]
        self.pending: list[Pod] = []  # service pods waiting for a node

    def add(self, pod: Pod) -> None:
        self.by_workload[pod.workload].append(pod)
        self.unsettled[pod.workload].append(pod)
        self.count[pod.workload] += 1

    def bind(self, pod: Pod, node: Node, now: float) -> None:
        """``pod`` (already added to ``node``'s requests) is scheduled on ``node``."""
        pod.node, pod.bound_s = node, now
        self.bound[pod.workload] += 1

    def mark_ready(self, pod: Pod, now: float) -> None:
        pod.ready_s = now
        self.ready[pod.workload] += 1

    def settle(self, w: int) -> None:
        """Count the pods of workload ``w`` marked settled and stop looking at them."""
        unsettled = self.unsettled[w]
        still = [pod for pod in unsettled if not pod.settled]
        self.settled[w] += len(unsettled) - len(still)
        self.unsettled[w] = still

    def forget(self, pod: Pod) -> None:
        """Drop a deleted pod from every list and counter (its node lets it go itself)."""
        pod.deleted = True
        if pod.node is not None:
            self.bound[pod.workload] -= 1
        else:
            self.pending.remove(pod)
        if pod.ready_s is not None:
            self.ready[pod.workload] -= 1
        if pod.settled:
            self.settled[pod.workload] -= 1
        else:
            self.unsettled[pod.workload].remove(pod)
        self.by_workload[pod.workload].remove(pod)
        self.count[pod.workload] -= 1

    def scale_down_victims(self, w: int, replicas: int) -> list[Pod]:
        """The pods a ReplicaSet deletes to keep ``replicas``: unscheduled, not running,
        not Ready, then the newest."""
        pods = self.by_workload[w]
        ranked = sorted(
            pods,
            key=lambda p: (
                p.node is not None,
                p.running_s is not None,
                p.ready_s is not None,
                -p.created_s,
                -p.id,
            ),
        )
        return ranked[: len(pods) - replicas]
