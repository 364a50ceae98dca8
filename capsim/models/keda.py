"""KEDA's operator loop: whether a ScaledObject is active, and the replicas it sets.

Every ``pollingInterval`` (and once at start) KEDA polls each trigger's scaler
(``pkg/scaling/scale_handler.go``) and calls ``RequestScale``
(``pkg/scaling/executor/scale_scaledobjects.go``, kedacore/keda 8b4f083). Between 1 and
``maxReplicaCount`` the HPA KEDA created does the scaling; this loop only moves the
workload to and from zero (or ``idleReplicaCount``):

* **Active** (any trigger above its activation threshold; cpu and memory triggers do
  not count, and a ScaledObject with only those is always active): when
  ``idleReplicaCount`` is set and the size is below ``minReplicaCount``, or the size is
  0, scale to ``minReplicaCount`` (1 when it is 0); the last active time is now.
* **Inactive**: when ``idleReplicaCount`` is set and the size is above it, or the size
  is above 0 with ``minReplicaCount`` 0, scale to ``idleReplicaCount`` (else
  ``minReplicaCount``) once the cooldown has passed: strictly more than
  ``cooldownPeriod`` since the last active time or, never active, more than
  ``initialCooldownPeriod`` since the ScaledObject was created. Without
  ``idleReplicaCount``, a size below ``minReplicaCount`` goes up to it at once.

**Scaler errors** (the metrics source a trigger queries unreachable): an erroring
trigger is not active. Active with an error, a size above zero is left alone and the
last active time is not renewed; inactive with an error, nothing changes either (KEDA
does not scale to zero on an error, with or without ``fallback``).

**Fallback** (``pkg/fallback/fallback.go``): each failed read of a trigger's metric (the
operator's polls and the HPA's queries alike) counts one failure, a successful one
resets the count; past ``failureThreshold`` failures the metric reads as
``target × replicas`` (``AverageValue``; ``Value``: divided by the ready pods, none
ready: an error), so the HPA proposes those replicas: ``fallback.replicas``
(``static``), the current count (``currentReplicas``), or the higher or lower of the
two (``currentReplicasIfHigher``/``IfLower``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KedaConfig", "KedaStep", "fallback_metric_milli", "fallback_replicas", "keda_step"]


@dataclass(frozen=True)
class KedaConfig:
    """The ScaledObject settings the loop reads (seconds, replica counts)."""

    min_replicas: int  # minReplicaCount (0 when unset)
    idle_replicas: int | None
    cooldown_s: float
    initial_cooldown_s: float
    created_s: float  # when the ScaledObject was created (simulated time)

    @property
    def active_floor(self) -> int:
        """What an active ScaledObject at 0 (or idle) scales to."""
        return self.min_replicas if self.min_replicas > 0 else 1


@dataclass(frozen=True)
class KedaStep:
    """One poll's outcome: the size to set (None: leave it to the HPA), the last active
    time after it (None: never active), and why."""

    replicas: int | None
    last_active_s: float | None
    reason: str


def keda_step(
    config: KedaConfig,
    active: bool,
    current: int,
    last_active_s: float | None,
    now: float,
    error: bool = False,
) -> KedaStep:
    """``RequestScale`` for one poll (module docstring); ``error``: a trigger's scaler
    failed at this poll."""
    idle = config.idle_replicas
    if active:
        if (idle is not None and current < config.min_replicas) or current == 0:
            return KedaStep(config.active_floor, now, "KEDAScaledObjectActive")
        if error:
            return KedaStep(None, last_active_s, "KEDAPartialTriggerError")
        return KedaStep(None, now, "KEDAActive")
    if error:
        return KedaStep(None, last_active_s, "KEDATriggerError")
    if (idle is not None and current > idle) or (current > 0 and config.min_replicas == 0):
        if last_active_s is None:
            due = config.created_s + config.initial_cooldown_s < now
        else:
            due = last_active_s + config.cooldown_s < now
        if due:
            target = idle if idle is not None else config.min_replicas
            return KedaStep(target, last_active_s, "KEDACooldownElapsed")
        return KedaStep(None, last_active_s, "KEDACoolingDown")
    if idle is None and current < config.min_replicas:
        return KedaStep(config.min_replicas, last_active_s, "KEDABelowMinReplicaCount")
    return KedaStep(None, last_active_s, "KEDAInactive")


def fallback_replicas(behavior: str, replicas: int, current: int) -> int:
    """The replicas a fallback asks for (``fallback.behavior``; module docstring)."""
    if behavior == "currentReplicas":
        return current
    if behavior == "currentReplicasIfHigher":
        return max(current, replicas)
    if behavior == "currentReplicasIfLower":
        return min(current, replicas)
    return replicas


def fallback_metric_milli(
    target_milli: int, replicas: int, value_target: bool, ready: int
) -> int | None:
    """The metric a fallback reports, in milli-units: ``int(target × 1000 × replicas)``
    for an ``AverageValue`` target, with ``replicas`` over the ready pods for a ``Value``
    one (None, an error, when none is ready), as ``doFallback`` computes it."""
    share = float(replicas)
    if value_target:
        if ready <= 0:
            return None
        share /= float(ready)
    return int(float(target_milli) * share)
