"""Pods and nodes of one Kubernetes platform and what happens to them: the scheduler, the
kubelet starting containers, the ReplicaSet controller and node provisioning.

* *Start.* A new pod is scheduled at once if it fits
  (:func:`capsim.models.packing.choose_node`), otherwise it stays Pending. On its node it
  pulls its image (``image_size / pull_bandwidth``; skipped on nodes that already pulled
  it), starts its container, and becomes Ready after the readiness delay.
* *Nodes* are requested, become ready after their pool's provisioning delay, and are
  removed with their pods, which are recreated and scheduled elsewhere.
* *Events.* Each pod's life is logged: ``pod_scheduled`` (with its node),
  ``pod_started``, ``pod_ready`` (services) and ``pod_deleted``; so is each node's:
  ``node_requested``, ``node_ready``, ``node_removed``.

Pods and nodes draw their ids from one counter. :attr:`Cluster.version` changes whenever
pods or nodes change (a cache key for the cluster autoscaler).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import simpy

from capsim.engine.kubernetes.nodes import NodeSet
from capsim.engine.kubernetes.pods import Pod, PodSet
from capsim.engine.recorder import PlatformRecorder
from capsim.models.packing import Node, PodRequest, Strategy, choose_node
from capsim.scenario import KubernetesPlatform, PodTemplate

__all__ = ["Cluster"]


class Cluster:
    """The pods and nodes of one platform (see the module docstring).

    ``names`` and ``templates`` are per workload of the scenario; ``requests`` what each
    workload's pods ask the scheduler for. ``place_jobs(now)`` is called whenever room may
    have appeared, after pending service pods had their turn.
    """

    def __init__(
        self,
        env: simpy.Environment,
        rng: np.random.Generator,
        recorder: PlatformRecorder,
        platform: KubernetesPlatform,
        names: Sequence[str],
        templates: Sequence[PodTemplate],
        requests: Sequence[PodRequest],
    ) -> None:
        self.env = env
        self.rng = rng
        self.recorder = recorder
        self.names = list(names)
        self.templates = list(templates)
        self.requests = list(requests)
        self.scheduler: Strategy = platform.scheduler
        self.pods = PodSet(len(self.names))
        self.nodes = NodeSet(platform.node_pools)
        self.version = 0
        self.place_jobs: Callable[[float], None] = lambda now: None
        self._next_id = 0

    def next_id(self) -> int:
        """A new pod or node id."""
        self._next_id += 1
        return self._next_id - 1

    def draw(self, count: int) -> int:
        """A uniform index below ``count`` from the platform's stream (the expanders'
        tie-break)."""
        return int(self.rng.integers(count))

    def upcoming_id(self) -> int:
        """The id :meth:`next_id` gives next (without taking it)."""
        return self._next_id

    # --- nodes -----------------------------------------------------------------------

    def add_node(self, pool_name: str, now: float, ready_s: float | None) -> Node:
        node = self.nodes.add(self.next_id(), pool_name, now, ready_s)
        self.version += 1
        return node

    def provision(self, pool_name: str, now: float) -> None:
        """Request a node of ``pool_name``; it is ready after the pool's delay."""
        node = self.add_node(pool_name, now, ready_s=None)
        delay = self.nodes.pools[pool_name].provision.draw(self.rng)
        self.recorder.event(now, "*", "node_requested", reason=pool_name, detail=f"node {node.id}")
        self.env.process(self._node_ready(node, delay))

    def _node_ready(self, node: Node, delay: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(delay)
        if node.id in self.nodes.removed:
            return
        node.ready_s = self.env.now
        self.version += 1
        self.recorder.event(self.env.now, "*", "node_ready", detail=f"node {node.id}")
        self.schedule_pending()

    def remove_node(self, node: Node, now: float) -> None:
        """Remove ``node``; its pods are deleted and recreated to be scheduled elsewhere."""
        self.nodes.remove(node, now)
        self.version += 1
        self.recorder.event(now, "*", "node_removed", reason="ScaleDown", detail=f"node {node.id}")
        for w, pods in enumerate(self.pods.by_workload):
            for pod in [p for p in pods if p.node is node]:
                self.delete_pod(pod)
                self.create_pod(w, now)

    # --- pods ------------------------------------------------------------------------

    def new_pod(self, w: int, now: float) -> Pod:
        pod = Pod(self.next_id(), w, now)
        self.pods.add(pod)
        return pod

    def create_pod(self, w: int, now: float) -> None:
        """A new pod of workload ``w``, scheduled if it fits."""
        pod = self.new_pod(w, now)
        self.pods.pending.append(pod)
        self.schedule_pending()

    def bind(self, pod: Pod, node: Node, now: float) -> None:
        """``pod`` (already added to ``node``) is scheduled there."""
        self.pods.bind(pod, node, now)
        self.version += 1
        self.pod_event(now, "pod_scheduled", pod)

    def schedule_pending(self) -> None:
        """Schedule the pending service pods that fit, then queued batch jobs."""
        now = self.env.now
        for pod in list(self.pods.pending):
            request = self.requests[pod.workload]
            node = choose_node(self.nodes.nodes, request, self.scheduler)
            if node is None:
                continue
            node.add(pod.id, request)
            self.pods.pending.remove(pod)
            self.bind(pod, node, now)
            self.env.process(self._start(pod, node))
        self.place_jobs(now)

    def pod_event(self, now: float, kind: str, pod: Pod) -> None:
        where = f" on node {pod.node.id}" if pod.node is not None else ""
        self.recorder.event(now, self.names[pod.workload], kind, detail=f"pod {pod.id}{where}")

    def container_up(self, pod: Pod, node: Node) -> Generator[simpy.Event, Any, None]:
        """Pull the image (unless the node has it) and start the container."""
        template = self.templates[pod.workload]
        image = self.names[pod.workload]
        pull = 0.0
        if image not in node.images and template.image_size_bytes > 0:
            pull = template.image_size_bytes / template.pull_bandwidth_bytes_per_s
        start = template.container_start.draw(self.rng)
        yield self.env.timeout(pull + start)
        if not pod.deleted:
            node.images.add(image)
            pod.running_s = self.env.now
            self.pod_event(self.env.now, "pod_started", pod)

    def _start(self, pod: Pod, node: Node) -> Generator[simpy.Event, Any, None]:
        template = self.templates[pod.workload]
        yield from self.container_up(pod, node)
        if pod.deleted:
            return
        yield self.env.timeout(template.readiness_delay.draw(self.rng))
        if pod.deleted:
            return
        self.pods.mark_ready(pod, self.env.now)
        self.pod_event(self.env.now, "pod_ready", pod)

    def delete_pod(self, pod: Pod) -> None:
        self.version += 1
        self.pod_event(self.env.now, "pod_deleted", pod)
        if pod.node is not None:
            pod.node.remove(pod.id, self.requests[pod.workload])
        self.pods.forget(pod)

    def scale_to(self, w: int, replicas: int, now: float) -> None:
        """The ReplicaSet of workload ``w`` creates or deletes pods to have ``replicas``."""
        pods = self.pods.by_workload[w]
        if replicas > len(pods):
            for _ in range(replicas - len(pods)):
                self.create_pod(w, now)
            return
        for pod in self.pods.scale_down_victims(w, replicas):
            self.delete_pod(pod)
        self.schedule_pending()
