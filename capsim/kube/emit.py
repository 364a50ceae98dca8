"""Configuration → plain-dict Kubernetes manifests (``capsim deploy emit``).

Two sources:

* a scenario's Kubernetes platform (:func:`manifests_from_scenario`): one set per service
  workload — ``apps/v1`` Deployment, ``v1`` Service, ``autoscaling/v2`` HPA (or fixed
  replicas), ``policy/v1`` PodDisruptionBudget and, with a host, a
  ``networking.k8s.io/v1`` Ingress — and a suspended ``batch/v1`` Job per batch workload;
* a ``capsim recommend --emit`` folder (:func:`manifests_from_recommendation`): the
  recommended ``hpa.yaml`` and the user's own Deployment (``deployment.yaml``, with the
  recommended request), plus the Service, PDB and Ingress around them.

Modelling choices, stated once:

* **No ``spec.replicas`` when an HPA manages the Deployment**: each apply would reset the
  scale the HPA chose.
* **The HPA is written as simulated**: ``behavior`` fully defaulted (every rule explicit),
  with the scale-down stabilization window and the tolerance the simulated controller
  used (its flags) written into the object where the HPA has a ``behavior``, so the
  cluster's controller flags cannot change it. Per-HPA ``tolerance`` exists from
  Kubernetes 1.33 (KEP-4951); for older versions it is left out with a note.
* **Readiness probe from the modelled start-up**: a TCP probe on the ``http`` port whose
  ``initialDelaySeconds`` is the median modelled readiness delay (the time from container
  start to ready), polled every 5 s.
* **PDB**: ``minAvailable`` is the HPA's ``minReplicas`` (or the fixed replicas) minus one:
  at the floor one pod may still be evicted, so node drains and cluster-autoscaler
  scale-down are never blocked. With a floor of one pod there is nothing to protect, and
  no PDB is written (a note says so).
* Labels ``app.kubernetes.io/name`` (the workload), ``…/instance`` and
  ``…/managed-by: capsim`` on every object; the selector uses name and instance. A
  recommendation keeps the user's own selector and pod labels (a Deployment's selector
  is immutable) and adds the labels to the object's metadata.

Everything here is pure: no Kubernetes client, no files written (see
:mod:`capsim.kube.write`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capsim.hpa.behavior import format_tolerance
from capsim.scenario import (
    BatchWorkload,
    KubernetesPlatform,
    KubernetesWorkload,
    MetricsPipeline,
    PodTemplate,
    Scenario,
    ServiceWorkload,
    hpa_template,
    pod_template,
)
from capsim.scenario.distributions import Distribution
from capsim.scenario.keda import KEDA_API_VERSION, ScaledObjectSpec
from capsim.scenario.manifests import HpaTemplate, ManifestError, load_hpas, raw_objects
from capsim.scenario.platforms import keda_spec
from capsim.units import format_cpu_millicores, format_memory_bytes

__all__ = [
    "DEFAULT_K8S_VERSION",
    "TOLERANCE_SINCE",
    "EmitOptions",
    "ManifestSet",
    "manifests_from_recommendation",
    "manifests_from_scenario",
]

DEFAULT_K8S_VERSION = "1.31"
#: Per-HPA ``behavior.scale{Up,Down}.tolerance`` exists from this version (KEP-4951).
TOLERANCE_SINCE = (1, 33)
#: The controller's default ``--horizontal-pod-autoscaler-tolerance``.
DEFAULT_TOLERANCE = 0.1
MANAGED_BY = "capsim"
PORT_NAME = "http"
SERVICE_PORT = 80
PROBE_PERIOD_S = 5
GPU_RESOURCE = "nvidia.com/gpu"
#: The largest TCP port (``containerPort``: 1 to 65535, as the API server validates it).
MAX_PORT = 65535


@dataclass(frozen=True)
class EmitOptions:
    """What the configuration does not say: where and how the workload runs."""

    namespace: str | None = None
    image: str | None = None
    k8s_version: str = DEFAULT_K8S_VERSION
    ingress_host: str | None = None
    container_port: int = 8080

    def __post_init__(self) -> None:
        """``--namespace`` must be a DNS-1123 label, ``--ingress-host`` a DNS-1123
        subdomain (``*.`` allowed in front) and ``--port`` a port number (1 to 65535), as
        the API server requires; ``--k8s-version`` is ``MAJOR.MINOR``: ``ValueError``
        naming the flag and the value otherwise."""
        from capsim.kube.names import dns1123_label, dns1123_subdomain

        port = self.container_port
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= MAX_PORT:
            raise ValueError(f"--port: must be a port number from 1 to {MAX_PORT}, got {port!r}")
        version_tuple(self.k8s_version)

        if self.namespace is not None and (problems := dns1123_label(self.namespace)):
            raise ValueError(f"--namespace: {'; '.join(problems)}, got {self.namespace!r}")
        host = self.ingress_host
        if host is not None and (problems := dns1123_subdomain(host.removeprefix("*."))):
            raise ValueError(f"--ingress-host: {'; '.join(problems)}, got {host!r}")


@dataclass(frozen=True)
class ManifestSet:
    """Manifests (plain dicts, in apply order) and what the user should know about them."""

    objects: tuple[dict[str, Any], ...]
    source: str
    notes: tuple[str, ...] = field(default=())


def version_tuple(version: str) -> tuple[int, int]:
    """``"1.31"`` or ``"v1.31.2"`` → ``(1, 31)``; ``ValueError`` otherwise."""
    parts = version.removeprefix("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise ValueError(
            f"--k8s-version: expected MAJOR.MINOR such as 1.31, got {version!r}"
        ) from None


def _labels(name: str, instance: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def _metadata(name: str, namespace: str | None, labels: Mapping[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    return meta


def _label_value(text: str) -> str:
    """A valid label value: at most 63 characters, alphanumeric at both ends."""
    return text[:63].strip("-_.") or "capsim"


# --- scenario → manifests -----------------------------------------------------------------


def manifests_from_scenario(
    scenario: Scenario,
    platform_name: str,
    options: EmitOptions,
    workload: str | None = None,
    where: str = "scenario",
) -> ManifestSet:
    """The manifests of every workload (or only ``workload``) on one Kubernetes platform.

    Batch workloads become suspended Jobs (see :func:`_job_objects`). ``ValueError``
    names the problem (unknown platform or workload, a VM platform).
    """
    platform = scenario.platforms.get(platform_name)
    if platform is None:
        raise ValueError(
            f"{where}: no platform {platform_name!r} (choose one of {sorted(scenario.platforms)})"
        )
    if not isinstance(platform, KubernetesPlatform):
        kubernetes = [n for n, p in scenario.platforms.items() if isinstance(p, KubernetesPlatform)]
        raise ValueError(
            f"{where}: platforms.{platform_name} is a {platform.kind} platform; deploy emit "
            f"writes Kubernetes manifests (Kubernetes platforms here: {kubernetes or 'none'})"
        )
    by_name = {w.name: w for w in scenario.workloads}
    if workload is not None and workload not in by_name:
        raise ValueError(
            f"{where}: --workload {workload!r}: no such workload (have {sorted(by_name)})"
        )
    chosen = [w for w in scenario.workloads if workload in (None, w.name)]
    notes: list[str] = []
    if options.image is None:
        notes.append(
            "no --image: the containers run placeholder images "
            "(registry.example.com/<workload>:latest); set --image before applying"
        )
    objects: list[dict[str, Any]] = []
    for item in chosen:
        config = platform.workloads[item.name]
        instance = _label_value(f"{item.name}-{platform_name}")
        if isinstance(item, ServiceWorkload):
            built, item_notes = _service_objects(
                item, config, platform, scenario.base_dir, instance, options
            )
        else:
            built, item_notes = _job_objects(item, config, instance, options)
        objects.extend(built)
        notes.extend(f"{item.name}: {note}" for note in item_notes)
    return ManifestSet(
        tuple(_in_apply_order(objects)), f"{where}, platform {platform_name}", tuple(notes)
    )


def _job_objects(
    job: BatchWorkload, config: KubernetesWorkload, instance: str, options: EmitOptions
) -> tuple[list[dict[str, Any]], list[str]]:
    """A batch workload as a suspended ``batch/v1`` Job: one job of ``workers`` pods.

    Suspended, so applying it starts nothing: it is the template the pipeline submits
    (or un-suspends) at the times the scenario simulated. Gang placement (all workers
    at once) needs a gang scheduler such as Kueue; the note says so. Several workers make
    an Indexed Job with a headless Service for their rendezvous and the environment a
    PyTorch job reads (:func:`_rendezvous_env`).
    """
    pod = pod_template(job, config)
    labels = _labels(job.name, instance)
    container: dict[str, Any] = {
        "name": job.name,
        "image": options.image or f"registry.example.com/{job.name}:latest",
        "resources": _resources(pod),
    }
    spec: dict[str, Any] = {"suspend": True, "parallelism": job.workers, "completions": job.workers}
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    objects: list[dict[str, Any]] = []
    if job.workers > 1:
        spec["completionMode"] = "Indexed"
        pod_spec["subdomain"] = job.name
        container["env"] = _rendezvous_env(job.name, job.workers, pod.gpu)
        container["ports"] = [{"name": "rendezvous", "containerPort": RENDEZVOUS_PORT}]
        objects.append(_headless_service(job.name, labels, options.namespace))
    spec["backoffLimit"] = 0
    spec["template"] = {
        "metadata": {"labels": dict(labels)},
        "spec": {**pod_spec, **_scheduling(pod)},
    }
    obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(job.name, options.namespace, labels),
        "spec": spec,
    }
    notes = [
        "a suspended Job (a template: submit copies of it, or un-suspend it with "
        f'`kubectl patch job {job.name} -p \'{{"spec":{{"suspend":false}}}}\'`); '
        "the simulated arrivals are your pipeline's"
    ]
    if job.gang and job.workers > 1:
        notes.append(
            f"gang placement (all {job.workers} workers or none) as simulated needs a gang "
            "scheduler (Kueue, Volcano); the default scheduler starts workers as they fit"
        )
    if job.priority:
        notes.append(
            f"simulated priority {job.priority}: give the Job a PriorityClass with that value"
        )
    if job.workers > 1:
        notes.append(
            f"workers find each other through the headless Service {job.name}: worker 0 is "
            f"$(JOB_NAME)-0.{job.name}:{RENDEZVOUS_PORT}; the containers get MASTER_ADDR, "
            "MASTER_PORT, WORLD_SIZE and RANK (one process per pod, env://) and torchrun's "
            "PET_NNODES, PET_NODE_RANK, PET_NPROC_PER_NODE, PET_MASTER_ADDR, PET_MASTER_PORT"
        )
    return [*objects, obj], notes


RENDEZVOUS_PORT = 29500
"""The port worker 0 listens on for the others (PyTorch's default ``MASTER_PORT``)."""

_JOB_NAME_LABEL = "metadata.labels['job-name']"
_COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def _rendezvous_env(name: str, workers: int, gpus: int) -> list[dict[str, Any]]:
    """What a worker of an Indexed Job needs to join the others: its job's name (the
    ``job-name`` label every Job pod carries), its index (the completion index annotation)
    as rank, worker 0's address through the headless Service (pods of an Indexed Job
    are named ``<job>-<index>``, resolvable as ``<job>-<index>.<subdomain>``), the world
    size, and the same for torchrun (``PET_*``, read as its ``--nnodes`` … flags)."""
    index = {"valueFrom": {"fieldRef": {"fieldPath": _COMPLETION_INDEX}}}
    master = f"$(JOB_NAME)-0.{name}"
    return [
        {
            "name": "JOB_NAME",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}},
        },
        {"name": "RANK", **index},
        {"name": "WORLD_SIZE", "value": str(workers)},
        {"name": "MASTER_ADDR", "value": master},
        {"name": "MASTER_PORT", "value": str(RENDEZVOUS_PORT)},
        {"name": "PET_NNODES", "value": str(workers)},
        {"name": "PET_NODE_RANK", **index},
        {"name": "PET_NPROC_PER_NODE", "value": str(max(gpus, 1))},
        {"name": "PET_MASTER_ADDR", "value": master},
        {"name": "PET_MASTER_PORT", "value": str(RENDEZVOUS_PORT)},
    ]


