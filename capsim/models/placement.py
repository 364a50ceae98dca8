"""Which node pools a pod may land on: taints and tolerations, node selectors and required
node affinity, as kube-scheduler's ``TaintToleration`` and ``NodeAffinity`` filters decide.

Every node of a pool has the pool's labels and taints, so the decision is made per pool,
once, from plain data (:func:`eligible_pools`); the scheduler and the cluster autoscaler
then consider only those pools.

Rules (upstream ``k8s.io/api/core/v1`` ``Toleration.ToleratesTaint`` and
``component-helpers/scheduling/corev1/nodeaffinity``):

* A toleration tolerates a taint when its effect is empty or equal to the taint's, its
  key is empty or equal to the taint's, and its operator is ``Exists`` (any value) or
  ``Equal`` (the default: the values are equal).
* A pod may not land on a node with a ``NoSchedule`` or ``NoExecute`` taint it does not
  tolerate. A ``PreferNoSchedule`` taint only makes the node less preferred
  (:func:`preference_rank`).
* ``node_selector``: every label given must be on the node with that value.
* Required node affinity: the node must match at least one term, and a term matches
  when all of its expressions do: ``In`` (the label is one of the values), ``NotIn``
  (the label is absent or none of them), ``Exists``, ``DoesNotExist``, ``Gt`` and
  ``Lt`` (the label and the one value are integers, compared; an absent or
  non-integer label does not match).
* A pod that requests GPUs tolerates ``nvidia.com/gpu`` (``Exists``, ``NoSchedule``),
  as the ``ExtendedResourceToleration`` admission plugin adds for pods requesting an
  extended resource (GKE enables it; it taints GPU node pools with
  ``nvidia.com/gpu=present:NoSchedule``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "GPU_TAINT",
    "GPU_TOLERATION",
    "AffinityTerm",
    "NodeShape",
    "PodPlacement",
    "Requirement",
    "Taint",
    "Toleration",
    "eligible_pools",
    "matches_term",
    "preference_rank",
    "tolerates",
    "untolerated",
]

Effect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
Operator = Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]

BLOCKING: frozenset[str] = frozenset({"NoSchedule", "NoExecute"})
"""Taint effects the scheduler's filter honours (a pod must tolerate them to land)."""


@dataclass(frozen=True)
class Taint:
    """A node taint: ``key=value:effect``."""

    key: str
    value: str
    effect: Effect

    def __str__(self) -> str:
        value = f"={self.value}" if self.value else ""
        return f"{self.key}{value}:{self.effect}"


@dataclass(frozen=True)
class Toleration:
    """A pod toleration; empty ``key`` (with ``Exists``) tolerates every key, empty
    ``effect`` every effect."""

    key: str = ""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str = ""
    effect: Effect | Literal[""] = ""


GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")
"""The taint GKE puts on GPU node pools (and capsim's default for a pool with GPUs)."""

GPU_TOLERATION = Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule")
"""What ``ExtendedResourceToleration`` adds to a pod that requests ``nvidia.com/gpu``."""


@dataclass(frozen=True)
class Requirement:
    """One ``matchExpressions`` entry of a node selector term."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class AffinityTerm:
    """A node selector term: all of its requirements must match."""

    requirements: tuple[Requirement, ...]


@dataclass(frozen=True)
class NodeShape:
    """What placement reads of a pool's nodes: their labels and taints."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]


@dataclass(frozen=True)
class PodPlacement:
    """What placement reads of a pod: tolerations, node selector, required affinity
    (empty: any node), and whether it requests GPUs."""

    tolerations: tuple[Toleration, ...] = ()
    node_selector: Mapping[str, str] | None = None
    affinity: tuple[AffinityTerm, ...] = ()
    gpu: int = 0

    def all_tolerations(self) -> tuple[Toleration, ...]:
        """The pod's tolerations and, when it requests GPUs, :data:`GPU_TOLERATION`."""
        return (*self.tolerations, GPU_TOLERATION) if self.gpu > 0 else self.tolerations


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Upstream ``Toleration.ToleratesTaint`` (module docstring)."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator == "Exists":
        return True
    return toleration.value == taint.value


def untolerated(taints: Sequence[Taint], tolerations: Sequence[Toleration]) -> list[Taint]:
    """The taints of ``taints`` no toleration of ``tolerations`` tolerates."""
    return [t for t in taints if not any(tolerates(x, t) for x in tolerations)]


def _integer(text: str) -> int | None:
    """A label value as Go's ``strconv.ParseInt(text, 10, 64)`` reads it, else None."""
    body = text[1:] if text[:1] in "+-" else text
    if not body.isascii() or not body.isdigit():
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _matches(labels: Mapping[str, str], requirement: Requirement) -> bool:
    key, operator, values = requirement.key, requirement.operator, requirement.values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    have, bound = _integer(labels.get(key, "")), _integer(values[0]) if values else None
    if have is None or bound is None:
        return False
    return have > bound if operator == "Gt" else have < bound


def matches_term(labels: Mapping[str, str], term: AffinityTerm) -> bool:
    """True when ``labels`` satisfy every requirement of ``term`` (an empty term matches
    nothing, as upstream)."""
    return bool(term.requirements) and all(_matches(labels, r) for r in term.requirements)


def _allowed(pod: PodPlacement, shape: NodeShape) -> bool:
    blocking = [t for t in shape.taints if t.effect in BLOCKING]
    if untolerated(blocking, pod.all_tolerations()):
        return False
    selector = pod.node_selector or {}
    if any(shape.labels.get(key) != value for key, value in selector.items()):
        return False
    return not pod.affinity or any(matches_term(shape.labels, t) for t in pod.affinity)


def eligible_pools(pod: PodPlacement, shapes: Sequence[NodeShape]) -> frozenset[str]:
    """The names of the pools whose nodes the pod may land on (module docstring)."""
    return frozenset(shape.name for shape in shapes if _allowed(pod, shape))


def preference_rank(pod: PodPlacement, shape: NodeShape) -> int:
    """How many ``PreferNoSchedule`` taints of the pool the pod does not tolerate: the
    scheduler prefers nodes with fewer (compared before the resource score)."""
    soft = [t for t in shape.taints if t.effect == "PreferNoSchedule"]
    return len(untolerated(soft, pod.all_tolerations()))
