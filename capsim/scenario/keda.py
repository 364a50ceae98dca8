"""KEDA ``ScaledObject`` (``keda.sh/v1alpha1``) specs: parsed, checked as KEDA's webhook
does, and turned into what the engine simulates: the HPA KEDA creates underneath and the
activation rules of its operator (:mod:`capsim.models.keda`).

Followed from kedacore/keda at commit 8b4f083 (``apis/keda/v1alpha1/scaledobject_types.go``,
``scaledobject_webhook.go``, ``controllers/keda/hpa.go``, ``pkg/scalers/scaler.go``,
``prometheus_scaler.go``, ``aws_sqs_queue_scaler.go``, ``rabbitmq_scaler.go``,
``cpu_memory_scaler.go``):

* Defaults: ``pollingInterval`` 30 s, ``cooldownPeriod`` 300 s, ``initialCooldownPeriod``
  0, ``minReplicaCount`` 0, ``maxReplicaCount`` 100. ``minReplicaCount`` ≤
  ``maxReplicaCount``; ``idleReplicaCount`` below the HPA's minimum
  (``minReplicaCount``, or 1 when it is 0), so with ``minReplicaCount`` 0 only 0.
* The HPA: ``minReplicas`` = ``minReplicaCount`` (1 when it is 0), ``maxReplicas`` =
  ``maxReplicaCount``, ``behavior`` = ``advanced.horizontalPodAutoscalerConfig.behavior``;
  one External metric per trigger with an ``AverageValue`` target (``metricType: Value``
  gives a Value target) at the trigger's threshold; ``cpu``/``memory`` triggers are
  Resource metrics with their ``metricType`` (``Utilization`` or ``AverageValue``, needed)
  and ``value``.
* Triggers simulated: ``prometheus`` (``threshold``, ``activationThreshold`` default 0;
  its ``query`` is not run: the scenario's ``keda_metrics`` names the simulated metric it
  measures), ``aws-sqs-queue`` (``queueLength`` default 5, ``activationQueueLength`` 0)
  and ``rabbitmq`` (``mode: QueueLength`` with ``value``, default 20, or the deprecated
  ``queueLength``; ``activationValue`` 0) measuring the service's waiting requests
  (``queue_length``, unless ``keda_metrics`` says otherwise), and ``cpu``/``memory``.
  A trigger is active when its value is *above* its activation threshold; cpu and memory
  triggers never activate (and a ScaledObject with only those is always active and needs
  ``minReplicaCount`` ≥ 1, as KEDA's webhook says).
* ``fallback`` applies while the metrics source is unreachable (the workload's
  ``metric_outages``; :mod:`capsim.models.keda`).
* Not simulated, refused: ``advanced.scalingModifiers``. Accepted with no effect:
  ``useCachedMetrics`` (the values are the scrapes'), ``authenticationRef``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, StrictBool, ValidationError, field_validator, model_validator

from capsim.scenario.manifests import (
    SIMULATED_SERVICE_METRICS,
    HpaTemplate,
    Int32,
    ManifestError,
    MetricTarget,
    _Model,
    _objects_of_kind,
)
from capsim.scenario.parsing import validation_message

__all__ = [
    "KEDA_API_VERSION",
    "KEDA_TRIGGERS",
    "KedaTrigger",
    "ScaledObjectDoc",
    "ScaledObjectSpec",
    "TriggerRule",
    "keda_hpa",
    "kedas_own_hpa",
    "load_scaled_object_docs",
    "load_scaled_objects",
    "trigger_rules",
    "trigger_target",
]

KEDA_TRIGGERS = ("prometheus", "aws-sqs-queue", "rabbitmq", "cpu", "memory")
"""The trigger types capsim simulates."""

_QUEUE_TRIGGERS = ("aws-sqs-queue", "rabbitmq")


class KedaTrigger(_Model):
    """One entry of ``spec.triggers``."""

    type: str = Field(min_length=1)
    """The scaler: ``prometheus``, ``aws-sqs-queue``, ``rabbitmq``, ``cpu`` or ``memory``."""
    name: str | None = None
    """The trigger's name (unique); ``keda_metrics`` can refer to it."""
    metadata: dict[str, str] = Field(default_factory=dict)
    """The scaler's settings, as KEDA reads them (``threshold``, ``activationThreshold``,
    ``queueLength``, ``value``, …; the others are kept and not used)."""
    metric_type: Literal["AverageValue", "Value", "Utilization"] | None = None
    """The HPA target's type: ``AverageValue`` (default), ``Value``; ``Utilization`` or
    ``AverageValue`` for cpu and memory (needed there)."""
    use_cached_metrics: StrictBool = False
    """Accepted; no effect (the values are the scrapes')."""
    authentication_ref: dict[str, Any] | None = None
    """Accepted; no effect."""

    @field_validator("metadata", mode="before")
    @classmethod
    def _text(cls, metadata: Any) -> Any:
        """KEDA's metadata is a map of strings; YAML numbers are read as their text."""
        if isinstance(metadata, dict):
            return {
                k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in metadata.items()
                if v is not None
            }
        return metadata


