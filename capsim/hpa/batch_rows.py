"""Whole controller syncs for many HPAs, row by row in compiled loops (Numba).

:func:`reconcile_rows` decides exactly as :func:`capsim.hpa.reconcile_batch` (and so as
:func:`capsim.hpa.reconcile`), rule for rule and in the same order (a hypothesis test
holds the three equal), but steps one HPA at a time in plain loops over packed arrays
and updates the histories in place. NumPy's batch form pays a fixed cost of about 60
array operations per sync whatever the number of HPAs; compiled, one HPA-sync costs well
under a microsecond, and a call with the few packed arrays below costs about one.
Like :mod:`capsim.models`, the module is written in the subset of Python that Numba
compiles but does not import it: its caller compiles :data:`COMPILED_FUNCTIONS` with
:func:`capsim.jit.compile_family` (the engine's HPA controller does, when Numba is
installed; without it the engine keeps its NumPy and scalar paths).

Packed layout (``n`` HPAs):

* ``config_int`` (n, :data:`CONFIG_INT_FIELDS`): minReplicas, maxReplicas, legacy (1: no
  ``behavior``), scale-up and scale-down select policy (0 Max, 1 Min, 2 Disabled), the
  longest scale-up and scale-down policy period (s);
* ``config_float`` (n, :data:`CONFIG_FLOAT_FIELDS`): scale-up and scale-down
  stabilization windows (s, resolved as in :class:`~capsim.hpa.BatchBehavior`), and the
  legacy scale-up cap's factor and minimum;
* ``policies`` (n, 2, P, 3): per direction (0 up, 1 down) the policies as (type 0 Pods,
  1 Percent, −1 none; value; period s);
* ``recommendations`` (n, R, 2): (time, replicas) per slot, time NaN in a free slot;
* ``events`` (n, 2, E, 2): per direction the scale events (time, replicas changed) in
  upstream list order, the first ``lengths[i, direction]`` of them in use;
* ``proposals`` (n, M): each metric's replicas, −1 (:data:`FAILED`) where that metric
  failed, −2 (:data:`NO_METRIC`) in the slots of an HPA with fewer than M metrics;
* ``out`` (n, :data:`OUT_FIELDS`): replicas, reason (an index into
  :data:`~capsim.hpa.REASONS`), the metrics' proposal, the stabilized recommendation and
  whether the proposal was normalized (the last two mean something only then).

Replica counts and changes are stored as float64 in the histories: exact for any count.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from capsim.hpa.batch_calculator import replicas_from_counts
from capsim.hpa.batch_normalize import REASONS, BatchBehavior, BatchHistory

__all__ = [
    "COMPILED_FUNCTIONS",
    "CONFIG_FLOAT_FIELDS",
    "CONFIG_INT_FIELDS",
    "ERRORS",
    "FAILED",
    "METRIC_ROW_FIELDS",
    "NO_METRIC",
    "OUT_FIELDS",
    "SEEN_FIELDS",
    "PackedHistory",
    "pack_config",
    "propose_rows",
    "reconcile_rows",
    "sync_rows",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

C_MIN, C_MAX, C_LEGACY, C_UP_SELECT, C_DOWN_SELECT, C_UP_LONGEST, C_DOWN_LONGEST = range(7)
CONFIG_INT_FIELDS = 7
F_UP_WINDOW, F_DOWN_WINDOW, F_FACTOR, F_MINIMUM = range(4)
CONFIG_FLOAT_FIELDS = 4
O_REPLICAS, O_REASON, O_METRIC, O_STABILIZED, O_NORMALIZED = range(5)
OUT_FIELDS = 5
M_HPA, M_SLOT, M_WORKLOAD, M_SERVICE, M_KIND, M_REQUEST, M_TARGET, M_UTILIZATION = range(8)
METRIC_ROW_FIELDS = 8
SEEN_FIELDS = 5  # ready, unready and missing pods, per-pod sample, proposal (−1: failed)

FAILED, NO_METRIC = -1, -2  # proposals that are not replica counts

ERR_NONE, ERR_RECOMMENDATIONS_FULL, ERR_EVENTS_FULL = 0, 1, 2
ERRORS = {
    ERR_RECOMMENDATIONS_FULL: "recommendation history is full: size it with "
    "BatchHistory.for_behavior",
    ERR_EVENTS_FULL: "scale event history is full: size it with BatchHistory.for_behavior",
}

_UP, _DOWN = 0, 1
_PODS, _NO_POLICY = 0, -1
_SELECT_MIN, _SELECT_DISABLED = 1, 2
_INT32_MAX, _INT32_MIN = 2147483647, -2147483648
(
    _WITHIN,
    _UP_LIMIT,
    _TOO_MANY,
    _DOWN_LIMIT,
    _TOO_FEW,
    _UP_STABILIZED,
    _DOWN_STABILIZED,
    _READY,
    _DISABLED,
    _FAILED,
) = range(10)
assert REASONS[_FAILED] == "FailedGetMetrics"
assert REASONS[_DOWN_STABILIZED] == "ScaleDownStabilized"


def _changed_within(
    events: FloatArray, lengths: IntArray, direction: int, period_s: int, now: float
) -> int:
    """Replicas changed in ``direction`` by events strictly newer than now − period."""
    cutoff = now - period_s
    total = 0
    for k in range(lengths[direction]):
        if events[direction, k, 0] > cutoff:
            total += int(events[direction, k, 1])
    return total


def _policy_limit(
    current: int,
    policies: IntArray,
    select: int,
    events: FloatArray,
    lengths: IntArray,
    now: float,
    direction: int,
) -> int:
    """The scale-rate limit of ``direction``'s policies (``_policy_limits``)."""
    low = _INT32_MAX
    high = _INT32_MIN
    for p in range(policies.shape[1]):
        kind = policies[direction, p, 0]
        if kind == _NO_POLICY:
            continue
        value = policies[direction, p, 1]
        period = policies[direction, p, 2]
        added = _changed_within(events, lengths, _UP, period, now)
        deleted = _changed_within(events, lengths, _DOWN, period, now)
        start = current - added + deleted
        if direction == _UP:
            if kind == _PODS:
                proposed = start + value
            else:
                proposed = math.ceil(float(start) * (1 + float(value) / 100))
        elif kind == _PODS:
            proposed = start - value
        else:
            proposed = math.trunc(float(start) * (1 - float(value) / 100))
        low = min(low, proposed)
        high = max(high, proposed)
    if select == _SELECT_DISABLED:
        return current
    if direction == _UP:
        return low if select == _SELECT_MIN else high
    return high if select == _SELECT_MIN else low


