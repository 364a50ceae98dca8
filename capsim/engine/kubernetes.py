"""A Kubernetes platform: node pools, pods, metrics-server, HPAs and the cluster autoscaler.

Modelling notes (defaults in ``REFERENCE.md`` §2):

**Pods.**

* *Start.* A new pod is scheduled at once if it fits (:func:`capsim.models.packing.choose_node`),
  otherwise it stays Pending. On its node it pulls its image (``image_size /
  pull_bandwidth``; skipped on nodes that already pulled it), starts its container, and
  becomes Ready after the readiness delay.
* *Traffic and CPU.* Only Ready pods receive traffic. A replica's CPU is capped at its
  limit, or at its request when no limit is set (a conservative choice).
* *Scale-down* removes pods as a ReplicaSet does: unscheduled first, then not running,
  then not Ready, then the newest.

**Metrics.** metrics-server scrapes every ``metric_resolution_s``. A pod's CPU sample is
the mean over that window of the CPU its replicas used. Its memory sample is the current
use. A pod has no sample until its container has run for one window (``missing`` to the
HPA). The HPA sees each pod as upstream does:

* ``startTime`` is when the pod was scheduled;
* its Ready condition turns true at readiness;
* the CPU initialization period and the initial readiness delay apply.

**HPA.** Every ``sync_period_s``, all HPAs of the platform are evaluated in one call to
the exact batched maths of :mod:`capsim.hpa`: first the replica calculator over
counts, then :func:`~capsim.hpa.reconcile_batch`. The counts are ready pods with
samples, unready pods and missing pods, plus the summed usage. Supported metrics:
``Resource`` cpu and memory, with Utilization or AverageValue targets.

**Cluster autoscaler.** Every ``scan_interval_s``:

* *Scale-up.* Pending pods are packed onto the room left on existing nodes (ready or
  being provisioned), then onto new nodes
  (:func:`capsim.models.packing.plan_scale_up`), ready after the pool's provisioning delay.
* *Scale-down.* A node unneeded for ``scale_down_unneeded_s``, and not within
  ``scale_down_delay_after_add_s`` of a scale-up, is removed. Empty nodes go all at
  once; otherwise one node per scan. Its pods are recreated and scheduled elsewhere.

**Batch jobs.** A job's workers are pods (the workload's ``pod``, or one requesting the
worker's cpu, memory and gpu). Queued jobs are placed in queue order whenever pods or
nodes change: a gang job only when all its pods fit at once
(:func:`capsim.models.packing.place_all`), other jobs pod by pod; a job that does not fit
does not block smaller ones behind it. Unplaced workers are pending pods to the cluster
autoscaler. A placed worker pulls its image and starts its container, then computes; its
pod is deleted when it is done. Nodes running batch pods are never scaled down (their
work cannot move, as with ``safe-to-evict: false``).

**Events.** Besides every HPA decision and node change, each pod's life is logged:
``pod_scheduled`` (with its node), ``pod_started``, ``pod_ready`` (services) and
``pod_deleted``.

Nodes bill per second from request to removal, with a 60 s minimum.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from capsim import hpa
from capsim.engine.inputs import Inputs
from capsim.engine.platform import SAME_INSTANT_S, JobRun, Machines, PlatformSim
from capsim.engine.recorder import Levels
from capsim.models.packing import (
    Node,
    PodRequest,
    PoolLimits,
    choose_node,
    place_all,
    plan_scale_up,
    scale_down_candidates,
)
from capsim.scenario import (
    KubernetesPlatform,
    KubernetesWorkload,
    PodTemplate,
    ScenarioError,
    pod_template,
)
from capsim.scenario.manifests import HpaTemplate, load_hpas

__all__ = ["KubernetesSim", "hpa_template"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

BILLING_MINIMUM_S = 60.0
SCALAR_HPAS = 8  # up to this many HPAs per platform sync one at a time (less overhead)
LONG_AGO_S = -86_400.0


@dataclass
class Pod:
    """One pod's lifecycle times (``None`` until reached)."""

    id: int
    workload: int
    created_s: float
    node: Node | None = None
    bound_s: float | None = None
    running_s: float | None = None
    ready_s: float | None = None
    deleted: bool = False
    settled: bool = False  # past every start-up rule: a ready pod with samples from now on