class HpaConfig(_Model):
    """``advanced.horizontalPodAutoscalerConfig``."""

    name: str | None = None
    """The HPA's name (no effect on the simulation)."""
    behavior: dict[str, Any] | None = None
    """The HPA's ``behavior``, as in an HPA manifest."""


class KedaAdvanced(_Model):
    """``advanced``."""

    horizontal_pod_autoscaler_config: HpaConfig | None = None
    """The HPA KEDA creates: its name and behavior."""
    restore_to_original_replica_count: StrictBool = False
    """Accepted; no effect (the ScaledObject is never deleted in a run)."""
    scaling_modifiers: dict[str, Any] | None = None
    """A composite metric: not simulated, refused."""


class KedaFallback(_Model):
    """``fallback``: what the HPA is given once a trigger's scaler has failed more than
    ``failureThreshold`` times in a row (:mod:`capsim.models.keda`)."""

    failure_threshold: Int32 = Field(ge=0)
    """Consecutive scaler failures before the fallback."""
    replicas: Int32 = Field(ge=0)
    """The replicas of the fallback."""
    behavior: Literal[
        "static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"
    ] = "static"
    """How the fallback replicas are chosen: ``replicas``, the current count, or the higher
    or lower of the two."""


class ScaleTarget(_Model):
    """``scaleTargetRef``: the workload scaled."""

    name: str = Field(min_length=1)
    """The Deployment's name (the workload's, inline)."""
    kind: str = "Deployment"
    """Its kind."""
    api_version: str = "apps/v1"
    """Its API version."""


