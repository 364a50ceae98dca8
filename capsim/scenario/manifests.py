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

The API server's own validation (``pkg/apis/autoscaling/validation/validation.go``) is
applied here, so a manifest ``kubectl apply`` would refuse is refused with the same words:

* ``minReplicas`` >= 1. 0 is accepted only with an Object or External metric (upstream:
  the ``HPAScaleToZero`` feature gate *and* "must specify at least one Object or External
  metric to support scaling to zero replicas"); capsim simulates those named in
  :data:`SIMULATED_SERVICE_METRICS`, and ``validate`` and ``run`` refuse the others.
* ``maxReplicas`` >= 1 and >= ``minReplicas``; every count is a 32-bit integer, never a
  boolean, float or text (``minReplicas: true`` is an error, not 1).
* each metric populates exactly the source its ``type`` names; ``averageUtilization`` > 0;
  ``value``/``averageValue`` positive quantities within ``9223372036854775807m`` (``NaN``,
  ``inf``, ``1e400`` are errors); Utilization only on Resource and ContainerResource
  metrics, which take Utilization or AverageValue; Pods metrics take AverageValue;
  ``containerResource.container`` is a DNS-1123 label.
* ``behavior``: windows 0..3600 s, policies Pods/Percent with value > 0 and period
  1..1800 s, at least one policy, ``selectPolicy`` Max/Min/Disabled
  (:meth:`HpaTemplate.parsed_behavior`).

The same checks hold for an HPA written inline in a scenario: they live in
:class:`HpaTemplate` and :func:`check_metric_targets`, which the scenario loader calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_serializer,
    field_validator,
)
from pydantic.alias_generators import to_camel

from capsim.hpa.behavior import INT32_MAX, Behavior
from capsim.hpa.quantity import quantity_milli
from capsim.scenario.parsing import load_yaml
from capsim.scenario.parsing import validation_message as _validation_message

__all__ = [
    "ACCELERATOR_POD_METRICS",
    "METRIC_COLUMNS",
    "SIMULATED_POD_METRICS",
    "SIMULATED_SERVICE_METRICS",
    "ContainerSpec",
    "Deployment",
    "HorizontalPodAutoscaler",
    "HpaTemplate",
    "ManifestError",
    "MetricSpec",
    "MetricTarget",
    "RawObject",
    "check_containers",
    "check_metric_targets",
    "check_pods_metrics",
    "load_deployments",
    "load_hpas",
    "pod_metric_column",
    "pods_metric_problem",
    "raw_objects",
    "service_metric_column",
    "service_metric_problem",
]


class ManifestError(ValueError):
    """A manifest is not what it should be; the message names file, document, field, value."""


def _milli(value: Any) -> int:
    """A quantity as integer milli-units, rounded up (``Quantity.MilliValue``); finite and
    within the int64 milli range (:func:`capsim.hpa.quantity.parse_api_quantity`)."""
    if value is None:
        raise ValueError("a quantity is required")
    return quantity_milli(value)


MilliQuantity = Annotated[
    int,
    BeforeValidator(_milli),
    WithJsonSchema({"type": ["string", "number"], "examples": ["400m", "12", 2]}),
]
Int32 = Annotated[int, Strict(), Field(le=INT32_MAX)]
"""An ``int32`` API field: a YAML integer only (``true``, ``1.0`` and ``"1"`` are errors)."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


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
    average_utilization: Int32 | None = None
    average_value: MilliQuantity | None = None
    value: MilliQuantity | None = None

    @field_validator("average_utilization")
    @classmethod
    def _utilization(cls, percent: int | None) -> int | None:
        if percent is not None and percent < 1:
            raise ValueError(f"must be greater than 0, got {percent!r}")
        return percent

    @field_validator("average_value", "value")
    @classmethod
    def _positive(cls, quantity: int | None) -> int | None:
        """Upstream ``validateMetricTarget``: ``Sign() != 1`` → "must be positive"."""
        if quantity is not None and quantity <= 0:
            raise ValueError("must be positive")
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

    @field_validator("container")
    @classmethod
    def _dns_label(cls, name: str) -> str:
        """Upstream ``ValidateDNS1123Label``: a container name."""
        if len(name) > 63 or not _DNS_LABEL.match(name):
            raise ValueError(
                "must be a DNS-1123 label (a container name: lower-case letters, digits and "
                "'-', starting and ending with a letter or digit, at most 63 characters)"
            )
        return name


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
    def key(self) -> str:
        """The manifest field of this metric's source (``containerResource``)."""
        return self.type[0].lower() + self.type[1:]

    @property
    def sources(self) -> dict[str, Any]:
        """Every source field the manifest populated, by manifest name."""
        given = {
            "resource": self.resource,
            "containerResource": self.container_resource,
            "pods": self.pods,
            "object": self.object,
            "external": self.external,
        }
        return {key: value for key, value in given.items() if value is not None}

    @property
    def source(self) -> _ResourceSource | _PodsSource | _ObjectSource | _ExternalSource:
        """The source ``type`` names (present once :func:`check_metric_targets` passed)."""
        source = self.sources.get(self.key)
        if source is None:
            raise ValueError(f"{self.key}: required for type {self.type}")
        return source  # type: ignore[no-any-return]

    @property
    def container(self) -> str | None:
        """The container of a ContainerResource metric, else ``None``."""
        source = self.container_resource
        return source.container if self.type == "ContainerResource" and source else None

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


