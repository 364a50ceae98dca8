"""The cluster autoscaler's expanders: which node pool grows when pending pods could go to
several.

For each pool that some pending pods may use and fit, the autoscaler builds one *option*:
how many new nodes of the pool those pods need (packed first-fit decreasing, within the
pool's ``max_nodes``) and which pods they would hold (:func:`capsim.models.packing.plan_scale_up`).
The expanders named (a chain, as ``--expander=a,b``) filter the options in turn; as soon
as one option is left it is chosen, and when several are left after the last filter one
is drawn at random (upstream's fallback). Upstream ``cluster-autoscaler/expander``:

* ``least-waste`` (the default since cluster-autoscaler 1.33; before, ``random``): the
  lowest ``(nodeCPU·n − requestedCPU)/(nodeCPU·n) + (nodeMem·n − requestedMem)/(nodeMem·n)``,
  with the nodes' *capacity* (not allocatable) and ``n`` new nodes; GPUs are not counted
  (``expander/waste/waste.go``).
* ``price``: the lowest ``unfitness' × (nodes' price + p₀)/(pods' price + p₀)``
  (``expander/price/price.go``): the nodes' price is the pool's ``price_per_hour`` × ``n``;
  a pod's price is its CPU cores × $0.033174 + memory GiB × $0.004446 + GPUs × $0.700 per
  hour (the GCE price model's base prices, ``gce_price_info.go``), ``p₀`` the price of a
  500m / 500 MiB pod. ``unfitness = max(preferred/node, node/preferred)`` on CPU
  cores, where the preferred node grows with the cluster's node count (1 core up to 2
  nodes, 2 up to 6, 4 up to 20, 8 up to 60, 16 up to 200, else 32:
  ``price/preferred.go``), damped for larger scale-ups:
  ``unfitness' = (unfitness − 1)·(1 − tanh((n − 1)/15)) + 1``; a pool with GPUs gets
  ``unfitness' = 1000`` (so GPU pools are chosen only when nothing else fits).
* ``most-pods``: the options that would schedule the most pods.
* ``least-nodes``: the options that need the fewest new nodes.
* ``random``: one option at random.

Ties are exact (equal floats), as upstream.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EXPANDERS",
    "ExpanderName",
    "ScaleUpOption",
    "choose_option",
    "pod_price_per_hour",
]

ExpanderName = Literal["least-waste", "price", "most-pods", "least-nodes", "random"]
EXPANDERS: tuple[ExpanderName, ...] = ("least-waste", "price", "most-pods", "least-nodes", "random")

CPU_PRICE_PER_CORE_HOUR = 0.033174
MEMORY_PRICE_PER_GIB_HOUR = 0.004446
GPU_PRICE_PER_HOUR = 0.700
GPU_UNFITNESS = 1000.0
_PREFERRED_CORES = ((2, 1.0), (6, 2.0), (20, 4.0), (60, 8.0), (200, 16.0))


@dataclass(frozen=True)
class ScaleUpOption:
    """Growing one pool by ``node_count`` nodes for ``pods`` pending pods, with the pods'
    summed requests and the pool's node capacity and price."""

    pool: str
    node_count: int
    pods: int
    requested_cpu_m: int
    requested_memory_b: int
    requested_gpu: int
    node_cpu_m: int  # capacity (vCPUs), as the expanders read the template node
    node_memory_b: int
    node_gpu: int
    price_per_hour: float


def pod_price_per_hour(cpu_m: float, memory_b: float, gpu: float) -> float:
    """The GCE price model's price of pods requesting this much, per hour."""
    return (
        cpu_m / 1000.0 * CPU_PRICE_PER_CORE_HOUR
        + memory_b / 2**30 * MEMORY_PRICE_PER_GIB_HOUR
        + gpu * GPU_PRICE_PER_HOUR
    )


def _waste(option: ScaleUpOption) -> float:
    cpu = option.node_cpu_m * option.node_count
    memory = option.node_memory_b * option.node_count
    return (cpu - option.requested_cpu_m) / cpu + (memory - option.requested_memory_b) / memory


def _preferred_cores(cluster_nodes: int) -> float:
    for most, cores in _PREFERRED_CORES:
        if cluster_nodes <= most:
            return cores
    return 32.0


def _price_score(option: ScaleUpOption, cluster_nodes: int) -> float:
    stabilization = pod_price_per_hour(500, 500 * 2**20, 0)
    nodes = option.price_per_hour * option.node_count
    pods = pod_price_per_hour(
        option.requested_cpu_m, option.requested_memory_b, option.requested_gpu
    )
    if option.node_gpu > 0:
        unfitness = GPU_UNFITNESS
    else:
        preferred, cores = _preferred_cores(cluster_nodes), option.node_cpu_m / 1000.0
        plain = max(preferred / cores, cores / preferred)
        unfitness = (plain - 1.0) * (1.0 - math.tanh((option.node_count - 1) / 15.0)) + 1.0
    return unfitness * (nodes + stabilization) / (pods + stabilization)


def _lowest(
    options: Sequence[ScaleUpOption], score: Callable[[ScaleUpOption], float]
) -> list[ScaleUpOption]:
    best = min(score(o) for o in options)
    return [o for o in options if score(o) == best]


def _filter(
    name: ExpanderName, options: Sequence[ScaleUpOption], cluster_nodes: int
) -> list[ScaleUpOption]:
    if name == "least-waste":
        return _lowest(options, _waste)
    if name == "price":
        return _lowest(options, lambda o: _price_score(o, cluster_nodes))
    if name == "most-pods":
        return _lowest(options, lambda o: -o.pods)
    if name == "least-nodes":
        return _lowest(options, lambda o: o.node_count)
    return list(options)  # random: the fallback draws


def choose_option(
    options: Sequence[ScaleUpOption],
    chain: Sequence[ExpanderName],
    cluster_nodes: int,
    draw: Callable[[int], int],
) -> ScaleUpOption | None:
    """The option the expanders ``chain`` choose (module docstring); ``draw(n)`` returns
    a uniform index below ``n`` and is called only when several options are left.
    ``cluster_nodes`` is the number of nodes in the cluster (for ``price``)."""
    left = list(options)
    for name in chain:
        if len(left) <= 1:
            break
        left = _filter(name, left, cluster_nodes)
    if not left:
        return None
    return left[0] if len(left) == 1 else left[draw(len(left))]
