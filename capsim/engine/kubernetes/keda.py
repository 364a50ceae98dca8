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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from capsim.engine.kubernetes.metrics import ResourceMetrics
from capsim.engine.recorder import PlatformRecorder
from capsim.engine.schedule import PeriodicTask
from capsim.models.keda import KedaConfig, keda_step
from capsim.scenario.keda import ScaledObjectSpec, TriggerRule

__all__ = ["KedaOperator", "ScaledObjectRun"]

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
        return cls(workload, service, name, float(spec.polling_interval), config, tuple(rules))

    def active(self, values: Mapping[str, int]) -> bool:
        """Any trigger above its activation threshold (milli-units of ``values``); with only
        cpu and memory triggers, always (they never activate, and KEDA counts the
        ScaledObject active)."""
        scalers = [r for r in self.rules if r.activation_milli is not None]
        if not scalers:
            return True
        return any(values[r.metric] > (r.activation_milli or 0) for r in scalers)


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
    ) -> None:
        self.runs = list(runs)
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
            step = keda_step(run.config, run.active(seen), current, run.last_active_s, now)
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
