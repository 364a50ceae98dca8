"""The HPA controller of a Kubernetes platform: every ``sync_period_s``, each HPA observes
its pods' metrics, decides with the exact maths of :mod:`capsim.hpa`, and scales its
Deployment.

As upstream's ``horizontal.go`` around ``replica_calculator.go``, this module only
observes and applies; the decisions are the pure functions' (first the replica
calculator over pod counts, then :func:`~capsim.hpa.reconcile`). With Numba (the
``fast`` extra) one compiled call (:func:`capsim.hpa.batch_rows.sync_rows`) observes,
proposes and reconciles every HPA of a sync; only the pods of workloads with pods still
starting are grouped in Python first. Without it, up to :data:`SCALAR_HPA_LIMIT` HPAs
are decided one at a time in Python and more in the batched NumPy form
(:func:`~capsim.hpa.reconcile_batch`). All make the same decisions (hypothesis-tested in
``tests/hpa``) and give the same :class:`SyncDecision`, so the decision log does not
depend on how many HPAs a platform has, nor on the install. Supported metrics:
``Resource`` and ``ContainerResource`` cpu and memory, with Utilization or AverageValue
targets; ``Pods`` metrics ``requests_in_flight`` and ``requests_per_second`` with an
AverageValue target (upstream ``GetMetricReplicas``: the same plain-metric maths as a
memory AverageValue, no readiness rule; the samples and which pods have one:
:mod:`.metrics`); ``Object`` (on a service's Service or Deployment) and ``External``
metrics named in :data:`~capsim.scenario.manifests.SIMULATED_SERVICE_METRICS`, the
service's totals, with a Value or AverageValue target (:mod:`capsim.hpa.object_metrics`,
decided here in Python before the calculators, whichever path, run: their proposal
needs only the value and the workload's pod counts). Other metrics are refused (not
simulated) with the field named. With several metrics the HPA takes the largest
proposal, as upstream.

A ``ContainerResource`` metric is a Resource metric on one container's usage and request
(upstream ``GetResourceReplicas`` with a container name; the metrics client sums only that
container). The model computes one usage per pod, so: a pod without ``containers`` in its
template is one container, whatever the metric calls it (its usage and request are the
pod's); a pod that lists its containers gives all its usage to the first (the app), so a
metric on the app uses the pod's usage against the app's own request, and a metric on
another container (a sidecar, whose usage the model does not know) is refused, as is a
container the pod does not have (upstream: "container X not present in pod").

The decision log: a change of replicas is a ``scale`` event; a sync whose metrics asked
for another size but was held back (stabilization, a rate limit, the bounds) is an
``hpa_hold`` event when the hold starts or changes, not at every sync while it lasts.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from capsim import hpa
from capsim.engine.kubernetes.keda import MetricSource
from capsim.engine.kubernetes.metrics import PodCounts, ResourceMetrics, pod_metric_column
from capsim.engine.recorder import PlatformRecorder
from capsim.hpa import batch_rows as hpa_rows
from capsim.jit import COMPILED, compile_family
from capsim.scenario import (
    BatchWorkload,
    KubernetesPlatform,
    KubernetesWorkload,
    PodTemplate,
    ScenarioError,
    ServiceWorkload,
    hpa_template,
)
from capsim.scenario.manifests import (
    SIMULATED_POD_METRICS,
    HpaTemplate,
    pods_metric_problem,
    service_metric_problem,
)

__all__ = [
    "COMPILED_HPA_ROWS",
    "SCALAR_HPA_LIMIT",
    "HpaController",
    "MetricReading",
    "MetricRow",
    "SyncDecision",
    "compiled_hpa_rows",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_WITHIN_RANGE = hpa.REASONS.index("DesiredWithinRange")

COMPILED_HPA_ROWS = True
"""With Numba, every sync goes through the compiled row-by-row sync
(:mod:`capsim.hpa.batch_rows`); tests set this False to compare with the NumPy and
scalar paths, which decide the same."""

SCALAR_HPA_LIMIT = 64
"""Without Numba, up to this many HPAs per platform sync one at a time. The batched NumPy form has a
fixed cost per sync; one at a time costs per HPA. Measured on 6 h of
``benchmarks/engine_cluster_day.py``'s services (one HPA each): one at a time 1.0 s
against 1.8 s batched at 10 HPAs, 1.9 s against 2.6 s at 30, 6.2 s against 5.9 s at
100."""


@dataclass(frozen=True)
class MetricRow:
    """One metric of one HPA: what it measures and its target, fixed for the run."""

    index: int  # among all the platform's metric rows
    service: int  # index among the platform's services
    hpa: int  # index among the HPAs
    resource: str  # "cpu" | "memory" | a Pods metric (SIMULATED_POD_METRICS)
    utilization: bool  # a Utilization target (else AverageValue)
    target: int  # percent, or milli-units per pod
    request_milli: int  # per pod (of the container, for ContainerResource): milli-units
    container: str | None = None  # ContainerResource: the container measured
    kind: str = ""  # the metric's type: Resource (and ContainerResource), Pods, Object or
    # External; empty: Pods for a Pods metric's name, else Resource
    value_target: bool = False  # Object/External: a Value target (else AverageValue)
    source: int = -1  # Object/External: the service measured (index among services)
    slot: int = 0  # its place among its HPA's metrics

    def __post_init__(self) -> None:
        if not self.kind:
            pods = self.resource in SIMULATED_POD_METRICS
            object.__setattr__(self, "kind", "Pods" if pods else "Resource")

    @property
    def pods_metric(self) -> bool:
        """A ``Pods`` metric (requests in flight or per second per pod)."""
        return self.kind == "Pods"

    @property
    def service_metric(self) -> bool:
        """An ``Object`` or ``External`` metric: one service-wide value
        (:data:`~capsim.scenario.manifests.SIMULATED_SERVICE_METRICS`)."""
        return self.kind in ("Object", "External")


class MetricReading(NamedTuple):
    """What one metric showed at a sync and the replicas it proposed (None: no usable
    metrics), as ``kubectl describe hpa`` would let one work out. (An immutable named
    tuple: one is made per metric per sync.)"""

    row: MetricRow
    ready_pods: int
    unready_pods: int
    missing_pods: int
    sample_milli: int  # per pod (Object/External: the service-wide value)
    proposal: int | None

    def describe(self) -> str:
        row, sample = self.row, self.sample_milli
        unit = "m" if row.resource == "cpu" else " milli-bytes"
        subject = row.resource if row.container is None else f"{row.resource} of {row.container}"
        if row.service_metric:
            target = "value" if row.value_target else "average value"
            seen = f"{sample / 1000:.3f} vs target {target} {row.target / 1000:g}"
            outcome = f"→ {self.proposal}" if self.proposal is not None else "→ no usable metrics"
            return f"{row.kind.lower()} {subject}: {seen} ({self.ready_pods} ready) {outcome}"
        if row.pods_metric:  # plain numbers per pod, to the milli-unit
            seen = f"{sample / 1000:.3f} per pod vs target {row.target / 1000:g}"
            ratio = sample / row.target if row.target else math.nan
        elif row.utilization:
            used = 100 * sample // row.request_milli if row.request_milli else 0
            seen = f"{used} % of request vs target {row.target} %"
            ratio = used / row.target if row.target else math.nan
        else:
            seen = f"{sample}{unit} per pod vs target {row.target}{unit}"
            ratio = sample / row.target if row.target else math.nan
        pods = f"{self.ready_pods} ready"
        if self.unready_pods or self.missing_pods:
            pods += f", {self.unready_pods} unready, {self.missing_pods} without metrics"
        outcome = f"→ {self.proposal}" if self.proposal is not None else "→ no usable metrics"
        return f"{subject}: {seen} (ratio {ratio:.2f}; {pods}) {outcome}"


_GroupSeen = tuple[IntArray, IntArray, IntArray, npt.NDArray[np.bool_]]
"""What a group of metric rows saw: (ready, unready, missing) per row, per-pod samples,
proposals, and which proposals are usable."""

_Seen = tuple[MetricRow, int, int, int, int, int | None]
"""A metric's reading before it is a :class:`MetricReading`: row, ready, unready and
missing pods, per-pod sample, proposal (None when the metric failed)."""


@dataclass(frozen=True)
class SyncDecision:
    """One sync of one HPA: from ``current`` to ``desired`` replicas, and why.

    ``metric_replicas`` is the metrics' proposal and ``stabilized`` the recommendation
    after stabilization; both are None when the sync did not get that far (autoscaling
    disabled, a size outside the bounds corrected, metrics unavailable).
    """

    hpa: int
    workload: int  # index among the scenario's workloads
    current: int
    desired: int
    reason: str
    metric_replicas: int | None
    stabilized: int | None
    readings: tuple[MetricReading, ...]

    @property
    def proposal(self) -> int:
        """What the metrics asked for (the current size when they were not consulted)."""
        return self.metric_replicas if self.metric_replicas is not None else self.current

    @property
    def detail(self) -> str:
        """The decision log's detail: each metric, then the proposal and stabilization."""
        text = "; ".join(r.describe() for r in self.readings)
        text += f"; metrics propose {self.proposal}"
        if self.stabilized is not None and self.stabilized != self.proposal:
            text += f", stabilized {self.stabilized}"
        return text


