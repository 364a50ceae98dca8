"""``capsim hpa explain``: what an HPA will actually do, in plain words, and its mistakes.

Works on parsed manifests (:mod:`capsim.scenario.manifests`) and the defaulted behavior of
:mod:`capsim.hpa`. The words follow the upstream semantics: the effective
configuration is the one after API defaulting and the controller's flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from capsim.hpa import Behavior, ScalingPolicy, ScalingRules
from capsim.scenario.keda import ScaledObjectDoc, kedas_own_hpa, trigger_target
from capsim.scenario.manifests import (
    DEPRECATED_HPA_VERSIONS,
    SIMULATED_POD_METRICS,
    SIMULATED_SERVICE_METRICS,
    Deployment,
    HorizontalPodAutoscaler,
    ManifestError,
    MetricSpec,
    check_containers,
)
from capsim.units import format_cpu_millicores, format_duration, format_memory_bytes

__all__ = ["ControllerSettings", "Explanation", "explain_hpa", "explain_scaled_object"]


@dataclass(frozen=True)
class ControllerSettings:
    """kube-controller-manager flags the HPA controller runs with (upstream defaults)."""

    tolerance: float = 0.1
    downscale_stabilization_s: float = 300.0
    sync_period_s: float = 15.0
    cpu_initialization_period_s: float = 300.0
    initial_readiness_delay_s: float = 30.0


@dataclass(frozen=True)
class Explanation:
    """One HPA explained: summary lines, warnings (mistakes), notes (assumptions), data."""

    title: str
    lines: tuple[str, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)


def _seconds(value: float) -> str:
    return f"{value:g} s" if value < 120 else f"{value:g} s ({format_duration(value)})"


def _amount(resource: str | None, milli: int) -> str:
    """A milli-unit amount in the resource's natural unit."""
    if resource == "cpu":
        return format_cpu_millicores(milli)
    if resource == "memory" and milli % 1000 == 0:
        return format_memory_bytes(milli // 1000)
    if milli % 1000 == 0:
        return str(milli // 1000)
    return f"{milli}m"


def _policy_phrase(policy: ScalingPolicy) -> str:
    amount = f"{policy.value} pod{'s' if policy.value != 1 else ''}"
    return amount if policy.type == "Pods" else f"{policy.value} %"


def _rate_phrase(rules: ScalingRules) -> str:
    """``by at most max(4 pods, 100 %) per 15 s`` for one direction's policies."""
    if len(rules.policies) == 1:
        policy = rules.policies[0]
        return f"by at most {_policy_phrase(policy)} per {_seconds(policy.period_s)}"
    pick = "max" if rules.select_policy == "Max" else "min"
    periods = {policy.period_s for policy in rules.policies}
    if len(periods) == 1:
        phrases = ", ".join(_policy_phrase(p) for p in rules.policies)
        return f"by at most {pick}({phrases}) per {_seconds(periods.pop())}"
    which = "larger" if rules.select_policy == "Max" else "smaller"
    phrases = " and ".join(
        f"{_policy_phrase(p)} per {_seconds(p.period_s)}" for p in rules.policies
    )
    return f"by at most the {which} change of {phrases}"


def _scale_up_line(rules: ScalingRules) -> str:
    if rules.select_policy == "Disabled":
        return "Scale up: never (scaleUp.selectPolicy: Disabled)."
    window = rules.stabilization_window_s or 0
    when = (
        "as soon as a sync asks for more"
        if window == 0
        else f"only to the lowest recommendation of the last {_seconds(window)}"
    )
    return f"Scale up: {when}, {_rate_phrase(rules)}."


def _scale_down_line(rules: ScalingRules, settings: ControllerSettings) -> str:
    if rules.select_policy == "Disabled":
        return "Scale down: never (scaleDown.selectPolicy: Disabled)."
    if rules.stabilization_window_s is None:
        window = settings.downscale_stabilization_s
        source = " (controller default)"
    else:
        window = float(rules.stabilization_window_s)
        source = ""
    when = (
        "as soon as a sync asks for fewer"
        if window == 0
        else f"only after {_seconds(window)}{source} of lower recommendations "
        "(it follows the highest recommendation in that window)"
    )
    return f"Scale down: {when}, {_rate_phrase(rules)}."


def _simulated(metric: MetricSpec) -> bool:
    """Whether capsim simulates a metric of this type and name (the service an Object
    metric describes is checked when a scenario runs it)."""
    if metric.type == "Pods":
        return metric.metric_name in SIMULATED_POD_METRICS
    if metric.type == "Object":
        assert metric.object is not None
        kind = metric.object.described_object.kind
        return kind in ("Service", "Deployment") and metric.metric_name in SIMULATED_SERVICE_METRICS
    if metric.type == "External":
        return metric.metric_name in SIMULATED_SERVICE_METRICS
    return metric.resource_name in ("cpu", "memory")


def _metric_line(metric: MetricSpec, deployment: Deployment | None) -> str:
    target = metric.target
    resource = metric.resource_name
    container = metric.container
    subject = {
        "Resource": f"{resource} (whole pod)",
        "ContainerResource": f"{resource} of container {container}",
        "Pods": f"pods metric {metric.metric_name}",
        "Object": f"object metric {metric.metric_name}",
        "External": f"external metric {metric.metric_name}",
    }[metric.type]
    if target.type == "Utilization":
        assert target.average_utilization is not None
        line = f"{subject}: keep average usage at {target.average_utilization} % of the request"
        request: int | None = None
        whose = "per pod"
        if deployment is not None and container is not None:
            spec = deployment.container(container)
            request = spec.resources.requests.get(resource or "") if spec else None
            whose = f"of container {container}"
        elif deployment is not None:
            request = deployment.pod_request_milli(resource or "")
        if request is not None:
            per_pod = request * target.average_utilization // 100
            line += (
                f" (request {_amount(resource, request)} {whose} → "
                f"{_amount(resource, per_pod)} per pod)"
            )
        return line + "."
    if target.type == "AverageValue":
        assert target.average_value is not None
        return f"{subject}: keep the average at {_amount(resource, target.average_value)} per pod."
    assert target.value is not None
    return f"{subject}: keep the total at {_amount(resource, target.value)}."


def _metric_data(metric: MetricSpec) -> dict[str, Any]:
    """A metric as manifest-shaped JSON, quantities written back as quantity strings."""
    data = metric.model_dump(by_alias=True, exclude_none=True)
    key = metric.type[0].lower() + metric.type[1:]
    target = data[key]["target"]
    for name, milli in (
        ("averageValue", metric.target.average_value),
        ("value", metric.target.value),
    ):
        if milli is not None:
            target[name] = _amount(metric.resource_name, milli)
    return data


def _tolerance_line(behavior: Behavior | None, settings: ControllerSettings) -> str:
    up = settings.tolerance
    down = settings.tolerance
    source = "controller default"
    if behavior is not None and (
        behavior.scale_up.tolerance is not None or behavior.scale_down.tolerance is not None
    ):
        up = behavior.scale_up.tolerance if behavior.scale_up.tolerance is not None else up
        if behavior.scale_down.tolerance is not None:
            down = behavior.scale_down.tolerance
        source = "spec.behavior tolerance"
    return (
        f"Tolerance: no change while usage / target stays within "
        f"[{1 - down:.2f}, {1 + up:.2f}] ({source}; each metric's ratio is checked)."
    )


def _cpu_startup_line(settings: ControllerSettings) -> str:
    return (
        f"New pods (cpu): for {_seconds(settings.cpu_initialization_period_s)} after start a "
        "pod's CPU counts only once it is Ready and a full metric window has passed since; "
        "pods not counted yet add 0 usage on a scale-up and are left out of a scale-down."
    )


def _find_deployment(
    hpa: HorizontalPodAutoscaler, deployments: Sequence[Deployment]
) -> Deployment | None:
    ref = hpa.spec.scale_target_ref
    for deployment in deployments:
        if ref.kind == "Deployment" and deployment.metadata.name == ref.name:
            return deployment
    return None


def _warnings(
    hpa: HorizontalPodAutoscaler,
    behavior: Behavior | None,
    deployments: Sequence[Deployment],
    deployment: Deployment | None,
) -> list[str]:
    spec = hpa.spec
    warnings: list[str] = []
    if hpa.api_version in DEPRECATED_HPA_VERSIONS:
        warnings.append(DEPRECATED_HPA_VERSIONS[hpa.api_version])
    # minReplicas > maxReplicas and behavior beyond the API's limits are refused when the
    # manifest is read (capsim.scenario.manifests): they never reach here.
    if spec.min_replicas == spec.max_replicas:
        warnings.append(
            f"minReplicas equals maxReplicas ({spec.max_replicas}): this HPA can never change "
            "the replica count"
        )
    if spec.min_replicas == 0:
        warnings.append(
            "minReplicas 0 needs the HPAScaleToZero feature gate (alpha, off by default); "
            "the API server rejects it otherwise"
        )
    if behavior is not None:
        if behavior.scale_up.select_policy == behavior.scale_down.select_policy == "Disabled":
            warnings.append(
                "selectPolicy is Disabled for both scaleUp and scaleDown: this HPA never "
                "changes the replica count"
            )
        for direction, rules in (
            ("scaleUp", behavior.scale_up),
            ("scaleDown", behavior.scale_down),
        ):
            if rules.tolerance is not None:
                warnings.append(
                    f"spec.behavior.{direction}.tolerance is honoured only where the "
                    "HPAConfigurableTolerance feature gate is on (alpha in Kubernetes 1.33, off "
                    "by default); elsewhere the controller's global tolerance applies"
                )
    if deployments and deployment is None:
        names = ", ".join(f"Deployment/{d.metadata.name}" for d in deployments)
        ref = spec.scale_target_ref
        warnings.append(
            f"scaleTargetRef names {ref.kind}/{ref.name}, but the deployment file has {names}"
        )
    if deployment is not None:
        for index, metric in enumerate(spec.metrics):
            resource = metric.resource_name
            if metric.target.type != "Utilization" or resource is None:
                continue
            container = metric.container
            if container is not None:
                spec_of = deployment.container(container)
                if spec_of is not None and resource not in spec_of.resources.requests:
                    warnings.append(
                        f"spec.metrics[{index}]: a Utilization target on {resource} of container "
                        f"{container}, which requests no {resource} in Deployment/"
                        f"{deployment.metadata.name}: the HPA cannot compute utilization "
                        f"(missing request for {resource}) and will not scale on this metric"
                    )
                continue
            lacking = deployment.containers_without_request(resource)
            if lacking:
                warnings.append(
                    f"spec.metrics[{index}]: a Utilization target on {resource}, but container"
                    f"{'s' if len(lacking) > 1 else ''} {', '.join(lacking)} of Deployment/"
                    f"{deployment.metadata.name} request{'s' if len(lacking) == 1 else ''} no "
                    f"{resource}: the HPA cannot compute utilization (missing request for "
                    f"{resource}) and will not scale on this metric"
                )
        if deployment.spec.replicas is not None:
            warnings.append(
                f"Deployment/{deployment.metadata.name} sets spec.replicas "
                f"({deployment.spec.replicas}): with an HPA managing it, every apply resets the "
                "replica count; remove spec.replicas"
            )
    return warnings


def _effective_behavior_spec(
    behavior: Behavior | None, settings: ControllerSettings
) -> dict[str, Any] | None:
    if behavior is None:
        return None
    spec = behavior.to_spec()
    if behavior.scale_down.stabilization_window_s is None:
        spec["scaleDown"] = {
            "stabilizationWindowSeconds": int(settings.downscale_stabilization_s),
            **spec["scaleDown"],
        }
    return spec


def _defaulted_fields(raw: Mapping[str, Any] | None) -> list[str]:
    if raw is None:
        return []
    out = []
    for direction in ("scaleUp", "scaleDown"):
        given = raw.get(direction) or {}
        for key in ("stabilizationWindowSeconds", "selectPolicy", "policies"):
            if given.get(key) is None:
                out.append(f"{direction}.{key}")
    return out


def explain_hpa(
    hpa: HorizontalPodAutoscaler,
    deployments: Sequence[Deployment] = (),
    settings: ControllerSettings = ControllerSettings(),
) -> Explanation:
    """Describe one HPA's effective configuration and list its mistakes.

    Raises :class:`~capsim.scenario.manifests.ManifestError` when a ContainerResource
    metric names a container its Deployment (given) does not have.
    """
    spec = hpa.spec
    behavior = hpa.behavior
    deployment = _find_deployment(hpa, deployments)
    if deployment is not None:
        check_containers(hpa, deployment)
    namespace = hpa.metadata.namespace or "default"
    ref = spec.scale_target_ref
    title = f"HorizontalPodAutoscaler {namespace}/{hpa.metadata.name}"
    lines = [
        f"Scales {ref.kind}/{ref.name} between {spec.min_replicas} and {spec.max_replicas} "
        f"replicas, checked every {_seconds(settings.sync_period_s)}.",
    ]
    metric_lines = [_metric_line(metric, deployment) for metric in spec.metrics]
    if len(metric_lines) == 1:
        lines.append(f"Metric: {metric_lines[0]}")
    else:
        lines.append("Metrics (the HPA follows whichever asks for the most replicas):")
        lines.extend(f"  - {line}" for line in metric_lines)
    lines.append(_tolerance_line(behavior, settings))
    if any(m.resource_name == "cpu" for m in spec.metrics):
        lines.append(_cpu_startup_line(settings))
    if behavior is None:
        lines.append(
            "No spec.behavior: the legacy path. "
            f"Scale up: to at most max(2 × current, 4) replicas per sync. "
            f"Scale down: follows the highest recommendation of the last "
            f"{_seconds(settings.downscale_stabilization_s)} (controller default), "
            "with no rate limit."
        )
    else:
        lines.append(_scale_up_line(behavior.scale_up))
        lines.append(_scale_down_line(behavior.scale_down, settings))
    notes: list[str] = []
    if hpa.metrics_defaulted:
        notes.append("no spec.metrics: the API server defaults to CPU Utilization at 80 %")
    defaulted = _defaulted_fields(spec.behavior)
    if defaulted:
        notes.append(
            "defaulted by the API server: " + ", ".join(f"behavior.{f}" for f in defaulted)
        )
    if any(m.target.type == "Utilization" for m in spec.metrics) and not deployments:
        notes.append("no --deployment given: container requests were not checked")
    unsimulated = sorted({m.type for m in spec.metrics if not _simulated(m)})
    if unsimulated:
        notes.append(
            f"{' and '.join(unsimulated)} metrics are described but not simulated "
            f"(Pods metrics are simulated when named {', '.join(SIMULATED_POD_METRICS)}; "
            f"Object and External metrics when named {', '.join(SIMULATED_SERVICE_METRICS)}, "
            "an Object one on a service's Service or Deployment): capsim validate and run "
            "refuse the others"
        )
    warnings = _warnings(hpa, behavior, deployments, deployment)
    data = {
        "name": hpa.metadata.name,
        "namespace": namespace,
        "source": hpa.source,
        "apiVersion": hpa.api_version,
        "scaleTargetRef": {"kind": ref.kind, "name": ref.name},
        "minReplicas": spec.min_replicas,
        "maxReplicas": spec.max_replicas,
        "metrics": [_metric_data(m) for m in spec.metrics],
        "legacy": behavior is None,
        "behavior": _effective_behavior_spec(behavior, settings),
        "summary": lines,
        "warnings": warnings,
        "notes": notes,
    }
    return Explanation(title, tuple(lines), tuple(warnings), tuple(notes), data)


def explain_scaled_object(
    scaled: ScaledObjectDoc,
    deployments: Sequence[Deployment] = (),
    settings: ControllerSettings = ControllerSettings(),
) -> Explanation:
    """Describe a KEDA ScaledObject: KEDA's activation and cooldown in words, then the HPA
    KEDA creates for it (explained as any HPA: :func:`explain_hpa`). Raises
    :class:`~capsim.scenario.manifests.ManifestError` naming a trigger capsim cannot read."""
    spec = scaled.spec
    try:
        manifest = kedas_own_hpa(spec, scaled.name, scaled.namespace)
    except ValueError as exc:
        raise ManifestError(f"{scaled.source}: {exc}") from None
    hpa = HorizontalPodAutoscaler.model_validate(manifest | {"source": scaled.source})
    # (the triggers read: kedas_own_hpa raised on any it cannot)
    inner = explain_hpa(hpa, deployments, settings)
    namespace = scaled.namespace or "default"
    floor = spec.hpa_min_replicas
    idle = spec.idle_replica_count
    rest = f"{idle} (idleReplicaCount)" if idle is not None else str(spec.min_replicas)
    activations = []
    for index, trigger in enumerate(spec.triggers):
        label = trigger.name or f"{index} ({trigger.type})"
        if trigger.type in ("cpu", "memory"):
            activations.append(f"{label}: never (cpu and memory triggers do not activate)")
            continue
        _, activation = trigger_target(trigger, f"spec.triggers[{index}]")
        activations.append(f"{label}: above {(activation or 0) / 1000:g}")
    lines = [
        f"KEDA polls {len(spec.triggers)} trigger(s) every {_seconds(spec.polling_interval)}; "
        "the object is active when any trigger is above its activation threshold ("
        + "; ".join(activations)
        + ").",
        f"Active at {rest}: KEDA scales it to {floor}. Inactive for more than "
        f"{_seconds(spec.cooldown_period)} (cooldownPeriod) since the last active poll: "
        f"KEDA scales it to {rest}.",
        f"In between, the HPA KEDA creates ({hpa.metadata.name}):",
        *(f"  {line}" for line in inner.lines),
    ]
    # KEDA's External metrics are simulated through the triggers (keda_metrics), so the
    # HPA's own note on External metrics does not apply
    notes = [n for n in inner.notes if "metrics are described but not simulated" not in n]
    prometheus = [t.name or str(i) for i, t in enumerate(spec.triggers) if t.type == "prometheus"]
    if prometheus:
        notes.append(
            "capsim does not run Prometheus queries: say what each prometheus trigger "
            f"({', '.join(prometheus)}) measures with --keda-metric TRIGGER=METRIC (validate) "
            "or keda_metrics (a scenario)"
        )
    if spec.fallback is not None:
        notes.append("fallback: not simulated (the simulated scalers never fail)")
    data = {
        "kind": "ScaledObject",
        "name": scaled.name,
        "namespace": namespace,
        "source": scaled.source,
        "pollingInterval": spec.polling_interval,
        "cooldownPeriod": spec.cooldown_period,
        "minReplicaCount": spec.min_replicas,
        "maxReplicaCount": spec.max_replica_count,
        "idleReplicaCount": idle,
        "hpa": inner.data,
        "behavior": inner.data["behavior"],
        "summary": lines,
        "warnings": list(inner.warnings),
        "notes": notes,
    }
    title = f"ScaledObject {namespace}/{scaled.name}"
    return Explanation(title, tuple(lines), inner.warnings, tuple(notes), data)
