"""Scenario fields that decide where pods may run: node pool ``labels`` and ``taints``, and
a pod's ``tolerations``, ``node_selector`` and required node ``affinity``, written as in
Kubernetes manifests; parsed into :mod:`capsim.models.placement`'s plain types.

A node pool's ``taints`` default to ``nvidia.com/gpu=present:NoSchedule`` when its nodes
have GPUs (as GKE taints GPU node pools) and to none otherwise; ``taints: []`` leaves a
GPU pool untainted (as EKS and AKS do unless told). A pod that requests GPUs tolerates
that taint without saying so (``ExtendedResourceToleration``). Every node carries its
pool's ``labels`` and ``node.kubernetes.io/instance-type: <instance>``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from capsim.models.placement import (
    GPU_TAINT,
    AffinityTerm,
    NodeShape,
    PodPlacement,
    Requirement,
    Taint,
    Toleration,
)
from capsim.scenario.base import FrozenModel

__all__ = [
    "INSTANCE_TYPE_LABEL",
    "Affinity",
    "LabelKey",
    "LabelValue",
    "TaintSpec",
    "TolerationSpec",
    "node_shape",
    "pod_placement",
]

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
LabelKey = Annotated[str, Field(pattern=rf"^({_PREFIX}/)?{_NAME}$", max_length=317)]
"""A label or taint key: an optional DNS-subdomain prefix and ``/``, then a name of at
most 63 letters, digits, ``-``, ``_`` and ``.`` (Kubernetes' qualified names)."""
LabelValue = Annotated[str, Field(pattern=rf"^({_NAME})?$", max_length=63)]
"""A label or taint value: empty, or a name as in :data:`LabelKey`."""

Effect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class TaintSpec(FrozenModel):
    """A node taint, as in a Node's ``spec.taints``."""

    key: LabelKey
    """The taint's key (``nvidia.com/gpu``, ``dedicated``, …)."""
    value: LabelValue = ""
    """The taint's value (may be empty)."""
    effect: Effect
    """``NoSchedule`` or ``NoExecute``: pods that do not tolerate it never land on the
    pool; ``PreferNoSchedule``: they land there only when nothing else fits."""


class TolerationSpec(FrozenModel):
    """A pod toleration, as in a Pod's ``spec.tolerations`` (``Equal`` by default; an
    empty key needs ``Exists`` and tolerates every taint; no effect: every effect).
    ``tolerationSeconds`` is not modelled: taints here never evict."""

    key: LabelKey | Literal[""] = ""
    """The taint key tolerated; empty (with ``Exists``): every key."""
    operator: Literal["Equal", "Exists"] = "Equal"
    """``Equal``: the taint's value must equal ``value``; ``Exists``: any value."""
    value: LabelValue = ""
    """The value tolerated (with ``Equal``)."""
    effect: Effect | Literal[""] = ""
    """The effect tolerated; empty: every effect."""

    @model_validator(mode="after")
    def _operator(self) -> TolerationSpec:
        if self.operator == "Exists" and self.value:
            raise ValueError(f"value must be empty when operator is Exists, got {self.value!r}")
        if not self.key and self.operator != "Exists":
            raise ValueError("operator must be Exists when key is empty")
        return self


class MatchExpression(FrozenModel):
    """One ``matchExpressions`` entry (``In``/``NotIn``: values; ``Exists``/
    ``DoesNotExist``: none; ``Gt``/``Lt``: one integer)."""

    key: LabelKey
    """The node label's key."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    """How the label is compared: ``In``/``NotIn`` the values, ``Exists``/``DoesNotExist``
    its presence, ``Gt``/``Lt`` as integers with the one value."""
    values: tuple[LabelValue, ...] = ()
    """The values compared with."""

    @model_validator(mode="after")
    def _values(self) -> MatchExpression:
        count = len(self.values)
        if self.operator in ("In", "NotIn") and not count:
            raise ValueError(f"values: must be non-empty with operator {self.operator}")
        if self.operator in ("Exists", "DoesNotExist") and count:
            raise ValueError(f"values: must be empty with operator {self.operator}")
        if self.operator in ("Gt", "Lt") and (
            count != 1 or not self.values[0].lstrip("+-").isdigit()
        ):
            raise ValueError(
                f"values: must be one integer with operator {self.operator}, got {self.values}"
            )
        return self


class SelectorTerm(FrozenModel):
    """A node selector term: every expression must match."""

    match_expressions: tuple[MatchExpression, ...] = Field(
        alias="matchExpressions", min_length=1, max_length=64
    )
    """Requirements on the node's labels, all of which must hold."""


class RequiredAffinity(FrozenModel):
    """``requiredDuringSchedulingIgnoredDuringExecution``: node selector terms."""

    node_selector_terms: tuple[SelectorTerm, ...] = Field(
        alias="nodeSelectorTerms", min_length=1, max_length=64
    )
    """Terms of which the node must match at least one."""


class NodeAffinity(FrozenModel):
    """``nodeAffinity``: its required part."""

    required: RequiredAffinity = Field(alias="requiredDuringSchedulingIgnoredDuringExecution")
    """What the node must match for the pod to be scheduled there."""


class Affinity(FrozenModel):
    """A pod's ``affinity``: only required node affinity is simulated (the node must match
    one of the terms)."""

    node_affinity: NodeAffinity = Field(alias="nodeAffinity")
    """Node affinity (only the required part is simulated)."""


def node_shape(
    name: str, instance: str, gpu: int, labels: dict[str, str], taints: tuple[TaintSpec, ...] | None
) -> NodeShape:
    """A pool's nodes as placement sees them (default taints and labels filled in)."""
    listed: tuple[Taint, ...] = (GPU_TAINT,) if taints is None and gpu > 0 else ()
    if taints is not None:
        listed = tuple(Taint(t.key, t.value, t.effect) for t in taints)
    return NodeShape(name, {INSTANCE_TYPE_LABEL: instance, **labels}, listed)


def pod_placement(
    gpu: int,
    tolerations: tuple[TolerationSpec, ...],
    node_selector: dict[str, str],
    affinity: Affinity | None,
) -> PodPlacement:
    """A pod as placement sees it."""
    terms: tuple[AffinityTerm, ...] = ()
    if affinity is not None:
        terms = tuple(
            AffinityTerm(
                tuple(Requirement(e.key, e.operator, e.values) for e in t.match_expressions)
            )
            for t in affinity.node_affinity.required.node_selector_terms
        )
    return PodPlacement(
        tuple(Toleration(t.key, t.operator, t.value, t.effect) for t in tolerations),
        dict(node_selector),
        terms,
        gpu,
    )
