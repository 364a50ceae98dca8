"""The nodes of a Kubernetes platform: what is running or being provisioned, and the bill.

Nodes bill per second from request to removal, with a 60 s minimum
(:data:`BILLING_MINIMUM_S`), for their whole vCPUs, memory and GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence

from capsim.engine.machines import Machines
from capsim.models.packing import Node
from capsim.scenario import NodePool

__all__ = ["BILLING_MINIMUM_S", "NodeSet"]

BILLING_MINIMUM_S = 60.0


class NodeSet:
    """The nodes of one platform, the ids of those removed, and what they cost."""

    def __init__(self, pools: Sequence[NodePool]) -> None:
        self.pools: dict[str, NodePool] = {}
        for pool in pools:  # the first pool of a name, as the scenario lists them
            self.pools.setdefault(pool.name, pool)
        self.nodes: list[Node] = []
        self.removed: dict[int, float] = {}  # node id → removal time
        self.machines = Machines(BILLING_MINIMUM_S)

    def count(self, pool: str) -> int:
        return sum(1 for n in self.nodes if n.pool == pool)

    def add(self, node_id: int, pool_name: str, now: float, ready_s: float | None) -> Node:
        """A node of ``pool_name`` requested at ``now`` (ready at ``ready_s``, or None
        while it is provisioned), billed from now."""
        pool = self.pools[pool_name]
        node = Node(
            node_id,
            pool.name,
            pool.allocatable_cpu_millicores,
            pool.allocatable_memory_bytes,
            pool.gpu,
            now,
            ready_s,
        )
        self.nodes.append(node)
        self.machines.open(
            node.id,
            now,
            pool.price_per_hour,
            pool.vcpu_millicores / 1000.0,
            pool.memory_bytes,
            pool.gpu,
        )
        return node

    def remove(self, node: Node, now: float) -> None:
        self.nodes.remove(node)
        self.removed[node.id] = now
        self.machines.close(node.id, now)