def _store_event(
    events: FloatArray,
    lengths: IntArray,
    direction: int,
    change: int,
    now: float,
    longest_s: int,
) -> int:
    """``storeScaleEvent``: overwrite the last event older than the longest period, else
    append; returns an error code."""
    cutoff = now - longest_s
    last_old = -1
    for k in range(lengths[direction]):
        if events[direction, k, 0] < cutoff:
            last_old = k
    slot = last_old if last_old >= 0 else lengths[direction]
    if slot >= events.shape[1]:
        return ERR_EVENTS_FULL
    events[direction, slot, 0] = now
    events[direction, slot, 1] = change
    if last_old < 0:
        lengths[direction] += 1
    return ERR_NONE


def _record_events(
    current: int, new: int, config: IntArray, events: FloatArray, lengths: IntArray, now: float
) -> int:
    """Scale events of a row with a behavior that changed size (``_record_events``)."""
    if config[C_LEGACY] != 0 or new == current:
        return ERR_NONE
    if new > current:
        return _store_event(events, lengths, _UP, new - current, now, config[C_UP_LONGEST])
    return _store_event(events, lengths, _DOWN, current - new, now, config[C_DOWN_LONGEST])


def _normalize_row(
    current: int,
    want: int,
    config: IntArray,
    windows: FloatArray,
    policies: IntArray,
    recommendations: FloatArray,
    events: FloatArray,
    lengths: IntArray,
    now: float,
    out: IntArray,
) -> int:
    """``normalize_batch`` for one row: fills ``out``; returns an error code."""
    legacy = config[C_LEGACY] != 0
    low, high = config[C_MIN], config[C_MAX]
    up_cut = now - windows[F_UP_WINDOW]
    down_cut = now - windows[F_DOWN_WINDOW]
    oldest_useful = now - max(windows[F_UP_WINDOW], windows[F_DOWN_WINDOW])
    legacy_stab = up_rec = down_rec = want
    free = -1  # the first slot free or never counted again
    for k in range(recommendations.shape[0]):
        t = recommendations[k, 0]
        if math.isnan(t):
            if free < 0:
                free = k
            continue
        value = int(recommendations[k, 1])
        if not t < down_cut and value > legacy_stab:
            legacy_stab = value
        if t > up_cut and value < up_rec:
            up_rec = value
        if t > down_cut and value > down_rec:
            down_rec = value
        never = t < down_cut if legacy else t <= oldest_useful
        if never and free < 0:
            free = k
    if free < 0:
        return ERR_RECOMMENDATIONS_FULL
    recommendations[free, 0] = now
    recommendations[free, 1] = want
    if legacy:
        stabilized = legacy_stab
        cap = math.trunc(max(windows[F_FACTOR] * float(current), windows[F_MINIMUM]))
        upper = cap if high > cap else high
        if stabilized < low:
            replicas, limit_reason = low, _TOO_FEW
        elif stabilized > upper:
            replicas, limit_reason = upper, (_UP_LIMIT if high > cap else _TOO_MANY)
        else:
            replicas, limit_reason = stabilized, _WITHIN
    else:
        stabilized = min(max(current, up_rec), down_rec)
        replicas, limit_reason = stabilized, _WITHIN
        if stabilized > current:
            limit = _policy_limit(current, policies, config[C_UP_SELECT], events, lengths, now, _UP)
            limit = max(limit, current)
            allowed = limit if high > limit else high
            if stabilized > allowed:
                replicas, limit_reason = allowed, (_UP_LIMIT if high > limit else _TOO_MANY)
        elif stabilized < current:
            limit = _policy_limit(
                current, policies, config[C_DOWN_SELECT], events, lengths, now, _DOWN
            )
            limit = min(limit, current)
            allowed = limit if low < limit else low
            if stabilized < allowed:
                replicas, limit_reason = allowed, (_DOWN_LIMIT if low < limit else _TOO_FEW)
    if replicas != stabilized:
        reason = limit_reason
    elif stabilized != want:
        reason = _DOWN_STABILIZED if legacy or want < current else _UP_STABILIZED
    else:
        reason = _WITHIN
    out[O_REPLICAS] = replicas
    out[O_REASON] = reason
    out[O_STABILIZED] = stabilized
    return _record_events(current, replicas, config, events, lengths, now)


