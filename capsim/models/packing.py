"""Nodes, pod placement and the cluster autoscaler's decisions, over plain data.

The engine (:mod:`capsim.engine.kubernetes`) owns the mutable :class:`Node` records. The
decisions here read them and return what to do:

* **Placement** (:func:`choose_node`) follows kube-scheduler's ``NodeResourcesFit``:
  - a pod fits where its CPU, memory and GPU requests fit in the node's allocatable
    capacity minus what is already requested there;
  - ``least_allocated`` (the default) prefers the node with the most free share after
    placing it, averaged over CPU and memory;
  - ``most_allocated`` prefers the fullest node (bin packing);
  - ties go to the oldest node.
* **Gang placement** (:func:`place_all`) places a job's pods all together or not at all,
  as a coscheduling plugin does.
* **Scale-up** (:func:`plan_scale_up`) follows the cluster autoscaler:
  - pending pods first go where existing nodes (ready or being provisioned) of pools
    they may use have room;
  - for the rest, each pool they may use and fit gives an option (the pods packed
    first-fit-decreasing onto new nodes of its shape, within ``max_nodes``), and the
    expanders choose one pool to grow (:mod:`capsim.models.expanders`).
* **Where a pod may go** (``PodRequest.pools``, ``PodRequest.avoid``):
  :mod:`capsim.models.placement` (taints, tolerations, node selectors, node affinity).
* **Scale-down** (:func:`scale_down_candidates`): a ready node is *unneeded* when the
  requests on it are below ``utilization_threshold`` (0.5, the autoscaler default) of
  its allocatable capacity, for both CPU and memory, and its pods fit on the other ready
  nodes. The engine removes a node once it has been unneeded for
  ``scale_down_unneeded_s``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from capsim.models.expanders import ExpanderName, ScaleUpOption, choose_option

__all__ = [
    "Node",
    "PodRequest",
    "PoolLimits",
    "choose_node",
    "fits",
    "place_all",
    "plan_scale_up",
    "scale_down_candidates",
]

Strategy = Literal["least_allocated", "most_allocated"]


@dataclass(frozen=True)
class PodRequest:
    """What a pod asks the scheduler for (millicores, bytes, whole GPUs) and where it may
    go: ``pools`` it may land on (``None``: any; :func:`capsim.models.placement.eligible_pools`)
    and ``avoid``, pools whose ``PreferNoSchedule`` taints it does not tolerate (used only
    when no other node fits)."""

    cpu_m: int
    memory_b: int
    gpu: int = 0
    pools: frozenset[str] | None = None
    avoid: frozenset[str] = frozenset()

    def may_use(self, pool: str) -> bool:
        """True when the pod may land on nodes of ``pool``."""
        return self.pools is None or pool in self.pools


@dataclass
class Node:
    """One node: its pool, capacity, what is requested on it, and its lifecycle times.

    ``ready_s`` is ``None`` while the node is being provisioned.
    """

    id: int
    pool: str
    cpu_m: int
    memory_b: int
    gpu: int
    requested_s: float
    ready_s: float | None = None
    used_cpu_m: int = 0
    used_memory_b: int = 0
    used_gpu: int = 0
    pods: set[int] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    unneeded_since_s: float | None = None

    @property
    def ready(self) -> bool:
        return self.ready_s is not None

    def free(self) -> tuple[int, int, int]:
        return (
            self.cpu_m - self.used_cpu_m,
            self.memory_b - self.used_memory_b,
            self.gpu - self.used_gpu,
        )

    def add(self, pod_id: int, request: PodRequest) -> None:
        self.pods.add(pod_id)
        self.used_cpu_m += request.cpu_m
        self.used_memory_b += request.memory_b
        self.used_gpu += request.gpu

    def remove(self, pod_id: int, request: PodRequest) -> None:
        self.pods.discard(pod_id)
        self.used_cpu_m -= request.cpu_m
        self.used_memory_b -= request.memory_b
        self.used_gpu -= request.gpu


@dataclass(frozen=True)
class PoolLimits:
    """A pool's node shape (allocatable) and bounds, as the autoscaler sees it, and what
    the expanders read: the nodes' capacity (0: as allocatable) and price."""

    name: str
    cpu_m: int
    memory_b: int
    gpu: int
    max_nodes: int
    min_nodes: int = 0
    capacity_cpu_m: int = 0
    capacity_memory_b: int = 0
    price_per_hour: float = 0.0


def fits(free: tuple[int, int, int], request: PodRequest) -> bool:
    """True when ``request`` fits in ``free`` (cpu, memory, gpu)."""
    return request.cpu_m <= free[0] and request.memory_b <= free[1] and request.gpu <= free[2]


def _score(node: Node, request: PodRequest, strategy: Strategy) -> float:
    """kube-scheduler's NodeResourcesFit score: mean free (or used) share after placing."""
    cpu_left = (node.cpu_m - node.used_cpu_m - request.cpu_m) / node.cpu_m
    memory_left = (node.memory_b - node.used_memory_b - request.memory_b) / node.memory_b
    free_share = (cpu_left + memory_left) / 2
    return free_share if strategy == "least_allocated" else 1.0 - free_share


def choose_node(nodes: Iterable[Node], request: PodRequest, strategy: Strategy) -> Node | None:
    """The ready node a pod goes to, or ``None`` if it fits nowhere (it stays Pending):
    among the ready nodes of pools it may use where it fits, those it need not avoid
    first, then the best score, then the oldest."""
    best: Node | None = None
    best_key = (False, -1.0)
    for node in nodes:
        if not node.ready or not request.may_use(node.pool) or not fits(node.free(), request):
            continue
        key = (node.pool not in request.avoid, _score(node, request, strategy))
        if key > best_key:
            best, best_key = node, key
    return best