@dataclass(frozen=True)
class _RowGroup:
    """Metric rows of one target kind (Utilization or AverageValue) as arrays for the
    batched calculator; ``slots`` place each row's proposal among its HPA's metrics."""

    utilization: bool
    rows: tuple[MetricRow, ...]
    hpa_of: IntArray
    slots: IntArray
    targets: IntArray
    requests: IntArray
    service_of: IntArray  # each row's service (index among the platform's services)
    workloads: list[int]  # each row's workload (index among the scenario's workloads)
    kinds: tuple[tuple[str, IntArray], ...]  # (resource, positions of the rows measuring it)


def _row_groups(rows: Sequence[MetricRow], services: Sequence[int]) -> list[_RowGroup]:
    """Utilization rows, then AverageValue rows; each HPA's slots filled in that order
    (``services``: the scenario's workload index of each of the platform's services)."""
    used: dict[int, int] = {}
    groups = []
    for utilization in (True, False):
        group = tuple(r for r in rows if r.utilization is utilization)
        if not group:
            continue
        slots = []
        for row in group:
            slots.append(used.get(row.hpa, 0))
            used[row.hpa] = slots[-1] + 1
        resources = sorted({r.resource for r in group})
        kinds = tuple(
            (name, np.array([i for i, r in enumerate(group) if r.resource == name], dtype=np.int64))
            for name in resources
        )
        groups.append(
            _RowGroup(
                utilization,
                group,
                np.array([r.hpa for r in group], dtype=np.int64),
                np.array(slots, dtype=np.int64),
                np.array([r.target for r in group], dtype=np.int64),
                np.array([r.request_milli for r in group], dtype=np.int64),
                np.array([r.service for r in group], dtype=np.int64),
                [services[r.service] for r in group],
                kinds,
            )
        )
    return groups