def reconcile_rows(
    current: IntArray,
    proposals: IntArray,
    config_int: IntArray,
    config_float: FloatArray,
    policies: IntArray,
    recommendations: FloatArray,
    events: FloatArray,
    lengths: IntArray,
    now: float,
    out: IntArray,
) -> int:
    """One controller sync of every row (see the module docstring for the arrays); the
    histories move on in place. Returns 0, or an error code of :data:`ERRORS` (a history
    too small: the run cannot go on)."""
    error = ERR_NONE
    for i in range(current.shape[0]):
        cur = current[i]
        config = config_int[i]
        rec = recommendations[i]
        seeded = False
        for k in range(rec.shape[0]):
            if not math.isnan(rec[k, 0]):
                seeded = True
                break
        if not seeded:  # an empty history starts with the current size
            if rec.shape[0] == 0:
                return ERR_RECOMMENDATIONS_FULL
            rec[0, 0] = now
            rec[0, 1] = cur
        metric = 0
        failures = 0
        present = 0
        for m in range(proposals.shape[1]):
            p = proposals[i, m]
            if p == NO_METRIC:
                continue
            present += 1
            if p < 0:
                failures += 1
            elif p > metric:
                metric = p
        failed = failures == present or (failures > 0 and metric < cur)
        low, high = config[C_MIN], config[C_MAX]
        disabled = cur == 0 and low != 0
        above = cur > high
        below = cur < low
        row = out[i]
        row[O_METRIC] = metric
        row[O_STABILIZED] = cur
        row[O_NORMALIZED] = 0
        if disabled:
            row[O_REPLICAS], row[O_REASON] = cur, _DISABLED
        elif above or below:
            new = high if above else low
            row[O_REPLICAS], row[O_REASON] = new, (_TOO_MANY if above else _TOO_FEW)
            code = _record_events(cur, new, config, events[i], lengths[i], now)
            error = code if code != ERR_NONE else error
        elif failed:
            row[O_REPLICAS], row[O_REASON] = cur, _FAILED
        else:
            row[O_NORMALIZED] = 1
            code = _normalize_row(
                cur, metric, config, config_float[i], policies[i], rec, events[i],
                lengths[i], now, row,
            )  # fmt: skip
            error = code if code != ERR_NONE else error
    return error