class ScaledObjectSpec(_Model):
    """A ScaledObject's ``spec`` (camelCase, as in the manifest; ``scaleTargetRef`` may be
    left out inline)."""

    scale_target_ref: ScaleTarget | None = None
    """The Deployment scaled (optional inline: the workload's)."""
    polling_interval: Int32 = Field(default=30, ge=1, le=86_400)
    """Seconds between KEDA's polls of the triggers (activation, to and from zero)."""
    cooldown_period: Int32 = Field(default=300, ge=0, le=86_400 * 7)
    """Seconds after the last active poll before scaling to zero (or idle)."""
    initial_cooldown_period: Int32 = Field(default=0, ge=0, le=86_400 * 7)
    """Seconds after creation before a never-active object may scale to zero."""
    min_replica_count: Int32 | None = Field(default=None, ge=0)
    """The fewest replicas when active (0 when unset: scale to zero)."""
    max_replica_count: Int32 = Field(default=100, ge=1)
    """The HPA's ``maxReplicas``."""
    idle_replica_count: Int32 | None = Field(default=None, ge=0)
    """The replicas when inactive, below ``minReplicaCount``."""
    fallback: KedaFallback | None = None
    """Accepted; never applies (the simulated scalers never fail)."""
    advanced: KedaAdvanced | None = None
    """The HPA KEDA creates (behavior)."""
    triggers: tuple[KedaTrigger, ...] = Field(min_length=1, max_length=64)
    """The scalers; the HPA gets one metric each, and any active one activates."""

    @property
    def min_replicas(self) -> int:
        """``minReplicaCount`` (0 when unset)."""
        return self.min_replica_count or 0

    @property
    def hpa_min_replicas(self) -> int:
        """The HPA's ``minReplicas``: ``minReplicaCount``, or 1 when it is 0."""
        return self.min_replicas if self.min_replicas > 0 else 1

    @model_validator(mode="after")
    def _bounds(self) -> ScaledObjectSpec:
        """KEDA's ``CheckReplicaCountBoundsAreValid`` and webhook rules."""
        low = 0 if self.min_replica_count is None else self.hpa_min_replicas
        if low > self.max_replica_count:
            raise ValueError(
                f"minReplicaCount: {self.min_replicas} must not exceed maxReplicaCount "
                f"({self.max_replica_count})"
            )
        if self.idle_replica_count is not None and self.idle_replica_count >= low:
            raise ValueError(
                f"idleReplicaCount: must be below minReplicaCount ({self.min_replicas}; 0 "
                f"needs minReplicaCount ≥ 1), got {self.idle_replica_count}"
            )
        names = [t.name for t in self.triggers if t.name]
        if len(set(names)) != len(names):
            raise ValueError(f"triggers: names must be unique, got {names}")
        if self.advanced is not None and self.advanced.scaling_modifiers is not None:
            raise ValueError(
                "advanced.scalingModifiers: a composite metric is not simulated, got one"
            )
        resource_only = all(t.type in ("cpu", "memory") for t in self.triggers)
        if resource_only and self.min_replicas == 0:
            raise ValueError(
                "minReplicaCount: with only cpu and memory triggers it must be at least 1 "
                "(KEDA: scale to zero doesn't work with cpu/memory triggers), got "
                f"{self.min_replicas}"
            )
        return self

    @property
    def behavior(self) -> dict[str, Any] | None:
        advanced = self.advanced
        config = advanced.horizontal_pod_autoscaler_config if advanced else None
        return config.behavior if config else None


@dataclass(frozen=True)
class TriggerRule:
    """What one trigger measures in the simulation and when it is active."""

    index: int
    metric: str  # a SIMULATED_SERVICE_METRICS name, or "cpu"/"memory"
    target: MetricTarget
    activation_milli: int | None  # active when the value is above it (None: never)

    @property
    def resource(self) -> bool:
        return self.metric in ("cpu", "memory")


def _number(trigger: KedaTrigger, key: str, default: float | None, field: str) -> float:
    text = trigger.metadata.get(key)
    if text is None:
        if default is None:
            raise ValueError(f"{field}.metadata.{key}: required for a {trigger.type} trigger")
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{field}.metadata.{key}: a number expected, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{field}.metadata.{key}: a finite number ≥ 0 expected, got {text!r}")
    return value


def _milli(value: float) -> int:
    return round(value * 1000)


def _target(kind: str, milli: int) -> MetricTarget:
    """A Value or AverageValue target of ``milli`` milli-units (at least 1m: KEDA writes
    a threshold of 0 as 0, which the API server refuses)."""
    field = "value" if kind == "Value" else "averageValue"
    return MetricTarget.model_validate({"type": kind, field: f"{max(milli, 1)}m"})