def _headless_service(
    name: str, labels: Mapping[str, str], namespace: str | None
) -> dict[str, Any]:
    """The headless Service that gives each worker of an Indexed Job a DNS name
    (published before the pods are ready: the workers meet before any is)."""
    selector = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector,
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "targetPort": "rendezvous"}],
        },
    }


def _service_objects(
    service: ServiceWorkload,
    config: KubernetesWorkload,
    platform: KubernetesPlatform,
    base_dir: Path,
    instance: str,
    options: EmitOptions,
) -> tuple[list[dict[str, Any]], list[str]]:
    notes: list[str] = []
    name = service.name
    labels = _labels(name, instance)
    selector = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
    assert config.pod is not None  # scenario validation: a service has a pod template
    keda = keda_spec(config, base_dir, name)
    hpa = None if config.replicas is not None else hpa_template(config, base_dir, name)
    replicas = config.replicas
    image = options.image or f"registry.example.com/{name}:latest"
    deployment = _deployment(name, labels, selector, config.pod, image, replicas, options)
    objects = [_service(name, labels, selector, options.namespace), deployment]
    floor = hpa.min_replicas if hpa is not None else (replicas or 0)
    pdb = _pdb(name, labels, selector, floor, options.namespace)
    if pdb is None:
        notes.append(f"no PodDisruptionBudget: a floor of {floor} pod(s) leaves nothing to keep")
    else:
        objects.append(pdb)
    if keda is not None:
        objects.append(_scaled_object(name, labels, keda, options.namespace))
        notes.extend(_keda_notes(keda))
    elif hpa is not None:
        spec, hpa_notes = _hpa_spec(hpa, platform.metrics, version_tuple(options.k8s_version))
        notes.extend(hpa_notes)
        notes.extend(_adapter_notes(hpa))
        objects.append(_hpa(name, labels, spec, options.namespace))
    if config.interceptor is not None:
        held = config.interceptor
        timeout = "the client's timeout" if held.timeout_s is None else f"{held.timeout_s:g} s"
        pending = "no limit" if held.max_pending is None else str(held.max_pending)
        notes.append(
            "simulated with an interceptor holding requests while no pod is ready (up to "
            f"{timeout}, {pending} at once): route the service's traffic through one (the "
            "KEDA HTTP add-on's interceptor with an InterceptorRoute, or Knative's activator; "
            "not written here), or requests at zero pods are refused"
        )
    if options.ingress_host:
        objects.append(_ingress(name, labels, options.ingress_host, PORT_NAME, options.namespace))
    return objects, notes


