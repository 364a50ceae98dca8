"""From a metric proposal to the replicas the controller sets: stabilization, rate limits,
min/max, and one whole controller sync.

Re-expressed from ``pkg/controller/podautoscaler/horizontal.go`` (``HPA.md`` §2, §7, §8, §11):

* Without ``behavior`` (legacy): the max of the proposal and every recommendation not
  older than the downscale-stabilization window (inclusive edge), then the cap
  ``min(maxReplicas, max(2 × current, 4))`` per sync; no scale events are stored.
* With ``behavior``: ``current`` is clamped between the min over the scale-up window and
  the max over the scale-down window (strict edges), then each direction's policies limit
  the change relative to the size at the start of each policy period, rebuilt from the
  scale events of both directions.

Everything is a pure function of its arguments; ``now`` is float seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from capsim.hpa.behavior import Behavior, ScalingRules
from capsim.hpa.types import MetricsError

__all__ = [
    "Decision",
    "HpaHistory",
    "Normalized",
    "normalize_replicas",
    "reconcile",
    "scale_down_limit",
    "scale_up_limit",
]

Event = tuple[float, int]

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class HpaHistory:
    """What the controller remembers about one HPA between syncs, kept as upstream keeps it.

    ``recommendations`` are ``(time, proposed replicas)``; scale events are
    ``(time, replicas changed)`` per direction. Lists follow upstream exactly
    (``stabilizeRecommendation*``, ``storeScaleEvent``): a new entry replaces the *last*
    entry that no window (for events: no policy period of its direction) counts any
    more, otherwise it is appended. So with regular syncs each list holds one entry per
    sync inside the longest window or period; entries older than that are replaced
    (dropped) one per sync. The list order matters: the rate limits of one direction
    count the other direction's events too, so which stale entry is replaced can change
    a later decision.
    """

    recommendations: tuple[Event, ...] = ()
    scale_up_events: tuple[Event, ...] = ()
    scale_down_events: tuple[Event, ...] = ()

    @classmethod
    def initial(cls, current_replicas: int, now: float) -> HpaHistory:
        """``recordInitialRecommendation``: a new HPA remembers its current size."""
        return cls(recommendations=((now, current_replicas),))


@dataclass(frozen=True)
class Normalized:
    """The outcome of normalization, with the reasons ``kubectl describe hpa`` shows.

    ``stabilized`` is the value after stabilization and before rate limits and min/max;
    ``stabilization_reason`` the AbleToScale reason (``ScaleUpStabilized``,
    ``ScaleDownStabilized`` or ``ReadyForNewScale``) and ``limit_reason`` the
    ScalingLimited reason. ``reason`` names what decided the final value: the limit if it
    changed the value, else the stabilization if that changed the proposal, else
    ``DesiredWithinRange``.
    """

    replicas: int
    reason: str
    history: HpaHistory
    stabilized: int = 0
    stabilization_reason: str = "ReadyForNewScale"
    limit_reason: str = "DesiredWithinRange"
    message: str = ""


@dataclass(frozen=True)
class Decision:
    """One controller sync: the replicas to set, why, and the history to keep."""

    replicas: int
    reason: str
    history: HpaHistory
    metric_replicas: int | None = None
    stabilized: int | None = None
    message: str = ""
    errors: tuple[str, ...] = field(default=())


_LIMIT_MESSAGES = {
    "ScaleUpLimit": "the desired replica count is increasing faster than the maximum scale rate",
    "TooManyReplicas": "the desired replica count is more than the maximum replica count",
    "ScaleDownLimit": "the desired replica count is decreasing faster than the maximum scale rate",
    "TooFewReplicas": "the desired replica count is less than the minimum replica count",
    "DesiredWithinRange": "the desired count is within the acceptable range",
}
_STABILIZATION_MESSAGES = {
    "ScaleUpStabilized": "recent recommendations were lower than current one, applying the "
    "lowest recent recommendation",
    "ScaleDownStabilized": "recent recommendations were higher than current one, applying the "
    "highest recent recommendation",
    "ReadyForNewScale": "recommended size matches current size",
}


def _changed_within(period_s: float, events: Sequence[Event], now: float) -> int:
    """``getReplicasChangePerPeriod``: replicas changed by events strictly newer than now − P."""
    cutoff = now - period_s
    return sum(change for time, change in events if time > cutoff)


def _period_start(current: int, period_s: int, history: HpaHistory, now: float) -> int:
    added = _changed_within(period_s, history.scale_up_events, now)
    deleted = _changed_within(period_s, history.scale_down_events, now)
    return current - added + deleted


def scale_up_limit(current: int, rules: ScalingRules, history: HpaHistory, now: float) -> int:
    """``calculateScaleUpLimitWithScalingRules``: the most replicas the policies allow now.

    Percent policies round up (``ceil(start × (1 + v/100))`` in float64).
    """
    if rules.select_policy == "Disabled":
        return current
    pick_min = rules.select_policy == "Min"
    result = _INT32_MAX if pick_min else _INT32_MIN
    for policy in rules.policies:
        start = _period_start(current, policy.period_s, history, now)
        if policy.type == "Pods":
            proposed = start + policy.value
        else:
            proposed = math.ceil(float(start) * (1 + float(policy.value) / 100))
        result = min(result, proposed) if pick_min else max(result, proposed)
    return result


def scale_down_limit(current: int, rules: ScalingRules, history: HpaHistory, now: float) -> int:
    """``calculateScaleDownLimitWithBehaviors``: the fewest replicas the policies allow now.

    Percent policies truncate toward zero (``int(start × (1 − v/100))``); may be negative.
    """
    if rules.select_policy == "Disabled":
        return current
    pick_min_change = rules.select_policy == "Min"
    result = _INT32_MIN if pick_min_change else _INT32_MAX
    for policy in rules.policies:
        start = _period_start(current, policy.period_s, history, now)
        if policy.type == "Pods":
            proposed = start - policy.value
        else:
            proposed = int(float(start) * (1 - float(policy.value) / 100))
        result = max(result, proposed) if pick_min_change else min(result, proposed)
    return result


def _replace_last_or_append(
    entries: tuple[Event, ...], stale: Sequence[bool], entry: Event
) -> tuple[Event, ...]:
    """Upstream's storage rule: overwrite the last stale entry in place, else append."""
    for index in range(len(entries) - 1, -1, -1):
        if stale[index]:
            return (*entries[:index], entry, *entries[index + 1 :])
    return (*entries, entry)