def _acts(current: int, replicas: int, proposal: int, within: bool) -> bool:
    """Whether a sync scales, or holds back another size its metrics asked for (not
    merely within the tolerance): the syncs :meth:`HpaController._apply` logs."""
    return replicas != current or (proposal != current and not within)


def _acting(
    current: IntArray, replicas: IntArray, proposal: IntArray, reason: IntArray
) -> list[int]:
    """:func:`_acts` for every HPA at once (``reason``: indices into ``hpa.REASONS``)."""
    acts = (replicas != current) | ((proposal != current) & (reason != _WITHIN_RANGE))
    return [int(h) for h in np.flatnonzero(acts)]


@functools.cache
def compiled_hpa_rows() -> dict[str, Callable[..., int]]:
    """:data:`capsim.hpa.batch_rows.COMPILED_FUNCTIONS` by name, compiled on first use."""
    return compile_family(vars(hpa_rows), hpa_rows.COMPILED_FUNCTIONS)


class _CompiledRows:
    """The HPAs' packed settings, metric rows and histories for the compiled sync
    (:func:`capsim.hpa.batch_rows.sync_rows`), and what its last call saw."""

    def __init__(
        self,
        params: hpa.BatchBehavior,
        bounds: tuple[IntArray, IntArray],
        tolerances: FloatArray,
        rows_of: list[list[MetricRow]],
        workloads: tuple[list[int], list[int]],
        sync_period_s: float,
    ) -> None:
        """``workloads``: the workload of each HPA and of each service."""
        self.config_int, self.config_float, self.policies = hpa_rows.pack_config(params, *bounds)
        self.history = hpa_rows.PackedHistory(params, sync_period_s=sync_period_s)
        hpa_workloads, service_workloads = workloads
        n = params.size
        metrics_per_hpa = max((len(rows) for rows in rows_of), default=1)
        self.proposals = np.full((n, metrics_per_hpa), hpa_rows.NO_METRIC, dtype=np.int64)
        self.out = np.zeros((n, hpa_rows.OUT_FIELDS), dtype=np.int64)
        self.tolerances = tolerances
        self.hpa_workloads = np.array(hpa_workloads, dtype=np.int64)
        self.current = np.zeros(n, dtype=np.int64)
        self.acting = np.zeros(n, dtype=np.int64)
        rows = sorted(
            (row for hpa_rows_ in rows_of for row in hpa_rows_ if not row.service_metric),
            key=lambda row: row.index,
        )
        self.metric_rows = np.zeros((len(rows), hpa_rows.METRIC_ROW_FIELDS), dtype=np.int64)
        for i, row in enumerate(rows):
            self.metric_rows[i] = (
                row.hpa,
                rows_of[row.hpa].index(row),
                service_workloads[row.service],
                row.service,
                _metric_kind(row.resource),
                row.request_milli,
                row.target,
                int(row.utilization),
            )
        self.counts = np.zeros((len(rows), 3), dtype=np.int64)
        self.counted = np.zeros(len(rows), dtype=np.int64)
        self.seen = np.zeros((len(rows), hpa_rows.SEEN_FIELDS), dtype=np.int64)
        self._sync = compiled_hpa_rows()["sync_rows"]

    def sync(self, desired: IntArray, metrics: ResourceMetrics, now: float) -> int:
        """One sync of every HPA (``counts`` and ``counted`` filled for the rows whose
        pods were grouped one by one); returns how many HPAs act, at the front of
        ``acting`` (see :func:`capsim.hpa.batch_rows.sync_rows`)."""
        history = self.history
        acting = self._sync(
            desired, self.hpa_workloads, self.current, self.metric_rows, self.tolerances,
            metrics.pods.settled, self.counts, self.counted, metrics.cpu_milli,
            metrics.memory_milli, metrics.pods_milli, self.seen, self.proposals,
            self.config_int, self.config_float, self.policies, history.recommendations,
            history.events, history.lengths, now, self.out, self.acting,
        )  # fmt: skip
        if acting < 0:
            raise ValueError(hpa_rows.ERRORS[-acting])
        return int(acting)