_ADAPTER_QUERIES = {
    "queue_length": "the requests waiting, summed over the pods",
    "requests_in_flight": "the requests in the pods (in service and waiting), summed",
    "requests_per_second": "sum(rate(<requests served total>[1m]))",
    "arrival_rate": "sum(rate(<requests received total>[1m])), refused ones included",
}


def _scaled_object(
    name: str, labels: Mapping[str, str], spec: ScaledObjectSpec, namespace: str | None
) -> dict[str, Any]:
    """The ScaledObject as simulated (KEDA creates the HPA; the Deployment has no
    ``spec.replicas``), targeting the workload's Deployment."""
    body = spec.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    body = {"scaleTargetRef": {"name": name}} | body
    body["triggers"] = [
        t.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True) | {"type": t.type}
        for t in spec.triggers
    ]
    for key, value in (
        ("pollingInterval", spec.polling_interval),
        ("cooldownPeriod", spec.cooldown_period),
        ("minReplicaCount", spec.min_replicas),
        ("maxReplicaCount", spec.max_replica_count),
    ):
        body[key] = value  # the simulated values written out, defaults included
    return {
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledObject",
        "metadata": _metadata(name, namespace, labels),
        "spec": body,
    }


def _keda_notes(spec: ScaledObjectSpec) -> list[str]:
    """What a cluster needs for the ScaledObject to do what was simulated."""
    notes = [
        "a KEDA ScaledObject (keda.sh/v1alpha1): install KEDA first; KEDA creates the HPA "
        "(capsim deploy apply does not apply it: use kubectl apply -f)"
    ]
    for index, trigger in enumerate(spec.triggers):
        if trigger.type == "prometheus":
            missing = [k for k in ("serverAddress", "query") if k not in trigger.metadata]
            if missing:
                notes.append(
                    f"spec.triggers[{index}]: set {' and '.join(missing)} (the simulation "
                    "did not need them)"
                )
    return notes


