"""Scenarios: one YAML file → frozen, validated, typed objects.

A scenario names the load (workloads) and the platforms to compare. It is parsed once,
here at the edge, with pydantic. Every error names the file, the field path and the
bad value::

    scenarios/x.yaml: workloads[1].load.path: file not found: traces/nope.csv

Conventions:

* **YAML keys are natural; attributes carry units.** ``timeout: 30s`` becomes
  ``timeout_s``, ``cpu: 500m`` becomes ``cpu_millicores`` and ``memory: 2Gi`` becomes
  ``memory_bytes``.
* **Durations and quantities** go through :mod:`capsim.units`.
* **Delays are distributions** (:mod:`capsim.scenario.distributions`).
* **Relative paths** (traces, HPA manifests) are resolved against the scenario file's
  folder.
* **Inline HPA specs** are camelCase, exactly as the ``spec`` of a manifest (without
  ``scaleTargetRef``).

Defaults follow ``REFERENCE.md`` (metrics-server 15 s, HPA sync 15 s, cluster
autoscaler scan 10 s and scale-down after 10 min, VM boot ~35 s, node ready ~60 s, …).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from capsim.data import resolve_scenario
from capsim.scenario.distributions import Distribution, LogNormal
from capsim.scenario.load import LoadSpec, WorkloadError, check_load
from capsim.scenario.manifests import HpaTemplate, ManifestError, check_metric_targets, load_hpas
from capsim.scenario.parsing import load_yaml, validation_message
from capsim.units import Bytes, Millicores, PositiveSeconds, Seconds

__all__ = [
    "BatchWorkload",
    "KubernetesPlatform",
    "NodePool",
    "PodTemplate",
    "Scenario",
    "ScenarioError",
    "ServiceWorkload",
    "VmPlatform",
    "load_scenario",
    "pod_template",
]


class ScenarioError(ValueError):
    """A scenario is invalid; the message names the file, the field path and the value."""


Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _reference_delay(median: str, p99: str) -> LogNormal:
    """A default delay (REFERENCE.md §2), validated like one written in YAML."""
    return LogNormal.model_validate({"distribution": "lognormal", "median": median, "p99": p99})


# --- workloads -------------------------------------------------------------------------


class Slo(_Model):
    """Service-level objective: p95 latency, and optionally a maximum error (drop) rate."""

    p95_latency_ms: float = Field(gt=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)


class ServiceWorkload(_Model):
    """A request-driven service: load, CPU per request, memory, concurrency, timeout, SLO."""

    kind: Literal["service"]
    name: Name
    load: LoadSpec
    cpu_ms_per_request: float = Field(gt=0)
    memory_mib: float = Field(default=256.0, ge=0)
    memory_mib_per_request: float = Field(default=0.0, ge=0)
    concurrency: int = Field(default=1, ge=1)
    idle_cpu_millicores: Millicores = Field(default=0, alias="idle_cpu")
    timeout_s: PositiveSeconds = Field(default=30.0, alias="timeout")
    slo: Slo | None = None


class BatchArrivals(_Model):
    """Job submissions: a Poisson rate per hour, explicit submit times, or a CSV file with
    a column of submit times in seconds from the start of the run."""

    poisson_per_hour: float | None = Field(default=None, gt=0)
    times_s: tuple[Seconds, ...] | None = Field(default=None, alias="times")
    path: Path | None = None
    column: str = "submit_s"

    @model_validator(mode="after")
    def _exactly_one(self) -> BatchArrivals:
        given = [self.poisson_per_hour, self.times_s, self.path]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of poisson_per_hour, times and path")
        if self.times_s is not None and list(self.times_s) != sorted(self.times_s):
            raise ValueError("times must be in increasing order")
        return self


class BatchWorkload(_Model):
    """A stream of jobs, each of ``workers`` tasks; ``gang`` jobs start all or nothing."""

    kind: Literal["batch"]
    name: Name
    arrivals: BatchArrivals
    workers: int = Field(default=1, ge=1)
    cpu_millicores: Millicores = Field(alias="cpu")
    memory_bytes: Bytes = Field(alias="memory")
    gpu: int = Field(default=0, ge=0)
    duration: Distribution
    gang: bool = False
    priority: int = 0


Workload = Annotated[ServiceWorkload | BatchWorkload, Field(discriminator="kind")]


# --- kubernetes ------------------------------------------------------------------------


class ReservedResources(_Model):
    cpu_millicores: Millicores = Field(default=0, alias="cpu")
    memory_bytes: Bytes = Field(default=0, alias="memory")


def gke_reserved(vcpu_millicores: int, memory_bytes: int) -> ReservedResources:
    """GKE's node reservation rule (REFERENCE.md §2).

    Memory: 25 % of the first 4 GiB, 20 % of the next 4, 10 % of the next 8, 6 % of the
    next 112, 2 % above, plus 100 MiB eviction threshold. CPU: 6 % of the first core, 1 %
    of the next, 0.5 % of the next 2, 0.25 % above 4 cores.
    """
    gib = 2**30
    memory = 0.0
    remaining = float(memory_bytes)
    for gib_size, share in ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06)):
        taken = min(remaining, float(gib_size * gib))
        memory += taken * share
        remaining -= taken
    memory += remaining * 0.02 + 100 * 2**20
    cores = vcpu_millicores / 1000
    cpu = 0.0
    for core_size, share in ((1.0, 0.06), (1.0, 0.01), (2.0, 0.005)):
        taken_cores = min(cores, core_size)
        cpu += taken_cores * share
        cores -= taken_cores
    cpu += cores * 0.0025
    # Quantity text, not bare numbers: a bare number of CPU would be read as cores.
    return ReservedResources.model_validate(
        {"cpu": f"{math.ceil(cpu * 1000)}m", "memory": math.ceil(memory)}
    )


class NodePool(_Model):
    """A pool of identical nodes the cluster autoscaler can grow and shrink."""

    name: Name
    instance: str = "node"
    vcpu_millicores: Millicores = Field(alias="vcpu")
    memory_bytes: Bytes = Field(alias="memory")
    gpu: int = Field(default=0, ge=0)
    price_per_hour: float = Field(ge=0)
    provision: Distribution = Field(default_factory=lambda: _reference_delay("60s", "120s"))
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int = Field(ge=1)
    reserved: Literal["gke"] | ReservedResources = "gke"

    @model_validator(mode="after")
    def _bounds(self) -> NodePool:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"min_nodes ({self.min_nodes}) > max_nodes ({self.max_nodes})")
        reserved = self.reservation
        if (
            reserved.cpu_millicores >= self.vcpu_millicores
            or reserved.memory_bytes >= self.memory_bytes
        ):
            raise ValueError("reserved resources leave nothing allocatable on this node")
        return self

    @functools.cached_property
    def reservation(self) -> ReservedResources:
        if self.reserved == "gke":
            return gke_reserved(self.vcpu_millicores, self.memory_bytes)
        return self.reserved

    @property
    def allocatable_cpu_millicores(self) -> int:
        return self.vcpu_millicores - self.reservation.cpu_millicores

    @property
    def allocatable_memory_bytes(self) -> int:
        return self.memory_bytes - self.reservation.memory_bytes


class ClusterAutoscaler(_Model):
    """Cluster autoscaler timings (kubernetes/autoscaler FAQ defaults)."""

    enabled: bool = True
    scan_interval_s: PositiveSeconds = Field(default=10.0, alias="scan_interval")
    scale_down_unneeded_s: Seconds = Field(default=600.0, alias="scale_down_unneeded")
    scale_down_delay_after_add_s: Seconds = Field(default=600.0, alias="scale_down_delay_after_add")
    max_node_provision_s: PositiveSeconds = Field(default=900.0, alias="max_node_provision")


class MetricsPipeline(_Model):
    """metrics-server and HPA controller settings (upstream defaults)."""

    metric_resolution_s: PositiveSeconds = Field(default=15.0, alias="metric_resolution")
    sync_period_s: PositiveSeconds = Field(default=15.0, alias="sync_period")
    cpu_initialization_period_s: Seconds = Field(default=300.0, alias="cpu_initialization_period")
    initial_readiness_delay_s: Seconds = Field(default=30.0, alias="initial_readiness_delay")
    tolerance: float = Field(default=0.1, ge=0)
    downscale_stabilization_s: Seconds = Field(default=300.0, alias="downscale_stabilization")


class PodTemplate(_Model):
    """Per-workload pod: requests/limits, image, and start-up delays."""

    cpu_request_millicores: Millicores = Field(alias="cpu_request")
    cpu_limit_millicores: Millicores | None = Field(default=None, alias="cpu_limit")
    memory_request_bytes: Bytes = Field(alias="memory_request")
    memory_limit_bytes: Bytes | None = Field(default=None, alias="memory_limit")
    gpu: int = Field(default=0, ge=0)
    image_size_bytes: Bytes = Field(default=0, alias="image_size")
    pull_bandwidth_bytes_per_s: Bytes = Field(default=50 * 2**20, alias="pull_bandwidth")
    container_start: Distribution = Field(default_factory=lambda: _reference_delay("2s", "5s"))
    readiness_delay: Distribution = Field(default_factory=lambda: _reference_delay("10s", "30s"))

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> PodTemplate:
        if self.cpu_limit_millicores is not None and (
            self.cpu_limit_millicores < self.cpu_request_millicores
        ):
            raise ValueError("cpu_limit must be >= cpu_request")
        if self.memory_limit_bytes is not None and (
            self.memory_limit_bytes < self.memory_request_bytes
        ):
            raise ValueError("memory_limit must be >= memory_request")
        if self.pull_bandwidth_bytes_per_s <= 0:
            raise ValueError("pull_bandwidth must be > 0")
        return self


class KubernetesWorkload(_Model):
    """How one workload runs on a Kubernetes platform: its pod, and (services) its scaling:
    an inline HPA spec, an HPA manifest path, or fixed replicas.

    A service needs ``pod``. For a batch workload it is optional: without it each worker
    is a pod requesting exactly the worker's cpu, memory and gpu, with default start-up
    delays (see :func:`pod_template`).
    """

    pod: PodTemplate | None = None
    hpa: HpaTemplate | None = None
    hpa_manifest: Path | None = None
    replicas: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_scaling_mode(self) -> KubernetesWorkload:
        given = [
            name for name in ("hpa", "hpa_manifest", "replicas") if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give only one of hpa, hpa_manifest and replicas, got {given}")
        if self.hpa is not None and self.hpa.min_replicas > self.hpa.max_replicas:
            raise ValueError(
                f"hpa.minReplicas ({self.hpa.min_replicas}) > hpa.maxReplicas "
                f"({self.hpa.max_replicas})"
            )
        return self


class KubernetesPlatform(_Model):
    kind: Literal["kubernetes"]
    node_pools: tuple[NodePool, ...] = Field(min_length=1)
    scheduler: Literal["least_allocated", "most_allocated"] = "least_allocated"
    cluster_autoscaler: ClusterAutoscaler = Field(default_factory=ClusterAutoscaler)
    metrics: MetricsPipeline = Field(default_factory=MetricsPipeline)
    workloads: dict[str, KubernetesWorkload]


def pod_template(
    workload: ServiceWorkload | BatchWorkload, config: KubernetesWorkload
) -> PodTemplate:
    """The pod a workload runs as; a batch worker without ``pod`` requests what it needs."""
    if config.pod is not None:
        return config.pod
    if not isinstance(workload, BatchWorkload):
        raise ValueError(f"service {workload.name} has no pod template")
    return PodTemplate.model_validate(
        {
            "cpu_request": f"{workload.cpu_millicores}m",
            "memory_request": workload.memory_bytes,
            "gpu": workload.gpu,
        }
    )


# --- VMs -------------------------------------------------------------------------------


class VmInstance(_Model):
    """A VM type: size, price, boot time, and what the guest OS and hypervisor take."""

    name: str = "vm"
    vcpu_millicores: Millicores = Field(alias="vcpu")
    memory_bytes: Bytes = Field(alias="memory")
    gpu: int = Field(default=0, ge=0)
    price_per_hour: float = Field(ge=0)
    boot: Distribution = Field(default_factory=lambda: _reference_delay("35s", "90s"))
    guest_os_cpu_millicores: Millicores = Field(default=100, alias="guest_os_cpu")
    guest_os_memory_bytes: Bytes = Field(default=512 * 2**20, alias="guest_os_memory")
    hypervisor_overhead_pct: float = Field(default=2.0, ge=0, lt=100)

    @model_validator(mode="after")
    def _room_for_the_app(self) -> VmInstance:
        if self.guest_os_cpu_millicores >= self.vcpu_millicores:
            raise ValueError("guest_os_cpu leaves no CPU for the application")
        if self.guest_os_memory_bytes >= self.memory_bytes:
            raise ValueError("guest_os_memory leaves no memory for the application")
        return self

    @property
    def app_cpu_millicores(self) -> float:
        """CPU left for the application: vCPUs less hypervisor overhead and guest OS."""
        usable = self.vcpu_millicores * (1 - self.hypervisor_overhead_pct / 100)
        return usable - self.guest_os_cpu_millicores


class VmAutoscaling(_Model):
    """Target tracking on average CPU (AWS-style alarms; :mod:`capsim.models.target_tracking`)."""

    metric: Literal["cpu"] = "cpu"
    target_pct: float = Field(gt=0, le=100)
    min_instances: int = Field(alias="min", ge=0)
    max_instances: int = Field(alias="max", ge=1)
    metric_period_s: PositiveSeconds = Field(default=60.0, alias="metric_period")
    scale_out_datapoints: int = Field(default=3, ge=1)
    scale_out_evaluation_periods: int = Field(default=3, ge=1)
    scale_in_datapoints: int = Field(default=15, ge=1)
    scale_in_evaluation_periods: int = Field(default=15, ge=1)
    warmup_s: Seconds = Field(default=300.0, alias="warmup")
    cooldown_s: Seconds = Field(default=300.0, alias="cooldown")

    @model_validator(mode="after")
    def _consistent(self) -> VmAutoscaling:
        if self.min_instances > self.max_instances:
            raise ValueError(f"min ({self.min_instances}) > max ({self.max_instances})")
        for direction in ("scale_out", "scale_in"):
            m = getattr(self, f"{direction}_datapoints")
            n = getattr(self, f"{direction}_evaluation_periods")
            if m > n:
                raise ValueError(
                    f"{direction}_datapoints ({m}) > {direction}_evaluation_periods ({n})"
                )
        return self


class VmWorkload(_Model):
    """How one workload runs on VMs.

    A service has ``autoscaling`` or fixed ``instances``, and ``per_vm`` app instances per
    VM. A batch workload gets one VM per worker, booted for its job; neither field
    applies. ``instance`` overrides the platform's VM type for this workload (to size
    batch workers' VMs, for example).
    """

    instance: VmInstance | None = None
    autoscaling: VmAutoscaling | None = None
    instances: int | None = Field(default=None, ge=0)
    per_vm: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _one_scaling_mode(self) -> VmWorkload:
        if self.autoscaling is not None and self.instances is not None:
            raise ValueError("give only one of autoscaling and instances")
        return self


class VmPlatform(_Model):
    kind: Literal["vm"]
    instance: VmInstance
    billing_minimum_s: Seconds = Field(default=60.0, alias="billing_minimum")
    workloads: dict[str, VmWorkload]

    def instance_for(self, workload: str) -> VmInstance:
        """The VM type ``workload`` runs on: its own override, else the platform's."""
        return self.workloads[workload].instance or self.instance