def _threshold(trigger: KedaTrigger, field: str) -> tuple[float, float]:
    """``(target, activation)`` of a non-resource trigger, by its scaler's metadata."""
    if trigger.type == "prometheus":
        return (
            _number(trigger, "threshold", None, field),
            _number(trigger, "activationThreshold", 0.0, field),
        )
    if trigger.type == "aws-sqs-queue":
        return (
            float(int(_number(trigger, "queueLength", 5.0, field))),
            _number(trigger, "activationQueueLength", 0.0, field),
        )
    # rabbitmq: mode QueueLength (the default) with value, or the deprecated queueLength
    mode = trigger.metadata.get("mode", "QueueLength")
    if mode != "QueueLength":
        raise ValueError(f"{field}.metadata.mode: only QueueLength is simulated, got {mode!r}")
    if "queueLength" in trigger.metadata and ("value" in trigger.metadata):
        raise ValueError(f"{field}.metadata.queueLength: give either queueLength or value")
    key = "queueLength" if "queueLength" in trigger.metadata else "value"
    return _number(trigger, key, 20.0, field), _number(trigger, "activationValue", 0.0, field)


def trigger_target(trigger: KedaTrigger, field: str) -> tuple[MetricTarget, int | None]:
    """A trigger's HPA target and activation threshold (milli; None for cpu and memory,
    which never activate), by its scaler's metadata; ``ValueError`` names the field."""
    if trigger.type not in KEDA_TRIGGERS:
        raise ValueError(
            f"{field}.type: the triggers capsim simulates are {', '.join(KEDA_TRIGGERS)}, "
            f"got {trigger.type!r}"
        )
    if trigger.type in ("cpu", "memory"):
        kind = trigger.metric_type
        if kind not in ("Utilization", "AverageValue"):
            raise ValueError(
                f"{field}.metricType: Utilization or AverageValue for a {trigger.type} "
                f"trigger, got {kind!r}"
            )
        value = _number(trigger, "value", None, field)
        target = (
            MetricTarget(type="Utilization", average_utilization=max(round(value), 1))
            if kind == "Utilization"
            else _target("AverageValue", _milli(value))
        )
        return target, None
    if trigger.metric_type == "Utilization":
        raise ValueError(f"{field}.metricType: Utilization is only for cpu and memory triggers")
    goal, activation = _threshold(trigger, field)
    return _target(trigger.metric_type or "AverageValue", _milli(goal)), _milli(activation)


def trigger_rules(
    spec: ScaledObjectSpec, metrics: dict[str, str], where: str = "keda"
) -> list[TriggerRule]:
    """Each trigger as the simulation runs it; ``metrics`` maps a trigger's ``name`` (or
    its index, as text) to the simulated metric it measures. ``ValueError`` names the
    field."""
    keys = {trigger.name or str(i) for i, trigger in enumerate(spec.triggers)}
    keys |= {str(i) for i in range(len(spec.triggers))}
    for key in metrics:
        if key not in keys:
            raise ValueError(
                f"{where.rsplit('.', 1)[0]}.keda_metrics.{key}: no trigger of that name or "
                f"index (triggers: {', '.join(sorted(keys))})"
            )
    rules = []
    for index, trigger in enumerate(spec.triggers):
        target, activation = trigger_target(trigger, f"{where}.triggers[{index}]")
        if activation is None:
            rules.append(TriggerRule(index, trigger.type, target, None))
            continue
        key = trigger.name or str(index)
        default = "queue_length" if trigger.type in _QUEUE_TRIGGERS else ""
        metric = metrics.get(key, metrics.get(str(index), default))
        if metric not in SIMULATED_SERVICE_METRICS:
            raise ValueError(
                f"{where.rsplit('.', 1)[0]}.keda_metrics.{key}: name the simulated metric the "
                f"{trigger.type} trigger measures ({', '.join(SIMULATED_SERVICE_METRICS)}), "
                + (f"got {metric!r}" if metric else "got none")
            )
        rules.append(TriggerRule(index, metric, target, activation))
    return rules