_POD_SERIES = {
    "requests_in_flight": "the requests in the pod (in service and waiting; vLLM: "
    "vllm:num_requests_running + vllm:num_requests_waiting)",
    "requests_per_second": "rate(<requests served total>[1m]) of the pod",
    "gpu_utilization": "DCGM_FI_DEV_GPU_UTIL of the pod's GPUs (NVIDIA's dcgm-exporter), in "
    "percent",
    "kv_cache_usage": "vllm:gpu_cache_usage_perc (vLLM's KV-cache use, 0 to 1)",
}


def _adapter_notes(hpa: HpaTemplate) -> list[str]:
    """What a cluster needs to serve the Pods, Object and External metrics as simulated."""
    notes = []
    for index, metric in enumerate(hpa.metrics):
        if metric.type == "Pods":
            notes.append(
                f"spec.metrics[{index}]: the Pods metric {metric.metric_name!r} must be served "
                "per pod by a metrics adapter (prometheus-adapter) as simulated: "
                f"{_POD_SERIES.get(metric.metric_name, 'the value')}, averaged over 1m"
            )
        if metric.type in ("Object", "External"):
            notes.append(
                f"spec.metrics[{index}]: the {metric.type} metric {metric.metric_name!r} must "
                "be served by a metrics adapter (prometheus-adapter, or KEDA's) as simulated: "
                f"{_ADAPTER_QUERIES.get(metric.metric_name, 'the value')}, averaged over 1m"
            )
    return notes