def _stabilize_legacy(
    desired: int, history: HpaHistory, now: float, window_s: float
) -> tuple[int, HpaHistory]:
    """``stabilizeRecommendation``: max over the window (inclusive edge), both directions."""
    cutoff = now - window_s
    entries = history.recommendations
    stabilized = desired
    last_old = -1  # upstream overwrites the last entry that left the window
    for index, (time, value) in enumerate(entries):
        if time < cutoff:
            last_old = index
        elif value > stabilized:
            stabilized = value
    if last_old >= 0:
        recommendations = (*entries[:last_old], (now, desired), *entries[last_old + 1 :])
    else:
        recommendations = (*entries, (now, desired))
    return stabilized, HpaHistory(
        recommendations, history.scale_up_events, history.scale_down_events
    )


def _stabilize_with_behavior(
    current: int,
    desired: int,
    behavior: Behavior,
    history: HpaHistory,
    now: float,
    down_window_s: float,
) -> tuple[int, str, HpaHistory]:
    """``stabilizeRecommendationWithBehaviors``: clamp current between the windows' bounds."""
    up_window_s = float(behavior.scale_up.stabilization_window_s or 0)
    up_cutoff = now - up_window_s
    down_cutoff = now - down_window_s
    up_rec = desired
    down_rec = desired
    entries = history.recommendations
    last_old = -1  # upstream overwrites the last entry older than both windows
    for index, (time, value) in enumerate(entries):
        if time > up_cutoff and value < up_rec:
            up_rec = value
        if time > down_cutoff and value > down_rec:
            down_rec = value
        if time < up_cutoff and time < down_cutoff:
            last_old = index
    stabilized = min(max(current, up_rec), down_rec)
    if last_old >= 0:
        recommendations = (*entries[:last_old], (now, desired), *entries[last_old + 1 :])
    else:
        recommendations = (*entries, (now, desired))
    reason = "ScaleUpStabilized" if desired >= current else "ScaleDownStabilized"
    return (
        stabilized,
        reason,
        HpaHistory(recommendations, history.scale_up_events, history.scale_down_events),
    )