@dataclass(frozen=True)
class HpaRow:
    """One metric of one HPA, as the batched calculator needs it."""

    service: int  # index among the platform's services
    hpa: int  # index among the HPAs
    resource: str  # "cpu" | "memory"
    utilization: bool
    target: int  # percent, or milli-units per pod
    request_milli: int


# What one sync of one HPA decided: current, new, reason, the metrics' proposal, and (scalar
# path) the facts behind it: per metric row (row, ready, unready, missing pods, sample per
# pod in milli-units, its proposal or None), and the stabilized recommendation.
Facts = tuple[list[tuple["HpaRow", int, int, int, int, int | None]], int | None]
Decided = tuple[int, int, str, int, Facts | None]


def _explain(proposal: int, facts: Facts | None) -> str:
    """The decision log's detail: what each metric showed and proposed, as
    ``kubectl describe hpa`` would let one work out."""
    if facts is None:
        return f"metrics propose {proposal}"
    rows, stabilized = facts
    parts = []
    for row, ready, unready, missing, sample, replicas in rows:
        unit = "m" if row.resource == "cpu" else " milli-bytes"
        if row.utilization:
            used = 100 * sample // row.request_milli if row.request_milli else 0
            seen = f"{used} % of request vs target {row.target} %"
            ratio = used / row.target if row.target else math.nan
        else:
            seen = f"{sample}{unit} per pod vs target {row.target}{unit}"
            ratio = sample / row.target if row.target else math.nan
        pods = f"{ready} ready"
        if unready or missing:
            pods += f", {unready} unready, {missing} without metrics"
        outcome = f"→ {replicas}" if replicas is not None else "→ no usable metrics"
        parts.append(f"{row.resource}: {seen} (ratio {ratio:.2f}; {pods}) {outcome}")
    text = "; ".join(parts) + f"; metrics propose {proposal}"
    if stabilized is not None and stabilized != proposal:
        text += f", stabilized {stabilized}"
    return text


@dataclass(frozen=True)
class RowGroup:
    """HPA metric rows of one target kind (Utilization or AverageValue), as arrays that do
    not change over a run; ``slots`` place each row's proposal among its HPA's metrics."""

    utilization: bool
    rows: tuple[HpaRow, ...]
    hpa_of: IntArray
    slots: IntArray
    services: IntArray
    is_cpu: npt.NDArray[np.bool_]
    targets: IntArray
    requests: IntArray


def _row_groups(rows: list[HpaRow]) -> list[RowGroup]:
    """Utilization rows, then AverageValue rows; each HPA's slots filled in that order."""
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
        groups.append(
            RowGroup(
                utilization,
                group,
                np.array([r.hpa for r in group], dtype=np.int64),
                np.array(slots, dtype=np.int64),
                np.array([r.service for r in group], dtype=np.int64),
                np.array([r.resource == "cpu" for r in group]),
                np.array([r.target for r in group], dtype=np.int64),
                np.array([r.request_milli for r in group], dtype=np.int64),
            )
        )
    return groups


def hpa_template(config: KubernetesWorkload, base_dir: Any, name: str) -> HpaTemplate:
    """The HPA spec of workload ``name``: inline, or the one in its manifest file that
    scales it (else the file's first)."""
    if config.hpa is not None:
        return config.hpa
    assert config.hpa_manifest is not None
    found = load_hpas(base_dir / config.hpa_manifest)
    matching = [h for h in found if h.spec.scale_target_ref.name == name] or found
    return matching[0].spec


