"""Checks on a set of manifests before anything is written or applied.

Two layers, every problem reported (not only the first) with object, field and value:

* **Schemas** (:func:`schema_problems`): the official OpenAPI-derived JSON schemas of the
  chosen Kubernetes version, as bundled by ``kubernetes-validate``, in strict mode
  (unknown fields and removed APIs are errors). Imported lazily (extra ``kube``).
* **What the schemas miss** (:func:`consistency_problems`): names, namespaces and
  labels follow the API server's rules (:mod:`capsim.kube.names`: ``metadata.name`` as
  each kind requires, ``metadata.namespace`` a DNS-1123 label, label keys and values,
  container names, port names, Ingress hosts), quantities parse (the
  schemas accept any string), limits are not below requests (the API server rejects
  that), a selector matches its pod labels, a Service or PDB selects pods of the set,
  the HPA's ``scaleTargetRef`` names a Deployment of the set, a Utilization target has
  a request on its resource in every container, ``minReplicas ≤ maxReplicas``, and
  Service target ports and Ingress backends point at ports that exist, container ports
  are within 1–65535.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from capsim.kube import names
from capsim.scenario.keda import KEDA_API_VERSION, ScaledObjectSpec
from capsim.scenario.parsing import validation_message
from capsim.units import parse_quantity

__all__ = [
    "Problem",
    "check_manifests",
    "consistency_problems",
    "name_problems",
    "schema_problems",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one object: ``Deployment/web: spec.x: message (got value)``."""

    obj: str
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.obj}: {self.field}: {self.message}"
            if self.field
            else (f"{self.obj}: {self.message}")
        )


def object_name(obj: Mapping[str, Any]) -> str:
    """``Kind/name`` (``Kind/namespace/name`` when namespaced explicitly)."""
    meta = obj.get("metadata") or {}
    parts = [str(obj.get("kind", "?")), str(meta.get("namespace") or ""), str(meta.get("name"))]
    return "/".join(p for p in parts if p)


def check_manifests(objects: Sequence[Mapping[str, Any]], k8s_version: str) -> list[Problem]:
    """Every schema and consistency problem of the set (empty: fine to write and apply)."""
    problems: list[Problem] = []
    for obj in objects:
        problems.extend(schema_problems(obj, k8s_version))
    problems.extend(consistency_problems(objects))
    return problems


# --- schemas ------------------------------------------------------------------------------


def supported_versions() -> list[str]:
    """The Kubernetes versions whose schemas ``kubernetes-validate`` ships (``1.25``…)."""
    from kubernetes_validate.utils import all_versions, major_minor

    return [major_minor(v) for v in all_versions()]


def schema_problems(obj: Mapping[str, Any], k8s_version: str) -> list[Problem]:
    """Strict schema validation of one object against ``k8s_version`` (``1.31``).

    Uses the schemas ``kubernetes-validate`` bundles, through ``jsonschema`` directly so
    that every violation is listed, not only the first. ``ValueError`` for a version
    it does not ship.
    """
    import jsonschema
    import referencing
    from kubernetes_validate.utils import schema_contents

    versions = supported_versions()
    wanted = k8s_version.removeprefix("v")
    if wanted not in versions:
        raise ValueError(
            f"--k8s-version {k8s_version!r}: schemas are available for {versions[0]} to "
            f"{versions[-1]}"
        )
    name = object_name(obj)
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    if (api_version, kind) == (KEDA_API_VERSION, "ScaledObject"):
        return _scaled_object_problems(obj)
    group_version = api_version.split("/")
    group = group_version[0].split(".")[0] + "-" if len(group_version) == 2 else ""
    schema_dir = f"kubernetes-json-schema/v{wanted}.0-local-strict"
    try:
        schema = schema_contents(
            f"{schema_dir}/{kind.lower()}-{group}{group_version[-1]}.json", wanted
        )
    except FileNotFoundError:
        return [Problem(name, "apiVersion", f"{api_version} {kind} does not exist in {wanted}")]
    definitions = schema_contents(f"{schema_dir}/_definitions.json", wanted)
    registry = referencing.Resource.from_contents(definitions) @ (
        referencing.Resource.from_contents(schema) @ referencing.Registry()
    )
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    problems = []
    for error in sorted(validator.iter_errors(dict(obj)), key=lambda e: list(map(str, e.path))):
        problems.append(Problem(name, _path(error.path), f"{error.message} (schema {wanted})"))
    return problems