def kedas_own_hpa(spec: ScaledObjectSpec, name: str, namespace: str | None) -> dict[str, Any]:
    """The HPA manifest KEDA creates for ScaledObject ``name`` (``keda-hpa-<name>``, or
    the name ``advanced.horizontalPodAutoscalerConfig`` gives), its External metrics
    named as KEDA names them (``s<index>-<type>``)."""
    metrics: list[dict[str, Any]] = []
    for index, trigger in enumerate(spec.triggers):
        target, activation = trigger_target(trigger, f"spec.triggers[{index}]")
        dumped = target.model_dump(by_alias=True, exclude_none=True)
        if activation is None:
            metrics.append(
                {"type": "Resource", "resource": {"name": trigger.type, "target": dumped}}
            )
        else:
            metric = {"name": f"s{index}-{trigger.type}"}
            metrics.append({"type": "External", "external": {"metric": metric, "target": dumped}})
    advanced = spec.advanced
    config = advanced.horizontal_pod_autoscaler_config if advanced else None
    hpa_name = (config.name if config else None) or f"keda-hpa-{name}"
    ref = spec.scale_target_ref or ScaleTarget(name=name)
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name},
        "minReplicas": spec.hpa_min_replicas,
        "maxReplicas": spec.max_replica_count,
        "metrics": metrics,
    }
    if spec.behavior is not None:
        body["behavior"] = spec.behavior
    metadata = {"name": hpa_name} | ({"namespace": namespace} if namespace else {})
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": body,
    }


def keda_hpa(spec: ScaledObjectSpec, rules: list[TriggerRule]) -> HpaTemplate:
    """The HPA KEDA creates for ``spec`` (module docstring), in simulated metric names."""
    metrics: list[dict[str, Any]] = []
    for rule in rules:
        target = rule.target.model_dump(by_alias=True, exclude_none=True)
        if rule.resource:
            metrics.append(
                {"type": "Resource", "resource": {"name": rule.metric, "target": target}}
            )
        else:
            metrics.append(
                {
                    "type": "External",
                    "external": {"metric": {"name": rule.metric}, "target": target},
                }
            )
    return HpaTemplate.model_validate(
        {
            "metrics": metrics,
            "minReplicas": spec.hpa_min_replicas,
            "maxReplicas": spec.max_replica_count,
            "behavior": spec.behavior,
        }
    )


KEDA_API_VERSION = "keda.sh/v1alpha1"


@dataclass(frozen=True)
class ScaledObjectDoc:
    """A ScaledObject read from a file: its name, namespace, where, and spec."""

    name: str
    namespace: str | None
    source: str
    spec: ScaledObjectSpec


def load_scaled_objects(path: str | Path) -> list[ScaledObjectSpec]:
    """The spec of every ``keda.sh/v1alpha1`` ScaledObject in a YAML file (other kinds are
    skipped); :class:`~capsim.scenario.manifests.ManifestError` names the file, document,
    field and value, or says the file holds none."""
    return [doc.spec for doc in load_scaled_object_docs(path)]


def load_scaled_object_docs(path: str | Path) -> list[ScaledObjectDoc]:
    """:func:`load_scaled_objects` with each object's name, namespace and place."""
    specs = []
    for doc in _objects_of_kind(Path(path), "ScaledObject"):
        if doc.body.get("apiVersion") != KEDA_API_VERSION:
            raise ManifestError(
                f"{doc.where}: apiVersion: expected {KEDA_API_VERSION} for a ScaledObject, "
                f"got {doc.body.get('apiVersion')!r}"
            )
        annotations = (doc.body.get("metadata") or {}).get("annotations") or {}
        paused = [k for k in annotations if str(k).startswith("autoscaling.keda.sh/paused")]
        if paused:
            raise ManifestError(
                f"{doc.where}: metadata.annotations.{paused[0]}: a paused ScaledObject is "
                "not simulated (remove the annotation to simulate it scaling)"
            )
        spec = doc.body.get("spec")
        metadata = doc.body.get("metadata") or {}
        try:
            parsed = ScaledObjectSpec.model_validate(spec)
        except ValidationError as exc:
            raise ManifestError(validation_message(f"{doc.where}: spec", exc, spec)) from None
        namespace = metadata.get("namespace")
        specs.append(
            ScaledObjectDoc(
                str(metadata.get("name", "")),
                None if namespace is None else str(namespace),
                doc.where,
                parsed,
            )
        )
    return specs