def _deployment(
    name: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    pod: PodTemplate,
    image: str,
    replicas: int | None,
    options: EmitOptions,
) -> dict[str, Any]:
    container = {
        "name": name,
        "image": image,
        "ports": [{"name": PORT_NAME, "containerPort": options.container_port, "protocol": "TCP"}],
        "resources": _resources(pod),
        "readinessProbe": {
            "tcpSocket": {"port": PORT_NAME},
            "initialDelaySeconds": _probe_delay_s(pod.readiness_delay),
            "periodSeconds": PROBE_PERIOD_S,
        },
    }
    spec: dict[str, Any] = {}
    if replicas is not None:
        spec["replicas"] = replicas
    spec["selector"] = {"matchLabels": dict(selector)}
    spec["template"] = {
        "metadata": {"labels": dict(labels)},
        "spec": {"containers": [container], **_scheduling(pod)},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, options.namespace, labels),
        "spec": spec,
    }


def _scheduling(pod: PodTemplate) -> dict[str, Any]:
    """The pod spec's ``nodeSelector``, ``affinity`` and ``tolerations`` the simulation
    placed the pods by: the scenario's, and for a pod requesting GPUs the
    ``nvidia.com/gpu`` toleration (written out: not every cluster runs the
    ``ExtendedResourceToleration`` admission plugin that adds it)."""
    out: dict[str, Any] = {}
    if pod.node_selector:
        out["nodeSelector"] = dict(pod.node_selector)
    if pod.affinity is not None:
        out["affinity"] = pod.affinity.model_dump(by_alias=True, exclude_defaults=True)
    tolerations = []
    for t in dict.fromkeys(pod.placement.all_tolerations()):
        fields = {"key": t.key, "operator": t.operator, "value": t.value, "effect": t.effect}
        tolerations.append(
            {k: v for k, v in fields.items() if v and (k, v) != ("operator", "Equal")}
        )
    if tolerations:
        out["tolerations"] = tolerations
    return out


def _resources(pod: PodTemplate) -> dict[str, Any]:
    requests = {
        "cpu": format_cpu_millicores(pod.cpu_request_millicores),
        "memory": format_memory_bytes(pod.memory_request_bytes),
    }
    limits: dict[str, Any] = {}
    if pod.cpu_limit_millicores is not None:
        limits["cpu"] = format_cpu_millicores(pod.cpu_limit_millicores)
    if pod.memory_limit_bytes is not None:
        limits["memory"] = format_memory_bytes(pod.memory_limit_bytes)
    if pod.gpu:
        limits[GPU_RESOURCE] = pod.gpu  # extended resources: limits only (requests default to them)
    return {"requests": requests, "limits": limits} if limits else {"requests": requests}