def _scaled_object_problems(obj: Mapping[str, Any]) -> list[Problem]:
    """A KEDA ScaledObject (a CRD: not in the bundled schemas) checked by capsim's model of
    its spec, KEDA's webhook rules included (:mod:`capsim.scenario.keda`)."""
    from pydantic import ValidationError

    try:
        ScaledObjectSpec.model_validate(obj.get("spec"))
    except ValidationError as exc:
        return [Problem(object_name(obj), "spec", validation_message("spec", exc))]
    return []


def _path(parts: Iterator[Any] | Sequence[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# --- consistency --------------------------------------------------------------------------


def consistency_problems(objects: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """The checks the schemas miss (see the module docstring)."""
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    with_pods = [o for o in objects if o.get("kind") in ("Deployment", "Job")]
    problems: list[Problem] = []
    for obj in objects:
        problems.extend(name_problems(obj))
        kind = obj.get("kind")
        if kind in ("Deployment", "Job"):
            problems.extend(_pod_template_problems(obj))
        elif kind == "Service":
            problems.extend(_service_problems(obj, with_pods))
        elif kind == "PodDisruptionBudget":
            problems.extend(_selects_pods(obj, "spec.selector", _selector(obj), deployments))
        elif kind == "HorizontalPodAutoscaler":
            problems.extend(_hpa_problems(obj, deployments))
        elif kind == "ScaledObject":
            problems.extend(_scale_target_problems(obj, deployments))
        elif kind == "Ingress":
            problems.extend(_ingress_problems(obj, objects))
    return problems


def _named(obj: Mapping[str, Any], field: str, value: Any, rule: Any, what: str) -> list[Problem]:
    if not isinstance(value, str):
        return []  # the schema reports a wrong type
    found = rule(value)
    return [Problem(object_name(obj), field, f"{'; '.join(found)}, got {value!r}")] if found else []


def _labels_problems(obj: Mapping[str, Any], field: str, labels: Any) -> list[Problem]:
    if not isinstance(labels, Mapping):
        return []
    problems = []
    for key, value in labels.items():
        problems += _named(obj, f"{field}", key, names.label_key, "label key")
        if isinstance(value, str):
            problems += _named(obj, f"{field}[{key}]", value, names.label_value, "label value")
    return problems


def name_problems(obj: Mapping[str, Any]) -> list[Problem]:
    """Names, namespace, labels, container and port names and Ingress hosts that the API
    server would refuse (its own rules and wording, :mod:`capsim.kube.names`)."""
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    problems = _named(
        obj, "metadata.name", meta.get("name"), lambda n: names.object_name(kind, n), "name"
    )
    if meta.get("name") is None:
        problems.append(Problem(object_name(obj), "metadata.name", "missing"))
    if meta.get("namespace") is not None:
        problems += _named(
            obj, "metadata.namespace", meta["namespace"], names.dns1123_label, "namespace"
        )
    problems += _labels_problems(obj, "metadata.labels", meta.get("labels"))
    if kind in ("Deployment", "Job"):
        template = _get(obj, "spec", "template", "metadata", "labels")
        problems += _labels_problems(obj, "spec.template.metadata.labels", template)
        pod = _get(obj, "spec", "template", "spec") or {}
        for section in ("initContainers", "containers"):
            for index, container in enumerate(pod.get(section) or []):
                if not isinstance(container, Mapping):
                    continue
                path = f"spec.template.spec.{section}[{index}]"
                problems += _named(
                    obj, f"{path}.name", container.get("name"), names.dns1123_label, "name"
                )
                for p, port in enumerate(container.get("ports") or []):
                    if isinstance(port, Mapping) and "name" in port:
                        problems += _named(
                            obj, f"{path}.ports[{p}].name", port["name"], names.port_name, "port"
                        )
    if kind == "Service":
        for index, port in enumerate(_get(obj, "spec", "ports") or []):
            if isinstance(port, Mapping) and "name" in port:
                problems += _named(
                    obj, f"spec.ports[{index}].name", port["name"], names.port_name, "port"
                )
        selector = _get(obj, "spec", "selector")
        problems += _labels_problems(obj, "spec.selector", selector)
    if kind == "Ingress":
        for index, rule in enumerate(_get(obj, "spec", "rules") or []):
            host = rule.get("host") if isinstance(rule, Mapping) else None
            if isinstance(host, str):
                problems += _named(
                    obj,
                    f"spec.rules[{index}].host",
                    host,
                    lambda h: names.dns1123_subdomain(h.removeprefix("*.")),
                    "host",
                )
    return problems


def _get(obj: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(key, int):
            obj = obj[key] if isinstance(obj, list) and len(obj) > key else None
        else:
            obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _containers(deployment: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """App containers and sidecars (restartable init containers) of a Deployment's or
    Job's pod template, with their field path."""
    pod = _get(deployment, "spec", "template", "spec") or {}
    found = [
        (f"spec.template.spec.containers[{i}]", c)
        for i, c in enumerate(pod.get("containers") or [])
    ]
    found += [
        (f"spec.template.spec.initContainers[{i}]", c)
        for i, c in enumerate(pod.get("initContainers") or [])
        if c.get("restartPolicy") == "Always"
    ]
    return found


def _quantity(value: Any) -> float | None:
    try:
        return float(parse_quantity(value))
    except (ValueError, TypeError):
        return None


def _pod_template_problems(obj: Mapping[str, Any]) -> list[Problem]:
    """Ports, quantities, limits against requests, and the selector of a Deployment's or
    Job's pod template."""
    name = object_name(obj)
    problems = []
    for path, container in _containers(obj):
        for index, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort")
            if isinstance(number, int) and not 1 <= number <= 65535:
                problems.append(
                    Problem(
                        name,
                        f"{path}.ports[{index}].containerPort",
                        f"{number} is outside 1-65535 (the API server rejects it)",
                    )
                )
        resources = container.get("resources") or {}
        parsed: dict[str, dict[str, float]] = {"requests": {}, "limits": {}}
        for section in ("requests", "limits"):
            for resource, value in (resources.get(section) or {}).items():
                amount = _quantity(value)
                if amount is None:
                    problems.append(
                        Problem(
                            name,
                            f"{path}.resources.{section}.{resource}",
                            f"not a quantity: {value!r}",
                        )
                    )
                else:
                    parsed[section][resource] = amount
        for resource, request in parsed["requests"].items():
            limit = parsed["limits"].get(resource)
            if limit is not None and limit < request:
                problems.append(
                    Problem(
                        name,
                        f"{path}.resources.limits.{resource}",
                        f"limit {resources['limits'][resource]!r} is below the request "
                        f"{resources['requests'][resource]!r}",
                    )
                )
    selector = _get(obj, "spec", "selector")
    labels = _get(obj, "spec", "template", "metadata", "labels") or {}
    if isinstance(selector, Mapping) and not _matches(selector, labels):
        problems.append(
            Problem(
                name,
                "spec.selector",
                f"{_selector_text(selector)} does not match the pod labels {labels}",
            )
        )
    return problems


def _selector(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    value = _get(obj, "spec", "selector")
    return value if isinstance(value, Mapping) else None


def _matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """A ``LabelSelector`` (matchLabels and matchExpressions) against pod labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _selector_text(selector: Mapping[str, Any]) -> str:
    return str({k: v for k, v in selector.items() if v})


def _pod_labels(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    return _get(deployment, "spec", "template", "metadata", "labels") or {}


def _selects_pods(
    obj: Mapping[str, Any],
    field: str,
    selector: Mapping[str, Any] | None,
    deployments: Sequence[Mapping[str, Any]],
) -> list[Problem]:
    if selector is None:
        return []
    if any(_matches(selector, _pod_labels(d)) for d in deployments):
        return []
    return [
        Problem(
            object_name(obj),
            field,
            f"{_selector_text(selector)} selects no pods of this set "
            f"(pod labels: {[dict(_pod_labels(d)) for d in deployments]})",
        )
    ]


def _service_problems(
    obj: Mapping[str, Any], deployments: Sequence[Mapping[str, Any]]
) -> list[Problem]:
    """A Service must select pods of the set (a Deployment's or a Job's) and target
    ports they name."""
    selector = _get(obj, "spec", "selector")
    if not isinstance(selector, Mapping):
        return []
    problems = _selects_pods(obj, "spec.selector", {"matchLabels": selector}, deployments)
    selected = [d for d in deployments if _matches({"matchLabels": selector}, _pod_labels(d))]
    ports = [p for d in selected for _, c in _containers(d) for p in c.get("ports") or []]
    names = {p.get("name") for p in ports if p.get("name")}
    numbers = {p.get("containerPort") for p in ports}
    for index, port in enumerate(_get(obj, "spec", "ports") or []):
        target = port.get("targetPort", port.get("port"))
        known = names if isinstance(target, str) else numbers
        if selected and target not in known:
            problems.append(
                Problem(
                    object_name(obj),
                    f"spec.ports[{index}].targetPort",
                    f"{target!r} is no container port of the selected pods "
                    f"(ports: {sorted(map(str, names | numbers))})",
                )
            )
    return problems


def _scale_target_problems(
    obj: Mapping[str, Any], deployments: Sequence[Mapping[str, Any]]
) -> list[Problem]:
    """A ScaledObject's ``scaleTargetRef`` (kind Deployment by default) names a
    Deployment of the set."""
    ref = _get(obj, "spec", "scaleTargetRef") or {}
    names = [_get(d, "metadata", "name") for d in deployments]
    if ref.get("kind", "Deployment") == "Deployment" and ref.get("name") in names:
        return []
    return [
        Problem(
            object_name(obj),
            "spec.scaleTargetRef",
            f"{ref.get('kind', 'Deployment')}/{ref.get('name')} is no Deployment of this set "
            f"({names})",
        )
    ]


def _hpa_problems(
    obj: Mapping[str, Any], deployments: Sequence[Mapping[str, Any]]
) -> list[Problem]:
    name = object_name(obj)
    spec = obj.get("spec") or {}
    problems = []
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append(Problem(name, "spec.minReplicas", f"{low} is above maxReplicas {high}"))
    ref = spec.get("scaleTargetRef") or {}
    target = [
        d
        for d in deployments
        if ref.get("kind") == "Deployment"
        and ref.get("apiVersion", "apps/v1") == d.get("apiVersion")
        and _get(d, "metadata", "name") == ref.get("name")
    ]
    if not target:
        problems.append(
            Problem(
                name,
                "spec.scaleTargetRef",
                f"{ref.get('kind')}/{ref.get('name')} ({ref.get('apiVersion')}) is no "
                f"Deployment of this set ({[_get(d, 'metadata', 'name') for d in deployments]})",
            )
        )
    for index, metric in enumerate(spec.get("metrics") or []):
        source = metric.get("resource") or metric.get("containerResource") or {}
        target_spec = source.get("target") or {}
        for key in ("averageValue", "value"):
            if key in target_spec and _quantity(target_spec[key]) is None:
                problems.append(
                    Problem(
                        name,
                        f"spec.metrics[{index}].{_source_key(metric)}.target.{key}",
                        f"not a quantity: {target_spec[key]!r}",
                    )
                )
        if target and target_spec.get("type") == "Utilization":
            resource = source.get("name")
            only = source.get("container") if "containerResource" in metric else None
            missing = [
                c.get("name")
                for _, c in _containers(target[0])
                if only in (None, c.get("name"))
                and resource not in ((c.get("resources") or {}).get("requests") or {})
            ]
            if missing:
                problems.append(
                    Problem(
                        name,
                        f"spec.metrics[{index}].{_source_key(metric)}.target",
                        f"Utilization of {resource} needs a {resource} request, but containers "
                        f"{missing} of Deployment/{ref.get('name')} set none",
                    )
                )
    return problems


def _source_key(metric: Mapping[str, Any]) -> str:
    return "containerResource" if "containerResource" in metric else "resource"


def _ingress_problems(
    obj: Mapping[str, Any], objects: Sequence[Mapping[str, Any]]
) -> list[Problem]:
    services = {_get(o, "metadata", "name"): o for o in objects if o.get("kind") == "Service"}
    problems = []
    for r, rule in enumerate(_get(obj, "spec", "rules") or []):
        for p, path in enumerate(_get(rule, "http", "paths") or []):
            backend = _get(path, "backend", "service") or {}
            field = f"spec.rules[{r}].http.paths[{p}].backend.service"
            service = services.get(backend.get("name"))
            if service is None:
                problems.append(
                    Problem(
                        object_name(obj),
                        f"{field}.name",
                        f"{backend.get('name')!r} is no Service of this set",
                    )
                )
                continue
            port = backend.get("port") or {}
            ports = _get(service, "spec", "ports") or []
            if "name" in port and port["name"] not in {x.get("name") for x in ports}:
                problems.append(
                    Problem(object_name(obj), f"{field}.port.name", f"no port {port['name']!r}")
                )
            if "number" in port and port["number"] not in {x.get("port") for x in ports}:
                problems.append(
                    Problem(object_name(obj), f"{field}.port.number", f"no port {port['number']}")
                )
    return problems