def propose_rows(
    current: IntArray,
    metric_rows: IntArray,
    tolerances: FloatArray,
    settled: IntArray,
    counts: IntArray,
    counted: IntArray,
    cpu_milli: IntArray,
    memory_milli: IntArray,
    pods_milli: IntArray,
    proposals: IntArray,
    seen: IntArray,
) -> None:
    """Every metric row's proposal into ``proposals`` (see the module docstring).

    ``metric_rows`` (rows, :data:`METRIC_ROW_FIELDS`): the row's HPA, its slot among the
    HPA's metrics, its workload, its service, what it measures (0 CPU, 1 memory, 2 + k
    the k-th column of ``pods_milli``), the request (milli-units per pod), the target,
    and 1 for a Utilization target (else AverageValue). A row with
    ``counted`` set has its (ready, unready, missing) pods in ``counts`` (the caller
    grouped them pod by pod; the flag is cleared here); the others count the workload's
    ``settled`` pods, all ready with samples. ``cpu_milli``, ``memory_milli`` (per
    service) and ``pods_milli`` (services × Pods metrics) hold the latest per-pod sample
    of each service, in milli-units. ``seen`` gets
    each row's ready, unready and missing pods, per-pod sample and proposal (−1: no
    usable metrics), as :func:`~capsim.hpa.resource_replicas_counts` makes it with the
    HPA's ``tolerances`` (up, down).
    """
    for i in range(metric_rows.shape[0]):
        spec = metric_rows[i]
        h = spec[M_HPA]
        if counted[i]:
            ready, unready, missing = counts[i, 0], counts[i, 1], counts[i, 2]
            counted[i] = 0
        else:
            ready, unready, missing = settled[spec[M_WORKLOAD]], 0, 0
        service, kind = spec[M_SERVICE], spec[M_KIND]
        if kind == 0:
            sample = cpu_milli[service]
        elif kind == 1:
            sample = memory_milli[service]
        else:
            sample = pods_milli[service, kind - 2]
        proposal = replicas_from_counts(
            current[h], ready, unready, missing, ready * sample, spec[M_REQUEST],
            spec[M_TARGET], spec[M_UTILIZATION] == 1, tolerances[h, 0], tolerances[h, 1],
        )  # fmt: skip
        proposals[h, spec[M_SLOT]] = FAILED if proposal < 0 else proposal
        row = seen[i]
        row[0], row[1], row[2], row[3], row[4] = ready, unready, missing, sample, proposal


