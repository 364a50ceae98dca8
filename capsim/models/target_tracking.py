"""Target tracking for VM autoscaling groups, as pure functions of plain data.

Modelled on an AWS EC2 Auto Scaling target-tracking policy on average CPU:

* **Two alarms.** A CloudWatch alarm per direction evaluates one datapoint per metric
  period (60 s): the average CPU of the in-service instances that have finished warming
  up.
  - *High alarm:* ALARM when at least 3 of the last 3 datapoints are above the target.
  - *Low alarm:* ALARM when at least 15 of the last 15 are below
    ``scale_in_threshold_factor × target`` (0.9 by default, as in the alarms AWS creates
    for a policy).
  - A missing datapoint (no warmed-up instance) never breaches.
* **Actions repeat.** As for all Auto Scaling alarm actions, the policy is invoked again
  every period while its alarm stays in ALARM, not only on the state change.
* **Scale-out** is proportional:
  ``desired = max(desired, ceil(counted × metric / target))``. ``counted`` is the number
  of instances behind the datapoint. Instances still warming up are already part of
  ``desired``, so they are not added twice.
* **Scale-in** uses the same formula, but takes the smaller value. It is blocked while
  any instance is warming up, and until ``cooldown_s`` has passed since the last scaling
  activity.
* **Bounds.** Every result is clamped to ``[min_instances, max_instances]``.

Decisions carry a reason (``AlarmHigh``, ``AlarmLow``, ``ScaleInCooldown``,
``ScaleInWarmup``, ``AtMaxInstances``, ``AtMinInstances``, ``NoAlarm``) so reports can
explain each step. ``now`` is float seconds; there is no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = ["GroupMemory", "TargetTracking", "VmDecision", "evaluate"]


@dataclass(frozen=True)
class TargetTracking:
    """A target-tracking policy on average CPU percent, with its group's bounds."""

    target_pct: float
    min_instances: int
    max_instances: int
    metric_period_s: float = 60.0
    scale_out_datapoints: int = 3
    scale_out_evaluation_periods: int = 3
    scale_in_datapoints: int = 15
    scale_in_evaluation_periods: int = 15
    scale_in_threshold_factor: float = 0.9
    warmup_s: float = 300.0
    cooldown_s: float = 300.0
    disable_scale_in: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.target_pct <= 100:
            problems.append(f"target_pct must be in (0, 100], got {self.target_pct}")
        if self.min_instances < 0 or self.max_instances < self.min_instances:
            problems.append(
                f"need 0 <= min_instances <= max_instances, got min_instances="
                f"{self.min_instances}, max_instances={self.max_instances}"
            )
        for name in ("scale_out", "scale_in"):
            m = getattr(self, f"{name}_datapoints")
            n = getattr(self, f"{name}_evaluation_periods")
            if not 1 <= m <= n:
                problems.append(
                    f"need 1 <= {name}_datapoints <= {name}_evaluation_periods, got {m} of {n}"
                )
        for name in ("metric_period_s", "warmup_s", "cooldown_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0) or (
                name == "metric_period_s" and value == 0
            ):
                problems.append(
                    f"{name} must be a finite number >= 0 (> 0 for the period), got {value}"
                )
        if not 0 < self.scale_in_threshold_factor <= 1:
            problems.append(
                f"scale_in_threshold_factor must be in (0, 1], got {self.scale_in_threshold_factor}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def scale_in_threshold_pct(self) -> float:
        return self.target_pct * self.scale_in_threshold_factor

    @property
    def history_length(self) -> int:
        """Datapoints an evaluation needs to remember."""
        return max(self.scale_out_evaluation_periods, self.scale_in_evaluation_periods)


@dataclass(frozen=True)
class GroupMemory:
    """What the policy remembers: recent datapoints (newest last; ``None`` = missing) and
    the time of the last scaling activity."""

    datapoints: tuple[float | None, ...] = ()
    last_activity_s: float | None = None


@dataclass(frozen=True)
class VmDecision:
    """The desired capacity after one evaluation, why, and the memory to keep."""

    desired: int
    reason: str
    memory: GroupMemory
    high_alarm: bool = False
    low_alarm: bool = False
    message: str = ""


def _breaching(
    datapoints: tuple[float | None, ...], periods: int, above: float | None, below: float | None
) -> int:
    recent = datapoints[-periods:]
    if above is not None:
        return sum(1 for value in recent if value is not None and value > above)
    assert below is not None
    return sum(1 for value in recent if value is not None and value < below)


def _proportional(counted_instances: int, datapoint: float, target_pct: float) -> int:
    """``ceil(counted × metric / target)``, the ratio rounded to 1e-9 first: a metric that
    is exactly 100 % up to float noise must not add an instance."""
    return math.ceil(round(counted_instances * datapoint / target_pct, 9))


def _clamp(policy: TargetTracking, desired: int) -> int:
    return min(max(desired, policy.min_instances), policy.max_instances)


def evaluate(
    policy: TargetTracking,
    memory: GroupMemory,
    *,
    now: float,
    datapoint: float | None,
    desired: int,
    counted_instances: int,
    warming_instances: int,
) -> VmDecision:
    """One metric period: record ``datapoint`` (average CPU % of the ``counted_instances``
    past warm-up, or ``None``), evaluate both alarms and decide the desired capacity.

    ``desired`` is the group's current desired capacity (in service, booting and warming
    instances all included); ``warming_instances`` are launched but still in warm-up.
    """
    datapoints = (*memory.datapoints, datapoint)[-policy.history_length :]
    memory = replace(memory, datapoints=datapoints)
    high = (
        _breaching(datapoints, policy.scale_out_evaluation_periods, policy.target_pct, None)
        >= policy.scale_out_datapoints
    )
    low = (
        _breaching(
            datapoints, policy.scale_in_evaluation_periods, None, policy.scale_in_threshold_pct
        )
        >= policy.scale_in_datapoints
    )
    if desired < policy.min_instances or desired > policy.max_instances:
        bounded = _clamp(policy, desired)
        reason = "AtMinInstances" if bounded > desired else "AtMaxInstances"
        return VmDecision(
            bounded,
            reason,
            replace(memory, last_activity_s=now),
            high,
            low,
            "desired capacity outside the group's bounds",
        )
    if high and datapoint is not None:
        proposal = _proportional(counted_instances, datapoint, policy.target_pct)
        wanted = max(desired, proposal)
        new = _clamp(policy, wanted)
        if new > desired:
            return VmDecision(
                new,
                "AlarmHigh",
                replace(memory, last_activity_s=now),
                high,
                low,
                f"average CPU {datapoint:.1f} % above the {policy.target_pct:g} % "
                f"target: {counted_instances} × {datapoint:.1f} / "
                f"{policy.target_pct:g} → {proposal}",
            )
        if wanted > new:
            return VmDecision(
                desired,
                "AtMaxInstances",
                memory,
                high,
                low,
                f"would scale out to {wanted} but max is {policy.max_instances}",
            )
    if low and datapoint is not None and not policy.disable_scale_in:
        proposal = _proportional(counted_instances, datapoint, policy.target_pct)
        new = _clamp(policy, min(desired, proposal))
        if new < desired:
            if warming_instances > 0:
                return VmDecision(
                    desired,
                    "ScaleInWarmup",
                    memory,
                    high,
                    low,
                    f"{warming_instances} instance(s) still warming up",
                )
            last = memory.last_activity_s
            if last is not None and now - last < policy.cooldown_s:
                return VmDecision(
                    desired,
                    "ScaleInCooldown",
                    memory,
                    high,
                    low,
                    f"cooldown: {now - last:g} s of {policy.cooldown_s:g} s since "
                    "the last activity",
                )
            return VmDecision(
                new,
                "AlarmLow",
                replace(memory, last_activity_s=now),
                high,
                low,
                f"average CPU {datapoint:.1f} % below "
                f"{policy.scale_in_threshold_pct:g} % for "
                f"{policy.scale_in_datapoints} periods → {proposal}",
            )
        if min(desired, proposal) < new:
            return VmDecision(
                desired,
                "AtMinInstances",
                memory,
                high,
                low,
                f"would scale in to {proposal} but min is {policy.min_instances}",
            )
    return VmDecision(desired, "NoAlarm", memory, high, low, "no alarm in ALARM state")
