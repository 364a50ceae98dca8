"""Batch jobs on a Kubernetes platform: their workers are pods on the shared nodes.

A job's workers are pods (the workload's ``pod``, or one requesting the worker's cpu,
memory and gpu). Queued jobs are placed in queue order whenever pods or nodes change: a
gang job only when all its pods fit at once (:func:`capsim.models.packing.place_all`),
other jobs pod by pod; a job that does not fit does not block smaller ones behind it.
Unplaced workers are pending pods to the cluster autoscaler. A placed worker pulls its
image and starts its container, then computes; its pod is deleted when it is done.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import simpy

from capsim.engine.batch import BatchJobs, JobRun
from capsim.engine.kubernetes.cluster import Cluster
from capsim.engine.kubernetes.pods import Pod
from capsim.models.packing import Node, PodRequest, choose_node, place_all

__all__ = ["JobPlacement"]


class JobPlacement:
    """Places the workers of queued jobs on ``cluster`` and runs them.

    ``limit_cores`` is per workload: the CPU a worker may use (its pod requests what
    ``cluster.requests`` says).
    """

    def __init__(
        self,
        cluster: Cluster,
        jobs: BatchJobs,
        limit_cores: Sequence[float],
    ) -> None:
        self.cluster = cluster
        self.jobs = jobs
        self.limit_cores = list(limit_cores)

    def submit(self, run: JobRun, now: float) -> None:
        """Queue a new job and place what fits."""
        self.jobs.enqueue(run)
        self.place(now)

    def pending_requests(self) -> list[PodRequest]:
        """What waits for a node: service pods, then the unplaced workers of queued jobs."""
        cluster = self.cluster
        if not (cluster.pods.pending or self.jobs.queue):
            return []
        requests = [cluster.requests[p.workload] for p in cluster.pods.pending]
        for run in self.jobs.queue:
            requests.extend([cluster.requests[run.workload]] * (run.spec.workers - run.placed))
        return requests

    def place(self, now: float) -> None:
        """Place queued jobs in queue order (gang: all workers or none)."""
        if not self.jobs.queue:  # (called at every pod change)
            return
        cluster = self.cluster
        for run in list(self.jobs.queue):
            w, spec = run.workload, run.spec
            request = cluster.requests[w]
            nodes = cluster.nodes.nodes
            if spec.gang:
                first = cluster.upcoming_id()  # the ids the gang's pods will get
                ids = range(first, first + spec.workers)
                chosen = place_all(nodes, [(i, request) for i in ids], cluster.scheduler)
                if chosen is None:
                    continue
                placed = [(cluster.new_pod(w, now), node) for node in chosen]
            else:
                placed = []
                while run.placed + len(placed) < spec.workers:
                    node = choose_node(nodes, request, cluster.scheduler)
                    if node is None:
                        break
                    pod = cluster.new_pod(w, now)
                    node.add(pod.id, request)
                    placed.append((pod, node))
            for pod, node in placed:
                self._bind_worker(run, pod, node, now)
            if run.placed == spec.workers:
                self.jobs.queue.remove(run)

    def _request_cores(self, w: int) -> float:
        return self.cluster.requests[w].cpu_m / 1000.0

    def _bind_worker(self, run: JobRun, pod: Pod, node: Node, now: float) -> None:
        """``pod`` (already added to ``node``) is bound: it starts, then computes."""
        self.cluster.bind(pod, node, now)
        worker = run.placed
        limit = self.limit_cores[run.workload]
        self.jobs.worker_placed(run, self._request_cores(run.workload), limit)
        self.cluster.env.process(self._run_worker(run, worker, pod, node))

    def _run_worker(
        self, run: JobRun, worker: int, pod: Pod, node: Node
    ) -> Generator[simpy.Event, Any, None]:
        cluster = self.cluster
        yield from cluster.container_up(pod, node)
        limit = self.limit_cores[run.workload]
        yield from self.jobs.work(run, worker, limit)
        cluster.delete_pod(pod)
        self.jobs.worker_removed(run, self._request_cores(run.workload), limit)
        cluster.schedule_pending()