def place_all(
    nodes: Sequence[Node], requests: Sequence[tuple[int, PodRequest]], strategy: Strategy
) -> list[Node] | None:
    """Gang placement: every ``(pod id, request)`` on a ready node, or none of them.

    Pods are placed one after another as the scheduler would (:func:`choose_node`), each
    seeing the ones before. On success the nodes hold the pods and the chosen node of
    each is returned in order; if any pod fits nowhere the nodes are left unchanged and
    the result is ``None``.
    """
    chosen: list[Node] = []
    for pod_id, request in requests:
        node = choose_node(nodes, request, strategy)
        if node is None:
            for (placed_id, placed_request), placed in zip(requests, chosen, strict=False):
                placed.remove(placed_id, placed_request)
            return None
        node.add(pod_id, request)
        chosen.append(node)
    return chosen


def plan_scale_up(
    pending: Sequence[PodRequest],
    existing: Sequence[Node],
    pools: Sequence[PoolLimits],
    nodes_per_pool: dict[str, int],
    expander: Sequence[ExpanderName] = ("least-waste",),
    draw: Callable[[int], int] = lambda n: 0,
) -> dict[str, int]:
    """The pool to grow, and by how many nodes, for the pending pods (empty: none).

    ``existing`` nodes take pods first, in their free room, where the pods may use their
    pool (ready nodes: the autoscaler's filter-out-schedulable pass; provisioning nodes:
    capacity on its way). Then each pool that some of the rest may use and fit gives an
    option: those pods packed first-fit decreasing onto new nodes of its shape, at most
    up to ``max_nodes`` (``nodes_per_pool`` counts its nodes, ready or provisioning);
    the ``expander`` chain chooses one (:mod:`capsim.models.expanders`; ``draw`` breaks
    ties). One pool grows per scan, as upstream; pods it does not hold wait for the next.
    """
    rooms = [(node.pool, list(node.free())) for node in existing]
    order = sorted(pending, key=lambda r: (r.cpu_m, r.memory_b, r.gpu), reverse=True)
    left = [request for request in order if not _place_virtually(rooms, request)]
    options = [
        option
        for pool in pools
        if (option := _option(pool, left, nodes_per_pool.get(pool.name, 0))) is not None
    ]
    chosen = choose_option(options, expander, sum(nodes_per_pool.values()), draw)
    return {} if chosen is None else {chosen.pool: chosen.node_count}


def _option(pool: PoolLimits, pending: Sequence[PodRequest], count: int) -> ScaleUpOption | None:
    """The pods of ``pending`` (largest first) that new nodes of ``pool`` would hold."""
    shape = (pool.cpu_m, pool.memory_b, pool.gpu)
    rooms: list[tuple[str, list[int]]] = []
    held: list[PodRequest] = []
    for request in pending:
        if not request.may_use(pool.name) or not fits(shape, request):
            continue
        if not _place_virtually(rooms, request):
            if count + len(rooms) >= pool.max_nodes:
                continue
            rooms.append((pool.name, [shape[0], shape[1], shape[2]]))
            _place_virtually(rooms[-1:], request)
        held.append(request)
    if not rooms:
        return None
    return ScaleUpOption(
        pool=pool.name,
        node_count=len(rooms),
        pods=len(held),
        requested_cpu_m=sum(r.cpu_m for r in held),
        requested_memory_b=sum(r.memory_b for r in held),
        requested_gpu=sum(r.gpu for r in held),
        node_cpu_m=pool.capacity_cpu_m or pool.cpu_m,
        node_memory_b=pool.capacity_memory_b or pool.memory_b,
        node_gpu=pool.gpu,
        price_per_hour=pool.price_per_hour,
    )


def _place_virtually(rooms: Sequence[tuple[str, list[int]]], request: PodRequest) -> bool:
    """Take ``request`` out of the first room (of a pool it may use) it fits in."""
    for pool, room in rooms:
        if request.may_use(pool) and fits((room[0], room[1], room[2]), request):
            room[0] -= request.cpu_m
            room[1] -= request.memory_b
            room[2] -= request.gpu
            return True
    return False


def scale_down_candidates(
    nodes: Sequence[Node],
    requests_of: dict[int, PodRequest],
    *,
    utilization_threshold: float = 0.5,
) -> list[Node]:
    """Ready nodes the autoscaler would consider unneeded now (see the module docstring).

    Nodes are checked emptiest first; pods of a node judged removable are assumed to
    move to the remaining nodes, so two half-empty nodes are not both removed when only
    one can go.
    """
    ready = [node for node in nodes if node.ready]
    spare = {node.id: (node.pool, list(node.free())) for node in ready}
    removable: list[Node] = []
    for node in sorted(ready, key=lambda n: (n.used_cpu_m / n.cpu_m, n.id)):
        if (
            node.used_cpu_m >= utilization_threshold * node.cpu_m
            or node.used_memory_b >= utilization_threshold * node.memory_b
        ):
            continue
        others = [
            spare[other.id] for other in ready if other.id != node.id and other not in removable
        ]
        trial = [(pool, room.copy()) for pool, room in others]
        if all(_place_virtually(trial, requests_of[pod]) for pod in sorted(node.pods)):
            for (_, room), (_, after) in zip(others, trial, strict=True):
                room[:] = after
            removable.append(node)
    return removable