Platform = Annotated[KubernetesPlatform | VmPlatform, Field(discriminator="kind")]


# --- the scenario ----------------------------------------------------------------------


class Scenario(_Model):
    """A whole scenario: what load, on which platforms, for how long, with which seed."""

    name: Name
    description: str = ""
    seed: int = Field(default=0, ge=0)
    duration_s: PositiveSeconds = Field(alias="duration")
    tick_s: PositiveSeconds | None = Field(default=None, alias="tick")
    record_every_s: PositiveSeconds | None = Field(default=None, alias="record_every")
    workloads: tuple[Workload, ...] = Field(min_length=1)
    platforms: dict[Name, Platform] = Field(min_length=1)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        names = [w.name for w in self.workloads]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"workload names must be unique, repeated: {duplicates}")
        for platform_name, platform in self.platforms.items():
            unknown = sorted(set(platform.workloads) - set(names))
            if unknown:
                raise ValueError(
                    f"platforms.{platform_name}.workloads: unknown workload(s) "
                    f"{unknown} (defined: {names})"
                )
            missing = [n for n in names if n not in platform.workloads]
            if missing:
                raise ValueError(
                    f"platforms.{platform_name}.workloads: no configuration for "
                    f"workload(s) {missing}"
                )
        return self

    def workload(self, name: str) -> ServiceWorkload | BatchWorkload:
        for workload in self.workloads:
            if workload.name == name:
                return workload
        raise KeyError(name)