def _store_event(
    events: tuple[Event, ...], change: int, now: float, longest_period_s: int
) -> tuple[Event, ...]:
    """``storeScaleEvent`` for one direction: events strictly older than the direction's
    longest policy period are outdated; the last outdated one is overwritten."""
    cutoff = now - longest_period_s
    outdated = [time < cutoff for time, _ in events]
    return _replace_last_or_append(events, outdated, (now, change))


def _record_scale_event(
    behavior: Behavior | None, history: HpaHistory, current: int, new: int, now: float
) -> HpaHistory:
    if behavior is None or new == current:
        return history
    if new > current:
        events = _store_event(
            history.scale_up_events, new - current, now, behavior.scale_up.longest_period_s
        )
        return replace(history, scale_up_events=events)
    events = _store_event(
        history.scale_down_events, current - new, now, behavior.scale_down.longest_period_s
    )
    return replace(history, scale_down_events=events)


def _limit_legacy(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    factor: float,
    minimum: float,
) -> tuple[int, str]:
    """``convertDesiredReplicasWithRules``."""
    scale_up_cap = int(max(factor * float(current), minimum))
    if max_replicas > scale_up_cap:
        upper, upper_reason = scale_up_cap, "ScaleUpLimit"
    else:
        upper, upper_reason = max_replicas, "TooManyReplicas"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas"
    if desired > upper:
        return upper, upper_reason
    return desired, "DesiredWithinRange"


def _limit_with_behavior(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    behavior: Behavior,
    history: HpaHistory,
    now: float,
) -> tuple[int, str]:
    """``convertDesiredReplicasWithBehaviorRate``."""
    if desired > current:
        limit = max(scale_up_limit(current, behavior.scale_up, history, now), current)
        if max_replicas > limit:
            allowed, reason = limit, "ScaleUpLimit"
        else:
            allowed, reason = max_replicas, "TooManyReplicas"
        if desired > allowed:
            return allowed, reason
    elif desired < current:
        limit = min(scale_down_limit(current, behavior.scale_down, history, now), current)
        if min_replicas < limit:
            allowed, reason = limit, "ScaleDownLimit"
        else:
            allowed, reason = min_replicas, "TooFewReplicas"
        if desired < allowed:
            return allowed, reason
    return desired, "DesiredWithinRange"