def _probe_delay_s(delay: Distribution) -> int:
    """The median modelled readiness delay, whole seconds (the probe's granularity)."""
    return max(0, math.floor(delay.median_s))


def _service(
    name: str, labels: Mapping[str, str], selector: Mapping[str, str], namespace: str | None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "selector": dict(selector),
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": SERVICE_PORT,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def _pdb(
    name: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    floor: int,
    namespace: str | None,
) -> dict[str, Any] | None:
    if floor <= 1:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(name, namespace, labels),
        "spec": {"minAvailable": floor - 1, "selector": {"matchLabels": dict(selector)}},
    }


def _hpa(
    name: str, labels: Mapping[str, str], spec: Mapping[str, Any], namespace: str | None
) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            **spec,
        },
    }


def _ingress(
    name: str, labels: Mapping[str, str], host: str, port: str | int, namespace: str | None
) -> dict[str, Any]:
    port_ref = {"name": port} if isinstance(port, str) else {"number": port}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": name, "port": port_ref}},
                            }
                        ]
                    },
                }
            ]
        },
    }


def _hpa_spec(
    hpa: HpaTemplate, pipeline: MetricsPipeline, version: tuple[int, int]
) -> tuple[dict[str, Any], list[str]]:
    """The HPA spec as simulated (see the module docstring), and notes on what differs."""
    notes: list[str] = []
    spec: dict[str, Any] = {
        "minReplicas": hpa.min_replicas,
        "maxReplicas": hpa.max_replicas,
        "metrics": [
            m.model_dump(by_alias=True, exclude_none=True, mode="json") for m in hpa.metrics
        ],
    }
    behavior = hpa.parsed_behavior
    if behavior is None:
        if pipeline.downscale_stabilization_s != 300 or pipeline.tolerance != DEFAULT_TOLERANCE:
            notes.append(
                "the HPA has no behavior (legacy path): the simulated controller flags "
                f"(tolerance {pipeline.tolerance:g}, downscale stabilization "
                f"{pipeline.downscale_stabilization_s:g} s) apply only if the cluster's "
                "kube-controller-manager sets them"
            )
        return spec, notes
    written = behavior.to_spec()
    if written["scaleDown"].get("stabilizationWindowSeconds") is None:
        written["scaleDown"] = {
            "stabilizationWindowSeconds": round(pipeline.downscale_stabilization_s),
            **written["scaleDown"],
        }
    if version >= TOLERANCE_SINCE:
        if pipeline.tolerance != DEFAULT_TOLERANCE:
            for rules in written.values():
                rules.setdefault("tolerance", format_tolerance(pipeline.tolerance))
    else:
        dropped = {
            direction: rules.pop("tolerance")
            for direction, rules in written.items()
            if rules.get("tolerance") is not None
        }
        if pipeline.tolerance != DEFAULT_TOLERANCE:
            dropped.setdefault("controller", format_tolerance(pipeline.tolerance))
        if dropped:
            notes.append(
                f"tolerance {dropped} left out: per-HPA tolerance needs Kubernetes "
                f"{TOLERANCE_SINCE[0]}.{TOLERANCE_SINCE[1]}+ (this set targets "
                f"{version[0]}.{version[1]}); the cluster's controller uses its "
                "--horizontal-pod-autoscaler-tolerance flag"
            )
    spec["behavior"] = written
    return spec, notes


# --- recommendation → manifests -----------------------------------------------------------

_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)


