"""metrics-server as the HPA sees it: per-pod resource samples and which pods count.

Every ``metric_resolution_s`` a scrape takes, per service, the mean CPU its replicas used
over the window since the previous scrape, and the memory in use now. All replicas of a
service share the service model's per-replica usage, so one sample per service stands
for each of its pods. A pod has no sample until its container has run for one window
(``missing`` to the HPA). The HPA sees each pod as upstream does: ``startTime`` is when
the pod was scheduled, its Ready condition turns true at readiness, and the CPU
initialization period and the initial readiness delay apply
(:func:`capsim.hpa.cpu_sample_unready`, the rule the HPA maths use).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from capsim.engine.kubernetes.pods import Pod, PodSet
from capsim.hpa import cpu_sample_unready
from capsim.models.schedule import SAME_INSTANT_S
from capsim.scenario import MetricsPipeline

__all__ = ["PodCounts", "ResourceMetrics"]

FloatArray = npt.NDArray[np.float64]


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

    def scrape(
        self, now: float, cpu_integral: FloatArray, cpu_rate: FloatArray, memory_mib: FloatArray
    ) -> None:
        """Sample every service: ``cpu_integral`` is core-seconds per replica from 0 to
        ``now``, ``cpu_rate`` the cores per replica now (the first scrape's sample)."""
        last = self.last_scrape_s
        if last is not None and now > last:
            cpu_cores = (cpu_integral - self._integral) / (now - last)
        else:
            cpu_cores = cpu_rate
        self.cpu_milli = np.rint(cpu_cores * 1000.0).astype(np.int64)
        self.memory_milli = np.rint(memory_mib * 2**20 * 1000.0).astype(np.int64)
        self._integral = cpu_integral
        self.last_scrape_s = now

    def sample(self, service: int, resource: str) -> int:
        """The latest per-pod sample of ``service`` (milli-cores or milli-bytes)."""
        values = self.cpu_milli if resource == "cpu" else self.memory_milli
        return int(values[service])

    def count_pods(self, w: int, resource: str, now: float) -> PodCounts:
        """Group the pods of workload ``w`` for ``resource`` as upstream ``groupPods``.

        A pod that is Ready, has run one metric window before the last scrape and is past
        the CPU initialization period counts as ready with samples for good (times only
        move on): it is *settled*, counted without being looked at again.
        """
        scrape = self.last_scrape_s
        window = self.config.metric_resolution_s
        init = self.config.cpu_initialization_period_s
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
            start = pod.bound_s if pod.bound_s is not None else pod.created_s
            if pod.ready_s is not None and start + init <= now + SAME_INSTANT_S:
                pod.settled = settling = True
                ready += 1
                continue
            if resource == "cpu" and self._cpu_unready(pod, start, scrape, now):
                unready += 1
                continue
            ready += 1
        if settling:
            self.pods.settle(w)
        return PodCounts(ready, unready, missing)

    def _cpu_unready(self, pod: Pod, start: float, sample_s: float, now: float) -> bool:
        return cpu_sample_unready(
            ready=pod.ready_s is not None,
            start_s=start,
            ready_transition_s=pod.ready_s if pod.ready_s is not None else start,
            sample_time_s=sample_s,
            window_s=self.config.metric_resolution_s,
            now=now,
            cpu_initialization_period_s=self.config.cpu_initialization_period_s,
            initial_readiness_delay_s=self.config.initial_readiness_delay_s,
            same_instant_s=SAME_INSTANT_S,
        )
