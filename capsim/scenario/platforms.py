"""Platforms: Kubernetes (node pools, pods, the metrics pipeline, HPAs, the cluster
autoscaler) and VM autoscaling groups (instances, target tracking).

Sizes are bounded as :mod:`capsim.scenario.limits` lists: at most 5,000 nodes per platform
(``max_nodes`` summed over its pools; a VM group's ``max`` and ``instances``), 100 node pools,
150,000 replicas per workload, 1,024 GPUs per node, pod or VM, prices up to 1e6 per hour;
CPU and memory of nodes, VMs and ``cpu_request`` are more than 0."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from capsim.models.expanders import EXPANDERS, ExpanderName
from capsim.models.placement import NodeShape, PodPlacement, eligible_pools, preference_rank
from capsim.scenario.base import FrozenModel, Name, reference_delay
from capsim.scenario.distributions import Distribution
from capsim.scenario.fields import (
    Bytes,
    Float,
    Int,
    Millicores,
    PositiveBytes,
    PositiveMillicores,
    PositiveSeconds,
    RelativePath,
    Seconds,
)
from capsim.scenario.keda import (
    ScaledObjectSpec,
    keda_hpa,
    load_scaled_objects,
    trigger_rules,
)
from capsim.scenario.limits import (
    MAX_GPU,
    MAX_NODE_POOLS,
    MAX_NODES,
    MAX_PER_VM,
    MAX_PRICE_PER_HOUR,
    MAX_QUEUE_LIMIT,
    MAX_REPLICAS,
)
from capsim.scenario.manifests import HpaTemplate, load_hpas
from capsim.scenario.placement import (
    Affinity,
    LabelKey,
    LabelValue,
    TaintSpec,
    TolerationSpec,
    node_shape,
    pod_placement,
)
from capsim.scenario.workloads import BatchWorkload, ServiceWorkload

__all__ = [
    "ClusterAutoscaler",
    "Interceptor",
    "KubernetesPlatform",
    "KubernetesWorkload",
    "MetricsPipeline",
    "NodePool",
    "Platform",
    "PodContainer",
    "PodTemplate",
    "ReservedResources",
    "VmAutoscaling",
    "VmInstance",
    "VmPlatform",
    "VmWorkload",
    "gke_reserved",
    "hpa_template",
    "keda_spec",
    "pod_template",
]


class ReservedResources(FrozenModel):
    cpu_millicores: Millicores = Field(default=0, alias="cpu")
    memory_bytes: Bytes = Field(default=0, alias="memory")


def gke_reserved(vcpu_millicores: int, memory_bytes: int) -> ReservedResources:
    """GKE's node reservation rule (GKE documentation, *Node allocatable resources*).

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


class NodePool(FrozenModel):
    """A pool of identical nodes the cluster autoscaler can grow and shrink."""

    name: Name
    instance: str = "node"
    vcpu_millicores: PositiveMillicores = Field(alias="vcpu")
    memory_bytes: PositiveBytes = Field(alias="memory")
    gpu: Int = Field(default=0, ge=0, le=MAX_GPU)
    gpu_memory_bytes: PositiveBytes | None = Field(default=None, alias="gpu_memory")
    """Memory of each GPU (``24Gi`` for an L4): with a GPU service's memory per request it
    bounds the requests a replica serves at once."""
    price_per_hour: Float = Field(ge=0, le=MAX_PRICE_PER_HOUR)
    spot_price_per_hour: Float | None = Field(default=None, ge=0, le=MAX_PRICE_PER_HOUR)
    """The spot (preemptible) price, USD per hour: the summary then gives the bill had
    every machine-hour been at it (preemptions are not modelled)."""
    committed_price_per_hour: Float | None = Field(default=None, ge=0, le=MAX_PRICE_PER_HOUR)
    """The committed-use price, USD per hour: the summary then gives the bill with the
    platform's floor (the machines it held at least 95 % of the time) committed and the
    rest at ``price_per_hour``."""
    provision: Distribution = Field(default_factory=lambda: reference_delay("60s", "120s"))
    min_nodes: Int = Field(default=0, ge=0, le=MAX_NODES)
    max_nodes: Int = Field(ge=1, le=MAX_NODES)
    reserved: Literal["gke"] | ReservedResources = "gke"
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)
    """Labels every node of the pool carries (with
    ``node.kubernetes.io/instance-type: <instance>``), for pods' ``node_selector`` and
    ``affinity``."""
    taints: tuple[TaintSpec, ...] | None = Field(default=None, max_length=64)
    """Taints every node of the pool carries. Default: ``nvidia.com/gpu=present:NoSchedule``
    on a pool with GPUs (as GKE taints GPU pools; pods that request GPUs tolerate it),
    none otherwise; ``[]``: none."""

    @functools.cached_property
    def shape(self) -> NodeShape:
        """The pool's nodes as placement sees them (labels and taints, defaults filled in)."""
        return node_shape(self.name, self.instance, self.gpu, dict(self.labels), self.taints)

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