_UNION_TAGS = frozenset(
    {
        "service",
        "batch",
        "kubernetes",
        "vm",
        "constant",
        "lognormal",
        "exponential",
        "shifted_exponential",
        "uniform",
    }
)


def _check_modes(scenario: Scenario, where: str) -> None:
    """Each platform configures each workload in a way that fits its kind."""
    for platform_name, platform in scenario.platforms.items():
        for workload_name, config in platform.workloads.items():
            field = f"{where}: platforms.{platform_name}.workloads.{workload_name}"
            workload = scenario.workload(workload_name)
            problem = _mode_problem(workload, config)
            if problem:
                raise ScenarioError(f"{field}: {problem}")


def _mode_problem(
    workload: ServiceWorkload | BatchWorkload, config: KubernetesWorkload | VmWorkload
) -> str | None:
    batch = isinstance(workload, BatchWorkload)
    if isinstance(config, KubernetesWorkload):
        if not batch and config.pod is None:
            return "a service needs a pod (cpu_request, memory_request, …)"
        scaling = [n for n in ("hpa", "hpa_manifest", "replicas") if getattr(config, n) is not None]
        if batch and scaling:
            return f"{scaling[0]} does not apply to a batch workload (one pod per worker)"
        return None
    if batch:
        if config.autoscaling is not None or config.instances is not None or config.per_vm != 1:
            return (
                "autoscaling, instances and per_vm do not apply to a batch workload "
                "(one VM per worker)"
            )
        return None
    if config.autoscaling is None and config.instances is None:
        return "a service needs autoscaling or instances"
    return None


