"""The cluster autoscaler of a Kubernetes platform, every ``scan_interval_s``.

* *Scale-up.* Pending pods (service pods and the unplaced workers of queued jobs) are
  packed onto the room left on existing nodes (ready or being provisioned), then onto
  new nodes of the one pool the expanders choose among those they may use
  (:func:`capsim.models.packing.plan_scale_up`), ready after the pool's provisioning
  delay. Ties between pools are drawn from the platform's stream.
* *Scale-down.* A node unneeded for ``scale_down_unneeded_s``, and not within
  ``scale_down_delay_after_add_s`` of a scale-up, is removed. Empty nodes go all at
  once; otherwise one node per scan. Its pods are recreated and scheduled elsewhere.
  Nodes running batch pods are never scaled down (their work cannot move, as with
  ``safe-to-evict: false``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from capsim.engine.kubernetes.cluster import Cluster
from capsim.models.packing import PodRequest, PoolLimits, plan_scale_up, scale_down_candidates
from capsim.scenario import KubernetesPlatform

__all__ = ["ClusterAutoscaler", "pool_limits"]


def pool_limits(platform: KubernetesPlatform) -> list[PoolLimits]:
    """Each pool's allocatable node shape, bounds, capacity and price, in scenario order."""
    return [
        PoolLimits(
            p.name,
            p.allocatable_cpu_millicores,
            p.allocatable_memory_bytes,
            p.gpu,
            p.max_nodes,
            p.min_nodes,
            p.vcpu_millicores,
            p.memory_bytes,
            p.price_per_hour,
        )
        for p in platform.node_pools
    ]


class ClusterAutoscaler:
    """Scale-up and scale-down of one platform's node pools (see the module docstring).

    ``pending()`` lists what is waiting for a node; ``batch`` are the workloads whose pods
    pin their nodes.
    """

    def __init__(
        self,
        cluster: Cluster,
        platform: KubernetesPlatform,
        pending: Callable[[], list[PodRequest]],
        batch: Sequence[int],
    ) -> None:
        self.cluster = cluster
        self.config = platform.cluster_autoscaler
        self.pools = pool_limits(platform)
        self._pending = pending
        self._batch = list(batch)
        self._candidates: tuple[int, set[int]] = (-1, set())  # (cluster version, node ids)
        self._last_scale_up_s = -math.inf
        self._marked = -1  # the cluster version the nodes' unneeded marks were set at
        self._earliest_mark_s = math.inf  # the earliest of those marks

    def idle(self, now: float) -> bool:
        """Whether :meth:`scan` at ``now`` would change nothing: nothing pending, no
        change to the cluster since the unneeded nodes were marked, and no node unneeded
        for long enough (or a scale-up too recent)."""
        if self._marked != self.cluster.version or self._pending():
            return False
        if now - self._last_scale_up_s < self.config.scale_down_delay_after_add_s:
            return True
        return not now - self._earliest_mark_s >= self.config.scale_down_unneeded_s

    def scan(self, now: float) -> None:
        """One scan: scale up for what is pending, then scale down what is unneeded."""
        pending = self._pending()
        if pending:
            nodes = self.cluster.nodes.nodes
            counts: dict[str, int] = {}
            for node in nodes:
                counts[node.pool] = counts.get(node.pool, 0) + 1
            # Room on every node counts, ready or provisioning: the autoscaler's
            # filter-out-schedulable pass (a gang's workers may partly fit already).
            wanted = plan_scale_up(
                pending, nodes, self.pools, counts, self.config.expander_chain, self.cluster.draw
            )
            for pool_name, count in wanted.items():
                for _ in range(count):
                    self.cluster.provision(pool_name, now)
                self._last_scale_up_s = now
        self._scale_down(now)

    def _unneeded(self) -> set[int]:
        """Ids of the nodes that could go. This depends only on what is placed where, so
        it is recomputed only after pods or nodes changed."""
        cluster = self.cluster
        if self._candidates[0] != cluster.version:
            pods = cluster.pods.by_workload
            requests_of = {p.id: cluster.requests[p.workload] for ps in pods for p in ps if p.node}
            found = {n.id for n in scale_down_candidates(cluster.nodes.nodes, requests_of)}
            found -= {p.node.id for w in self._batch for p in pods[w] if p.node is not None}
            self._candidates = (cluster.version, found)
        return self._candidates[1]

    def _scale_down(self, now: float) -> None:
        config = self.config
        nodes = self.cluster.nodes.nodes
        if self._marked != self.cluster.version:  # else the candidates and marks stand
            candidates = self._unneeded()
            for node in nodes:
                if node.id not in candidates:
                    node.unneeded_since_s = None
                elif node.unneeded_since_s is None:
                    node.unneeded_since_s = now
            marks = [n.unneeded_since_s for n in nodes if n.unneeded_since_s is not None]
            self._earliest_mark_s = min(marks, default=math.inf)
            self._marked = self.cluster.version
        if now - self._last_scale_up_s < config.scale_down_delay_after_add_s:
            return
        # is any node unneeded for long enough? (now − t is monotone in t: the earliest)
        if not now - self._earliest_mark_s >= config.scale_down_unneeded_s:
            return
        due = config.scale_down_unneeded_s
        minimum = {p.name: p.min_nodes for p in self.pools}
        removed_busy = False
        for node in sorted(nodes, key=lambda n: (len(n.pods), -n.id)):
            since = node.unneeded_since_s
            if since is None or now - since < due:
                continue
            if sum(1 for n in nodes if n.pool == node.pool) <= minimum[node.pool]:
                continue
            if node.pods and removed_busy:
                continue
            removed_busy = removed_busy or bool(node.pods)
            self.cluster.remove_node(node, now)