class ClusterAutoscaler(FrozenModel):
    """Cluster autoscaler timings (kubernetes/autoscaler FAQ defaults)."""

    enabled: bool = True
    scan_interval_s: PositiveSeconds = Field(default=10.0, alias="scan_interval")
    scale_down_unneeded_s: Seconds = Field(default=600.0, alias="scale_down_unneeded")
    scale_down_delay_after_add_s: Seconds = Field(default=600.0, alias="scale_down_delay_after_add")
    max_node_provision_s: PositiveSeconds = Field(default=900.0, alias="max_node_provision")
    expander: str = Field(default="least-waste", max_length=200)
    """Which pool grows when pending pods could go to several: ``least-waste`` (the
    upstream default since 1.33), ``price``, ``most-pods``, ``least-nodes`` or
    ``random``, or a comma-separated chain (``price,least-waste``) applied in turn, ties
    left after it drawn at random (:mod:`capsim.models.expanders`)."""

    @model_validator(mode="after")
    def _expander(self) -> ClusterAutoscaler:
        names = [n.strip() for n in self.expander.split(",")]
        for name in names:
            if name not in EXPANDERS:
                raise ValueError(
                    f"expander: {name!r} is not one of {', '.join(EXPANDERS)}, got "
                    f"{self.expander!r}"
                )
        if len(set(names)) != len(names):
            raise ValueError(f"expander: a name is given twice, got {self.expander!r}")
        if "random" in names[:-1]:
            raise ValueError(f"expander: random must come last, got {self.expander!r}")
        return self

    @property
    def expander_chain(self) -> tuple[ExpanderName, ...]:
        """The expanders in order."""
        return tuple(n for name in self.expander.split(",") for n in EXPANDERS if n == name.strip())


class MetricsPipeline(FrozenModel):
    """metrics-server and HPA controller settings (upstream defaults)."""

    metric_resolution_s: PositiveSeconds = Field(default=15.0, alias="metric_resolution")
    sync_period_s: PositiveSeconds = Field(default=15.0, alias="sync_period")
    cpu_initialization_period_s: Seconds = Field(default=300.0, alias="cpu_initialization_period")
    initial_readiness_delay_s: Seconds = Field(default=30.0, alias="initial_readiness_delay")
    tolerance: Float = Field(default=0.1, ge=0)
    downscale_stabilization_s: Seconds = Field(default=300.0, alias="downscale_stabilization")


class PodContainer(FrozenModel):
    """One container of a pod, named for ``ContainerResource`` HPA metrics.

    The model computes one usage per pod; the *first* container listed (the app) uses all
    of it, the others (sidecars) none. A request left out means the container sets none.
    """

    name: Name
    cpu_request_millicores: Millicores | None = Field(default=None, alias="cpu_request")
    memory_request_bytes: Bytes | None = Field(default=None, alias="memory_request")