class KubernetesSim(PlatformSim):
    """One Kubernetes platform over the whole run (see the module docstring)."""

    def __init__(
        self, name: str, platform: KubernetesPlatform, inputs: Inputs, rng: np.random.Generator
    ) -> None:
        self.platform = platform
        self.configs = [platform.workloads[w.name] for w in inputs.scenario.workloads]
        self.templates: list[PodTemplate] = [
            pod_template(w, c) for w, c in zip(inputs.scenario.workloads, self.configs, strict=True)
        ]
        self.limit_cores = [
            (t.cpu_limit_millicores or t.cpu_request_millicores) / 1000.0 for t in self.templates
        ]
        limits = [
            limit
            for limit, w in zip(self.limit_cores, inputs.scenario.workloads, strict=True)
            if w.kind == "service"
        ]
        super().__init__(name, inputs, rng, limits)
        self.requests = [
            PodRequest(t.cpu_request_millicores, t.memory_request_bytes, t.gpu)
            for t in self.templates
        ]
        self.pods: list[list[Pod]] = [[] for _ in self.workloads]
        # Counters kept with every bind, readiness and deletion (no per-tick pod scans).
        self._ready = np.zeros(len(self.workloads), dtype=np.int64)
        self._bound = np.zeros(len(self.workloads), dtype=np.int64)
        self._request_cores = np.array([r.cpu_m / 1000.0 for r in self.requests])
        # The HPA's view of a pod only changes until it has settled (see _classify): settled
        # pods are counted, the others kept in a list and looked at each sync.
        self._settled = np.zeros(len(self.workloads), dtype=np.int64)
        self._unsettled: list[list[Pod]] = [[] for _ in self.workloads]
        self.pending: list[Pod] = []
        self.nodes: list[Node] = []
        self._removed: dict[int, float] = {}
        self.machines = Machines(BILLING_MINIMUM_S)
        self._version = 0  # bumped whenever pods or nodes change (scale-down cache key)
        self._candidates: tuple[int, set[int]] = (-1, set())
        self._next_id = 0
        self._last_scale_up_s = -math.inf
        self._last_scrape_s: float | None = None
        self._scrape_integral = np.zeros(len(self.services))
        self._cpu_sample_m = np.zeros(len(self.services), dtype=np.int64)
        self._memory_sample_milli = np.zeros(len(self.services), dtype=np.int64)
        self._setup_hpas()

    # --- configuration ---------------------------------------------------------------

    def _setup_hpas(self) -> None:
        scenario = self.inputs.scenario
        metrics = self.platform.metrics
        self.desired = np.zeros(len(self.workloads), dtype=np.int64)
        self.hpa_services: list[int] = []
        behaviors: list[hpa.Behavior | None] = []
        self.rows: list[HpaRow] = []
        mins: list[int] = []
        maxs: list[int] = []
        tol_up: list[float] = []
        tol_down: list[float] = []
        for s, w in enumerate(self.services):
            workload, config = self.workloads[w], self.configs[w]
            if config.hpa is None and config.hpa_manifest is None:
                self.desired[w] = config.replicas if config.replicas is not None else 1
                continue
            where = (
                f"{scenario.base_dir / scenario.name}: platforms.{self.name}.workloads."
                f"{workload.name}"
            )
            template = hpa_template(config, scenario.base_dir, workload.name)
            behavior = template.parsed_behavior
            index = len(self.hpa_services)
            self.hpa_services.append(s)
            behaviors.append(behavior)
            mins.append(template.min_replicas)
            maxs.append(template.max_replicas)
            up = behavior.scale_up.tolerance if behavior else None
            down = behavior.scale_down.tolerance if behavior else None
            tol_up.append(metrics.tolerance if up is None else up)
            tol_down.append(metrics.tolerance if down is None else down)
            for m, metric in enumerate(template.metrics):
                resource = metric.resource_name
                if metric.type != "Resource" or resource not in ("cpu", "memory"):
                    raise ScenarioError(
                        f"{where}.hpa.metrics[{m}]: only Resource cpu and memory metrics are "
                        f"simulated, got {metric.type} {metric.metric_name}"
                    )
                target = metric.target
                pod = self.templates[w]
                request = (
                    pod.cpu_request_millicores
                    if resource == "cpu"
                    else pod.memory_request_bytes * 1000
                )
                if target.type == "Utilization":
                    assert target.average_utilization is not None
                    self.rows.append(
                        HpaRow(s, index, resource, True, target.average_utilization, request)
                    )
                elif target.type == "AverageValue":
                    assert target.average_value is not None
                    value = target.average_value
                    self.rows.append(HpaRow(s, index, resource, False, value, request))
                else:
                    raise ScenarioError(
                        f"{where}.hpa.metrics[{m}]: a Resource metric needs a "
                        "Utilization or AverageValue target"
                    )
        self.hpa_min = np.array(mins, dtype=np.int64)
        self.hpa_max = np.array(maxs, dtype=np.int64)
        self.tol_up = np.array(tol_up)
        self.tol_down = np.array(tol_down)
        self.hpa_params = hpa.BatchBehavior.from_behaviors(
            behaviors, downscale_stabilization_s=metrics.downscale_stabilization_s
        )
        self.hpa_history = hpa.BatchHistory.for_behavior(
            self.hpa_params, sync_period_s=metrics.sync_period_s
        )
        self._held: list[tuple[str, int] | None] = [None] * len(self.hpa_services)
        self.hpa_behaviors = behaviors
        self.rows_of = [[r for r in self.rows if r.hpa == h] for h in range(len(self.hpa_services))]
        self.scalar_histories = [hpa.HpaHistory() for _ in self.hpa_services]
        self.metrics_per_hpa = max(
            (sum(1 for r in self.rows if r.hpa == h) for h in range(len(self.hpa_services))),
            default=1,
        )
        self._row_groups = _row_groups(self.rows)
        self._hpa_workloads = np.array(
            [self.services[s] for s in self.hpa_services], dtype=np.int64
        )

    def periods(self) -> list[tuple[str, float]]:
        metrics = self.platform.metrics
        jobs = [("scrape", metrics.metric_resolution_s), ("sync", metrics.sync_period_s)]
        if self.platform.cluster_autoscaler.enabled:
            jobs.append(("autoscale", self.platform.cluster_autoscaler.scan_interval_s))
        return jobs

    def handle(self, job: str, now: float) -> None:
        if job == "scrape":
            self._scrape(now)
        elif job == "sync":
            self._sync(now)
        else:
            self._cluster_autoscale(now)

    # --- state ----------------------------------------------------------------------

    def ready_replicas(self) -> IntArray:
        return self._ready[self.services].copy()

    def cpu_requested_cores(self) -> npt.NDArray[np.float64]:
        cores: npt.NDArray[np.float64] = (
            self._bound[self.services] * self._request_cores[self.services]
        )
        return cores

    def levels(self, now: float) -> Levels:
        ready = np.zeros(len(self.workloads), dtype=np.int64)
        ready[self.services] = self.ready_replicas()
        total = np.array([len(pods) for pods in self.pods], dtype=np.int64)
        cost, cores, memory, gpus = self.machines.totals(now)
        levels = Levels(
            self.desired.copy(), ready, total, len(self.nodes), cost, cores, memory, gpus
        )
        return self.with_batch(levels)

    # --- warm start ------------------------------------------------------------------

    def _initial_replicas(self) -> None:
        """Each HPA starts at what its metrics would ask for the first tick's load."""
        for h, s in enumerate(self.hpa_services):
            w = self.services[s]
            workload = self.workloads[w]
            assert workload.kind == "service"
            demand_cores = self.rates[0, s] * workload.cpu_ms_per_request / 1000.0
            needed = 1
            for row in (r for r in self.rows if r.hpa == h and r.resource == "cpu"):
                per_pod_m = (
                    row.request_milli * row.target / 100.0 if row.utilization else row.target
                )
                needed = max(needed, math.ceil(demand_cores * 1000.0 / per_pod_m))
            self.desired[w] = min(max(needed, int(self.hpa_min[h])), int(self.hpa_max[h]))

    def setup(self) -> None:
        self._initial_replicas()
        for pool in self.platform.node_pools:
            for _ in range(pool.min_nodes):
                self._add_node(pool.name, 0.0, ready_s=0.0)
        for w, count in enumerate(self.desired):
            for _ in range(int(count)):
                pod = self._new_pod(w, LONG_AGO_S)
                node = choose_node(self.nodes, self.requests[w], self.platform.scheduler)
                if node is None:
                    node = self._warm_node_for(self.requests[w])
                if node is None:
                    self.pending.append(pod)
                    continue
                node.add(pod.id, self.requests[w])
                pod.node, pod.bound_s = node, LONG_AGO_S
                pod.running_s = pod.ready_s = LONG_AGO_S
                self._bound[w] += 1
                self._ready[w] += 1
                node.images.add(self.workloads[w].name)

    def _warm_node_for(self, request: PodRequest) -> Node | None:
        for pool in self.platform.node_pools:
            count = sum(1 for n in self.nodes if n.pool == pool.name)
            if (
                count < pool.max_nodes
                and request.cpu_m <= pool.allocatable_cpu_millicores
                and request.memory_b <= pool.allocatable_memory_bytes
            ):
                return self._add_node(pool.name, 0.0, ready_s=0.0)
        return None

    # --- nodes -----------------------------------------------------------------------

    def _add_node(self, pool_name: str, now: float, ready_s: float | None) -> Node:
        pool = next(p for p in self.platform.node_pools if p.name == pool_name)
        node = Node(
            self._next_id,
            pool.name,
            pool.allocatable_cpu_millicores,
            pool.allocatable_memory_bytes,
            pool.gpu,
            now,
            ready_s,
        )
        self._next_id += 1
        self.nodes.append(node)
        self._version += 1
        self.machines.open(
            node.id,
            now,
            pool.price_per_hour,
            pool.vcpu_millicores / 1000.0,
            pool.memory_bytes,
            pool.gpu,
        )
        return node

    def _provision(self, pool_name: str, now: float) -> None:
        pool = next(p for p in self.platform.node_pools if p.name == pool_name)
        node = self._add_node(pool_name, now, ready_s=None)
        delay = float(pool.provision.sample(self.rng, 1)[0])
        self.recorder.event(now, "*", "node_requested", reason=pool_name, detail=f"node {node.id}")
        self.env.process(self._node_ready(node, delay))

    def _node_ready(self, node: Node, delay: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(delay)
        if node.id in self._removed:
            return
        node.ready_s = self.env.now
        self._version += 1
        self.recorder.event(self.env.now, "*", "node_ready", detail=f"node {node.id}")
        self._schedule_pending()

    def _remove_node(self, node: Node, now: float) -> None:
        self.nodes.remove(node)
        self._removed[node.id] = now
        self.machines.close(node.id, now)
        self._version += 1
        self.recorder.event(now, "*", "node_removed", reason="ScaleDown", detail=f"node {node.id}")
        for w, pods in enumerate(self.pods):
            for pod in [p for p in pods if p.node is node]:
                self._delete_pod(pod)
                self._create_pod(w, now)

    # --- pods ------------------------------------------------------------------------

    def _new_pod(self, w: int, now: float) -> Pod:
        pod = Pod(self._next_id, w, now)
        self._next_id += 1
        self.pods[w].append(pod)
        self._unsettled[w].append(pod)
        return pod

    def _create_pod(self, w: int, now: float) -> None:
        pod = self._new_pod(w, now)
        self.pending.append(pod)
        self._schedule_pending()

    def _schedule_pending(self) -> None:
        now = self.env.now
        self._schedule_service_pods(now)
        if self.queue:
            self._place_jobs(now)

    def _schedule_service_pods(self, now: float) -> None:
        for pod in list(self.pending):
            request = self.requests[pod.workload]
            node = choose_node(self.nodes, request, self.platform.scheduler)
            if node is None:
                continue
            node.add(pod.id, request)
            pod.node, pod.bound_s = node, now
            self._bound[pod.workload] += 1
            self._version += 1
            self.pending.remove(pod)
            self._pod_event(now, "pod_scheduled", pod)
            self.env.process(self._start(pod, node))

    def _pod_event(self, now: float, kind: str, pod: Pod) -> None:
        where = f" on node {pod.node.id}" if pod.node is not None else ""
        self.recorder.event(
            now, self.workloads[pod.workload].name, kind, detail=f"pod {pod.id}{where}"
        )

    def _container_up(self, pod: Pod, node: Node) -> Generator[simpy.Event, Any, None]:
        """Pull the image (unless the node has it) and start the container."""
        template = self.templates[pod.workload]
        image = self.workloads[pod.workload].name
        pull = 0.0
        if image not in node.images and template.image_size_bytes > 0:
            pull = template.image_size_bytes / template.pull_bandwidth_bytes_per_s
        start = float(template.container_start.sample(self.rng, 1)[0])
        yield self.env.timeout(pull + start)
        if not pod.deleted:
            node.images.add(image)
            pod.running_s = self.env.now
            self._pod_event(self.env.now, "pod_started", pod)

    def _start(self, pod: Pod, node: Node) -> Generator[simpy.Event, Any, None]:
        template = self.templates[pod.workload]
        yield from self._container_up(pod, node)
        if pod.deleted:
            return
        yield self.env.timeout(float(template.readiness_delay.sample(self.rng, 1)[0]))
        if pod.deleted:
            return
        pod.ready_s = self.env.now
        self._ready[pod.workload] += 1
        self._pod_event(self.env.now, "pod_ready", pod)

    def _delete_pod(self, pod: Pod) -> None:
        pod.deleted = True
        self._version += 1
        self._pod_event(self.env.now, "pod_deleted", pod)
        if pod.node is not None:
            pod.node.remove(pod.id, self.requests[pod.workload])
            self._bound[pod.workload] -= 1
        else:
            self.pending.remove(pod)
        if pod.ready_s is not None:
            self._ready[pod.workload] -= 1
        if pod.settled:
            self._settled[pod.workload] -= 1
        else:
            self._unsettled[pod.workload].remove(pod)
        self.pods[pod.workload].remove(pod)

    def _scale_to(self, w: int, replicas: int, now: float) -> None:
        pods = self.pods[w]
        if replicas > len(pods):
            for _ in range(replicas - len(pods)):
                self._create_pod(w, now)
            return
        # ReplicaSet order: unscheduled, not running, not Ready, then the newest.
        ranked = sorted(
            pods,
            key=lambda p: (
                p.node is not None,
                p.running_s is not None,
                p.ready_s is not None,
                -p.created_s,
                -p.id,
            ),
        )
        for pod in ranked[: len(pods) - replicas]:
            self._delete_pod(pod)
        self._schedule_pending()

    # --- batch jobs -------------------------------------------------------------------

    def submit(self, run: JobRun, now: float) -> None:
        self.enqueue(run)
        self._place_jobs(now)

    def _place_jobs(self, now: float) -> None:
        """Place queued jobs in queue order (gang: all workers or none)."""
        for run in list(self.queue):
            w, spec = run.workload, run.spec
            request = self.requests[w]
            if spec.gang:
                ids = range(self._next_id, self._next_id + spec.workers)
                nodes = place_all(self.nodes, [(i, request) for i in ids], self.platform.scheduler)
                if nodes is None:
                    continue
                placed = [(self._new_pod(w, now), node) for node in nodes]
            else:
                placed = []
                while run.placed + len(placed) < spec.workers:
                    node = choose_node(self.nodes, request, self.platform.scheduler)
                    if node is None:
                        break
                    pod = self._new_pod(w, now)
                    node.add(pod.id, request)
                    placed.append((pod, node))
            for pod, node in placed:
                self._bind_worker(run, pod, node, now)
            if run.placed == spec.workers:
                self.queue.remove(run)

    def _bind_worker(self, run: JobRun, pod: Pod, node: Node, now: float) -> None:
        """``pod`` (already added to ``node``) is bound: it starts, then computes."""
        pod.node, pod.bound_s = node, now
        self._bound[pod.workload] += 1
        self._version += 1
        self._pod_event(now, "pod_scheduled", pod)
        worker = run.placed
        limit = self.limit_cores[run.workload]
        self.worker_placed(run, self._request_cores[run.workload], limit)
        self.env.process(self._run_worker(run, worker, pod, node))

    def _run_worker(
        self, run: JobRun, worker: int, pod: Pod, node: Node
    ) -> Generator[simpy.Event, Any, None]:
        yield from self._container_up(pod, node)
        limit = self.limit_cores[run.workload]
        yield from self.work(run, worker, limit)
        self._delete_pod(pod)
        self.worker_removed(run, self._request_cores[run.workload], limit)
        self._schedule_pending()

    def _pending_requests(self) -> list[PodRequest]:
        """What the cluster autoscaler sees pending: service pods and unplaced workers."""
        requests = [self.requests[p.workload] for p in self.pending]
        for run in self.queue:
            requests.extend([self.requests[run.workload]] * (run.spec.workers - run.placed))
        return requests

    # --- metrics and the HPA -----------------------------------------------------------

    def _scrape(self, now: float) -> None:
        integral = self.cpu_integral_at(now)
        last = self._last_scrape_s
        if last is not None and now > last:
            cpu_cores = (integral - self._scrape_integral) / (now - last)
        else:
            cpu_cores = self.cpu_rate
        self._cpu_sample_m = np.rint(cpu_cores * 1000.0).astype(np.int64)
        self._memory_sample_milli = np.rint(self.memory_mib * 2**20 * 1000.0).astype(np.int64)
        self._scrape_integral = integral
        self._last_scrape_s = now

    def _classify(self, w: int, resource: str, now: float) -> tuple[int, int, int]:
        """(ready with samples, unready, missing) pods of workload ``w`` for ``resource``.

        A pod that is Ready, has run one metric window before the last scrape and is past
        the CPU initialization period counts as ready with samples for good (times only
        move on): it is *settled*, counted without being looked at again.
        """
        metrics = self.platform.metrics
        scrape = self._last_scrape_s
        window = metrics.metric_resolution_s
        init = metrics.cpu_initialization_period_s
        ready = int(self._settled[w])
        unready = missing = 0
        unsettled = self._unsettled[w]
        settling = False
        for pod in unsettled:
            if pod.running_s is None:
                unready += 1  # Pending: not yet running
                continue
            if scrape is None or pod.running_s + window > scrape + SAME_INSTANT_S:
                missing += 1  # no sample until the container has run one window
                continue
            start = pod.bound_s if pod.bound_s is not None else pod.created_s
            if pod.ready_s is not None and start + init <= now + SAME_INSTANT_S:
                pod.settled = settling = True
                ready += 1
                continue
            if resource == "cpu" and self._cpu_unready(pod, scrape, window, now):
                unready += 1
                continue
            ready += 1
        if settling:
            still = [pod for pod in unsettled if not pod.settled]
            self._settled[w] += len(unsettled) - len(still)
            self._unsettled[w] = still
        return ready, unready, missing

    def _cpu_unready(self, pod: Pod, sample_s: float, window: float, now: float) -> bool:
        metrics = self.platform.metrics
        start = pod.bound_s if pod.bound_s is not None else pod.created_s
        is_ready = pod.ready_s is not None
        transition = pod.ready_s if pod.ready_s is not None else start
        if start + metrics.cpu_initialization_period_s > now + SAME_INSTANT_S:
            return (not is_ready) or sample_s + SAME_INSTANT_S < transition + window
        return (not is_ready) and (
            start + metrics.initial_readiness_delay_s > transition + SAME_INSTANT_S
        )

    def _sync(self, now: float) -> None:
        """One HPA controller sync for every HPA of the platform.

        Up to ``SCALAR_HPAS`` HPAs go through the scalar :func:`~capsim.hpa.reconcile`
        (less overhead per call); more go through the batched form in one NumPy call. Both
        make the same decisions (hypothesis-tested in ``tests/hpa``).
        """
        if not self.hpa_services:
            return
        if len(self.hpa_services) <= SCALAR_HPAS:
            decisions = self._decide_scalar(now)
        else:
            decisions = self._decide_batch(now)
        self._apply(decisions, now)

    def _decide_scalar(self, now: float) -> list[Decided]:
        """(current, new, reason, metric proposal, facts) per HPA, one HPA at a time."""
        metrics = self.platform.metrics
        out: list[Decided] = []
        for h, s in enumerate(self.hpa_services):
            w = self.services[s]
            current = int(self.desired[w])
            proposals: list[int | hpa.MetricsError] = []
            facts: list[tuple[HpaRow, int, int, int, int, int | None]] = []
            for row in self.rows_of[h]:
                ready, unready, missing = self._classify(w, row.resource, now)
                sample = (
                    self._cpu_sample_m[s] if row.resource == "cpu" else self._memory_sample_milli[s]
                )
                replicas, ok = hpa.resource_replicas_counts(
                    current,
                    ready,
                    unready,
                    missing,
                    ready * int(sample),
                    row.request_milli,
                    target_utilization=row.target if row.utilization else None,
                    target_average_value_milli=None if row.utilization else row.target,
                    tolerance_up=float(self.tol_up[h]),
                    tolerance_down=float(self.tol_down[h]),
                )
                proposals.append(
                    replicas
                    if ok
                    else hpa.MetricsError(
                        f"no usable {row.resource} metrics (pods might be unready)"
                    )
                )
                facts.append((row, ready, unready, missing, int(sample), replicas if ok else None))
            decision = hpa.reconcile(
                current,
                proposals,
                min_replicas=int(self.hpa_min[h]),
                max_replicas=int(self.hpa_max[h]),
                behavior=self.hpa_behaviors[h],
                history=self.scalar_histories[h],
                now=now,
                downscale_stabilization_s=metrics.downscale_stabilization_s,
            )
            self.scalar_histories[h] = decision.history
            proposal = decision.metric_replicas if decision.metric_replicas is not None else current
            out.append(
                (
                    current,
                    decision.replicas,
                    decision.reason,
                    proposal,
                    (facts, decision.stabilized),
                )
            )
        return out

    def _decide_batch(self, now: float) -> list[Decided]:
        """(current, new, reason, metric proposal) per HPA, all HPAs in one NumPy call."""
        n_hpa = len(self.hpa_services)
        proposals = np.zeros((n_hpa, self.metrics_per_hpa), dtype=np.int64)
        ok = np.ones((n_hpa, self.metrics_per_hpa), dtype=np.bool_)
        current = self.desired[self._hpa_workloads]
        cpu_sample, memory_sample = self._cpu_sample_m, self._memory_sample_milli
        for group in self._row_groups:
            counts = np.array(
                [self._classify(self.services[r.service], r.resource, now) for r in group.rows],
                dtype=np.int64,
            ).reshape(-1, 3)
            sample = np.where(
                group.is_cpu, cpu_sample[group.services], memory_sample[group.services]
            )
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
        decision = hpa.reconcile_batch(
            current,
            proposals,
            ok,
            min_replicas=self.hpa_min,
            max_replicas=self.hpa_max,
            params=self.hpa_params,
            history=self.hpa_history,
            now=now,
        )
        self.hpa_history = decision.history
        return [
            (
                int(current[h]),
                int(decision.replicas[h]),
                hpa.REASONS[int(decision.reason[h])],
                int(decision.metric_replicas[h]),
                None,
            )
            for h in range(n_hpa)
        ]

    def _apply(self, decisions: list[Decided], now: float) -> None:
        """Scale the workloads and log what each HPA decided."""
        for h, (old, new, reason, proposal, facts) in enumerate(decisions):
            w = self.services[self.hpa_services[h]]
            name = self.workloads[w].name
            if new != old:
                detail = _explain(proposal, facts)
                self.recorder.event(now, name, "scale", old, new, reason, detail)
                self.desired[w] = new
                self._scale_to(w, new, now)
                self._held[h] = None
            elif proposal != old and reason != "DesiredWithinRange":
                # Held back (stabilization, rate limit, bounds): logged when it starts or
                # changes, not at every sync while it lasts.
                if self._held[h] != (reason, proposal):
                    detail = _explain(proposal, facts)
                    self.recorder.event(now, name, "hpa_hold", old, new, reason, detail)
                self._held[h] = (reason, proposal)
            else:
                self._held[h] = None

    # --- cluster autoscaler ------------------------------------------------------------

    @functools.cached_property
    def _pool_limits(self) -> list[PoolLimits]:
        return [
            PoolLimits(
                p.name,
                p.allocatable_cpu_millicores,
                p.allocatable_memory_bytes,
                p.gpu,
                p.max_nodes,
                p.min_nodes,
            )
            for p in self.platform.node_pools
        ]

    def _cluster_autoscale(self, now: float) -> None:
        pools = self._pool_limits
        pending = self._pending_requests() if self.pending or self.queue else []
        if pending:
            counts: dict[str, int] = {}
            for node in self.nodes:
                counts[node.pool] = counts.get(node.pool, 0) + 1
            # Room on every node counts, ready or provisioning: the autoscaler's
            # filter-out-schedulable pass (a gang's workers may partly fit already).
            wanted = plan_scale_up(pending, self.nodes, pools, counts)
            for pool_name, count in wanted.items():
                for _ in range(count):
                    self._provision(pool_name, now)
                self._last_scale_up_s = now
        self._scale_down(now, pools)

    def _scale_down(self, now: float, pools: list[PoolLimits]) -> None:
        ca = self.platform.cluster_autoscaler
        if self._candidates[0] != self._version:
            # Which nodes could go depends only on what is placed where: recomputed only
            # after pods or nodes changed.
            requests_of = {
                p.id: self.requests[p.workload] for pods in self.pods for p in pods if p.node
            }
            found = {n.id for n in scale_down_candidates(self.nodes, requests_of)}
            found -= {p.node.id for w in self.batch for p in self.pods[w] if p.node is not None}
            self._candidates = (self._version, found)
        candidates = self._candidates[1]
        for node in self.nodes:
            if node.id not in candidates:
                node.unneeded_since_s = None
            elif node.unneeded_since_s is None:
                node.unneeded_since_s = now
        if now - self._last_scale_up_s < ca.scale_down_delay_after_add_s:
            return
        due = ca.scale_down_unneeded_s
        if not any(
            n.unneeded_since_s is not None and now - n.unneeded_since_s >= due for n in self.nodes
        ):
            return
        minimum = {p.name: p.min_nodes for p in pools}
        removed_busy = False
        for node in sorted(self.nodes, key=lambda n: (len(n.pods), -n.id)):
            since = node.unneeded_since_s
            if since is None or now - since < ca.scale_down_unneeded_s:
                continue
            if sum(1 for n in self.nodes if n.pool == node.pool) <= minimum[node.pool]:
                continue
            if node.pods and removed_busy:
                continue
            removed_busy = removed_busy or bool(node.pods)
            self._remove_node(node, now)
