"""Normalization and whole controller syncs for many HPAs at once (NumPy).

The decisions are those of :func:`capsim.hpa.normalize_replicas` and
:func:`capsim.hpa.reconcile`, decision for decision (a hypothesis test holds them
equal). Row ``i`` is one HPA with its own behavior (or the legacy path), bounds and
history.

Histories are fixed-capacity arrays. Recommendations use any free slot (no window can
count a stale one again, so their order does not matter); scale events keep upstream's
list order (overwrite the last outdated entry, otherwise append), which does matter:
one direction's rate limits count the other direction's events. A history too small for
a run raises ``ValueError`` instead of silently forgetting; :meth:`BatchHistory.
for_behavior` sizes them from the windows, policy periods and the sync period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from capsim.hpa._arrays import BoolArray, FloatArray, IntArray
from capsim.hpa._arrays import as_int as _as_int
from capsim.hpa.behavior import Behavior, ScalingRules

__all__ = [
    "REASONS",
    "BatchBehavior",
    "BatchDecision",
    "BatchHistory",
    "BatchNormalized",
    "normalize_batch",
    "reconcile_batch",
    "slots_for",
]

REASONS: tuple[str, ...] = (
    "DesiredWithinRange",
    "ScaleUpLimit",
    "TooManyReplicas",
    "ScaleDownLimit",
    "TooFewReplicas",
    "ScaleUpStabilized",
    "ScaleDownStabilized",
    "ReadyForNewScale",
    "ScalingDisabled",
    "FailedGetMetrics",
)
"""Reason names; batch functions return indices into this tuple."""
_R = {name: code for code, name in enumerate(REASONS)}

_SELECT_CODES = {"Max": 0, "Min": 1, "Disabled": 2}
_PODS, _PERCENT, _NO_POLICY = 0, 1, -1


@dataclass(frozen=True)
class BatchBehavior:
    """Per-row normalization settings (``behavior`` or the legacy path) as arrays.

    Policies are padded to a common width with type ``-1``. ``down_window_s`` is already
    resolved (the controller flag where a behavior leaves it unset; the legacy window for
    rows without behavior).
    """

    legacy: BoolArray
    up_window_s: FloatArray
    down_window_s: FloatArray
    up_select: IntArray
    down_select: IntArray
    up_policies: IntArray  # (n, P, 3): type, value, period_s
    down_policies: IntArray  # (n, Q, 3)
    scale_up_limit_factor: float = 2.0
    scale_up_limit_minimum: float = 4.0

    @property
    def size(self) -> int:
        return int(self.legacy.shape[0])

    @classmethod
    def from_behaviors(
        cls,
        behaviors: Sequence[Behavior | None],
        *,
        downscale_stabilization_s: float = 300.0,
        scale_up_limit_factor: float = 2.0,
        scale_up_limit_minimum: float = 4.0,
    ) -> BatchBehavior:
        """One row per entry; ``None`` rows take the legacy path."""
        defaults = Behavior()
        rows = [b if b is not None else defaults for b in behaviors]
        down_windows = [
            downscale_stabilization_s
            if b is None or b.scale_down.stabilization_window_s is None
            else float(b.scale_down.stabilization_window_s)
            for b in behaviors
        ]
        return cls(
            legacy=np.array([b is None for b in behaviors], dtype=np.bool_),
            up_window_s=np.array(
                [float(b.scale_up.stabilization_window_s or 0) for b in rows], dtype=np.float64
            ),
            down_window_s=np.array(down_windows, dtype=np.float64),
            up_select=np.array([_SELECT_CODES[b.scale_up.select_policy] for b in rows]),
            down_select=np.array([_SELECT_CODES[b.scale_down.select_policy] for b in rows]),
            up_policies=_policy_table([b.scale_up for b in rows]),
            down_policies=_policy_table([b.scale_down for b in rows]),
            scale_up_limit_factor=scale_up_limit_factor,
            scale_up_limit_minimum=scale_up_limit_minimum,
        )

    def longest_period_s(self) -> tuple[IntArray, IntArray]:
        """Per-row longest scale-up and scale-down policy period (0 without policies)."""
        return (
            np.max(self.up_policies[:, :, 2], axis=1, initial=0),
            np.max(self.down_policies[:, :, 2], axis=1, initial=0),
        )


def _policy_table(rules: Sequence[ScalingRules]) -> IntArray:
    width = max((len(r.policies) for r in rules), default=0)
    table = np.zeros((len(rules), max(width, 1), 3), dtype=np.int64)
    table[:, :, 0] = _NO_POLICY
    for row, rule in enumerate(rules):
        for col, policy in enumerate(rule.policies):
            kind = _PODS if policy.type == "Pods" else _PERCENT
            table[row, col] = (kind, policy.value, policy.period_s)
    return table


@dataclass(frozen=True)
class BatchHistory:
    """Per-row controller memory: recommendations and scale events as fixed arrays.

    ``rec_time`` is NaN in free slots. Event lists are prefixes of length ``up_len`` /
    ``down_len`` in upstream list order.
    """

    rec_time: FloatArray
    rec_value: IntArray
    up_time: FloatArray
    up_change: IntArray
    up_len: IntArray
    down_time: FloatArray
    down_change: IntArray
    down_len: IntArray

    @classmethod
    def empty(cls, n: int, *, recommendation_slots: int, event_slots: int) -> BatchHistory:
        """Empty histories. Size ``recommendation_slots`` as ``ceil(longest window /
        sync period) + 2`` and ``event_slots`` as ``ceil(longest period / sync period) + 2``
        (see :func:`slots_for`)."""
        return cls(
            rec_time=np.full((n, recommendation_slots), np.nan),
            rec_value=np.zeros((n, recommendation_slots), dtype=np.int64),
            up_time=np.zeros((n, event_slots)),
            up_change=np.zeros((n, event_slots), dtype=np.int64),
            up_len=np.zeros(n, dtype=np.int64),
            down_time=np.zeros((n, event_slots)),
            down_change=np.zeros((n, event_slots), dtype=np.int64),
            down_len=np.zeros(n, dtype=np.int64),
        )

    @classmethod
    def for_behavior(cls, params: BatchBehavior, *, sync_period_s: float) -> BatchHistory:
        """Empty histories large enough for ``params`` synced every ``sync_period_s``."""
        up_longest, down_longest = params.longest_period_s()
        window = float(
            max(np.max(params.up_window_s, initial=0.0), np.max(params.down_window_s, initial=0.0))
        )
        period = float(max(np.max(up_longest, initial=0), np.max(down_longest, initial=0)))
        return cls.empty(
            params.size,
            recommendation_slots=slots_for(window, sync_period_s),
            event_slots=slots_for(period, sync_period_s),
        )


def slots_for(span_s: float, sync_period_s: float) -> int:
    """History slots needed to remember ``span_s`` of syncs every ``sync_period_s``."""
    if sync_period_s <= 0:
        raise ValueError(f"sync_period_s must be > 0, got {sync_period_s}")
    return math.ceil(span_s / sync_period_s) + 2


def _first_true(mask: BoolArray) -> tuple[BoolArray, IntArray]:
    """Per row: whether any entry is True, and the index of the first True."""
    return np.asarray(mask.any(axis=1), dtype=np.bool_), mask.argmax(axis=1).astype(np.int64)


def _last_true(mask: BoolArray) -> tuple[BoolArray, IntArray]:
    """Per row: whether any entry is True, and the index of the last True."""
    last = mask.shape[1] - 1 - mask[:, ::-1].argmax(axis=1)
    return np.asarray(mask.any(axis=1), dtype=np.bool_), last.astype(np.int64)


def _store_recommendations(
    history: BatchHistory,
    rows: BoolArray,
    desired: IntArray,
    now: float,
    never_counted: BoolArray,
) -> BatchHistory:
    free = np.isnan(history.rec_time) | never_counted
    has_slot, slot = _first_true(free)
    if np.any(rows & ~has_slot):
        raise ValueError("recommendation history is full: size it with BatchHistory.for_behavior")
    idx = np.nonzero(rows)[0]
    rec_time = history.rec_time.copy()
    rec_value = history.rec_value.copy()
    rec_time[idx, slot[idx]] = now
    rec_value[idx, slot[idx]] = desired[idx]
    return replace(history, rec_time=rec_time, rec_value=rec_value)


def _changed_within(
    times: FloatArray, changes: IntArray, length: IntArray, periods: IntArray, now: float
) -> IntArray:
    """Sum of changes strictly newer than now − period, per (row, policy)."""
    slots = np.arange(times.shape[1])
    valid = slots[None, :] < length[:, None]
    recent = valid[:, None, :] & (times[:, None, :] > now - periods[:, :, None])
    summed: IntArray = np.sum(np.where(recent, changes[:, None, :], 0), axis=2)
    return summed


def _policy_limits(
    current: IntArray,
    policies: IntArray,
    select: IntArray,
    history: BatchHistory,
    now: float,
    up: bool,
) -> IntArray:
    kind, value, period = policies[:, :, 0], policies[:, :, 1], policies[:, :, 2]
    added = _changed_within(history.up_time, history.up_change, history.up_len, period, now)
    deleted = _changed_within(history.down_time, history.down_change, history.down_len, period, now)
    start = current[:, None] - added + deleted
    startf = start.astype(np.float64)
    valuef = value.astype(np.float64)
    if up:
        proposed = np.where(
            kind == _PODS, start + value, np.ceil(startf * (1 + valuef / 100)).astype(np.int64)
        )
    else:
        proposed = np.where(
            kind == _PODS, start - value, np.trunc(startf * (1 - valuef / 100)).astype(np.int64)
        )
    present = kind != _NO_POLICY
    lo = np.min(np.where(present, proposed, np.iinfo(np.int32).max), axis=1)
    hi = np.max(np.where(present, proposed, np.iinfo(np.int32).min), axis=1)
    largest_change = hi if up else lo
    smallest_change = lo if up else hi
    return np.where(select == 2, current, np.where(select == 1, smallest_change, largest_change))


def _store_events(
    history: BatchHistory,
    rows: BoolArray,
    change: IntArray,
    now: float,
    longest: IntArray,
    up: bool,
) -> BatchHistory:
    if not rows.any():  # nothing to store (the usual sync): the same history
        return history
    times = history.up_time if up else history.down_time
    changes = history.up_change if up else history.down_change
    length = history.up_len if up else history.down_len
    slots = np.arange(times.shape[1])
    outdated = (slots[None, :] < length[:, None]) & (times < now - longest[:, None])
    has_old, last_old = _last_true(outdated)
    slot = np.where(has_old, last_old, length)
    if np.any(rows & (slot >= times.shape[1])):
        raise ValueError("scale event history is full: size it with BatchHistory.for_behavior")
    idx = np.nonzero(rows)[0]
    times, changes = times.copy(), changes.copy()
    times[idx, slot[idx]] = now
    changes[idx, slot[idx]] = change[idx]
    new_length = np.where(rows & ~has_old, length + 1, length)
    if up:
        return replace(history, up_time=times, up_change=changes, up_len=new_length)
    return replace(history, down_time=times, down_change=changes, down_len=new_length)


def _record_events(
    history: BatchHistory, params: BatchBehavior, current: IntArray, new: IntArray, now: float
) -> BatchHistory:
    behavior_rows = ~params.legacy
    if not (behavior_rows & (new != current)).any():  # no event to store
        return history
    up_longest, down_longest = params.longest_period_s()
    history = _store_events(
        history, behavior_rows & (new > current), new - current, now, up_longest, up=True
    )
    return _store_events(
        history, behavior_rows & (new < current), current - new, now, down_longest, up=False
    )


@dataclass(frozen=True)
class BatchNormalized:
    """Per-row normalization outcome; ``reason`` indexes :data:`REASONS`."""

    replicas: IntArray
    reason: IntArray
    stabilized: IntArray
    history: BatchHistory


def normalize_batch(
    current: npt.ArrayLike,
    desired: npt.ArrayLike,
    *,
    min_replicas: npt.ArrayLike,
    max_replicas: npt.ArrayLike,
    params: BatchBehavior,
    history: BatchHistory,
    now: float,
) -> BatchNormalized:
    """``normalize_replicas`` for every row at once (legacy rows and behavior rows)."""
    n = params.size
    cur, want = _as_int(current, n), _as_int(desired, n)
    lo_bound, hi_bound = _as_int(min_replicas, n), _as_int(max_replicas, n)
    legacy = params.legacy
    valid = ~np.isnan(history.rec_time)
    t = np.where(valid, history.rec_time, -np.inf)
    # Legacy: max over recommendations not older than the window (inclusive edge).
    legacy_counted = valid & ~(t < now - params.down_window_s[:, None])
    legacy_stab = np.maximum(
        want, np.max(np.where(legacy_counted, history.rec_value, want[:, None]), axis=1)
    )
    # Behavior: clamp current between the scale-up window's min and scale-down window's max.
    up_counted = valid & (t > now - params.up_window_s[:, None])
    down_counted = valid & (t > now - params.down_window_s[:, None])
    up_rec = np.minimum(
        want, np.min(np.where(up_counted, history.rec_value, want[:, None]), axis=1)
    )
    down_rec = np.maximum(
        want, np.max(np.where(down_counted, history.rec_value, want[:, None]), axis=1)
    )
    behavior_stab = np.minimum(np.maximum(cur, up_rec), down_rec)
    stabilized = np.where(legacy, legacy_stab, behavior_stab)
    oldest_useful = now - np.maximum(params.up_window_s, params.down_window_s)
    never_counted = valid & np.where(
        legacy[:, None],
        t < now - params.down_window_s[:, None],
        t <= oldest_useful[:, None],
    )
    history = _store_recommendations(history, np.ones(n, dtype=np.bool_), want, now, never_counted)

    # Legacy limits: min, and min(max, max(factor × current, minimum)).
    cap = np.trunc(
        np.maximum(
            params.scale_up_limit_factor * cur.astype(np.float64), params.scale_up_limit_minimum
        )
    ).astype(np.int64)
    legacy_upper = np.where(hi_bound > cap, cap, hi_bound)
    legacy_upper_reason = np.where(hi_bound > cap, _R["ScaleUpLimit"], _R["TooManyReplicas"])
    legacy_replicas = np.where(
        stabilized < lo_bound,
        lo_bound,
        np.where(stabilized > legacy_upper, legacy_upper, stabilized),
    )
    legacy_reason = np.where(
        stabilized < lo_bound,
        _R["TooFewReplicas"],
        np.where(stabilized > legacy_upper, legacy_upper_reason, _R["DesiredWithinRange"]),
    )
    # Behavior limits: the policies' rate limits, then min/max in the scaling direction.
    # (Only rows with a behavior that scale in a direction read its limit: when there is
    # none, the limit is left at the current size, which no row reads.)
    up_limit = cur
    if (~legacy & (stabilized > cur)).any():
        up_limit = np.maximum(
            _policy_limits(cur, params.up_policies, params.up_select, history, now, up=True), cur
        )
    up_allowed = np.where(hi_bound > up_limit, up_limit, hi_bound)
    up_reason = np.where(hi_bound > up_limit, _R["ScaleUpLimit"], _R["TooManyReplicas"])
    down_limit = cur
    if (~legacy & (stabilized < cur)).any():
        down_limit = np.minimum(
            _policy_limits(cur, params.down_policies, params.down_select, history, now, up=False),
            cur,
        )
    down_allowed = np.where(lo_bound < down_limit, down_limit, lo_bound)
    down_reason = np.where(lo_bound < down_limit, _R["ScaleDownLimit"], _R["TooFewReplicas"])
    going_up = (stabilized > cur) & (stabilized > up_allowed)
    going_down = (stabilized < cur) & (stabilized < down_allowed)
    behavior_replicas = np.where(
        going_up, up_allowed, np.where(going_down, down_allowed, stabilized)
    )
    behavior_reason = np.where(
        going_up, up_reason, np.where(going_down, down_reason, _R["DesiredWithinRange"])
    )
    replicas = np.where(legacy, legacy_replicas, behavior_replicas)
    limit_reason = np.where(legacy, legacy_reason, behavior_reason)
    stabilization_reason = np.where(
        legacy | (want < cur), _R["ScaleDownStabilized"], _R["ScaleUpStabilized"]
    )
    reason = np.where(
        replicas != stabilized,
        limit_reason,
        np.where(stabilized != want, stabilization_reason, _R["DesiredWithinRange"]),
    )
    history = _record_events(history, params, cur, replicas, now)
    return BatchNormalized(replicas, reason, stabilized, history)


@dataclass(frozen=True)
class BatchDecision:
    """Per-row outcome of one controller sync; ``reason`` indexes :data:`REASONS`.

    ``normalized`` marks the rows whose metric proposal went through normalization (not
    disabled, corrected to the bounds, or failed on metrics); there ``metric_replicas``
    and ``stabilized`` are :class:`~capsim.hpa.Decision`'s ``metric_replicas`` and
    ``stabilized``, which are None on the other rows.
    """

    replicas: IntArray
    reason: IntArray
    metric_replicas: IntArray
    history: BatchHistory
    stabilized: IntArray
    normalized: BoolArray


def reconcile_batch(
    current: npt.ArrayLike,
    proposals: npt.ArrayLike,
    proposal_ok: npt.ArrayLike,
    *,
    min_replicas: npt.ArrayLike,
    max_replicas: npt.ArrayLike,
    params: BatchBehavior,
    history: BatchHistory,
    now: float,
) -> BatchDecision:
    """``reconcile`` for every row: ``proposals`` and ``proposal_ok`` have shape
    ``(n, metrics)``; ``proposal_ok`` is False where that metric failed."""
    n = params.size
    cur = _as_int(current, n)
    lo_bound, hi_bound = _as_int(min_replicas, n), _as_int(max_replicas, n)
    props = np.asarray(proposals, dtype=np.int64).reshape(n, -1)
    ok = np.asarray(proposal_ok, dtype=np.bool_).reshape(n, -1)
    unseeded = np.all(np.isnan(history.rec_time), axis=1)
    if np.any(unseeded):
        history = _store_recommendations(
            history, unseeded, cur, now, np.zeros_like(history.rec_time, dtype=np.bool_)
        )
    metric = np.max(np.where(ok, props, 0), axis=1, initial=0)
    errors = ~ok
    failed = np.all(errors, axis=1) | (np.any(errors, axis=1) & (metric < cur))
    disabled = (cur == 0) & (lo_bound != 0)
    above, below = cur > hi_bound, cur < lo_bound
    normal = ~disabled & ~above & ~below & ~failed
    normalized = normalize_batch(
        cur,
        metric,
        min_replicas=lo_bound,
        max_replicas=hi_bound,
        params=params,
        history=history,
        now=now,
    )
    # Only rows that reached normalization keep its history changes.
    history = (
        normalized.history if normal.all() else _select_history(normal, normalized.history, history)
    )
    corrected_rows = ~disabled & (above | below)
    if corrected_rows.any():
        corrected = np.where(corrected_rows, np.where(above, hi_bound, lo_bound), cur)
        history = _record_events(history, params, cur, corrected, now)
    if not (disabled | above | below | failed).any():  # every row normalized (the usual sync)
        return BatchDecision(
            normalized.replicas, normalized.reason, metric, history, normalized.stabilized, normal
        )
    replicas = np.select(
        [disabled, above, below, failed], [cur, hi_bound, lo_bound, cur], normalized.replicas
    )
    reason = np.select(
        [disabled, above, below, failed],
        [
            _R["ScalingDisabled"],
            _R["TooManyReplicas"],
            _R["TooFewReplicas"],
            _R["FailedGetMetrics"],
        ],
        normalized.reason,
    )
    return BatchDecision(replicas, reason, metric, history, normalized.stabilized, normal)


def _select_history(rows: BoolArray, new: BatchHistory, old: BatchHistory) -> BatchHistory:
    """Row-wise choice between two histories of the same shape."""

    def pick(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        mask = rows.reshape((-1,) + (1,) * (a.ndim - 1))
        return np.where(mask, a, b)

    picked: dict[str, Any] = {
        name: pick(getattr(new, name), getattr(old, name))
        for name in BatchHistory.__dataclass_fields__
    }
    return BatchHistory(**picked)
