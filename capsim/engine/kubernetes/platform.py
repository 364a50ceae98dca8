"""A Kubernetes platform: node pools, pods, metrics-server, HPAs and the cluster autoscaler.

This module wires the platform's parts together; each part is a module of this package
and its docstring states its modelling assumptions (every default is listed in
``docs/scenario-reference.md``):

* :mod:`.cluster`: pods and nodes, and what happens to them (scheduling, image pulls,
  container start, readiness, the ReplicaSet, node provisioning and removal), with the
  bookkeeping in :mod:`.pods` and :mod:`.nodes` (billing per second, 60 s minimum);
* :mod:`.metrics`: metrics-server's samples and the HPA's view of each pod;
* :mod:`.hpa_controller`: every HPA, synced with the exact maths of :mod:`capsim.hpa`;
* :mod:`.cluster_autoscaler`: scale-up for pending pods, scale-down of unneeded nodes;
* :mod:`.jobs`: batch jobs' workers as pods (gang placement, queue order);
* :mod:`.warm_start`: the state at time 0.

*Traffic and CPU.* Only Ready pods receive traffic. A replica's CPU is capped at its
limit, or at its request when no limit is set (a conservative choice).

Periodic work at equal times runs in this order: the metrics scrape, the HPA sync, the
cluster autoscaler.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from capsim.engine.batch import JobRun
from capsim.engine.kubernetes.cluster import Cluster
from capsim.engine.kubernetes.cluster_autoscaler import ClusterAutoscaler
from capsim.engine.kubernetes.hpa_controller import HpaController, has_hpa
from capsim.engine.kubernetes.jobs import JobPlacement
from capsim.engine.kubernetes.keda import KedaOperator, MetricSource, ScaledObjectRun
from capsim.engine.kubernetes.metrics import ResourceMetrics
from capsim.engine.kubernetes.warm_start import initial_hpa_replicas, place_warm, warm_keda
from capsim.engine.platform import PlatformSim
from capsim.engine.recorder import Levels
from capsim.engine.schedule import PeriodicTask
from capsim.models.packing import PodRequest
from capsim.scenario import KubernetesPlatform, PodTemplate, ServiceWorkload, pod_template
from capsim.scenario.inputs import Inputs
from capsim.scenario.keda import trigger_rules
from capsim.scenario.platforms import keda_spec

__all__ = ["KubernetesSim"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def pod_request(platform: KubernetesPlatform, template: PodTemplate) -> PodRequest:
    """What a pod asks the scheduler for, and the pools it may use (``None``: all of
    them, as without taints or selectors)."""
    allowed, avoid = platform.pools_for(template)
    every = len(allowed) == len(platform.node_pools) and not avoid
    return PodRequest(
        template.cpu_request_millicores,
        template.memory_request_bytes,
        template.gpu,
        None if every else allowed,
        avoid,
    )


class KubernetesSim(PlatformSim):
    """One Kubernetes platform over the whole run (see the module docstring)."""

    def __init__(
        self, name: str, platform: KubernetesPlatform, inputs: Inputs, rng: np.random.Generator
    ) -> None:
        scenario = inputs.scenario
        self.platform = platform
        self.configs = [platform.workloads[w.name] for w in scenario.workloads]
        self.templates: list[PodTemplate] = [
            pod_template(w, c) for w, c in zip(scenario.workloads, self.configs, strict=True)
        ]
        self.limit_cores = [
            (t.cpu_limit_millicores or t.cpu_request_millicores) / 1000.0 for t in self.templates
        ]
        limits = [
            limit
            for limit, w in zip(self.limit_cores, scenario.workloads, strict=True)
            if w.kind == "service"
        ]
        routing = [
            c.routing
            for c, w in zip(self.configs, inputs.scenario.workloads, strict=True)
            if isinstance(w, ServiceWorkload)
        ]
        self.accelerators = [
            (float(t.gpu), platform.gpu_memory_mib_for(t) if t.gpu else None)
            for t in self.templates
        ]
        accelerators = [
            a for a, w in zip(self.accelerators, scenario.workloads, strict=True)
            if w.kind == "service"
        ]  # fmt: skip
        interceptors = [
            None
            if c.interceptor is None
            else (c.interceptor.timeout_s or w.timeout_s, c.interceptor.max_pending)
            for c, w in zip(self.configs, scenario.workloads, strict=True)
            if isinstance(w, ServiceWorkload)
        ]
        super().__init__(name, inputs, rng, limits, routing, accelerators, interceptors)
        self.names = [w.name for w in self.workloads]
        requests = [pod_request(platform, t) for t in self.templates]
        self._request_cores = np.array([r.cpu_m / 1000.0 for r in requests])
        self._service_at = np.array(self.services, dtype=np.intp)
        self._batch_at = np.array(
            [w for w in range(len(self.workloads)) if w not in set(self.services)], dtype=np.intp
        )
        self._service_request_cores = self._request_cores[self._service_at]
        self.cluster = Cluster(
            self.env, rng, self.recorder, platform, self.names, self.templates, requests
        )
        self.placement = JobPlacement(self.cluster, self.batch_jobs, self.limit_cores)
        self.cluster.place_jobs = self.placement.place
        self.metrics = ResourceMetrics(platform.metrics, self.cluster.pods, len(self.services))
        # Each workload's Deployment replicas: fixed ones now, HPA ones at the warm start.
        self.desired = np.zeros(len(self.workloads), dtype=np.int64)
        for w in self.services:
            config = self.configs[w]
            if not has_hpa(config):
                self.desired[w] = config.replicas if config.replicas is not None else 1
        runs = self._scaled_objects(scenario.base_dir)
        self.source = MetricSource(
            {w: self.configs[w].metric_outages for w in self.services}, runs, self.recorder
        )
        self.hpas = HpaController(
            name,
            platform,
            self.workloads,
            self.configs,
            self.templates,
            self.services,
            str(scenario.base_dir / scenario.name),
            scenario.base_dir,
            desired=self.desired,
            metrics=self.metrics,
            scale_to=self.cluster.scale_to,
            recorder=self.recorder,
            source=self.source,
        )
        self.keda = KedaOperator(
            runs,
            desired=self.desired,
            metrics=self.metrics,
            scale_to=self.cluster.scale_to,
            recorder=self.recorder,
            source=self.source,
        )
        self.autoscaler = ClusterAutoscaler(
            self.cluster, platform, self.placement.pending_requests, self.batch_jobs.batch
        )

    def _scaled_objects(self, base_dir: Path) -> list[ScaledObjectRun]:
        """Each service a KEDA ScaledObject scales, with its triggers' rules."""
        runs = []
        for s, w in enumerate(self.services):
            config, name = self.configs[w], self.names[w]
            spec = keda_spec(config, base_dir, name)
            if spec is not None:
                rules = trigger_rules(spec, dict(config.keda_metrics))
                runs.append(ScaledObjectRun.of(w, s, name, spec, rules))
        return runs

    def tasks(self) -> list[PeriodicTask]:
        metrics = self.platform.metrics
        tasks = [
            PeriodicTask("metrics-scrape", metrics.metric_resolution_s, self._scrape),
            PeriodicTask("hpa-sync", metrics.sync_period_s, self.hpas.sync),
            *self.keda.tasks(),
        ]
        autoscaler = self.platform.cluster_autoscaler
        if autoscaler.enabled:
            tasks.append(
                PeriodicTask(
                    "cluster-autoscaler",
                    autoscaler.scan_interval_s,
                    self.autoscaler.scan,
                    self.autoscaler.idle,
                )
            )
        return tasks

    def _scrape(self, now: float) -> None:
        self.metrics.scrape(
            now, now - self.tick_start_s, self.cpu_integral, self.cpu_rate, self.memory_mib,
            self.pods_integral, self.pods_rate,
        )  # fmt: skip

    # --- state ----------------------------------------------------------------------

    def ready_replicas(self) -> IntArray:
        return self.cluster.pods.ready[self._service_at]  # (a copy: fancy indexing)

    def cpu_requested_cores(self) -> FloatArray:
        cores: FloatArray = self.cluster.pods.bound[self._service_at] * self._service_request_cores
        return cores

    def levels(self, now: float) -> Levels:
        pods = self.cluster.pods
        ready = pods.ready.copy()
        ready[self._batch_at] = 0  # (their workers' levels: batch_jobs.with_batch)
        total = pods.count.copy()
        cost, cores, memory, gpus = self.cluster.nodes.machines.totals(now)
        fees = self.platform.control_plane_per_hour + self.platform.load_balancer_per_hour
        cost += fees * now / 3600.0  # (fees: per hour held)
        nodes = len(self.cluster.nodes.nodes)
        levels = Levels(self.desired.copy(), ready, total, nodes, cost, cores, memory, gpus)
        return self.batch_jobs.with_batch(levels)

    def setup(self) -> None:
        warm = initial_hpa_replicas(
            self.hpas,
            self.rates[0],
            self.workloads,
            self.limit_cores,
            self.recorder,
            [c.routing for c in self.configs],
            self.accelerators,
        )
        for w, replicas in warm.items():
            self.desired[w] = replicas
        warm_keda(
            self.keda.runs,
            self.desired,
            self.rates[0],
            self.workloads,
            self.limit_cores,
            [c.routing for c in self.configs],
            self.accelerators,
        )
        place_warm(self.cluster, self.platform, self.desired, self.names)

    def submit(self, run: JobRun, now: float) -> None:
        self.placement.submit(run, now)