class PodTemplate(FrozenModel):
    """Per-workload pod: requests/limits, image, and start-up delays. ``containers``
    (optional) names the pod's containers for ``ContainerResource`` metrics; without it the
    pod is one container, whatever its name (see :class:`PodContainer`)."""

    cpu_request_millicores: PositiveMillicores = Field(alias="cpu_request")
    cpu_limit_millicores: PositiveMillicores | None = Field(default=None, alias="cpu_limit")
    memory_request_bytes: Bytes = Field(alias="memory_request")
    memory_limit_bytes: Bytes | None = Field(default=None, alias="memory_limit")
    gpu: Int = Field(default=0, ge=0, le=MAX_GPU)
    image_size_bytes: Bytes = Field(default=0, alias="image_size")
    pull_bandwidth_bytes_per_s: PositiveBytes = Field(default=50 * 2**20, alias="pull_bandwidth")
    container_start: Distribution = Field(default_factory=lambda: reference_delay("2s", "5s"))
    readiness_delay: Distribution = Field(default_factory=lambda: reference_delay("10s", "30s"))
    containers: tuple[PodContainer, ...] = ()
    tolerations: tuple[TolerationSpec, ...] = Field(default=(), max_length=64)
    """Taints the pod tolerates (as in a Pod's ``spec.tolerations``); a pod that requests
    GPUs also tolerates ``nvidia.com/gpu`` (NoSchedule) without saying so."""
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)
    """Node labels the pod requires (``nodeSelector``): every one must be on the node."""
    affinity: Affinity | None = None
    """Required node affinity (``nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution``
    with ``nodeSelectorTerms``): the node must match one term."""

    @functools.cached_property
    def placement(self) -> PodPlacement:
        """The pod as placement sees it."""
        return pod_placement(self.gpu, self.tolerations, dict(self.node_selector), self.affinity)

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> PodTemplate:
        names = [c.name for c in self.containers]
        if len(set(names)) != len(names):
            raise ValueError(f"containers: names must be unique, got {names}")
        if self.cpu_limit_millicores is not None and (
            self.cpu_limit_millicores < self.cpu_request_millicores
        ):
            raise ValueError("cpu_limit must be >= cpu_request")
        if self.memory_limit_bytes is not None and (
            self.memory_limit_bytes < self.memory_request_bytes
        ):
            raise ValueError("memory_limit must be >= memory_request")
        return self


Routing = Literal["random", "round_robin", "least_request", "join_shortest_queue", "pooled"]
"""How requests are spread over a service's ready replicas (:mod:`capsim.models.service`):
``random`` is a plain Kubernetes Service (kube-proxy in iptables or nftables mode picks an
endpoint at random per connection), the default on Kubernetes; ``round_robin`` is IPVS
``rr``, most ingress controllers and cloud load balancers (the AWS ALB default), the
default on VMs; ``least_request`` is Envoy's (and so Istio's) ``LEAST_REQUEST``: the less
busy of two replicas drawn at random; ``join_shortest_queue`` picks the least busy of all
(nginx ``least_conn``, IPVS ``lc``); ``pooled`` is one queue in front of every replica,
the ideal bound."""


class Interceptor(FrozenModel):
    """An interceptor in front of a service: how long a request may wait for a ready
    replica (``timeout``; default and at most the service's client timeout) and how many
    it holds at once (``max_pending``, as the KEDA HTTP add-on's
    ``coldStart.maxPendingRequests``; default no limit)."""

    timeout_s: PositiveSeconds | None = Field(default=None, alias="timeout")
    max_pending: Int | None = Field(default=None, ge=1, le=MAX_QUEUE_LIMIT)


