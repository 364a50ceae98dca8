"""The HPA's metrics: metrics-server's per-pod resource samples, a metrics adapter's
per-pod request metrics, and which pods count.

Every ``metric_resolution_s`` a scrape takes, per service, the mean CPU its replicas used
over the window since the previous scrape, and the memory in use now. All replicas of a
service share the service model's per-replica usage, so one sample per service stands
for each of its pods. A pod has no sample until its container has run for one window
(``missing`` to the HPA). The HPA sees each pod as upstream does: ``startTime`` is when
the pod was scheduled, its Ready condition turns true at readiness, and the CPU
initialization period and the initial readiness delay apply
(:func:`capsim.hpa.calculator.cpu_unready_rule`, the rule the HPA maths use, for a pod
that has started).

**Pods metrics** (``type: Pods``, :data:`~capsim.scenario.manifests.SIMULATED_POD_METRICS`):
``requests_in_flight`` (requests in a pod: in service plus queued) and
``requests_per_second`` (requests it served per second), as the custom metrics API serves
them through a metrics adapter (prometheus-adapter) whose query averages the app's series
over a window, ``avg_over_time(in_flight[1m])`` or ``rate(requests_total[1m])``. The
window is :data:`PODS_METRIC_WINDOW_S` (60 s) rounded to a whole number of scrapes (at
least one), so it always starts at an earlier scrape; each scrape (same times as the
resource scrape) takes per service the time mean over the window of the value per ready
pod (the platform's integrals, :func:`capsim.engine.folding.scrape_samples`),
rounded to milli-units as a quantity. Before time 0 the warm pods ran at the first
tick's values. Ready pods share a service's traffic evenly in the model, so every pod
with a sample reports that mean.

**Object and External metrics** (:data:`~capsim.scenario.manifests.SIMULATED_SERVICE_METRICS`)
are the service-wide sums (requests waiting, in the service, served per second,
arriving per second), averaged over the same window and scraped at the same times as the
Pods metrics, as a Prometheus query over the app's series gives them to an adapter.

Which pods have a sample: a pod that has been Ready for one whole window before the
scrape (its series then covers only time it served traffic, so the per-ready-pod mean is
its own). A pod Pending is *unready*; a pod running but not Ready yet, or Ready for less
than a window, is *missing*. Upstream groups the pods of a Pods metric with no
readiness or start-up rule (``groupPods`` with resource ``""``): Pending → unready, no
sample → missing, the rest ready, which is what :meth:`ResourceMetrics.count_pods` does
for these metrics. (An app that serves its metrics before it is Ready reports 0 for the
time it was not; upstream then counts those zeros. Counted as missing here instead, they
are filled with 0 on a scale-up, which is the same, and with the target on a
scale-down, which holds the size instead of pulling it down.)
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from capsim.engine.folding import compiled_folds
from capsim.engine.kubernetes.pods import PodSet
from capsim.hpa.calculator import cpu_unready_rule
from capsim.models.schedule import SAME_INSTANT_S
from capsim.scenario import MetricsPipeline
from capsim.scenario.manifests import (
    METRIC_COLUMNS,
    SIMULATED_POD_METRICS,
    pod_metric_column,
    service_metric_column,
)

__all__ = [
    "METRIC_COLUMNS",
    "PODS_METRIC_WINDOW_S",
    "PodCounts",
    "ResourceMetrics",
    "pod_metric_column",
    "service_metric_column",
]


PODS_METRIC_WINDOW_S: Final = 60.0
"""The window a metrics adapter averages a Pods metric over (``[1m]``), in seconds;
rounded to a whole number of scrapes (see the module docstring)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class PodCounts(NamedTuple):
    """A workload's pods for one resource metric, as the replica calculator groups them."""

    ready: int  # ready, with a sample
    unready: int  # Pending, or left out by the CPU start-up rule
    missing: int  # running, but no sample yet


