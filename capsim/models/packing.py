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
  - pending pods first go where existing nodes (ready or being provisioned) have room;
  - the rest are packed first-fit-decreasing onto new nodes of the first pool they fit;
  - no pool grows past ``max_nodes``.
* **Scale-down** (:func:`scale_down_candidates`): a ready node is *unneeded* when the
  requests on it are below ``utilization_threshold`` (0.5, the autoscaler default) of
  its allocatable capacity, for both CPU and memory, and its pods fit on the other ready
  nodes. The engine removes a node once it has been unneeded for
  ``scale_down_unneeded_s``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

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
    """What a pod asks the scheduler for (millicores, bytes, whole GPUs)."""

    cpu_m: int
    memory_b: int
    gpu: int = 0


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
    """A pool's node shape and bounds, as the autoscaler sees it."""

    name: str
    cpu_m: int
    memory_b: int
    gpu: int
    max_nodes: int
    min_nodes: int = 0


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
    """The ready node a pod goes to, or ``None`` if it fits nowhere (it stays Pending)."""
    best: Node | None = None
    best_score = -1.0
    for node in nodes:
        if not node.ready or not fits(node.free(), request):
            continue
        score = _score(node, request, strategy)
        if score > best_score:
            best, best_score = node, score
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
) -> dict[str, int]:
    """How many new nodes of each pool the pending pods need (first-fit decreasing).

    ``existing`` nodes take pods first, in their free room (ready nodes: the autoscaler's
    filter-out-schedulable pass; provisioning nodes: capacity on its way);
    ``nodes_per_pool`` counts existing nodes (ready or provisioning) against
    ``max_nodes``. A pod that fits no pool shape is left pending.
    """
    free = [list(node.free()) for node in existing]
    new_nodes: list[tuple[str, list[int]]] = []
    wanted: dict[str, int] = {}
    order = sorted(pending, key=lambda r: (r.cpu_m, r.memory_b, r.gpu), reverse=True)
    for request in order:
        if _place_virtually(free, request) or _place_virtually(
            [room for _, room in new_nodes], request
        ):
            continue
        for pool in pools:
            shape = (pool.cpu_m, pool.memory_b, pool.gpu)
            count = nodes_per_pool.get(pool.name, 0) + wanted.get(pool.name, 0)
            if fits(shape, request) and count < pool.max_nodes:
                room = [
                    shape[0] - request.cpu_m,
                    shape[1] - request.memory_b,
                    shape[2] - request.gpu,
                ]
                new_nodes.append((pool.name, room))
                wanted[pool.name] = wanted.get(pool.name, 0) + 1
                break
    return wanted


def _place_virtually(rooms: Sequence[list[int]], request: PodRequest) -> bool:
    for room in rooms:
        if fits((room[0], room[1], room[2]), request):
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
    spare = {node.id: list(node.free()) for node in ready}
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
        trial = [room.copy() for room in others]
        if all(_place_virtually(trial, requests_of[pod]) for pod in sorted(node.pods)):
            for room, after in zip(others, trial, strict=True):
                room[:] = after
            removable.append(node)
    return removable
