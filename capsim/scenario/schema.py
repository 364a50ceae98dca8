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

Sizes are bounded before anything is allocated (:mod:`capsim.scenario.limits` lists every
limit: ticks × services × platforms, recorded rows, workloads, nodes, replicas, trace files,
nesting depth, magnitudes); a scenario beyond one is refused in one line naming the field,
the size and the limit. Numbers are never booleans, never infinite or NaN; workload and
node pool names are unique.

Defaults are upstream's (metrics-server 15 s, HPA sync 15 s, cluster autoscaler scan
10 s and scale-down after 10 min) or measured typical values (VM boot ~35 s, node ready
~60 s, …); ``docs/scenario-reference.md`` lists every field's default
(:mod:`capsim.scenario.reference` generates it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from capsim.data import bundled_scenarios, resolve_scenario
from capsim.models.placement import BLOCKING, untolerated
from capsim.scenario.base import FrozenModel, Name, ScenarioError
from capsim.scenario.fields import Int, PositiveSeconds
from capsim.scenario.grid import check_batch_sizes, run_grid
from capsim.scenario.jobs import read_submit_times
from capsim.scenario.keda import keda_hpa, trigger_rules
from capsim.scenario.limits import MAX_PLATFORMS, MAX_REPLICAS, MAX_WORKLOADS, nesting_problem
from capsim.scenario.llm import token_means
from capsim.scenario.load import WorkloadError, check_load
from capsim.scenario.manifests import (
    ACCELERATOR_POD_METRICS,
    ManifestError,
    check_metric_targets,
    load_hpas,
)
from capsim.scenario.parsing import load_yaml, validation_messages
from capsim.scenario.platforms import (
    KubernetesPlatform,
    KubernetesWorkload,
    Platform,
    PodTemplate,
    VmInstance,
    VmPlatform,
    VmWorkload,
    hpa_template,
    keda_spec,
    pod_template,
)
from capsim.scenario.suggest import unknown_field_hint
from capsim.scenario.work_samples import with_work_samples
from capsim.scenario.workloads import (
    MAX_MODELLED_CV,
    MAX_SERVICE_TIME_CV,
    BatchWorkload,
    ServiceWorkload,
    Workload,
)
from capsim.units import format_memory_bytes

__all__ = ["Scenario", "load_scenario", "parse_scenario", "scenario_file"]


class Scenario(FrozenModel):
    """A whole scenario: what load, on which platforms, for how long, with which seed."""

    name: Name
    description: str = ""
    seed: Int = Field(default=0, ge=0)
    duration_s: PositiveSeconds = Field(alias="duration")
    tick_s: PositiveSeconds | None = Field(default=None, alias="tick")
    record_every_s: PositiveSeconds | None = Field(default=None, alias="record_every")
    service_model: Literal["expected", "exact"] = "expected"
    """How services' requests are modelled (README, *The service model*): ``expected``
    (the default) computes each tick's expected latency, drops and abandonment in closed
    form; ``exact`` simulates every request (arrival instants, work, routing, queue,
    timeout) with the seed's random streams and reports the sampled latency with 95 %
    confidence intervals."""
    workloads: tuple[Workload, ...] = Field(min_length=1, max_length=MAX_WORKLOADS)
    platforms: dict[Name, Platform] = Field(min_length=1, max_length=MAX_PLATFORMS)
    base_dir: Path = Field(default=Path("."), exclude=True)
    _source: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        """Where the scenario was read from (its file, or what :func:`parse_scenario` was
        told), for messages about it found later, when its load is built; ``""`` when
        built directly."""
        return self._source

    @model_validator(mode="before")
    @classmethod
    def _exact_for_llm(cls, data: Any) -> Any:
        """A scenario with an LLM service runs requests one by one unless it says
        otherwise (and then :meth:`_modelled_services` refuses it)."""
        if isinstance(data, dict) and "service_model" not in data:
            workloads = data.get("workloads")
            if isinstance(workloads, list | tuple) and any(
                isinstance(w, dict) and w.get("llm") is not None for w in workloads
            ):
                return {**data, "service_model": "exact"}
        return data

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        names = [w.name for w in self.workloads]
        first: dict[str, int] = {}
        for index, name in enumerate(names):
            if name in first:
                raise ValueError(
                    f"workloads[{index}].name: workload names must be unique, {name!r} "
                    f"repeats workloads[{first[name]}]"
                )
            first[name] = index
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

    @model_validator(mode="after")
    def _modelled_services(self) -> Scenario:
        for index, w in enumerate(self.workloads):
            if not isinstance(w, ServiceWorkload):
                continue
            cv = w.service_time.cv
            if self.service_model == "expected" and cv is not None and cv > MAX_MODELLED_CV:
                raise ValueError(
                    f"workloads[{index}].service_time.cv: work more variable than exponential "
                    f"(cv above {MAX_MODELLED_CV:g}) is not modelled by the expected service "
                    f"model (its waits have heavier tails than the model's and its p99 would be "
                    f"too low); set service_model: exact to simulate every request, got {cv:g}"
                )
            if w.llm is not None and self.service_model != "exact":
                raise ValueError(
                    f"workloads[{index}].llm: an LLM service is simulated request by request; "
                    "set service_model: exact (the default when a service has llm)"
                )
            if self.service_model == "exact" and w.retries.max_retries:
                raise ValueError(
                    f"workloads[{index}].retries: client retries are modelled by the expected "
                    f"service model only, not by service_model: exact (yet), got max "
                    f"{w.retries.max_retries}"
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


def _listing(where: str, error: ValidationError, data: Any) -> str:
    """Every problem pydantic found, one per line: the first on the first line (with how
    many follow), the others under it indented by two spaces, each naming ``where``."""
    lines = validation_messages(
        where, error, data, _UNION_TAGS, lambda loc: unknown_field_hint(Scenario, loc, data)
    )
    if len(lines) == 1:
        return lines[0]
    more = len(lines) - 1
    head = f"{lines[0]} (and {more} more problem{'s' if more > 1 else ''}:)"
    return "\n".join([head, *(f"  {line}" for line in lines[1:])])


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


def _check_interceptors(scenario: Scenario, where: str) -> None:
    """An interceptor holds requests of a service simulated request by request, for at
    most the client's timeout."""
    for platform_name, platform in scenario.platforms.items():
        if not isinstance(platform, KubernetesPlatform):
            continue
        for workload_name, config in platform.workloads.items():
            if config.interceptor is None:
                continue
            field = f"{where}: platforms.{platform_name}.workloads.{workload_name}.interceptor"
            workload = scenario.workload(workload_name)
            if not isinstance(workload, ServiceWorkload):
                raise ScenarioError(f"{field}: only a service has requests to hold")
            if scenario.service_model != "exact":
                raise ScenarioError(
                    f"{field}: held requests are simulated one by one: set service_model: "
                    "exact (LLM services always are)"
                )
            timeout = config.interceptor.timeout_s
            if timeout is not None and timeout > workload.timeout_s:
                raise ScenarioError(
                    f"{field}.timeout: at most the client's timeout ({workload.timeout_s:g} s): "
                    f"the client has gone by then, got {timeout:g} s"
                )


def _check_gpu_services(scenario: Scenario, where: str) -> None:
    """A service whose work runs on GPUs (``gpu_ms_per_request`` or ``llm``) has whole
    GPUs on every platform (a pod's ``gpu``; a VM's GPUs for each app instance), and its
    weights fit in them where the GPUs' memory is stated."""
    for platform_name, platform in scenario.platforms.items():
        for workload_name, config in platform.workloads.items():
            workload = scenario.workload(workload_name)
            if not isinstance(workload, ServiceWorkload) or not workload.accelerated:
                continue
            field = f"{where}: platforms.{platform_name}.workloads.{workload_name}"
            if isinstance(config, KubernetesWorkload):
                pod = pod_template(workload, config)
                gpus = float(pod.gpu)
                memory = platform.gpu_memory_mib_for(pod) if pod.gpu else None  # type: ignore[union-attr]
                shown = f"{field}.pod.gpu"
            else:
                instance = platform.instance_for(workload_name)  # type: ignore[union-attr]
                gpus = instance.gpu / config.per_vm
                memory = (
                    None if instance.gpu_memory_bytes is None else instance.gpu_memory_bytes / 2**20
                )
                shown = f"{field}: the instance's gpu"
            if gpus < 1:
                raise ScenarioError(
                    f"{shown}: the service's work runs on GPUs (gpu_ms_per_request or llm): "
                    f"each replica needs at least one whole GPU, got {gpus:g}"
                )
            weights = workload.gpu_memory_mib or 0.0
            if memory is not None and weights > gpus * memory:
                raise ScenarioError(
                    f"{field}: gpu_memory_mib {weights:g} does not fit in "
                    f"{gpus:g} GPU(s) of {memory:g} MiB"
                )


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
                    quota = platform.max_batch_vms
                    if quota is not None and workload.workers > quota:
                        raise ScenarioError(
                            f"{where}: platforms.{platform_name}.max_batch_vms: a job of "
                            f"{workload_name} needs {workload.workers} VMs at once, more than "
                            f"the quota of {quota}: it could never start"
                        )
                continue
            assert isinstance(config, KubernetesWorkload)
            pod = pod_template(workload, config)
            allowed, _ = platform.pools_for(pod)
            if not allowed:
                raise ScenarioError(f"{field}.pod: {_placement_problem(platform, pod)}")
            room = [
                _workers_per_node(
                    p.allocatable_cpu_millicores, p.allocatable_memory_bytes, p.gpu, pod
                )
                if p.name in allowed
                else 0
                for p in platform.node_pools
            ]
            if not any(room):
                raise ScenarioError(
                    f"{field}.pod: requests fit on no node pool it may use (allocatable "
                    "per node: "
                    + ", ".join(
                        f"{p.name}: {p.allocatable_cpu_millicores}m cpu, "
                        f"{_memory(p.allocatable_memory_bytes)} memory, {p.gpu} gpu"
                        for p in platform.node_pools
                        if p.name in allowed
                    )
                    + ")"
                )
            most = sum(r * p.max_nodes for r, p in zip(room, platform.node_pools, strict=True))
            if isinstance(workload, BatchWorkload) and workload.gang and workload.workers > most:
                raise ScenarioError(
                    f"{field}: a gang job of {workload.workers} workers can never start: "
                    f"the node pools hold at most {most} of its pods at max_nodes"
                )


def _placement_problem(platform: KubernetesPlatform, pod: PodTemplate) -> str:
    """Why a pod may land on no pool: each pool's untolerated taints or unmatched labels."""
    reasons = []
    for pool in platform.node_pools:
        shape = pool.shape
        hard = [t for t in shape.taints if t.effect in BLOCKING]
        blocking = [str(t) for t in untolerated(hard, pod.placement.all_tolerations())]
        if blocking:
            reasons.append(f"{pool.name} is tainted {', '.join(blocking)} (add a toleration)")
        else:
            reasons.append(
                f"{pool.name}'s labels {dict(shape.labels)} match no node_selector or affinity term"
            )
    return "no node pool admits this pod: " + "; ".join(reasons)


def _memory(size_bytes: int) -> str:
    """Memory as people write it (``29Gi``), with the exact bytes when that rounds."""
    exact = format_memory_bytes(size_bytes)
    if not exact.isdigit():
        return exact
    for suffix, power in (("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)):
        if size_bytes >= 2**power:
            return f"{size_bytes / 2**power:.2f}{suffix} ({size_bytes:,} bytes)"
    return f"{size_bytes} bytes"


def _check_worker_fits_vm(workload: BatchWorkload, instance: VmInstance, field: str) -> None:
    app_memory = instance.memory_bytes - instance.guest_os_memory_bytes
    if (
        workload.cpu_millicores > instance.app_cpu_millicores
        or workload.memory_bytes > app_memory
        or workload.gpu > instance.gpu
    ):
        raise ScenarioError(
            f"{field}: a worker ({workload.cpu_millicores}m cpu, "
            f"{_memory(workload.memory_bytes)} memory, {workload.gpu} gpu) does not fit the VM "
            f"{instance.name} ({instance.app_cpu_millicores:g}m cpu, {_memory(app_memory)} "
            f"memory, {instance.gpu} gpu "
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
            _check_keda(scenario, config, field, workload_name, where)
            _check_accelerator_metrics(scenario, config, field, workload_name, where)


def _check_accelerator_metrics(
    scenario: Scenario, config: KubernetesWorkload, field: str, name: str, where: str
) -> None:
    """A Pods metric only some services have (GPU utilization, KV-cache usage) scales only
    such a service."""
    if not config.autoscaled or config.keda is not None or config.keda_manifest is not None:
        return
    workload = scenario.workload(name)
    assert isinstance(workload, ServiceWorkload)
    template = hpa_template(config, scenario.base_dir, name)
    for index, metric in enumerate(template.metrics):
        needs = ACCELERATOR_POD_METRICS.get(metric.metric_name) if metric.type == "Pods" else None
        has = workload.llm is not None or (
            metric.metric_name == "gpu_utilization" and workload.accelerated
        )
        if needs is not None and not has:
            raise ScenarioError(
                f"{where}: {field}.hpa.metrics[{index}].pods.metric.name: only {needs} "
                f"reports {metric.metric_name}, got {metric.metric_name!r}"
            )


_SCALER_FIELDS = (
    ("hpa", "hpa.maxReplicas"),
    ("hpa_manifest", "hpa_manifest"),
    ("keda", "keda.maxReplicaCount"),
    ("keda_manifest", "keda_manifest"),
)


def _check_keda(
    scenario: Scenario, config: KubernetesWorkload, field: str, name: str, where: str
) -> None:
    """A KEDA ScaledObject (inline or in a file) whose triggers capsim simulates, and the
    HPA KEDA would create for it."""
    place = f"{field}.keda" if config.keda is not None else f"{field}.keda_manifest"
    if (
        config.keda_manifest is not None
        and not (scenario.base_dir / config.keda_manifest).is_file()
    ):
        raise ScenarioError(f"{where}: {place}: file not found: {config.keda_manifest}")
    try:
        spec = keda_spec(config, scenario.base_dir, name)
        if spec is None:
            return
        hpa = keda_hpa(spec, trigger_rules(spec, dict(config.keda_metrics), place))
        hpa.parsed_behavior  # noqa: B018 - validate once at the edge
    except ManifestError as exc:
        raise ScenarioError(f"{where}: {place}: {exc}") from None
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _check_replicas(scenario: Scenario, where: str) -> None:
    """Each workload's pods (fixed ``replicas`` or an HPA's ``maxReplicas``; a VM group's
    ``max`` or ``instances`` × ``per_vm``), and their sum per platform, within
    ``MAX_REPLICAS`` (Kubernetes' documented pods per cluster)."""
    for platform_name, platform in scenario.platforms.items():
        total = 0
        for workload_name, config in platform.workloads.items():
            field = f"platforms.{platform_name}.workloads.{workload_name}"
            if isinstance(config, KubernetesWorkload):
                if config.replicas is not None:
                    most, name = config.replicas, "replicas"
                elif config.autoscaled:
                    spec = hpa_template(config, scenario.base_dir, workload_name)
                    most = spec.max_replicas
                    name = {
                        "hpa": "hpa.maxReplicas",
                        "hpa_manifest": "hpa_manifest",
                        "keda": "keda.maxReplicaCount",
                        "keda_manifest": "keda_manifest",
                    }[
                        next(
                            n
                            for n in ("hpa", "hpa_manifest", "keda", "keda_manifest")
                            if getattr(config, n) is not None
                        )
                    ]
                else:
                    continue
            else:
                count = (
                    config.autoscaling.max_instances
                    if config.autoscaling is not None
                    else config.instances
                )
                if count is None:
                    continue
                most, name = count * config.per_vm, "per_vm"
            if most > MAX_REPLICAS:
                raise ScenarioError(
                    f"{where}: {field}.{name}: {most:,} replicas, more than the limit of "
                    f"{MAX_REPLICAS:,} per workload"
                )
            total += most
        if total > MAX_REPLICAS:
            raise ScenarioError(
                f"{where}: platforms.{platform_name}.workloads: up to {total:,} replicas in "
                f"all, more than the limit of {MAX_REPLICAS:,} per platform (Kubernetes' "
                "documented pods per cluster)"
            )


def _check_loads(scenario: Scenario, where: str) -> dict[str, int]:
    """Check every load and batch arrivals file; the number of submit times of each batch
    workload whose arrivals come from a file."""
    counts: dict[str, int] = {}
    for index, workload in enumerate(scenario.workloads):
        if isinstance(workload, BatchWorkload) and workload.arrivals.path is not None:
            try:
                counts[workload.name] = len(read_submit_times(workload.arrivals, scenario.base_dir))
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
    return counts


def parse_scenario(data: Any, *, where: str, base_dir: Path) -> Scenario:
    """Validate a scenario mapping (as loaded from YAML); errors name ``where``."""
    if not isinstance(data, dict):
        shown = repr(data) if len(repr(data)) <= 80 else repr(data)[:77] + "..."
        raise ScenarioError(f"{where}: expected a mapping at the top level, got {shown}")
    too_deep = nesting_problem(data)
    if too_deep is not None:
        path, message = too_deep
        raise ScenarioError(f"{where}: {path or '(document)'}: {message}")
    try:
        scenario = Scenario.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(_listing(where, exc, data)) from None
    max_cv = MAX_MODELLED_CV if scenario.service_model == "expected" else MAX_SERVICE_TIME_CV
    workloads, problems = with_work_samples(list(scenario.workloads), base_dir, max_cv)
    if problems:
        index, message = problems[0]
        raise ScenarioError(f"{where}: workloads[{index}].service_time.path: {message}")
    for index, workload in enumerate(workloads):
        if isinstance(workload, ServiceWorkload) and workload.llm is not None:
            try:
                means = token_means(workload.llm, workload.load, base_dir)
            except (ValueError, WorkloadError) as exc:
                raise ScenarioError(f"{where}: workloads[{index}].{exc}") from None
            workloads[index] = workload.model_copy(update={"mean_tokens": means})
    scenario = scenario.model_copy(update={"workloads": tuple(workloads)})
    scenario._source = where
    submit_counts = _check_loads(scenario, where)
    _check_modes(scenario, where)
    _check_gpu_services(scenario, where)
    _check_interceptors(scenario, where)
    _check_hpa_manifests(scenario, where)
    _check_replicas(scenario, where)
    _check_fits(scenario, where)
    try:
        run_grid(scenario, where)
    except WorkloadError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    check_batch_sizes(scenario, submit_counts, where)
    return scenario


def scenario_file(name_or_path: str | Path) -> Path:
    """The file of a scenario given by path or by a bundled scenario's name
    (:func:`capsim.data.resolve_scenario`). A bare name that is neither a file nor a
    bundled scenario raises :class:`ScenarioError` naming the bundled ones; a missing
    path is returned as it is (reading it reports the missing file)."""
    path = resolve_scenario(name_or_path)
    if not path.exists() and path.parent == Path("."):
        names = ", ".join(s.name for s in bundled_scenarios())
        raise ScenarioError(f"{path}: no such file, nor a bundled scenario ({names})")
    return path


def load_scenario(path: str | Path, *, service_model: str | None = None) -> Scenario:
    """Read and validate a scenario YAML file, or the bundled scenario of that name
    (``web-diurnal``; a file of that name wins). ``service_model`` (``expected`` or
    ``exact``) replaces the file's before validation. Raises :class:`ScenarioError`."""
    path = scenario_file(path)
    data = load_yaml(path, ScenarioError)
    if service_model is not None and isinstance(data, dict):
        data = {**data, "service_model": service_model}
    return parse_scenario(data, where=str(path), base_dir=path.parent)