def sync_rows(
    desired: IntArray,
    hpa_workloads: IntArray,
    current: IntArray,
    metric_rows: IntArray,
    tolerances: FloatArray,
    settled: IntArray,
    counts: IntArray,
    counted: IntArray,
    cpu_milli: IntArray,
    memory_milli: IntArray,
    pods_milli: IntArray,
    seen: IntArray,
    proposals: IntArray,
    config_int: IntArray,
    config_float: FloatArray,
    policies: IntArray,
    recommendations: FloatArray,
    events: FloatArray,
    lengths: IntArray,
    now: float,
    out: IntArray,
    acting: IntArray,
) -> int:
    """One whole controller sync in one call: each HPA's ``current`` replicas read from
    ``desired`` (per workload), its metrics observed and proposed (:func:`propose_rows`)
    and reconciled (:func:`reconcile_rows`). The HPAs whose sync scales, or holds back a
    size its metrics asked for other than within the tolerance, are written to the
    front of ``acting``; returns their number, or minus an error code of :data:`ERRORS`.
    """
    for h in range(hpa_workloads.shape[0]):
        current[h] = desired[hpa_workloads[h]]
    propose_rows(
        current, metric_rows, tolerances, settled, counts, counted, cpu_milli, memory_milli,
        pods_milli, proposals, seen,
    )  # fmt: skip
    error = reconcile_rows(
        current, proposals, config_int, config_float, policies, recommendations, events,
        lengths, now, out,
    )  # fmt: skip
    if error != ERR_NONE:
        return -error
    n_acting = 0
    for h in range(current.shape[0]):
        row = out[h]
        proposal = row[O_METRIC] if row[O_NORMALIZED] else current[h]
        if row[O_REPLICAS] != current[h] or (proposal != current[h] and row[O_REASON] != _WITHIN):
            acting[n_acting] = h
            n_acting += 1
    return n_acting


COMPILED_FUNCTIONS = (  # each calls only those before it
    "_changed_within",
    "_policy_limit",
    "_store_event",
    "_record_events",
    "_normalize_row",
    "reconcile_rows",
    "replicas_from_counts",
    "propose_rows",
    "sync_rows",
)


def pack_config(
    params: BatchBehavior, min_replicas: IntArray, max_replicas: IntArray
) -> tuple[IntArray, FloatArray, IntArray]:
    """``config_int``, ``config_float`` and ``policies`` of :func:`reconcile_rows`."""
    n = params.size
    up_longest, down_longest = params.longest_period_s()
    config_int = np.zeros((n, CONFIG_INT_FIELDS), dtype=np.int64)
    config_int[:, C_MIN] = min_replicas
    config_int[:, C_MAX] = max_replicas
    config_int[:, C_LEGACY] = params.legacy
    config_int[:, C_UP_SELECT] = params.up_select
    config_int[:, C_DOWN_SELECT] = params.down_select
    config_int[:, C_UP_LONGEST] = up_longest
    config_int[:, C_DOWN_LONGEST] = down_longest
    config_float = np.zeros((n, CONFIG_FLOAT_FIELDS))
    config_float[:, F_UP_WINDOW] = params.up_window_s
    config_float[:, F_DOWN_WINDOW] = params.down_window_s
    config_float[:, F_FACTOR] = params.scale_up_limit_factor
    config_float[:, F_MINIMUM] = params.scale_up_limit_minimum
    width = max(params.up_policies.shape[1], params.down_policies.shape[1])
    policies = np.full((n, 2, width, 3), _NO_POLICY, dtype=np.int64)
    policies[:, _UP, : params.up_policies.shape[1]] = params.up_policies
    policies[:, _DOWN, : params.down_policies.shape[1]] = params.down_policies
    return config_int, config_float, policies


class PackedHistory:
    """The histories of :func:`reconcile_rows`, sized as :meth:`BatchHistory.for_behavior`
    sizes them; :meth:`unpacked` gives the :class:`BatchHistory` with the same content."""

    def __init__(self, params: BatchBehavior, *, sync_period_s: float) -> None:
        empty = BatchHistory.for_behavior(params, sync_period_s=sync_period_s)
        n, slots = empty.rec_time.shape
        self.recommendations = np.full((n, slots, 2), np.nan)
        self.events = np.zeros((n, 2, empty.up_time.shape[1], 2))
        self.lengths = np.zeros((n, 2), dtype=np.int64)

    def unpacked(self) -> BatchHistory:
        rec = self.recommendations
        return BatchHistory(
            rec_time=rec[:, :, 0].copy(),
            rec_value=np.where(np.isnan(rec[:, :, 0]), 0, rec[:, :, 1]).astype(np.int64),
            up_time=self.events[:, _UP, :, 0].copy(),
            up_change=self.events[:, _UP, :, 1].astype(np.int64),
            up_len=self.lengths[:, _UP].copy(),
            down_time=self.events[:, _DOWN, :, 0].copy(),
            down_change=self.events[:, _DOWN, :, 1].astype(np.int64),
            down_len=self.lengths[:, _DOWN].copy(),
        )
