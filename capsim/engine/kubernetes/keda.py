"""KEDA's operator on a Kubernetes platform: every ScaledObject's poll, every
``pollingInterval`` from time 0, moving its workload to and from zero (or
``idleReplicaCount``) by the pure rules of :mod:`capsim.models.keda`; the HPA KEDA created
(:func:`capsim.scenario.keda.keda_hpa`) scales it in between, in the platform's HPA
controller.

A trigger's value at a poll is the latest scrape of the simulated metric it measures
(the service's total over the adapter's window, :mod:`.metrics`), as a scaler's query
over the app's series would return; the trigger is active above its activation
threshold. The ScaledObject was created long before the run (its initial cooldown has
passed); the warm start sets the size of an inactive one to zero (or idle), and an active
one was last active at time 0. Each change of size is a ``scale`` event with KEDA's
reason; nothing is logged while KEDA leaves the size to the HPA.

**Outages** (a workload's ``metric_outages``): :class:`MetricSource` says which reads of
an Object or External metric, or of a KEDA trigger, fail; it keeps each trigger's count
of failures in a row (the operator's polls and the HPA's queries both count, as KEDA's
metrics server and operator both go through its fallback) and, past the ScaledObject's
``fallback.failureThreshold``, gives the HPA the fallback metric instead
(:func:`capsim.models.keda.fallback_metric_milli`). A ``fallback`` event marks when a
ScaledObject starts and stops falling back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from capsim.engine.kubernetes.metrics import ResourceMetrics
from capsim.engine.recorder import PlatformRecorder
from capsim.engine.schedule import PeriodicTask
from capsim.models.keda import KedaConfig, fallback_metric_milli, fallback_replicas, keda_step
from capsim.scenario.keda import KedaFallback, ScaledObjectSpec, TriggerRule
from capsim.scenario.platforms import MetricOutage

__all__ = ["KedaOperator", "MetricSource", "ScaledObjectRun"]

IntArray = npt.NDArray[np.int64]

CREATED_S = -86_400.0
"""When the ScaledObjects were created: a day before the run (as the warm start's pods)."""


@dataclass
class ScaledObjectRun:
    """One ScaledObject in a run: its workload and service, rules and state."""

    workload: int  # index among the scenario's workloads
    service: int  # index among the platform's services
    name: str
    period_s: float
    config: KedaConfig
    rules: tuple[TriggerRule, ...]
    last_active_s: float | None = None
    fallback: KedaFallback | None = None
    failures: list[int] | None = None  # per trigger: failed reads in a row
    falling_back: bool = False

    @classmethod
    def of(
        cls,
        workload: int,
        service: int,
        name: str,
        spec: ScaledObjectSpec,
        rules: Sequence[TriggerRule],
    ) -> ScaledObjectRun:
        config = KedaConfig(
            min_replicas=spec.min_replicas,
            idle_replicas=spec.idle_replica_count,
            cooldown_s=float(spec.cooldown_period),
            initial_cooldown_s=float(spec.initial_cooldown_period),
            created_s=CREATED_S,
        )
        return cls(
            workload, service, name, float(spec.polling_interval), config, tuple(rules),
            fallback=spec.fallback, failures=[0] * len(rules),
        )  # fmt: skip

    def active(self, values: Mapping[str, int], failing: frozenset[int] = frozenset()) -> bool:
        """Any trigger above its activation threshold (milli-units of ``values``; a trigger
        whose position is in ``failing`` is not active); with only cpu and memory
        triggers, always (they never activate, and KEDA counts the ScaledObject active)."""
        scalers = [r for r in self.rules if r.activation_milli is not None]
        if not scalers:
            return True
        return any(
            values[r.metric] > (r.activation_milli or 0)
            for i, r in enumerate(self.rules)
            if r.activation_milli is not None and i not in failing
        )


class MetricSource:
    """Which reads of the metrics source fail, and KEDA's fallback (module docstring)."""

    def __init__(
        self,
        outages: Mapping[int, Sequence[MetricOutage]],
        runs: Sequence[ScaledObjectRun],
        recorder: PlatformRecorder,
    ) -> None:
        self._outages = {w: tuple(o) for w, o in outages.items() if o}
        self._runs = {run.workload: run for run in runs}
        self._recorder = recorder

    def affects(self, workload: int) -> bool:
        """Whether workload ``workload``'s metrics source ever goes down in the run."""
        return workload in self._outages

    def down(self, workload: int, now: float) -> bool:
        """Whether workload ``workload``'s metrics source is unreachable at ``now``."""
        return any(o.covers(now) for o in self._outages.get(workload, ()))

    def failing(self, run: ScaledObjectRun, now: float) -> frozenset[int]:
        """The triggers of ``run`` whose scaler fails at a poll at ``now`` (cpu and memory
        come from metrics-server: never); each counts the failure or its success."""
        down = self.down(run.workload, now)
        failed = frozenset(i for i, r in enumerate(run.rules) if down and not r.resource)
        for i, r in enumerate(run.rules):
            if not r.resource:
                self._count(run, i, i in failed, now)
        return failed

    def hpa_value(
        self, workload: int, slot: int, sample_milli: int, target_milli: int,
        value_target: bool, current: int, ready: int, now: float,
    ) -> int | None:  # fmt: skip
        """What the HPA reads for the Object/External metric in ``slot`` of workload
        ``workload``'s HPA: the sample, the fallback metric, or None (an error)."""
        if not self.affects(workload):
            return sample_milli
        run = self._runs.get(workload)
        down = self.down(workload, now)
        if run is not None:
            self._count(run, slot, down, now)
        if not down:
            return sample_milli
        fallback = None if run is None else run.fallback
        if run is None or fallback is None or run.failures is None:
            return None
        if run.failures[slot] <= fallback.failure_threshold:
            return None
        replicas = fallback_replicas(fallback.behavior, fallback.replicas, current)
        return fallback_metric_milli(target_milli, replicas, value_target, ready)

    def _count(self, run: ScaledObjectRun, slot: int, failed: bool, now: float) -> None:
        """One read of trigger ``slot``: a failure counts (with a fallback set, as KEDA
        counts), a success resets; the ScaledObject's fallback state follows."""
        if run.fallback is None or run.failures is None:
            return
        run.failures[slot] = run.failures[slot] + 1 if failed else 0
        now_falling = any(f > run.fallback.failure_threshold for f in run.failures)
        if now_falling != run.falling_back:
            run.falling_back = now_falling
            reason = (
                "KEDAScaledObjectFallbackActivated"
                if now_falling
                else "KEDAScaledObjectFallbackDeactivated"
            )
            detail = (
                f"a trigger failed {run.fallback.failure_threshold + 1} times in a row: "
                f"fallback ({run.fallback.behavior}, replicas {run.fallback.replicas})"
                if now_falling
                else "the triggers read again"
            )
            self._recorder.event(now, run.name, "fallback", None, None, reason, detail)


class KedaOperator:
    """Every ScaledObject of one platform (see the module docstring)."""

    def __init__(
        self,
        runs: Sequence[ScaledObjectRun],
        *,
        desired: IntArray,
        metrics: ResourceMetrics,
        scale_to: Callable[[int, int, float], None],
        recorder: PlatformRecorder,
        source: MetricSource | None = None,
    ) -> None:
        self.runs = list(runs)
        self.source = source
        self.desired = desired
        self.metrics = metrics
        self._scale_to = scale_to
        self._recorder = recorder

    def tasks(self) -> list[PeriodicTask]:
        """One poll task per ScaledObject, at its ``pollingInterval``."""
        return [
            PeriodicTask(f"keda-{run.name}", run.period_s, self._poller(run)) for run in self.runs
        ]

    def _values(self, run: ScaledObjectRun) -> dict[str, int]:
        return {
            r.metric: self.metrics.service_sample(run.service, r.metric)
            for r in run.rules
            if r.activation_milli is not None
        }

    def _poller(self, run: ScaledObjectRun) -> Callable[[float], None]:
        def poll(now: float) -> None:
            current = int(self.desired[run.workload])
            seen = self._values(run)
            failing = frozenset() if self.source is None else self.source.failing(run, now)
            step = keda_step(
                run.config, run.active(seen, failing), current, run.last_active_s, now,
                error=bool(failing),
            )  # fmt: skip
            run.last_active_s = step.last_active_s
            if step.replicas is None or step.replicas == current:
                return
            values = ", ".join(f"{k} {v / 1000:g}" for k, v in seen.items())
            self._recorder.event(
                now, run.name, "scale", current, step.replicas, step.reason, f"KEDA: {values}"
            )
            self.desired[run.workload] = step.replicas
            self._scale_to(run.workload, step.replicas, now)

        return poll