def manifests_from_recommendation(folder: Path, options: EmitOptions) -> ManifestSet:
    """Manifests from a ``capsim recommend --emit`` folder: its ``hpa.yaml`` and
    ``deployment.yaml`` (the user's Deployment with the recommended request)."""
    hpa_path, deployment_path = folder / "hpa.yaml", folder / "deployment.yaml"
    if not hpa_path.is_file():
        raise ManifestError(f"{folder}: no hpa.yaml (not a `capsim recommend --emit` folder)")
    if not deployment_path.is_file():
        raise ManifestError(
            f"{folder}: no deployment.yaml: the recommendation was made without --deployment; "
            "rerun `capsim recommend` with --deployment DEPLOY.yaml so the manifests carry "
            "your containers"
        )
    (hpa,) = load_hpas(hpa_path)
    target = hpa.spec.scale_target_ref.name
    found = [o for o in raw_objects(deployment_path) if o.body.get("kind") == "Deployment"]
    matching = [o for o in found if (o.body.get("metadata") or {}).get("name") == target]
    if not matching:
        names = [(o.body.get("metadata") or {}).get("name") for o in found]
        raise ManifestError(f"{deployment_path}: no Deployment named {target!r} (found {names})")
    namespace = options.namespace or hpa.metadata.namespace
    labels = _labels(target, _label_value(target))
    deployment = _own_deployment(matching[0].body, labels, namespace)
    pod_labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    selector = (deployment["spec"].get("selector") or {}).get("matchLabels") or pod_labels
    notes: list[str] = []
    objects = [deployment]
    ports = _container_ports(deployment)
    if ports:
        objects.append(_service_for_ports(target, labels, selector, ports, namespace))
    else:
        notes.append("no Service: the Deployment's containers declare no ports")
    pdb = _pdb(target, labels, selector, hpa.spec.min_replicas, namespace)
    if pdb is None:
        notes.append(f"no PodDisruptionBudget: minReplicas {hpa.spec.min_replicas}")
    else:
        objects.append(pdb)
    hpa_spec = hpa.spec.model_dump(
        by_alias=True, exclude_none=True, exclude={"scale_target_ref"}, mode="json"
    )
    objects.append(_hpa(target, labels, hpa_spec, namespace))
    if options.ingress_host:
        if not ports:
            raise ValueError(
                "--ingress-host: the Deployment declares no container port to route to"
            )
        port = ports[0].get("name") or ports[0]["containerPort"]
        objects.append(_ingress(target, labels, options.ingress_host, port, namespace))
    return ManifestSet(tuple(_in_apply_order(objects)), f"recommendation {folder}", tuple(notes))


def _own_deployment(
    body: Mapping[str, Any], labels: Mapping[str, str], namespace: str | None
) -> dict[str, Any]:
    """The user's Deployment, ready to apply: no server fields, no status, no
    ``spec.replicas`` (the HPA owns the scale), capsim's labels on the object."""
    source = copy.deepcopy(dict(body))
    metadata = {
        k: v for k, v in (source.get("metadata") or {}).items() if k not in _SERVER_METADATA
    }
    metadata.pop("namespace", None)
    annotations = {
        k: v
        for k, v in (metadata.pop("annotations", None) or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    out_meta: dict[str, Any] = {"name": metadata.pop("name")}
    if namespace:
        out_meta["namespace"] = namespace
    out_meta["labels"] = {**(metadata.pop("labels", None) or {}), **labels}
    if annotations:
        out_meta["annotations"] = annotations
    out_meta.update(metadata)
    spec = dict(source.get("spec") or {})
    spec.pop("replicas", None)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": out_meta, "spec": spec}


def _container_ports(deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    return [dict(port) for c in containers for port in c.get("ports") or []]


def _service_for_ports(
    name: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    ports: Sequence[Mapping[str, Any]],
    namespace: str | None,
) -> dict[str, Any]:
    service_ports = []
    for index, port in enumerate(ports):
        entry: dict[str, Any] = {"name": port.get("name") or f"port-{index}"}
        entry["port"] = port["containerPort"]
        entry["targetPort"] = port.get("name") or port["containerPort"]
        entry["protocol"] = port.get("protocol", "TCP")
        service_ports.append(entry)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, labels),
        "spec": {"selector": dict(selector), "ports": service_ports},
    }


#: Apply order: what others refer to first (Service, Deployment), the HPA after its target.
APPLY_ORDER = (
    "Service",
    "Deployment",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "ScaledObject",
    "Ingress",
    "Job",
)


def apply_rank(obj: Mapping[str, Any]) -> int:
    kind = obj.get("kind")
    return APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)


def _in_apply_order(objects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(objects, key=apply_rank)  # stable: workloads keep their order per kind