def _metric_kind(resource: str) -> int:
    """What a metric row measures, as :func:`capsim.hpa.batch_rows.propose_rows` codes it."""
    if resource == "cpu":
        return 0
    if resource == "memory":
        return 1
    return 2 + pod_metric_column(resource)


def has_hpa(config: KubernetesWorkload) -> bool:
    """Whether an HPA scales the workload (inline, or in a manifest file)."""
    return config.autoscaled


def _container_request(pod: PodTemplate, container: str, resource: str, path: str) -> int | None:
    """The request of ``container`` for a ContainerResource metric (see the module
    docstring); ``None`` if it sets none. Raises ``ValueError`` naming the field."""
    pod_request = pod.cpu_request_millicores if resource == "cpu" else pod.memory_request_bytes
    if not pod.containers:
        return pod_request if resource == "cpu" else pod_request * 1000
    names = [c.name for c in pod.containers]
    if container not in names:
        raise ValueError(
            f"{path}.containerResource.container: container {container!r} not present in pod "
            f"(containers: {', '.join(names)}), got {container!r}"
        )
    if container != names[0]:
        raise ValueError(
            f"{path}.containerResource.container: a metric on container {container!r} is not "
            f"simulated yet: the model gives all of a pod's usage to its first container "
            f"({names[0]}) and knows no usage of the others, got {container!r}"
        )
    app = pod.containers[0]
    if resource == "cpu":
        return app.cpu_request_millicores
    return None if app.memory_request_bytes is None else app.memory_request_bytes * 1000


def _metric_row(
    template: HpaTemplate,
    m: int,
    pod: PodTemplate,
    index: int,
    service: int,
    h: int,
    service_names: Sequence[str] = (),
) -> MetricRow:
    """Metric ``m`` of ``template`` as a row; ``ValueError`` (``metrics[m].field: message``,
    relative to the HPA spec) when capsim cannot simulate it. ``service_names``: the
    platform's services, by index."""
    metric = template.metrics[m]
    path = f"metrics[{m}]"
    if metric.type == "Pods":
        problem = pods_metric_problem(metric, path)
        if problem is not None:
            raise ValueError(problem)
        target = metric.target
        assert target.average_value is not None  # Pods metrics take AverageValue only
        return MetricRow(
            index, service, h, metric.metric_name, False, target.average_value, 0, kind="Pods"
        )
    if metric.type in ("Object", "External"):
        problem = service_metric_problem(metric, path, service_names)
        if problem is not None:
            raise ValueError(problem)
        source = service
        if metric.object is not None:
            source = list(service_names).index(metric.object.described_object.name)
        target = metric.target
        value = target.type == "Value"
        goal = target.value if value else target.average_value
        assert goal is not None  # check_metric_targets: the target's field is set
        return MetricRow(
            index,
            service,
            h,
            metric.metric_name,
            False,
            goal,
            0,
            kind=metric.type,
            value_target=value,
            source=source,
        )
    resource = metric.resource_name
    if resource not in ("cpu", "memory"):
        raise ValueError(
            f"{path}.{metric.key}.name: only cpu and memory are simulated, got {resource!r}"
        )
    target = metric.target
    container = metric.container
    request: int | None
    if container is not None:
        request = _container_request(pod, container, resource, path)
    else:
        request = (
            pod.cpu_request_millicores if resource == "cpu" else pod.memory_request_bytes * 1000
        )
    if target.type == "Utilization":
        assert target.average_utilization is not None
        if not request:
            raise ValueError(
                f"{path}.{metric.key}.target.type: a Utilization target on {resource} needs a "
                f"{resource} request, but {'container ' + container if container else 'the pod'}"
                f" requests none (upstream: missing request for {resource}), got Utilization"
            )
        return MetricRow(
            index, service, h, resource, True, target.average_utilization, request, container
        )
    if target.type == "AverageValue":
        assert target.average_value is not None
        return MetricRow(
            index, service, h, resource, False, target.average_value, request or 0, container
        )
    raise ValueError(
        f"{path}.{metric.key}.target.type: a {metric.type} metric needs a Utilization or "
        f"AverageValue target, got {target.type!r}"
    )