def normalize_replicas(
    current_replicas: int,
    desired_replicas: int,
    *,
    min_replicas: int,
    max_replicas: int,
    behavior: Behavior | None,
    history: HpaHistory,
    now: float,
    downscale_stabilization_s: float = 300.0,
    scale_up_limit_factor: float = 2.0,
    scale_up_limit_minimum: float = 4.0,
) -> Normalized:
    """Stabilize and limit a proposal (``normalizeDesiredReplicas[WithBehaviors]``).

    ``downscale_stabilization_s`` is the controller flag: the legacy window, and the
    scale-down window of a ``behavior`` that leaves it unset. The legacy scale-up cap is
    ``max(scale_up_limit_factor × current, scale_up_limit_minimum)`` (upstream 2 and 4).
    The returned history records the raw proposal and, with ``behavior`` and a change,
    the scale event.
    """
    if behavior is None:
        stabilized, history = _stabilize_legacy(
            desired_replicas, history, now, downscale_stabilization_s
        )
        stabilization_reason = (
            "ScaleDownStabilized" if stabilized != desired_replicas else "ReadyForNewScale"
        )
        replicas, limit_reason = _limit_legacy(
            current_replicas,
            stabilized,
            min_replicas,
            max_replicas,
            scale_up_limit_factor,
            scale_up_limit_minimum,
        )
    else:
        down_window = behavior.scale_down.stabilization_window_s
        stabilized, stabilization_reason, history = _stabilize_with_behavior(
            current_replicas,
            desired_replicas,
            behavior,
            history,
            now,
            downscale_stabilization_s if down_window is None else float(down_window),
        )
        if stabilized == desired_replicas:
            stabilization_reason = "ReadyForNewScale"
        replicas, limit_reason = _limit_with_behavior(
            current_replicas, stabilized, min_replicas, max_replicas, behavior, history, now
        )
        history = _record_scale_event(behavior, history, current_replicas, replicas, now)
    if replicas != stabilized:
        reason, message = limit_reason, _LIMIT_MESSAGES[limit_reason]
    elif stabilized != desired_replicas:
        reason, message = stabilization_reason, _STABILIZATION_MESSAGES[stabilization_reason]
    else:
        reason, message = "DesiredWithinRange", _LIMIT_MESSAGES["DesiredWithinRange"]
    return Normalized(
        replicas, reason, history, stabilized, stabilization_reason, limit_reason, message
    )


def reconcile(
    current_replicas: int,
    proposals: Sequence[int | MetricsError],
    *,
    min_replicas: int,
    max_replicas: int,
    behavior: Behavior | None,
    history: HpaHistory,
    now: float,
    downscale_stabilization_s: float = 300.0,
    scale_up_limit_factor: float = 2.0,
    scale_up_limit_minimum: float = 4.0,
) -> Decision:
    """One controller sync once each metric has proposed replicas (``reconcileAutoscaler``).

    ``proposals`` holds one entry per metric of the spec, in order: a replica count or the
    :class:`MetricsError` that metric raised. Rules, in upstream order: seed an empty
    history with the current size; 0 current replicas disables autoscaling; a current
    size outside ``[min, max]`` is corrected without metrics or normalization; if every
    metric failed, or some failed and the others would scale down, nothing changes;
    otherwise the max proposal is normalized. Scale events are stored when the size
    changes and ``behavior`` is set (also for min/max corrections).
    """
    if not history.recommendations:
        history = replace(history, recommendations=((now, current_replicas),))
    if current_replicas == 0 and min_replicas != 0:
        return Decision(
            0,
            "ScalingDisabled",
            history,
            message="scaling is disabled since the replica count of the target is zero",
        )
    if current_replicas > max_replicas:
        history = _record_scale_event(behavior, history, current_replicas, max_replicas, now)
        return Decision(
            max_replicas,
            "TooManyReplicas",
            history,
            message="Current number of replicas above Spec.MaxReplicas",
        )
    if current_replicas < min_replicas:
        history = _record_scale_event(behavior, history, current_replicas, min_replicas, now)
        return Decision(
            min_replicas,
            "TooFewReplicas",
            history,
            message="Current number of replicas below Spec.MinReplicas",
        )
    valid = [p for p in proposals if not isinstance(p, MetricsError)]
    errors = tuple(str(p) for p in proposals if isinstance(p, MetricsError))
    metric_replicas = max(valid, default=0)
    if (
        not proposals
        or len(errors) == len(proposals)
        or (errors and metric_replicas < current_replicas)
    ):
        return Decision(
            current_replicas,
            "FailedGetMetrics",
            history,
            None,
            None,
            message="; ".join(errors) or "no metrics",
            errors=errors,
        )
    normalized = normalize_replicas(
        current_replicas,
        metric_replicas,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        behavior=behavior,
        history=history,
        now=now,
        downscale_stabilization_s=downscale_stabilization_s,
        scale_up_limit_factor=scale_up_limit_factor,
        scale_up_limit_minimum=scale_up_limit_minimum,
    )
    return Decision(
        normalized.replicas,
        normalized.reason,
        normalized.history,
        metric_replicas,
        normalized.stabilized,
        normalized.message,
        errors,
    )