class MetricOutage(FrozenModel):
    """A time the metrics source behind Object and External metrics and KEDA's scalers
    (Prometheus, a queue's API) is unreachable: from ``start`` to ``end`` (simulated
    time). metrics-server (cpu, memory) is not affected."""

    start_s: Seconds = Field(alias="start", ge=0)
    end_s: Seconds = Field(alias="end", ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> MetricOutage:
        if self.end_s <= self.start_s:
            raise ValueError(f"end: after start ({self.start_s:g} s), got {self.end_s:g} s")
        return self

    def covers(self, now: float) -> bool:
        """Whether ``now`` is within ``[start, end)``."""
        return self.start_s <= now < self.end_s


class KubernetesWorkload(FrozenModel):
    """How one workload runs on a Kubernetes platform: its pod, and (services) its scaling:
    an inline HPA spec, an HPA manifest path, or fixed replicas.

    A service needs ``pod``. For a batch workload it is optional: without it each worker
    is a pod requesting exactly the worker's cpu, memory and gpu, with default start-up
    delays (see :func:`pod_template`).
    """

    pod: PodTemplate | None = None
    hpa: HpaTemplate | None = None
    hpa_manifest: RelativePath | None = None
    keda: ScaledObjectSpec | None = None
    """A KEDA ScaledObject's ``spec`` (camelCase as in the manifest): KEDA's operator
    scales to and from zero, the HPA it creates in between (:mod:`capsim.scenario.keda`)."""
    keda_manifest: RelativePath | None = None
    """A file holding a ``keda.sh/v1alpha1`` ScaledObject (the one whose
    ``scaleTargetRef`` names the workload, else the first)."""
    metric_outages: tuple[MetricOutage, ...] = Field(default=(), max_length=1000)
    """Times the metrics source of Object/External metrics and KEDA's triggers is
    unreachable: those metrics fail (the HPA does not scale down on a failed metric;
    KEDA neither activates on it nor scales to zero, and applies its ``fallback``)."""
    interceptor: Interceptor | None = None
    """Hold the requests sent while no replica is ready until one is (scale from zero:
    the KEDA HTTP add-on's interceptor, Knative's activator) instead of refusing them
    (:mod:`capsim.engine.interceptor`); for services simulated request by request."""
    keda_metrics: dict[str, str] = Field(default_factory=dict, max_length=64)
    """What each KEDA trigger measures among the simulated metrics (``queue_length``,
    ``requests_in_flight``, ``requests_per_second``, ``arrival_rate``), by the trigger's
    ``name`` or index: needed for a ``prometheus`` trigger (its query is not run); queue
    triggers measure ``queue_length`` unless given."""
    replicas: Int | None = Field(default=None, ge=0, le=MAX_REPLICAS)
    routing: Routing = "random"

    @property
    def autoscaled(self) -> bool:
        """Whether an HPA (inline, in a file, or created by KEDA) scales the workload."""
        return any(
            getattr(self, name) is not None
            for name in ("hpa", "hpa_manifest", "keda", "keda_manifest")
        )

    @model_validator(mode="after")
    def _one_scaling_mode(self) -> KubernetesWorkload:
        modes = ("hpa", "hpa_manifest", "keda", "keda_manifest", "replicas")
        given = [name for name in modes if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(
                f"give only one of hpa, hpa_manifest, keda, keda_manifest and replicas, got {given}"
            )
        if self.hpa is not None and self.hpa.min_replicas > self.hpa.max_replicas:
            raise ValueError(
                f"hpa.minReplicas ({self.hpa.min_replicas}) > hpa.maxReplicas "
                f"({self.hpa.max_replicas})"
            )
        return self


class KubernetesPlatform(FrozenModel):
    kind: Literal["kubernetes"]
    control_plane_per_hour: Float = Field(default=0.0, ge=0, le=1000)
    """The managed control plane's fee, USD per hour (GKE and EKS charge $0.10 per cluster
    and hour; 0, the default: not counted), added to the platform's cost."""
    load_balancer_per_hour: Float = Field(default=0.0, ge=0, le=1000)
    """The load balancer in front of the services, USD per hour (0, the default: not
    counted), added to the platform's cost."""
    node_pools: tuple[NodePool, ...] = Field(min_length=1, max_length=MAX_NODE_POOLS)
    scheduler: Literal["least_allocated", "most_allocated"] = "least_allocated"
    cluster_autoscaler: ClusterAutoscaler = Field(default_factory=ClusterAutoscaler)
    metrics: MetricsPipeline = Field(default_factory=MetricsPipeline)
    workloads: dict[str, KubernetesWorkload]

    @model_validator(mode="after")
    def _pools(self) -> KubernetesPlatform:
        names = [pool.name for pool in self.node_pools]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(
                    f"node_pools[{index}].name: node pool names must be unique, "
                    f"{name!r} repeats node_pools[{names.index(name)}]"
                )
        nodes = sum(pool.max_nodes for pool in self.node_pools)
        if nodes > MAX_NODES:
            raise ValueError(
                f"node_pools: max_nodes add up to {nodes:,} nodes, more than the limit of "
                f"{MAX_NODES:,} per platform (Kubernetes' documented nodes per cluster)"
            )
        return self

    def gpu_memory_mib_for(self, pod: PodTemplate) -> float | None:
        """MiB of memory per GPU on the pools the pod may land on: the least of them
        (conservative), None when one of them does not say."""
        allowed, _ = self.pools_for(pod)
        sizes = [p.gpu_memory_bytes for p in self.node_pools if p.name in allowed]
        if not sizes or any(size is None for size in sizes):
            return None
        return min(size for size in sizes if size is not None) / 2**20

    def pools_for(self, pod: PodTemplate) -> tuple[frozenset[str], frozenset[str]]:
        """``(pools the pod may land on, those among them it would rather avoid)``:
        :func:`capsim.models.placement.eligible_pools` and ``preference_rank``."""
        shapes = [pool.shape for pool in self.node_pools]
        allowed = eligible_pools(pod.placement, shapes)
        avoid = frozenset(
            s.name for s in shapes if s.name in allowed and preference_rank(pod.placement, s)
        )
        return allowed, avoid


def keda_spec(config: KubernetesWorkload, base_dir: Path, name: str) -> ScaledObjectSpec | None:
    """The KEDA ScaledObject spec of workload ``name``: inline, or the one in its manifest
    file that scales it (else the file's first); None without KEDA."""
    if config.keda is not None:
        return config.keda
    if config.keda_manifest is None:
        return None
    found = load_scaled_objects(base_dir / config.keda_manifest)
    matching = [s for s in found if s.scale_target_ref and s.scale_target_ref.name == name]
    return (matching or found)[0]


def hpa_template(config: KubernetesWorkload, base_dir: Path, name: str) -> HpaTemplate:
    """The HPA spec of workload ``name`` on a platform: inline, the one in its manifest
    file that scales it (else the file's first), or the one KEDA creates for its
    ScaledObject. The workload must have one."""
    if config.hpa is not None:
        return config.hpa
    keda = keda_spec(config, base_dir, name)
    if keda is not None:
        return keda_hpa(keda, trigger_rules(keda, dict(config.keda_metrics)))
    assert config.hpa_manifest is not None
    found = load_hpas(base_dir / config.hpa_manifest)
    matching = [h for h in found if h.spec.scale_target_ref.name == name] or found
    return matching[0].spec


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


class VmInstance(FrozenModel):
    """A VM type: size, price, boot time, and what the guest OS and hypervisor take."""

    name: str = "vm"
    vcpu_millicores: PositiveMillicores = Field(alias="vcpu")
    memory_bytes: PositiveBytes = Field(alias="memory")
    gpu: Int = Field(default=0, ge=0, le=MAX_GPU)
    gpu_memory_bytes: PositiveBytes | None = Field(default=None, alias="gpu_memory")
    """Memory of each GPU (``24Gi`` for an L4): with a GPU service's memory per request it
    bounds the requests a replica serves at once."""
    price_per_hour: Float = Field(ge=0, le=MAX_PRICE_PER_HOUR)
    spot_price_per_hour: Float | None = Field(default=None, ge=0, le=MAX_PRICE_PER_HOUR)
    """The spot (preemptible) price, USD per hour: the summary then gives the bill had
    every machine-hour been at it (preemptions are not modelled)."""
    committed_price_per_hour: Float | None = Field(default=None, ge=0, le=MAX_PRICE_PER_HOUR)
    """The committed-use price, USD per hour: the summary then gives the bill with the
    platform's floor (the machines it held at least 95 % of the time) committed and the
    rest at ``price_per_hour``."""
    boot: Distribution = Field(default_factory=lambda: reference_delay("35s", "90s"))
    guest_os_cpu_millicores: Millicores = Field(default=100, alias="guest_os_cpu")
    guest_os_memory_bytes: Bytes = Field(default=512 * 2**20, alias="guest_os_memory")
    hypervisor_overhead_pct: Float = Field(default=2.0, ge=0, lt=100)

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


_MAX_PERIODS = 10_000  # alarm periods evaluated (CloudWatch allows far fewer)


class VmAutoscaling(FrozenModel):
    """Target tracking on average CPU (AWS-style alarms; :mod:`capsim.models.target_tracking`)."""

    metric: Literal["cpu"] = "cpu"
    target_pct: Float = Field(gt=0, le=100)
    min_instances: Int = Field(alias="min", ge=0, le=MAX_NODES)
    max_instances: Int = Field(alias="max", ge=1, le=MAX_NODES)
    metric_period_s: PositiveSeconds = Field(default=60.0, alias="metric_period")
    scale_out_datapoints: Int = Field(default=3, ge=1, le=_MAX_PERIODS)
    scale_out_evaluation_periods: Int = Field(default=3, ge=1, le=_MAX_PERIODS)
    scale_in_datapoints: Int = Field(default=15, ge=1, le=_MAX_PERIODS)
    scale_in_evaluation_periods: Int = Field(default=15, ge=1, le=_MAX_PERIODS)
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


class VmWorkload(FrozenModel):
    """How one workload runs on VMs.

    A service has ``autoscaling`` or fixed ``instances``, and ``per_vm`` app instances per
    VM. A batch workload gets one VM per worker, booted for its job; neither field
    applies. ``instance`` overrides the platform's VM type for this workload (to size
    batch workers' VMs, for example).
    """

    instance: VmInstance | None = None
    autoscaling: VmAutoscaling | None = None
    instances: Int | None = Field(default=None, ge=0, le=MAX_NODES)
    per_vm: Int = Field(default=1, ge=1, le=MAX_PER_VM)
    routing: Routing = "round_robin"

    @model_validator(mode="after")
    def _one_scaling_mode(self) -> VmWorkload:
        if self.autoscaling is not None and self.instances is not None:
            raise ValueError("give only one of autoscaling and instances")
        return self


class VmPlatform(FrozenModel):
    """VMs: autoscaling groups for services, a VM per batch worker.

    ``max_batch_vms``: the most VMs the batch workers may hold at once (a quota, such as
    a region's GPU quota); a job waits, in the order Kubernetes would queue it, until all
    its workers fit under it. Without it batch jobs never wait for VMs, which a cluster
    with a node cap cannot match: set it to compare the two fairly.
    """

    kind: Literal["vm"]
    instance: VmInstance
    billing_minimum_s: Seconds = Field(default=60.0, alias="billing_minimum")
    max_batch_vms: Int | None = Field(default=None, ge=1, le=MAX_NODES)
    load_balancer_per_hour: Float = Field(default=0.0, ge=0, le=1000)
    """The load balancer in front of the services, USD per hour (0, the default: not
    counted), added to the platform's cost."""
    workloads: dict[str, VmWorkload]

    def instance_for(self, workload: str) -> VmInstance:
        """The VM type ``workload`` runs on: its own override, else the platform's."""
        return self.workloads[workload].instance or self.instance


Platform = Annotated[KubernetesPlatform | VmPlatform, Field(discriminator="kind")]