def _workers_per_node(cpu_m: int, memory_b: int, gpu: int, request: PodTemplate) -> int:
    """How many pods with ``request`` fit on an empty node of the given allocatable size."""
    counts = [cpu_m // max(request.cpu_request_millicores, 1)]
    if request.memory_request_bytes:
        counts.append(memory_b // request.memory_request_bytes)
    if request.gpu:
        counts.append(gpu // request.gpu)
    return min(counts)


def _check_fits(scenario: Scenario, where: str) -> None:
    """Every pod fits on some node pool, and every gang job on the pools at their maximum
    size; every batch worker fits its VM (else it would wait forever)."""
    for platform_name, platform in scenario.platforms.items():
        for workload_name, config in platform.workloads.items():
            workload = scenario.workload(workload_name)
            field = f"{where}: platforms.{platform_name}.workloads.{workload_name}"
            if isinstance(platform, VmPlatform):
                if isinstance(workload, BatchWorkload):
                    _check_worker_fits_vm(workload, platform.instance_for(workload_name), field)
                continue
            assert isinstance(config, KubernetesWorkload)
            pod = pod_template(workload, config)
            room = [
                _workers_per_node(
                    p.allocatable_cpu_millicores, p.allocatable_memory_bytes, p.gpu, pod
                )
                for p in platform.node_pools
            ]
            if not any(room):
                raise ScenarioError(
                    f"{field}.pod: requests fit on no node pool (allocatable per node: "
                    + ", ".join(
                        f"{p.name}: {p.allocatable_cpu_millicores}m cpu, "
                        f"{p.allocatable_memory_bytes} bytes, {p.gpu} gpu"
                        for p in platform.node_pools
                    )
                    + ")"
                )
            most = sum(r * p.max_nodes for r, p in zip(room, platform.node_pools, strict=True))
            if isinstance(workload, BatchWorkload) and workload.gang and workload.workers > most:
                raise ScenarioError(
                    f"{field}: a gang job of {workload.workers} workers can never start: "
                    f"the node pools hold at most {most} of its pods at max_nodes"
                )


def _check_worker_fits_vm(workload: BatchWorkload, instance: VmInstance, field: str) -> None:
    app_memory = instance.memory_bytes - instance.guest_os_memory_bytes
    if (
        workload.cpu_millicores > instance.app_cpu_millicores
        or workload.memory_bytes > app_memory
        or workload.gpu > instance.gpu
    ):
        raise ScenarioError(
            f"{field}: a worker ({workload.cpu_millicores}m cpu, {workload.memory_bytes} "
            f"bytes, {workload.gpu} gpu) does not fit the VM {instance.name} "
            f"({instance.app_cpu_millicores:g}m cpu, {app_memory} bytes, {instance.gpu} gpu "
            "left for the application); give the workload an instance that fits"
        )


def _check_hpa_manifests(scenario: Scenario, where: str) -> None:
    for platform_name, platform in scenario.platforms.items():
        if not isinstance(platform, KubernetesPlatform):
            continue
        for workload_name, config in platform.workloads.items():
            field = f"platforms.{platform_name}.workloads.{workload_name}"
            if config.hpa is not None:
                try:
                    check_metric_targets(config.hpa, where, prefix=f"{field}.hpa")
                    config.hpa.parsed_behavior  # noqa: B018 - validate once at the edge
                except ManifestError as exc:
                    raise ScenarioError(str(exc)) from None
                except ValueError as exc:
                    raise ScenarioError(f"{where}: {field}.hpa.behavior.{exc}") from None
            if config.hpa_manifest is not None:
                path = scenario.base_dir / config.hpa_manifest
                if not path.is_file():
                    raise ScenarioError(
                        f"{where}: {field}.hpa_manifest: file not found: {config.hpa_manifest}"
                    )
                try:
                    load_hpas(path)
                except ManifestError as exc:
                    raise ScenarioError(f"{where}: {field}.hpa_manifest: {exc}") from None


def _check_loads(scenario: Scenario, where: str) -> None:
    for index, workload in enumerate(scenario.workloads):
        if isinstance(workload, BatchWorkload) and workload.arrivals.path is not None:
            from capsim.scenario.jobs import read_submit_times

            try:
                read_submit_times(workload.arrivals, scenario.base_dir)
            except ValueError as exc:
                raise ScenarioError(f"{where}: workloads[{index}].arrivals.{exc}") from None
        if isinstance(workload, ServiceWorkload):
            field = f"workloads[{index}].load"
            try:
                check_load(workload.load, base_dir=scenario.base_dir, where=field)
            except WorkloadError as exc:
                message = str(exc)
                if not message.startswith(field):
                    message = f"{field}: {message}"
                raise ScenarioError(f"{where}: {message}") from None


def parse_scenario(data: Any, *, where: str, base_dir: Path) -> Scenario:
    """Validate a scenario mapping (as loaded from YAML); errors name ``where``."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping at the top level, got {data!r}")
    try:
        scenario = Scenario.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(validation_message(where, exc, data, _UNION_TAGS)) from None
    _check_loads(scenario, where)
    _check_modes(scenario, where)
    _check_hpa_manifests(scenario, where)
    _check_fits(scenario, where)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file, or the bundled scenario of that name
    (``web-diurnal``; a file of that name wins). Raises :class:`ScenarioError`."""
    path = resolve_scenario(path)
    data = load_yaml(path, ScenarioError)
    return parse_scenario(data, where=str(path), base_dir=path.parent)