class ResourceMetrics:
    """The latest scrape of every service, and the HPA's grouping of their pods."""

    def __init__(self, config: MetricsPipeline, pods: PodSet, n_services: int) -> None:
        self.config = config
        self.pods = pods
        self.last_scrape_s: float | None = None
        self._integral = np.zeros(n_services)
        self.cpu_milli = np.zeros(n_services, dtype=np.int64)  # per pod, per service
        self.memory_milli = np.zeros(n_services, dtype=np.int64)  # milli-bytes per pod
        # Pods metrics: the window in scrapes and seconds, the integrals at the last
        # scrapes (oldest first), and where they were at the first scrape
        resolution = config.metric_resolution_s
        self.pods_window_scrapes = max(1, round(PODS_METRIC_WINDOW_S / resolution))
        self.pods_window_s = self.pods_window_scrapes * resolution
        # the Pods metrics' integrals at the last scrapes (a ring of the window's
        # scrapes + 1), and the first scrape's integrals and rates
        n_metrics = METRIC_COLUMNS
        self._pods_ring = np.zeros((self.pods_window_scrapes + 1, n_services, n_metrics))
        self._first_pods = np.zeros((2, n_services, n_metrics))
        self._first_scrape_s: float | None = None
        self._scrapes = 0
        # per service: requests in flight, requests/s served (milli-units per pod), then
        # the service-wide metrics (SIMULATED_SERVICE_METRICS, milli-units per service)
        self.pods_milli = np.zeros((n_services, n_metrics), dtype=np.int64)

    def scrape(
        self,
        now: float,
        elapsed_s: float,
        cpu_integral: FloatArray,
        cpu_rate: FloatArray,
        memory_mib: FloatArray,
        pods_integral: FloatArray,
        pods_rate: FloatArray,
    ) -> None:
        """Sample every service ``elapsed_s`` into the current tick.

        ``cpu_integral`` is core-seconds per replica from 0 to the tick's start and
        ``cpu_rate`` the cores per replica during it (the first scrape's sample); the
        CPU sample is the mean since the last scrape. ``pods_integral`` (services ×
        metrics, in :data:`SIMULATED_POD_METRICS` order) holds the integrals of each
        Pods metric per ready pod to the tick's start and ``pods_rate`` their values
        during it; their sample is the mean over the Pods-metric window, reaching back
        before the first scrape at the first scrape's rates (what the warm pods ran
        at). See :func:`capsim.engine.folding.scrape_samples`.
        """
        last = self.last_scrape_s
        span_s = now - last if last is not None and now > last else 0.0
        first = self._first_scrape_s is None
        if first:
            self._first_scrape_s = now
        assert self._first_scrape_s is not None
        ring = self._pods_ring.shape[0]  # the window's scrapes + 1
        count = self._scrapes + 1
        slot = (count - 1) % ring
        start_slot = count % ring if count > self.pods_window_scrapes else -1
        back_s = now - self.pods_window_s - self._first_scrape_s
        compiled_folds()[2](
            elapsed_s, span_s, back_s, self.pods_window_s, slot, start_slot, first,
            cpu_integral, cpu_rate, memory_mib, pods_integral, pods_rate, self._integral,
            self._pods_ring, self._first_pods, self.cpu_milli, self.memory_milli,
            self.pods_milli,
        )  # fmt: skip
        self._scrapes = count
        self.last_scrape_s = now

    def service_sample(self, service: int, name: str) -> int:
        """The latest service-wide sample of ``service`` for an Object or External
        metric (a name of :data:`SIMULATED_SERVICE_METRICS`), in milli-units."""
        return int(self.pods_milli[service, service_metric_column(name)])

    def sample(self, service: int, resource: str) -> int:
        """The latest per-pod sample of ``service``: milli-cores (``cpu``), milli-bytes
        (``memory``) or milli-units of a Pods metric (its name)."""
        if resource in SIMULATED_POD_METRICS:
            return int(self.pods_milli[service, pod_metric_column(resource)])
        values = self.cpu_milli if resource == "cpu" else self.memory_milli
        return int(values[service])

    def samples(self, services: IntArray, resource: str) -> IntArray:
        """:meth:`sample` of each of ``services`` for one ``resource``."""
        if resource in SIMULATED_POD_METRICS:
            column: IntArray = self.pods_milli[services, pod_metric_column(resource)]
            return column
        values = self.cpu_milli if resource == "cpu" else self.memory_milli
        picked: IntArray = values[services]
        return picked

    def count_pods(self, w: int, resource: str, now: float) -> PodCounts:
        """Group the pods of workload ``w`` for ``resource`` (``cpu``, ``memory`` or a Pods
        metric's name) as upstream ``groupPods``.

        A pod that is Ready, has run one metric window before the last scrape, has been
        Ready for one Pods-metric window before it, and is past the CPU initialization
        period counts as ready with samples for good, for every metric (times only move
        on): it is *settled*, counted without being looked at again.
        """
        scrape = self.last_scrape_s
        window = self.config.metric_resolution_s
        init = self.config.cpu_initialization_period_s
        readiness_delay = self.config.initial_readiness_delay_s
        pods_metric = resource in SIMULATED_POD_METRICS
        ready = int(self.pods.settled[w])
        unready = missing = 0
        settling = False
        for pod in self.pods.unsettled[w]:
            if pod.running_s is None:
                unready += 1  # Pending: not yet running
                continue
            if scrape is None or pod.running_s + window > scrape + SAME_INSTANT_S:
                missing += 1  # no sample until the container has run one window
                continue
            served_window = (
                pod.ready_s is not None
                and pod.ready_s + self.pods_window_s <= scrape + SAME_INSTANT_S
            )
            if pods_metric and not served_window:
                missing += 1  # no series over a whole window of serving yet
                continue
            start = pod.bound_s if pod.bound_s is not None else pod.created_s
            if served_window and start + init <= now + SAME_INSTANT_S:
                pod.settled = settling = True
                ready += 1
                continue
            if resource == "cpu" and cpu_unready_rule(
                pod.ready_s is not None,
                start,
                pod.ready_s if pod.ready_s is not None else start,
                scrape,
                window,
                now,
                init,
                readiness_delay,
                SAME_INSTANT_S,
            ):
                unready += 1
                continue
            ready += 1
        if settling:
            self.pods.settle(w)
        return PodCounts(ready, unready, missing)