class HpaController:
    """Every HPA of one platform (see the module docstring).

    ``desired`` holds each workload's replicas (the Deployment's ``spec.replicas``), shared
    with the platform; ``metrics`` is what the HPAs observe; ``scale_to(w, replicas, now)``
    makes the ReplicaSet follow; decisions go to ``recorder``.
    """

    def __init__(
        self,
        platform_name: str,
        platform: KubernetesPlatform,
        workloads: Sequence[ServiceWorkload | BatchWorkload],
        configs: Sequence[KubernetesWorkload],
        templates: Sequence[PodTemplate],
        services: Sequence[int],
        where: str,
        base_dir: Path,
        *,
        desired: IntArray,
        metrics: ResourceMetrics,
        scale_to: Callable[[int, int, float], None],
        recorder: PlatformRecorder,
        source: MetricSource | None = None,
    ) -> None:
        self.desired = desired
        self.metrics = metrics
        self._source = source  # outages of the metrics source, KEDA's fallback
        self._scale_to = scale_to
        self._recorder = recorder
        self._names = [w.name for w in workloads]
        pipeline = platform.metrics
        self.downscale_stabilization_s = pipeline.downscale_stabilization_s
        self.services = list(services)
        service_names = [workloads[w].name for w in self.services]
        self.hpa_services: list[int] = []  # index among services, per HPA
        self.behaviors: list[hpa.Behavior | None] = []
        self.rows: list[MetricRow] = []
        mins: list[int] = []
        maxs: list[int] = []
        tol_up: list[float] = []
        tol_down: list[float] = []
        for s, w in enumerate(self.services):
            workload, config = workloads[w], configs[w]
            assert isinstance(workload, ServiceWorkload)
            if not has_hpa(config):
                continue
            template = hpa_template(config, base_dir, workload.name)
            behavior = template.parsed_behavior
            h = len(self.hpa_services)
            self.hpa_services.append(s)
            self.behaviors.append(behavior)
            mins.append(template.min_replicas)
            maxs.append(template.max_replicas)
            up = behavior.scale_up.tolerance if behavior else None
            down = behavior.scale_down.tolerance if behavior else None
            tol_up.append(pipeline.tolerance if up is None else up)
            tol_down.append(pipeline.tolerance if down is None else down)
            for m in range(len(template.metrics)):
                try:
                    row = _metric_row(
                        template, m, templates[w], len(self.rows), s, h, service_names
                    )
                except ValueError as exc:
                    if config.hpa_manifest is not None:
                        place = f"{base_dir / config.hpa_manifest}: spec"
                    else:
                        place = f"{where}: platforms.{platform_name}.workloads.{workload.name}.hpa"
                    raise ScenarioError(f"{place}.{exc}") from None
                self.rows.append(dataclasses.replace(row, slot=m))
        # Pods-sampled rows first (the compiled and batched calculators index them by
        # position), then the Object/External rows (decided here in Python)
        ordered = [r for r in self.rows if not r.service_metric]
        ordered += [r for r in self.rows if r.service_metric]
        self.rows = [dataclasses.replace(r, index=i) for i, r in enumerate(ordered)]
        self._pod_rows = [r for r in self.rows if not r.service_metric]
        self._value_rows = [r for r in self.rows if r.service_metric]
        self.min_replicas = np.array(mins, dtype=np.int64)
        self.max_replicas = np.array(maxs, dtype=np.int64)
        self.tol_up = np.array(tol_up)
        self.tol_down = np.array(tol_down)
        # the same as Python numbers, for the scalar path
        self._tolerances = list(zip(tol_up, tol_down, strict=True))
        self._bounds = list(zip(mins, maxs, strict=True))
        self.rows_of = [
            sorted((r for r in self.rows if r.hpa == h), key=lambda r: r.slot)
            for h in range(len(self.behaviors))
        ]
        self.workload_of = [self.services[s] for s in self.hpa_services]
        self._params = hpa.BatchBehavior.from_behaviors(
            self.behaviors, downscale_stabilization_s=self.downscale_stabilization_s
        )
        self._batch_history = hpa.BatchHistory.for_behavior(
            self._params, sync_period_s=pipeline.sync_period_s
        )
        self._histories = [hpa.HpaHistory() for _ in self.hpa_services]
        self._metrics_per_hpa = max((len(rows) for rows in self.rows_of), default=1)
        self._row_groups = _row_groups(self._pod_rows, self.services)
        pod_slots = [sum(1 for r in rows if not r.service_metric) for rows in self.rows_of]
        self._value_slots = {  # Object/External row → its slot in the batched path
            row.index: pod_slots[row.hpa]
            + [r for r in self.rows_of[row.hpa] if r.service_metric].index(row)
            for row in self._value_rows
        }
        self._row_place = {  # row index → (its group, its position in the group)
            row.index: (g, i)
            for g, group in enumerate(self._row_groups)
            for i, row in enumerate(group.rows)
        }
        self._hpa_workloads = np.array(self.workload_of, dtype=np.int64)
        # HPAs whose last sync held a change back: (reason, proposal), logged once
        self._held: dict[int, tuple[str, int]] = {}
        self._rows: _CompiledRows | None = None
        if COMPILED and self.count and COMPILED_HPA_ROWS:
            self._rows = _CompiledRows(
                self._params,
                (self.min_replicas, self.max_replicas),
                np.column_stack([self.tol_up, self.tol_down]),
                self.rows_of,
                (self.workload_of, self.services),
                pipeline.sync_period_s,
            )
        # each metric row, its workload and what it measures, for grouping pods
        self._row_pods = [(r.index, self.services[r.service], r.resource) for r in self._pod_rows]

    @property
    def count(self) -> int:
        return len(self.hpa_services)

    # --- one sync --------------------------------------------------------------------

    def sync(self, now: float) -> None:
        """One controller sync for every HPA: decide them all, then scale and log."""
        if not self.hpa_services:
            return
        if self._rows is not None:
            decide = self._decide_compiled
        elif self.count <= SCALAR_HPA_LIMIT:
            decide = self._decide_one_by_one
        else:
            decide = self._decide_batched
        for decision in decide(now):
            self._apply(decision, now)

    def _observe(self, row: MetricRow, now: float) -> tuple[PodCounts, int]:
        """One metric's pods and per-pod sample, as the replica calculator needs them."""
        counts = self.metrics.count_pods(self.services[row.service], row.resource, now)
        return counts, self.metrics.sample(row.service, row.resource)

    def decide(self, h: int, now: float) -> SyncDecision:
        """One sync of HPA ``h`` on its own through the plain-Python path (whatever the
        install; its history is that path's own): its decision record."""
        decision, readings = self._reconcile_one(h, now)
        return self._record_of(h, decision, readings)

    def _decide_one_by_one(self, now: float) -> list[SyncDecision]:
        """Every HPA in turn; returns the decisions that scale or log (see :meth:`_apply`),
        having cleared the held state of the others (as :meth:`_decide_batched`)."""
        out: list[SyncDecision] = []
        for h, w in enumerate(self.workload_of):
            decision, readings = self._reconcile_one(h, now)
            current = int(self.desired[w])
            proposal = current if decision.metric_replicas is None else decision.metric_replicas
            within = decision.reason == "DesiredWithinRange"
            if not _acts(current, decision.replicas, proposal, within):
                self._held.pop(h, None)  # what _apply does for a sync that neither scales nor holds
                continue
            out.append(self._record_of(h, decision, readings))
        return out

    def _reconcile_one(self, h: int, now: float) -> tuple[hpa.Decision, list[_Seen]]:
        """Observe HPA ``h``'s metrics, propose, reconcile; the history moves on."""
        current = int(self.desired[self.workload_of[h]])
        readings = [
            self._see_value(h, row, current, now)
            if row.service_metric
            else self._see(h, row, current, now)
            for row in self.rows_of[h]
        ]
        proposals: list[int | hpa.MetricsError] = [
            hpa.MetricsError(f"no usable {seen[0].resource} metrics (pods might be unready)")
            if seen[5] is None
            else seen[5]
            for seen in readings
        ]
        low, high = self._bounds[h]
        decision = hpa.reconcile(
            current,
            proposals,
            min_replicas=low,
            max_replicas=high,
            behavior=self.behaviors[h],
            history=self._histories[h],
            now=now,
            downscale_stabilization_s=self.downscale_stabilization_s,
        )
        self._histories[h] = decision.history
        return decision, readings

    def _record_of(self, h: int, decision: hpa.Decision, readings: list[_Seen]) -> SyncDecision:
        w = self.workload_of[h]
        return SyncDecision(
            h,
            w,
            int(self.desired[w]),
            decision.replicas,
            decision.reason,
            decision.metric_replicas,
            decision.stabilized,
            tuple(MetricReading(*seen) for seen in readings),
        )

    def _observe_group(self, group: _RowGroup, now: float) -> tuple[IntArray, IntArray]:
        """:meth:`_observe` for every row of ``group`` at once: (ready, unready, missing)
        per row, and each row's per-pod sample. A workload with no unsettled pod has
        only settled ones (all ready with samples); the others are counted pod by pod."""
        pods = self.metrics.pods
        workloads = group.workloads
        counts = np.zeros((len(group.rows), 3), dtype=np.int64)
        counts[:, 0] = pods.settled[workloads]
        for i, w in enumerate(workloads):
            if pods.unsettled[w]:
                counts[i] = self.metrics.count_pods(w, group.rows[i].resource, now)
        sample = np.zeros(len(group.rows), dtype=np.int64)
        for resource, at in group.kinds:
            sample[at] = self.metrics.samples(group.service_of[at], resource)
        return counts, sample

    def _propose_grouped(
        self, current: IntArray, now: float, proposals: IntArray, ok: npt.NDArray[np.bool_]
    ) -> list[_GroupSeen]:
        """Every metric's proposal, a group of rows at a time (NumPy), into ``proposals``
        and ``ok`` (HPA × metric slot); returns what each group saw."""
        seen: list[_GroupSeen] = []
        for group in self._row_groups:
            counts, sample = self._observe_group(group, now)
            result = hpa.resource_replicas_batch(
                current[group.hpa_of],
                counts[:, 0],
                counts[:, 1],
                counts[:, 2],
                counts[:, 0] * sample,
                group.requests,
                target_utilization=group.targets if group.utilization else None,
                target_average_value_milli=None if group.utilization else group.targets,
                tolerance_up=self.tol_up[group.hpa_of],
                tolerance_down=self.tol_down[group.hpa_of],
            )
            proposals[group.hpa_of, group.slots] = result.replicas
            ok[group.hpa_of, group.slots] = result.ok
            seen.append((counts, sample, result.replicas, result.ok))
        return seen

    def _grouped_reading(self, seen: list[_GroupSeen], row: MetricRow) -> MetricReading:
        g, i = self._row_place[row.index]
        counts, sample, replicas, good = seen[g]
        ready, unready, missing = (int(x) for x in counts[i])
        made = int(replicas[i]) if good[i] else None
        return MetricReading(row, ready, unready, missing, int(sample[i]), made)

    def _decide_batched(self, now: float) -> list[SyncDecision]:
        """Every HPA in one NumPy call; returns the decisions that scale or log (see
        :meth:`_apply`), having cleared the held state of the others."""
        n_hpa = self.count
        proposals = np.zeros((n_hpa, self._metrics_per_hpa), dtype=np.int64)
        ok = np.ones((n_hpa, self._metrics_per_hpa), dtype=np.bool_)
        current = self.desired[self._hpa_workloads]
        seen = self._propose_grouped(current, now, proposals, ok)
        values = self._value_readings(current, now)
        for index, value_seen in values.items():
            row, made = value_seen[0], value_seen[5]
            proposals[row.hpa, self._value_slots[index]] = 0 if made is None else made
            ok[row.hpa, self._value_slots[index]] = made is not None
        decision = hpa.reconcile_batch(
            current,
            proposals,
            ok,
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            params=self._params,
            history=self._batch_history,
            now=now,
        )
        self._batch_history = decision.history
        normalized = decision.normalized
        proposal = np.where(normalized, decision.metric_replicas, current)
        acting = _acting(current, decision.replicas, proposal, decision.reason)
        self._forget_held(acting)

        def reading(row: MetricRow) -> MetricReading:
            if row.service_metric:
                return MetricReading(*values[row.index])
            return self._grouped_reading(seen, row)

        return [
            SyncDecision(
                int(h),
                self.workload_of[h],
                int(current[h]),
                int(decision.replicas[h]),
                hpa.REASONS[int(decision.reason[h])],
                int(decision.metric_replicas[h]) if normalized[h] else None,
                int(decision.stabilized[h]) if normalized[h] else None,
                tuple(reading(row) for row in self.rows_of[h]),
            )
            for h in acting
        ]

    def _decide_compiled(self, now: float) -> list[SyncDecision]:
        """Every HPA through one compiled call (:func:`capsim.hpa.batch_rows.sync_rows`);
        the pods of a workload with unsettled ones are grouped here first, metric row by
        metric row. Returns the decisions that scale or log (see :meth:`_apply`), but
        not a hold that repeats the last sync's (nothing to apply), having cleared the
        held state of the others."""
        rows = self._rows
        assert rows is not None
        unsettled = self.metrics.pods.unsettled
        for i, w, resource in self._row_pods:
            if unsettled[w]:
                rows.counts[i] = self.metrics.count_pods(w, resource, now)
                rows.counted[i] = 1
        values: dict[int, _Seen] = {}
        if self._value_rows:
            values = self._value_readings(self.desired[self._hpa_workloads], now)
            for value_seen in values.values():
                row, offer = value_seen[0], value_seen[5]
                slot = self.rows_of[row.hpa].index(row)
                rows.proposals[row.hpa, slot] = hpa_rows.FAILED if offer is None else offer
        n_acting = rows.sync(self.desired, self.metrics, now)
        acting = rows.acting[:n_acting].tolist()
        self._forget_held(acting)
        decisions = []
        held = self._held
        for h in acting:
            replicas, reason, metric, stabilized, normalized = rows.out[h].tolist()
            current = int(rows.current[h])
            if held and replicas == current:
                proposal = metric if normalized else current
                if held.get(h) == (hpa.REASONS[reason], proposal):
                    continue  # the hold of the last sync, unchanged: _apply would do nothing
            made = []
            for row in self.rows_of[h]:
                if row.service_metric:
                    made.append(MetricReading(*values[row.index]))
                    continue
                ready, unready, missing, sample, proposal = rows.seen[row.index].tolist()
                made.append(
                    MetricReading(
                        row, ready, unready, missing, sample, None if proposal < 0 else proposal
                    )
                )
            decisions.append(
                SyncDecision(
                    h,
                    self.workload_of[h],
                    current,
                    replicas,
                    hpa.REASONS[reason],
                    metric if normalized else None,
                    stabilized if normalized else None,
                    tuple(made),
                )
            )
        return decisions

    def _see(self, h: int, row: MetricRow, current: int, now: float) -> _Seen:
        """One metric of HPA ``h`` observed, and the replicas it proposes (None: no
        usable metrics), by the replica calculator over pod counts."""
        (ready, unready, missing), sample = self._observe(row, now)
        tolerance_up, tolerance_down = self._tolerances[h]
        replicas, ok = hpa.resource_replicas_counts(
            current,
            ready,
            unready,
            missing,
            ready * sample,
            row.request_milli,
            target_utilization=row.target if row.utilization else None,
            target_average_value_milli=None if row.utilization else row.target,
            tolerance_up=tolerance_up,
            tolerance_down=tolerance_down,
        )
        return (row, ready, unready, missing, sample, replicas if ok else None)

    def _see_value(self, h: int, row: MetricRow, current: int, now: float) -> _Seen:
        """An Object or External metric of HPA ``h`` observed (the measured service's
        latest value) and the replicas it proposes (None: no pods to count, or the
        metrics source unreachable without a fallback: :class:`MetricSource`), by
        :func:`capsim.hpa.value_replicas` or :func:`capsim.hpa.average_value_replicas`
        over the HPA's pods: Running and Ready ones, and all it has (``status.replicas``)."""
        w = self.services[row.service]
        pods = self.metrics.pods
        ready, existing = int(pods.ready[w]), int(pods.count[w])
        usage = self.metrics.service_sample(row.source, row.resource)
        if self._source is not None and self._source.affects(w):
            slot = self.rows_of[h].index(row)
            read = self._source.hpa_value(
                w, slot, usage, row.target, row.value_target, current, ready, now
            )
            if read is None:
                return (row, ready, existing - ready, 0, usage, None)
            usage = read
        up, down = self._tolerances[h]
        tolerances = hpa.Tolerances(scale_down=down, scale_up=up)
        proposal: int | None
        if row.value_target:
            try:
                proposal = hpa.value_replicas(
                    current, ready, existing, usage, row.target, tolerances
                )
            except hpa.MetricsError:
                proposal = None
        else:
            proposal, _ = hpa.average_value_replicas(existing, usage, row.target, tolerances)
        return (row, ready, existing - ready, 0, usage, proposal)

    def _value_readings(self, current: IntArray, now: float) -> dict[int, _Seen]:
        """:meth:`_see_value` of every Object and External row (``current``: per HPA)."""
        return {
            row.index: self._see_value(row.hpa, row, int(current[row.hpa]), now)
            for row in self._value_rows
        }

    def _forget_held(self, acting: list[int]) -> None:
        """What :meth:`_apply` does for each sync that neither scales nor holds."""
        held = self._held
        if not held:
            return
        if not acting:
            held.clear()
            return
        keep = set(acting) if len(acting) > 8 else acting
        for h in [h for h in held if h not in keep]:
            del held[h]

    def _apply(self, decision: SyncDecision, now: float) -> None:
        """Scale the workload and log what the HPA decided (holds once, see module docs)."""
        h, w = decision.hpa, decision.workload
        old, new, reason = decision.current, decision.desired, decision.reason
        if new != old:
            self._recorder.event(now, self._names[w], "scale", old, new, reason, decision.detail)
            self.desired[w] = new
            self._scale_to(w, new, now)
            self._held.pop(h, None)
        elif decision.proposal != old and reason != "DesiredWithinRange":
            if self._held.get(h) != (reason, decision.proposal):
                self._recorder.event(
                    now, self._names[w], "hpa_hold", old, new, reason, decision.detail
                )
            self._held[h] = (reason, decision.proposal)
        else:
            self._held.pop(h, None)
