"""Kubernetes manifests in: ``autoscaling/v2`` HPAs and ``apps/v1`` Deployments → typed objects.

Parsed once at the edge with pydantic; nothing from the Kubernetes client is used, and no
manifest dict travels further in. Every error names the file, the document (1-based, in a
multi-document file or a ``kind: List``), the field path and the bad value::

    web-hpa.yaml: document 2: spec.metrics[0].resource.target.averageUtilization: \
must be greater than zero, got -5

Accepted HPA versions: ``autoscaling/v2``; ``autoscaling/v2beta2`` (removed in Kubernetes
1.26, same schema: read with a warning); ``autoscaling/v1`` (converted:
``targetCPUUtilizationPercentage`` becomes a CPU Utilization metric). ``autoscaling/v2beta1``
has another schema and was removed in 1.25: rejected with the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)
from pydantic.alias_generators import to_camel

from capsim.hpa.behavior import Behavior
from capsim.scenario.parsing import load_yaml
from capsim.scenario.parsing import validation_message as _validation_message
from capsim.units import parse_quantity

__all__ = [
    "ContainerSpec",
    "Deployment",
    "HorizontalPodAutoscaler",
    "HpaTemplate",
    "ManifestError",
    "MetricSpec",
    "MetricTarget",
    "RawObject",
    "load_deployments",
    "load_hpas",
    "raw_objects",
]


class ManifestError(ValueError):
    """A manifest is not what it should be; the message names file, document, field, value."""


def _milli(value: Any) -> int:
    """A quantity as integer milli-units, rounded up (``Quantity.MilliValue``)."""
    if value is None:
        raise ValueError("a quantity is required")
    return math.ceil(parse_quantity(value) * 1000)


MilliQuantity = Annotated[int, BeforeValidator(_milli)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class _Open(_Model):
    model_config = ConfigDict(extra="allow")


class ObjectMeta(_Open):
    name: str = Field(min_length=1)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class CrossVersionObjectReference(_Model):
    api_version: str | None = None
    kind: str = Field(min_length=1)
    name: str = Field(min_length=1)


class MetricTarget(_Model):
    """``type`` Utilization (``average_utilization`` percent), AverageValue or Value (milli)."""

    type: Literal["Utilization", "AverageValue", "Value"]
    average_utilization: int | None = Field(default=None, gt=0)
    average_value: MilliQuantity | None = None
    value: MilliQuantity | None = None

    @field_validator("average_value", "value")
    @classmethod
    def _non_negative(cls, quantity: int | None) -> int | None:
        if quantity is not None and quantity < 0:
            raise ValueError("must not be negative")
        return quantity

    @field_serializer("average_value", "value")
    def _as_quantity(self, milli: int | None) -> str | None:
        """Dumped back as quantity text (``400m``, ``2``), as a manifest writes it."""
        if milli is None:
            return None
        return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


class _ResourceSource(_Model):
    name: str = Field(min_length=1)
    target: MetricTarget


class _ContainerResourceSource(_ResourceSource):
    container: str = Field(min_length=1)


class _MetricIdentifier(_Model):
    name: str = Field(min_length=1)
    selector: dict[str, Any] | None = None


class _PodsSource(_Model):
    metric: _MetricIdentifier
    target: MetricTarget


class _ObjectSource(_Model):
    described_object: CrossVersionObjectReference
    metric: _MetricIdentifier
    target: MetricTarget


class _ExternalSource(_Model):
    metric: _MetricIdentifier
    target: MetricTarget


class MetricSpec(_Model):
    """One entry of ``spec.metrics``."""

    type: Literal["Resource", "ContainerResource", "Pods", "Object", "External"]
    resource: _ResourceSource | None = None
    container_resource: _ContainerResourceSource | None = None
    pods: _PodsSource | None = None
    object: _ObjectSource | None = None
    external: _ExternalSource | None = None

    @property
    def source(self) -> _ResourceSource | _PodsSource | _ObjectSource | _ExternalSource:
        key = self.type[0].lower() + self.type[1:]
        source = getattr(self, key)
        assert source is not None
        return source  # type: ignore[no-any-return]

    @property
    def target(self) -> MetricTarget:
        return self.source.target

    @property
    def resource_name(self) -> str | None:
        """``cpu``/``memory`` for Resource and ContainerResource metrics, else ``None``."""
        source = self.source
        return source.name if isinstance(source, _ResourceSource) else None

    @property
    def metric_name(self) -> str:
        source = self.source
        return source.name if isinstance(source, _ResourceSource) else source.metric.name


def _default_metrics() -> tuple[MetricSpec, ...]:
    """API defaulting: no metrics means CPU Utilization at 80 %."""
    return (
        MetricSpec(
            type="Resource",
            resource=_ResourceSource(
                name="cpu", target=MetricTarget(type="Utilization", average_utilization=80)
            ),
        ),
    )


class HpaTemplate(_Model):
    """The scaling part of an HPA ``spec`` (no ``scaleTargetRef``), after API defaulting.

    Scenarios embed it inline, camelCase exactly as in a manifest.
    """

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(gt=0)
    metrics: tuple[MetricSpec, ...] = Field(default_factory=_default_metrics)
    behavior: dict[str, Any] | None = None

    @field_validator("metrics", mode="before")
    @classmethod
    def _default_when_empty(cls, metrics: Any) -> Any:
        """``metrics: []`` or ``null`` is defaulted like no metrics (upstream
        ``SetDefaults_HorizontalPodAutoscaler``: no metrics means CPU at 80 %)."""
        return _default_metrics() if metrics is None or metrics == [] else metrics

    @property
    def parsed_behavior(self) -> Behavior | None:
        """The defaulted :class:`~capsim.hpa.Behavior` (``None``: legacy path)."""
        return Behavior.from_spec(self.behavior)


class HpaSpec(HpaTemplate):
    scale_target_ref: CrossVersionObjectReference


class HorizontalPodAutoscaler(_Open):
    """An HPA manifest after API defaulting (``min_replicas`` 1, CPU 80 % when no metrics).

    ``behavior`` is the defaulted :class:`~capsim.hpa.Behavior` (``None``: legacy path);
    ``metrics_defaulted`` says the manifest had no metrics.
    """

    api_version: str
    kind: Literal["HorizontalPodAutoscaler"]
    metadata: ObjectMeta
    spec: HpaSpec
    source: str = ""
    metrics_defaulted: bool = False

    @property
    def behavior(self) -> Behavior | None:
        return self.spec.parsed_behavior


class ResourceRequirements(_Model):
    requests: dict[str, MilliQuantity] = Field(default_factory=dict)
    limits: dict[str, MilliQuantity] = Field(default_factory=dict)
    claims: list[dict[str, Any]] | None = None


class Probe(_Open):
    initial_delay_seconds: int = Field(default=0, ge=0)
    period_seconds: int = Field(default=10, ge=1)
    success_threshold: int = Field(default=1, ge=1)
    failure_threshold: int = Field(default=3, ge=1)


class ContainerSpec(_Open):
    name: str = Field(min_length=1)
    image: str | None = None
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    readiness_probe: Probe | None = None
    restart_policy: str | None = None


class PodSpec(_Open):
    containers: tuple[ContainerSpec, ...] = Field(min_length=1)
    init_containers: tuple[ContainerSpec, ...] = ()


class PodTemplate(_Open):
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: PodSpec


class DeploymentSpec(_Open):
    replicas: int | None = Field(default=None, ge=0)
    selector: dict[str, Any] | None = None
    template: PodTemplate


class Deployment(_Open):
    """An ``apps/v1`` Deployment: what the HPA maths needs from it."""

    api_version: str
    kind: Literal["Deployment"]
    metadata: ObjectMeta
    spec: DeploymentSpec
    source: str = ""

    def pod_request_milli(self, resource: str) -> int | None:
        """Summed request per pod of ``resource`` over app containers and sidecars
        (restartable init containers), or ``None`` if any of them sets none — as the HPA
        computes it (``calculatePodRequestsFromContainers``)."""
        pod = self.spec.template.spec
        containers = [
            *pod.containers,
            *(c for c in pod.init_containers if c.restart_policy == "Always"),
        ]
        total = 0
        for container in containers:
            request = container.resources.requests.get(resource)
            if request is None:
                return None
            total += request
        return total

    def containers_without_request(self, resource: str) -> list[str]:
        pod = self.spec.template.spec
        containers = [
            *pod.containers,
            *(c for c in pod.init_containers if c.restart_policy == "Always"),
        ]
        return [c.name for c in containers if resource not in c.resources.requests]


@dataclass(frozen=True)
class RawObject:
    """One object of a manifest file as written, and where it is (``file: document N``)."""

    where: str
    body: Mapping[str, Any]


def raw_objects(path: str | Path) -> list[RawObject]:
    """Every object in a YAML file, unparsed: its documents and the items of ``kind: List``."""
    return list(_documents(Path(path)))


def _documents(path: Path) -> Iterator[RawObject]:
    """Every object in a YAML file: its documents, and the items of ``kind: List``."""
    loaded = load_yaml(path, ManifestError, all_documents=True)
    for index, body in enumerate(loaded, start=1):
        where = f"{path}: document {index}"
        if body is None:
            continue
        if not isinstance(body, Mapping):
            raise ManifestError(f"{where}: expected a Kubernetes object (a mapping), got {body!r}")
        if body.get("kind") == "List" and isinstance(body.get("items"), list):
            for item_index, item in enumerate(body["items"]):
                if not isinstance(item, Mapping):
                    raise ManifestError(f"{where}: items[{item_index}]: expected a mapping")
                yield RawObject(f"{where}: items[{item_index}]", item)
        else:
            yield RawObject(where, body)


_REMOVED_HPA_VERSIONS = {
    "autoscaling/v2beta1": (
        "autoscaling/v2beta1 was removed in Kubernetes 1.25 and has another schema: "
        "change apiVersion to autoscaling/v2 and write each metric target as "
        "'target: {type: Utilization, averageUtilization: N}' (was targetAverageUtilization)"
    ),
}
DEPRECATED_HPA_VERSIONS = {
    "autoscaling/v2beta2": (
        "apiVersion autoscaling/v2beta2 was removed in Kubernetes 1.26: change it to "
        "autoscaling/v2 (the spec is the same)"
    ),
}


def _v1_to_v2(spec: Mapping[str, Any]) -> dict[str, Any]:
    converted = {k: v for k, v in spec.items() if k != "targetCPUUtilizationPercentage"}
    target = spec.get("targetCPUUtilizationPercentage")
    if target is not None:
        converted["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target},
                },
            }
        ]
    return converted


def _parse_hpa(doc: RawObject) -> HorizontalPodAutoscaler:
    body = dict(doc.body)
    version = body.get("apiVersion")
    if version in _REMOVED_HPA_VERSIONS:
        raise ManifestError(f"{doc.where}: apiVersion: {_REMOVED_HPA_VERSIONS[version]}")
    if version == "autoscaling/v1" and isinstance(body.get("spec"), Mapping):
        body["spec"] = _v1_to_v2(body["spec"])
    elif version not in ("autoscaling/v2", *DEPRECATED_HPA_VERSIONS):
        raise ManifestError(
            f"{doc.where}: apiVersion: expected autoscaling/v2 for a HorizontalPodAutoscaler, "
            f"got {version!r}"
        )
    body.pop("status", None)
    spec = body.get("spec")
    defaulted = isinstance(spec, Mapping) and not spec.get("metrics")  # HpaTemplate defaults
    try:
        hpa = HorizontalPodAutoscaler.model_validate(
            {**body, "source": doc.where, "metricsDefaulted": defaulted}
        )
    except ValidationError as exc:
        raise ManifestError(_validation_message(doc.where, exc, body)) from None
    check_metric_targets(hpa.spec, doc.where)
    try:
        hpa.behavior  # noqa: B018 - validate behavior once, here at the edge
    except ValueError as exc:
        raise ManifestError(f"{doc.where}: spec.behavior.{exc}") from None
    return hpa


def check_metric_targets(template: HpaTemplate, where: str, prefix: str = "spec") -> None:
    """Each metric has its source and the value its target type needs."""
    for index, metric in enumerate(template.metrics):
        key = metric.type[0].lower() + metric.type[1:]
        path = f"{prefix}.metrics[{index}]"
        if getattr(metric, key) is None:
            raise ManifestError(f"{where}: {path}.{key}: required for type {metric.type}")
        target = metric.target
        needed = {
            "Utilization": "averageUtilization",
            "AverageValue": "averageValue",
            "Value": "value",
        }[target.type]
        if (
            getattr(
                target,
                {
                    "averageUtilization": "average_utilization",
                    "averageValue": "average_value",
                    "value": "value",
                }[needed],
            )
            is None
        ):
            raise ManifestError(
                f"{where}: {path}.{key}.target.{needed}: required for target type {target.type}"
            )
        if target.type == "Utilization" and metric.type not in ("Resource", "ContainerResource"):
            raise ManifestError(
                f"{where}: {path}.{key}.target.type: Utilization is only valid for Resource "
                f"and ContainerResource metrics, got it on a {metric.type} metric"
            )


def _objects_of_kind(path: Path, kind: str) -> Iterator[RawObject]:
    """The documents of ``kind`` in a file; an error naming what was found if none."""
    found: list[str] = []
    for doc in _documents(path):
        doc_kind = doc.body.get("kind")
        if doc_kind is None:
            raise ManifestError(f"{doc.where}: kind: required field is missing")
        found.append(str(doc_kind))
        if doc_kind == kind:
            yield doc
    if kind not in found:
        listed = ", ".join(found) if found else "no objects"
        raise ManifestError(f"{path}: no {kind} found (found: {listed})")


def load_hpas(path: str | Path) -> list[HorizontalPodAutoscaler]:
    """Every HorizontalPodAutoscaler in a YAML file (other kinds are skipped).

    Raises :class:`ManifestError` naming file, document, field and value; and when the
    file holds no HPA at all.
    """
    return [_parse_hpa(doc) for doc in _objects_of_kind(Path(path), "HorizontalPodAutoscaler")]


def _parse_deployment(doc: RawObject) -> Deployment:
    if doc.body.get("apiVersion") != "apps/v1":
        raise ManifestError(
            f"{doc.where}: apiVersion: expected apps/v1 for a Deployment, "
            f"got {doc.body.get('apiVersion')!r}"
        )
    try:
        return Deployment.model_validate({**doc.body, "source": doc.where})
    except ValidationError as exc:
        raise ManifestError(_validation_message(doc.where, exc, doc.body)) from None


def load_deployments(path: str | Path) -> list[Deployment]:
    """Every ``apps/v1`` Deployment in a YAML file (other kinds are skipped)."""
    return [_parse_deployment(doc) for doc in _objects_of_kind(Path(path), "Deployment")]