_SCALE_TO_ZERO = (
    "must be greater than or equal to 1 (0 needs the HPAScaleToZero feature gate and at "
    "least one Object or External metric: 'must specify at least one Object or External "
    "metric to support scaling to zero replicas')"
)


class HpaTemplate(_Model):
    """The scaling part of an HPA ``spec`` (no ``scaleTargetRef``), after API defaulting.

    Scenarios embed it inline, camelCase exactly as in a manifest. ``metrics`` is declared
    first so that the replica bounds are checked against it (scale to zero).
    """

    metrics: tuple[MetricSpec, ...] = Field(default_factory=_default_metrics)
    min_replicas: Int32 = 1
    max_replicas: Int32
    behavior: dict[str, Any] | None = None

    @field_validator("min_replicas")
    @classmethod
    def _min_replicas(cls, value: int, info: ValidationInfo) -> int:
        """Upstream ``validateHorizontalPodAutoscalerSpec`` and ``validateMetrics``."""
        if value < 0:
            raise ValueError(f"must be greater than or equal to 1, got {value!r}")
        metrics = info.data.get("metrics")
        if (
            value == 0
            and metrics is not None
            and not any(m.type in ("Object", "External") for m in metrics)
        ):
            raise ValueError(f"{_SCALE_TO_ZERO}, got 0")
        return value

    @field_validator("max_replicas")
    @classmethod
    def _max_replicas(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            raise ValueError(f"must be greater than 0, got {value!r}")
        low = info.data.get("min_replicas")
        if low is not None and value < low:
            raise ValueError(f"must be greater than or equal to `minReplicas` ({low})")
        return value

    @field_validator("metrics", mode="before")
    @classmethod
    def _default_when_empty(cls, metrics: Any) -> Any:
        """``metrics: []`` or ``null`` is defaulted like no metrics (upstream
        ``SetDefaults_HorizontalPodAutoscaler``: no metrics means CPU at 80 %)."""
        return _default_metrics() if metrics is None or metrics == [] else metrics

    @property
    def parsed_behavior(self) -> Behavior | None:
        """The defaulted :class:`~capsim.hpa.Behavior` (``None``: legacy path).

        Raises ``ValueError`` naming the field inside ``behavior`` for anything the API
        server rejects, its limits on windows (3600 s) and periods (1800 s) included.
        """
        behavior = Behavior.from_spec(self.behavior)
        if behavior is not None:
            problems = behavior.api_problems()
            if problems:
                raise ValueError(problems[0])
        return behavior


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

    @field_validator("requests", "limits")
    @classmethod
    def _non_negative(cls, amounts: dict[str, int]) -> dict[str, int]:
        """Upstream ``ValidateResourceQuantityValue``: "must be greater than or equal to 0"."""
        for name, milli in amounts.items():
            if milli < 0:
                raise ValueError(f"{name}: must be greater than or equal to 0")
        return amounts


class Probe(_Open):
    initial_delay_seconds: Int32 = Field(default=0, ge=0)
    period_seconds: Int32 = Field(default=10, ge=1)
    success_threshold: Int32 = Field(default=1, ge=1)
    failure_threshold: Int32 = Field(default=3, ge=1)


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
    replicas: Int32 | None = Field(default=None, ge=0)
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
        return [c.name for c in self.pod_containers if resource not in c.resources.requests]

    @property
    def pod_containers(self) -> list[ContainerSpec]:
        """The containers that run beside each other: app containers, then sidecars
        (restartable init containers), in manifest order."""
        pod = self.spec.template.spec
        return [
            *pod.containers,
            *(c for c in pod.init_containers if c.restart_policy == "Always"),
        ]

    def container(self, name: str) -> ContainerSpec | None:
        """The running container called ``name`` (an app container or a sidecar)."""
        return next((c for c in self.pod_containers if c.name == name), None)

    def container_requests(self) -> list[dict[str, Any]]:
        """The running containers and their cpu and memory requests, as a scenario pod's
        ``containers`` (:class:`capsim.scenario.platforms.PodContainer`): cpu as quantity
        text, memory in bytes rounded up; a request the container does not set is left
        out."""
        out: list[dict[str, Any]] = []
        for spec in self.pod_containers:
            entry: dict[str, Any] = {"name": spec.name}
            cpu = spec.resources.requests.get("cpu")
            memory = spec.resources.requests.get("memory")
            if cpu is not None:
                entry["cpu_request"] = f"{cpu}m"
            if memory is not None:
                entry["memory_request"] = -(-memory // 1000)
            out.append(entry)
        return out


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
    if not isinstance(version, str):
        raise ManifestError(
            f"{doc.where}: apiVersion: expected autoscaling/v2 for a HorizontalPodAutoscaler, "
            f"got {version!r}"
        )
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


_TARGET_FIELDS = {
    "Utilization": ("averageUtilization", "average_utilization"),
    "AverageValue": ("averageValue", "average_value"),
    "Value": ("value", "value"),
}
_TARGET_TYPES = {
    "Resource": ("Utilization", "AverageValue"),
    "ContainerResource": ("Utilization", "AverageValue"),
    "Pods": ("AverageValue",),
    "Object": ("Value", "AverageValue"),
    "External": ("Value", "AverageValue"),
}


def check_metric_targets(template: HpaTemplate, where: str, prefix: str = "spec") -> None:
    """Each metric populates exactly the source its type names, with a target the API
    server and the controller accept (upstream ``validateMetricSpec``,
    ``validateResourceSource``, ``validatePodsSource``, ``validateMetricTarget``).

    Raises :class:`ManifestError` ``WHERE: PREFIX.metrics[i].FIELD: message, got VALUE``.
    """
    for index, metric in enumerate(template.metrics):
        key = metric.key
        path = f"{prefix}.metrics[{index}]"
        given = metric.sources
        if key not in given:
            raise ManifestError(f"{where}: {path}.{key}: required for type {metric.type}")
        for other in given:
            if other != key:
                raise ManifestError(
                    f"{where}: {path}.{other}: must populate the given metric source only "
                    f"(type is {metric.type})"
                )
        target = metric.target
        allowed = _TARGET_TYPES[metric.type]
        if target.type not in allowed:
            if target.type == "Utilization":
                raise ManifestError(
                    f"{where}: {path}.{key}.target.type: Utilization is only valid for "
                    f"Resource and ContainerResource metrics, got it on a {metric.type} metric"
                )
            raise ManifestError(
                f"{where}: {path}.{key}.target.type: a {metric.type} metric takes "
                f"{' or '.join(allowed)}, got {target.type!r}"
            )
        needed, attribute = _TARGET_FIELDS[target.type]
        if getattr(target, attribute) is None:
            raise ManifestError(
                f"{where}: {path}.{key}.target.{needed}: required for target type {target.type}"
            )
        if target.average_utilization is not None and target.average_value is not None:
            raise ManifestError(
                f"{where}: {path}.{key}.target.averageValue: may not set both a target raw "
                "value and a target utilization"
            )


SIMULATED_POD_METRICS: tuple[str, ...] = (
    "requests_in_flight",
    "requests_per_second",
    "gpu_utilization",
    "kv_cache_usage",
)
"""The ``Pods`` metrics capsim simulates, by ``pods.metric.name``: the requests in flight
in a pod (in service plus queued; vLLM's ``num_requests_running`` + ``_waiting``), the
requests per second it served, and for services on GPUs the GPU utilization in percent
of the pod's GPUs (DCGM's ``DCGM_FI_DEV_GPU_UTIL``: the share of time a kernel ran) and,
for LLM services, the share of the KV cache in use from 0 to 1 (vLLM's
``gpu_cache_usage_perc``), each averaged over the metrics adapter's window
(:mod:`capsim.engine.kubernetes.metrics`)."""

ACCELERATOR_POD_METRICS: dict[str, str] = {
    "gpu_utilization": "a service whose work runs on GPUs (gpu_ms_per_request or llm)",
    "kv_cache_usage": "an LLM service (one with llm:)",
}
"""The Pods metrics only some services have, and which."""


def pods_metric_problem(metric: MetricSpec, path: str) -> str | None:
    """Why capsim cannot simulate ``metric`` if it is a ``Pods`` metric
    (``PATH.pods.metric.name: message, got VALUE``), else ``None``. Such a metric is valid
    upstream, so ``hpa explain`` describes it; ``validate`` and ``run`` refuse it. A
    ``selector`` on the metric is accepted and has no effect (the model has one series per
    pod)."""
    if metric.type != "Pods" or metric.pods is None:
        return None
    name = metric.pods.metric.name
    if name in SIMULATED_POD_METRICS:
        return None
    accepted = ", ".join(SIMULATED_POD_METRICS)
    return (
        f"{path}.pods.metric.name: the Pods metrics capsim simulates are {accepted}, got {name!r}"
    )


SIMULATED_SERVICE_METRICS: tuple[str, ...] = (
    "queue_length",
    "requests_in_flight",
    "requests_per_second",
    "arrival_rate",
)
"""The service-wide metrics capsim simulates for ``Object`` (``describedObject``: the
service's ``Service`` or ``Deployment``) and ``External`` metrics, by ``metric.name``:
requests waiting for a slot, requests in the service (in service plus waiting), requests
served per second, and requests arriving per second (served, queued or refused), summed
over the service's pods and averaged over the metrics adapter's window
(:mod:`capsim.engine.kubernetes.metrics`), as a Prometheus query such as
``sum(rate(http_requests_total[1m]))`` gives them."""

METRIC_COLUMNS = 8
"""Columns of the platform's metric integrals, per service: requests in flight and
requests/s per pod, the four service-wide metrics (:data:`SIMULATED_SERVICE_METRICS`),
then GPU utilization (%) and KV-cache usage (0–1) per pod."""


def pod_metric_column(name: str) -> int:
    """The column of Pods metric ``name`` (:data:`SIMULATED_POD_METRICS`)."""
    index = SIMULATED_POD_METRICS.index(name)
    return index if index < 2 else 2 + len(SIMULATED_SERVICE_METRICS) + index - 2


def service_metric_column(name: str) -> int:
    """The column of service-wide metric ``name`` (:data:`SIMULATED_SERVICE_METRICS`)."""
    return 2 + SIMULATED_SERVICE_METRICS.index(name)


_DESCRIBED_KINDS = ("Service", "Deployment")


def service_metric_problem(metric: MetricSpec, path: str, services: Sequence[str]) -> str | None:
    """Why capsim cannot simulate an ``Object`` or ``External`` metric (``PATH.FIELD:
    message, got VALUE``), else ``None``: its name must be one of
    :data:`SIMULATED_SERVICE_METRICS`, and an Object metric must describe the
    ``Service`` or ``Deployment`` of a service among ``services``. A ``selector`` is
    accepted and has no effect (one series per service)."""
    if metric.type == "Object" and metric.object is not None:
        described = metric.object.described_object
        if described.kind not in _DESCRIBED_KINDS:
            return (
                f"{path}.object.describedObject.kind: capsim simulates metrics of a service's "
                f"{' or '.join(_DESCRIBED_KINDS)}, got {described.kind!r}"
            )
        if described.name not in services:
            return (
                f"{path}.object.describedObject.name: no service of that name on this "
                f"platform (services: {', '.join(services)}), got {described.name!r}"
            )
        name, field = metric.object.metric.name, "object.metric.name"
    elif metric.type == "External" and metric.external is not None:
        name, field = metric.external.metric.name, "external.metric.name"
    else:
        return None
    if name in SIMULATED_SERVICE_METRICS:
        return None
    return (
        f"{path}.{field}: the {metric.type} metrics capsim simulates are "
        f"{', '.join(SIMULATED_SERVICE_METRICS)}, got {name!r}"
    )


def check_pods_metrics(template: HpaTemplate, where: str, prefix: str = "spec") -> None:
    """Every ``Pods`` metric of ``template`` is one capsim simulates
    (:func:`pods_metric_problem`); raises :class:`ManifestError`
    ``WHERE: PREFIX.metrics[i].pods.metric.name: message, got VALUE``."""
    for index, metric in enumerate(template.metrics):
        problem = pods_metric_problem(metric, f"{prefix}.metrics[{index}]")
        if problem is not None:
            raise ManifestError(f"{where}: {problem}")


def check_containers(hpa: HorizontalPodAutoscaler, deployment: Deployment) -> None:
    """Each ContainerResource metric of ``hpa`` names a container of ``deployment``.

    Upstream, such an HPA is accepted by the API server but never scales on the metric
    (the controller reports ``container X not present in pod``); capsim refuses it as bad
    input. Raises :class:`ManifestError` naming the HPA's field and the container.
    """
    names = [c.name for c in deployment.pod_containers]
    for index, metric in enumerate(hpa.spec.metrics):
        container = metric.container
        if container is not None and container not in names:
            raise ManifestError(
                f"{hpa.source}: spec.metrics[{index}].containerResource.container: container "
                f"{container!r} not present in pod of Deployment/{deployment.metadata.name} "
                f"(containers: {', '.join(names)}), got {container!r}"
            )


def _objects_of_kind(path: Path, kind: str) -> Iterator[RawObject]:
    """The documents of ``kind`` in a file; an error naming what was found if none."""
    found: list[str] = []
    for doc in _documents(path):
        doc_kind = doc.body.get("kind")
        if doc_kind is None:
            raise ManifestError(f"{doc.where}: kind: required field is missing")
        if not isinstance(doc_kind, str):
            raise ManifestError(f"{doc.where}: kind: expected a string, got {doc_kind!r}")
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
